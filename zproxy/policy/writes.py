"""Pure write decisions: forward, queue or refuse a live write; judge one replay attempt.

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

Replay attempts (``check_age``, ``classify_replay``): 2xx with ``success`` not false is applied;
5xx, 408, 409 (idempotent request in flight), 429 (honouring Retry-After), lock competition,
temporary errors and transport failures are retried with capped exponential backoff and full
jitter; anything else is dead-lettered with the upstream status and body. A write older than
``max_age`` (20 h, inside Zuora's 24 h idempotency window) is dead-lettered before sending.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import orjson

from zproxy.policy import retry_after
from zproxy.policy.routes import WritePolicy

DEFAULT_MAX_AGE = 72_000.0
EXPIRED_REASON = "expired_idempotency_window"
ErrorKind = Literal["connect", "timeout", "reset", "breaker_open"]

#: Zuora error codes that mean "try again later" (lock competition, temporary, rate limits).
RETRYABLE_CODES = frozenset(
    {
        "58730050",
        "LOCK_COMPETITION",
        "TEMPORARY_ERROR",
        "REQUEST_EXCEEDED_LIMIT",
        "REQUEST_EXCEEDED_RATE",
    }
)
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})


class Uniform(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


# ---- live writes -------------------------------------------------------------------------


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


# ---- replay attempts -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What one replay attempt got: an HTTP answer, or a transport error kind."""

    status: int | None = None
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    error: ErrorKind | None = None

    @property
    def retry_after(self) -> str | None:
        for name, value in self.headers:
            if name.lower() == "retry-after":
                return value
        return None


@dataclass(frozen=True, slots=True)
class Applied:
    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Retry:
    delay: float
    reason: str
    status: int | None = None


@dataclass(frozen=True, slots=True)
class Dead:
    reason: str
    status: int | None = None
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: ``uniform(0, min(cap, base * 2**(attempt-1)))``.

    A Retry-After (capped at ``retry_after_cap``) is a floor, plus up to ``base`` of jitter so
    a crowd of held keys does not come back in one burst.
    """

    base: float = 1.0
    cap: float = 300.0
    retry_after_cap: float = 3600.0

    def delay(self, attempt: int, rng: Uniform, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.retry_after_cap) + rng.uniform(0.0, self.base)
        ceiling = min(self.cap, self.base * 2.0 ** max(0, min(attempt - 1, 30)))
        return rng.uniform(0.0, ceiling)


def check_age(age_origin: float, now: float, max_age: float = DEFAULT_MAX_AGE) -> Dead | None:
    """Before sending: a write past the age limit is never replayed automatically."""
    if now - age_origin > max_age:
        return Dead(EXPIRED_REASON)
    return None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), if any."""
    return None if value is None else retry_after.parse_retry_after(value, now)


def _error_codes(body: bytes) -> tuple[bool | None, set[str], str]:
    """(success flag, error codes, lowercased messages) from the Zuora body families."""
    try:
        doc = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None, set(), ""
    if not isinstance(doc, dict):
        return None, set(), ""
    success = doc.get("success", doc.get("Success"))
    codes: set[str] = set()
    messages: list[str] = []
    for key in ("code", "Code", "FaultCode"):
        if key in doc:
            codes.add(str(doc[key]))
    for list_key, code_key, msg_key in (
        ("reasons", "code", "message"),
        ("Errors", "Code", "Message"),
    ):
        items = doc.get(list_key)
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict):
                codes.add(str(item.get(code_key)))
                messages.append(str(item.get(msg_key, "")))
    for key in ("message", "FaultMessage"):
        messages.append(str(doc.get(key, "")))
    return (success if isinstance(success, bool) else None), codes, " ".join(messages).lower()


#: Replays answered 401 wait this many times for a fresh token before dead-lettering.
AUTH_RETRIES = 8


def classify_replay(
    result: ReplayResult, *, attempt: int, now: float, rng: Uniform, backoff: Backoff
) -> Applied | Retry | Dead:
    """Judge one attempt (``attempt`` counts from 1)."""
    if result.error is not None or result.status is None:
        kind = result.error or "reset"
        return Retry(backoff.delay(attempt, rng), kind)
    status = result.status
    if status == 429:
        wait = parse_retry_after(result.retry_after, now)
        return Retry(backoff.delay(attempt, rng, wait), "upstream_429", status)
    if status >= 500 or status in RETRYABLE_STATUSES:
        return Retry(backoff.delay(attempt, rng), f"upstream_{status}", status)
    success, codes, messages = _error_codes(result.body)
    if codes & RETRYABLE_CODES or "lock competition" in messages:
        return Retry(backoff.delay(attempt, rng), f"upstream_{status}_retryable", status)
    if 200 <= status < 300 and success is not False:
        return Applied(status, result.body)
    if 200 <= status < 300:
        return Dead("upstream_success_false", status, result.body)
    if status == 401 and attempt <= AUTH_RETRIES:
        # The token the write was queued with expired during the outage (Zuora tokens last
        # an hour); the client fetches a new one through zproxy once Zuora is back, and the
        # replay then uses it. Wait for that a few times before giving up.
        return Retry(backoff.delay(attempt, rng), "upstream_401_awaiting_token", status)
    return Dead(f"upstream_{status}", status, result.body)
