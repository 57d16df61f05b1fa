"""Redis clients: the real server when REDIS_URL is set, else an in-process fakeredis.

Redis helps (dedupe, locks, the desk's event stream, rate limits, sessions) but the system of
record is the database, and a webhook has its provider's deadline to keep: a Redis that does
not answer must cost a citizen's message a second, not the whole webhook. So every command has
a timeout, and after one failure the best-effort calls (`Breaker`) skip Redis for a few seconds
instead of each waiting out its own timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
T = TypeVar("T")

COMMAND_TIMEOUT_S = 1.0  # a command that takes longer: Redis is stalled (it answers in ms)
CONNECT_TIMEOUT_S = 1.0
BREAKER_OPEN_S = 5.0  # after a failure, best-effort calls skip Redis this long
STREAM_SLACK_S = 10.0  # a blocking read's socket waits its block time and this much more
UNAVAILABLE = (RedisError, OSError, TimeoutError)


def create_redis(redis_url: str | None, blocking_s: float | None = None) -> aioredis.Redis:
    """A client for ordinary commands; with `blocking_s`, one for reads that block on purpose
    (XREAD BLOCK of the desk's stream and the web chat's long poll) for up to that long."""
    if redis_url:
        # A restarted Redis: the dropped connection is replaced on the next command (retried
        # once). A stalled one: the command fails after its timeout, and is not retried (a
        # retried timeout would cost its webhook the timeout again).
        timeout = COMMAND_TIMEOUT_S if blocking_s is None else blocking_s + STREAM_SLACK_S
        return aioredis.from_url(redis_url, decode_responses=True, socket_timeout=timeout,
                                 socket_connect_timeout=CONNECT_TIMEOUT_S, health_check_interval=15,
                                 socket_keepalive=True,
                                 retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2,
                                             supported_errors=(RedisConnectionError,)),
                                 retry_on_error=[RedisConnectionError])
    from fakeredis import FakeAsyncRedis  # embedded default only

    return FakeAsyncRedis(decode_responses=True)


class Breaker:
    """Best-effort Redis calls: a failure is logged and answered with a default, and for
    BREAKER_OPEN_S afterwards the calls are not even tried."""

    def __init__(self, open_s: float = BREAKER_OPEN_S):
        self.open_s, self._until = open_s, 0.0

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self._until

    def trip(self, what: str, exc: BaseException) -> None:
        if not self.is_open:
            log.warning("Redis unavailable (%s: %s); best-effort calls skip it for %.0f s",
                        what, type(exc).__name__, self.open_s)
        self._until = time.monotonic() + self.open_s

    async def run(self, what: str, call: Callable[[], Awaitable[T]], default: T) -> T:
        if self.is_open:
            return default
        try:
            return await call()
        except UNAVAILABLE as exc:
            self.trip(what, exc)
            return default


def breaker(redis) -> Breaker:
    """The breaker of a Redis client (one per client, so per process)."""
    found = getattr(redis, "_hotline_breaker", None)
    if found is None:
        found = Breaker()
        redis._hotline_breaker = found
    return found
