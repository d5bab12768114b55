"""A Sentinel set of the test's own for the fleet tests: one primary, two replicas (so that
after a promotion the new primary still has a replica and ``replicated`` durability can resume),
three sentinels; started off the event loop, bounded, stopped by the test that started it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from zproxy.testing.redis_sets import ClusterSet, SentinelSet

S = TypeVar("S", SentinelSet, ClusterSet)


@asynccontextmanager
async def running(redis_set: S) -> AsyncIterator[S]:
    """``redis_set`` started off the event loop, stopped however the test ends."""
    try:
        await asyncio.to_thread(redis_set.start)
        yield redis_set
    finally:
        await asyncio.to_thread(redis_set.stop)


@pytest.fixture
async def two_replica_set(tmp_path: Path) -> AsyncIterator[SentinelSet]:
    async with running(SentinelSet(tmp_path / "sentinel", replicas=2)) as sentinels:
        yield sentinels


@pytest.fixture
async def one_replica_set(tmp_path: Path) -> AsyncIterator[SentinelSet]:
    async with running(SentinelSet(tmp_path / "sentinel")) as sentinels:
        yield sentinels


@pytest.fixture
async def cluster_set(tmp_path: Path) -> AsyncIterator[ClusterSet]:
    """Three primaries, no replicas (``.url`` is ``redis+cluster://...``)."""
    async with running(ClusterSet(tmp_path / "cluster")) as cluster:
        yield cluster
