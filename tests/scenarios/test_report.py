"""Report assembly and invariants on synthetic runs, and the rendered table and page."""

from __future__ import annotations

import re
from typing import Any

import pytest

from zproxy.scenarios.measure import Outcome
from zproxy.scenarios.model import Invariant, PhaseSpec, Scenario, Traffic
from zproxy.scenarios.report import RunData, build_report, improvement
from zproxy.scenarios.report_html import render_html
from zproxy.scenarios.report_text import render_text


def scenario(*invariants: Invariant) -> Scenario:
    return Scenario(
        name="synthetic",
        description="Two phases. A <b>test</b> & more.",
        traffic=Traffic(rate=2, mix={"get_account": 1}),
        phases=(
            PhaseSpec("steady", 2),
            PhaseSpec("outage", 2, ({"mode": "down"},)),
        ),
        invariants=invariants,
    )


def o(n: int, t: float, status: int, **kw: Any) -> Outcome:
    return Outcome(n=n, t=t, kind="k", method="GET", status=status, latency_ms=10.0 * (n + 1), **kw)


def runs(
    zp_ledger: list[str] | None = None, depth: list[tuple[float, float]] | None = None
) -> dict[str, RunData]:
    zp = [
        o(0, 0.0, 200, cache_status="zproxy; hit; ttl=5"),
        o(1, 1.0, 200),
        o(2, 2.0, 202, marker="w2", account="A", acked_at=2.1, write_id="x"),
        o(3, 3.0, 200, cache_status="zproxy; hit; detail=stale-if-error"),
    ]
    base = [
        o(0, 0.0, 200),
        o(1, 1.0, 200),
        o(2, 2.0, 503, marker="w2", account="A"),
        o(3, 3.0, 503),
    ]
    return {
        "zproxy": RunData(
            zp,
            ["w2"] if zp_ledger is None else zp_ledger,
            {"w2": "applied"},
            depth if depth is not None else [(1.0, 0), (2.5, 1), (4.5, 0)],
        ),
        "baseline": RunData(base, [], through_proxy=False),
    }


def test_per_phase_numbers_for_both_runs() -> None:
    report = build_report(scenario(), runs())
    zp, base = report["runs"]["zproxy"], report["runs"]["baseline"]
    assert [p["success_rate"] for p in zp["phases"]] == [1.0, 1.0]
    assert [p["success_rate"] for p in base["phases"]] == [1.0, 0.0]
    assert zp["phases"][1]["cache"] == {"stale_if_error": 1}
    assert zp["phases"][1]["writes"]["queued"] == 1
    assert zp["phases"][1]["writes"]["applied"] == 1
    assert base["phases"][1]["writes"]["refused"] == 1
    assert zp["drain_seconds"] == 0.5  # recovery at 4 s, first empty sample at 4.5 s
    assert base["drain_seconds"] is None
    assert report["scenario"]["phases"][1]["faulted"] is True
    assert report["ok"] is True  # no invariants declared


@pytest.mark.parametrize(
    ("invariant", "zp_ledger", "ok", "detail"),
    [
        (Invariant("no_lost_writes"), ["w2"], True, "0 acknowledged"),
        (Invariant("no_lost_writes"), [], False, "1 acknowledged writes never applied: w2"),
        (Invariant("no_duplicate_writes"), ["w2", "w2"], False, "1 writes applied more"),
        (Invariant("max_drain_seconds", value=0.5), None, True, "drained in 0.5 s"),
        (Invariant("max_drain_seconds", value=0.4), None, False, "drained in 0.5 s"),
        (Invariant("min_success_rate", "outage", 1.0), None, True, "100.00%"),
        (Invariant("beats_baseline", "outage"), None, True, "zproxy 100.00% vs baseline 0.00%"),
        (Invariant("beats_baseline"), None, True, "vs baseline 50.00%"),
        (Invariant("max_p99_ms", "steady", 15), None, False, "p99 20 ms"),
        (Invariant("max_p99_ms", None, 40), None, True, "p99 40 ms"),
    ],
)
def test_invariants(
    invariant: Invariant, zp_ledger: list[str] | None, ok: bool, detail: str
) -> None:
    report = build_report(scenario(invariant), runs(zp_ledger))
    [check] = report["invariants"]
    assert check["ok"] is ok, check
    assert detail in check["detail"]
    assert report["ok"] is ok


def test_duplicates_are_counted_in_their_phase() -> None:
    report = build_report(scenario(), runs(["w2", "w2"]))
    zp = report["runs"]["zproxy"]
    assert [p["writes"]["duplicates"] for p in zp["phases"]] == [0, 1]
    assert zp["audit"]["duplicates"] == ["w2"]
    assert "0/0/0/0/0/0" in render_text(report)  # steady: no writes
    assert "1/1/1/0/0/1" in render_text(report)  # outage: the duplicated write


def test_a_queue_that_never_drains_fails_the_drain_invariant() -> None:
    report = build_report(
        scenario(Invariant("max_drain_seconds", value=60)), runs(depth=[(3.0, 4), (5.0, 2)])
    )
    assert report["runs"]["zproxy"]["drain_seconds"] is None
    assert report["invariants"][0]["ok"] is False
    assert report["invariants"][0]["detail"] == "queue never drained"


def test_improvement_factor() -> None:
    assert improvement(0.99, 0.9) == 10.0
    assert improvement(1.0, 0.5) is None  # no failure through zproxy: printed as n/a
    assert improvement(1.0, 1.0) is None
    assert improvement(None, 0.5) is None


def test_text_table_names_every_phase_and_invariant() -> None:
    report = build_report(scenario(Invariant("no_lost_writes")), runs([]))
    text = render_text(report)
    assert "outage *" in text
    assert "steady" in text
    assert "FAIL  no_lost_writes: 1 acknowledged writes never applied: w2" in text
    assert "result: INVARIANT VIOLATED" in text


def test_html_is_one_self_contained_page() -> None:
    page = render_html(build_report(scenario(Invariant("no_lost_writes")), runs()))
    assert page.startswith("<!doctype html>")
    assert "<script" not in page
    assert "<link" not in page
    assert "@import" not in page
    assert not re.search(r"(src|href)\s*=", page)
    assert "http://" not in page
    assert "https://" not in page
    assert "url(" not in page
    assert page.count('<svg class="chart"') == 4  # success, breaker band, p99, queue
    assert "<polyline" in page
    assert "A &lt;b&gt;test&lt;/b&gt; &amp; more." in page  # escaped
    assert "PASS" in page
