"""Test configuration: the distributed settings pointed at the local PostgreSQL and Redis by default."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-not-secret")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scanner")
# The suite migrates and empties its database as postgres; the app's processes it starts (workers, the web server)
# connect as this least-privilege role, which the suite creates when it is missing (tests/conftest.py).
os.environ.setdefault("DATABASE_APP_ROLE", "scanner_app_test")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
# The live test server speaks plain HTTP on localhost (where browsers accept secure cookies).
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")

from scanner.settings.distributed import *  # noqa: F403
from scanner.settings.distributed import STAGE_PARAMS, env

# Every commit tries to seal its audit events, so a test reads them sealed (tests of the interval set their own).
AUDIT_CHAIN_SEAL_INTERVAL = env.float("AUDIT_CHAIN_SEAL_INTERVAL", default=0.0)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Jobs in tests run the built-in stages (the ML ones are unavailable unless a test starts a worker with models);
# the counting stage below runs only where a test asks for it.
SCAN_STAGES = env.list("SCAN_STAGES", default=["exif", "faces", "classify"])
# A stage that records each image it analyses, to prove exactly-once processing across worker kills and
# redeliveries. It only runs for jobs that ask for it, on its own queue.
SCAN_EXTRA_EXTRACTORS = env.list("SCAN_EXTRA_EXTRACTORS", default=["tests.support.plugins:CountingExtractor"])
STAGE_PARAMS = {
    **STAGE_PARAMS,
    "probe": {"log": env.str("PROBE_LOG", default=""), "delay": env.float("PROBE_DELAY", default=0.0)},
}
