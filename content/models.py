"""Evidence content and what the stages found in it.

An Image is one distinct content (keyed by SHA-256), whatever paths and jobs it was found at (see
jobs.FileInstance). Stage results are keyed by (image, stage, extractor version) so that a repeated or redelivered
task changes nothing, and so that content analysed once is never analysed again by the same version.

The tables keep the names they were created with in the gallery app (migrations content/0001, gallery/0005).
"""

from django.db import models

# Every row a scan writes updates each index of its table: a table keeps the indexes its queries use and no more.
# Text columns are indexed through Meta.indexes rather than db_index: on PostgreSQL db_index adds a second,
# pattern-matching index (for LIKE 'abc%'), and nothing here searches by prefix. A foreign key that leads a
# composite constraint or index needs no index of its own.


class Image(models.Model):
    sha256 = models.CharField(max_length=64)
    md5 = models.CharField(max_length=32)
    sha1 = models.CharField(max_length=40)
    size = models.BigIntegerField()
    mime = models.CharField(max_length=100)
    format = models.CharField(max_length=16)
    # As stored in the file, and as meant to be seen (EXIF orientation 5-8 swaps them).
    raw_width = models.PositiveIntegerField()
    raw_height = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    orientation = models.PositiveSmallIntegerField(null=True, blank=True)
    mode = models.CharField(max_length=16, help_text="Pillow mode: the colour space and layout (RGB, CMYK, L, P...)")
    bit_depth = models.PositiveSmallIntegerField(null=True, blank=True, help_text="bits per channel")
    dpi_x = models.FloatField(null=True, blank=True)
    dpi_y = models.FloatField(null=True, blank=True)
    frames = models.PositiveIntegerField(default=1)
    icc_profile = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "gallery_image"
        constraints = [models.UniqueConstraint(fields=["sha256"], name="image_sha256_once")]
        indexes = [models.Index(fields=["md5"], name="image_md5"), models.Index(fields=["sha1"], name="image_sha1")]

    def __str__(self) -> str:
        return f"{self.sha256[:12]} {self.format} {self.width}x{self.height}"


class StageResult(models.Model):
    """One stage's outcome for one image, with what produced it. "Done, nothing found" is a result too."""

    class Status(models.TextChoices):
        DONE = "done"
        FAILED = "failed"
        SKIPPED = "skipped"

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="stage_results", db_index=False)  # see Meta
    stage = models.CharField(max_length=32)
    extractor_version = models.CharField(max_length=32)
    status = models.CharField(max_length=8, choices=Status.choices)
    error = models.TextField(blank=True)
    model_name = models.CharField(max_length=200, blank=True)
    model_sha256 = models.CharField(max_length=64, blank=True)
    params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "gallery_stageresult"
        constraints = [
            models.UniqueConstraint(fields=["image", "stage", "extractor_version"], name="stage_result_once"),
        ]
        indexes = [models.Index(fields=["stage", "extractor_version", "status"])]

    def __str__(self) -> str:
        return f"{self.stage} v{self.extractor_version} {self.status} image {self.image_id}"


class ExifData(models.Model):
    result = models.OneToOneField(StageResult, on_delete=models.CASCADE, related_name="exif")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="exif")
    tags = models.JSONField(default=dict, help_text="every tag, by IFD group, as JSON-safe values")
    camera_make = models.CharField(max_length=200, blank=True)
    camera_model = models.CharField(max_length=200, blank=True)
    lens_model = models.CharField(max_length=200, blank=True)
    software = models.CharField(max_length=200, blank=True)
    datetime_original = models.CharField(
        max_length=40, blank=True, help_text="ISO 8601 camera local time, with offset when known"
    )
    orientation = models.PositiveSmallIntegerField(null=True, blank=True)
    gps_lat = models.FloatField(null=True, blank=True)
    gps_lon = models.FloatField(null=True, blank=True)
    gps_alt = models.FloatField(null=True, blank=True)
    gps_datetime = models.CharField(max_length=40, blank=True)
    warnings = models.JSONField(default=list, blank=True)

    class Meta:
        db_table = "gallery_exifdata"
        verbose_name_plural = "EXIF data"
        indexes = [
            models.Index(fields=["gps_lat", "gps_lon"]),
            models.Index(fields=["camera_make"], name="exif_camera_make"),
            models.Index(fields=["camera_model"], name="exif_camera_model"),
            models.Index(fields=["datetime_original"], name="exif_datetime_original"),
        ]

    def __str__(self) -> str:
        return f"EXIF of image {self.image_id}"


