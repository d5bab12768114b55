"""Pure parts of the fake: fault planning, seeded data, the ZOQL parser, version parsing."""

from __future__ import annotations

import orjson
import pytest

from zproxy.testing.fake_zuora.data import seed_tenant
from zproxy.testing.fake_zuora.faults import (
    FaultController,
    FaultSpecError,
    RequestInfo,
    parse_phase,
    parse_rule,
)
from zproxy.testing.fake_zuora.render import rate_plans_as_url
from zproxy.testing.fake_zuora.zoql import ZoqlError, parse

GET = RequestInfo("GET", "/v1/accounts/A1", frozenset({"reads"}))
POST = RequestInfo("POST", "/v1/orders", frozenset({"writes"}))


def test_rules_act_per_stage_and_up_shadows_older_rules() -> None:
    faults = FaultController(seed=1)
    faults.set_rule(parse_rule({"mode": "slow", "latency_ms": 30}))
    faults.set_rule(parse_rule({"mode": "writes_down", "scope": "/v1"}))
    write, read = faults.plan(POST, 0.0), faults.plan(GET, 0.0)
    assert write.front is not None
    assert write.front.mode == "writes_down"
    assert write.processing is not None
    assert write.latency == pytest.approx(0.03)
    assert read.front is None
    assert read.latency == pytest.approx(0.03)
    faults.set_rule(parse_rule({"mode": "up", "scope": "writes"}))
    shadowed = faults.plan(POST, 0.0)
    assert (shadowed.front, shadowed.processing) == (None, None)
    faults.set_rule(parse_rule({"mode": "up"}))
    assert faults.rules == []
    assert faults.timeline is None


def test_lock_and_post_faults_only_touch_writes() -> None:
    faults = FaultController()
    faults.set_rule(parse_rule({"mode": "lock_competition"}), add=True)
    faults.set_rule(parse_rule({"mode": "reset_after_apply", "scope": "writes"}), add=True)
    assert faults.plan(GET, 0.0).lock is None
    plan = faults.plan(POST, 0.0)
    assert plan.lock is not None
    assert plan.lock.status == 200
    assert plan.post is not None


@pytest.mark.parametrize(
    ("spec", "low", "high"),
    [
        ({"latency_ms": 50}, 0.05, 0.05),
        ({"latency_ms": 50, "jitter_ms": 20}, 0.03, 0.07),
        ({"latency_ms": 50, "jitter_ms": 20, "distribution": "normal"}, 0.0, 1.0),
        ({"latency_ms": 50, "distribution": "exponential"}, 0.0, 10.0),
    ],
)
def test_latency_distributions_are_seeded_and_bounded(
    spec: dict[str, object], low: float, high: float
) -> None:
    def draws(seed: int) -> list[float]:
        faults = FaultController(seed=seed)
        faults.set_rule(parse_rule({"mode": "slow", **spec}))
        return [faults.plan(GET, 0.0).latency for _ in range(50)]

    values = draws(3)
    assert values == draws(3)
    assert all(low <= v <= high for v in values)


def test_timeline_phases_then_up() -> None:
    faults = FaultController()
    phases = [
        parse_phase({"mode": "down", "duration": 2}),
        parse_phase({"mode": "reset", "duration": 1}),
    ]
    faults.set_timeline(phases, now=100.0)
    modes = []
    for t in (100.0, 101.9, 102.0, 102.9, 103.0):
        rule = faults.plan(GET, t).front
        modes.append(rule.mode if rule else "up")
    assert modes == ["down", "down", "reset", "reset", "up"]


@pytest.mark.parametrize(
    "spec",
    [
        {"mode": "nope"},
        {"mode": "down", "scope": 3},
        {"mode": "down", "rate": -1},
        {"mode": "down", "status": True},
    ],
)
def test_bad_rules_are_rejected(spec: dict[str, object]) -> None:
    with pytest.raises(FaultSpecError):
        parse_rule(spec)


def test_same_seed_same_data_other_seed_other_data() -> None:
    one, again, other = seed_tenant(1, 7, 10), seed_tenant(1, 7, 10), seed_tenant(1, 8, 10)
    assert orjson.dumps(one.accounts) == orjson.dumps(again.accounts)
    assert orjson.dumps(one.subscriptions) == orjson.dumps(again.subscriptions)
    assert orjson.dumps(one.accounts) != orjson.dumps(other.accounts)
    assert any(p["productRatePlans"] for p in one.products)
    assert list(one.accounts) == [f"A{n:08d}" for n in range(1, 11)]


def test_no_full_card_number_in_seeded_data() -> None:
    dumped = orjson.dumps(seed_tenant(1, 0, 20).payment_methods).decode()
    for card in ("4111111111111111", "5555555555554444", "378282246310005"):
        assert card not in dumped


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (None, False),
        ("", False),
        ("186.0", False),
        ("229.0", False),
        ("230.0", True),
        ("341.0", True),
        ("2024-05-20", True),
        ("latest", False),
    ],
)
def test_rate_plans_as_url_by_version(version: str | None, expected: bool) -> None:
    assert rate_plans_as_url(version) is expected


def test_zoql_parser() -> None:
    query = parse("select id, NAME from account where Status = 'Active' and AutoPay = true")
    assert query.obj == "Account"
    assert query.fields == ("Id", "Name")
    assert query.conditions == (("Status", "=", "Active"), ("AutoPay", "=", True))
    with pytest.raises(ZoqlError):
        parse("select Id from Account Where Id = '1'")
