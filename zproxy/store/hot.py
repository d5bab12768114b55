"""The in-process layer of hot entries in front of the Redis cache store (one per worker).

A hit answered here costs a dict lookup: no Redis round trip, no decode, no decompression.
The layer holds decoded ``CacheEntry`` values (body bytes and the stored headers, ready to
send), bounded by bytes, least recently used first out. It never decides what to serve (that
stays ``policy.reads.decide_read``); it only guarantees what it hands back:

* **never past its windows**: every entry carries ``expires_at`` (wall-clock, the entry's own
  ``stored_at`` + the route's fresh + max(swr, sie), i.e. the Redis TTL); ``get(key, now)``
  drops and refuses an entry at or past it, so nothing outlives what Redis would keep;
* **never across identities**: entries are found by the full cache key, which carries the
  principal and the identity hash (``policy.keys.cache_key``), and the key is checked again
  on the way out;
* **never after a purge**: ``drop_tags`` / ``drop_principal`` / ``drop_key`` / ``drop_all``
  remove entries (soft purges too: a soft-purged entry is read again from Redis, which marks
  it), and every drop moves ``generation`` on, so a value read from Redis before a drop and
  offered after it (``put(..., generation=g)``) is refused. Soft-purged (``invalidated``)
  entries are never admitted: they must be read from Redis with their marker.

Drops reach every worker and host through Redis pub/sub (``zproxy.store.hot_sync``). The
layer is pure and synchronous: time comes in as ``now``; it does no I/O and needs no lock
(one event loop per worker).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from zproxy.policy.keys import principal_of_key
from zproxy.store.cache import CacheEntry

#: Bytes counted per entry beyond its key, body and headers (dict slots, tuples, indexes).
ENTRY_OVERHEAD: Final = 256


@dataclass(frozen=True, slots=True)
class HotEntry:
    """One entry held in process: the decoded entry and when it must be gone."""

    key: str
    entry: CacheEntry
    expires_at: float
    size: int


@dataclass(frozen=True, slots=True)
class HotStats:
    entries: int
    bytes: int
    hits: int
    misses: int
    evictions: int
    drops: int


def entry_size(key: str, entry: CacheEntry) -> int:
    headers = sum(len(n) + len(v) for n, v in entry.headers)
    tags = sum(len(t) for t in entry.tags)
    return len(key) + len(entry.body) + headers + tags + ENTRY_OVERHEAD


class HotLayer:
    """Hot entries by cache key, at most ``max_bytes`` in all; an entry larger than
    ``max_entry_bytes`` (default an eighth of the budget) is never admitted."""

    def __init__(self, max_bytes: int, max_entry_bytes: int | None = None) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes if max_entry_bytes is not None else max_bytes // 8
        self._entries: OrderedDict[str, HotEntry] = OrderedDict()
        self._by_tag: dict[str, set[str]] = {}
        self._by_principal: dict[str, set[str]] = {}
        self._bytes = 0
        #: Moves on with every drop: ``put`` refuses values read before a drop.
        self.generation = 0
        self._hits = self._misses = self._evictions = self._drops = 0

    # -- reads -------------------------------------------------------------------------------

    def get(self, key: str, now: float) -> CacheEntry | None:
        """The entry under ``key`` if it is held and still inside its windows at ``now``."""
        held = self._entries.get(key)
        if held is None:
            self._misses += 1
            return None
        if now >= held.expires_at or held.key != key:
            self._remove(key)
            self._misses += 1
            return None
        self._entries.move_to_end(key)
        self._hits += 1
        return held.entry

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def stats(self) -> HotStats:
        return HotStats(
            len(self._entries), self._bytes, self._hits, self._misses, self._evictions, self._drops
        )

    # -- writes ------------------------------------------------------------------------------

    def put(
        self,
        key: str,
        entry: CacheEntry,
        expires_at: float,
        now: float,
        generation: int | None = None,
    ) -> bool:
        """Hold ``entry`` until ``expires_at`` (wall-clock). Refused (False) when it is
        soft-purged, already expired, too large, or was read before a drop (``generation``
        taken before the read differs from ``self.generation``)."""
        if generation is not None and generation != self.generation:
            return False
        if entry.invalidated or expires_at <= now:
            return False
        size = entry_size(key, entry)
        if size > self.max_entry_bytes or size > self.max_bytes:
            return False
        principal = principal_of_key(key)
        if key in self._entries:
            self._remove(key)
        self._entries[key] = HotEntry(key, entry, expires_at, size)
        self._bytes += size
        self._by_principal.setdefault(principal, set()).add(key)
        for tag in entry.tags:
            self._by_tag.setdefault(tag, set()).add(key)
        while self._bytes > self.max_bytes:
            oldest = next(iter(self._entries))
            self._remove(oldest)
            self._evictions += 1
        return True

    def drop_key(self, key: str) -> int:
        self._moved()
        return self._drop([key])

    def drop_tags(self, tags: Iterable[str], scope: str | None = None) -> int:
        """Entries tagged with any of ``tags``; only the principal ``scope``'s when given."""
        self._moved()
        keys: set[str] = set()
        for tag in tags:
            keys |= self._by_tag.get(tag, set())
        if scope is not None:
            keys = {k for k in keys if principal_of_key(k) == scope}
        return self._drop(keys)

    def drop_principal(self, principal: str) -> int:
        self._moved()
        return self._drop(set(self._by_principal.get(principal, ())))

    def drop_all(self) -> int:
        self._moved()
        count = len(self._entries)
        self._entries.clear()
        self._by_tag.clear()
        self._by_principal.clear()
        self._bytes = 0
        self._drops += count
        return count

    def expire(self, now: float) -> int:
        """Remove every entry past its windows (a sweep; ``get`` also checks on the way)."""
        gone = [k for k, held in self._entries.items() if now >= held.expires_at]
        for key in gone:
            self._remove(key)
        return len(gone)

    # -- internals ---------------------------------------------------------------------------

    def _moved(self) -> None:
        self.generation += 1

    def _drop(self, keys: Iterable[str]) -> int:
        count = 0
        for key in list(keys):
            if key in self._entries:
                self._remove(key)
                count += 1
        self._drops += count
        return count

    def _remove(self, key: str) -> None:
        held = self._entries.pop(key, None)
        if held is None:
            return
        self._bytes -= held.size
        principal = principal_of_key(key)
        _discard(self._by_principal, principal, key)
        for tag in held.entry.tags:
            _discard(self._by_tag, tag, key)


def _discard(index: dict[str, set[str]], name: str, key: str) -> None:
    keys = index.get(name)
    if keys is None:
        return
    keys.discard(key)
    if not keys:
        del index[name]
