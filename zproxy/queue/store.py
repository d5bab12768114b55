"""The write queue protocol, and an in-memory implementation (unit tests, the reference model).

Semantics every implementation shares (the contract suite in tests/queue checks them):

- ``enqueue`` dedupes on (identity, idempotency key): the same key with the same body hash
  returns the existing id with ``created=False``; with another body it raises
  ``IdempotencyMismatch`` (answer 422, queue nothing).
- Writes with one ``order_key`` form a line, replayed strictly FIFO with one in flight; lines
  are independent. ``claim`` hands out the head write of up to ``max_keys`` lines that are
  neither leased (by anyone, this consumer included) nor in backoff. A lease lapses at
  ``now + lease_seconds`` unless renewed; after that another consumer may claim the same head
  (the replay is idempotent for POST/PATCH). Outcomes are fenced by the claim's token: a
  consumer whose lease was taken over records nothing (the call returns False).
- ``mark_retry`` keeps the write at the head of its line: backoff holds the whole line.
- ``mark_dead`` takes the write out of its line, so the next write of that key proceeds. We
  chose this over "stop the line on first failure" because a blocked line would age every
  later write into the dead letters too, and the reasons for a rejection (a bad field, a
  closed account) are usually specific to the one write. Operators see dead writes and decide.
- ``retry`` (operator) re-queues a dead write at the END of its line: its original slot is
  gone (later writes may already be applied) and jumping ahead of writes accepted after it
  would reorder them a second time. Its age limit then counts from the re-queue.
- ``drop`` (operator) deletes a dead or waiting (queued, not in flight) write and its dedupe
  entry; it refuses writes being replayed or already applied.
- ``attempts`` counts claims (a crash mid-send still counts as an attempt).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from zproxy.errors import ZproxyError
from zproxy.queue.model import (
    Claim,
    EnqueueResult,
    QueuedWrite,
    ReclaimReport,
    WriteRecord,
    WriteState,
)
from zproxy.queue.redact import redact_text


class IdempotencyMismatch(ZproxyError):
    """The idempotency key was already used for a different write: answer 422."""

    status = 422
    code = "ZPROXY_IDEMPOTENCY_KEY_MISMATCH"

    def __init__(self, write_id: str) -> None:
        super().__init__("Idempotency-Key was already used with a different request")
        self.write_id = write_id


class WriteQueue(Protocol):
    async def enqueue(self, write: QueuedWrite) -> EnqueueResult: ...

    async def get(self, write_id: str) -> WriteRecord | None: ...

    async def list(self, state: WriteState, limit: int = 100) -> Sequence[WriteRecord]: ...

    async def claim(
        self, consumer_id: str, now: float, lease_seconds: float, max_keys: int
    ) -> Sequence[Claim]: ...

    async def renew(self, claim: Claim, now: float, lease_seconds: float) -> bool: ...

    async def release(self, claim: Claim, now: float) -> bool: ...

    async def mark_applied(self, claim: Claim, status: int, body: bytes, now: float) -> bool: ...

    async def mark_retry(
        self, claim: Claim, next_attempt_at: float, status: int | None, error: str
    ) -> bool: ...

    async def mark_dead(
        self, claim: Claim, reason: str, status: int | None, body: bytes, now: float
    ) -> bool: ...

    async def retry(self, write_id: str, now: float) -> bool: ...

    async def drop(self, write_id: str) -> bool: ...

    async def depth(self) -> int: ...

    async def oldest_accepted_at(self) -> float | None: ...

    async def dead_count(self) -> int: ...

    async def reclaim(self, now: float) -> ReclaimReport: ...

    async def expedite(self, now: float) -> int:
        """Zuora is back: lines held in backoff may be claimed now (the backoff grew while
        probes failed during the outage). Leased lines are left alone. Returns how many."""
        ...


@dataclass(slots=True)
class _Lease:
    token: str
    until: float


class MemoryWriteQueue:
    """A process-local ``WriteQueue`` with the same semantics as the Redis one; not durable."""

    def __init__(self) -> None:
        self._records: dict[str, WriteRecord] = {}
        self._lines: dict[str, deque[str]] = {}
        #: order key -> earliest time its head may be claimed (backoff).
        self._hold: dict[str, float] = {}
        self._leases: dict[str, _Lease] = {}
        self._idem: dict[tuple[str, str], tuple[str, str]] = {}
        #: Writes not yet terminal, in the order they entered the queue.
        self._log: dict[str, float] = {}

    async def enqueue(self, write: QueuedWrite) -> EnqueueResult:
        scope = (write.identity, write.idempotency_key)
        existing = self._idem.get(scope)
        if existing is not None and existing[0] in self._records:
            if existing[1] != write.body_hash:
                raise IdempotencyMismatch(existing[0])
            return EnqueueResult(existing[0], created=False)
        self._idem[scope] = (write.id, write.body_hash)
        self._records[write.id] = WriteRecord(write=write, state="queued")
        self._lines.setdefault(write.order_key, deque()).append(write.id)
        self._hold.setdefault(write.order_key, 0.0)
        self._log[write.id] = write.accepted_at
        return EnqueueResult(write.id, created=True)

    async def get(self, write_id: str) -> WriteRecord | None:
        return self._records.get(write_id)

    async def list(self, state: WriteState, limit: int = 100) -> Sequence[WriteRecord]:
        found = [r for r in self._records.values() if r.state == state]
        return found[:limit]

    async def claim(
        self, consumer_id: str, now: float, lease_seconds: float, max_keys: int
    ) -> Sequence[Claim]:
        claims: list[Claim] = []
        for key, hold in sorted(self._hold.items(), key=lambda kv: (kv[1], kv[0])):
            if len(claims) >= max_keys or hold > now:
                break
            lease = self._leases.get(key)
            if lease is not None and lease.until > now:
                continue
            token = f"{consumer_id}:{os.urandom(6).hex()}"
            self._leases[key] = _Lease(token, now + lease_seconds)
            head = self._records[self._lines[key][0]]
            head = replace(head, state="replaying", attempts=head.attempts + 1)
            self._records[head.id] = head
            claims.append(Claim(head.write, token, head.attempts, head.requeued_at))
        return claims

    def _holds(self, claim: Claim) -> bool:
        key = claim.write.order_key
        lease = self._leases.get(key)
        line = self._lines.get(key)
        return (
            lease is not None
            and lease.token == claim.token
            and bool(line)
            and (line is not None and line[0] == claim.write_id)
        )

    async def renew(self, claim: Claim, now: float, lease_seconds: float) -> bool:
        if not self._holds(claim):
            return False
        self._leases[claim.write.order_key].until = now + lease_seconds
        return True

    async def release(self, claim: Claim, now: float) -> bool:
        return self._requeue(claim, now, None, None, set_next=False)

    async def mark_retry(
        self, claim: Claim, next_attempt_at: float, status: int | None, error: str
    ) -> bool:
        return self._requeue(claim, next_attempt_at, status, error, set_next=True)

    def _requeue(
        self, claim: Claim, hold: float, status: int | None, error: str | None, *, set_next: bool
    ) -> bool:
        if not self._holds(claim):
            return False
        key = claim.write.order_key
        del self._leases[key]
        self._hold[key] = hold
        record = replace(self._records[claim.write_id], state="queued")
        if set_next:
            record = replace(record, next_attempt_at=hold, last_error=error, upstream_status=status)
        self._records[record.id] = record
        return True

    async def mark_applied(self, claim: Claim, status: int, body: bytes, now: float) -> bool:
        return self._finish(claim, "applied", status, body, None, now)

    async def mark_dead(
        self, claim: Claim, reason: str, status: int | None, body: bytes, now: float
    ) -> bool:
        return self._finish(claim, "dead", status, body, reason, now)

    def _finish(
        self,
        claim: Claim,
        state: WriteState,
        status: int | None,
        body: bytes,
        reason: str | None,
        now: float,
    ) -> bool:
        if not self._holds(claim):
            return False
        key = claim.write.order_key
        del self._leases[key]
        self._lines[key].popleft()
        self._after_line_change(key, 0.0)
        self._log.pop(claim.write_id, None)
        self._records[claim.write_id] = replace(
            self._records[claim.write_id],
            state=state,
            applied_at=now if state == "applied" else None,
            upstream_status=status,
            upstream_body=redact_text(body) if body else None,
            dead_reason=reason,
            next_attempt_at=None,
        )
        return True

    def _after_line_change(self, key: str, hold: float) -> None:
        if self._lines.get(key):
            self._hold[key] = hold
        else:
            self._lines.pop(key, None)
            self._hold.pop(key, None)
            self._leases.pop(key, None)

    async def retry(self, write_id: str, now: float) -> bool:
        record = self._records.get(write_id)
        if record is None or record.state != "dead":
            return False
        key = record.write.order_key
        self._lines.setdefault(key, deque()).append(write_id)
        self._hold.setdefault(key, 0.0)
        self._log[write_id] = now
        self._records[write_id] = replace(
            record,
            state="queued",
            requeued_at=now,
            dead_reason=None,
            last_error=f"dead: {record.dead_reason}",
        )
        return True

    async def drop(self, write_id: str) -> bool:
        record = self._records.get(write_id)
        if record is None or record.state not in ("dead", "queued"):
            return False
        if record.state == "queued":
            key = record.write.order_key
            self._lines[key].remove(write_id)
            self._after_line_change(key, self._hold.get(key, 0.0))
            self._log.pop(write_id, None)
        del self._records[write_id]
        scope = (record.write.identity, record.write.idempotency_key)
        if self._idem.get(scope, ("",))[0] == write_id:
            del self._idem[scope]
        return True

    async def depth(self) -> int:
        return len(self._log)

    async def oldest_accepted_at(self) -> float | None:
        for write_id in self._log:
            record = self._records[write_id]
            return record.requeued_at if record.requeued_at is not None else record.accepted_at
        return None

    async def dead_count(self) -> int:
        return sum(1 for r in self._records.values() if r.state == "dead")

    async def expedite(self, now: float) -> int:
        held = [k for k, t in self._hold.items() if t > now and k not in self._leases]
        for key in held:
            self._hold[key] = 0.0
        return len(held)

    async def reclaim(self, now: float) -> ReclaimReport:
        """Writes left "replaying" by a consumer whose lease lapsed go back to "queued"."""
        requeued: list[str] = []
        for key, lease in list(self._leases.items()):
            if lease.until <= now:
                head = self._records[self._lines[key][0]]
                if head.state == "replaying":
                    self._records[head.id] = replace(head, state="queued")
                    requeued.append(head.id)
        return ReclaimReport(requeued=tuple(requeued))
