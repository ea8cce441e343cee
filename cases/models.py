"""Cases: the unit of access. A case holds the jobs of one investigation (one per source or exhibit); its members, with
their roles, are who may see and work on them."""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

# "job-<id>" names the case made for one job alone (jobs that came before cases, and jobs made with no case), which
# holds that job and its reruns only.
OWN_CASE_REFERENCE = re.compile(r"job-\d+")

# The one-character keys review mode (static/js/viewer.js, its KEYS and onKey) acts on itself, in either case: a
# category's key is none of them, or the viewer's action would win over the category.
VIEWER_KEYS = frozenset("gbcnr ?")


class CategoryScheme(models.Model):
    """The categories the images of a case are put in: chosen when the case is made, defined by staff. Three come
    built in (cases.schemes) and cannot be changed."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    built_in = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Category(models.Model):
    """One category of a scheme. `code` is what the export, the API and the CLI write ("1", "A", "pertinent"); `key`
    the key that sets it in review mode. A category that `needs_confirmation` is only proposed until a second member
    confirms it (four eyes); one that is `sensitive` is blurred for everyone until revealed."""

    scheme = models.ForeignKey(CategoryScheme, on_delete=models.CASCADE, related_name="categories")
    code = models.CharField(max_length=32)
    label = models.CharField(max_length=100)
    key = models.CharField(max_length=1, blank=True, help_text="the key that sets it in review mode (0-9, a letter)")
    needs_confirmation = models.BooleanField(default=False)
    sensitive = models.BooleanField(default=False)
    # "Uncategorised": setting it takes an image's category away (it stays in the history).
    clears = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["scheme", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["scheme", "code"], name="category_code_once"),
            models.UniqueConstraint(fields=["scheme", "key"], condition=~models.Q(key=""), name="category_key_once"),
        ]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return f"{self.code} {self.label}"

    def clean(self) -> None:
        super().clean()
        if self.key and self.key.lower() in VIEWER_KEYS:
            shown = "space" if self.key == " " else self.key
            taken = ", ".join("space" if key == " " else key for key in sorted(VIEWER_KEYS))
            raise ValidationError(
                {"key": f"Review mode uses the key {shown} itself ({taken}): choose another key for this category."}
            )


class Case(models.Model):
    # What the lab calls the case ("2024-017"). A case made for one job alone is "job-<the job's id>".
    reference = models.CharField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="cases_owned"
    )
    # Chosen when the case is made; a case's categories are those of its scheme.
    scheme = models.ForeignKey(CategoryScheme, on_delete=models.PROTECT, related_name="cases")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"


class CaseMember(models.Model):
    """A user's role in a case: the lead has every right on its jobs, an examiner may start, cancel and rerun them, a
    reviewer only reads. Staff need no membership."""

    class Role(models.TextChoices):
        LEAD = "lead"
        EXAMINER = "examiner"
        REVIEWER = "reviewer", "reviewer (read-only)"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="case_memberships")
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.REVIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "user"], name="case_member_once")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"case {self.case_id}: user {self.user_id} ({self.role})"


class CaseSource(models.Model):
    """A source (a top-level folder of SOURCES_ROOT, by name) that staff assigned to a case: the case's lead and
    examiners may scan it, into the case or into a case of its own; nobody else is shown it. A folder may be assigned
    to several cases (one device seized in two investigations, and the cases of their own of the jobs that scanned
    it before sources were assigned). The name may precede its folder: staff assign a source before the evidence is
    copied in, and nothing offers it until it is there."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="sources")
    name = models.CharField(max_length=255, help_text="a top-level folder of the sources folder (SOURCES_ROOT)")
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    assigned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "name"], name="case_source_once")]
        ordering = ["name", "case_id"]

    def __str__(self) -> str:
        return f"{self.name} (case {self.case_id})"


# What each role may do, from the most to the least: a change to a role further down this list lowers it.
ROLE_RANK = {CaseMember.Role.LEAD: 3, CaseMember.Role.EXAMINER: 2, CaseMember.Role.REVIEWER: 1}
