"""The README's tables are checked against the code: a setting, flag or metric added without a
line in the README fails here."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
from prometheus_client.metrics import MetricWrapperBase

from zproxy.cli import PASS_THROUGH_ENV, _parser
from zproxy.config.load import ENV_VARS
from zproxy.observability.metrics import Metrics

README = (Path(__file__).resolve().parents[3] / "README.md").read_text()


def _rows() -> set[str]:
    """The first cell of every table row, without its backticks."""
    return set(re.findall(r"^\| `([^`]+)` \|", README, flags=re.MULTILINE))


def _flags() -> list[str]:
    found: list[str] = []
    parser = _parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for action in [*parser._actions, *(a for p in subparsers.choices.values() for a in p._actions)]:
        found += [s for s in action.option_strings if s.startswith("--") and s != "--help"]
    return sorted(set(found))


@pytest.mark.parametrize("name", [*ENV_VARS, "ZPROXY_CONFIG", PASS_THROUGH_ENV])
def test_every_setting_has_a_row(name: str) -> None:
    assert name in _rows()


@pytest.mark.parametrize("flag", _flags())
def test_every_flag_is_in_the_readme(flag: str) -> None:
    assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", README), flag


def _metric_names() -> list[str]:
    metrics = Metrics()
    return sorted(
        m._name + ("_total" if m._type == "counter" else "")
        for m in vars(metrics).values()
        if isinstance(m, MetricWrapperBase)
    )


@pytest.mark.parametrize("name", _metric_names())
def test_every_metric_has_a_row(name: str) -> None:
    assert name in _rows()


def test_no_row_names_a_metric_that_is_gone() -> None:
    documented = {row for row in _rows() if row.startswith("zproxy_")}
    assert documented <= set(_metric_names())
