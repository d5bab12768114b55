"""Every call to Zuora goes through here: breaker permit, concurrency slot (with the 429
cooldown), the pooled client, retries for safe requests only, and one metrics report per
attempt. Decisions are taken under no await; then the I/O runs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import aiohttp

from zproxy.clock import Clock
from zproxy.errors import UpstreamBodyTooLarge, UpstreamError
from zproxy.observability.metrics import Metrics
from zproxy.policy.outcomes import Outcome, classify_outcome
from zproxy.policy.retry_after import parse_retry_after
from zproxy.upstream.breaker import Breaker, BreakerOpen, BreakerSet, Permit, Rejected
from zproxy.upstream.client import Body, UpstreamClient, UpstreamResponse
from zproxy.upstream.limiter import ConcurrencyLimiter, LimiterRejected
from zproxy.upstream.retry import RetryPolicy

_RETRYABLE_STATUS = frozenset({502, 503, 504})


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
        limiter: ConcurrencyLimiter,
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
        b = self.breaker(group)
        return b.mode == "force_open" or (
            b.mode == "auto" and b.state == "open" and b.retry_after() > 0
        )

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

    def _note(
        self, call: UpstreamCall, status: int, headers: Mapping[str, str], started: float
    ) -> None:
        self.metrics.on_upstream(call.route, outcome_label(status), time.perf_counter() - started)
        if status == 429:
            after = headers.get("Retry-After")
            seconds = parse_retry_after(after, self.clock.time()) if after else None
            if seconds:
                self.limiter.note_retry_after(call.pool, seconds)

    async def _once(self, call: UpstreamCall) -> UpstreamResponse:
        breaker, permit = self._permit(call)
        outcome = Outcome.NOT_COUNTED
        try:
            async with self.limiter.slot(call.pool):
                started = time.perf_counter()
                try:
                    resp = await self.client.request(
                        call.method, call.path_qs, call.headers, call.body
                    )
                except UpstreamError as exc:
                    outcome = classify_outcome(None, exc)
                    self.metrics.on_upstream(call.route, outcome_label(None, exc), None)
                    raise
                outcome = classify_outcome(resp.status, None)
                self._note(call, resp.status, resp.headers, started)
                return resp
        finally:
            breaker.record(permit, outcome)

    @contextlib.asynccontextmanager
    async def stream(self, call: UpstreamCall, body: Body) -> AsyncIterator[aiohttp.ClientResponse]:
        """A streamed exchange: the slot is held until the caller is done with the body."""
        breaker, permit = self._permit(call)
        outcome = Outcome.NOT_COUNTED
        recorded = False
        try:
            async with self.limiter.slot(call.pool):
                started = time.perf_counter()
                try:
                    resp = await self.client.open_stream(
                        call.method, call.path_qs, call.headers, body
                    )
                except UpstreamError as exc:
                    outcome = classify_outcome(None, exc)
                    self.metrics.on_upstream(call.route, outcome_label(None, exc), None)
                    raise
                outcome = classify_outcome(resp.status, None)
                breaker.record(permit, outcome)
                recorded = True
                self._note(call, resp.status, resp.headers, started)
                try:
                    yield resp
                finally:
                    resp.release()
        finally:
            if not recorded:
                breaker.record(permit, outcome)
