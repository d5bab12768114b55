"""The write path of write routes: read the body -> ``decide_write`` -> execute the action.

Forward while Zuora answers; queue durably (202) when the route allows it and Zuora is
unavailable; otherwise a truthful 503 (never sent) or 504 (outcome unknown). The decisions are
``zproxy.policy.writes``'; this module only executes them (``_execute``, one ``match``).

zproxy adds an ``Idempotency-Key`` to every POST/PATCH that lacks one, so an ambiguous failure
can be replayed later without applying the write twice.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import assert_never

import orjson
from aiohttp import web

from zproxy.edge.exchange import Exchange, read_body
from zproxy.edge.identity import Caller
from zproxy.edge.responses import error_response
from zproxy.edge.services import Services
from zproxy.errors import (
    ClientError,
    EnqueueUnknown,
    NotDurable,
    StoreUnavailable,
    UpstreamError,
)
from zproxy.policy import writes as wp
from zproxy.policy.headers import response_headers
from zproxy.policy.reads import body_success
from zproxy.policy.retry_after import render_retry_after
from zproxy.policy.routes import WritePolicy, render_tags
from zproxy.policy.sensitive import has_card_data
from zproxy.policy.write_body import body_acceptable
from zproxy.queue.idempotency import IdempotencyInFlight
from zproxy.queue.model import QueuedWrite, new_idempotency_key, new_write_id
from zproxy.queue.store import IdempotencyMismatch
from zproxy.store.cache import soft_purge
from zproxy.upstream.client import UpstreamResponse
from zproxy.upstream.gateway import UpstreamCall

KEYED_METHODS = frozenset({"POST", "PATCH"})
_KEY_OK = re.compile(r"^[\x21-\x7e]{1,255}$")


def prefers_async(request: web.BaseRequest) -> bool:
    """RFC 7240: ``Prefer: respond-async`` (among other preferences, any case)."""
    for value in request.headers.getall("Prefer", ()):
        for pref in value.split(","):
            if pref.split(";", 1)[0].strip().lower() == "respond-async":
                return True
    return False


def _json(body: bytes) -> object:
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None


@dataclass(frozen=True, slots=True)
class WriteContext:
    """One write at the edge: what every action needs, read once."""

    s: Services
    ex: Exchange
    policy: WritePolicy
    group: str
    body: bytes
    #: The headers sent upstream (or stored): with zproxy's Idempotency-Key when it added one.
    headers: tuple[tuple[str, str], ...]
    key: str | None
    prefer: bool
    card: bool
    #: The body is what Zuora accepts for this method (a JSON object for POST/PUT/PATCH).
    body_ok: bool

    def upstream_call(self) -> UpstreamCall:
        assert self.ex.match is not None
        route = self.ex.match.route
        method = self.ex.request.method
        return UpstreamCall(
            route.name,
            self.group,
            route.pool,
            method,
            self.ex.path_qs,
            list(self.headers),
            self.body,
        )


async def handle_write(s: Services, ex: Exchange) -> web.StreamResponse:
    ctx = await _context(s, ex)
    action = wp.decide_write(
        ctx.policy,
        breaker_open=s.gateway.is_open(ctx.group),
        prefer_async=ctx.prefer,
        card_data=ctx.card,
        behind_queued=_behind_queued(s, ctx.policy, ex, ctx.body),
        body_ok=ctx.body_ok,
    )
    return await _execute(ctx, action)


async def _context(s: Services, ex: Exchange) -> WriteContext:
    assert ex.match is not None
    route, policy = ex.match.route, ex.match.route.write
    assert policy is not None
    request = ex.request
    body = await read_body(
        request, s.settings.server.max_request_body, s.settings.server.body_read_timeout
    )
    ex.body = body
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _KEY_OK.match(key):
        raise ClientError(
            400,
            "ZPROXY_BAD_IDEMPOTENCY_KEY",
            "Idempotency-Key must be 1-255 printable ASCII characters",
        )
    headers = ex.forward_headers(drop_accept_encoding=True)
    if request.method in KEYED_METHODS and key is None:
        key = new_idempotency_key()
        headers.append(("Idempotency-Key", key))
    return WriteContext(
        s,
        ex,
        policy,
        route.breaker_group(request.method),
        body,
        tuple(headers),
        key,
        prefers_async(request),
        has_card_data(body),
        body_acceptable(request.method, body),
    )


async def _execute(ctx: WriteContext, action: wp.WriteAction) -> web.StreamResponse:
    match action:
        case wp.Forward():
            return await _forward(ctx)
        case wp.Queue():
            return await _enqueue(ctx)
        case wp.Reject(reason=reason):
            return _refuse(ctx, reason)
        case wp.Reject503():
            return _refuse(ctx, "not queueable")
        case wp.Unknown504():
            return _unknown(ctx)
        case wp.InvalidBody():
            return _invalid_body(ctx)
        case _:
            assert_never(action)


async def _forward(ctx: WriteContext) -> web.StreamResponse:
    method = ctx.ex.request.method
    try:
        resp = await ctx.s.gateway.send(ctx.upstream_call())
    except UpstreamError as exc:
        after = wp.on_forward_failure(
            ctx.policy,
            method,
            error_never_sent=exc.never_sent,
            prefer_async=ctx.prefer,
            card_data=ctx.card,
            body_ok=ctx.body_ok,
        )
        return await _execute(ctx, after)
    ctx.ex.upstream_status = resp.status
    later = wp.on_upstream_status(
        ctx.policy,
        method,
        resp.status,
        prefer_async=ctx.prefer,
        card_data=ctx.card,
        body_ok=ctx.body_ok,
    )
    if later is not None:
        return await _execute(ctx, later)
    return await _relay(ctx, resp)


async def _relay(ctx: WriteContext, resp: UpstreamResponse) -> web.Response:
    """Zuora's answer as it came, after its side effects on the cache and identities."""
    if 200 <= resp.status < 300:
        if body_success(resp.body, resp.headers.get("Content-Type")) is False:
            ctx.s.metrics.on_upstream_success_false(ctx.ex.route_name)
        await _after_success(ctx.s, ctx.ex, ctx.policy, ctx.body, resp.body)
    elif resp.status in (401, 403):
        await ctx.s.identities.refused(ctx.ex.request.headers)
    out = web.Response(status=resp.status, body=resp.body)
    for name, value in response_headers(resp.headers.items()):
        out.headers.add(name, value)
    return out


