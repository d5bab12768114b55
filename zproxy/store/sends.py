"""Did a failed Redis call ever reach Redis? The answer decides between "not queued" (503) and
"outcome unknown" (504) when an enqueue fails.

redis-py retries a failed command on a fresh connection and raises only the last error, so a
command that was sent, ran, and lost its reply (Redis killed right after) can end in a
"connection refused" from the retry. ``TracedRetry`` (the ``Retry`` every zproxy client uses)
tells a caller inside ``tracked()`` about every failure it absorbed, and at which depth:
redis-py runs connecting and the health-check PING as retried calls nested inside the
command's own. A failure is *before sending* when it came from such a nested call (the same
exception object then also ends the outer call), or when it is a failure to connect (refused,
no route, DNS, connect timeout, no Sentinel primary). ``never_sent`` is true only when every
failure seen was before sending: anything else may have reached Redis.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from redis.asyncio.retry import Retry
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

T = TypeVar("T")


@dataclass(slots=True)
class Sends:
    """Failures seen by the retries inside one ``tracked()`` block."""

    depth: int = 0
    before_send: list[BaseException] = field(default_factory=list)
    maybe_sent: list[BaseException] = field(default_factory=list)

    def note(self, error: BaseException, depth: int) -> None:
        if depth > 1 or is_connect_failure(error) or _seen(error, self.before_send):
            self.before_send.append(error)
        else:
            self.maybe_sent.append(error)


_SENDS: ContextVar[Sends | None] = ContextVar("zproxy_redis_sends", default=None)


def _seen(error: BaseException, errors: list[BaseException]) -> bool:
    return any(error is e for e in errors)


def is_connect_failure(error: BaseException) -> bool:
    """A failure to open a connection: nothing was written on it."""
    if isinstance(error, ConnectionRefusedError | socket.gaierror):
        return True
    if type(error).__name__ in ("MasterNotFoundError", "SlaveNotFoundError"):
        return True
    if isinstance(error, RedisConnectionError | RedisTimeoutError):
        text = str(error)
        return "connecting to" in text or text == "Timeout connecting to server"
    return False


@contextlib.contextmanager
def tracked() -> Iterator[Sends]:
    sends = Sends()
    token = _SENDS.set(sends)
    try:
        yield sends
    finally:
        _SENDS.reset(token)


def never_sent(sends: Sends, final: BaseException) -> bool:
    """True when the call that ended in ``final`` certainly never reached Redis."""
    root = _redis_error(final)
    if sends.maybe_sent:
        return False
    if sends.before_send:
        return True
    return root is not None and is_connect_failure(root)


def _redis_error(error: BaseException) -> BaseException | None:
    """The Redis-side error behind a zproxy error (``mapped`` raises ``from`` it)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, RedisConnectionError | RedisTimeoutError | OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class TracedRetry(Retry):
    """redis-py's ``Retry``, reporting each absorbed failure to ``tracked()`` callers."""

    async def call_with_retry(
        self,
        do: Callable[[], Awaitable[T]],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        sends = _SENDS.get()
        if sends is None:
            return await super().call_with_retry(do, fail, is_retryable, with_failure_count)
        sends.depth += 1
        depth = sends.depth

        async def noted() -> T:
            try:
                return await do()
            except Exception as error:
                sends.note(error, depth)
                raise

        try:
            return await super().call_with_retry(noted, fail, is_retryable, with_failure_count)
        finally:
            sends.depth -= 1
