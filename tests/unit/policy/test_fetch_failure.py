"""on_fetch_failure: after Zuora failed, serve stale inside stale-if-error, else pass the error."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zproxy.policy.reads import PassThroughError, ServeStaleIfError, on_fetch_failure
from zproxy.policy.routes import ReadPolicy

NOW = 1_700_000_000.0
POLICY = ReadPolicy(fresh=60, stale_while_revalidate=30, stale_if_error=300)


@dataclass(frozen=True)
class Entry:
    stored_at: float
    invalidated: bool = False


@pytest.mark.parametrize(
    ("age", "policy", "expected"),
    [
        (None, POLICY, PassThroughError()),
        (0, POLICY, ServeStaleIfError(0)),
        (120, POLICY, ServeStaleIfError(120)),
        (360, POLICY, ServeStaleIfError(360)),
        (361, POLICY, PassThroughError()),
        # swr is not an error window: a failed fetch past fresh + sie passes the error on
        (61, ReadPolicy(fresh=60, stale_while_revalidate=300), PassThroughError()),
    ],
)
def test_failure_table(age: float | None, policy: ReadPolicy, expected: object) -> None:
    entry = None if age is None else Entry(NOW - age)
    assert on_fetch_failure(entry=entry, now=NOW, policy=policy) == expected


@given(st.floats(0, 1000), st.floats(0, 1000), st.floats(-10, 3000))
def test_never_serves_past_fresh_plus_sie(fresh: float, sie: float, age: float) -> None:
    policy = ReadPolicy(fresh=fresh, stale_if_error=sie)
    outcome = on_fetch_failure(entry=Entry(NOW - age), now=NOW, policy=policy)
    age = NOW - (NOW - age)  # the age the policy sees, float rounding included
    if isinstance(outcome, ServeStaleIfError):
        assert outcome.age <= fresh + sie
    else:
        assert age > fresh + sie