def order_key_of(policy: WritePolicy, ex: Exchange, body: bytes) -> str | None:
    """The rendered ``order_key`` of the route, or None (none configured, or a field missing)."""
    if not policy.order_key or ex.match is None:
        return None
    rendered = render_tags([policy.order_key], ex.match.params, _json(body))
    return rendered[0] if rendered else None


def _behind_queued(s: Services, policy: WritePolicy, ex: Exchange, body: bytes) -> bool:
    """Writes for this order key are waiting in the queue (in-process view: no Redis call,
    and nothing is rendered while no write is queued at all)."""
    writes = s.writes
    if writes is None or not writes.pending or not policy.order_key:
        return False
    key = order_key_of(policy, ex, body)
    return key is not None and writes.has_pending(key)


async def _after_success(
    s: Services, ex: Exchange, policy: WritePolicy, body: bytes, response: bytes
) -> None:
    if ex.path == "/oauth/token":
        await s.identities.learn_token(body, response)
        return
    doc = _json(response)
    if isinstance(doc, dict) and doc.get("success", doc.get("Success")) is False:
        return
    assert ex.match is not None
    tags = render_tags(policy.invalidates, ex.match.params, _json(body), doc)
    if tags:
        await soft_purge(s.cache, tags, s.metrics.on_redis_error)


def _refuse(ctx: WriteContext, reason: str) -> web.Response:
    retry_after = ctx.s.gateway.breaker(ctx.group).retry_after()
    return error_response(
        503,
        "ZPROXY_UPSTREAM_UNAVAILABLE",
        f"Zuora is unavailable and this write cannot be queued ({reason})",
        ctx.ex.request_id,
        headers={"Retry-After": render_retry_after(retry_after)},
        queued=False,
        idempotencyKey=ctx.key,
    )


def _invalid_body(ctx: WriteContext) -> web.Response:
    """Zuora is unavailable and this body is not one it accepts: say so now, queue nothing."""
    return error_response(
        400,
        "ZPROXY_INVALID_BODY",
        f"The request body must be a JSON object for {ctx.ex.request.method} on this route; "
        "Zuora is unavailable and the write was not queued",
        ctx.ex.request_id,
        queued=False,
        idempotencyKey=ctx.key,
    )


