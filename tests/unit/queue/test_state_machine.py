"""Hypothesis drives the queue protocol against a model, for both implementations.

Invariants: a claim is always the head of its key's line as the model predicts it (so replay
is FIFO per order key); a key is never claimed while another claim on it holds a live lease;
outcomes are recorded only by the current holder; every accepted write that was not dropped
ends applied exactly once or dead; depth and dead counts agree with the model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.support.queue import KEY, T0, make_write
from zproxy.clock import FakeClock
from zproxy.queue.crypto import Cipher
from zproxy.queue.model import Claim, ReclaimReport
from zproxy.queue.redis_queue import RedisWriteQueue, queue_redis_client
from zproxy.queue.store import IdempotencyMismatch, MemoryWriteQueue, WriteQueue

LEASE = 30.0
KEYS = ("A", "B", "C")
T = TypeVar("T")


@dataclass
class Holder:
    token: str
    until: float


@dataclass
class Model:
    lines: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KEYS})
    holder: dict[str, Holder] = field(default_factory=dict)
    hold: dict[str, float] = field(default_factory=dict)
    state: dict[str, str] = field(default_factory=dict)
    key_of: dict[str, str] = field(default_factory=dict)
    idem: dict[str, tuple[str, int]] = field(default_factory=dict)
    applied: list[str] = field(default_factory=list)

    def claimable(self, now: float) -> set[str]:
        return {
            k
            for k, line in self.lines.items()
            if line
            and self.hold.get(k, 0.0) <= now
            and (k not in self.holder or self.holder[k].until <= now)
        }

    def holds(self, claim: Claim) -> bool:
        key = claim.write.order_key
        h = self.holder.get(key)
        line = self.lines[key]
        return h is not None and h.token == claim.token and bool(line) and line[0] == claim.write_id

    def pop_head(self, key: str) -> None:
        self.lines[key].pop(0)
        self.holder.pop(key, None)
        self.hold[key] = 0.0


class QueueMachine(RuleBasedStateMachine):
    redis_url: str | None = None

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock(T0)
        self.client = None
        if self.redis_url is None:
            self.queue: WriteQueue = MemoryWriteQueue()
        else:
            sync = redis.Redis.from_url(self.redis_url)
            sync.flushall()
            sync.close()
            self.client = queue_redis_client(self.redis_url)
            rq = RedisWriteQueue(self.client, Cipher({"k1": KEY}), clock=self.clock)
            self.run(rq.init())
            self.queue = rq
        self.model = Model()
        self.claims: list[Claim] = []

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        try:
            self._drain_and_check()
        finally:
            if self.client is not None:
                self.run(self.client.aclose())
            self.loop.close()

    @property
    def now(self) -> float:
        return self.clock.time()

    # ---- rules ----------------------------------------------------------------------------

    @rule(key=st.sampled_from(KEYS), idem=st.integers(0, 5), body=st.integers(0, 1))
    def enqueue(self, key: str, idem: int, body: int) -> None:
        # The body hash covers the path: keep the path per idempotency key stable.
        write = make_write(
            idem,
            order_key=key,
            method="POST",
            key=f"idem-{idem}",
            body=b"body-%d" % body,
            accepted_at=self.now,
        )
        known = self.model.idem.get(write.idempotency_key)
        try:
            result = self.run(self.queue.enqueue(write))
        except IdempotencyMismatch:
            assert known is not None
            assert (known[1], self.model.key_of[known[0]]) != (body, key)
            return
        if known is not None:
            assert not result.created
            assert result.write_id == known[0]
            return
        assert result.created
        self.model.idem[write.idempotency_key] = (write.id, body)
        self.model.key_of[write.id] = key
        self.model.lines[key].append(write.id)
        self.model.state[write.id] = "queued"

    @rule(consumer=st.sampled_from(["c1", "c2"]), max_keys=st.integers(1, 3))
    def claim(self, consumer: str, max_keys: int) -> None:
        claimable = self.model.claimable(self.now)
        claims = self.run(self.queue.claim(consumer, self.now, LEASE, max_keys))
        assert len(claims) == min(max_keys, len(claimable))
        for c in claims:
            key = c.write.order_key
            assert key in claimable, "claimed a leased or held key"
            assert c.write_id == self.model.lines[key][0], "not FIFO"
            self.model.holder[key] = Holder(c.token, self.now + LEASE)
            self.model.state[c.write_id] = "replaying"
            self.claims.append(c)

    @precondition(lambda self: bool(self.claims))
    @rule(i=st.integers(0, 50), outcome=st.sampled_from(["applied", "retry", "dead", "release"]))
    def outcome(self, i: int, outcome: str) -> None:
        claim = self.claims.pop(i % len(self.claims))
        expected = self.model.holds(claim)
        key = claim.write.order_key
        if outcome == "applied":
            got = self.run(self.queue.mark_applied(claim, 200, b"{}", self.now))
        elif outcome == "dead":
            got = self.run(self.queue.mark_dead(claim, "upstream_400", 400, b"{}", self.now))
        elif outcome == "retry":
            got = self.run(self.queue.mark_retry(claim, self.now + 5, 503, "upstream_503"))
        else:
            got = self.run(self.queue.release(claim, self.now))
        assert got == expected
        if not got:
            return
        if outcome in ("applied", "dead"):
            assert claim.write_id not in self.model.applied, "applied twice"
            self.model.pop_head(key)
            self.model.state[claim.write_id] = outcome
            if outcome == "applied":
                self.model.applied.append(claim.write_id)
        else:
            self.model.holder.pop(key)
            self.model.hold[key] = self.now + 5 if outcome == "retry" else self.now
            self.model.state[claim.write_id] = "queued"

    @precondition(lambda self: bool(self.claims))
    @rule(i=st.integers(0, 50))
    def renew(self, i: int) -> None:
        claim = self.claims[i % len(self.claims)]
        expected = self.model.holds(claim)
        assert self.run(self.queue.renew(claim, self.now, LEASE)) == expected
        if expected:
            self.model.holder[claim.write.order_key].until = self.now + LEASE

    @rule(seconds=st.sampled_from([1.0, 6.0, 31.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule()
    def reclaim(self) -> None:
        report = self._reclaim()
        expected = {
            self.model.lines[k][0]
            for k, h in self.model.holder.items()
            if h.until <= self.now and self.model.state[self.model.lines[k][0]] == "replaying"
        }
        assert set(report.requeued) == expected
        for write_id in expected:
            self.model.state[write_id] = "queued"

    @rule(i=st.integers(0, 50))
    def operator_retry(self, i: int) -> None:
        ids = list(self.model.state)  # insertion order: ids are random
        if not ids:
            return
        write_id = ids[i % len(ids)]
        expected = self.model.state[write_id] == "dead"
        assert self.run(self.queue.retry(write_id, self.now)) == expected
        if expected:
            key = self.model.key_of[write_id]
            if not self.model.lines[key]:
                self.model.hold[key] = 0.0
            self.model.lines[key].append(write_id)
            self.model.state[write_id] = "queued"

    @rule(i=st.integers(0, 50))
    def drop(self, i: int) -> None:
        ids = list(self.model.state)  # insertion order: ids are random
        if not ids:
            return
        write_id = ids[i % len(ids)]
        expected = self.model.state[write_id] in ("dead", "queued")
        assert self.run(self.queue.drop(write_id)) == expected
        if not expected:
            return
        key = self.model.key_of[write_id]
        if write_id in self.model.lines[key]:
            self.model.lines[key].remove(write_id)
            if not self.model.lines[key]:
                # An emptied line forgets its lease and backoff.
                self.model.holder.pop(key, None)
                self.model.hold[key] = 0.0
        del self.model.state[write_id]
        self.model.idem = {k: v for k, v in self.model.idem.items() if v[0] != write_id}

    # ---- invariants -------------------------------------------------------------------------

    @invariant()
    def counts_agree(self) -> None:
        depth = sum(len(line) for line in self.model.lines.values())
        assert self.run(self.queue.depth()) == depth
        dead = sum(1 for s in self.model.state.values() if s == "dead")
        assert self.run(self.queue.dead_count()) == dead

    def _reclaim(self) -> ReclaimReport:
        if isinstance(self.queue, RedisWriteQueue):
            return self.run(self.queue.reclaim(self.now, min_idle_ms=0))
        return self.run(self.queue.reclaim(self.now))

    def _drain_and_check(self) -> None:
        """Let every lease lapse, then apply everything: each write ends applied once or dead."""
        self.clock.advance(LEASE + 10)
        for _ in range(500):
            claims = self.run(self.queue.claim("final", self.now, LEASE, 10))
            if not claims:
                break
            for c in claims:
                assert c.write_id == self.model.lines[c.write.order_key][0]
                assert self.run(self.queue.mark_applied(c, 200, b"{}", self.now))
                self.model.pop_head(c.write.order_key)
                assert c.write_id not in self.model.applied
                self.model.applied.append(c.write_id)
                self.model.state[c.write_id] = "applied"
        assert self.run(self.queue.depth()) == 0
        for write_id, state in self.model.state.items():
            assert state in ("applied", "dead")
            record = self.run(self.queue.get(write_id))
            assert record is not None
            assert record.state == state
        assert len(self.model.applied) == len(set(self.model.applied))


def test_memory_queue_against_the_model() -> None:
    run_state_machine_as_test(
        QueueMachine,
        settings=settings(
            max_examples=150, stateful_step_count=40, deadline=None, derandomize=True
        ),
    )


def test_redis_queue_against_the_model(redis_url: str) -> None:
    class RedisMachine(QueueMachine):
        pass

    RedisMachine.redis_url = redis_url
    run_state_machine_as_test(
        RedisMachine,
        settings=settings(max_examples=40, stateful_step_count=30, deadline=None, derandomize=True),
    )
