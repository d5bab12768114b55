"""The one middleware every Zuora request goes through (``/__fake/`` bypasses it).

front faults -> auth -> rate window -> concurrency cap -> idempotency -> lock competition ->
processing faults (slow, timeout) -> handler -> ledger + idempotency record -> post faults.
Every answer gets Zuora's headers; dropped connections never get an answer.
"""

from __future__ import annotations

import hashlib
import uuid

from aiohttp import web

from zproxy.testing.fake_zuora import responses as r
from zproxy.testing.fake_zuora.context import (
    AUTH,
    CTX,
    READS,
    WRITES,
    Endpoint,
    Handler,
    Reply,
    RequestCtx,
)
from zproxy.testing.fake_zuora.fake import FAKE, FakeZuora
from zproxy.testing.fake_zuora.faults import FaultPlan, FaultRule, RequestInfo
from zproxy.testing.fake_zuora.idempotency import MAX_KEY_LENGTH, Outcome

ENDPOINTS = web.AppKey("fake_zuora_endpoints", dict[tuple[str, str], Endpoint])
#: Status recorded (and logged) for a request whose connection the fake dropped.
DROPPED = 444
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_IDEMPOTENT_METHODS = frozenset({"POST", "PATCH"})


class _Dropped(Exception):
    """The connection was aborted on purpose; nothing may be sent."""


