"""Redis client: the real server when REDIS_URL is set, else an in-process fakeredis."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError


def create_redis(redis_url: str | None) -> aioredis.Redis:
    if redis_url:
        # A restarted Redis: the dropped connection is replaced on the next command (retried
        # once), and a Redis that does not answer fails in 2 s instead of hanging a webhook.
        # No read timeout: the desk's stream and the chat's long poll block on purpose.
        return aioredis.from_url(redis_url, decode_responses=True, socket_connect_timeout=2,
                                 health_check_interval=15, socket_keepalive=True,
                                 retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
                                 retry_on_error=[RedisConnectionError])
    from fakeredis import FakeAsyncRedis  # embedded default only

    return FakeAsyncRedis(decode_responses=True)
