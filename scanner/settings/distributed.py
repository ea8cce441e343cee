"""Distributed configuration: PostgreSQL, a Redis (or RabbitMQ) broker, Redis channel layer, real workers.

Every secret and address must come from the environment: nothing here has a usable default.
"""

from scanner.settings.base import *  # noqa: F403
from scanner.settings.base import env

SECRET_KEY = env.str("DJANGO_SECRET_KEY")
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)

# Redis by default; amqp://user:password@host/vhost (RabbitMQ) works too, with the results kept in Redis.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=env.str("REDIS_URL", default=CELERY_BROKER_URL))

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [env.str("CHANNEL_LAYER_URL", default=env.str("REDIS_URL", default=""))]},
    }
}
