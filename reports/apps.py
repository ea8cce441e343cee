from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        # The report task registers in every process (workers find it by name).
        from reports import tasks  # noqa: F401
