"""Redis exceptions become ``StoreUnavailable`` at the store boundary (and only here)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import RedisError

from zproxy.errors import StoreUnavailable


@contextmanager
def mapped(what: str) -> Iterator[None]:
    """Re-raise any redis error inside as ``StoreUnavailable`` naming ``what`` failed (the
    message carries the exception type only: never keys or values)."""
    try:
        yield
    except RedisError as exc:
        raise StoreUnavailable(f"redis {what} failed: {type(exc).__name__}") from exc
