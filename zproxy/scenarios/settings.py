"""zproxy's configuration for a scenario: the shipped file with the scenario's patches."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from zproxy.config.load import shipped_file
from zproxy.errors import ConfigError

#: The shipped route table and bundled scenarios: the checkout's config/, else the copies
#: inside the installed package.
SHIPPED_CONFIG = shipped_file("zproxy.yaml") or Path("config/zproxy.yaml")
BUNDLED_DIR = shipped_file("scenarios") or Path("config/scenarios")


def shipped_config() -> dict[str, Any]:
    """The shipped ``config/zproxy.yaml`` as data ({} when it cannot be found)."""
    try:
        data = yaml.safe_load(SHIPPED_CONFIG.read_text(encoding="utf-8"))
    except OSError:
        return {}
    return data if isinstance(data, dict) else {}


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def merged_config(
    base: Mapping[str, Any],
    settings: Mapping[str, Any],
    routes: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    doc = merge(base, settings)
    patched = []
    for route in doc.get("routes") or []:
        patch = routes.get(str(route.get("name"))) if isinstance(route, Mapping) else None
        patched.append(merge(route, patch) if patch else route)
    if patched:
        doc["routes"] = patched
    return doc


def validate_config(doc: Mapping[str, Any]) -> list[str]:
    """Every problem zproxy itself would report for ``doc`` (empty when it starts)."""
    from zproxy.config.parse import parse_settings

    try:
        parse_settings(doc, "settings", {})
    except ConfigError as exc:
        return list(exc.problems)
    return []
