"""Queueing a write at the edge: the durable enqueue (bounded by the durability budget) and
its answers, 202 with the status URL, 504 outcome-unknown, or 503 not queued (CONTRACT §2).

Part of the edge's write path: ``zproxy.edge.writes`` calls ``enqueue`` when the policy's
action is ``Queue``.
"""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from zproxy.edge.exchange import Exchange
from zproxy.edge.identity import Caller
from zproxy.edge.responses import error_response
from zproxy.edge.write_context import WriteContext, order_key_of
from zproxy.errors import EnqueueUnknown, NotDurable, StoreUnavailable
from zproxy.queue.idempotency import IdempotencyInFlight
from zproxy.queue.model import QueuedWrite, new_write_id
from zproxy.queue.store import IdempotencyMismatch


async def enqueue(ctx: WriteContext) -> web.Response:
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
