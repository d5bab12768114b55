"""Redis topologies for tests: a Sentinel set and a Cluster, on loopback ports.

Both run the server zproxy's embedded mode would run (``Binaries.find()``), every node in its
own directory under ``root`` with AOF ``appendfsync always``, bound to 127.0.0.1. Start-up is
bounded (``RedisSetError`` after ``timeout`` seconds, naming the log to read); ``stop()`` ends
every process the set started, by its own pid, and is safe to call twice or after a failed
start. Use them as context managers, or from a pytest fixture with ``try/finally``::

    with SentinelSet(tmp_path) as s:      # primary + replica + 3 sentinels
        s.url                              # redis+sentinel://127.0.0.1:P1,...:P3/zproxy
        old = s.kill_primary()             # SIGKILL
        new = s.wait_for_promotion(old)    # every sentinel names the promoted replica

    with ClusterSet(tmp_path) as c:        # 3 primaries, 16384 slots, cluster_state:ok
        c.url                              # redis+cluster://127.0.0.1:P1,...
"""

from __future__ import annotations

import secrets
import subprocess
import time
from functools import partial
from pathlib import Path

from zproxy.store.embedded import free_port
from zproxy.testing.redis_node import (
    DEFAULT_TIMEOUT,
    Address,
    Binaries,
    NodeSet,
    RedisNode,
    RedisSetError,
    cluster_info,
    linked,
    pairs,
    role,
    wait_until,
)

__all__ = ["Binaries", "ClusterSet", "RedisNode", "RedisSetError", "SentinelSet"]


class SentinelSet(NodeSet):
    """One primary, ``replicas`` replicas and ``sentinels`` sentinels monitoring ``name``."""

    def __init__(
        self,
        root: Path,
        *,
        name: str = "zproxy",
        replicas: int = 1,
        sentinels: int = 3,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 5000,
        binaries: Binaries | None = None,
    ) -> None:
        super().__init__(root, binaries)
        self.name = name
        self.replica_count = replicas
        self.sentinel_count = sentinels
        self.quorum = sentinels // 2 + 1
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms

    @property
    def sentinels(self) -> list[RedisNode]:
        return [n for n in self.nodes if n.sentinel]

    @property
    def data_nodes(self) -> list[RedisNode]:
        return [n for n in self.nodes if not n.sentinel]

    @property
    def sentinel_addresses(self) -> list[Address]:
        return [n.address for n in self.sentinels]

    @property
    def url(self) -> str:
        hosts = ",".join(f"{h}:{p}" for h, p in self.sentinel_addresses)
        return f"redis+sentinel://{hosts}/{self.name}"

    def _form(self, deadline: float) -> None:
        # Full syncs start at once instead of waiting 5 s for more replicas to batch with.
        primary = self._node("primary", ["repl-diskless-sync-delay 0"])
        primary.wait_ready(deadline)
        for i in range(self.replica_count):
            replica = self._node(f"replica{i}", [f"replicaof 127.0.0.1 {primary.port}"])
            replica.wait_ready(deadline)
            wait_until(
                f"replica {replica.port} to sync from {primary.port}",
                partial(linked, replica),
                deadline,
                log=replica.log_path,
            )
        # Each sentinel is told its peers and the replicas up front (as a sentinel's rewritten
        # config would), instead of discovering them over 2 s hello rounds.
        ports = [free_port() for _ in range(self.sentinel_count)]
        ids = [secrets.token_hex(20) for _ in ports]
        monitor = [
            f"sentinel monitor {self.name} 127.0.0.1 {primary.port} {self.quorum}",
            f"sentinel down-after-milliseconds {self.name} {self.down_after_ms}",
            f"sentinel failover-timeout {self.name} {self.failover_timeout_ms}",
            f"sentinel parallel-syncs {self.name} 1",
            *(
                f"sentinel known-replica {self.name} 127.0.0.1 {n.port}"
                for n in self.data_nodes[1:]
            ),
        ]
        for i, (port, myid) in enumerate(zip(ports, ids, strict=True)):
            peers = [
                f"sentinel known-sentinel {self.name} 127.0.0.1 {p} {other}"
                for p, other in zip(ports, ids, strict=True)
                if p != port
            ]
            node = self._node(
                f"sentinel{i}",
                [f"sentinel myid {myid}", *monitor, *peers],
                sentinel=True,
                port=port,
            )
            node.wait_ready(deadline)
        for sentinel in self.sentinels:
            wait_until(
                f"sentinel {sentinel.port} to see {self.replica_count} replica(s) and "
                f"{self.sentinel_count - 1} other sentinels",
                partial(self._sees_everyone, sentinel),
                deadline,
                log=sentinel.log_path,
            )

    def _sees_everyone(self, sentinel: RedisNode) -> bool:
        raw = sentinel.command("SENTINEL", "MASTER", self.name)
        state = pairs(raw)
        return (
            state.get("num-slaves") == str(self.replica_count)
            and state.get("num-other-sentinels") == str(self.sentinel_count - 1)
            and "s_down" not in state.get("flags", "")
        )

    def primary_address(self, sentinel: RedisNode | None = None) -> Address:
        """The primary as one sentinel names it (``SENTINEL get-master-addr-by-name``)."""
        asked = sentinel or next(s for s in self.sentinels if s.running())
        raw = asked.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.name)
        if not isinstance(raw, list | tuple) or len(raw) != 2:
            raise RedisSetError(f"sentinel {asked.port} does not know {self.name}: {raw!r}")
        return (str(raw[0]), int(raw[1]))

    @property
    def primary(self) -> RedisNode:
        return self.node_at(self.primary_address())

    def kill_primary(self) -> Address:
        """``kill -9`` the current primary (by its own pid); returns its address."""
        address = self.primary_address()
        self.node_at(address).kill()
        return address

    def wait_for_promotion(self, old: Address, timeout: float = DEFAULT_TIMEOUT) -> Address:
        """Until every running sentinel names one new primary and that node says it is one."""
        deadline = time.monotonic() + timeout
        found: list[Address] = []

        def promoted() -> bool:
            named = {self.primary_address(s) for s in self.sentinels if s.running()}
            if len(named) != 1 or old in named:
                return False
            (address,) = named
            role = self.node_at(address).command("ROLE")
            if isinstance(role, list | tuple) and role and role[0] == "master":
                found[:] = [address]
                return True
            return False

        wait_until(f"a replica of {old} to be promoted", promoted, deadline)
        return found[0]


