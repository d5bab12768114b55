"""``POST /admin/config/reload`` and ``POST /admin/config/rollback`` (token-guarded like every
``/admin/*``), and ``GET /admin/config``: the config in force and whether a reload is watched."""

from __future__ import annotations

from aiohttp import web

from zproxy.admin.app import json_response
from zproxy.edge.live import LiveConfig, NothingToRollBack
from zproxy.edge.responses import error_response, request_id_of
from zproxy.errors import ConfigError

LIVE: web.AppKey[LiveConfig] = web.AppKey("live_config", LiveConfig)
routes = web.RouteTableDef()


def _state(live: LiveConfig) -> dict[str, object]:
    previous = live.previous
    return {
        "success": True,
        **live.current.describe(),
        "previous": previous.describe() if previous is not None else None,
        "watching": live.watch.watching,
    }


@routes.get("/admin/config")
async def config(request: web.Request) -> web.Response:
    return json_response(_state(request.app[LIVE]))


@routes.post("/admin/config/reload")
async def reload(request: web.Request) -> web.Response:
    live = request.app[LIVE]
    try:
        await live.reload()
    except ConfigError as exc:
        return _problems(request, exc.problems)
    return json_response(_state(live))


@routes.post("/admin/config/rollback")
async def rollback(request: web.Request) -> web.Response:
    live = request.app[LIVE]
    try:
        await live.rollback()
    except NothingToRollBack:
        return error_response(
            409,
            "ZPROXY_NOTHING_TO_ROLL_BACK",
            "No earlier config is kept: nothing was reloaded since start-up or the last rollback",
            request_id_of(request),
        )
    return json_response(_state(live))


def _problems(request: web.Request, problems: list[str]) -> web.Response:
    """422 with every problem as a reason, as ``zproxy check-config`` prints them."""
    body = {
        "success": False,
        "reasons": [{"code": "ZPROXY_CONFIG_INVALID", "message": p} for p in problems],
        "requestId": request_id_of(request),
        "kept": request.app[LIVE].current.describe(),
    }
    return json_response(body, status=422)
