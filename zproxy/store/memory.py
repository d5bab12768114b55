"""A dict-backed ``CacheStore`` for unit tests: same semantics as Redis, time from a ``Clock``.

Entries go through the codec like in Redis, so a test that passes here exercises the bytes
too. Set ``available = False`` to make every call raise ``StoreUnavailable``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from zproxy.clock import Clock
from zproxy.errors import StoreUnavailable
from zproxy.policy.keys import principal_of_key
from zproxy.store.cache import CacheEntry
from zproxy.store.codec import Codec


class MemoryCacheStore:
    def __init__(self, clock: Clock, codec: Codec | None = None) -> None:
        self._clock = clock
        self._codec = codec or Codec()
        self._entries: dict[str, tuple[bytes, float]] = {}
        self._tags: dict[tuple[str, str], set[str]] = {}
        self._principals: dict[str, set[str]] = {}
        self._invalidated: set[str] = set()
        self.available = True

    def _check(self) -> None:
        if not self.available:
            raise StoreUnavailable("memory cache store switched off")

    def _live(self, key: str) -> bytes | None:
        item = self._entries.get(key)
        if item is None:
            return None
        if item[1] <= self._clock.time():
            del self._entries[key]
            return None
        return item[0]

    def ttl_of(self, key: str) -> float | None:
        """Seconds ``key`` has left, None when absent (for contract tests)."""
        if self._live(key) is None:
            return None
        return self._entries[key][1] - self._clock.time()

    async def get(self, key: str) -> CacheEntry | None:
        self._check()
        data = self._live(key)
        if data is None:
            return None
        entry = self._codec.decode(data, key)
        return replace(entry, invalidated=True) if key in self._invalidated else entry

    async def set(self, key: str, entry: CacheEntry, ttl_seconds: float) -> None:
        self._check()
        principal = principal_of_key(key)
        expires = self._clock.time() + max(ttl_seconds, 0.001)
        self._entries[key] = (self._codec.encode(entry, key), expires)
        self._invalidated.discard(key)
        self._principals.setdefault(principal, set()).add(key)
        for tag in entry.tags:
            self._tags.setdefault((principal, tag), set()).add(key)

    async def purge_tags(self, tags: Sequence[str], scope: str | None = None) -> int:
        self._check()
        wanted = set(tags)
        hit = [k for k in self._tags if k[1] in wanted and (scope is None or k[0] == scope)]
        keys: set[str] = set()
        for index in hit:
            keys |= self._tags.pop(index)
        return self._delete(keys)

    async def invalidate_tags(self, tags: Sequence[str]) -> int:
        self._check()
        wanted = set(tags)
        keys = {k for index, ks in self._tags.items() if index[1] in wanted for k in ks}
        live = {k for k in keys if self._live(k) is not None}
        self._invalidated |= live
        return len(live)

    async def purge_principal(self, principal: str) -> int:
        self._check()
        return self._delete(self._principals.pop(principal, set()))

    async def purge_all(self) -> int:
        self._check()
        count = self._delete(set(self._entries))
        self._tags.clear()
        self._principals.clear()
        return count

    def _delete(self, keys: Iterable[str]) -> int:
        count = 0
        for key in keys:
            if self._live(key) is not None:
                del self._entries[key]
                count += 1
        return count
