"""zproxy.policy.writes: live-write decisions and replay classification, as tables."""

from __future__ import annotations

import random

import pytest

from zproxy.policy.replay import (
    AUTH_RETRIES,
    Applied,
    Backoff,
    Dead,
    ReplayResult,
    Retry,
    check_age,
    classify_replay,
    parse_retry_after,
)
from zproxy.policy.routes import WritePolicy
from zproxy.policy.writes import (
    Forward,
    Queue,
    Reject,
    Reject503,
    Unknown504,
    decide_write,
    on_forward_failure,
)

QUEUE = WritePolicy(on_outage="queue")
QUEUE_PREFER = WritePolicy(on_outage="queue", queue_requires_prefer=True)
REJECT = WritePolicy(on_outage="reject")
NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("policy", "breaker_open", "prefer", "card", "expected"),
    [
        (QUEUE, False, False, False, Forward()),
        (REJECT, False, False, False, Forward()),
        (QUEUE, True, False, False, Queue()),
        (QUEUE_PREFER, True, True, False, Queue()),
        (QUEUE_PREFER, True, False, False, Reject("prefer_required")),
        (REJECT, True, True, False, Reject("not_queueable")),
        (None, True, True, False, Reject("not_queueable")),
        (QUEUE, True, True, True, Reject("card_data")),
    ],
)
def test_decide_write(
    policy: WritePolicy | None, breaker_open: bool, prefer: bool, card: bool, expected: object
) -> None:
    got = decide_write(policy, breaker_open=breaker_open, prefer_async=prefer, card_data=card)
    assert got == expected


@pytest.mark.parametrize(
    ("policy", "method", "never_sent", "prefer", "card", "expected"),
    [
        (QUEUE, "PUT", True, False, False, Queue()),
        (QUEUE, "POST", False, False, False, Queue()),
        (QUEUE, "PATCH", False, False, False, Queue()),
        (QUEUE, "PUT", False, False, False, Unknown504()),
        (QUEUE, "DELETE", False, False, False, Unknown504()),
        (REJECT, "PUT", True, False, False, Reject503()),
        (REJECT, "POST", False, False, False, Unknown504()),
        (QUEUE_PREFER, "POST", True, False, False, Reject503()),
        (QUEUE_PREFER, "POST", True, True, False, Queue()),
        (QUEUE, "POST", True, False, True, Reject503()),
        (QUEUE, "POST", False, False, True, Unknown504()),
    ],
)
def test_on_forward_failure(
    policy: WritePolicy,
    method: str,
    never_sent: bool,
    prefer: bool,
    card: bool,
    expected: object,
) -> None:
    got = on_forward_failure(
        policy, method, error_never_sent=never_sent, prefer_async=prefer, card_data=card
    )
    assert got == expected


def classify(result: ReplayResult, attempt: int = 1) -> Applied | Retry | Dead:
    return classify_replay(
        result, attempt=attempt, now=NOW, rng=random.Random(1), backoff=Backoff()
    )


@pytest.mark.parametrize(
    ("result", "kind", "reason"),
    [
        (ReplayResult(200, b'{"success": true}'), Applied, None),
        (ReplayResult(201, b""), Applied, None),
        (ReplayResult(200, b"[1, 2]"), Applied, None),
        (ReplayResult(200, b'{"Success": true, "Id": "x"}'), Applied, None),
        (
            ReplayResult(200, b'{"success": false, "reasons": [{"code": 53100320}]}'),
            Dead,
            "upstream_success_false",
        ),
        (
            ReplayResult(200, b'{"Success": false, "Errors": [{"Code": "INVALID_VALUE"}]}'),
            Dead,
            "upstream_success_false",
        ),
        (
            ReplayResult(200, b'{"success": false, "reasons": [{"code": 58730050}]}'),
            Retry,
            "upstream_200_retryable",
        ),
        (
            ReplayResult(400, b'{"Success": false, "Errors": [{"Code": "LOCK_COMPETITION"}]}'),
            Retry,
            "upstream_400_retryable",
        ),
        (
            ReplayResult(200, b'{"success": false, "reasons": [{"code": "TEMPORARY_ERROR"}]}'),
            Retry,
            "upstream_200_retryable",
        ),
        (ReplayResult(500), Retry, "upstream_500"),
        (ReplayResult(503), Retry, "upstream_503"),
        (ReplayResult(409), Retry, "upstream_409"),
        (ReplayResult(429), Retry, "upstream_429"),
        (ReplayResult(error="connect"), Retry, "connect"),
        (ReplayResult(error="timeout"), Retry, "timeout"),
        (ReplayResult(error="reset"), Retry, "reset"),
        (ReplayResult(error="breaker_open"), Retry, "breaker_open"),
        (ReplayResult(400, b'{"success": false}'), Dead, "upstream_400"),
        (
            ReplayResult(401, b'{"message": "Authentication error"}'),
            Retry,
            "upstream_401_awaiting_token",
        ),
        (ReplayResult(404), Dead, "upstream_404"),
        (ReplayResult(422), Dead, "upstream_422"),
    ],
)
def test_classify_replay(result: ReplayResult, kind: type, reason: str | None) -> None:
    outcome = classify(result)
    assert isinstance(outcome, kind)
    if reason is not None:
        assert outcome.reason == reason  # type: ignore[union-attr]


def test_dead_keeps_status_and_body() -> None:
    body = b'{"success": false, "reasons": [{"code": 1}]}'
    assert classify(ReplayResult(400, body)) == Dead("upstream_400", 400, body)


@pytest.mark.parametrize("retry_after", ["30", "Tue, 14 Nov 2023 22:13:50 GMT"])
def test_429_waits_at_least_retry_after(retry_after: str) -> None:
    # NOW is 2023-11-14 22:13:20 UTC: both forms mean 30 s.
    outcome = classify(ReplayResult(429, b"", (("Retry-After", retry_after),)))
    assert isinstance(outcome, Retry)
    assert 30 <= outcome.delay <= 31


def test_backoff_grows_and_is_capped() -> None:
    backoff = Backoff(base=1.0, cap=60.0)
    rng = random.Random(3)
    for attempt in range(1, 30):
        ceiling = min(60.0, 2.0 ** (attempt - 1))
        delays = [backoff.delay(attempt, rng) for _ in range(50)]
        assert all(0 <= d <= ceiling for d in delays)
    assert max(backoff.delay(20, rng) for _ in range(200)) > 30  # full range is used


def test_retry_after_is_capped() -> None:
    backoff = Backoff(base=1.0, retry_after_cap=100.0)
    assert backoff.delay(1, random.Random(1), 10_000.0) <= 101.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12", 12.0), (None, None), ("soon", None), ("Tue, 14 Nov 2023 22:13:10 GMT", 0.0)],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_age_limit() -> None:
    assert check_age(NOW - 71_999, NOW) is None
    assert check_age(NOW - 72_001, NOW) == Dead("expired_idempotency_window")
    assert check_age(NOW - 11, NOW, max_age=10) == Dead("expired_idempotency_window")


def test_a_401_waits_for_a_fresh_token_then_dead_letters() -> None:
    expired = ReplayResult(401, b'{"message": "Authentication error"}')
    assert isinstance(classify(expired, attempt=AUTH_RETRIES), Retry)
    outcome = classify(expired, attempt=AUTH_RETRIES + 1)
    assert isinstance(outcome, Dead)
    assert outcome.reason == "upstream_401"