class ClusterSet(NodeSet):
    """``primaries`` primaries (with ``replicas`` replicas each) covering all 16384 slots."""

    def __init__(
        self,
        root: Path,
        *,
        primaries: int = 3,
        replicas: int = 0,
        node_timeout_ms: int = 2000,
        binaries: Binaries | None = None,
    ) -> None:
        super().__init__(root, binaries)
        self.primary_count = primaries
        self.replicas_per_primary = replicas
        self.node_timeout_ms = node_timeout_ms

    @property
    def addresses(self) -> list[Address]:
        return [n.address for n in self.nodes]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"{h}:{p}" for h, p in self.addresses)

    def _form(self, deadline: float) -> None:
        total = self.primary_count * (1 + self.replicas_per_primary)
        for i in range(total):
            config = [
                "cluster-enabled yes",
                "cluster-config-file nodes.conf",
                f"cluster-node-timeout {self.node_timeout_ms}",
                # The bus port defaults to port + 10000, which may not exist above 55535.
                f"cluster-port {free_port()}",
            ]
            self._node(f"node{i}", config)
        for node in self.nodes:
            node.wait_ready(deadline)
        create = [
            self.binaries.cli,
            "--cluster",
            "create",
            *(f"{h}:{p}" for h, p in self.addresses),
            "--cluster-replicas",
            str(self.replicas_per_primary),
            "--cluster-yes",
        ]
        try:
            done = subprocess.run(  # noqa: S603 - our cli, our loopback addresses
                create,
                capture_output=True,
                text=True,
                timeout=max(1.0, deadline - time.monotonic()),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RedisSetError(
                f"{Path(self.binaries.cli).name} --cluster create timed out"
            ) from None
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
            raise RedisSetError(f"--cluster create failed: {' | '.join(tail)}")
        for node in self.nodes:
            wait_until(
                f"cluster_state:ok on {node.port}",
                partial(self._node_ok, node),
                deadline,
                log=node.log_path,
            )

    def _node_ok(self, node: RedisNode) -> bool:
        info = cluster_info(node)
        return info.get("cluster_state") == "ok" and info.get("cluster_known_nodes") == str(
            len(self.nodes)
        )

    def primaries(self) -> list[RedisNode]:
        """The nodes that are primaries now (``ROLE`` says ``master``)."""
        return [n for n in self.nodes if n.running() and role(n) == "master"]
