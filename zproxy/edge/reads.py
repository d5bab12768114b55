"""The read path of cacheable routes: identity -> key -> ``decide_read`` -> execute.

A hit is answered by the worker's hot layer (``zproxy.store.hot``) when it holds the entry,
else by one Redis round trip (one MGET: entry + soft-purge marker; the token->principal map
is usually answered by an in-process LRU). Misses and revalidations are coalesced per key,
in-process and across workers; a failed fetch falls back to stale-if-error inside its window.
"""

from __future__ import annotations

from typing import assert_never

import structlog
from aiohttp import web

from zproxy.edge.exchange import Exchange, read_body
from zproxy.edge.read_upstream import (
    Fetched,
    ReadContext,
    fetch_and_store,
    fetch_unless_slow,
    read_back,
    revalidate_in_background,
)
from zproxy.edge.responses import error_response
from zproxy.edge.services import Services
from zproxy.errors import StoreUnavailable, UpstreamBodyTooLarge, UpstreamError
from zproxy.policy import reads as rp
from zproxy.policy.keys import Identity, cache_key, request_body_digest
from zproxy.policy.retry_after import render_retry_after
from zproxy.store.cache import CacheEntry
from zproxy.store.coalesce import Claim
from zproxy.store.hot_sync import get_within
from zproxy.upstream.limiter import LimiterRejected

log = structlog.get_logger("zproxy.reads")
_FAILED_STATUS = frozenset({429, 500, 502, 503, 504})
_DEFAULT_RETRY_AFTER = 5.0


async def handle_read(s: Services, ex: Exchange) -> web.StreamResponse:
    assert ex.match is not None
    assert ex.match.route.read is not None
    route, policy = ex.match.route, ex.match.route.read
    request = ex.request
    body = (
        await read_body(
            request, s.settings.server.max_request_body, s.settings.server.body_read_timeout
        )
        if request.method == "POST"
        else None
    )
    caller = await s.identities.caller(request.headers)
    key: str | None = None
    if caller is not None:
        ex.identity = caller.identity.principal  # for the request log: no second hash
        digest = _body_digest(body) if body is not None else None
        key = _cache_key(s, caller.identity, request.method, ex.path, ex.query, digest)
    group = route.breaker_group(request.method)
    # While Zuora is reachable a miss check also takes the key's coalescing lock (one round
    # trip); with the breaker open nothing will be fetched, so nothing is locked.
    claim = s.coalescer.claim(key) if key is not None and not s.gateway.is_open(group) else None
    entry, cache_ok = await _lookup(s, key, policy.ttl, claim)
    ctx = ReadContext(s, ex, policy, group, body, caller, key, entry, cache_ok, claim)
    action = rp.decide_read(
        entry=entry,
        now=s.clock.time(),
        policy=policy,
        upstream_open=s.gateway.is_open(group),
        has_identity=caller is not None,
        request_no_cache=rp.request_wants_revalidation(request.headers),
        request_no_store=rp.request_forbids_store(request.headers) or not cache_ok,
        retry_after=s.gateway.breaker(group).retry_after(),
        stale_if_slow=s.settings.cache.stale_if_slow,
    )
    try:
        return await _execute(ctx, action)
    finally:
        if claim is not None and claim.held and not claim.used:  # checked here: no await on a hit
            await s.coalescer.drop_claim(claim)  # taken, but nothing was fetched


async def _execute(ctx: ReadContext, action: rp.ReadAction) -> web.StreamResponse:
    s = ctx.s
    route = ctx.ex.route_name
    if isinstance(action, rp.ServeFresh):
        s.metrics.on_cache(route, "hit")
        return _from_entry(ctx, action, action.age)
    if isinstance(action, rp.ServeStaleAndRevalidate):
        s.metrics.on_cache(route, "stale")
        revalidate_in_background(ctx)
        return _from_entry(ctx, action, action.age)
    if isinstance(action, rp.ServeStaleIfError):
        s.metrics.on_cache(route, "stale_if_error")
        return _from_entry(ctx, action, action.age)
    if isinstance(action, rp.Unavailable):
        s.metrics.on_cache(route, "miss")
        return _unavailable(ctx, action, action.retry_after)
    if isinstance(action, rp.Bypass):
        s.metrics.on_cache(route, "bypass")
        return await _fetch(ctx, action)
    if isinstance(action, rp.Fetch):  # counted by _fetch once the outcome is known
        return await _fetch(ctx, action)
    assert_never(action)


async def _lookup(
    s: Services, key: str | None, policy_ttl: float, claim: Claim | None
) -> tuple[CacheEntry | None, bool]:
    if key is None:
        return None, False
    try:
        return await get_within(s.cache, key, policy_ttl, claim), True
    except StoreUnavailable:
        s.metrics.on_redis_error("cache_get")
        return None, False


def _cache_key(
    s: Services, identity: Identity, method: str, path: str, query: str, digest: str | None
) -> str:
    """``cache_key``, memoized: a hit repeats the same identity and request (an HMAC saved)."""
    memo_key = (s.hasher, identity, method, path, query, digest)
    key = _KEYS.get(memo_key)
    if key is None:
        if len(_KEYS) >= _KEYS_SIZE:
            _KEYS.clear()
        key = _KEYS[memo_key] = cache_key(s.hasher, identity, method, path, query, digest)
    return key


_KEYS: dict[tuple[object, ...], str] = {}
_KEYS_SIZE = 16_384


def _body_digest(body: bytes) -> str:
    """POST reads share an entry when their JSON is the same, whatever the key order (any
    body: never raises, see ``request_body_digest``)."""
    return request_body_digest(body)


