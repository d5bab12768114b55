"""``config.reload``: which changes need a restart, the config hash, and the ``rollback`` and
``journey`` settings as ``load_settings`` reads them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from zproxy.config.load import load_settings
from zproxy.config.model import HostPort, Settings
from zproxy.config.reload import config_hash, journeys_of, refusal, restart_only_changes
from zproxy.errors import ConfigError

SHIPPED = Path(__file__).resolve().parents[3] / "config" / "zproxy.yaml"


def shipped(**env: str) -> Settings:
    return load_settings(SHIPPED, env=env)


def test_reloadable_changes_need_no_restart() -> None:
    old = shipped()
    new = replace(old, upstream=replace(old.upstream, read_timeout=1.0, total_timeout=2.0))
    assert restart_only_changes(old, new) == []


def test_restart_only_changes_are_named_without_values() -> None:
    old = shipped(ZPROXY_REDIS_URL="redis://:hunter2@127.0.0.1:6379/0")
    new = replace(
        old,
        server=replace(old.server, listen=HostPort("0.0.0.0", 80)),
        redis=replace(old.redis, url="redis://:other@10.0.0.1:6379/0"),
    )
    changed = restart_only_changes(old, new)
    assert changed == [
        "server.listen (ZPROXY_LISTEN, --listen)",
        "redis.url (ZPROXY_REDIS_URL, --redis)",
    ]
    problems = refusal(changed)
    assert all("cannot change without a restart" in p for p in problems)
    assert not any("hunter2" in p or "other" in p for p in problems)


def test_the_hash_is_stable_and_ignores_per_process_and_secret_settings() -> None:
    a = shipped()
    b = shipped(
        ZPROXY_LISTEN="127.0.0.1:1234",
        ZPROXY_DATA_DIR="/tmp/elsewhere",
        ZPROXY_ADMIN_TOKEN="secret",
    )
    assert config_hash(a) == config_hash(b) == config_hash(shipped())
    slower = replace(a, upstream=replace(a.upstream, read_timeout=a.upstream.read_timeout + 1))
    assert config_hash(slower) != config_hash(a)


def test_every_shipped_route_names_a_journey() -> None:
    journeys = journeys_of(shipped())
    assert journeys["orders_create"] == "purchase"
    assert journeys["subscription_renew"] == "renewal"
    assert journeys["subscription_change"] == "seat_sync"
    assert journeys["invoice"] == "billing_view"
    assert journeys["payments_write"] == "payment"
    assert set(journeys.values()) == {
        "purchase",
        "renewal",
        "seat_sync",
        "billing_view",
        "payment",
        "other",
    }


def test_rollback_settings_from_the_environment() -> None:
    s = shipped(ZPROXY_ROLLBACK_WINDOW="5", ZPROXY_ROLLBACK_ERROR_RATE="0.1")
    assert (s.rollback.window, s.rollback.error_rate, s.rollback.min_requests) == (5.0, 0.1, 20)
    assert shipped().rollback.window == 300.0
    assert shipped().rollback.error_rate == 0.02


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ({"rollback": {"window": 0}}, "rollback.window: must be > 0"),
        ({"rollback": {"error_rate": 2}}, "rollback.error_rate: must be a share"),
        ({"rollback": {"journeys": "purchase"}}, "rollback.journeys: must be a list"),
        ({"rollback": {"windw": 5}}, "rollback.windw: unknown setting"),
        (
            {"routes": [{"name": "r", "methods": ["GET"], "path": "/x", "journey": "Buy Now"}]},
            "routes[0].journey: must be a lower-case name",
        ),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, doc: dict[str, object], problem: str) -> None:
    path = tmp_path / "z.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_a_route_without_a_journey_is_other(tmp_path: Path) -> None:
    path = tmp_path / "z.yaml"
    path.write_text(yaml.safe_dump({"routes": [{"name": "r", "methods": ["GET"], "path": "/x"}]}))
    assert journeys_of(load_settings(path, env={})) == {"r": "other"}
