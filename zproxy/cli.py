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

import structlog

from zproxy import __version__
from zproxy.config.model import Settings
from zproxy.errors import ConfigError

#: Settings only the command line reads (not part of the config file).
PASS_THROUGH_ENV = "ZPROXY_PASS_THROUGH_ONLY"  # noqa: S105 - a variable name


def _default(dotted: str) -> object:
    value: object = Settings()
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def _serve_help(flag: str, what: str) -> str:
    from zproxy.config.load import ENV_VARS, FLAGS

    dotted = FLAGS[flag]
    env = next(name for name, target in ENV_VARS.items() if target == dotted)
    default = _default(dotted)
    shown = "none" if default is None else str(default)
    if isinstance(default, Path) and not default.is_absolute():
        shown = f"./{default}"
    return f"{what} (env {env}; default {shown})"


_SERVE_FLAGS = (
    ("--upstream", "URL", "Zuora's base URL"),
    ("--listen", "HOST:PORT", "where the proxy listens"),
    ("--admin-listen", "HOST:PORT", "where /healthz, /readyz, /metrics and the admin API listen"),
    ("--redis", "URL|embedded", "a redis:// or rediss:// URL, or embedded: a private server"),
    ("--data-dir", "DIR", "embedded Redis data, generated queue key"),
    ("--workers", "N", "processes sharing the listen port"),
    ("--record", "FILE", "write a sanitized traffic recording"),
    ("--tls-cert", "FILE", "serve HTTPS with this certificate chain"),
    ("--tls-key", "FILE", "the private key of --tls-cert"),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zproxy", description=__doc__)
    parser.add_argument("--version", action="version", version=f"zproxy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the proxy")
    serve.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="the route table and settings (env ZPROXY_CONFIG; default ./config/zproxy.yaml, "
        "else the one shipped with zproxy)",
    )
    for flag, metavar, what in _SERVE_FLAGS:
        serve.add_argument(
            flag,
            metavar=metavar,
            type=int if flag == "--workers" else str,
            help=_serve_help(flag, what),
        )
    serve.add_argument(
        "--pass-through-only",
        action="store_true",
        default=None,
        help=f"start with an empty route table: nothing cached or queued (env {PASS_THROUGH_ENV}"
        "=1; default off: an empty route table stops start-up)",
    )

    fake = sub.add_parser("fake-zuora", help="run the bundled fake Zuora")
    fake.add_argument(
        "--listen", default="127.0.0.1:8081", metavar="HOST:PORT", help="default 127.0.0.1:8081"
    )
    fake.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    fake.add_argument(
        "--clients",
        type=Path,
        metavar="FILE",
        help="JSON OAuth clients (default: the built-in test client)",
    )

    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("path", type=Path)

    queue = sub.add_parser("queue", help="queued and dead-lettered writes (admin API)")
    queue.add_argument("action", choices=["ls", "show", "retry", "drop"])
    queue.add_argument("id", nargs="?")
    queue.add_argument(
        "--state", choices=["queued", "dead"], default=None, help="default: both (ls only)"
    )
    queue.add_argument(
        "--admin-url",
        default=None,
        metavar="URL",
        help="default http://$ZPROXY_ADMIN_LISTEN; the token is read from ZPROXY_ADMIN_TOKEN",
    )

    scenario = sub.add_parser("scenario", help="outage scenarios")
    scenario.add_argument("action", choices=["run", "list"])
    scenario.add_argument("file", nargs="?", type=Path)
    scenario.add_argument("--report", type=Path, metavar="DIR", help="default ./var/scenarios/NAME")
    scenario.add_argument(
        "--traffic",
        type=Path,
        metavar="RECORDING",
        help="replay a `serve --record` file instead of the scenario's traffic (default: none)",
    )
    scenario.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="zproxy's config under the scenario's overrides (default: the shipped one)",
    )
    scenario.add_argument(
        "--compare-config",
        type=Path,
        metavar="NEW.yaml",
        help="pre-deploy gate: run the scenario on the current config and on NEW.yaml, side by "
        "side; exit 1 when NEW.yaml is worse on an invariant or a journey's error ratio",
    )
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
            "server.record": args.record,
            "server.tls_cert": args.tls_cert,
            "server.tls_key": args.tls_key,
        }
        settings = load_settings(args.config, overrides=overrides)
        from zproxy.workers import is_worker, supervise

        if not is_worker():
            _preflight(settings)
            _announce(settings, args.config, pass_through=_pass_through_only(args))

        if settings.server.workers > 1 and not is_worker():
            return supervise(settings, sys.argv[1:] if argv is None else list(argv))
        from zproxy.app import serve

        return _run_loop(
            serve(settings, load=lambda: load_settings(args.config, overrides=overrides))
        )
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

    return run_scenario_command(
        args.action, args.file, args.report, args.traffic, args.config, args.compare_config
    )


def _pass_through_only(args: argparse.Namespace) -> bool:
    if args.pass_through_only is not None:
        return bool(args.pass_through_only)
    return os.environ.get(PASS_THROUGH_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _preflight(settings: Settings) -> None:
    """What would otherwise fail half-way through start-up, as one line naming the setting:
    the data dir (created private, 0700), the queue key, and the ports."""
    from zproxy.queue.service import load_cipher

    if settings.redis.url != "embedded" and not settings.queue.encryption_key:
        raise ConfigError(
            [
                "ZPROXY_QUEUE_KEY: required with an external Redis: every zproxy sharing it "
                "must use the same key, or none can replay another's queued writes (generate "
                "one: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')"
            ]
        )
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


def _announce(settings: Settings, config: Path | None, *, pass_through: bool) -> None:
    """The start-up line: which config, how many routes, which Redis. An empty route table
    protects nothing, so it stops start-up unless pass-through only is what is meant."""
    from zproxy.config.load import default_config_path
    from zproxy.observability.logging import configure_logging
    from zproxy.policy import sensitive
    from zproxy.store.redis_version import describe_redis

    path = config if config is not None else default_config_path()
    routes = len(settings.routes.routes)
    if routes == 0 and not pass_through:
        raise ConfigError(
            [
                f"{path or 'no config file'}: no routes, so nothing would be cached or queued; "
                f"pass --pass-through-only (or {PASS_THROUGH_ENV}=1) if that is intended"
            ]
        )
    redis = describe_redis(settings.redis.url)
    configure_logging(sensitive.redact_value, settings.log.format, settings.log.level)
    structlog.get_logger("zproxy.cli").info(
        "config_loaded",
        version=__version__,
        config=str(path.absolute()) if path else None,
        routes=routes,
        pass_through_only=routes == 0,
        **redis,
    )


def _fake_zuora(args: argparse.Namespace) -> int:
    from zproxy.testing.fake_zuora.app import serve as serve_fake

    host, _, port = str(args.listen).rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError([f"--listen: must be HOST:PORT (got {args.listen!r})"])
    return _run_loop(
        _until_signalled(
            serve_fake(
                host,
                int(port),
                seed=args.seed,
                clients_file=args.clients,
                on_ready=lambda url: print(f"fake-zuora: listening on {url}", flush=True),
            )
        )
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
