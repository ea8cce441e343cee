"""Forms of the jobs pages. Choices are read when a form is built, so a folder added under SOURCES_ROOT shows up
without a restart."""

from __future__ import annotations

from django import forms
from django.conf import settings

from extractors.registry import get_registry
from jobs.access import share_recipient
from jobs.models import JobShare
from jobs.selectors import source_list


class JobCreateForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, help_text="Defaults to the source folder's name.")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    source = forms.ChoiceField(help_text="A top-level folder of the evidence root.")
    stages = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, help_text="Analysis stages to run.")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = [(name, name) for name in source_list()]
        names = get_registry().names()
        self.fields["stages"].choices = [(name, name) for name in names]
        self.fields["stages"].initial = [s for s in settings.SCAN_STAGES if s in names] or names


class ShareForm(forms.Form):
    email = forms.EmailField(
        label="Share with (email)",
        widget=forms.EmailInput(attrs={"placeholder": "email of a colleague\u2019s account"}),
    )
    role = forms.ChoiceField(choices=JobShare.Role.choices, initial=JobShare.Role.REVIEWER)

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        self.user = share_recipient(email=email)
        if self.user is None:
            raise forms.ValidationError("No active account has this verified email address.")
        return email
