"""Cases: the unit of access. A case holds the jobs of one investigation (one per source or exhibit); its members, with
their roles, are who may see and work on them."""

import re

from django.conf import settings
from django.db import models

# "job-<id>" names the case made for one job alone (jobs that came before cases, and jobs made with no case), which
# holds that job and its reruns only.
OWN_CASE_REFERENCE = re.compile(r"job-\d+")


class Case(models.Model):
    # What the lab calls the case ("2024-017"). A case made for one job alone is "job-<the job's id>".
    reference = models.CharField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="cases_owned"
    )
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


# What each role may do, from the most to the least: a change to a role further down this list lowers it.
ROLE_RANK = {CaseMember.Role.LEAD: 3, CaseMember.Role.EXAMINER: 2, CaseMember.Role.REVIEWER: 1}
