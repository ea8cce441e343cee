"""Settings shared by every configuration. Every value comes from the environment (django-environ).

Docs: https://docs.djangoproject.com/en/5.2/ref/settings/ and https://django-environ.readthedocs.io/
"""

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
    "jobs",
    "gallery",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGIN_URL = "/admin/login/"

# --- Evidence, models and derived files -----------------------------------------------------------------
# Folders under SOURCES_ROOT are the sources a job can be created on from the web app. The CLI may scan any folder.
SOURCES_ROOT = Path(env("SOURCES_ROOT", default=str(VAR_DIR / "sources")))
MODELS_ROOT = Path(env("MODELS_ROOT", default=str(VAR_DIR / "models")))

# --- Scanner ----------------------------------------------------------------------------------------------
# Stages a new job runs unless it names its own; empty means every stage in the extractor registry.
SCAN_STAGES = env.list("SCAN_STAGES", default=[])
# A batch of discovered files is committed (and its images dispatched to the stages) when it holds this many
# files, this many bytes, or has been open this many seconds, whichever comes first.
SCAN_BATCH_FILES = env.int("SCAN_BATCH_FILES", default=256)
SCAN_BATCH_BYTES = env.int("SCAN_BATCH_BYTES", default=256 * 1024 * 1024)
SCAN_BATCH_SECONDS = env.float("SCAN_BATCH_SECONDS", default=2.0)
# Images with more pixels than this are recorded as decompression bombs (Pillow's own default limit).
SCAN_MAX_IMAGE_PIXELS = env.int("SCAN_MAX_IMAGE_PIXELS", default=89_478_485)
# "structure": check each image's container (JPEG end marker, PNG chunk CRCs) - fast.
# "full": decode every image completely - finds every corrupt pixel stream, several times slower.
SCAN_VERIFY = env.str("SCAN_VERIFY", default="structure")

# Route a stage to another queue than its extractor's own, e.g. "faces=faces.gpu,classify=classify.gpu".
SCAN_STAGE_QUEUES = env.dict("SCAN_STAGE_QUEUES", default={})
# Device per stage for the ML extractors ("cpu", "cuda", "cuda:1"); "default" applies to stages not named.
STAGE_DEVICES = env.dict("STAGE_DEVICES", default={"default": "cpu"})
# Per-stage parameters handed to the extractors (thresholds, batch sizes). Filled by the stage sections below.
STAGE_PARAMS: dict[str, dict] = {}
# Extra stages beyond the built-ins, as "module:Class" paths (a lab's own extractor; see README).
SCAN_EXTRA_EXTRACTORS = env.list("SCAN_EXTRA_EXTRACTORS", default=[])

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
# Discovery runs in slices of at most this many seconds, each re-queueing the next, so that no task outlives the
# broker's visibility timeout and scans of several jobs share the `jobs` workers.
SCAN_SLICE_SECONDS = env.float("SCAN_SLICE_SECONDS", default=120.0)
# Every task goes to the queue the router picks: scans and batch bookkeeping to `jobs`, each stage to its
# extractor's queue (or the one SCAN_STAGE_QUEUES names). https://docs.celeryq.dev/en/stable/userguide/routing.html
CELERY_TASK_ROUTES = ["jobs.routing.route_task"]
CELERY_TASK_DEFAULT_QUEUE = "jobs"
# Tasks are acknowledged after they ran (acks_late), so a worker takes only what it works on: one message per
# pool process by default. https://docs.celeryq.dev/en/stable/userguide/optimizing.html#prefetch-limits
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=1)
# Tasks one worker runs at once (the earlier system's RABBIT_MQ_PREFETCH_LIMIT): 8 is a good start, up to 20 on
# large CPUs for the exif queue; ML queues want one process per GPU or a few per CPU socket.
CELERY_WORKER_CONCURRENCY = env.int("WORKER_CONCURRENCY", default=8)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A broker or result store that restarts must not fail the tasks that were running: publishing and storing
# results retry until it is back.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 120, "interval_start": 0, "interval_step": 0.5, "interval_max": 3}
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True
CELERY_RESULT_BACKEND_MAX_RETRIES = 120
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

# --- Channels ---------------------------------------------------------------------------------------------
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}
