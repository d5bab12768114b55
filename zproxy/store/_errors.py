"""Redis exceptions become zproxy errors here, and only here (the stores and the write queue
all use ``mapped``): ``StoreUnavailable`` for Redis being down or refusing, ``NotDurable``
when ``WAITAOF`` is refused. Messages carry the exception type and what failed, never keys
or values."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import RedisError, ResponseError

from zproxy.errors import NotDurable, StoreUnavailable


@contextmanager
def mapped(what: str) -> Iterator[None]:
    """Re-raise any redis error inside as ``StoreUnavailable`` naming ``what`` failed
    (``NotDurable`` for a refused ``WAITAOF``)."""
    try:
        yield
    except ResponseError as exc:
        if "WAITAOF" in str(exc):
            raise NotDurable(f"redis {what}: WAITAOF refused") from exc
        raise StoreUnavailable(f"redis {what} refused: {type(exc).__name__}") from exc
    except RedisError as exc:
        raise StoreUnavailable(f"redis {what} failed: {type(exc).__name__}") from exc
