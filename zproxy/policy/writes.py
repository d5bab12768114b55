"""Pure live-write decisions: forward, queue or refuse a write while Zuora is up or down.

No I/O and no clock reads: ``now`` and the random source are arguments.

Live writes (``decide_write``, ``on_forward_failure``, ``on_upstream_status``), per the issue:
while the write breaker is open (or forced open), when the upstream failed before the request
could have reached it, or when Zuora answered 503 (not processed), a queueable write is stored
and answered 202. An ambiguous failure (or a 502/504 answer) of a queueable POST/PATCH is queued
too (it carries zproxy's Idempotency-Key and Zuora dedupes the replay); an ambiguous PUT/DELETE
failure is 504 (outcome unknown). While writes of the same order key are queued, a new queueable
one joins them instead of overtaking them. A write is queueable when its route says
``on_outage: queue`` (and, with ``queue_requires_prefer``, the client sent
``Prefer: respond-async``) and it carries no card data.

A write is queued only if Zuora could accept it: where zproxy would queue a POST/PUT/PATCH
whose body is not a JSON object (``policy.write_body``), the answer is ``InvalidBody`` (400 at
once) instead of a 202 that would end as a dead letter. While Zuora is up (breaker closed) such
a body is still forwarded, so the client gets Zuora's own answer.

Replay attempts are judged in ``policy.replay``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from zproxy.policy.routes import WritePolicy


@dataclass(frozen=True, slots=True)
class Forward:
    pass


@dataclass(frozen=True, slots=True)
class Queue:
    pass


@dataclass(frozen=True, slots=True)
class Reject:
    """Refuse with 503 ``ZPROXY_UPSTREAM_UNAVAILABLE``; ``reason`` is for logs."""

    reason: Literal["not_queueable", "prefer_required", "card_data"]


@dataclass(frozen=True, slots=True)
class Reject503:
    """The write certainly did not reach Zuora and is not queueable: 503 + Retry-After."""


@dataclass(frozen=True, slots=True)
class Unknown504:
    """The write may or may not have been applied: 504, outcome unknown."""


@dataclass(frozen=True, slots=True)
class InvalidBody:
    """It would be queued, but its body is not the JSON object Zuora needs: 400 at once."""


#: Everything a live write can come to; the edge executes it in one ``match``.
WriteAction = Forward | Queue | Reject | Reject503 | Unknown504 | InvalidBody


def _queueable(policy: WritePolicy | None, prefer_async: bool, card_data: bool) -> Reject | None:
    if card_data:
        return Reject("card_data")
    if policy is None or policy.on_outage != "queue":
        return Reject("not_queueable")
    if policy.queue_requires_prefer and not prefer_async:
        return Reject("prefer_required")
    return None


def decide_write(
    policy: WritePolicy | None,
    *,
    breaker_open: bool,
    prefer_async: bool,
    card_data: bool,
    behind_queued: bool = False,
    body_ok: bool = True,
) -> Forward | Queue | Reject | InvalidBody:
    """Before sending: forward while the breaker lets us, else queue if allowed.

    ``behind_queued``: writes with the same order key are still queued. A queueable write
    then joins them rather than overtake them (Zuora is probably back, so the replayer will
    send it right after them); one that may not be queued is forwarded all the same.
    ``body_ok``: the body is what Zuora accepts (``write_body.body_acceptable``); when it is
    not, a write that would be queued is ``InvalidBody`` (forwarded while the breaker is closed).
    """
    if not breaker_open and not behind_queued:
        return Forward()
    refused = _queueable(policy, prefer_async, card_data)
    if refused is None and body_ok:
        return Queue()
    if not breaker_open:
        return Forward()
    return refused if refused is not None else InvalidBody()


def on_forward_failure(
    policy: WritePolicy | None,
    method: str,
    *,
    error_never_sent: bool,
    prefer_async: bool,
    card_data: bool = False,
    body_ok: bool = True,
) -> Queue | InvalidBody | Reject503 | Unknown504:
    """After a forwarded write failed without an answer from Zuora (``body_ok``: as in
    ``decide_write``; a body Zuora cannot accept is never queued)."""
    queue: Queue | InvalidBody = Queue() if body_ok else InvalidBody()
    queueable = _queueable(policy, prefer_async, card_data) is None
    if error_never_sent:
        return queue if queueable else Reject503()
    if queueable and method.upper() in ("POST", "PATCH"):
        return queue
    return Unknown504()


#: Zuora's own "unavailable" (maintenance, overload) and its rate/concurrency limits (429):
#: the write was not processed, so it may wait in the queue like one never sent.
NOT_PROCESSED_STATUSES = frozenset({429, 503})
#: A gateway between us and Zuora failed: the write may or may not have been processed.
AMBIGUOUS_STATUSES = frozenset({502, 504})


def on_upstream_status(
    policy: WritePolicy | None,
    method: str,
    status: int,
    *,
    prefer_async: bool,
    card_data: bool = False,
    body_ok: bool = True,
) -> Queue | InvalidBody | None:
    """After a forwarded write got an answer: a 503 or 429 is queued like a write never sent, a
    502/504 like an ambiguous failure (POST/PATCH only, their replays are deduped by key), an
    invalid body that would be queued is ``InvalidBody``; ``None``: pass Zuora's answer
    through."""
    if status in NOT_PROCESSED_STATUSES:
        never_sent = True
    elif status in AMBIGUOUS_STATUSES:
        never_sent = False
    else:
        return None
    after = on_forward_failure(
        policy,
        method,
        error_never_sent=never_sent,
        prefer_async=prefer_async,
        card_data=card_data,
        body_ok=body_ok,
    )
    return after if isinstance(after, Queue | InvalidBody) else None
