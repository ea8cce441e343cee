"""The Celery application. Configuration comes from Django settings (CELERY_* names).

Workers never fall back to development settings: DJANGO_SETTINGS_MODULE must be set explicitly (manage.py sets
the embedded default for itself before this module is imported). Celery's Django fixup closes the database
connections a pool process inherits from its parent on `worker_process_init`, and makes this app the default
one: the apps' modules reach it as `celery.current_app`, in every thread.
"""

import os

from celery import Celery
from celery.signals import worker_process_init

from extractors.registry import get_registry

if not os.environ.get("DJANGO_SETTINGS_MODULE"):
    raise RuntimeError(
        "DJANGO_SETTINGS_MODULE is not set: name the configuration explicitly, "
        "e.g. scanner.settings.distributed (see README)"
    )

app = Celery("scanner")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Results kept in Redis go through scanner.result_backend: a worker sending tasks never subscribes to their results.
# Named, not imported, so that a configuration without Redis (the embedded one) never imports redis-py.
app.loader.override_backends = dict.fromkeys(("redis", "rediss"), "scanner.result_backend:SendingRedisBackend")
# The tasks (jobs.pipeline.tasks) register when Django loads the jobs app (JobsConfig.ready), in every process.
# Every worker sweeps for work the broker lost (jobs.pipeline.recovery). The step is named, not imported: this module is
# imported with the settings, before Django can load the jobs' models, and a worker resolves its steps' names once
# Django is set up.
app.steps["worker"].add("jobs.pipeline.recovery:StalledWorkSweep")


@worker_process_init.connect
def _load_extractors(**_kwargs) -> None:
    """Each pool process builds its extractor registry once. A stage's models load on the first task of that
    stage the process runs (they depend on the job's frozen parameters) and stay loaded: never once per task."""
    get_registry()
