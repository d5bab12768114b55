"""The chaos test's judge catches what it is there to catch: a 202 applied twice or never, a
line out of order, a queued payment, a 500 (so a passing chaos run means something)."""

from __future__ import annotations

from tests.e2e.chaos.traffic import Sample
from tests.e2e.chaos.verdict import applied_tags, judge


def _write(tag: str, status: int = 202, kind: str = "put") -> Sample:
    return Sample(kind, "503", status, 0.01, tag)


def test_ledger_tags_come_from_the_query() -> None:
    ledger = [
        {"path": "/v1/accounts/A1?c=t1.A1.0"},
        {"path": "/v1/orders?x=1&c=t1.A1.1"},
        {"path": "/v1/accounts/A2"},
    ]
    assert applied_tags(ledger) == ["t1.A1.0", "t1.A1.1"]


def test_a_clean_run_has_no_faults() -> None:
    samples = [_write("t1.A1.0"), _write("t1.A1.1", 200), _write("pay.0", 200, "payment")]
    assert judge(samples, ["t1.A1.0", "t1.A1.1", "pay.0"]).faults == {}


def test_every_fault_is_named() -> None:
    samples = [
        _write("t1.A1.0"),  # applied twice
        _write("t1.A1.1"),  # never applied
        _write("t2.A1.0", 200),
        _write("t2.A1.1", 200),  # applied before t2.A1.0
        _write("pay.0", 202, "payment"),
        Sample("read", "hang", 500, 0.01),
        Sample("put", "redis-down", 503, 0.01, "t3.A1.0", code="ZPROXY_UPSTREAM_UNAVAILABLE"),
        Sample("put", "503", 503, 0.01, "t3.A1.1", code="50000060"),  # Zuora's own 503
    ]
    ledger = ["t1.A1.0", "t1.A1.0", "t2.A1.1", "t2.A1.0", "pay.0", "t3.A1.0", "t3.A1.1"]
    faults = judge(samples, ledger).faults
    assert faults == {
        "202 not applied exactly once": {"t1.A1.0": 2, "t1.A1.1": 0},
        "applied more than once": {"t1.A1.0": 2},
        "out of per-account order": {"t1.A1": [0, 0], "t2.A1": [1, 0]},
        "answered 503 not queued, yet applied": [
            "t3.A1.0 in redis-down: ZPROXY_UPSTREAM_UNAVAILABLE"
        ],
        "payments answered 202": ["pay.0"],
        "answered 500": ["read  in hang"],
    }
