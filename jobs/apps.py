from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from django.conf import settings

        from database import lookups  # noqa: F401 - registers `__any`
        from extractors.registry import register_extra

        register_extra(settings.SCAN_EXTRA_EXTRACTORS)
        # Register the tasks with the Celery app in every process (web, CLI, workers): canvases name tasks by
        # string, and a registered task is what lets the embedded configuration run them in-process.
        from jobs.pipeline import tasks  # noqa: F401

        # A membership of a case removed or lowered closes what the user may no longer follow; a review decision
        # changed reaches the pages following the case's jobs.
        from jobs.progress import publisher  # noqa: F401
