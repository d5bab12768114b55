"""Is the Redis that holds the queue safe to promise a 202 with? (reliability-security §1.6)

Required: AOF on (``aof_enabled:1``) with ``aof_last_write_status:ok``, ``maxmemory-policy
noeviction``, and a way to confirm fsync per write: ``WAITAOF`` (Redis >= 7.2, checked per
write) or else ``appendfsync always`` (Redis fsyncs before it replies). Where ``CONFIG`` is
renamed or disabled (managed Redis), WAITAOF's per-write answer is relied on instead.

``evaluate`` is the pure decision; ``probe`` gathers its inputs from a client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

DurabilityMode = Literal["waitaof", "appendfsync_always", "none"]


@dataclass(frozen=True, slots=True)
class DurabilityStatus:
    ok: bool
    reason: str
    mode: DurabilityMode


@dataclass(frozen=True, slots=True)
class DurabilityFacts:
    aof_enabled: bool
    aof_last_write_ok: bool
    #: None when CONFIG GET is unavailable.
    appendfsync: str | None
    maxmemory_policy: str | None
    has_waitaof: bool
    #: Replicas in sync (``INFO replication``); None when not asked (``local`` durability).
    replicas: int | None = None


def evaluate(facts: DurabilityFacts) -> DurabilityStatus:
    if not facts.aof_enabled:
        return DurabilityStatus(False, "appendonly is off", "none")
    if not facts.aof_last_write_ok:
        return DurabilityStatus(False, "the last AOF write failed", "none")
    if facts.maxmemory_policy is not None and facts.maxmemory_policy != "noeviction":
        return DurabilityStatus(
            False, f"maxmemory-policy is {facts.maxmemory_policy}, need noeviction", "none"
        )
    if facts.replicas is not None and facts.replicas < 1:
        return DurabilityStatus(False, "replicated durability: no replica connected", "none")
    if facts.has_waitaof:
        if facts.maxmemory_policy is None:
            return DurabilityStatus(True, "CONFIG unavailable; relying on WAITAOF", "waitaof")
        return DurabilityStatus(True, "WAITAOF confirms each write", "waitaof")
    if facts.appendfsync is None:
        return DurabilityStatus(False, "CONFIG unavailable and no WAITAOF", "none")
    if facts.appendfsync != "always":
        return DurabilityStatus(
            False,
            f"appendfsync is {facts.appendfsync}, need always (or Redis >= 7.2 for WAITAOF)",
            "none",
        )
    return DurabilityStatus(True, "appendfsync always", "appendfsync_always")


async def _config(client: aioredis.Redis, name: str, pin: Mapping[str, Any]) -> str | None:
    try:
        reply: Mapping[Any, Any] = await client.config_get(name, **pin)
    except ResponseError:
        return None
    for key, value in reply.items():
        key_s = key.decode() if isinstance(key, bytes) else str(key)
        if key_s == name:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


async def probe(
    client: aioredis.Redis, node: Any = None, *, replicated: bool = False
) -> DurabilityFacts:
    """Ask Redis (on a Cluster: ``node``, the one holding the queue's slot); redis exceptions
    propagate (the caller maps them)."""
    pin: dict[str, Any] = {"target_nodes": node} if node is not None else {}
    info: Mapping[str, Any] = await client.info("persistence", **pin)
    try:
        # WAITAOF 0 0 0 returns at once where the command exists (any AOF setting); redis-py
        # cannot parse COMMAND INFO for an unknown command, so probe the command itself.
        await cast(Any, client).execute_command("WAITAOF", 0, 0, 0, **pin)
        has_waitaof = True
    except ResponseError:
        has_waitaof = False
    replicas = None
    if replicated:
        replication: Mapping[str, Any] = await client.info("replication", **pin)
        replicas = int(replication.get("connected_slaves", 0) or 0)
    last = info.get("aof_last_write_status")
    last_s = last.decode() if isinstance(last, bytes) else str(last)
    return DurabilityFacts(
        aof_enabled=str(info.get("aof_enabled")) == "1",
        aof_last_write_ok=last_s == "ok",
        appendfsync=await _config(client, "appendfsync", pin),
        maxmemory_policy=await _config(client, "maxmemory-policy", pin),
        has_waitaof=has_waitaof,
        replicas=replicas,
    )


async def check_durability(
    client: aioredis.Redis, node: Any = None, *, replicated: bool = False
) -> DurabilityStatus:
    return evaluate(await probe(client, node, replicated=replicated))
