"""``Idempotency-Key`` semantics: first result stored 24 h and replayed; 409 while the first is
in flight; 422 when the key comes back with another method, URL, tenant or body."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

TTL_SECONDS = 24 * 3600.0
MAX_KEY_LENGTH = 255


class Outcome(enum.Enum):
    NEW = "new"
    REPLAY = "replay"
    IN_FLIGHT = "in_flight"
    MISMATCH = "mismatch"


@dataclass(slots=True)
class Record:
    tenant: int
    method: str
    url: str
    body_hash: str
    expires_at: float
    done: bool = False
    status: int = 0
    body: bytes = b""
    content_type: str = "application/json"


@dataclass(slots=True)
class IdempotencyStore:
    records: dict[str, Record] = field(default_factory=dict)

    def begin(
        self, key: str, *, tenant: int, method: str, url: str, body_hash: str, now: float
    ) -> tuple[Outcome, Record]:
        """Look the key up; when new, reserve it as in flight."""
        record = self.records.get(key)
        if record is not None and record.expires_at <= now:
            del self.records[key]
            record = None
        if record is None:
            self._prune(now)
            record = Record(tenant, method, url, body_hash, now + TTL_SECONDS)
            self.records[key] = record
            return Outcome.NEW, record
        if (record.tenant, record.method, record.url, record.body_hash) != (
            tenant,
            method,
            url,
            body_hash,
        ):
            return Outcome.MISMATCH, record
        return (Outcome.REPLAY if record.done else Outcome.IN_FLIGHT), record

    def complete(self, key: str, status: int, body: bytes, content_type: str) -> None:
        record = self.records.get(key)
        if record is not None:
            record.done, record.status, record.body = True, status, body
            record.content_type = content_type

    def abandon(self, key: str) -> None:
        """The first request never produced a result (dropped, cancelled): forget the key."""
        record = self.records.get(key)
        if record is not None and not record.done:
            del self.records[key]

    def in_flight(self) -> int:
        return sum(1 for r in self.records.values() if not r.done)

    def _prune(self, now: float) -> None:
        if len(self.records) % 1024 == 1023:
            for key in [k for k, r in self.records.items() if r.expires_at <= now]:
                del self.records[key]
