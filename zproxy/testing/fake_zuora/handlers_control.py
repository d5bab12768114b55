"""The control API under ``/__fake/`` (never subject to faults). See the package docstring."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from zproxy.testing.fake_zuora.fake import FAKE
from zproxy.testing.fake_zuora.faults import FaultSpecError, parse_phase, parse_rule
from zproxy.testing.fake_zuora.responses import json_response

_LIMIT_KEYS = frozenset({"default", "zoql", "rate_per_minute"})


def _error(message: str) -> web.Response:
    return json_response({"error": message}, 400)


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        data = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise FaultSpecError("body must be JSON") from None
    if not isinstance(data, dict):
        raise FaultSpecError("body must be a JSON object")
    return data


async def get_fault(request: web.Request) -> web.Response:
    fake = request.app[FAKE]
    return json_response(fake.faults.describe(fake.clock.monotonic()))


async def set_fault(request: web.Request) -> web.Response:
    fake = request.app[FAKE]
    try:
        data = await _body(request)
        rule = parse_rule(data)
    except FaultSpecError as exc:
        return _error(str(exc))
    fake.set_fault(rule, add=bool(data.get("add", False)))
    return json_response(fake.faults.describe(fake.clock.monotonic()))


async def set_timeline(request: web.Request) -> web.Response:
    fake = request.app[FAKE]
    try:
        phases = (await _body(request)).get("phases")
        if (
            not isinstance(phases, list)
            or not phases
            or not all(isinstance(p, dict) for p in phases)
        ):
            raise FaultSpecError("phases must be a non-empty list of objects")
        parsed = [parse_phase(p) for p in phases]
    except FaultSpecError as exc:
        return _error(str(exc))
    fake.set_timeline(parsed)
    return json_response(fake.faults.describe(fake.clock.monotonic()))


async def reset(request: web.Request) -> web.Response:
    request.app[FAKE].reset()
    return json_response({"reset": True})


async def stats(request: web.Request) -> web.Response:
    return json_response(request.app[FAKE].stats_json())


async def ledger(request: web.Request) -> web.Response:
    fake = request.app[FAKE]
    try:
        since = int(request.query.get("since", "0"))
    except ValueError:
        return _error("since must be an integer")
    entries = fake.ledger.to_json(max(since, 0))
    return json_response({"entries": entries, "size": len(fake.ledger.entries)})


async def limits(request: web.Request) -> web.Response:
    fake = request.app[FAKE]
    try:
        data = await _body(request)
    except FaultSpecError as exc:
        return _error(str(exc))
    bad = [
        k
        for k, v in data.items()
        if k not in _LIMIT_KEYS or not isinstance(v, int) or isinstance(v, bool) or v < 1
    ]
    if bad:
        return _error(f"limits must be positive integers for {sorted(_LIMIT_KEYS)}; bad: {bad}")
    if "rate_per_minute" in data:
        fake.rate.per_minute = data.pop("rate_per_minute")
    fake.set_limits(data)
    return json_response({**fake.limiter.limits, "rate_per_minute": fake.rate.per_minute})


async def seed_info(request: web.Request) -> web.Response:
    try:
        tenant = int(request.query.get("tenant", "1"))
    except ValueError:
        return _error("tenant must be an integer")
    if tenant < 1:
        return _error("tenant must be >= 1")
    return json_response(request.app[FAKE].seed_info(tenant))


ROUTES = [
    web.get("/__fake/fault", get_fault),
    web.post("/__fake/fault", set_fault),
    web.post("/__fake/timeline", set_timeline),
    web.post("/__fake/reset", reset),
    web.get("/__fake/stats", stats),
    web.get("/__fake/ledger", ledger),
    web.post("/__fake/limits", limits),
    web.get("/__fake/seed-info", seed_info),
]
