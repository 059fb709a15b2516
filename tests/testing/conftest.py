"""The test kit's own tests run on the memory backend and on the real redis-server.

They override the plugin's ``taskq_broker_url`` fixture, as an app author testing against
Redis would. Real-Redis runs skip locally without ``TASKQ_TEST_REDIS_URL`` and fail in CI; each
uses its own key prefix and deletes only its keys.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

REDIS_URL_ENV = "TASKQ_TEST_REDIS_URL"


def real_redis_url() -> str:
    """The real server's URL: skip locally without one, fail in CI."""
    url = os.environ.get(REDIS_URL_ENV)
    if not url:
        if os.environ.get("CI"):
            raise RuntimeError(f"{REDIS_URL_ENV} must be set in CI: the real-Redis tests need it")
        pytest.skip(f"{REDIS_URL_ENV} not set; real-Redis tests skipped")
    return url


def delete_prefix(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def taskq_broker_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "memory":
        yield "memory://"
        return
    url = real_redis_url()
    prefix = f"tq-kit-{uuid.uuid4().hex[:12]}"
    yield f"{url}?prefix={prefix}"
    delete_prefix(url, prefix)
