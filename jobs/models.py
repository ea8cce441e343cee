"""Jobs, the file instances they found, and their durable progress."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Left

from cases.models import Case
from content.models import Image
from hashsets.models import HashEntry, HashSet
from jobs.config import JobConfig


class Job(models.Model):
    class Status(models.TextChoices):
        CREATED = "created"
        QUEUED = "queued"
        SCANNING = "scanning"
        EXTRACTING = "extracting"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE = (Status.QUEUED, Status.SCANNING, Status.EXTRACTING)
    FINAL = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    # The case the job belongs to: its members are who may see and work on it.
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="jobs")
    # What the source is in the case (the exhibit's reference: "EX-3 phone"), where the lab gives one.
    exhibit = models.CharField(max_length=100, blank=True)
    # The folder scanned, as an absolute path on the worker hosts (where the evidence share is mounted).
    source_path = models.TextField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CREATED, db_index=True)
    # What the job runs with, frozen at its creation: stages and their extractor versions, limits, batch sizes. Read
    # it as `run_config` (a jobs.config.JobConfig), never by its keys.
    config = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    files_seen = models.PositiveIntegerField(default=0)
    images = models.PositiveIntegerField(default=0, help_text="file instances that are images")
    distinct_images = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    bytes_seen = models.BigIntegerField(default=0)
    # File instances that are images, by MIME type (what the progress view shows as "images by type").
    image_types = models.JSONField(default=dict, blank=True)
    current_path = models.TextField(blank=True)
    # Discovery restarts after the last committed entry (walk order is fixed), so a redelivered scan counts once.
    resume_after = models.BinaryField(null=True, blank=True, editable=False)
    batches_dispatched = models.PositiveIntegerField(default=0)
    discovery_finished = models.BooleanField(default=False)
    # The chain of scan tasks that may run this job's discovery (each slice queues the next with the same lease),
    # and when discovery last showed life: queued, a slice started, a batch committed. Only the lease's messages run
    # a slice, so a copy of a scan message never runs beside it; a job silent for SCAN_STALL_SECONDS has its scan
    # sent again under a new lease (jobs.pipeline.recovery).
    discovery_lease = models.CharField(max_length=32, blank=True, editable=False)
    discovery_active_at = models.DateTimeField(null=True, blank=True, editable=False)
    # How often the scan was sent again since a slice last ran; each time the next one waits twice as long (a queue
    # that is merely long must not get a copy an hour).
    discovery_redispatches = models.PositiveIntegerField(default=0, editable=False)
    rerun_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns")

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    discovery_finished_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.name}"

    @property
    def run_config(self) -> JobConfig:
        """What the job runs with: `config` read as a JobConfig, the only way it is read."""
        return JobConfig.from_stored(self.config)


class FileInstance(models.Model):
    """One entry a job found at one path. Images + skipped + errors = files seen, for every job."""

    class Status(models.TextChoices):
        IMAGE = "image"
        SKIPPED = "skipped"
        ERROR = "error"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="files", db_index=False)  # see Meta
    # Relative to the job's source. Names that are not valid UTF-8 are shown with \xNN escapes here, and their exact
    # bytes are kept in path_bytes.
    path = models.TextField()
    path_bytes = models.BinaryField(null=True, blank=True)
    # SHA-256 of the exact path bytes: the key that makes a path unique within a job, at any length (an index on
    # the path itself cannot hold paths longer than about 2,700 bytes).
    path_digest = models.CharField(max_length=64, editable=False)
    # The path's first 512 characters (at most 2,048 bytes): what the gallery sorts and indexes on, since a btree
    # index cannot hold the longest paths. Ties are broken by id, which follows the walk.
    sort_path = models.GeneratedField(
        expression=Left("path", 512), output_field=models.TextField(), db_persist=True, editable=False
    )
    kind = models.CharField(max_length=16, help_text="file, symlink, fifo, socket, directory...")
    size = models.BigIntegerField(default=0)
    mtime = models.DateTimeField(null=True, blank=True)
    ctime = models.DateTimeField(null=True, blank=True)
    # Birth (creation) time, where the file system records one; null where it does not (or on entries not listed).
    btime = models.DateTimeField(null=True, blank=True)
    mode = models.PositiveIntegerField(null=True, blank=True)
    inode = models.BigIntegerField(null=True, blank=True)
    mime = models.CharField(max_length=100, blank=True, help_text="type detected from the content")
    status = models.CharField(max_length=8, choices=Status.choices)
    error = models.TextField(blank=True)
    note = models.TextField(blank=True)
    # The name's extension says another type than the content, either way round (evidence.filetypes.sniff); the note
    # says which.
    extension_mismatch = models.BooleanField(default=False)
    md5 = models.CharField(max_length=32, blank=True)
    sha1 = models.CharField(max_length=40, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    image = models.ForeignKey(Image, null=True, blank=True, on_delete=models.PROTECT, related_name="instances")

    class Meta:
        # Each written with every row a scan records: see content.models for what is indexed and how.
        constraints = [models.UniqueConstraint(fields=["job", "path_digest"], name="file_instance_path_once")]
        indexes = [
            models.Index(fields=["sha256"], name="file_instance_sha256"),
            models.Index(fields=["job", "status"]),
            models.Index(fields=["job", "image"]),
            # Keyset pages of the gallery (sorted by path or by size) walk these, so a page costs the same at any
            # depth.
            models.Index(
                fields=["job", "sort_path", "id"], condition=Q(status="image"), name="file_instance_gallery_path"
            ),
            models.Index(fields=["job", "size", "id"], condition=Q(status="image"), name="file_instance_gallery_size"),
        ]

    def __str__(self) -> str:
        return self.path

    @property
    def raw_path(self) -> bytes:
        """The exact relative path on disk."""
        return self.exact_path(self.path, self.path_bytes)

    @staticmethod
    def exact_path(path: str, path_bytes: bytes | memoryview | None) -> bytes:
        """The exact relative path from the two stored columns (for rows read with values_list)."""
        return bytes(path_bytes) if path_bytes is not None else path.encode()


class JobImage(models.Model):
    """A distinct image found by a job (however many paths it was found at)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="job_images", db_index=False)  # job_image_once
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="job_images")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "image"], name="job_image_once")]

    def __str__(self) -> str:
        return f"job {self.job_id} image {self.image_id}"


