"""The gate's side-by-side views: the terminal table and ``report.html`` of a comparison
(``zproxy scenario run SCENARIO --compare-config NEW.yaml``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from zproxy.scenarios.compare import verdict_line
from zproxy.scenarios.report_html import body, page
from zproxy.scenarios.report_text import BOLD, RED, RESET

HEAD = ("", "current", "new", "change", "")


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _pts(delta: float | None) -> str:
    return "-" if delta is None else f"{delta * 100:+.1f} pts"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _ratio(j: Mapping[str, Any] | None) -> str:
    if j is None:
        return "-"
    return f"{_pct(j['error_ratio'])} ({j['failed']}/{j['requests']})"


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(b - a, 4)


def rows(result: Mapping[str, Any]) -> list[list[str]]:
    """The compared rows: success per phase and overall, p99, invariants, journeys."""
    cur, new, cmp = result["current"], result["new"], result["comparison"]
    out: list[list[str]] = [list(HEAD)]
    a_run, b_run = cur["runs"]["zproxy"], new["runs"]["zproxy"]
    for a, b in [*zip(a_run["phases"], b_run["phases"], strict=True)]:
        out.append(
            [
                f"ok, phase {a['name']}",
                _pct(a["success_rate"]),
                _pct(b["success_rate"]),
                _pts(_diff(a["success_rate"], b["success_rate"])),
                "",
            ]
        )
    a, b = a_run["total"], b_run["total"]
    out.append(
        [
            "ok, all phases",
            _pct(a["success_rate"]),
            _pct(b["success_rate"]),
            _pts(_diff(a["success_rate"], b["success_rate"])),
            "",
        ]
    )
    out.append(["p99 ms, all phases", _ms(a["p99_ms"]), _ms(b["p99_ms"]), "", ""])
    for inv in cmp["invariants"]:
        out.append(
            [
                f"invariant {inv['label']}",
                "PASS" if inv["current"]["ok"] else "FAIL",
                "PASS" if inv["new"]["ok"] else "FAIL",
                "",
                "WORSE" if inv["worse"] else "",
            ]
        )
    for j in cmp["journeys"]:
        out.append(
            [
                f"journey {j['journey']} errors",
                _ratio(j["current"]),
                _ratio(j["new"]),
                _pts(j["delta"]),
                "WORSE" if j["worse"] else "",
            ]
        )
    return out


def _table(table: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines = []
    for index, row in enumerate(table):
        cells = [
            c.ljust(w) if i in (0, 4) else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths).rstrip())
    return lines


def _intro(result: Mapping[str, Any]) -> list[str]:
    sc, configs, cmp = result["scenario"], result["configs"], result["comparison"]
    return [
        f"scenario {sc['name']}: the same requests (seed {sc['seed']}) and faults, twice",
        f"current: {configs['current']}; new: {configs['new']}; both with the scenario's "
        "overrides on top",
        f"journey errors: 5xx, success: false or no answer (queued and stale are not); worse = "
        f"up more than {cmp['tolerance'] * 100:g} pts and more than "
        f"{cmp['noise_requests']} requests",
    ]


def render_compare_text(result: Mapping[str, Any], color: bool = False) -> str:
    lines = [*_intro(result), ""]
    for line in _table(rows(result)):
        red = color and line.endswith("WORSE")
        lines.append(f"{RED}{BOLD}{line}{RESET}" if red else line)
    verdict = verdict_line(result["comparison"])
    red = color and not result["ok"]
    return "\n".join([*lines, "", f"{RED}{BOLD}{verdict}{RESET}" if red else verdict])


def render_compare_html(result: Mapping[str, Any]) -> str:
    table = rows(result)
    head = "".join(f"<th>{escape(c)}</th>" for c in table[0])
    body_rows = "".join(
        f"<tr{' class=worse' if r[4] else ''}>"
        + "".join(
            f"<td>{escape(c) if i != 4 else f'<b class=bad>{escape(c)}</b>' if c else ''}</td>"
            for i, c in enumerate(r)
        )
        + "</tr>"
        for r in table[1:]
    )
    ok = result["ok"]
    intro = "".join(f"<p class=muted>{escape(line)}</p>" for line in _intro(result))
    line = escape(verdict_line(result["comparison"]))
    verdict = f'<p><b class="{"ok" if ok else "bad"}">{line}</b></p>'
    content = (
        f"<h1>Config comparison: {escape(result['scenario']['name'])}</h1>{intro}{verdict}"
        f"<table>{head and f'<tr>{head}</tr>'}{body_rows}</table>"
        f"<section><h1>Current config</h1>{body(result['current'])}</section>"
        f"<section><h1>New config</h1>{body(result['new'])}</section>"
    )
    return page(f"zproxy config comparison {result['scenario']['name']}", content)
