"""The test kit's broker URL on both backends, for folders that test through ``taskq_app``.

A folder imports :func:`taskq_broker_url` into its conftest to override the plugin's fixture of
that name, as an app author testing against Redis would: every test then runs on ``memory://``
and on the session's real redis-server under this test's key prefix, deleted afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from .redis_server import delete_prefix


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def taskq_broker_url(request: pytest.FixtureRequest, prefix: str) -> Iterator[str]:
    """The test broker: ``memory://``, then the real redis-server under this test's prefix."""
    if request.param == "memory":
        yield "memory://"
        return
    url = str(request.getfixturevalue("redis_url"))
    separator = "&" if "?" in url else "?"
    yield f"{url}{separator}prefix={prefix}"
    client = redis.Redis.from_url(url)
    try:
        delete_prefix(client, prefix)
    finally:
        client.close()
