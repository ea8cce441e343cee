"""Settings package: `base` plus one thin overlay per configuration.

- `embedded`    SQLite under ./var, Celery canvas run in-process, in-memory channel layer (laptop, `make demo`).
- `distributed` PostgreSQL, Redis broker and channel layer, real workers (the lab deployment).
- `test`        `distributed` with defaults pointing at the local PostgreSQL and Redis.

Nothing imports this package directly: DJANGO_SETTINGS_MODULE always names an overlay.
"""
