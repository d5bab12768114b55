"""Fixtures that start a Redis Sentinel set or a Redis Cluster of the test's own.

Each starts from the server zproxy's embedded mode would run (``Binaries.find()``), on free
loopback ports under the test's tmp dir, bounded (``RedisSetError`` after 30 s), and stops every
process it started, by its own pid, whether the test passed or not. (The lead may promote these
to ``tests/conftest.py``.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from zproxy.testing.redis_sets import Binaries, ClusterSet, SentinelSet


@pytest.fixture(scope="session")
def redis_binaries() -> Binaries:
    """The server (and the cli beside it) every Redis set in the session runs."""
    return Binaries.find()


@pytest.fixture
def sentinel_set(tmp_path: Path, redis_binaries: Binaries) -> Iterator[SentinelSet]:
    """Primary + one replica + three sentinels (quorum 2, down after 1 s) monitoring
    ``zproxy``; ``.url`` is ``redis+sentinel://127.0.0.1:P1,...:P3/zproxy``."""
    sentinels = SentinelSet(tmp_path / "sentinel", binaries=redis_binaries)
    sentinels.start()
    try:
        yield sentinels
    finally:
        sentinels.stop()


@pytest.fixture
def cluster_set(tmp_path: Path, redis_binaries: Binaries) -> Iterator[ClusterSet]:
    """Three primaries sharing the 16384 slots, ``cluster_state:ok`` on each;
    ``.url`` is ``redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3``."""
    cluster = ClusterSet(tmp_path / "cluster", binaries=redis_binaries)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