def _drop(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()
    raise _Dropped


def _endpoint(request: web.Request) -> Endpoint | None:
    resource = request.match_info.route.resource
    if resource is None:
        return None
    return request.app[ENDPOINTS].get((request.method, resource.canonical))


@web.middleware
async def pipeline(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/__fake/"):
        return await handler(request)
    fake = request.app[FAKE]
    ep = _endpoint(request)
    group = ep.group if ep else (READS if request.method in {"GET", "HEAD"} else WRITES)
    ctx = RequestCtx(
        request_id=str(uuid.uuid4()),
        track_id=request.headers.get("Zuora-Track-Id"),
        group=group,
        groups=ep.groups if ep else frozenset({group}),
    )
    request[CTX] = ctx
    fake.stats.enter()
    status = "cancelled"
    try:
        resp = await _process(fake, request, ctx, ep, handler)
        status = str(resp.status)
        return resp
    except _Dropped:
        status = "dropped"
        return web.Response(status=DROPPED)
    finally:
        fake.stats.leave(request.method, group, status, request.path)


async def _process(
    fake: FakeZuora, request: web.Request, ctx: RequestCtx, ep: Endpoint | None, handler: Handler
) -> web.StreamResponse:
    info = RequestInfo(request.method, request.path, ctx.groups)
    plan = fake.faults.plan(info, fake.clock.monotonic())
    if plan.front is not None:
        fake.stats.faults[plan.front.mode] += 1
        return _finish(fake, ctx, _front_fault(request, ctx, plan.front))
    if ep is None:
        return _finish(fake, ctx, _unknown_route(request, ctx))
    if ep.group == AUTH:
        return _finish(fake, ctx, await _run(fake, request, ctx, ep, handler, plan, info))
    ctx.principal = fake.auth.authenticate(request.headers)
    if ctx.principal is None:
        return _finish(fake, ctx, r.unauthorized())
    tenant = ctx.principal.tenant
    ctx.state = fake.tenant(tenant)
    limit, remaining, reset = fake.rate.hit(tenant, fake.clock.monotonic())
    ctx.headers.update(
        {
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(reset),
        }
    )
    if fake.rate.exceeded(tenant):
        return _finish(fake, ctx, r.rate_limited(ctx.request_id, reset))
    if not fake.limiter.try_acquire(tenant, ep.pool):
        _concurrency_headers(fake, ctx, ep)
        return _finish(fake, ctx, r.too_many_concurrent())
    try:
        resp = await _run(fake, request, ctx, ep, handler, plan, info)
        _concurrency_headers(fake, ctx, ep)
        return _finish(fake, ctx, resp)
    finally:
        fake.limiter.release(tenant, ep.pool)


def _concurrency_headers(fake: FakeZuora, ctx: RequestCtx, ep: Endpoint) -> None:
    tenant = ctx.tenant.tenant
    ctx.headers["Concurrency-Limit-Type"] = "Default"
    ctx.headers["Concurrency-Limit-Limit"] = str(fake.limiter.limit(ep.pool))
    ctx.headers["Concurrency-Limit-Remaining"] = str(fake.limiter.remaining(tenant, ep.pool))


def _finish(fake: FakeZuora, ctx: RequestCtx, resp: web.Response) -> web.Response:
    headers = resp.headers
    headers["Zuora-Request-Id"] = ctx.request_id
    if ctx.track_id is not None:
        headers["Zuora-Track-Id"] = ctx.track_id
    limit = str(fake.rate.per_minute)
    ctx.headers.setdefault("RateLimit-Limit", limit)
    ctx.headers.setdefault("RateLimit-Remaining", limit)
    ctx.headers.setdefault("RateLimit-Reset", "60")
    concurrency = str(fake.limiter.limit("default"))
    ctx.headers.setdefault("Concurrency-Limit-Type", "Default")
    ctx.headers.setdefault("Concurrency-Limit-Limit", concurrency)
    ctx.headers.setdefault("Concurrency-Limit-Remaining", concurrency)
    headers.update(ctx.headers)
    return resp


def _front_fault(request: web.Request, ctx: RequestCtx, rule: FaultRule) -> web.Response:
    if rule.mode == "reset":
        _drop(request)
    if rule.mode == "ratelimit":
        ctx.headers.update({"RateLimit-Remaining": "0", "RateLimit-Reset": str(rule.retry_after)})
        return r.rate_limited(ctx.request_id, rule.retry_after)
    return r.unavailable(ctx.request_id, rule.status)


def _unknown_route(request: web.Request, ctx: RequestCtx) -> web.Response:
    exc = request.match_info.http_exception
    status = exc.status if exc is not None else 404
    message = "Method not allowed." if status == 405 else "The requested resource does not exist."
    return r.v1_error(r.NOT_FOUND, message, ctx.request_id, status=status)


async def _run(
    fake: FakeZuora,
    request: web.Request,
    ctx: RequestCtx,
    ep: Endpoint,
    handler: Handler,
    plan: FaultPlan,
    info: RequestInfo,
) -> web.Response:
    """Idempotency, lock competition, processing faults, the handler, ledger, post faults."""
    if request.method in _BODY_METHODS:
        ctx.body = await request.read()
    key = None
    if request.method in _IDEMPOTENT_METHODS and ctx.state is not None:
        key = request.headers.get("Idempotency-Key")
    if key is not None:
        early = _idempotency_check(fake, request, ctx, key)
        if early is not None:
            return early
    state = ctx.state
    if state is not None and ep.account_of is not None:
        ctx.account = ep.account_of(request, ctx.json(), state)
    completed = False
    try:
        if plan.lock is not None and (
            not plan.lock.concurrent_only or (ctx.account and state and state.writing[ctx.account])
        ):
            fake.stats.faults["lock_competition"] += 1
            return r.lock_competition(ctx.request_id, plan.lock.status)
        resp = await _apply(fake, request, ctx, handler, plan, info)
        if key is not None:
            assert isinstance(resp.body, bytes)
            fake.idempotency.complete(key, resp.status, resp.body, resp.content_type)
        completed = True
    finally:
        if key is not None and not completed:
            fake.idempotency.abandon(key)
    if plan.post is not None:
        fake.stats.faults[plan.post.mode] += 1
        _drop(request)
    return resp


async def _apply(
    fake: FakeZuora,
    request: web.Request,
    ctx: RequestCtx,
    handler: Handler,
    plan: FaultPlan,
    info: RequestInfo,
) -> web.Response:
    state, account = ctx.state, ctx.account
    if state is not None and account is not None:
        state.writing[account] += 1
    try:
        await _processing_fault(fake, request, plan, info)
        try:
            resp = await handler(request)
        except Reply as reply:
            resp = reply.response
        assert isinstance(resp, web.Response)
    finally:
        if state is not None and account is not None:
            state.writing[account] -= 1
    if ctx.applied and resp.status < 400:
        fake.ledger.record(
            method=request.method,
            path=request.path_qs,
            idempotency_key=request.headers.get("Idempotency-Key"),
            account=ctx.account,
            at=fake.clock.time(),
            status=resp.status,
            tenant=state.tenant if state is not None else 0,
            request_id=ctx.request_id,
        )
    return resp


async def _processing_fault(
    fake: FakeZuora, request: web.Request, plan: FaultPlan, info: RequestInfo
) -> None:
    rule = plan.processing
    if rule is None:
        return
    fake.stats.faults[rule.mode] += 1
    if rule.mode == "slow":
        await fake.holds.wait(plan.latency)
        return
    # timeout: hang until the client gives up (handler cancelled) or the fault is lifted,
    # then drop the connection without an answer.
    while fake.still_faulted(rule, info):
        await fake.holds.wait(0.05)
    _drop(request)


def _idempotency_check(
    fake: FakeZuora, request: web.Request, ctx: RequestCtx, key: str
) -> web.Response | None:
    if not key or len(key) > MAX_KEY_LENGTH:
        return r.bad_request(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.", ctx.request_id
        )
    outcome, record = fake.idempotency.begin(
        key,
        tenant=ctx.tenant.tenant,
        method=request.method,
        url=request.path_qs,
        body_hash=hashlib.sha256(ctx.body).hexdigest(),
        now=fake.clock.time(),
    )
    if outcome is Outcome.NEW:
        return None
    if outcome is Outcome.REPLAY:
        fake.stats.idempotent_replays += 1
        resp = web.Response(
            body=record.body, status=record.status, content_type=record.content_type
        )
        resp.headers["Idempotent-Replayed"] = "true"
        return resp
    if outcome is Outcome.IN_FLIGHT:
        return r.v1_error(
            r.IDEMPOTENCY_CONFLICT,
            "A request with the same Idempotency-Key is still being processed.",
            ctx.request_id,
            status=409,
        )
    return r.v1_error(
        r.IDEMPOTENCY_MISMATCH,
        "The Idempotency-Key was used with another tenant, method, URL or body.",
        ctx.request_id,
        status=422,
    )
