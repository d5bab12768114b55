"""What the admin port asks at request time: the Redis readiness check, ``/readyz``'s details
and the breaker poll a ``/metrics`` scrape makes.

Part of the admin layer; ``zproxy.app`` (the composition root) registers these on the
``Services`` it builds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from zproxy.admin.app import ReadyDetails
from zproxy.edge.live import LiveConfig
from zproxy.edge.services import Services
from zproxy.store.topology import TopologyWatch
from zproxy.upstream.breaker import BreakerSet


async def redis_ready(services: Services) -> str | None:
    assert services.redis is not None
    try:
        await services.redis.ping()
    except Exception as exc:
        return f"redis: {type(exc).__name__}"
    return None


def poll_breakers(breakers: BreakerSet) -> Callable[[], Awaitable[None]]:
    """A scrape makes the breakers' due transitions, so the state gauges are current."""

    async def poll() -> None:
        breakers.poll()

    return poll


def ready_details(topology: TopologyWatch, live: LiveConfig) -> ReadyDetails:
    """``/readyz`` names the Redis topology seen and the config in force."""

    async def details() -> dict[str, object]:
        return {**await topology.details(), "config": live.current.describe()}

    return details