def stage_finished(*, done: int, failed: int, skipped: int, unavailable: int) -> int:
    """How many of its images a stage is through with, whatever became of each. (Also for clients that read the
    counts over gRPC.)"""
    return done + failed + skipped + unavailable


def stage_summary(*, stage: str, total: int, finished: int, unavailable: int) -> str:
    """A stage's progress in a few words: "faces 1500/2000"; "faces unavailable" when it could run on none of the
    images it had; "faces 1500/2000, 500 unavailable" when it could not run on some of them. (Also for clients that
    read the counts over gRPC.)"""
    if unavailable and unavailable == finished:
        return f"{stage} unavailable"
    text = f"{stage} {finished}/{total}"
    return f"{text}, {unavailable} unavailable" if unavailable else text


class StageProgress(models.Model):
    """Durable per-stage counts. At completion: total = done + failed + skipped + unavailable."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="stage_progress")
    stage = models.CharField(max_length=32)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    unavailable = models.PositiveIntegerField(default=0)
    reused = models.PositiveIntegerField(default=0, help_text="of done/failed/skipped: results found from earlier")
    message = models.TextField(blank=True, help_text="why the stage is unavailable, and the fix")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "stage"], name="stage_progress_once")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.stage} {self.done}/{self.total}"

    @property
    def finished(self) -> int:
        return stage_finished(done=self.done, failed=self.failed, skipped=self.skipped, unavailable=self.unavailable)

    # Every view of a stage's progress (jobs list, job page, gallery filters and panel, terminal, events) takes these
    # two from here, so that a stage that could not run never reads as one that ran and found nothing.

    @property
    def summary(self) -> str:
        return stage_summary(stage=self.stage, total=self.total, finished=self.finished, unavailable=self.unavailable)

    @property
    def gap(self) -> str:
        """Empty when the stage ran on every image it has had so far; otherwise why some were not analysed, with
        the fix the stage recorded (what an empty result that depends on the stage must say)."""
        if not self.unavailable:
            return ""
        reason = f"the {self.stage} stage was unavailable for {self.unavailable} of {self.total} images"
        return f"{reason}: {self.message}" if self.message else reason


class ScanBatch(models.Model):
    """Images committed together by discovery and sent to the stages as one chord."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="batches")
    seq = models.PositiveIntegerField()
    # stage -> image ids that stage must analyse (images it analysed before are not listed).
    work = models.JSONField(default=dict)
    finished = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set once the chord was handed to the broker; a batch committed but never dispatched is sent again.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="scan_batch_once")]
        indexes = [models.Index(fields=["job", "finished"])]

    def __str__(self) -> str:
        return f"job {self.job_id} batch {self.seq}"


