"""``zproxy scenario list`` and ``zproxy scenario run FILE|NAME [--report DIR] [--traffic FILE]
[--config FILE] [--compare-config NEW.yaml]`` (the last: ``compare_cli``).

Exit codes: 0 every invariant holds; 1 an invariant failed (or the run could not complete);
2 the scenario file (or a config file) is bad (every problem printed with its location).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import yaml

from zproxy import __version__
from zproxy.errors import ConfigError
from zproxy.scenarios.compare_cli import check_with_overrides, read_config, run_compare
from zproxy.scenarios.journeys import route_table
from zproxy.scenarios.model import Scenario
from zproxy.scenarios.parse import ScenarioError, load_scenario
from zproxy.scenarios.recording import credentials_needed, is_recording, load_recording
from zproxy.scenarios.report import build_report
from zproxy.scenarios.report_html import render_html
from zproxy.scenarios.report_text import render_text
from zproxy.scenarios.settings import BUNDLED_DIR, SHIPPED_CONFIG, merged_config, shipped_config
from zproxy.scenarios.traffic import Planned, load_recorded, plan_mix


def run_scenario_command(
    action: str,
    file: Path | None,
    report: Path | None,
    traffic: Path | None = None,
    config: Path | None = None,
    compare_config: Path | None = None,
) -> int:
    """``config``: zproxy's config under the scenario's overrides (None: the shipped file);
    ``compare_config``: run the gate, ``config`` (or the shipped file) against this one."""
    if action == "list":
        return list_bundled()
    if file is None:
        print(
            "zproxy: scenario run needs a FILE or a bundled name (see `zproxy scenario list`)",
            file=sys.stderr,
        )
        return 2
    path = resolve(file)
    if path is None:
        print(f"zproxy: {file}: no such scenario file or bundled scenario", file=sys.stderr)
        return 2
    if traffic is not None and not traffic.is_file():
        print(f"zproxy: --traffic {traffic}: no such recording", file=sys.stderr)
        return 2
    try:
        base = shipped_config() if config is None else read_config(config)
        new = None if compare_config is None else read_config(compare_config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"zproxy: {problem}", file=sys.stderr)
        return 2
    try:
        scenario = load_scenario(path, base)
        if traffic is not None:
            scenario = with_recording(scenario, traffic)
        plan = make_plan(scenario)
        if scenario.traffic.recorded is not None:
            scenario = dataclasses.replace(
                scenario,
                traffic=dataclasses.replace(scenario.traffic, credentials=credentials_needed(plan)),
            )
    except ScenarioError as exc:
        for problem in exc.problems:
            print(f"zproxy: {problem}", file=sys.stderr)
        return 2
    out_dir = report or Path("var") / "scenarios" / path.stem
    if new is not None and compare_config is not None:
        try:
            check_with_overrides(scenario, new, compare_config)
        except ConfigError as exc:
            for problem in exc.problems:
                print(f"zproxy: {problem}", file=sys.stderr)
            return 2
        current = (str(config) if config else f"{SHIPPED_CONFIG} (shipped)", base)
        metas = {"current": run_meta(scenario, base), "new": run_meta(scenario, new)}
        return run_compare(scenario, plan, current, (str(compare_config), new), out_dir, metas)
    try:
        result = asyncio.run(_run(scenario, plan, base))
    except (RuntimeError, ConfigError, OSError) as exc:
        print(f"zproxy: scenario {scenario.name} could not run: {exc}", file=sys.stderr)
        return 1
    write_report(result, out_dir)
    print(render_text(result, color=sys.stdout.isatty()))
    print(f"report: {out_dir / 'report.html'} and {out_dir / 'report.json'}")
    return 0 if result["ok"] else 1


async def _run(scenario: Scenario, plan: list[Planned], base: Mapping[str, Any]) -> dict[str, Any]:
    from zproxy.scenarios.runner import run_both

    meta = run_meta(scenario, base)
    with tempfile.TemporaryDirectory(prefix="zproxy-scenario-") as tmp:
        runs = await run_both(scenario, plan, Path(tmp), config=base)
    table = route_table(merged_config(base, scenario.settings, scenario.routes))
    return build_report(scenario, runs, meta, table)


def run_meta(scenario: Scenario, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """zproxy's version, the run's date (UTC) and the settings zproxy ran with: the shipped
    file (or ``base``) with the scenario's patches (the route table reduced to the patched
    routes)."""
    doc = merged_config(
        shipped_config() if base is None else base, scenario.settings, scenario.routes
    )
    if isinstance(doc.get("upstream"), dict):  # the run's upstream is the fake, not Zuora
        doc["upstream"] = {**doc["upstream"], "url": "the fake Zuora on 127.0.0.1"}
    routes = [
        r
        for r in doc.pop("routes", None) or []
        if isinstance(r, dict) and r.get("name") in scenario.routes
    ]
    return {
        "zproxy_version": __version__,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "settings": doc,
        "overrides": dict(scenario.settings),
        "patched_routes": routes,
    }


def with_recording(scenario: Scenario, recording: Path) -> Scenario:
    """``--traffic RECORDING``: the recording replaces the scenario's traffic."""
    traffic = dataclasses.replace(scenario.traffic, recorded=recording.resolve(), mix={})
    return dataclasses.replace(scenario, traffic=traffic)


def make_plan(scenario: Scenario) -> list[Planned]:
    traffic = scenario.traffic
    if traffic.recorded is None:
        return plan_mix(traffic, scenario.duration, scenario.seed)
    if is_recording(traffic.recorded):
        plan, problems = load_recording(traffic.recorded, scenario.duration, scenario.time_scale)
    else:
        plan, problems = load_recorded(traffic.recorded, scenario.duration)
    if problems:
        raise ScenarioError(problems)
    return plan


def write_report(result: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    (out_dir / "report.html").write_text(render_html(result), encoding="utf-8")


#: Former names of bundled scenarios, still accepted.
RENAMED = {"zuora-api-outage-2022": "zuora-outage-2022-11-27"}


def resolve(file: Path) -> Path | None:
    """A path as given, else a bundled scenario by name (with or without ``.yaml``)."""
    if file.is_file():
        return file
    name = file.name.removesuffix(".yaml")
    name = RENAMED.get(name, name)
    for candidate in (BUNDLED_DIR / file.name, BUNDLED_DIR / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    return None


def bundled() -> list[Path]:
    return sorted(BUNDLED_DIR.glob("*.yaml"))


def list_bundled() -> int:
    files = bundled()
    if not files:
        print(f"zproxy: no bundled scenarios under {BUNDLED_DIR}", file=sys.stderr)
        return 1
    width = max(len(f.name) for f in files)
    for path in files:
        print(f"{path.name.ljust(width)}  {_summary(path)}")
    return 0


def _summary(path: Path) -> str:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return "(unreadable)"
    text = doc.get("description") if isinstance(doc, dict) else None
    if not text:
        return "(no description)"
    line = " ".join(str(text).split())
    first = line.split(": ", 1)[0].split(". ", 1)[0].rstrip(".")
    return first if len(first) <= 110 else first[:107] + "..."
