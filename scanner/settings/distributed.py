"""Distributed configuration: PostgreSQL, a Redis (or RabbitMQ) broker, Redis channel layer, real workers.

Every secret and address must come from the environment: nothing here has a usable default.
"""

from scanner.settings.base import *  # noqa: F403
from scanner.settings.base import env

SECRET_KEY = env.str("DJANGO_SECRET_KEY")
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL)
# How long Redis keeps an unacknowledged task before handing it to another worker. Must exceed the longest
# task (the scan task of a large source), otherwise a running task would be delivered twice.
# https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html#visibility-timeout
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=26 * 3600)}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [env.str("CHANNEL_LAYER_URL", default=env.str("REDIS_URL", default=""))]},
    }
}
