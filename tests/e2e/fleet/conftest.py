"""A Sentinel set of the test's own for the fleet tests: one primary, two replicas (so that
after a promotion the new primary still has a replica and ``replicated`` durability can resume),
three sentinels; started off the event loop, bounded, stopped by the test that started it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from zproxy.testing.redis_sets import ClusterSet, SentinelSet


@pytest.fixture
async def two_replica_set(tmp_path: Path) -> AsyncIterator[SentinelSet]:
    sentinels = SentinelSet(tmp_path / "sentinel", replicas=2)
    try:
        await asyncio.to_thread(sentinels.start)
        yield sentinels
    finally:
        await asyncio.to_thread(sentinels.stop)


@pytest.fixture
async def one_replica_set(tmp_path: Path) -> AsyncIterator[SentinelSet]:
    sentinels = SentinelSet(tmp_path / "sentinel")
    try:
        await asyncio.to_thread(sentinels.start)
        yield sentinels
    finally:
        await asyncio.to_thread(sentinels.stop)


@pytest.fixture
async def cluster_set(tmp_path: Path) -> AsyncIterator[ClusterSet]:
    """Three primaries, no replicas (``.url`` is ``redis+cluster://...``)."""
    cluster = ClusterSet(tmp_path / "cluster")
    try:
        await asyncio.to_thread(cluster.start)
        yield cluster
    finally:
        await asyncio.to_thread(cluster.stop)
