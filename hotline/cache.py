"""Redis client: the real server when REDIS_URL is set, else an in-process fakeredis."""

from __future__ import annotations

import redis.asyncio as aioredis


def create_redis(redis_url: str | None) -> aioredis.Redis:
    if redis_url:
        return aioredis.from_url(redis_url, decode_responses=True)
    from fakeredis import FakeAsyncRedis  # embedded default only

    return FakeAsyncRedis(decode_responses=True)
