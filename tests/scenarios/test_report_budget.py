"""The error budget (failed client-minutes in real time against a 99.95% month), cache columns
that add up to the reads, failures by kind and status, and what the table says about the run
(warm-up, version, date, settings, n/a, red for a violated invariant)."""

from __future__ import annotations

from typing import Any

import pytest

from zproxy.scenarios.measure import (
    BUDGET_MINUTES,
    Outcome,
    error_budget,
    group_stats,
    order_violations,
)
from zproxy.scenarios.model import Invariant, PhaseSpec, Scenario, Traffic
from zproxy.scenarios.report import RunData, build_report
from zproxy.scenarios.report_text import RED, render_text

META = {
    "zproxy_version": "9.9.9",
    "date": "2026-12-02T00:00:00+00:00",
    "settings": {"upstream": {"read_timeout": 2}},
    "overrides": {"upstream": {"read_timeout": 2}},
    "patched_routes": [],
}


def test_a_month_at_99_95_percent_allows_21_9_minutes() -> None:
    assert abs(BUDGET_MINUTES - 21.9) < 0.02


@pytest.mark.parametrize(
    ("buckets", "scale", "minutes"),
    [
        # 60 played seconds all failing at time_scale 1: one minute.
        ([(10, 0)] * 60, 1.0, 1.0),
        # 12 played seconds all failing at 1 s ~ 285 s (the 2022 outage): 57 minutes.
        ([(10, 0)] * 12, 12 / 3420, 57.0),
        # half the requests fail for 60 s: half a minute; seconds without requests burn nothing.
        ([(10, 5)] * 60 + [(0, 0)] * 60, 1.0, 0.5),
    ],
)
def test_failed_client_minutes(
    buckets: list[tuple[int, int]], scale: float, minutes: float
) -> None:
    timeline = [{"valid": v, "good": g} for v, g in buckets]
    budget = error_budget(timeline, scale)
    assert budget["failed_client_minutes"] == pytest.approx(minutes, abs=0.01)
    assert budget["budget_share"] == pytest.approx(minutes / BUDGET_MINUTES, abs=0.001)


def o(n: int, status: int, kind: str = "get_account", **kw: Any) -> Outcome:
    return Outcome(n=n, t=n * 0.1, kind=kind, method="GET", status=status, latency_ms=5, **kw)


def test_cache_columns_add_up_to_the_reads_and_failures_name_their_status() -> None:
    outcomes = [
        o(0, 200, cache_status="zproxy; hit; ttl=10"),
        o(1, 200, cache_status="zproxy; fwd=stale; fwd-status=200; stored"),
        o(2, 200, cache_status="zproxy; fwd=miss; stored"),
        o(3, 200, cache_status="zproxy; hit; detail=stale-if-error"),
        o(4, 503),  # zproxy's own error: no Cache-Status
        o(5, 0, error="timeout"),
        o(6, 202, kind="update_account", marker="w6"),
        Outcome(7, 0.7, "get_account", "GET", 200, 9000.0, cache_status="zproxy; fwd=miss"),
    ]
    stats = group_stats(outcomes, {"w6": "applied"}, slo_ms=2000)
    assert stats["reads"] == 7
    assert sum(stats["cache"].values()) == stats["reads"]
    assert stats["cache"] == {
        "hit": 1,
        "stale_if_error": 1,
        "revalidated": 1,
        "miss": 2,
        "error": 2,
    }
    assert stats["failures"] == {"503": 1, "slow-200": 1, "timeout": 1}
    assert group_stats(outcomes, {}, 2000, proxied=False)["cache"] == {}


def _report(statuses: list[int]) -> dict[str, Any]:
    scenario = Scenario(
        name="s",
        description="d",
        traffic=Traffic(rate=1, mix={"get_account": 1}),
        phases=(PhaseSpec("steady", 2), PhaseSpec("outage", 2, ({"mode": "down"},))),
        invariants=(Invariant("min_success_rate", None, 1.0),),
        time_scale=0.5,
    )
    zp = [o(n, s) for n, s in enumerate(statuses)]
    base = [o(n, 503 if n >= 2 else 200) for n in range(len(statuses))]
    runs = {
        "zproxy": RunData(zp, [], warmed=12),
        "baseline": RunData(base, [], through_proxy=False),
    }
    return build_report(scenario, runs, META)


def test_the_table_states_budget_warmup_version_settings_and_failures() -> None:
    report = _report([200, 200, 200, 503])
    text = render_text(report)
    zp, base = report["runs"]["zproxy"]["error_budget"], report["runs"]["baseline"]["error_budget"]
    assert zp["failed_client_minutes"] < base["failed_client_minutes"]
    assert "error budget (99.95% month = 21.91 min) burned: with zproxy" in text
    assert "cache warmed first with 12 reads" in text
    assert "zproxy 9.9.9, run 2026-12-02T00:00:00+00:00" in text
    assert "upstream.read_timeout=2" in text
    assert "failures with zproxy (kind status x count): get_account 503x1" in text
    assert "cache hit/stale/sie/reval/miss/byp/err" in text
    assert "writes acc/q/app/dead/lost/dup" in text
    assert RED not in text  # no colour unless asked for
    coloured = render_text(report, color=True)
    assert f"{RED}\x1b[1mFAIL  min_success_rate" in coloured


def test_no_failure_through_zproxy_prints_n_a_not_infinity() -> None:
    report = _report([200, 200, 200, 200])
    text = render_text(report)
    assert "failures avoided: n/a" in text
    assert "inf" not in text
    assert report["ok"] is True


def test_a_payment_overtaking_a_queued_update_is_shown_not_counted_as_a_violation() -> None:
    update = Outcome(1, 1.0, "update_account", "PUT", 202, 3, account="A", marker="w1",
                     sent_at=1.0, acked_at=1.01)  # fmt: skip
    payment = Outcome(2, 2.0, "payment", "POST", 200, 3, account="A", marker="w2",
                      sent_at=2.0, acked_at=2.1)  # fmt: skip
    later = Outcome(3, 3.0, "create_order", "POST", 200, 3, account="A", marker="w3",
                    sent_at=3.0, acked_at=3.1)  # fmt: skip
    ledger = ["w2", "w3", "w1"]
    outcomes = [update, payment, later]
    assert order_violations(outcomes, ledger) == [["w1", "w3"]]
    assert order_violations(outcomes, ledger, unordered=True) == [["w1", "w2"]]
