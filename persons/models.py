"""The persons of a case: its faces grouped by whom they show.

Clustering (persons.clustering, run by persons.services) attaches faces to persons and makes new persons; the members
of the case correct it (name, merge, split out, "not this person"). What clustering may never undo is held here:
a FaceAssignment made by hand (`how` manual) is never moved by clustering, a FaceRejection keeps a face from ever
being attached to that person again, and persons are never merged but by hand. A face clustering has looked at and
put in no person has an assignment without a person (`person` null): it is not taken for a new face again.
"""

from django.conf import settings
from django.db import models

from cases.models import Case
from content.models import Face


class PersonSettings(models.Model):
    """How the faces of a case are grouped (defaults from settings.PERSONS_MIN_FACES and PERSONS_MAX_DISTANCE), the
    recogniser whose embeddings are compared (faces of another model are not grouped), and whether an update of the
    case's persons is already queued (at most one is)."""

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="+")
    min_faces = models.PositiveSmallIntegerField(help_text="faces a new person needs at least (2 or more)")
    max_distance = models.FloatField(help_text="the largest cosine distance between faces of one person (0-2)")
    model_name = models.CharField(max_length=200, blank=True)
    model_sha256 = models.CharField(max_length=64, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True, help_text="when the update now pending was queued")
    persons_version = models.PositiveBigIntegerField(
        default=0, help_text="bumped by every change of the case's persons (persons.casestate)"
    )

    def __str__(self) -> str:
        return f"case {self.case_id}: min {self.min_faces} faces, max distance {self.max_distance}"


class PendingImage(models.Model):
    """An image of the case whose faces the next update of the case's persons looks at (the faces stage saved them,
    or reused them, in a batch of one of the case's jobs). Removed once the update that read it finished."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+", db_index=False)  # pending_once
    image = models.ForeignKey("content.Image", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "image"], name="pending_once")]

    def __str__(self) -> str:
        return f"case {self.case_id} image {self.image_id}: faces to cluster"


class Person(models.Model):
    """One person of a case. `centroid` is the mean of its faces' embeddings (float32, compared once normalised),
    `face_count` how many it has, `representative` the face nearest the centroid (shown for the person)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200, blank=True)
    named_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")  # fmt: skip
    centroid = models.BinaryField()
    face_count = models.PositiveIntegerField(default=0)
    representative = models.ForeignKey(Face, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["case", "-face_count", "id"], name="person_case_size")]

    def __str__(self) -> str:
        return self.name or f"person {self.pk}"


class FaceAssignment(models.Model):
    """A face of a case in a person (or, `person` null, looked at by clustering and left in none)."""

    class How(models.TextChoices):
        CLUSTER = "cluster"
        MANUAL = "manual"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+", db_index=False)  # assignment_once
    face = models.ForeignKey(Face, on_delete=models.CASCADE, related_name="+")
    person = models.ForeignKey(Person, null=True, on_delete=models.CASCADE, related_name="assignments")
    how = models.CharField(max_length=7, choices=How.choices)
    at = models.DateTimeField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "face"], name="assignment_once")]
        indexes = [models.Index(fields=["case", "person", "face"], name="assignment_person")]

    def __str__(self) -> str:
        return f"case {self.case_id} face {self.face_id}: person {self.person_id} ({self.how})"


class FaceRejection(models.Model):
    """ "Not this person": the face is never attached to the person again."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+", db_index=False)  # rejection_once
    face = models.ForeignKey(Face, on_delete=models.CASCADE, related_name="+")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="rejections")
    at = models.DateTimeField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "face", "person"], name="rejection_once")]

    def __str__(self) -> str:
        return f"case {self.case_id} face {self.face_id}: not person {self.person_id}"


class PersonChange(models.Model):
    """One change of a person, in the order made (id): its history. `user_label` keeps who made it when the account
    is gone ("clustering" for the clustering)."""

    class Action(models.TextChoices):
        CREATED = "created"
        ATTACHED = "attached"
        NAMED = "named"
        MERGED = "merged"
        SPLIT = "split"
        REJECTED = "rejected"

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="changes")
    action = models.CharField(max_length=8, choices=Action.choices)
    detail = models.TextField(blank=True)
    faces = models.PositiveIntegerField(default=0)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    user_label = models.CharField(max_length=254)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"person {self.person_id}: {self.action}"


class ClusteringRun(models.Model):
    """One clustering of a case's faces (incremental or full), with what it ran with and what it did."""

    class Kind(models.TextChoices):
        INCREMENTAL = "incremental"
        FULL = "full"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=11, choices=Kind.choices)
    min_faces = models.PositiveSmallIntegerField()
    max_distance = models.FloatField()
    model_name = models.CharField(max_length=200, blank=True)
    model_sha256 = models.CharField(max_length=64, blank=True)
    faces = models.PositiveIntegerField(default=0, help_text="new faces looked at")
    attached = models.PositiveIntegerField(default=0, help_text="of them, attached to persons that existed")
    grouped = models.PositiveIntegerField(default=0, help_text="of them, in new persons")
    persons_created = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"case {self.case_id}: {self.kind} clustering at {self.started_at}"
