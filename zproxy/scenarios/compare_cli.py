"""``zproxy scenario run SCENARIO --compare-config NEW.yaml``: the pre-deploy gate.

The scenario runs through zproxy twice, on the current config and on NEW.yaml (each with the
scenario's own overrides on top), with the same plan (seed or recording) and the same fault
timeline; then once straight at the fake Zuora (the baseline both share). Exit codes: 0 the new
config is no worse (``compare``), 1 it is worse (or a run could not complete), 2 NEW.yaml or
the current config is bad (every problem on its own line, as ``zproxy check-config``).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from zproxy.config.load import load_settings
from zproxy.errors import ConfigError
from zproxy.scenarios.compare import compare
from zproxy.scenarios.journeys import route_table
from zproxy.scenarios.model import Scenario
from zproxy.scenarios.report import build_report
from zproxy.scenarios.report_compare import render_compare_html, render_compare_text
from zproxy.scenarios.settings import merged_config, validate_config
from zproxy.scenarios.traffic import Planned


def read_config(path: Path) -> dict[str, Any]:
    """A config file as data, validated as ``check-config`` does; ConfigError if bad."""
    load_settings(path, env={})
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def check_with_overrides(scenario: Scenario, doc: Mapping[str, Any], path: Path) -> None:
    """The config as the scenario would run it (its overrides on top) must be valid too."""
    problems = validate_config(merged_config(doc, scenario.settings, scenario.routes))
    if problems:
        raise ConfigError([f"{path} with the scenario's overrides: {p}" for p in problems])


def run_compare(
    scenario: Scenario,
    plan: list[Planned],
    current: tuple[str, Mapping[str, Any]],
    new: tuple[str, Mapping[str, Any]],
    out_dir: Path,
    meta: Mapping[str, Mapping[str, Any]],
) -> int:
    """``current`` / ``new``: (how to name it, the config before the scenario's patches);
    ``meta``: each side's ``cli.run_meta``."""
    import asyncio

    try:
        with tempfile.TemporaryDirectory(prefix="zproxy-compare-") as tmp:
            for side in ("current", "new"):
                (Path(tmp) / side).mkdir()
            result = asyncio.run(_run(scenario, plan, current, new, meta, Path(tmp)))
    except (RuntimeError, ConfigError, OSError) as exc:
        print(f"zproxy: scenario {scenario.name} could not run: {exc}", file=sys.stderr)
        return 1
    write_compare_report(result, out_dir)
    print(render_compare_text(result, color=sys.stdout.isatty()))
    print(f"report: {out_dir / 'report.html'} and {out_dir / 'report.json'}")
    return 0 if result["ok"] else 1


async def _run(
    scenario: Scenario,
    plan: list[Planned],
    current: tuple[str, Mapping[str, Any]],
    new: tuple[str, Mapping[str, Any]],
    meta: Mapping[str, Mapping[str, Any]],
    workdir: Path,
) -> dict[str, Any]:
    from zproxy.scenarios.runner import run_baseline, run_through_proxy

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    say(f"scenario {scenario.name}: {len(plan)} requests over {scenario.duration:g} s per run")
    say(f"run 1/3: through zproxy on the current config ({current[0]})")
    cur = await run_through_proxy(scenario, plan, workdir / "current", say, current[1])
    say(f"run 2/3: through zproxy on the new config ({new[0]})")
    nxt = await run_through_proxy(scenario, plan, workdir / "new", say, new[1])
    say("run 3/3: baseline, straight at the fake Zuora")
    base = await run_baseline(scenario, plan, say)
    #: One route table labels both runs: a journey holds the same requests on either side.
    table = route_table(merged_config(current[1], scenario.settings, scenario.routes))
    reports = {
        side: build_report(
            scenario, {"zproxy": run, "baseline": base}, {**meta[side], "config": name}, table
        )
        for side, name, run in (("current", current[0], cur), ("new", new[0], nxt))
    }
    comparison = compare(reports["current"], reports["new"])
    return {
        "mode": "compare",
        "scenario": reports["current"]["scenario"],
        "configs": {"current": current[0], "new": new[0]},
        "current": reports["current"],
        "new": reports["new"],
        "comparison": comparison,
        "ok": comparison["ok"],
    }


def write_compare_report(result: Mapping[str, Any], out_dir: Path) -> None:
    import orjson

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    (out_dir / "report.html").write_text(render_compare_html(result), encoding="utf-8")
