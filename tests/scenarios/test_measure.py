"""Pure report math: verdicts, cache results, percentiles, the write audit from a ledger,
per-account order, drain time, and the seeded traffic plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zproxy.scenarios import measure as ms
from zproxy.scenarios.model import Traffic
from zproxy.scenarios.traffic import (
    Planned,
    SeedInfo,
    load_recorded,
    plan_mix,
    to_http,
    warmup_targets,
)


def out(n: int = 0, status: int = 200, **kw: Any) -> ms.Outcome:
    defaults: dict[str, Any] = {"t": float(n), "kind": "k", "method": "GET", "latency_ms": 5.0}
    defaults.update(kw)
    return ms.Outcome(n=n, status=status, **defaults)


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (out(status=200), "good"),
        (out(status=202), "good"),
        (out(status=200, latency_ms=2500), "bad"),  # over the SLO
        (out(status=200, business_failure=True), "bad"),
        (out(status=503), "bad"),
        (out(status=429), "bad"),
        (out(status=401), "bad"),
        (out(status=0, error="timeout"), "bad"),
        (out(status=404), "excluded"),
        (out(status=400), "excluded"),
        (out(status=422), "excluded"),
    ],
)
def test_verdict(outcome: ms.Outcome, expected: str) -> None:
    assert ms.verdict(outcome, slo_ms=2000) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zproxy; hit; ttl=42", "hit"),
        ("zproxy; fwd=miss; stored", "miss"),
        ("zproxy; hit; fwd=stale; detail=revalidating", "stale"),
        ("zproxy; hit; detail=stale-if-error", "stale_if_error"),
        ('zproxy; hit; detail="stale-if-error pending-writes"', "stale_if_error"),
        ("zproxy; fwd=bypass", "bypass"),
        ("zproxy; fwd=stale; fwd-status=200; stored", "revalidated"),
        ("zproxy; detail=upstream-unavailable", "error"),
        (None, None),
        ("", None),
    ],
)
def test_cache_result(header: str | None, expected: str | None) -> None:
    assert ms.cache_result(header) == expected


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert ms.percentile(values, 50) == 50
    assert ms.percentile(values, 99) == 99
    assert ms.percentile(values, 100) == 100
    assert ms.percentile([7.0], 99) == 7
    assert ms.percentile([3.0, 1.0, 2.0], 50) == 2
    assert ms.percentile([], 50) is None


def test_ledger_markers_keep_order_and_skip_other_writes() -> None:
    paths = [
        "/v1/accounts/A1?scenario_write=w3",
        "/v1/accounts/A1",
        "/v1/orders?x=1&scenario_write=w10",
        "/v1/accounts/A1?scenario_write=w3",
    ]
    assert ms.ledger_markers(paths) == ["w3", "w10", "w3"]


def test_write_fates_from_ledger_and_states() -> None:
    outcomes = [
        out(1, 200, marker="w1"),  # forwarded and applied
        out(2, 202, marker="w2"),  # queued, applied later
        out(3, 202, marker="w3"),  # queued, never applied, zproxy forgot it: lost
        out(4, 202, marker="w4"),  # queued, dead-lettered
        out(5, 202, marker="w5"),  # queued, still queued at the end
        out(6, 503, marker="w6"),  # refused
        out(7, 504, marker="w7"),  # outcome unknown, applied anyway
        out(8, 200, marker="w8", business_failure=True),  # success:false, not applied
        out(9, 200),  # a read
    ]
    ledger = ["w1", "w2", "w7", "w2"]
    states = {"w2": "applied", "w3": "missing", "w4": "dead", "w5": "queued"}
    fates = ms.write_fates(outcomes, ledger, states)
    assert fates == {
        "w1": "applied",
        "w2": "applied",
        "w3": "lost",
        "w4": "dead",
        "w5": "pending",
        "w6": "refused",
        "w7": "applied_unacked",
        "w8": "refused",
    }
    assert ms.duplicates(ledger) == ["w2"]
    stats = ms.group_stats(outcomes, fates, slo_ms=2000, duplicated=frozenset({"w2"}))
    assert stats["writes"] == {
        "sent": 8,
        "accepted": 5,
        "queued": 4,
        "applied": 2,
        "lost": 1,
        "dead": 1,
        "pending": 1,
        "refused": 2,
        "applied_unacked": 1,
        "duplicates": 1,
    }
    assert stats["requests"] == 9
    assert stats["valid"] == 9
    assert stats["good"] == 6
    assert stats["success_rate"] == round(6 / 9, 4)


def test_order_violation_needs_the_earlier_write_acknowledged_before_the_later_was_sent() -> None:
    a = out(1, 202, marker="w1", account="A", sent_at=1.0, acked_at=1.1)
    b = out(2, 200, marker="w2", account="A", sent_at=2.0, acked_at=2.1)
    overlapping = out(3, 200, marker="w3", account="A", sent_at=1.05, acked_at=1.2)
    other = out(4, 200, marker="w4", account="B", sent_at=0.5, acked_at=0.6)
    outcomes = [a, b, overlapping, other]
    assert ms.order_violations(outcomes, ["w4", "w1", "w3", "w2"]) == []
    # w2 overtook w1 (sent after w1's 202): a violation. w3 was in flight with w1: no claim.
    assert ms.order_violations(outcomes, ["w3", "w2", "w1", "w4"]) == [["w1", "w2"]]
    # Writes to another account never conflict, wherever they land.
    assert ms.order_violations(outcomes, ["w1", "w4", "w3", "w2"]) == []
    # w3 was acknowledged before w2 was sent, so w2 must not come first either.
    assert ms.order_violations(outcomes, ["w1", "w2", "w3", "w4"]) == [["w3", "w2"]]


def test_drain_seconds_counts_from_recovery() -> None:
    samples = [(0.0, 0.0), (4.0, 5.0), (6.0, 3.0), (7.5, 0.0), (8.0, 0.0)]
    assert ms.drain_seconds(samples, recovery_at=6.0) == 1.5
    assert ms.drain_seconds(samples[:3], recovery_at=6.0) is None
    assert ms.drain_seconds([(0.0, 0.0), (3.0, 0.0)], recovery_at=2.0) == 1.0


def test_timeline_per_second() -> None:
    outcomes = [out(0, 200, t=0.1), out(1, 503, t=0.6), out(2, 404, t=1.2), out(3, 200, t=2.9)]
    line = ms.timeline(outcomes, slo_ms=2000, seconds=3)
    assert [(b["requests"], b["valid"], b["good"], b["success_rate"]) for b in line] == [
        (2, 2, 1, 0.5),
        (1, 0, 0, None),
        (1, 1, 1, 1.0),
    ]


def test_plan_is_seeded_and_sized_by_rate_times_duration() -> None:
    traffic = Traffic(
        rate=20,
        accounts=5,
        credentials=3,
        mix={"get_account": 3, "update_account": 1, "catalog": 0},
    )
    plan = plan_mix(traffic, duration=9, seed=4)
    assert len(plan) == 180
    assert plan == plan_mix(traffic, duration=9, seed=4)
    assert plan != plan_mix(traffic, duration=9, seed=5)
    assert [p.t for p in plan[:3]] == [0.025, 0.075, 0.125]
    assert {p.kind for p in plan} == {"get_account", "update_account"}
    assert {p.credential for p in plan} == {0, 1, 2}
    assert max(p.account for p in plan) < 5


def test_http_form_marks_every_write() -> None:
    seed = SeedInfo(("A00000001", "A00000002"), "plan-1")
    put = to_http(Planned(7, 0.0, "update_account", 0, 1), seed, run_seed=1)
    assert (put.method, put.path, put.account) == (
        "PUT",
        "/v1/accounts/A00000002?scenario_write=w7",
        "A00000002",
    )
    order = to_http(Planned(8, 0.0, "create_order", 1, 0), seed, run_seed=1)
    assert order.path == "/v1/orders?scenario_write=w8"
    assert order.headers["Prefer"] == "respond-async"
    assert order.headers["Idempotency-Key"] == "scn-1-w8"
    assert b'"existingAccountNumber":"A00000001"' in (order.body or b"")
    read = to_http(Planned(9, 0.0, "zoql_query", 0, 0), seed, run_seed=1)
    assert read.marker is None
    assert read.method == "POST"
    targets = warmup_targets([put, order, read, read])
    assert targets == [read]


def test_recorded_traffic(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"t": 0.5, "method": "PUT", "path": "/v1/accounts/A1", "body": {"notes": "x"}}\n'
        '{"t": 0.1, "method": "GET", "path": "/v1/accounts/A1", "credential": 1}\n'
        "\n"
        '{"t": 99, "method": "GET", "path": "/v1/catalog/products"}\n'
        '{"t": -1, "method": "GET", "path": "/x"}\n'
        "not json\n"
        '{"t": 1, "method": "GET", "path": "/x", "headers": {"Authorization": "Bearer s"}}\n'
    )
    plan, problems = load_recorded(path, duration=10)
    assert [p.t for p in plan] == [0.1, 0.5]
    assert [p.n for p in plan] == [0, 1]
    assert [line.split(": ")[0] for line in problems] == [f"{path}:5", f"{path}:6", f"{path}:7"]
    seed = SeedInfo(("A1",), "plan")
    get, put = (to_http(p, seed, 0) for p in plan)
    assert get.marker is None
    assert get.credential == 1
    assert put.path == "/v1/accounts/A1?scenario_write=w1"
    assert put.account == "A1"
    assert put.body == b'{"notes":"x"}'
