"""Image Scanner: Django project package (settings, Celery app, ASGI and URLs)."""

from scanner.celery import app as celery_app

__all__ = ["celery_app"]
