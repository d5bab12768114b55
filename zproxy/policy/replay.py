"""Pure replay decisions: judge one attempt of a queued write, and how long to back off.

No I/O and no clock reads: ``now`` and the random source are arguments. Part of the policy
core beside ``policy.writes`` (the live writes); the queue's replayer executes these.

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