def _status_header(ctx: ReadContext, value: str) -> None:
    writes, match = ctx.s.writes, ctx.ex.match
    if writes is not None and match is not None:
        # Queued writes will change what this read shows: say so (no Redis call when none are).
        value = writes.annotate_cache_status(value, ctx.policy.tags, match.params)
    ctx.ex.cache = value
    ctx.ex.extra_headers["Cache-Status"] = value


def _from_entry(ctx: ReadContext, action: rp.CacheOutcome, age: float) -> web.Response:
    entry = ctx.entry
    assert entry is not None
    _status_header(ctx, rp.cache_status(action))
    resp = web.Response(status=entry.status, body=entry.body)
    for name, value in entry.headers:
        resp.headers.add(name, value)
    resp.headers["Age"] = rp.age_header(age)
    return resp


def _unavailable(ctx: ReadContext, action: rp.CacheOutcome, retry_after: float) -> web.Response:
    _status_header(ctx, rp.cache_status(action))
    return error_response(
        503,
        "ZPROXY_UPSTREAM_UNAVAILABLE",
        "Zuora is unavailable and no cached answer can be served",
        ctx.ex.request_id,
        headers={"Retry-After": render_retry_after(retry_after)},
    )


async def _fetch(ctx: ReadContext, action: rp.Fetch | rp.Bypass) -> web.StreamResponse:
    s = ctx.s
    store = isinstance(action, rp.Fetch) and action.store
    try:
        if ctx.key is None:
            fetched = await fetch_and_store(ctx, False)
        else:
            fetching = s.coalescer.run(
                ctx.key, lambda: fetch_and_store(ctx, store), lambda: read_back(ctx), ctx.claim
            )
            if isinstance(action, rp.Fetch) and action.stale_after is not None:
                raced = await fetch_unless_slow(ctx, fetching, action.stale_after)
                if isinstance(raced, rp.ServeStaleIfSlow):
                    s.metrics.on_cache(ctx.ex.route_name, "stale_if_error")
                    return _from_entry(ctx, raced, raced.age)
                fetched = raced
            else:
                fetched = await fetching
    except UpstreamError as exc:
        return _after_failure(ctx, action, exc, None)
    if fetched.status in _FAILED_STATUS and isinstance(action, rp.Fetch):
        return _after_failure(ctx, action, None, fetched)
    if isinstance(action, rp.Fetch):
        revalidated = fetched.stored and action.reason != "miss"
        s.metrics.on_cache(ctx.ex.route_name, "revalidated" if revalidated else "miss")
    _status_header(ctx, rp.cache_status(action, stored=fetched.stored, fwd_status=fetched.status))
    resp = web.Response(status=fetched.status, body=fetched.body)
    for name, value in fetched.headers:
        resp.headers.add(name, value)
    return resp


def _after_failure(
    ctx: ReadContext,
    action: rp.Fetch | rp.Bypass,
    exc: UpstreamError | None,
    fetched: Fetched | None,
) -> web.StreamResponse:
    """Zuora failed, or our cap toward it refused the call (``detail=shed``): the stale entry
    inside its stale-if-error window, else a truthful error + Retry-After.

    Zuora's own 5xx/429 passes through (a 503 gets a ``Retry-After`` when it has none; a
    concurrency 429 has none on purpose). When no
    answer came at all (down, timeout, reset, breaker open) a read is 503
    ``ZPROXY_UPSTREAM_UNAVAILABLE``: unlike a write its outcome is never in doubt. A ``Fetch``
    is counted here as ``stale_if_error`` or ``miss`` (a ``Bypass`` was counted already).
    """
    s = ctx.s
    fallback = rp.on_fetch_failure(
        entry=ctx.entry,
        now=s.clock.time(),
        policy=ctx.policy,
        shed=_shed(exc),
    )
    if isinstance(fallback, rp.ServeStaleIfError | rp.ServeStaleShed) and ctx.entry is not None:
        s.metrics.on_cache(ctx.ex.route_name, "stale_if_error")
        return _from_entry(ctx, fallback, fallback.age)
    if isinstance(action, rp.Fetch):
        s.metrics.on_cache(ctx.ex.route_name, "miss")
        _status_header(ctx, rp.cache_status(fallback))
    else:
        _status_header(ctx, rp.cache_status(action))
    retry_after = _retry_after_seconds(ctx, exc)
    if fetched is not None:
        resp = web.Response(status=fetched.status, body=fetched.body)
        for name, value in fetched.headers:
            resp.headers.add(name, value)
        if fetched.status == 503 and "Retry-After" not in resp.headers:
            resp.headers["Retry-After"] = retry_after
        return resp
    assert exc is not None
    if isinstance(exc, UpstreamBodyTooLarge):
        raise exc
    return error_response(
        503,
        "ZPROXY_UPSTREAM_UNAVAILABLE",
        f"{_FAILURE_MESSAGES.get(type(exc).__name__, 'Zuora is unavailable')};"
        " no cached answer can be served",
        ctx.ex.request_id,
        headers={"Retry-After": retry_after},
    )


def _shed(exc: UpstreamError | None) -> bool:
    """Our own concurrency cap refused the call (a 429 cooldown is Zuora's say: stale-if-error)."""
    return isinstance(exc, LimiterRejected) and exc.reason == "concurrency"


_FAILURE_MESSAGES = {
    "UpstreamTimeout": "Zuora did not answer in time",
    "UpstreamProtocolError": "Zuora dropped the connection",
    "UpstreamConnectError": "Zuora cannot be reached",
}


def _retry_after_seconds(ctx: ReadContext, exc: UpstreamError | None) -> str:
    seconds = getattr(exc, "retry_after", None) or ctx.s.gateway.breaker(ctx.group).retry_after()
    return render_retry_after(seconds or _DEFAULT_RETRY_AFTER)
