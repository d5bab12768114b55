"""The write path of write routes: read the body -> ``decide_write`` -> execute the action.

Forward while Zuora answers; queue durably (202) when the route allows it and Zuora is
unavailable; otherwise a truthful 503 (never sent) or 504 (outcome unknown). The decisions are
``zproxy.policy.writes``'; this module only executes them (``_execute``, one ``match``), with
``write_context`` (the write read once) and ``write_enqueue`` (the queued answers).

zproxy adds an ``Idempotency-Key`` to every POST/PATCH that lacks one, so an ambiguous failure
can be replayed later without applying the write twice.
"""

from __future__ import annotations

from typing import assert_never

from aiohttp import web

from zproxy.edge.exchange import Exchange
from zproxy.edge.responses import error_response
from zproxy.edge.services import Services
from zproxy.edge.write_context import WriteContext, build_context, json_or_none, order_key_of
from zproxy.edge.write_enqueue import enqueue
from zproxy.errors import UpstreamError
from zproxy.policy import writes as wp
from zproxy.policy.headers import response_headers
from zproxy.policy.reads import body_success
from zproxy.policy.retry_after import render_retry_after
from zproxy.policy.routes import WritePolicy, render_tags
from zproxy.store.cache import soft_purge
from zproxy.upstream.client import UpstreamResponse


async def handle_write(s: Services, ex: Exchange) -> web.StreamResponse:
    ctx = await build_context(s, ex)
    action = wp.decide_write(
        ctx.policy,
        breaker_open=s.gateway.is_open(ctx.group),
        prefer_async=ctx.prefer,
        card_data=ctx.card,
        behind_queued=_behind_queued(s, ctx.policy, ex, ctx.body),
        body_ok=ctx.body_ok,
    )
    return await _execute(ctx, action)


async def _execute(ctx: WriteContext, action: wp.WriteAction) -> web.StreamResponse:
    match action:
        case wp.Forward():
            return await _forward(ctx)
        case wp.Queue():
            return await enqueue(ctx)
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
    doc = json_or_none(response)
    if isinstance(doc, dict) and doc.get("success", doc.get("Success")) is False:
        return
    assert ex.match is not None
    tags = render_tags(policy.invalidates, ex.match.params, json_or_none(body), doc)
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
