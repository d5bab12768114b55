"""Every alert has a summary, description, severity and a runbook_url that resolves to its own
section of config/prometheus/RUNBOOK.md; every section there belongs to an alert."""

from __future__ import annotations

import re

from tests.prometheus.rules import RUNBOOK, RUNBOOK_URL, alerts


def _anchor(heading: str) -> str:
    """GitLab's heading anchor: lowercase, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _sections() -> dict[str, str]:
    text = RUNBOOK.read_text()
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return {_anchor(title): body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


def test_every_alert_is_annotated() -> None:
    for rule in alerts():
        assert rule["labels"]["severity"] in {"page", "ticket", "info"}, rule["alert"]
        for key in ("summary", "description", "runbook_url"):
            assert str(rule["annotations"].get(key, "")).strip(), (rule["alert"], key)


def test_every_runbook_url_resolves_to_the_alerts_section() -> None:
    sections = _sections()
    for rule in alerts():
        url = rule["annotations"]["runbook_url"]
        base, _, anchor = url.partition("#")
        assert base == RUNBOOK_URL, (rule["alert"], url)
        assert anchor == _anchor(rule["alert"]), (rule["alert"], url)
        assert anchor in sections, (rule["alert"], url)


def test_every_section_says_impact_dashboard_action_and_escalation() -> None:
    sections = _sections()
    names = {_anchor(rule["alert"]) for rule in alerts()}
    assert set(sections) == names
    for anchor, body in sections.items():
        for part in ("**Customers**", "**Dashboard**", "**Do**", "**Escalate to Zuora**"):
            assert part in body, (anchor, part)
        assert (
            "zproxy queue" in body or "admin/" in body or "/readyz" in body or "/healthz" in body
        ), anchor


def test_runbook_links_between_sections_resolve() -> None:
    sections = _sections()
    for target in re.findall(r"\]\(#([^)]+)\)", RUNBOOK.read_text()):
        assert target in sections, target