class BatchStage(models.Model):
    """One stage's share of a batch. Its counts are added to StageProgress by the one update that flips
    `finished`, so a redelivered task never counts twice."""

    batch = models.ForeignKey(ScanBatch, on_delete=models.CASCADE, related_name="stages")
    stage = models.CharField(max_length=32)
    finished = models.BooleanField(default=False)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The last sign of life of its task: when one began to run, or when the stage was dispatched again (before
    # either, the batch's dispatched_at). Unfinished and silent for longer than SCAN_STALL_SECONDS, the stage lost
    # its task and is dispatched again (jobs.pipeline.recovery).
    active_at = models.DateTimeField(null=True, blank=True)
    redispatches = models.PositiveSmallIntegerField(default=0)
    # What the one counting update added (kept to audit the progress counts).
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    unavailable = models.PositiveIntegerField(default=0)
    reused = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["batch", "stage"], name="batch_stage_once")]

    def __str__(self) -> str:
        return f"batch {self.batch_id} {self.stage}"


class StageClaim(models.Model):
    """Which batch analyses an image for a stage. The first batch to claim an image analyses it; a batch of another
    job that meets the claim waits for that result instead of analysing the same content again."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="+", db_index=False)  # stage_claim_once
    stage = models.CharField(max_length=32)
    extractor_version = models.CharField(max_length=32)
    batch = models.ForeignKey(ScanBatch, on_delete=models.CASCADE, related_name="claims")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "stage", "extractor_version"], name="stage_claim_once"),
        ]

    def __str__(self) -> str:
        return f"{self.stage} v{self.extractor_version} image {self.image_id} by batch {self.batch_id}"


class HashMatch(models.Model):
    """A file instance whose MD5, SHA-1 or SHA-256 is an entry of a READY, enabled hash set (jobs.hashmatching), or
    an image whose PDQ hash lies near an entry of a PDQ set (jobs.pdqmatching): found while the scan runs, and again
    over every job when a set is imported, enabled or disabled. `category` is the entry's own category code, else the
    set's ("" where neither has one); `distance`, of a PDQ match only, the smallest Hamming distance found."""

    # A file instance goes only with its job, whose deletion takes its matches first (`job`): DO_NOTHING here keeps
    # the file instances' own deletion one statement, not a read of every row to cascade from it.
    file_instance = models.ForeignKey(FileInstance, on_delete=models.DO_NOTHING, related_name="+", db_index=False)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="+", db_index=False)  # hash_match_job_set
    hash_set = models.ForeignKey(HashSet, on_delete=models.CASCADE, related_name="+", db_index=False)
    algorithm = models.PositiveSmallIntegerField(choices=HashEntry.Algorithm.choices)
    category = models.CharField(max_length=32, blank=True)
    distance = models.PositiveSmallIntegerField(null=True, blank=True)
    matched_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["file_instance", "hash_set"], name="hash_match_once"),
        ]
        indexes = [
            models.Index(fields=["job", "hash_set"], name="hash_match_job_set"),
            models.Index(fields=["hash_set"], name="hash_match_set"),
        ]
        verbose_name_plural = "hash matches"

    def __str__(self) -> str:
        return f"file {self.file_instance_id} in set {self.hash_set_id}"
