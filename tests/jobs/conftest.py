"""Fixtures of the job tests: a Redis server a test may stop."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.brokers import PrivateRedis


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    data = tmp_path / "redis"
    data.mkdir()
    redis = PrivateRedis(data)
    redis.start()
    yield redis
    redis.process.terminate()
    redis.process.wait(timeout=30)
