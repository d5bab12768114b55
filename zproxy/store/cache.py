"""``CacheEntry`` and the ``CacheStore`` protocol every store implements."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from zproxy.errors import StoreUnavailable

#: Response headers kept with an entry (lower case). Everything else is per call or per hop:
#: ``Zuora-Request-Id`` (identifies one call), ``RateLimit-*``/``Concurrency-Limit-*`` (live
#: quota), ``Date``/``Content-Length`` (the edge sets them), ``Set-Cookie`` (never replayed),
#: ``Content-Encoding`` (the stored body is the decoded body; aiohttp keeps the header after
#: decompressing) and hop-by-hop headers.
STORED_HEADERS = frozenset(
    {"content-type", "content-language", "content-disposition", "etag", "last-modified"}
)


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One stored answer. ``stored_at`` is wall-clock seconds; ``tags`` name what a write
    invalidates (``account:A001``)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    stored_at: float
    tags: tuple[str, ...] = ()
    #: Set by the store on read when a write or callout soft-purged the entry since.
    invalidated: bool = False


def entry_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The subset of upstream response headers worth replaying from cache."""
    return tuple((name, value) for name, value in headers if name.lower() in STORED_HEADERS)


class CacheStore(Protocol):
    """Where cached reads live. Every key has a TTL; failures raise ``StoreUnavailable``."""

    async def get(self, key: str) -> CacheEntry | None:
        """The entry under ``key``, or None. One round trip."""

    async def set(self, key: str, entry: CacheEntry, ttl_seconds: float) -> None:
        """Store ``entry`` for ``ttl_seconds``, indexed by ``entry.tags`` within the key's
        principal and by the principal itself."""

    async def purge_tags(self, tags: Sequence[str], scope: str | None = None) -> int:
        """Delete entries tagged with any of ``tags``; only the principal ``scope``'s when
        given. Returns how many entries were deleted."""

    async def invalidate_tags(self, tags: Sequence[str]) -> int:
        """Soft purge: every identity's entries tagged with any of ``tags`` stay stored but
        read back ``invalidated`` until stored again (served again only as stale-if-error
        while Zuora is down). Returns how many entries were marked."""

    async def purge_principal(self, principal: str) -> int:
        """Delete every entry of one principal (after a 401/403). Returns the count."""

    async def purge_all(self) -> int:
        """Delete every cache entry (and index), nothing else. Returns the entry count."""


async def soft_purge(
    cache: CacheStore, tags: Sequence[str], on_error: Callable[[str], None]
) -> int:
    """After a successful write (live or replayed) or a callout: every identity's cached
    entries under ``tags`` are soft-purged, since the data changed for all who can see it.
    They are fetched again while Zuora answers and still served stale-if-error while it is
    down (better old data, marked so, than an error). Best effort: with Redis down they
    expire by their TTL (``on_error`` is told). Tenants are not told apart; over-purging only
    costs a fetch."""
    try:
        return await cache.invalidate_tags(tags)
    except StoreUnavailable:
        on_error("cache_purge")
        return 0
