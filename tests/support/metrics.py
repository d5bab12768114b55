"""Scraping zproxy's ``/metrics`` (the admin port) with the Prometheus text parser."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.support.http import request
from zproxy.testing.proxy_process import ZproxyProcess


async def metrics(session: aiohttp.ClientSession, proc: ZproxyProcess) -> dict[str, float]:
    """Every sample of ``/metrics`` as ``'name{a="x",b="y"}' -> value`` (labels sorted)."""
    reply = await request(session, "GET", proc.admin_url + "/metrics")
    assert reply.status == 200
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


async def metric(session: aiohttp.ClientSession, proc: ZproxyProcess, name: str) -> float:
    """The first sample named ``name`` (with or without labels)."""
    for key, value in (await metrics(session, proc)).items():
        if key == name or key.startswith(name + "{"):
            return value
    raise AssertionError(f"metric {name} not found")


async def cache_counts(
    session: aiohttp.ClientSession, proc: ZproxyProcess
) -> dict[tuple[str, str], float]:
    """``zproxy_cache_total`` samples of one process that counted something, by (route,
    result). Every route's results are pre-created at 0 (so ``increase()`` sees the first
    one); those zeros are left out, so a test compares what happened."""
    prefix = "zproxy_cache_total{"
    out: dict[tuple[str, str], float] = {}
    for key, value in (await metrics(session, proc)).items():
        if key.startswith(prefix):
            labels = dict(
                part.split("=", 1) for part in key[len(prefix) : -1].split(",") if "=" in part
            )
            if value:
                out[(labels["route"].strip('"'), labels["result"].strip('"'))] = value
    return out
