"""The gateway's bookkeeping, with a scripted client and a FakeClock (no network): every permit
is recorded (also on limiter refusal and cancellation), the limiter slot of a streamed call is
held until the caller is done, a 429 cools the pool down even without ``Retry-After``, only
retry-safe calls are retried, and each attempt is one metric sample."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from zproxy.clock import FakeClock
from zproxy.errors import UpstreamProtocolError
from zproxy.observability.metrics import Metrics
from zproxy.policy.outcomes import Outcome
from zproxy.policy.retry_after import cooldown_after_429
from zproxy.upstream.breaker import BreakerSet
from zproxy.upstream.breaker_model import BreakerConfig, BreakerOpen, Permit
from zproxy.upstream.client import Body, UpstreamClient, UpstreamResponse
from zproxy.upstream.gateway import Gateway, UpstreamCall
from zproxy.upstream.limiter import ConcurrencyLimiter, LimiterConfig, LimiterRejected
from zproxy.upstream.retry import RetryConfig, RetryPolicy


def _headers(values: dict[str, str] | None = None) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(values or {}))


def _response(status: int, headers: dict[str, str] | None = None) -> UpstreamResponse:
    return UpstreamResponse(status, _headers(headers), b"{}")


class _Streamed:
    def __init__(self, status: int) -> None:
        self.status = status
        self.headers = _headers()
        self.released = False

    def release(self) -> None:
        self.released = True


class ScriptedClient:
    """Answers each call with the next scripted step: a response, an exception to raise, or
    an awaitable to wait on."""

    def __init__(self, *steps: Any) -> None:
        self.steps = list(steps)
        self.calls = 0

    async def _next(self) -> Any:
        self.calls += 1
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, asyncio.Future):
            return await step
        return step

    async def request(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> UpstreamResponse:
        return cast(UpstreamResponse, await self._next())

    async def open_stream(
        self, method: str, path: str, headers: list[tuple[str, str]], body: Body
    ) -> Any:
        return await self._next()


class Rig:
    def __init__(self, client: ScriptedClient, *, pool: int = 4, fail_max: int = 2) -> None:
        self.clock = FakeClock()
        self.client = client
        self.metrics = Metrics()
        self.breakers = BreakerSet(
            self.clock,
            {
                "reads": BreakerConfig(
                    failure_threshold=fail_max, reset_timeout=10.0, min_calls=1000
                )
            },
        )
        self.limiter = ConcurrencyLimiter(
            LimiterConfig(pools={"default": pool}, max_wait=0.0), self.clock
        )

        async def no_sleep(_: float) -> None:
            return None

        retry = RetryPolicy(RetryConfig(max_attempts=3, deadline=5.0), self.clock, no_sleep)
        self.gateway = Gateway(
            cast(UpstreamClient, client),
            self.breakers,
            self.limiter,
            retry,
            self.metrics,
            self.clock,
        )

    def sample(self, outcome: str, route: str = "r") -> float:
        value = self.metrics.registry.get_sample_value(
            "zproxy_upstream_requests_total", {"route": route, "outcome": outcome}
        )
        return value or 0.0

    def open_then_half_open(self) -> None:
        breaker = self.breakers["reads"]
        for _ in range(breaker.config.failure_threshold):
            permit = breaker.acquire()
            assert isinstance(permit, Permit)
            breaker.record(permit, Outcome.OUTAGE_FAILURE)
        assert breaker.state == "open"
        self.clock.advance(10.0)
        assert breaker.snapshot()["state"] == "half_open"


def _call(method: str = "GET", *, safe: bool = True) -> UpstreamCall:
    return UpstreamCall("r", "reads", "default", method, "/v1/x", [], None, retry_safe=safe)


async def test_a_cancelled_probe_hands_its_permit_back() -> None:
    hang: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    rig = Rig(ScriptedClient(hang, _response(200)))
    rig.open_then_half_open()
    task = asyncio.create_task(rig.gateway.send(_call()))
    await asyncio.sleep(0)
    assert rig.breakers["reads"].snapshot()["probes_in_flight"] == 1
    assert rig.limiter.in_flight("default") == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rig.breakers["reads"].snapshot()["probes_in_flight"] == 0
    assert rig.limiter.in_flight("default") == 0
    assert rig.sample("cancelled") == 1
    # the next call may probe at once, and closes the breaker
    assert (await rig.gateway.send(_call())).status == 200
    assert rig.breakers["reads"].state == "closed"


async def test_a_limiter_refusal_hands_the_probe_permit_back() -> None:
    rig = Rig(ScriptedClient(_response(200)))
    rig.open_then_half_open()
    rig.limiter.note_retry_after("default", 5.0)  # cooldown longer than max_wait
    with pytest.raises(LimiterRejected):
        await rig.gateway.send(_call())
    assert rig.client.calls == 0
    assert rig.breakers["reads"].snapshot()["probes_in_flight"] == 0
    assert rig.sample("limiter_rejected") == 1
    rig.clock.advance(5.0)
    assert (await rig.gateway.send(_call())).status == 200
    assert rig.breakers["reads"].state == "closed"


async def test_a_streamed_call_holds_its_slot_until_the_caller_is_done() -> None:
    streamed = _Streamed(200)
    rig = Rig(ScriptedClient(streamed), pool=1)
    async with rig.gateway.stream(_call("PUT", safe=False), None) as resp:
        assert resp is cast(Any, streamed)
        assert rig.limiter.in_flight("default") == 1
        with pytest.raises(LimiterRejected):  # the one slot is taken while the body flows
            await rig.gateway.send(_call())
    assert streamed.released
    assert rig.limiter.in_flight("default") == 0
    assert rig.sample("ok") == 1


async def test_a_failing_client_body_is_not_zuoras_fault() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"{"
        raise ValueError("client too slow")

    class Sends(ScriptedClient):
        async def open_stream(
            self, method: str, path: str, headers: list[tuple[str, str]], body: Body
        ) -> Any:
            assert body is not None
            assert not isinstance(body, bytes)
            try:
                async for _ in body:
                    pass
            except ValueError as exc:
                raise UpstreamProtocolError("body failed") from exc
            raise AssertionError("unreachable")

    rig = Rig(Sends())
    for _ in range(3):
        with pytest.raises(UpstreamProtocolError):
            async with rig.gateway.stream(_call("PUT", safe=False), body()):
                pass
    assert rig.breakers["reads"].state == "closed"
    assert rig.sample("client_body_error") == 3
    assert rig.limiter.in_flight("default") == 0


@pytest.mark.parametrize(
    ("headers", "cooldown"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"RateLimit-Remaining": "0", "RateLimit-Reset": "7"}, 7.0),
        ({"RateLimit-Remaining": "12", "RateLimit-Reset": "40"}, 1.0),  # concurrency 429
        ({}, 1.0),
        ({"Retry-After": "soon"}, 1.0),
    ],
)
async def test_a_429_cools_the_pool_down(headers: dict[str, str], cooldown: float) -> None:
    rig = Rig(ScriptedClient(_response(429, headers)))
    assert (await rig.gateway.send(_call())).status == 429
    assert rig.client.calls == 1  # a 429 is not retried
    assert rig.limiter.cooldown("default").until(rig.clock.monotonic()) == cooldown
    assert rig.breakers["reads"].snapshot()["consecutive_failures"] == 0
    assert cooldown_after_429(_headers(headers), rig.clock.time(), 1.0) == cooldown


@pytest.mark.parametrize("method", ["PUT", "POST", "PATCH", "DELETE"])
async def test_writes_go_once_reads_are_retried(method: str) -> None:
    rig = Rig(ScriptedClient(_response(503)))
    assert (await rig.gateway.send(_call(method, safe=False))).status == 503
    assert rig.client.calls == 1
    assert rig.sample("5xx") == 1

    rig = Rig(ScriptedClient(_response(503), _response(503), _response(200)), fail_max=5)
    assert (await rig.gateway.send(_call())).status == 200
    assert rig.client.calls == 3
    assert (rig.sample("5xx"), rig.sample("ok")) == (2, 1)  # one sample per attempt


async def test_an_open_breaker_stops_the_retries() -> None:
    rig = Rig(ScriptedClient(_response(503)))
    with pytest.raises(BreakerOpen):
        await rig.gateway.send(_call())
    assert rig.client.calls == 2  # the second failure opened it; the third attempt was refused
    assert rig.sample("breaker_open") == 1
