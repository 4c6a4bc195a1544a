"""With a Redis URL the rate limits live in Redis, so every worker counts the same guesses."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import flask
import pytest
import redis

from app import create_app
from tests.conftest import make_settings
from tests.integration.test_login import csrf_token

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis at {REDIS_URL} is not reachable: {error} (CI=true)")
        pytest.skip(f"Redis at {REDIS_URL} is not running")
    yield client
    client.flushdb()
    client.close()


def _app(tmp_path: Path) -> flask.Flask:
    settings = make_settings(
        tmp_path, f"sqlite:///{tmp_path / 'limits.sqlite3'}", CACHE_URL=REDIS_URL
    )
    return create_app(settings)


def test_two_workers_share_one_limit(tmp_path: Path, redis_client: redis.Redis) -> None:
    redis_client.flushdb()
    first, second = _app(tmp_path / "one"), _app(tmp_path / "two")
    address = f"192.0.2.{uuid.uuid4().int % 250 + 1}"
    statuses = []
    for attempt in range(21):  # alternate between the two "workers"
        client = (first if attempt % 2 else second).test_client()
        client.environ_base["REMOTE_ADDR"] = address
        form = {
            "username": f"nobody{attempt}",
            "password": "x" * 12,
            "csrf_token": csrf_token(client),
        }
        statuses.append(client.post("/login", data=form).status_code)
    assert statuses[:20] == [401] * 20 and statuses[20] == 429
    assert redis_client.dbsize() > 0
