"""classify_outcome, parse_retry_after and SlidingCounts: pure functions, table-driven."""

from __future__ import annotations

import asyncio
import email.utils

import pytest

from zproxy.errors import (
    UpstreamBodyTooLarge,
    UpstreamConnectError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from zproxy.policy.outcomes import Outcome, SlidingCounts, classify_outcome, is_rate_limited
from zproxy.policy.retry_after import MAX_RETRY_AFTER, parse_retry_after

S, F, N = Outcome.SUCCESS, Outcome.OUTAGE_FAILURE, Outcome.NOT_COUNTED


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (200, None, S),
        (201, None, S),
        (304, None, S),
        (400, None, N),  # includes Zuora's lock competition / TEMPORARY_ERROR bodies
        (401, None, N),
        (404, None, N),
        (409, None, N),
        (422, None, N),
        (429, None, N),  # Zuora's own limits: the cooldown handles them, not the breaker
        (500, None, F),
        (502, None, F),
        (503, None, F),
        (504, None, F),
        (None, None, N),
        (None, UpstreamConnectError("refused"), F),
        (None, UpstreamTimeout("slow"), F),
        (None, UpstreamProtocolError("reset"), F),
        (None, ConnectionResetError(), F),
        (None, TimeoutError(), F),
        (None, OSError("unreachable"), F),
        (None, UpstreamBodyTooLarge("big"), N),  # our limit, not Zuora's health
        (None, asyncio.CancelledError(), N),
        (None, ValueError("bug"), N),
        (200, UpstreamTimeout("error wins"), F),
    ],
)
def test_classify_outcome(
    status: int | None, error: BaseException | None, expected: Outcome
) -> None:
    assert classify_outcome(status, error) is expected


def test_is_rate_limited() -> None:
    assert is_rate_limited(429)
    assert not is_rate_limited(503)
    assert not is_rate_limited(None)


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("2", 2.0),
        (" 120 ", 120.0),
        ("99999999", MAX_RETRY_AFTER),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),  # in the past
        ("Tue, 14 Nov 2023 22:13:50 -0000", 30.0),
        ("Tuesday, 14-Nov-23 22:13:50 GMT", 30.0),  # RFC 850
        ("Tue Nov 14 22:13:50 2023", 30.0),  # asctime
        ("", None),
        ("-1", None),
        ("1.5", None),
        ("soon", None),
        ("Tue, 99 Nov 2023 22:13:50 GMT", None),
        ("\u0662", None),  # a non-ASCII digit
    ],
)
def test_parse_retry_after(value: str, expected: float | None) -> None:
    assert email.utils.formatdate(NOW, usegmt=True) == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert parse_retry_after(value, NOW) == expected


def test_sliding_counts_forgets_old_buckets() -> None:
    counts = SlidingCounts(window=10.0, buckets=10)
    counts.add(100.0, hit=True)
    counts.add(100.5, hit=False)
    counts.add(105.0, hit=True)
    assert counts.counts(105.0) == (3, 2)
    assert counts.counts(109.9) == (3, 2)
    assert counts.counts(110.0) == (1, 1)  # the bucket of t=100 left the window
    assert counts.counts(115.0) == (0, 0)
    counts.add(200.0, hit=False)  # far jump: everything earlier is gone
    assert counts.counts(200.0) == (1, 0)
    counts.clear()
    assert counts.counts(200.0) == (0, 0)


def test_sliding_counts_ignores_a_clock_step_back() -> None:
    counts = SlidingCounts(window=10.0, buckets=10)
    counts.add(100.0, hit=True)
    counts.add(99.0, hit=True)
    assert counts.counts(100.0) == (2, 2)
