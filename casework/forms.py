"""Forms of the case pages. The rules (a reference in use, a case that must keep a lead) are the case services'; these
forms only parse what was posted."""

from __future__ import annotations

from django import forms

from cases.models import Case, CaseMember, CategoryScheme
from cases.services import scheme_named
from jobs.access import share_recipient
from reports.build import SECTIONS

NO_ACCOUNT = "No active account has this verified email address."


class CaseCreateForm(forms.Form):
    reference = forms.CharField(max_length=64, help_text="What the lab calls the case, e.g. 2024-017.")
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    scheme = forms.ModelChoiceField(
        queryset=CategoryScheme.objects.none(),
        empty_label=None,
        label="Category scheme",
        help_text="The categories its images are put in; chosen once, when the case is made.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scheme"].queryset = CategoryScheme.objects.all()
        if not self.is_bound:
            self.fields["scheme"].initial = scheme_named().pk


class CaseEditForm(forms.ModelForm):
    class Meta:
        model = Case
        fields = ["title", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class MemberForm(forms.Form):
    """A member added, or given another role, by the verified email address of their account."""

    email = forms.EmailField(widget=forms.EmailInput(attrs={"placeholder": "email of a colleague\u2019s account"}))
    role = forms.ChoiceField(choices=CaseMember.Role.choices, initial=CaseMember.Role.REVIEWER)

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        self.user = share_recipient(email=email)
        if self.user is None:
            raise forms.ValidationError(NO_ACCOUNT)
        return email


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=CaseMember.Role.choices)


class ReportForm(forms.Form):
    """What a case report holds (reports.build.SECTIONS), its format, and its scope: every job of the case, or one."""

    sections = forms.MultipleChoiceField(
        choices=list(SECTIONS.items()), widget=forms.CheckboxSelectMultiple, initial=list(SECTIONS)
    )
    format = forms.ChoiceField(choices=[("html", "HTML (self-contained)"), ("pdf", "PDF")], initial="html")
    job = forms.TypedChoiceField(coerce=int, empty_value=None, required=False, label="Jobs")
    reveal = forms.BooleanField(
        required=False, label="Show sensitive and hash-flagged pictures unblurred (recorded in the audit log)"
    )

    def __init__(self, *args, jobs=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["job"].choices = [("", "every job of the case")] + [(j.pk, f"#{j.pk} {j.name}") for j in jobs]
