"""Which order keys have writes waiting (queued or replaying), known in-process.

Reads use it to add ``detail=pending-writes`` to ``Cache-Status``, and live writes to queue
behind writes already queued for the same order key instead of overtaking them. Both ask on
every request, so the answer comes from memory: an empty set costs one truth test, no hashing
and no Redis round trip.

The set holds order-key hashes, the same ``sha256`` the Redis queue names its lines by, so the
periodic refresh is one ``ZRANGE`` of the queue's ready set (every non-empty line, whichever
process queued it). This process adds a key when it enqueues, and removes one when its
replayer finished the last write of that line; the refresh catches everything else (other
processes' writes, operator retries and drops) within its interval.

Races are settled by marks: a refresh or a removal that started before a local enqueue of the
same key never removes that key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def order_key_hash(order_key: str) -> str:
    """How the Redis queue names an order key's line (``P:k:<hash>``, ``P:ready`` members)."""
    return hashlib.sha256(order_key.encode()).hexdigest()


class PendingKeys:
    def __init__(self) -> None:
        self._keys: set[str] = set()
        #: hash -> the mark of its latest local enqueue
        self._added: dict[str, int] = {}
        self._mark = 0

    def __bool__(self) -> bool:
        return bool(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def has(self, order_key: str) -> bool:
        return bool(self._keys) and order_key_hash(order_key) in self._keys

    def any_of(self, order_keys: Iterable[str]) -> bool:
        return bool(self._keys) and any(order_key_hash(k) in self._keys for k in order_keys)

    def mark(self) -> int:
        """Take before reading Redis; pass to ``discard_if_quiet`` / ``replace``."""
        return self._mark

    def add(self, order_key: str) -> None:
        """A write for ``order_key`` was just queued by this process."""
        self._mark += 1
        okh = order_key_hash(order_key)
        self._keys.add(okh)
        self._added[okh] = self._mark

    def discard_if_quiet(self, order_key: str, mark: int) -> None:
        """The line of ``order_key`` was seen empty after ``mark``: forget it, unless this
        process queued another write for it since."""
        okh = order_key_hash(order_key)
        if self._added.get(okh, 0) <= mark:
            self._keys.discard(okh)
            self._added.pop(okh, None)

    def replace(self, hashes: Iterable[str], mark: int) -> None:
        """Adopt the queue's view read after ``mark``, keeping keys queued here since."""
        fresh = set(hashes)
        recent = {okh for okh, m in self._added.items() if m > mark}
        self._keys = fresh | recent
        self._added = {okh: m for okh, m in self._added.items() if okh in self._keys}
