"""Forms of the jobs pages. Choices are read when a form is built, so a folder added under SOURCES_ROOT shows up
without a restart."""

from __future__ import annotations

from django import forms
from django.conf import settings

from cases.models import Case
from cases.selectors import cases_for_work
from extractors.registry import get_registry
from jobs.access import share_recipient
from jobs.selectors import source_list


class JobCreateForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, help_text="Defaults to the source folder's name.")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    # Any text comes through to jobs.services.job_source, which refuses (on the record) what the user may not scan.
    source = forms.CharField(
        max_length=255, widget=forms.Select, help_text="A top-level folder of the evidence root assigned to your case."
    )
    stages = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, help_text="Analysis stages to run.")
    case = forms.ModelChoiceField(
        queryset=Case.objects.none(),
        required=False,
        empty_label="a case of its own",
        help_text="A case you lead or examine in; by default the job gets a case of its own.",
    )
    exhibit = forms.CharField(max_length=100, required=False, help_text="The exhibit the source is, in the case.")

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["case"].queryset = cases_for_work(user=user)
        self.fields["case"].label_from_instance = lambda case: f"{case.reference} {case.title}"
        self.fields["source"].widget.choices = [(name, name) for name in source_list(user=user)]
        names = get_registry().names()
        self.fields["stages"].choices = [(name, name) for name in names]
        self.fields["stages"].initial = [s for s in settings.SCAN_STAGES if s in names] or names


class ShareForm(forms.Form):
    email = forms.EmailField(
        label="Share with (email)",
        widget=forms.EmailInput(attrs={"placeholder": "email of a colleague\u2019s account"}),
    )
    role = forms.ChoiceField(
        choices=[("reviewer", "reviewer (read-only)"), ("full", "full (start, cancel, rerun)")], initial="reviewer"
    )

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        self.user = share_recipient(email=email)
        if self.user is None:
            raise forms.ValidationError("No active account has this verified email address.")
        return email
