"""The operator API on the admin port (token-guarded by ``admin.token_guard``): queued and
dead-lettered writes, cache purges, and the circuit breakers."""

from __future__ import annotations

from typing import Any, TypeGuard, get_args

import orjson
from aiohttp import web

from zproxy.admin.app import SERVICES, json_response
from zproxy.edge.responses import error_response, request_id_of
from zproxy.edge.services import Services
from zproxy.queue.model import WriteState
from zproxy.queue.redact import redacted_view
from zproxy.upstream.breaker_model import MODES

routes = web.RouteTableDef()
#: The most writes one ``GET /admin/writes`` returns.
MAX_LIST = 1000


def _is_state(value: str) -> TypeGuard[WriteState]:
    return value in get_args(WriteState)


def _services(request: web.Request) -> Services:
    return request.app[SERVICES]


class _BadBody(Exception):
    pass


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        doc = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise _BadBody from None
    if not isinstance(doc, dict):
        raise _BadBody
    return doc


def _bad_body(request: web.Request) -> web.Response:
    return _error(request, 400, "ZPROXY_BAD_JSON", "The body must be a JSON object")


def _error(request: web.Request, status: int, code: str, message: str) -> web.Response:
    return error_response(status, code, message, request_id_of(request))


def _no_queue(request: web.Request) -> web.Response:
    return _error(request, 503, "ZPROXY_STORE_UNAVAILABLE", "The write queue is unavailable")


def _limit(raw: str) -> int | None:
    """``limit`` in 1..MAX_LIST, ASCII digits only (``"²".isdigit()`` is true, ``int("²")``
    raises)."""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4):
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_LIST else None


@routes.get("/admin/writes")
async def list_writes(request: web.Request) -> web.Response:
    s = _services(request)
    state = request.query.get("state", "queued")
    if not _is_state(state) or s.writes is None:
        return _error(
            request, 400, "ZPROXY_BAD_STATE", "state must be queued, replaying, applied or dead"
        )
    limit = _limit(request.query.get("limit", "100"))
    if limit is None:
        return _error(request, 400, "ZPROXY_BAD_LIMIT", f"limit must be 1 to {MAX_LIST}")
    records = await s.writes.queue.list(state, limit=limit)
    return json_response({"state": state, "writes": [redacted_view(r) for r in records]})


@routes.get("/admin/writes/{id}")
async def show_write(request: web.Request) -> web.Response:
    s = _services(request)
    if s.writes is None:
        return _no_queue(request)
    record = await s.writes.queue.get(request.match_info["id"])
    if record is None:
        return _error(request, 404, "ZPROXY_WRITE_NOT_FOUND", "No such write")
    return json_response(redacted_view(record))


@routes.post("/admin/writes/{id}/retry")
async def retry_write(request: web.Request) -> web.Response:
    s = _services(request)
    if s.writes is None:
        return _no_queue(request)
    done = await s.writes.queue.retry(request.match_info["id"], s.clock.time())
    if not done:
        return _error(request, 409, "ZPROXY_NOT_RETRYABLE", "Only dead writes can be retried")
    s.writes.replayer.wake()
    return json_response({"writeId": request.match_info["id"], "state": "queued"})


@routes.delete("/admin/writes/{id}")
async def drop_write(request: web.Request) -> web.Response:
    s = _services(request)
    if s.writes is None:
        return _no_queue(request)
    done = await s.writes.queue.drop(request.match_info["id"])
    if not done:
        exists = await s.writes.queue.get(request.match_info["id"]) is not None
        if not exists:
            return _error(request, 404, "ZPROXY_WRITE_NOT_FOUND", "No such write")
        return _error(
            request, 409, "ZPROXY_NOT_DROPPABLE", "The write is being replayed or already applied"
        )
    return json_response({"writeId": request.match_info["id"], "dropped": True})


@routes.post("/admin/cache/purge")
async def purge_cache(request: web.Request) -> web.Response:
    s = _services(request)
    try:
        doc = await _json_body(request)
    except _BadBody:
        return _bad_body(request)
    tags = doc.get("tags")
    if doc.get("all") is True:
        purged = await s.cache.purge_all()
    elif isinstance(tags, list) and tags and all(isinstance(t, str) and t for t in tags):
        purged = await s.cache.purge_tags(tags)
    else:
        return _error(
            request, 400, "ZPROXY_BAD_PURGE", 'body must be {"tags": ["..."]} or {"all": true}'
        )
    return json_response({"purged": purged})


@routes.get("/admin/breaker")
async def get_breaker(request: web.Request) -> web.Response:
    return json_response({"groups": _services(request).breakers.snapshot()})


@routes.post("/admin/breaker")
async def set_breaker(request: web.Request) -> web.Response:
    s = _services(request)
    try:
        doc = await _json_body(request)
    except _BadBody:
        return _bad_body(request)
    mode, group = doc.get("mode"), doc.get("group")
    if mode not in MODES:
        return _error(
            request, 400, "ZPROXY_BAD_MODE", "mode must be auto, force_open or force_closed"
        )
    if group is not None and group not in s.breakers:
        return _error(request, 400, "ZPROXY_BAD_GROUP", f"no breaker group {group!r}")
    s.breakers.set_mode(mode, group)
    return json_response({"groups": s.breakers.snapshot()})
