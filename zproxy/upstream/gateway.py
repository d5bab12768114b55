"""Every call to Zuora goes through here: breaker permit, concurrency slot (with the 429
cooldown), the pooled client, retries for safe requests only, and one metrics report per
attempt. Decisions are taken under no await; then the I/O runs.

Per attempt, whatever happens (answer, error, limiter refusal, cancellation):
- the breaker permit is recorded exactly once (``NOT_COUNTED`` when Zuora said nothing: refused
  by our limiter, cancelled, or the client's own request body failed);
- the limiter slot is released; for ``stream`` only once the caller is done with the body;
- one ``zproxy_upstream_requests_total`` sample: ``ok``/``4xx``/``429``/``5xx``, an error name
  (``timeout``, ``connecterror``, ``protocolerror``, ...), ``breaker_open``,
  ``limiter_rejected``, ``client_body_error`` or ``cancelled``;
- an ``UpstreamError`` (nothing or no proper answer from Zuora) is logged at ``warning`` as
  ``upstream_error`` with its bounded ``cause`` (``boundary.CAUSES``) and counted in
  ``zproxy_upstream_errors_total{route,cause}``; so is one met while reading a streamed body;
- a 429 starts the pool's cooldown (``Retry-After``, else ``RateLimit-Reset`` when the quota is
  spent, else one second), so nothing more reaches Zuora before it ends.
Writes (``retry_safe=False``) are sent exactly once; the client never resends them either.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass

import structlog

from zproxy.clock import Clock
from zproxy.errors import UpstreamBodyTooLarge, UpstreamError
from zproxy.observability.metrics import Metrics
from zproxy.policy.outcomes import Outcome, classify_outcome
from zproxy.policy.retry_after import cooldown_after_429, parse_retry_after
from zproxy.upstream.boundary import UpstreamStream, cause_of
from zproxy.upstream.breaker import BreakerSet
from zproxy.upstream.breaker_model import BreakerOpen, Permit, Rejected
from zproxy.upstream.breaker_state import Breaker
from zproxy.upstream.client import Body, UpstreamClient, UpstreamResponse
from zproxy.upstream.limiter import Limiter, LimiterRejected, Slot
from zproxy.upstream.retry import RetryPolicy

_RETRYABLE_STATUS = frozenset({502, 503, 504})
#: Cooldown after a 429 that says neither Retry-After nor RateLimit-Reset (a concurrency 429).
_DEFAULT_429_COOLDOWN = 1.0
_DETAIL_CHARS = 200

log = structlog.get_logger("zproxy.upstream")


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    route: str
    group: str
    pool: str
    method: str
    path_qs: str
    headers: list[tuple[str, str]]
    body: bytes | None = None
    #: GET/HEAD and POST reads the route table marks safe; never a write.
    retry_safe: bool = False


def outcome_label(status: int | None, error: BaseException | None = None) -> str:
    if error is not None:
        return type(error).__name__.removeprefix("Upstream").lower() or "error"
    assert status is not None
    if status >= 500:
        return "5xx"
    if status == 429:
        return "429"
    return "4xx" if status >= 400 else "ok"


class Gateway:
    def __init__(
        self,
        client: UpstreamClient,
        breakers: BreakerSet,
        limiter: Limiter,
        retry: RetryPolicy,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self.client = client
        self.breakers = breakers
        self.limiter = limiter
        self.retry = retry
        self.metrics = metrics
        self.clock = clock

    def breaker(self, group: str) -> Breaker:
        return self.breakers[group] if group in self.breakers else self.breakers["reads"]

    def is_open(self, group: str) -> bool:
        """True when the group's breaker refuses calls right now (open or forced open)."""
        return self.breaker(group).state == "open"

    async def send(self, call: UpstreamCall) -> UpstreamResponse:
        if not call.retry_safe:
            return await self._once(call)

        async def attempt() -> UpstreamResponse:  # a coroutine function: tenacity awaits it
            return await self._once(call)

        return await self.retry.run(attempt, is_retryable=self._retryable)

    def _retryable(self, result: object) -> float | None:
        if isinstance(result, BreakerOpen | LimiterRejected | UpstreamBodyTooLarge):
            return None
        if isinstance(result, UpstreamError):
            return 0.0
        if isinstance(result, UpstreamResponse) and result.status in _RETRYABLE_STATUS:
            after = result.headers.get("Retry-After")
            return (parse_retry_after(after, self.clock.time()) or 0.0) if after else 0.0
        return None

    def _permit(self, call: UpstreamCall) -> tuple[Breaker, Permit]:
        breaker = self.breaker(call.group)
        permit = breaker.acquire()
        if isinstance(permit, Rejected):
            self.metrics.on_upstream(call.route, "breaker_open", None)
            raise permit.to_error()
        return breaker, permit

    async def _admit(self, call: UpstreamCall, breaker: Breaker, permit: Permit) -> Slot:
        """A limiter slot for the permitted call; on refusal (or cancellation while waiting)
        the permit is handed back and the attempt reported, since nothing was sent."""
        try:
            return await self.limiter.acquire(call.pool)
        except BaseException as exc:
            breaker.record(permit, Outcome.NOT_COUNTED)
            label = "limiter_rejected" if isinstance(exc, LimiterRejected) else _aborted(exc)
            self.metrics.on_upstream(call.route, label, None)
            raise

    def _cooldown(self, call: UpstreamCall, status: int, headers: Mapping[str, str]) -> None:
        """A 429 holds the pool back (Retry-After, else RateLimit-Reset, else a second)."""
        if status != 429:
            return
        seconds = cooldown_after_429(headers, self.clock.time(), _DEFAULT_429_COOLDOWN)
        if seconds > 0:
            self.limiter.note_retry_after(call.pool, seconds)

    def _failed(self, call: UpstreamCall, error: UpstreamError) -> None:
        """One upstream failure: logged with its cause and counted."""
        cause = cause_of(error)
        foreign = error.__cause__ if error.__cause__ is not None else error
        self.metrics.on_upstream_error(call.route, cause)
        log.warning(
            "upstream_error",
            route=call.route,
            group=call.group,
            method=call.method,
            cause=cause,
            error=type(foreign).__name__,
            detail=str(foreign)[:_DETAIL_CHARS],
        )

    async def _once(self, call: UpstreamCall) -> UpstreamResponse:
        breaker, permit = self._permit(call)
        slot = await self._admit(call, breaker, permit)
        outcome, label, seconds = Outcome.NOT_COUNTED, "error", None
        started = time.perf_counter()
        try:
            resp = await self.client.request(call.method, call.path_qs, call.headers, call.body)
            outcome, label = classify_outcome(resp.status, None), outcome_label(resp.status)
            seconds = time.perf_counter() - started
            self._cooldown(call, resp.status, resp.headers)
            return resp
        except BaseException as exc:
            if isinstance(exc, UpstreamError):
                outcome, label = classify_outcome(None, exc), outcome_label(None, exc)
                self._failed(call, exc)
            else:
                label = _aborted(exc)
            raise
        finally:
            self.limiter.release(slot)
            breaker.record(permit, outcome)
            self.metrics.on_upstream(call.route, label, seconds)

    @contextlib.asynccontextmanager
    async def stream(self, call: UpstreamCall, body: Body) -> AsyncIterator[UpstreamStream]:
        """A streamed exchange: the slot is held until the caller is done with the body. The
        breaker learns the outcome from the status line; a failure of the *client's* request
        body (too slow, too large) is not held against Zuora."""
        breaker, permit = self._permit(call)
        watch = _BodyWatch()
        if body is not None and not isinstance(body, bytes):
            body = watch.relay(body)
        slot = await self._admit(call, breaker, permit)
        try:
            started = time.perf_counter()
            try:
                resp = await self.client.open_stream(call.method, call.path_qs, call.headers, body)
            except BaseException as exc:
                if watch.failed:
                    outcome, label = Outcome.NOT_COUNTED, "client_body_error"
                elif isinstance(exc, UpstreamError):
                    outcome, label = classify_outcome(None, exc), outcome_label(None, exc)
                    self._failed(call, exc)
                else:
                    outcome, label = Outcome.NOT_COUNTED, _aborted(exc)
                breaker.record(permit, outcome)
                self.metrics.on_upstream(call.route, label, None)
                raise
            breaker.record(permit, classify_outcome(resp.status, None))
            seconds = time.perf_counter() - started
            self.metrics.on_upstream(call.route, outcome_label(resp.status), seconds)
            self._cooldown(call, resp.status, resp.headers)
            try:
                yield resp
            except UpstreamError as exc:  # reading the body failed
                self._failed(call, exc)
                raise
            finally:
                resp.release()
        finally:
            self.limiter.release(slot)


class _BodyWatch:
    """Relays the client's request body upstream and remembers whether the *client's* side
    failed (our edge raises there for a too slow or too large body)."""

    __slots__ = ("failed",)

    def __init__(self) -> None:
        self.failed = False

    async def relay(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        try:
            async for chunk in chunks:
                yield chunk
        except Exception:
            self.failed = True
            raise


def _aborted(exc: BaseException) -> str:
    return "cancelled" if isinstance(exc, asyncio.CancelledError) else "error"
