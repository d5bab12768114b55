"""The read path's calls to Zuora: the per-request context, fetch-and-store (the coalesced
leader's work), the waiter's read-back, the background revalidation, and the race of a fetch
against the stale-if-slow deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import structlog
from multidict import CIMultiDictProxy

from zproxy.edge.exchange import Exchange
from zproxy.edge.identity import Caller
from zproxy.edge.services import Services
from zproxy.errors import StoreUnavailable, UpstreamError
from zproxy.policy import reads as rp
from zproxy.policy.headers import response_headers
from zproxy.policy.routes import ReadPolicy, render_tags
from zproxy.store.cache import CacheEntry, entry_headers
from zproxy.store.coalesce import Claim
from zproxy.store.hot_sync import stored_newer
from zproxy.upstream.gateway import UpstreamCall

log = structlog.get_logger("zproxy.reads")


@dataclass(frozen=True, slots=True)
class Fetched:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    stored: bool
    #: Set when the answer was read back from the cache (another worker fetched it).
    entry: CacheEntry | None = None


@dataclass(slots=True)
class ReadContext:
    s: Services
    ex: Exchange
    policy: ReadPolicy
    group: str
    body: bytes | None
    caller: Caller | None
    key: str | None
    entry: CacheEntry | None
    cache_ok: bool
    #: The coalescing lock the miss check took (or found taken), if it tried.
    claim: Claim | None = None
    call: UpstreamCall | None = None

    def upstream_call(self) -> UpstreamCall:
        """The call to Zuora, built once and only when needed (never on a hit)."""
        if self.call is None:
            self.call = self._build_call()
        return self.call

    def _build_call(self) -> UpstreamCall:
        request = self.ex.request
        assert self.ex.match is not None
        route = self.ex.match.route
        return UpstreamCall(
            route.name,
            self.group,
            route.pool,
            request.method,
            self.ex.path_qs,
            self.ex.forward_headers(drop_accept_encoding=True),
            self.body,
            retry_safe=request.method == "GET" or self.policy.retry,
        )


async def fetch_and_store(ctx: ReadContext, store: bool) -> Fetched:
    s = ctx.s
    resp = await s.gateway.send(ctx.upstream_call())
    ctx.ex.upstream_status = resp.status
    headers = tuple(response_headers(resp.headers.items()))
    stored = False
    if store and ctx.key is not None and _storable(ctx, resp.status, resp.headers, resp.body):
        assert ctx.ex.match is not None
        tags = tuple(render_tags(ctx.policy.tags, ctx.ex.match.params))
        entry = CacheEntry(resp.status, entry_headers(headers), resp.body, s.clock.time(), tags)
        try:
            await s.cache.set(ctx.key, entry, ctx.policy.ttl)
            stored = True
        except StoreUnavailable:
            s.metrics.on_redis_error("cache_set")
    if resp.status in (401, 403):
        await s.identities.refused(ctx.ex.request.headers)
    return Fetched(resp.status, headers, resp.body, stored)


def _storable(ctx: ReadContext, status: int, headers: CIMultiDictProxy[str], body: bytes) -> bool:
    if headers.get("Content-Encoding", "identity").lower() != "identity":
        return False  # we asked for identity; never store an encoding we'd have to replay
    success = rp.body_success(body, headers.get("Content-Type")) if status == 200 else None
    return rp.is_storable(status, headers, success, len(body), ctx.s.settings.cache.max_entry_bytes)


async def read_back(ctx: ReadContext) -> Fetched | None:
    """A waiter's view: the entry another worker stored, if newer than what we held."""
    assert ctx.key is not None
    entry = await ctx.s.cache.get(ctx.key)
    if entry is None or (ctx.entry is not None and entry.stored_at <= ctx.entry.stored_at):
        return None
    return Fetched(entry.status, entry.headers, entry.body, True, entry)


def revalidate_in_background(ctx: ReadContext) -> None:
    s = ctx.s
    assert ctx.key is not None
    key = ctx.key
    if key in _REVALIDATING or len(_REVALIDATING) >= MAX_REVALIDATIONS:
        # at it already, or at the cap: a slow Zuora is not sent a storm of revalidations
        # (each waiting on the concurrency cap); the entry is served stale, a later hit retries
        return
    ctx.upstream_call()  # built now, while the client's connection is still there

    async def refresh() -> Fetched | None:
        if ctx.entry is not None and await stored_newer(s.cache, key, ctx.policy.ttl, ctx.entry):
            return None  # another worker stored a newer answer: now held here, no call needed
        return await fetch_and_store(ctx, True)

    async def revalidate() -> None:
        try:
            result = await s.coalescer.revalidate_once(key, refresh)
            if result is not None and result.stored:
                s.metrics.on_cache(ctx.ex.route_name, "revalidated")
        except UpstreamError as exc:
            log.info("revalidation_failed", route=ctx.ex.route_name, error=type(exc).__name__)
        except Exception:
            log.exception("revalidation_crashed", route=ctx.ex.route_name)

    _REVALIDATING.add(key)
    task = asyncio.create_task(revalidate())
    s.background.add(task)
    task.add_done_callback(s.background.discard)
    task.add_done_callback(lambda _task: _REVALIDATING.discard(key))


#: Keys this worker is revalidating in the background right now, at most MAX_REVALIDATIONS.
_REVALIDATING: set[str] = set()
MAX_REVALIDATIONS = 32


async def fetch_unless_slow(
    ctx: ReadContext, fetching: Coroutine[Any, Any, Fetched], deadline: float
) -> Fetched | rp.ServeStaleIfSlow:
    """``fetching``'s answer, or, when it has none after ``deadline`` seconds and the policy
    lets the stale entry stand in (``on_fetch_slow``), that stand-in. The fetch then goes on in
    the background: it stores what Zuora answers, and the gateway records its outcome with
    the breaker (a hanging Zuora still counts toward opening it)."""
    ctx.upstream_call()  # built now, while the client's connection is still there
    task = asyncio.create_task(fetching)
    try:
        done, _ = await asyncio.wait({task}, timeout=deadline)
    except asyncio.CancelledError:
        task.cancel()  # the client left: as for any fetch of ours
        raise
    if not done:
        slow = rp.on_fetch_slow(entry=ctx.entry, now=ctx.s.clock.time(), policy=ctx.policy)
        if slow is not None:
            _finish_in_background(ctx, task)
            return slow
    return await task


def _finish_in_background(ctx: ReadContext, task: asyncio.Task[Fetched]) -> None:
    s, route = ctx.s, ctx.ex.route_name

    def finished(task: asyncio.Task[Fetched]) -> None:
        s.background.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            if task.result().stored:
                s.metrics.on_cache(route, "revalidated")
        elif isinstance(exc, UpstreamError):
            log.info("slow_fetch_failed", route=route, error=type(exc).__name__)
        else:
            log.error("slow_fetch_crashed", route=route, error=type(exc).__name__)

    s.background.add(task)
    task.add_done_callback(finished)
