"""What the members of a case decided about its images. Every decision is held per case and content (an Image is
one SHA-256): the same picture found at ten paths, or by two jobs of the case, is categorised, bookmarked and noted
once.

A Categorisation is an image's category now; every change to it is a CategoryChange (who, when, before, after),
kept when the image's category is taken away. A category that needs confirmation (four eyes) is PROPOSED by one
member until another CONFIRMS it; a member who puts another category over a proposed or confirmed one that another
member set leaves the image DISPUTED, for the lead to settle.
"""

from django.conf import settings
from django.db import models

from cases.models import Case, Category
from content.models import Image


class Categorisation(models.Model):
    class Status(models.TextChoices):
        SET = "set"  # a category that needs no confirmation
        PROPOSED = "proposed"
        CONFIRMED = "confirmed"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+", db_index=False)  # categorisation_once
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="+")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=9, choices=Status.choices)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    set_at = models.DateTimeField()
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    disputed = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "image"], name="categorisation_once")]
        indexes = [models.Index(fields=["case", "category", "image"], name="categorisation_case_category")]

    def __str__(self) -> str:
        return f"case {self.case_id} image {self.image_id}: {self.category_id} ({self.status})"


class CategoryChange(models.Model):
    """One change of an image's category in a case, in the order made (id). `user_label` keeps who made it when
    the account is gone."""

    class Action(models.TextChoices):
        SET = "set"
        CONFIRM = "confirm"
        CLEAR = "clear"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+", db_index=False)  # index below
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="+", db_index=False)
    action = models.CharField(max_length=7, choices=Action.choices)
    before = models.ForeignKey(Category, null=True, on_delete=models.PROTECT, related_name="+")
    before_status = models.CharField(max_length=9, blank=True)
    after = models.ForeignKey(Category, null=True, on_delete=models.PROTECT, related_name="+")
    after_status = models.CharField(max_length=9, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    user_label = models.CharField(max_length=254)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["case", "image", "id"], name="category_change_image")]

    def __str__(self) -> str:
        return f"case {self.case_id} image {self.image_id}: {self.before_id} -> {self.after_id}"


class Bookmark(models.Model):
    """A member's bookmark on an image of a case."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+", db_index=False)  # bookmark_once
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "image", "user"], name="bookmark_once")]

    def __str__(self) -> str:
        return f"case {self.case_id} image {self.image_id}: bookmark of user {self.user_id}"


class Note(models.Model):
    """A note on an image of a case. Notes are only ever added: a correction is another note."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+", db_index=False)  # index below
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    author_label = models.CharField(max_length=254)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["case", "image", "id"], name="note_image")]

    def __str__(self) -> str:
        return f"case {self.case_id} image {self.image_id}: note {self.pk}"


class ReviewMark(models.Model):
    """A member has looked at an image of a case: categorising an image marks it, and so does "mark page
    reviewed". The counters (reviewed / total, per member, the rate) are read from these."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+", db_index=False)  # review_mark_once
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "image", "user"], name="review_mark_once")]
        indexes = [models.Index(fields=["case", "at"], name="review_mark_case_at")]

    def __str__(self) -> str:
        return f"case {self.case_id} image {self.image_id}: reviewed by user {self.user_id}"


class ViewerSetting(models.Model):
    """How a user wants pictures shown (exposure reduction): blurred and/or in grey until revealed one at a time.
    Pictures in a sensitive category are blurred for everyone, whatever this says."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="viewer_setting")
    blur = models.BooleanField(default=False)
    grey = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"user {self.user_id}: blur {self.blur}, grey {self.grey}"
