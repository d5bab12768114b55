"""The Redis topology zproxy sees: mode, primary address(es), replicas connected.

``observe`` asks the primary (each primary on a Cluster) ``INFO replication``; Redis errors
leave as ``StoreUnavailable``. On a Cluster ``replicas_connected`` is the smallest count over
the primaries: replicated durability holds only where every partition has a replica.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from zproxy.config.redis_url import Mode
from zproxy.errors import StoreUnavailable
from zproxy.store._errors import mapped


@dataclass(frozen=True, slots=True)
class Topology:
    mode: Mode
    #: "host:port" of the primary ("," between a Cluster's primaries); "" when unknown.
    primary: str
    replicas_connected: int

    def as_dict(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "primary": self.primary,
            "replicas_connected": self.replicas_connected,
        }


async def observe(client: aioredis.Redis, mode: Mode) -> Topology:
    with mapped("topology"):
        if isinstance(client, RedisCluster):
            return await _cluster(client)
        info: Mapping[str, Any] = await client.info("replication")
    return Topology(mode, _primary_of(client), _replicas(info))


async def _cluster(client: RedisCluster) -> Topology:
    primaries = sorted(client.get_primaries(), key=lambda n: n.name)
    counts = []
    for node in primaries:
        info = await client.info("replication", target_nodes=node)
        counts.append(_replicas(cast(Mapping[str, Any], info)))
    return Topology("cluster", ",".join(n.name for n in primaries), min(counts, default=0))


def _replicas(info: Mapping[str, Any]) -> int:
    """Replicas in sync (``state=online``) per ``INFO replication``."""
    online = 0
    for key, value in info.items():
        if str(key).startswith("slave") and str(key)[5:].isdigit():
            state = value.get("state") if isinstance(value, Mapping) else None
            online += 1 if state in (None, "online", b"online") else 0
    return online


def _primary_of(client: aioredis.Redis) -> str:
    pool: Any = client.connection_pool
    master = getattr(pool, "master_address", None)  # a Sentinel pool: the primary it uses
    if master:
        return f"{master[0]}:{master[1]}"
    kwargs = pool.connection_kwargs
    if kwargs.get("path"):
        return f"unix:{kwargs['path']}"
    return f"{kwargs.get('host', '')}:{kwargs.get('port', '')}"


TopologyListener = Callable[[str, str, int], None]


class TopologyWatch:
    """Readiness and ``/readyz`` details from the topology; reports each observation to
    ``listener(mode, primary, replicas_connected)`` (the metrics)."""

    def __init__(
        self,
        client: aioredis.Redis,
        mode: Mode,
        listener: TopologyListener,
        *,
        need_replica: bool,
    ) -> None:
        self._client = client
        self._mode = mode
        self._listener = listener
        self._need_replica = need_replica
        self.last: Topology | None = None

    async def refresh(self) -> Topology | None:
        try:
            seen = await observe(self._client, self._mode)
        except StoreUnavailable:
            self.last = None
            return None
        self.last = seen
        self._listener(seen.mode, seen.primary, seen.replicas_connected)
        return seen

    async def report(self) -> None:
        await self.refresh()

    async def check(self) -> str | None:
        """A reason zproxy is not ready, else None (Redis itself down is another check's)."""
        seen = await self.refresh()
        if seen is not None and self._need_replica and seen.replicas_connected < 1:
            return "redis: no replica connected (queue.durability is replicated)"
        return None

    async def details(self) -> dict[str, object]:
        seen = self.last or await self.refresh()
        return {"redis": seen.as_dict() if seen else {"mode": self._mode, "primary": ""}}
