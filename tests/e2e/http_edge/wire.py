"""Reading zproxy's JSON log and its request counts (raw HTTP is ``tests.support.http``'s)."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
from prometheus_client.parser import text_string_to_metric_families

from zproxy.testing.proxy_process import ZproxyProcess


def log_events(proc: ZproxyProcess, event: str) -> list[dict[str, Any]]:
    out = []
    for line in proc.logs().splitlines():
        if line.startswith("{"):
            doc = orjson.loads(line)
            if doc.get("event") == event:
                out.append(doc)
    return out


async def requests_total(session: aiohttp.ClientSession, proc: ZproxyProcess) -> dict[str, float]:
    """``zproxy_requests_total`` samples by status (summed over routes and methods)."""
    async with session.get(proc.admin_url + "/metrics") as resp:
        text = await resp.text()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "zproxy_requests_total":
                status = sample.labels["status"]
                out[status] = out.get(status, 0.0) + sample.value
    return out