def _unknown(ctx: WriteContext) -> web.Response:
    key = ctx.key
    message = "Zuora did not confirm the outcome of this write; it may have been applied. " + (
        "Retry with the same Idempotency-Key." if key else "Check before retrying."
    )
    return error_response(
        504, "ZPROXY_OUTCOME_UNKNOWN", message, ctx.ex.request_id, idempotencyKey=key
    )


async def _enqueue(ctx: WriteContext) -> web.Response:
    s, ex = ctx.s, ctx.ex
    writes = s.writes
    caller: Caller | None = await s.identities.caller(ex.request.headers)
    if writes is None or caller is None:
        why = "no credentials" if caller is None else "queueing is disabled"
        return _not_queued(ex, ctx.key, why)
    write = _queued_write(ctx, caller, s.clock.time())
    try:
        async with asyncio.timeout(s.settings.queue.durability_timeout_ms / 1000 + 1):
            result = await writes.enqueue(write)
    except IdempotencyMismatch:
        return error_response(
            422,
            "ZPROXY_IDEMPOTENCY_KEY_MISMATCH",
            "This Idempotency-Key was already used with another request",
            ex.request_id,
            queued=False,
        )
    except IdempotencyInFlight:
        return error_response(
            409,
            "ZPROXY_IDEMPOTENCY_KEY_IN_FLIGHT",
            "A request with this Idempotency-Key is still being queued; retry shortly",
            ex.request_id,
            queued=False,
        )
    except EnqueueUnknown as exc:
        return _maybe_queued(ex, exc.write_id, write.idempotency_key)
    except TimeoutError:
        # Cancelled mid-enqueue: the script may have reached Redis and run after all.
        return _maybe_queued(ex, write.id, write.idempotency_key)
    except (NotDurable, StoreUnavailable):
        s.metrics.on_write_refused(ex.route_name)
        return _not_queued(ex, write.idempotency_key, "durable storage is unavailable")
    return _accepted(ex, result.write_id, write.idempotency_key)


def _queued_write(ctx: WriteContext, caller: Caller, now: float) -> QueuedWrite:
    ex = ctx.ex
    assert ex.match is not None
    order_key = order_key_of(ctx.policy, ex, ctx.body)
    write_id = new_write_id(now)
    return QueuedWrite.create(
        method=ex.request.method,
        path=ex.path_qs,
        headers=ctx.headers,
        body=ctx.body,
        identity=caller.identity.principal,
        # Without an order key (e.g. a body field is missing) the write is its own line.
        order_key=order_key or "write:" + write_id,
        route=ex.match.route.name,
        accepted_at=now,
        idempotency_key=ctx.key,
        write_id=write_id,
    )


def _accepted(ex: Exchange, write_id: str, key: str | None) -> web.Response:
    """CONTRACT §2: 202 with Location, Preference-Applied and the write's status URL."""
    status_url = f"/_zproxy/writes/{write_id}"
    ex.extra_headers["Preference-Applied"] = "respond-async"
    body = {
        "success": True,
        "queued": True,
        "writeId": write_id,
        "idempotencyKey": key,
        "statusUrl": status_url,
    }
    return web.Response(
        status=202,
        body=orjson.dumps(body),
        content_type="application/json",
        headers={"Location": status_url},
    )


def _maybe_queued(ex: Exchange, write_id: str, key: str) -> web.Response:
    """Redis failed or stalled mid-enqueue and the write could not be withdrawn: if it was
    stored it will be applied, so neither 202 nor "not queued"; its status URL tells which."""
    status_url = f"/_zproxy/writes/{write_id}"
    return error_response(
        504,
        "ZPROXY_OUTCOME_UNKNOWN",
        "Redis failed while this write was being queued; it may have been queued, and then "
        "will be applied. Check statusUrl before retrying.",
        ex.request_id,
        writeId=write_id,
        idempotencyKey=key,
        statusUrl=status_url,
    )


def _not_queued(ex: Exchange, key: str | None, why: str) -> web.Response:
    return error_response(
        503,
        "ZPROXY_UPSTREAM_UNAVAILABLE",
        f"Zuora is unavailable and the write was not queued: {why}",
        ex.request_id,
        headers={"Retry-After": "5"},
        queued=False,
        idempotencyKey=key,
    )