class Face(models.Model):
    """One face the faces stage found. Positions are pixels of the full-resolution image as it is meant to be seen
    (EXIF orientation applied: the image's `width` x `height`). The model, its files' SHA-256 and the thresholds
    that found it are on `result`."""

    result = models.ForeignKey(StageResult, on_delete=models.CASCADE, related_name="faces")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="faces")
    index = models.PositiveSmallIntegerField(help_text="0 for the face with the highest detection score, then 1, ...")
    x = models.FloatField()
    y = models.FloatField()
    width = models.FloatField()
    height = models.FloatField()
    score = models.FloatField(help_text="detection score, 0-1")
    landmarks = models.JSONField(help_text="[[x, y], ...]: left eye, right eye, nose tip, mouth left, mouth right")
    embedding = models.BinaryField(
        help_text="float32, little-endian, L2-normalised; its length is the recogniser's (result.params embedding_dim)"
    )
    crop = models.BinaryField(help_text="JPEG thumbnail of the face for display")

    class Meta:
        db_table = "gallery_face"
        constraints = [models.UniqueConstraint(fields=["result", "index"], name="face_once")]

    def __str__(self) -> str:
        return f"face {self.index} of image {self.image_id}"


class Classification(models.Model):
    """What the classify stage saw in an image. The model, its checkpoint's SHA-256, the vocabulary's SHA-256 and
    the thresholds are on `result`."""

    result = models.OneToOneField(StageResult, on_delete=models.CASCADE, related_name="classification")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="classifications")
    tags = models.JSONField(default=list, help_text='[{"label": ..., "score": 0-1}, ...], best first')
    embedding = models.BinaryField(help_text="float32, little-endian, L2-normalised image embedding")
    embedding_dim = models.PositiveSmallIntegerField()
    caption = models.TextField(blank=True)

    class Meta:
        db_table = "gallery_classification"

    def __str__(self) -> str:
        return f"classification of image {self.image_id}"


class ForensicFlags(models.Model):
    """What the forensic stage found in an image: signs of editing after capture, each flag with the reason it was
    raised (extractors/forensic.py says what each means), and the XMP, IPTC and C2PA content credentials read. The
    exiftool and c2pa-python versions and the thresholds are on `result`."""

    result = models.OneToOneField(StageResult, on_delete=models.CASCADE, related_name="forensic")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="forensic_flags")
    flags = models.JSONField(default=list, blank=True, help_text='[{"code": ..., "why": ..., ...}, ...]')
    taken = models.CharField(
        max_length=40, blank=True, help_text="DateTimeOriginal, ISO 8601 camera local time, with offset when known"
    )
    thumbnail_distance = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="PDQ bits (of 256) between the EXIF thumbnail and the image"
    )
    xmp = models.JSONField(default=dict, blank=True, help_text="XMP by group and tag, as exiftool reads it")
    iptc = models.JSONField(default=dict, blank=True, help_text="IPTC by tag, as exiftool reads it")
    c2pa = models.JSONField(default=dict, blank=True, help_text="C2PA content credentials summarised; {} for none")
    warnings = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name_plural = "forensic flags"

    def __str__(self) -> str:
        return f"forensic flags of image {self.image_id}"


class PdqHash(models.Model):
    """The PDQ hash of an image (extractors.pdq). The thresholds its job finds near-duplicates with and the pdqhash
    version are on `result`."""

    result = models.OneToOneField(StageResult, on_delete=models.CASCADE, related_name="pdq")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="pdq_hashes")
    hash = models.CharField(max_length=64, help_text="256 bits in hex, most significant first (Meta's order)")
    quality = models.PositiveSmallIntegerField(help_text="0-100; below the job's quality threshold it matches nothing")
    dihedral = models.BinaryField(
        help_text="the hashes of the 8 rotations and mirrorings, 32 bytes each, PDQ's order (the first is `hash`)"
    )

    class Meta:
        db_table = "content_pdqhash"
        verbose_name = "PDQ hash"
        indexes = [models.Index(fields=["hash"], name="pdq_hash")]

    def __str__(self) -> str:
        return f"PDQ {self.hash[:12]} of image {self.image_id}"
