"""Distributed configuration: PostgreSQL, a Redis (or RabbitMQ) broker, Redis channel layer, real workers.

Every secret and address must come from the environment: nothing here has a usable default.
"""

from scanner.settings.base import *  # noqa: F403
from scanner.settings.base import env

SECRET_KEY = env.str("DJANGO_SECRET_KEY")
DATABASES = {"default": env.db("DATABASE_URL")}
# How a process holds its connections (README, "Database connections"). The web server (daphne) runs each request on
# a thread of its own, so a connection kept per thread (CONN_MAX_AGE) outlives its request and they pile up with the
# requests in flight until PostgreSQL refuses new clients. It runs with DATABASE_POOL=true (Procfile,
# docker-compose.yml): its threads share one pool of at most DATABASE_POOL_MAX_SIZE connections, and a request waits
# up to DATABASE_POOL_TIMEOUT seconds for one. https://docs.djangoproject.com/en/5.2/ref/databases/#connection-pool
# Every other process keeps one connection per thread for DATABASE_CONN_MAX_AGE seconds: a Celery worker (a pool must
# not cross the fork of its pool processes; one connection per process), the gRPC server (one per thread, at most
# GRPC_MAX_WORKERS) and management commands.
if env.bool("DATABASE_POOL", default=False):
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # connections go back to the pool when a request ends
    # A connection is checked as it leaves the pool: one broken by a PostgreSQL restart is replaced, not handed out.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=30.0),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
# The role the app's processes connect as (the user of their DATABASE_URL): it owns no table and is no superuser.
# Migrations run as the tables' owner (DATABASE_URL naming the owner) and grant this role its rights: every table
# but the audit log, which it may only add to and read (audit/migrations/0002; README, "Database roles").
DATABASE_APP_ROLE = env.str("DATABASE_APP_ROLE", default=DATABASES["default"]["USER"])
# A database that accepts the connection and then never answers (a hung server, a half-open network path) costs a
# connection attempt this long, not the TCP timeout: a worker's recovery sweep runs in its main process, where a hung
# attempt would hold up its message handling. A DATABASE_URL that names connect_timeout keeps its own.
if DATABASES["default"]["ENGINE"].endswith((".postgresql", ".postgis")):
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=10)
    )

# Redis by default; amqp://user:password@host/vhost (RabbitMQ) works too, with the results kept in Redis.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=env.str("REDIS_URL", default=CELERY_BROKER_URL))

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [env.str("CHANNEL_LAYER_URL", default=env.str("REDIS_URL", default=""))]},
    }
}

# Sign-in throttling counts failures in the cache, so every web process must share it.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env.str("CACHE_URL", default=env.str("REDIS_URL", default="")),
        # A Redis that hangs fails a cache call in seconds instead of holding a request or a gRPC thread.
        "OPTIONS": {"socket_connect_timeout": 5, "socket_timeout": 5},
    }
}

# HTTPS only: https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
# Behind a TLS-terminating proxy, set DJANGO_SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO.
if env.str("DJANGO_SECURE_PROXY_SSL_HEADER", default=""):
    SECURE_PROXY_SSL_HEADER = (env.str("DJANGO_SECURE_PROXY_SSL_HEADER"), "https")
# Off (with HSTS at 0) only where nothing terminates TLS and the site is served on loopback: `make up`'s .env.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
