"""The Celery application. Configuration comes from Django settings (CELERY_* names).

Workers never fall back to development settings: DJANGO_SETTINGS_MODULE must be set explicitly (manage.py sets
the embedded default for itself before this module is imported). Celery's Django fixup closes the database
connections a pool process inherits from its parent on `worker_process_init`.
"""

import logging
import os

from celery import Celery, bootsteps
from celery.signals import worker_process_init

if not os.environ.get("DJANGO_SETTINGS_MODULE"):
    raise RuntimeError(
        "DJANGO_SETTINGS_MODULE is not set: name the configuration explicitly, "
        "e.g. scanner.settings.distributed (see README)"
    )

logger = logging.getLogger(__name__)

app = Celery("scanner")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["jobs"])


class StalledWorkSweep(bootsteps.StartStopStep):
    """Every worker looks for discovery and stage work the broker lost (jobs.recovery) on its own timer, in its
    main process: there is no beat, and a message that drove the sweep could be lost like the ones it looks for. The
    sweeps of several workers do not collide (each job's lease and each stage is claimed before it is sent)."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs) -> None:
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker) -> None:
        if not worker.use_eventloop:  # the timer is a thread of its own
            self._schedule(worker.timer)

    def register_with_event_loop(self, worker, hub) -> None:
        """The event loop forgets its timers whenever the broker connection is lost, and registers its steps again
        once it is back (celery.worker.loops.asynloop): a broker restart is when lost tasks are likeliest."""
        self._schedule(hub.timer)

    def _schedule(self, timer) -> None:
        from django.conf import settings

        interval = min(60.0, max(0.5, settings.SCAN_STALL_SECONDS / 4))
        self.tref = timer.call_repeatedly(interval, self.sweep, args=(settings.SCAN_STALL_SECONDS,))

    def stop(self, worker) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    @staticmethod
    def sweep(stall_seconds: float) -> None:
        from django.db import close_old_connections

        from jobs.recovery import stalled_discovery_redispatch, stalled_stages_redispatch

        close_old_connections()
        try:
            stalled_discovery_redispatch(stall_seconds=stall_seconds)
            stalled_stages_redispatch(stall_seconds=stall_seconds)
        except Exception:  # the database is away: the next sweep tries again
            logger.exception("looking for stalled work failed")
        finally:
            close_old_connections()


app.steps["worker"].add(StalledWorkSweep)


@worker_process_init.connect
def _load_extractors(**_kwargs) -> None:
    """Each pool process builds its extractor registry once. A stage's models load on the first task of that
    stage the process runs (they depend on the job's frozen parameters) and stay loaded: never once per task."""
    from extractors.registry import get_registry

    get_registry()
