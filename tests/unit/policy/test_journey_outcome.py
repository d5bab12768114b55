"""``policy.journeys.journey_outcome``: what a customer got, per answer."""

from __future__ import annotations

import pytest

from zproxy.policy.journeys import journey_outcome


@pytest.mark.parametrize(
    ("status", "cache", "queued", "success_false", "outcome"),
    [
        (200, None, False, False, "good"),
        (200, "zproxy; hit; ttl=42", False, False, "good"),
        (200, "zproxy; fwd=miss; stored", False, False, "good"),
        (404, None, False, False, "good"),  # Zuora's truthful answer, not zproxy failing
        (200, "zproxy; hit; fwd=stale; detail=revalidating", False, False, "stale"),
        (200, "zproxy; hit; detail=stale-if-error", False, False, "stale"),
        (200, "zproxy; hit; fwd=stale; detail=stale-if-slow", False, False, "stale"),
        (200, "zproxy; hit; detail=shed", False, False, "stale"),
        (202, None, True, False, "queued"),
        (202, None, False, False, "good"),  # Zuora's own 202
        (503, None, False, False, "failed"),
        (504, "zproxy; detail=upstream-unavailable", False, False, "failed"),
        (500, None, False, False, "failed"),
        (200, None, False, True, "failed"),  # success: false on a write
    ],
)
def test_outcome(
    status: int, cache: str | None, queued: bool, success_false: bool, outcome: str
) -> None:
    assert journey_outcome(status, cache, queued=queued, success_false=success_false) == outcome
