"""One ``redis-server`` process on a loopback port, and ``NodeSet``, what the Redis sets in
``redis_sets`` share (bounded start, stop every node by its own pid, context manager).

Each node has its own directory (config file, AOF, log, pid file) and is started from a config
file it writes there, so a sentinel (which must rewrite its config) and a cluster node (which
keeps ``nodes.conf``) start the same way as a plain primary. A node is stopped or killed by its
own pid only.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import redis

from zproxy.store.embedded import find_redis_server, free_port

#: Every start-up step (one process answering, a set being formed) fails after this long.
DEFAULT_TIMEOUT = 30.0


class RedisSetError(RuntimeError):
    """A Redis node or set did not start as asked; the message names the log to read."""


@dataclass(frozen=True, slots=True)
class Binaries:
    """The server and the ``*-cli`` that sits beside it (else ``redis-cli`` on PATH)."""

    server: str
    cli: str
    version: tuple[int, int, int]

    @classmethod
    def find(cls, server: str | None = None) -> Binaries:
        """The server zproxy's embedded mode would run (or ``server``), its cli and version."""
        chosen = Path(server or find_redis_server())
        stem = chosen.name.removesuffix("-server")
        cli = chosen.with_name(f"{stem}-cli")
        if not cli.is_file():
            found = shutil.which("redis-cli")
            if found is None:
                raise RedisSetError(f"no {cli.name} beside {chosen} and no redis-cli on PATH")
            cli = Path(found)
        out = subprocess.run(  # noqa: S603 - a fixed binary with a fixed flag
            [str(chosen), "--version"], capture_output=True, text=True, check=True, timeout=10
        ).stdout
        match = re.search(r"v=(\d+)\.(\d+)\.(\d+)", out)
        if match is None:
            raise RedisSetError(f"cannot read the version of {chosen}: {out.strip()!r}")
        major, minor, patch = (int(part) for part in match.groups())
        return cls(str(chosen), str(cli), (major, minor, patch))

    @property
    def has_waitaof(self) -> bool:
        """``WAITAOF`` arrived in Redis 7.2; every Valkey release (7.2+) has it."""
        return self.version >= (7, 2, 0)


class RedisNode:
    """A ``redis-server`` (or sentinel) on ``127.0.0.1:port`` with its files in ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        binaries: Binaries,
        *,
        config: Sequence[str] = (),
        sentinel: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.binaries = binaries
        self.sentinel = sentinel
        self.config = tuple(config)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis.log"

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def _config_text(self) -> str:
        common = [
            f"port {self.port}",
            "bind 127.0.0.1",
            "protected-mode yes",
            f'dir "{self.data_dir}"',
            f'logfile "{self.log_path}"',
            f'pidfile "{self.data_dir / "redis.pid"}"',
            "daemonize no",
        ]
        if not self.sentinel:
            common += [
                "appendonly yes",
                "appendfsync always",
                'save ""',
                "maxmemory-policy noeviction",
            ]
        return "\n".join([*common, *self.config]) + "\n"

    def start(self) -> None:
        """Spawn the process; ``wait_ready`` waits for it to answer."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / ("sentinel.conf" if self.sentinel else "redis.conf")
        conf.write_text(self._config_text())
        args = [self.binaries.server, str(conf)] + (["--sentinel"] if self.sentinel else [])
        self.proc = subprocess.Popen(  # noqa: S603 - our binary, our config file
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def client(self, timeout: float = 2.0) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=True,
        )

    def command(self, *args: str | int) -> object:
        """One command on a fresh connection (closed afterwards)."""
        with self.client() as client:
            return client.execute_command(*args)

    def info(self, section: str) -> dict[str, object]:
        with self.client() as client:
            info: dict[str, object] = client.info(section)
            return info

    def wait_ready(self, deadline: float) -> None:
        """Until the node answers PING (and has finished loading its AOF)."""
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RedisSetError(
                    f"{self.binaries.server} on port {self.port} exited at start-up "
                    f"(code {self.proc.returncode}); see {self.log_path}"
                )
            with contextlib.suppress(redis.RedisError, OSError):
                if self.command("PING") in (True, "PONG"):
                    return
            if time.monotonic() > deadline:
                raise RedisSetError(f"port {self.port} did not answer PING; see {self.log_path}")
            time.sleep(0.05)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """``kill -9`` of this node's own pid."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM (the AOF is flushed), then SIGKILL if it lingers; its own pid only."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def wait_until(
    what: str, check: Callable[[], object], deadline: float, *, log: Path | None = None
) -> None:
    """Poll ``check()`` (errors count as not yet) until true, else fail naming ``what``."""
    while True:
        with contextlib.suppress(redis.RedisError, OSError):
            if check():
                return
        if time.monotonic() > deadline:
            where = f"; see {log}" if log is not None else ""
            raise RedisSetError(f"timed out waiting for {what}{where}")
        time.sleep(0.05)


Address = tuple[str, int]


class NodeSet:
    """What both sets share: their nodes, bounded start, stop-everything, context manager."""

    def __init__(self, root: Path, binaries: Binaries | None) -> None:
        self.root = Path(root).absolute()
        self.binaries = binaries or Binaries.find()
        self.nodes: list[RedisNode] = []
        self.started_in: float | None = None  # seconds the last start() took

    def _node(
        self, name: str, config: list[str], *, sentinel: bool = False, port: int | None = None
    ) -> RedisNode:
        node = RedisNode(
            self.root / name, port or free_port(), self.binaries, config=config, sentinel=sentinel
        )
        self.nodes.append(node)
        node.start()
        return node

    def start(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        began = time.monotonic()
        try:
            self._form(began + timeout)
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began

    def _form(self, deadline: float) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Every process this set started, sentinels first, each by its own pid."""
        for node in sorted(self.nodes, key=lambda n: not n.sentinel):
            node.stop()

    def node_at(self, address: Address) -> RedisNode:
        for node in self.nodes:
            if node.address == address:
                return node
        raise KeyError(address)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def pairs(raw: object) -> dict[str, str]:
    """A flat ``[k1, v1, k2, v2, ...]`` reply (or a dict) as a dict of strings."""
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    if isinstance(raw, list | tuple):
        return {str(k): str(v) for k, v in zip(raw[::2], raw[1::2], strict=True)}
    return {}


def linked(replica: RedisNode) -> bool:
    return replica.info("replication").get("master_link_status") == "up"


def cluster_info(node: RedisNode) -> dict[str, str]:
    text = node.command("CLUSTER", "INFO")
    if isinstance(text, bytes):
        text = text.decode()
    if isinstance(text, dict):
        return {str(k): str(v) for k, v in text.items()}
    lines = str(text).splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line)


def role(node: RedisNode) -> str:
    role = node.command("ROLE")
    return str(role[0]) if isinstance(role, list | tuple) and role else ""
