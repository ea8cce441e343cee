"""The audit log: who did what to which job or exhibit, when, through which door, and whether it was allowed."""

from django.db import models


class AuditEvent(models.Model):
    """One recorded action. Rows are only ever added, then sealed into the hash chain once (audit.chain): on
    PostgreSQL a trigger refuses DELETE and any UPDATE but that one (migrations 0001, 0004), and the app's role may
    only INSERT and SELECT, and UPDATE the chain's columns (0002, 0004). Nothing points at users or jobs by foreign
    key, so deleting either changes no row. Who and what are kept as they were at the time (the user's id and name, the
    job's id)."""

    class Via(models.TextChoices):
        WEB = "web"
        GRPC = "grpc", "gRPC API"
        CLI = "cli", "command line"
        SYSTEM = "system"

    class Outcome(models.TextChoices):
        OK = "ok"
        REFUSED = "refused", "refused (not signed in, not allowed, or not found)"
        FAILED = "failed"

    at = models.DateTimeField(auto_now_add=True)
    via = models.CharField(max_length=8, choices=Via.choices)
    user_id = models.BigIntegerField(null=True, blank=True)
    username = models.CharField(max_length=254, blank=True, help_text="the account's email or name at the time")
    client = models.CharField(max_length=128, blank=True, help_text="the caller's address, or the OS user at the CLI")
    credential = models.CharField(max_length=32, blank=True, help_text="the API token's prefix, for gRPC calls")
    action = models.CharField(max_length=40)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.OK)
    job_id = models.BigIntegerField(null=True, blank=True)
    target = models.CharField(max_length=255, blank=True, help_text="what was acted on, besides the job")
    detail = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    # The hash chain (audit.chain): NULL until the event is sealed, soon after its transaction commits (NULL, not "",
    # is "not sealed": the trigger and the index of unsealed events test for it).
    chain_seq = models.BigIntegerField(null=True, blank=True, unique=True, help_text="the event's place in the chain")
    chain_prev = models.CharField(max_length=64, null=True, blank=True, help_text="the previous event's hash")  # noqa: DJ001
    chain_hash = models.CharField(max_length=64, null=True, blank=True, help_text="this event's SHA-256")  # noqa: DJ001

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["-at", "-id"], name="audit_at"),
            models.Index(fields=["user_id", "-at"], name="audit_user_at"),
            models.Index(fields=["job_id", "-at"], name="audit_job_at"),
            models.Index(fields=["id"], condition=models.Q(chain_hash__isnull=True), name="audit_unsealed"),
        ]

    def __str__(self) -> str:
        who = self.username or "anonymous"
        return f"{self.at:%Y-%m-%d %H:%M:%S} {who} {self.action} {self.outcome}"
