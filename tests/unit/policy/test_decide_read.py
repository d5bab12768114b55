"""decide_read: which action a cacheable read gets (a table, then invariants)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zproxy.policy.reads import (
    Bypass,
    Fetch,
    ReadAction,
    ServeFresh,
    ServeStaleAndRevalidate,
    ServeStaleIfError,
    Unavailable,
    decide_read,
)
from zproxy.policy.routes import ReadPolicy

NOW = 1_700_000_000.0
# fresh 60 s; stale-while-revalidate until 90 s; stale-if-error until 360 s
POLICY = ReadPolicy(fresh=60, stale_while_revalidate=30, stale_if_error=300)


@dataclass(frozen=True)
class Entry:
    stored_at: float
    invalidated: bool = False


def decide(
    age: float | None,
    *,
    open_: bool = False,
    identity: bool = True,
    no_cache: bool = False,
    no_store: bool = False,
    policy: ReadPolicy = POLICY,
) -> ReadAction:
    return decide_read(
        entry=None if age is None else Entry(NOW - age),
        now=NOW,
        policy=policy,
        upstream_open=open_,
        has_identity=identity,
        request_no_cache=no_cache,
        request_no_store=no_store,
        retry_after=17.0,
    )


@pytest.mark.parametrize(
    ("age", "open_", "expected"),
    [
        # upstream closed (healthy)
        (None, False, Fetch(store=True, reason="miss")),
        (0, False, ServeFresh(0, 60)),
        (60, False, ServeFresh(60, 0)),
        (61, False, ServeStaleAndRevalidate(61)),
        (90, False, ServeStaleAndRevalidate(90)),
        (91, False, Fetch(store=True, reason="stale")),
        (400, False, Fetch(store=True, reason="stale")),
        # breaker open
        (None, True, Unavailable(17.0)),
        (10, True, ServeFresh(10, 50)),
        (61, True, ServeStaleIfError(61)),
        (360, True, ServeStaleIfError(360)),
        (361, True, Unavailable(17.0)),
    ],
)
def test_decision_table(age: float | None, open_: bool, expected: ReadAction) -> None:
    assert decide(age, open_=open_) == expected


@pytest.mark.parametrize(
    ("age", "open_", "expected"),
    [
        # a write or callout changed it: fetched again while Zuora answers ...
        (0, False, Fetch(store=True, reason="stale")),
        (61, False, Fetch(store=True, reason="stale")),
        # ... and still served stale-if-error while Zuora is down
        (0, True, ServeStaleIfError(0)),
        (360, True, ServeStaleIfError(360)),
        (361, True, Unavailable(17.0)),
    ],
)
def test_soft_purged_entries(age: float, open_: bool, expected: ReadAction) -> None:
    action = decide_read(
        entry=Entry(NOW - age, invalidated=True),
        now=NOW,
        policy=POLICY,
        upstream_open=open_,
        has_identity=True,
        request_no_cache=False,
        retry_after=17.0,
    )
    assert action == expected


def test_without_identity_everything_bypasses() -> None:
    assert decide(None, identity=False) == Bypass()
    assert decide(0, identity=False) == Bypass()
    assert decide(100, open_=True, identity=False) == Bypass()


@pytest.mark.parametrize(
    ("age", "open_", "expected"),
    [
        (0, False, Fetch(store=True, reason="request")),
        (None, False, Fetch(store=True, reason="miss")),
        (0, True, ServeStaleIfError(0)),  # Zuora down: stale beats an error (RFC 5861)
        (361, True, Unavailable(17.0)),
    ],
)
def test_client_no_cache(age: float | None, open_: bool, expected: ReadAction) -> None:
    assert decide(age, open_=open_, no_cache=True) == expected


def test_client_no_store_fetches_without_storing() -> None:
    assert decide(None, no_store=True) == Fetch(store=False, reason="miss")
    assert decide(400, no_store=True) == Fetch(store=False, reason="stale")


def test_breaker_open_serves_the_wider_stale_window() -> None:
    swr_wider = ReadPolicy(fresh=10, stale_while_revalidate=100, stale_if_error=20)
    assert decide(25, open_=True, policy=swr_wider) == ServeStaleIfError(25)
    assert decide(50, open_=True, policy=swr_wider) == ServeStaleAndRevalidate(50)
    assert decide(111, open_=True, policy=swr_wider) == Unavailable(17.0)


def test_an_entry_from_a_clock_ahead_counts_as_age_zero() -> None:
    assert decide(-5) == ServeFresh(0, 60)


policies = st.builds(
    ReadPolicy,
    fresh=st.floats(0, 1000),
    stale_while_revalidate=st.floats(0, 1000),
    stale_if_error=st.floats(0, 1000),
)
ages = st.one_of(st.none(), st.floats(-10, 5000))
SERVED = (ServeFresh, ServeStaleAndRevalidate, ServeStaleIfError)


@given(policies, ages, st.booleans(), st.booleans(), st.booleans(), st.booleans())
def test_invariants(
    policy: ReadPolicy, age: float | None, open_: bool, identity: bool, nc: bool, ns: bool
) -> None:
    action = decide(age, open_=open_, identity=identity, no_cache=nc, no_store=ns, policy=policy)
    if age is not None:
        age = NOW - (NOW - age)  # the age the policy sees, float rounding included
    if isinstance(action, SERVED):
        assert age is not None
        # never serve beyond fresh + max(stale windows), never without identity
        assert max(age, 0) <= policy.ttl
        assert identity
    if not identity:
        assert action == Bypass()
    if isinstance(action, ServeStaleIfError):
        assert open_  # only when Zuora is unavailable (fetch failures: on_fetch_failure)
    if isinstance(action, Unavailable):
        assert open_
    if isinstance(action, Fetch):
        assert not open_  # an open breaker is never called through
    if identity and not nc and age is not None and max(age, 0) <= policy.fresh:
        assert isinstance(action, ServeFresh)  # fresh: served without contacting Zuora
