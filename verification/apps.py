from django.apps import AppConfig


class VerificationConfig(AppConfig):
    name = "verification"
    verbose_name = "Verification"

    def ready(self) -> None:
        # Registers the task in every process, as the jobs app does with its own.
        from verification import tasks  # noqa: F401
