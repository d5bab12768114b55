"""The gate's verdict (pure): what counts as a worse journey or invariant, and the journey of
each request."""

from __future__ import annotations

from typing import Any

import pytest

from zproxy.scenarios.compare import compare
from zproxy.scenarios.journeys import failed, journey_stats, label, route_table
from zproxy.scenarios.measure import Outcome
from zproxy.scenarios.settings import shipped_config


def _report(journeys: dict[str, tuple[int, int]], invariants: list[bool]) -> dict[str, Any]:
    stats = {
        name: {"requests": total, "failed": bad, "error_ratio": round(bad / total, 4)}
        for name, (bad, total) in journeys.items()
    }
    return {
        "runs": {"zproxy": {"total": {"success_rate": 1.0}, "journeys": stats}},
        "invariants": [
            {"label": f"inv{i}", "ok": ok, "detail": ""} for i, ok in enumerate(invariants)
        ],
    }


@pytest.mark.parametrize(
    ("current", "new", "worse"),
    [
        ((0, 1000), (0, 1000), False),
        ((0, 1000), (5, 1000), False),  # +0.5 points: inside the tolerance
        ((0, 1000), (6, 1000), True),  # +0.6 points, 6 more requests
        ((0, 40), (2, 40), False),  # +5 points but only 2 requests: timing at a boundary
        ((0, 40), (3, 40), True),
        ((10, 100), (2, 100), False),  # better
    ],
)
def test_a_journey_is_worse_past_the_tolerance_and_the_noise(
    current: tuple[int, int], new: tuple[int, int], worse: bool
) -> None:
    result = compare(_report({"purchase": current}, []), _report({"purchase": new}, []))
    assert result["ok"] is not worse
    assert result["worse"] == (["journey purchase"] if worse else [])


@pytest.mark.parametrize(
    ("current", "new", "worse"),
    [(True, True, False), (True, False, True), (False, False, False), (False, True, False)],
)
def test_only_an_invariant_that_held_and_now_fails_is_worse(
    current: bool, new: bool, worse: bool
) -> None:
    result = compare(_report({}, [current]), _report({}, [new]))
    assert result["invariants"][0]["worse"] is worse
    assert result["ok"] is not worse


def _o(n: int, status: int, *, cache: str | None = None, false: bool = False) -> Outcome:
    return Outcome(
        n=n, t=0.0, kind="k", method="GET", status=status, latency_ms=1.0,
        cache_status=cache, business_failure=false,
    )  # fmt: skip


def test_failed_follows_the_journey_metric_rules() -> None:
    assert failed(_o(0, 503))
    assert failed(_o(0, 500))
    assert failed(_o(0, 0))
    assert failed(_o(0, 200, false=True))
    assert not failed(_o(0, 202))  # queued
    assert not failed(_o(0, 200, cache="zproxy; hit; fwd=stale"))
    assert not failed(_o(0, 404))
    assert not failed(_o(0, 429))


def test_requests_are_labelled_with_their_routes_journey() -> None:
    table = route_table(shipped_config())
    journeys = label(
        {
            0: ("GET", "/v1/accounts/A00000001"),
            1: ("POST", "/v1/payments?scenario_write=w1"),
            2: ("GET", "/v1/not-a-route"),
        },
        table,
    )
    assert journeys == {0: "billing_view", 1: "payment", 2: "other"}
    stats = journey_stats([_o(0, 200), _o(1, 503), _o(2, 200), _o(3, 502)], journeys)
    assert stats["payment"] == {"requests": 1, "failed": 1, "error_ratio": 1.0}
    assert stats["other"] == {"requests": 2, "failed": 1, "error_ratio": 0.5}
    assert stats["billing_view"]["failed"] == 0
