"""The audit log: who did what to which job or exhibit, when, through which door, and whether it was allowed."""

from django.db import models


class AuditEvent(models.Model):
    """One recorded action. Rows are only ever added: on PostgreSQL a trigger refuses UPDATE and DELETE (migration
    0001) and the app's role may only INSERT and SELECT (0002). Each is sealed into the log's hash chain by a row of
    its own in AuditSeal (audit.chain), after its transaction commits. Nothing points at users or jobs by foreign key,
    so deleting either changes no row. Who and what are kept as they were at the time (the user's id and name, the
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

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["-at", "-id"], name="audit_at"),
            models.Index(fields=["user_id", "-at"], name="audit_user_at"),
            models.Index(fields=["job_id", "-at"], name="audit_job_at"),
        ]

    def __str__(self) -> str:
        who = self.username or "anonymous"
        return f"{self.at:%Y-%m-%d %H:%M:%S} {who} {self.action} {self.outcome}"


class AuditSeal(models.Model):
    """An event's link in the log's hash chain (audit.chain): its place, the previous link's hash and its own, over
    the event's content, its place and the previous hash. Rows are only ever added, one per event, after the event's
    transaction has committed: on PostgreSQL a trigger refuses UPDATE and DELETE and the app's role may only INSERT
    and SELECT (migration 0004). A narrow table of its own, so sealing writes no second version of the event's row."""

    seq = models.BigIntegerField(primary_key=True, help_text="the event's place in the chain: 1, 2, 3, ... no gap")
    # No foreign-key constraint: its check would lock each event's row while sealing; the chain's verification finds
    # a seal whose event is gone.
    event = models.OneToOneField(AuditEvent, on_delete=models.DO_NOTHING, db_constraint=False, related_name="seal")
    prev_hash = models.CharField(max_length=64, help_text="the previous link's hash")
    hash = models.CharField(max_length=64, help_text="this link's SHA-256")

    def __str__(self) -> str:
        return f"seal {self.seq} of event {self.event_id}"
