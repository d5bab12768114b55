"""cache_status renders RFC 9211 values exactly as CONTRACT §2 spells them."""

from __future__ import annotations

import pytest

from zproxy.policy.reads import (
    Bypass,
    CacheOutcome,
    Fetch,
    PassThroughError,
    ServeFresh,
    ServeStaleAndRevalidate,
    ServeStaleIfError,
    Unavailable,
    age_header,
    cache_status,
)


@pytest.mark.parametrize(
    ("outcome", "kw", "expected"),
    [
        (ServeFresh(18.2, 41.8), {}, "zproxy; hit; ttl=41"),
        (ServeFresh(18, 42), {"ttl_left": 42.0}, "zproxy; hit; ttl=42"),
        (Fetch(True, "miss"), {"stored": True, "fwd_status": 200}, "zproxy; fwd=miss; stored"),
        (Fetch(True, "miss"), {}, "zproxy; fwd=miss"),
        (ServeStaleAndRevalidate(70), {}, "zproxy; hit; fwd=stale; detail=revalidating"),
        (ServeStaleIfError(400), {}, "zproxy; hit; detail=stale-if-error"),
        (Bypass(), {}, "zproxy; fwd=bypass"),
        (
            Fetch(True, "stale"),
            {"stored": True, "fwd_status": 200},
            "zproxy; fwd=stale; fwd-status=200; stored",
        ),
        (Fetch(True, "request"), {"fwd_status": 404}, "zproxy; fwd=request; fwd-status=404"),
        (Unavailable(30), {}, "zproxy; detail=upstream-unavailable"),
        (PassThroughError(), {}, "zproxy; detail=upstream-error"),
        (
            ServeFresh(1, 9),
            {"details": ["pending-writes"]},
            "zproxy; hit; ttl=9; detail=pending-writes",
        ),
        (
            ServeStaleIfError(1),
            {"details": ["pending-writes"]},
            'zproxy; hit; detail="stale-if-error pending-writes"',
        ),
    ],
)
def test_cache_status(outcome: CacheOutcome, kw: dict[str, object], expected: str) -> None:
    assert cache_status(outcome, **kw) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("age", "expected"), [(0.0, "0"), (41.9, "41"), (3600.2, "3600")])
def test_age_header(age: float, expected: str) -> None:
    assert age_header(age) == expected
