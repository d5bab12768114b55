"""Run a real ``zproxy serve`` as a child process, for tests, benchmarks and scenarios.

It can be stopped gracefully (SIGTERM) or killed (``kill -9``) and restarted on the same data,
which is how durability is proven.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from zproxy.store.embedded import free_port

_TEST_QUEUE_KEY = "kQ6m0uYy0dJ0m3a0X1oP8zNQ0kQ2b3Y4c5d6e7f8g9A="


class ZproxyProcess:
    def __init__(
        self,
        *,
        upstream: str,
        redis_url: str,
        data_dir: Path,
        env: Mapping[str, str] | None = None,
        args: tuple[str, ...] = (),
        config: Path | None = None,
    ) -> None:
        self.upstream = upstream
        self.redis_url = redis_url
        self.data_dir = Path(data_dir)
        self.extra_env = dict(env or {})
        self.args = args
        self.config = config
        self.port = free_port()
        self.admin_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / f"zproxy-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def _command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "zproxy",
            "serve",
            "--upstream",
            self.upstream,
            "--listen",
            f"127.0.0.1:{self.port}",
            "--admin-listen",
            f"127.0.0.1:{self.admin_port}",
            "--redis",
            self.redis_url,
            "--data-dir",
            str(self.data_dir),
        ]
        if self.config is not None:
            cmd += ["--config", str(self.config)]
        return cmd + list(self.args)

    def spawn(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZPROXY_")}
        env.setdefault("ZPROXY_ADMIN_TOKEN", "test-admin-token")
        if self.redis_url != "embedded":
            # zproxy refuses an external Redis without a fleet-wide queue key.
            env.setdefault("ZPROXY_QUEUE_KEY", _TEST_QUEUE_KEY)
        env.update(self.extra_env)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            self._command(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
        )
        log.close()

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.admin_url + "/healthz", timeout=0.5) as r:  # noqa: S310
                return bool(r.status == 200)
        except OSError:
            return False

    def _check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"zproxy exited with {self.proc.returncode}:\n{self.logs()[-3000:]}")

    def start(self, timeout: float = 20.0) -> ZproxyProcess:
        self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if self._healthy():
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"zproxy did not become healthy:\n{self.logs()[-3000:]}")

    async def astart(self, timeout: float = 20.0) -> ZproxyProcess:
        """Like start(), without blocking the event loop (the test may serve the upstream)."""
        self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if await asyncio.to_thread(self._healthy):
                return self
            await asyncio.sleep(0.05)
        self.kill()
        raise RuntimeError(f"zproxy did not become healthy:\n{self.logs()[-3000:]}")

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait: the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return int(self.proc.returncode)

    async def aterminate(self, timeout: float = 20.0) -> int:
        return await asyncio.to_thread(self.terminate, timeout)

    def kill(self) -> None:
        """``kill -9``."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""
