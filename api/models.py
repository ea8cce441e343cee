"""API tokens, and the queues paused through the worker control API."""

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """A per-user secret for the gRPC API. Only its SHA-256 is stored: the token is shown once, when it is made.
    Its `prefix` (the first characters, shown in lists) tells tokens apart without revealing them."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="what the token is for: a script, a host, an operator")
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the whole token, hex")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"


class QueuePause(models.Model):
    """A queue a worker was told to stop consuming (PauseQueue, DrainWorker). Celery reports only the queues a
    worker consumes now; this is what tells a paused queue from one the worker never had."""

    worker = models.CharField(max_length=255, help_text="Celery node name")
    queue = models.CharField(max_length=200)
    drained = models.BooleanField(default=False, help_text="paused by DrainWorker")
    paused_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    paused_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["worker", "queue"], name="queue_pause_once")]
        ordering = ["worker", "queue"]

    def __str__(self) -> str:
        return f"{self.queue} paused on {self.worker}"
