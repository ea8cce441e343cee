"""The lab's hash-set library: sets of known file hashes (NSRL, Project VIC, CAID, a lab's own lists) that every job
is matched against, each set known-good, known-bad or an alert, or a list of PDQ hashes matched by distance.

A set is READY only once its import has finished: an import writes its entries under a set IMPORTING, which matching
ignores, and an interrupted one is removed, never left half there. Digests are kept as the file instances keep
theirs (lowercase hex), so that matching is a join on equal text."""

from django.conf import settings
from django.db import models


class HashSet(models.Model):
    class Kind(models.TextChoices):
        KNOWN_BAD = "known-bad"
        KNOWN_GOOD = "known-good"
        ALERT = "alert"
        # PDQ perceptual hashes ("hash,quality" lists): matched by distance, not equality.
        PDQ = "pdq"

    class Status(models.TextChoices):
        IMPORTING = "importing"
        READY = "ready"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    description = models.TextField(blank=True)
    # The category an entry without one of its own proposes in a case (a code of the case's scheme), or "".
    category = models.CharField(max_length=32, blank=True)
    enabled = models.BooleanField(default=True)
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.IMPORTING)
    # What was imported: the file's name, SHA-256 and format, the version the file names (NSRL's release...).
    source_name = models.CharField(max_length=255, blank=True)
    source_sha256 = models.CharField(max_length=64, blank=True)
    source_format = models.CharField(max_length=32, blank=True)
    version = models.CharField(max_length=100, blank=True)
    entries = models.BigIntegerField(default=0)
    malformed = models.BigIntegerField(default=0)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    imported_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class HashEntry(models.Model):
    """One hash of a set. A set may hold several algorithms (NSRL gives MD5 and SHA-1 of each file): each is an
    entry of its own."""

    class Algorithm(models.IntegerChoices):
        MD5 = 1
        SHA1 = 2
        SHA256 = 3
        PDQ = 4

    hash_set = models.ForeignKey(HashSet, on_delete=models.CASCADE, related_name="+", db_index=False)  # see Meta
    algorithm = models.PositiveSmallIntegerField(choices=Algorithm.choices)
    digest = models.CharField(max_length=64)
    # The entry's own category code (Project VIC's "Category"), else the set's.
    category = models.CharField(max_length=32, blank=True)
    # PDQ quality (0-100) of a PDQ entry.
    quality = models.PositiveSmallIntegerField(null=True, blank=True)
    # What else the source says about the file (VICS MediaSize, PhotoDNA...), kept as data.
    extra = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["digest"], name="hash_entry_digest"),
            models.Index(fields=["hash_set"], name="hash_entry_set"),
        ]
        verbose_name_plural = "hash entries"

    def __str__(self) -> str:
        return f"{self.get_algorithm_display()} {self.digest}"
