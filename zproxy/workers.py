"""``zproxy serve --workers N``: a small supervisor for N worker processes.

The supervisor starts the embedded Redis (when asked for) once, then N ``zproxy serve``
workers that share the proxy and admin ports (SO_REUSEPORT), the Redis, and a Prometheus
multiprocess directory, so any worker answers ``/metrics`` for all of them. A worker that dies
is replaced; SIGTERM/SIGINT is passed on to the workers, which finish in-flight requests, and
the supervisor exits 0 once they have.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

from prometheus_client.multiprocess import mark_process_dead

from zproxy.config.model import Settings
from zproxy.queue.service import load_cipher
from zproxy.store.embedded import RedisServer

WORKER_ENV = "ZPROXY_WORKER_OF"


def is_worker() -> bool:
    return bool(os.environ.get(WORKER_ENV))


def supervise(settings: Settings, argv: Sequence[str]) -> int:
    data_dir = settings.data_dir.absolute()
    embedded: RedisServer | None = None
    redis_url = settings.redis.url
    if redis_url == "embedded":
        embedded = RedisServer(data_dir / "redis")
        embedded.start()
        redis_url = embedded.url
    load_cipher(settings)  # creates data_dir/queue.key once, before workers race for it
    metrics_dir = data_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True, mode=0o700)
    env = dict(os.environ)
    env.update(
        {
            WORKER_ENV: str(settings.server.workers),
            "ZPROXY_REDIS_URL": redis_url,
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
    )
    args = _worker_args(argv, redis_url)
    stopping = False

    def stop(_sig: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    workers = [_spawn(args, env) for _ in range(settings.server.workers)]

    def reload(_sig: int, _frame: FrameType | None) -> None:
        # One worker reloads and publishes the new version; the others follow it (edge/live).
        if workers[0].poll() is None:
            workers[0].send_signal(signal.SIGHUP)

    signal.signal(signal.SIGHUP, reload)
    try:
        while not stopping:
            time.sleep(0.2)
            for i, proc in enumerate(workers):
                if proc.poll() is not None and not stopping:
                    mark_process_dead(proc.pid, str(metrics_dir))  # type: ignore[no-untyped-call]
                    print(
                        f"zproxy: worker {proc.pid} exited ({proc.returncode}); restarting",
                        file=sys.stderr,
                    )
                    workers[i] = _spawn(args, env)
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + settings.server.shutdown_timeout + 5
        for proc in workers:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, env=env)  # noqa: S603 - our own interpreter and module


def _worker_args(argv: Sequence[str], redis_url: str) -> list[str]:
    """The same command line, minus --workers and --redis (the workers get them by env)."""
    out: list[str] = [sys.executable, "-m", "zproxy"]
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--workers", "--redis"):
            skip = True
            continue
        if arg.startswith(("--workers=", "--redis=")):
            continue
        out.append(arg)
    return [*out, "--redis", redis_url]
