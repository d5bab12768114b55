"""The ``rollback`` section of the settings: how a config reload is watched and undone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zproxy.config.model import RollbackSettings
from zproxy.config.reader import Reader


def parse_rollback(r: Reader, raw: Mapping[str, Any]) -> RollbackSettings:
    d = RollbackSettings()
    journeys = raw.get("journeys") or []
    if not isinstance(journeys, list) or not all(isinstance(j, str) and j for j in journeys):
        r.fail("rollback.journeys", f"must be a list of journey names (got {journeys!r})")
        journeys = []
    error_rate = r.number(raw, "rollback", "error_rate", d.error_rate)
    if error_rate > 1:
        r.fail("rollback.error_rate", f"must be a share between 0 and 1 (got {error_rate!r})")
        error_rate = d.error_rate
    return RollbackSettings(
        window=r.number(raw, "rollback", "window", d.window, above=True),
        error_rate=error_rate,
        min_requests=r.number(raw, "rollback", "min_requests", d.min_requests, integer=True),
        journeys=tuple(journeys),
    )
