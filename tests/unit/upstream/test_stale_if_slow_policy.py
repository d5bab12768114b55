"""Stale-if-slow in the pure read policy: which fetches may be answered by the stale entry
after ``stale_if_slow`` seconds, whether it still may at the deadline, and its Cache-Status."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from zproxy.policy import reads as rp
from zproxy.policy.routes import ReadPolicy

POLICY = ReadPolicy(fresh=60, stale_while_revalidate=30, stale_if_error=300)
NOW = 1_000_000.0


@dataclass(frozen=True)
class Entry:
    stored_at: float
    invalidated: bool = False


def decide(age: float, *, slow: float = 2.0, **kw: bool) -> rp.ReadAction:
    return rp.decide_read(
        entry=Entry(NOW - age, kw.pop("invalidated", False)),
        now=NOW,
        policy=POLICY,
        upstream_open=kw.pop("upstream_open", False),
        has_identity=True,
        request_no_cache=kw.pop("no_cache", False),
        stale_if_slow=slow,
    )


@pytest.mark.parametrize(
    ("age", "slow", "kw", "expected"),
    [
        (100, 2.0, {}, rp.Fetch(True, "stale", 2.0)),  # stale, inside stale-if-error
        (360, 2.0, {}, rp.Fetch(True, "stale", 2.0)),  # the window's last second
        (361, 2.0, {}, rp.Fetch(True, "stale")),  # beyond it: wait for Zuora
        (100, 0.0, {}, rp.Fetch(True, "stale")),  # switched off
        (100, 2.0, {"no_cache": True}, rp.Fetch(True, "request")),  # the client asked for news
        # a write changed it: fetched, but a hanging Zuora would end in this entry anyway
        (30, 2.0, {"invalidated": True}, rp.Fetch(True, "stale", 2.0)),
        (400, 2.0, {"invalidated": True}, rp.Fetch(True, "stale")),  # beyond its SIE window
        (10, 2.0, {}, rp.ServeFresh(10, 50)),
        (70, 2.0, {}, rp.ServeStaleAndRevalidate(70)),
        (100, 2.0, {"upstream_open": True}, rp.ServeStaleIfError(100)),
    ],
)
def test_which_fetches_may_be_answered_stale_when_slow(
    age: float, slow: float, kw: dict[str, bool], expected: rp.ReadAction
) -> None:
    assert decide(age, slow=slow, **kw) == expected


def test_a_miss_has_nothing_to_stand_in() -> None:
    action = rp.decide_read(
        entry=None,
        now=NOW,
        policy=POLICY,
        upstream_open=False,
        has_identity=True,
        request_no_cache=False,
        stale_if_slow=2.0,
    )
    assert action == rp.Fetch(True, "miss")


@pytest.mark.parametrize(
    ("age", "expected"),
    [(100.0, rp.ServeStaleIfSlow(100.0)), (360.0, rp.ServeStaleIfSlow(360.0)), (360.5, None)],
)
def test_at_the_deadline_the_entry_stands_in_only_inside_its_window(
    age: float, expected: rp.ServeStaleIfSlow | None
) -> None:
    assert rp.on_fetch_slow(entry=Entry(NOW - age), now=NOW, policy=POLICY) == expected
    assert rp.on_fetch_slow(entry=None, now=NOW, policy=POLICY) is None


def test_cache_status_says_stale_if_slow() -> None:
    assert rp.cache_status(rp.ServeStaleIfSlow(12.0)) == (
        "zproxy; hit; fwd=stale; detail=stale-if-slow"
    )
    assert rp.cache_status(rp.ServeStaleIfSlow(12.0), details=["pending-writes"]) == (
        'zproxy; hit; fwd=stale; detail="stale-if-slow pending-writes"'
    )
