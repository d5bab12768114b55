"""The write path: forward while Zuora answers; queue durably (202) when the route allows it and
Zuora is unavailable; otherwise a truthful 503 (never sent) or 504 (outcome unknown).

zproxy adds an ``Idempotency-Key`` to every POST/PATCH that lacks one, so an ambiguous failure
can be replayed later without applying the write twice.
"""

from __future__ import annotations

import asyncio
import re

import orjson
from aiohttp import web

from zproxy.edge.exchange import Exchange, read_body
from zproxy.edge.identity import Caller
from zproxy.edge.responses import error_response
from zproxy.edge.services import Services
from zproxy.errors import ClientError, NotDurable, StoreUnavailable, UpstreamError
from zproxy.observability.logging import luhn_ok
from zproxy.policy import writes as wp
from zproxy.policy.headers import response_headers
from zproxy.policy.routes import WritePolicy, render_tags
from zproxy.queue.model import QueuedWrite, new_idempotency_key, new_write_id
from zproxy.queue.store import IdempotencyMismatch
from zproxy.store.cache import soft_purge
from zproxy.upstream.gateway import UpstreamCall

KEYED_METHODS = frozenset({"POST", "PATCH"})
_CARD_FIELDS = re.compile(
    rb'"(?:creditCardNumber|cardNumber|securityCode|cardSecurityCode)"\s*:', re.IGNORECASE
)
_DIGIT_RUN = re.compile(rb"(?<![0-9A-Za-z])(?:\d[ -]?){12,18}\d(?![0-9A-Za-z])")
_KEY_OK = re.compile(r"^[\x21-\x7e]{1,255}$")


def has_card_data(body: bytes) -> bool:
    """Card fields, or a digit run that passes the Luhn check: never queued, never stored."""
    if _CARD_FIELDS.search(body):
        return True
    return any(luhn_ok(re.sub(rb"\D", b"", m.group(0)).decode()) for m in _DIGIT_RUN.finditer(body))


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


async def handle_write(s: Services, ex: Exchange) -> web.StreamResponse:
    assert ex.match is not None
    assert ex.match.route.write is not None
    route, policy = ex.match.route, ex.match.route.write
    request = ex.request
    method = request.method
    body = await read_body(
        request, s.settings.server.max_request_body, s.settings.server.body_read_timeout
    )
    client_key = request.headers.get("Idempotency-Key")
    if client_key is not None and not _KEY_OK.match(client_key):
        raise ClientError(
            400,
            "ZPROXY_BAD_IDEMPOTENCY_KEY",
            "Idempotency-Key must be 1-255 printable ASCII characters",
        )
    headers = ex.forward_headers(drop_accept_encoding=True)
    key = client_key
    if method in KEYED_METHODS and key is None:
        key = new_idempotency_key()
        headers.append(("Idempotency-Key", key))
    prefer = prefers_async(request)
    card = has_card_data(body)
    group = route.breaker_group(method)
    decision = wp.decide_write(
        policy,
        breaker_open=s.gateway.is_open(group),
        prefer_async=prefer,
        card_data=card,
        behind_queued=_behind_queued(s, policy, ex, body),
    )
    if isinstance(decision, wp.Reject):
        return _refuse(ex, s.gateway.breaker(group).retry_after(), key, decision.reason)
    if isinstance(decision, wp.Queue):
        return await _enqueue(s, ex, policy, headers, body, key)
    call = UpstreamCall(route.name, group, route.pool, method, ex.path_qs, headers, body)
    try:
        resp = await s.gateway.send(call)
    except UpstreamError as exc:
        after = wp.on_forward_failure(
            policy, method, error_never_sent=exc.never_sent, prefer_async=prefer, card_data=card
        )
        if isinstance(after, wp.Queue):
            return await _enqueue(s, ex, policy, headers, body, key)
        if isinstance(after, wp.Unknown504) and not exc.never_sent:
            return _unknown(ex, key)
        if isinstance(after, wp.Reject503):
            return _refuse(ex, s.gateway.breaker(group).retry_after(), key, "not queueable")
        raise
    ex.upstream_status = resp.status
    later = wp.on_upstream_status(policy, method, resp.status, prefer_async=prefer, card_data=card)
    if later is not None:
        return await _enqueue(s, ex, policy, headers, body, key)
    if 200 <= resp.status < 300:
        await _after_success(s, ex, policy, body, resp.body)
    elif resp.status in (401, 403):
        await s.identities.refused(request.headers)
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


def _refuse(ex: Exchange, retry_after: float, key: str | None, reason: str) -> web.Response:
    return error_response(
        503,
        "ZPROXY_UPSTREAM_UNAVAILABLE",
        f"Zuora is unavailable and this write cannot be queued ({reason})",
        ex.request_id,
        headers={"Retry-After": str(max(1, int(retry_after + 0.999)))},
        queued=False,
        idempotencyKey=key,
    )


def _unknown(ex: Exchange, key: str | None) -> web.Response:
    message = "Zuora did not confirm the outcome of this write; it may have been applied. " + (
        "Retry with the same Idempotency-Key." if key else "Check before retrying."
    )
    return error_response(504, "ZPROXY_OUTCOME_UNKNOWN", message, ex.request_id, idempotencyKey=key)


async def _enqueue(
    s: Services,
    ex: Exchange,
    policy: WritePolicy,
    headers: list[tuple[str, str]],
    body: bytes,
    key: str | None,
) -> web.Response:
    writes = s.writes
    caller: Caller | None = await s.identities.caller(ex.request.headers)
    if writes is None or caller is None:
        why = "no credentials" if caller is None else "queueing is disabled"
        return _not_queued(ex, key, why)
    assert ex.match is not None
    order_key = order_key_of(policy, ex, body)
    now = s.clock.time()
    write_id = new_write_id(now)
    write = QueuedWrite.create(
        method=ex.request.method,
        path=ex.path_qs,
        headers=tuple(headers),
        body=body,
        identity=caller.identity.principal,
        # Without an order key (e.g. a body field is missing) the write is its own line.
        order_key=order_key or "write:" + write_id,
        route=ex.match.route.name,
        accepted_at=now,
        idempotency_key=key,
        write_id=write_id,
    )
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
    except (NotDurable, StoreUnavailable, TimeoutError):
        s.metrics.on_write_refused(ex.route_name)
        return _not_queued(ex, write.idempotency_key, "durable storage is unavailable")
    status_url = f"/_zproxy/writes/{result.write_id}"
    ex.extra_headers["Preference-Applied"] = "respond-async"
    return web.Response(
        status=202,
        body=orjson.dumps(
            {
                "success": True,
                "queued": True,
                "writeId": result.write_id,
                "idempotencyKey": write.idempotency_key,
                "statusUrl": status_url,
            }
        ),
        content_type="application/json",
        headers={"Location": status_url},
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
