"""A read the concurrency cap refused (``shed``) is answered by its stale entry inside the
stale-if-error window, as for a breaker refusal, and says so: ``detail=shed``."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zproxy.policy.reads import (
    PassThroughError,
    ServeStaleIfError,
    ServeStaleShed,
    cache_status,
    on_fetch_failure,
)
from zproxy.policy.routes import ReadPolicy

NOW = 1_700_000_000.0
POLICY = ReadPolicy(fresh=60, stale_while_revalidate=30, stale_if_error=300)


@dataclass(frozen=True)
class Entry:
    stored_at: float
    invalidated: bool = False


@pytest.mark.parametrize(
    ("age", "shed", "expected"),
    [
        (None, True, PassThroughError()),  # nothing stored: the refusal is the answer
        (10, True, ServeStaleShed(10)),
        (200, True, ServeStaleShed(200)),
        (360, True, ServeStaleShed(360)),  # fresh + sie, inclusive
        (361, True, PassThroughError()),  # beyond stale-if-error: never served
        (200, False, ServeStaleIfError(200)),  # a Zuora failure keeps its own detail
    ],
)
def test_shed_table(age: float | None, shed: bool, expected: object) -> None:
    entry = None if age is None else Entry(NOW - age)
    assert on_fetch_failure(entry=entry, now=NOW, policy=POLICY, shed=shed) == expected


def test_an_invalidated_entry_may_still_stand_in_when_shed() -> None:
    entry = Entry(NOW - 100, invalidated=True)
    assert on_fetch_failure(entry=entry, now=NOW, policy=POLICY, shed=True) == ServeStaleShed(100)


@given(st.floats(0, 1000), st.floats(0, 1000), st.floats(-10, 3000))
def test_shed_never_serves_past_fresh_plus_sie(fresh: float, sie: float, age: float) -> None:
    policy = ReadPolicy(fresh=fresh, stale_if_error=sie)
    outcome = on_fetch_failure(entry=Entry(NOW - age), now=NOW, policy=policy, shed=True)
    assert not isinstance(outcome, ServeStaleIfError)
    if isinstance(outcome, ServeStaleShed):
        assert outcome.age <= fresh + sie


def test_cache_status_says_shed() -> None:
    assert cache_status(ServeStaleShed(12)) == "zproxy; hit; detail=shed"
    assert cache_status(ServeStaleShed(12), details=["pending-writes"]) == (
        'zproxy; hit; detail="shed pending-writes"'
    )
