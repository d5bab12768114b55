"""The ``zproxy`` command line (CONTRACT §1)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from zproxy.config.model import Settings
from zproxy.errors import ConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zproxy", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the proxy")
    serve.add_argument("--config", type=Path)
    serve.add_argument("--upstream", metavar="URL")
    serve.add_argument("--listen", metavar="HOST:PORT")
    serve.add_argument("--admin-listen", metavar="HOST:PORT")
    serve.add_argument("--redis", metavar="URL|embedded")
    serve.add_argument("--data-dir", metavar="DIR")
    serve.add_argument("--workers", type=int, metavar="N")
    serve.add_argument("--tls-cert", metavar="FILE")
    serve.add_argument("--tls-key", metavar="FILE")

    fake = sub.add_parser("fake-zuora", help="run the bundled fake Zuora")
    fake.add_argument("--listen", default="127.0.0.1:8081", metavar="HOST:PORT")
    fake.add_argument("--seed", type=int, default=0)
    fake.add_argument("--clients", type=Path, metavar="FILE")

    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("path", type=Path)

    queue = sub.add_parser("queue", help="queued and dead-lettered writes (admin API)")
    queue.add_argument("action", choices=["ls", "show", "retry", "drop"])
    queue.add_argument("id", nargs="?")
    queue.add_argument("--state", choices=["queued", "dead"], default=None)
    queue.add_argument(
        "--admin-url", default=None, metavar="URL", help="default: http://$ZPROXY_ADMIN_LISTEN"
    )

    scenario = sub.add_parser("scenario", help="outage scenarios")
    scenario.add_argument("action", choices=["run", "list"])
    scenario.add_argument("file", nargs="?", type=Path)
    scenario.add_argument("--report", type=Path, metavar="DIR")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args, argv)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"zproxy: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


def _run(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    from zproxy.config.load import load_settings

    if args.command == "serve":
        overrides: dict[str, Any] = {
            "upstream.url": args.upstream,
            "server.listen": args.listen,
            "server.admin_listen": args.admin_listen,
            "redis.url": args.redis,
            "data_dir": args.data_dir,
            "server.workers": args.workers,
            "server.tls_cert": args.tls_cert,
            "server.tls_key": args.tls_key,
        }
        settings = load_settings(args.config, overrides=overrides)
        from zproxy.workers import is_worker, supervise

        if not is_worker():
            _preflight(settings)

        if settings.server.workers > 1 and not is_worker():
            return supervise(settings, sys.argv[1:] if argv is None else list(argv))
        from zproxy.app import serve

        return _run_loop(serve(settings))
    if args.command == "check-config":
        load_settings(args.path, env={})
        print(f"{args.path}: ok")
        return 0
    if args.command == "fake-zuora":
        return _fake_zuora(args)
    if args.command == "queue":
        from zproxy.admin.queue_cli import run_queue_command

        return run_queue_command(args.action, args.id, args.state, args.admin_url)
    from zproxy.scenarios.cli import run_scenario_command

    return run_scenario_command(args.action, args.file, args.report)


def _preflight(settings: Settings) -> None:
    """What would otherwise fail half-way through start-up, as one line naming the setting:
    the data dir (created private, 0700), the queue key, and the ports."""
    from zproxy.queue.service import load_cipher

    data_dir = settings.data_dir.absolute()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(data_dir, 0o700)
    except OSError as exc:
        raise ConfigError([f"ZPROXY_DATA_DIR: cannot use {data_dir} ({exc.strerror})"]) from None
    load_cipher(settings)
    for name, where in (
        ("ZPROXY_LISTEN", settings.server.listen),
        ("ZPROXY_ADMIN_LISTEN", settings.server.admin_listen),
    ):
        try:
            with socket.create_server((where.host, where.port)):
                pass
        except OSError as exc:
            raise ConfigError([f"{name}: cannot listen on {where} ({exc.strerror})"]) from None


def _fake_zuora(args: argparse.Namespace) -> int:
    from zproxy.testing.fake_zuora.app import serve as serve_fake

    host, _, port = str(args.listen).rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError([f"--listen: must be HOST:PORT (got {args.listen!r})"])
    return _run_loop(
        _until_signalled(serve_fake(host, int(port), seed=args.seed, clients_file=args.clients))
    )


async def _until_signalled(coro: Coroutine[Any, Any, None]) -> int:
    """Run ``coro`` until SIGTERM/SIGINT, then cancel it and exit 0."""
    task = asyncio.ensure_future(coro)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return 0


def _run_loop(coro: Any) -> int:
    try:
        import uvloop

        result = uvloop.run(coro)
    except ImportError:
        result = asyncio.run(coro)
    return int(result or 0)
