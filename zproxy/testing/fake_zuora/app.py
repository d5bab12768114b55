"""The fake Zuora's composition root: ``create_app`` wires state, routes and the pipeline;
``serve`` runs it until cancelled (``zproxy fake-zuora``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import yaml
from aiohttp import web

from zproxy.clock import Clock, SystemClock
from zproxy.errors import ConfigError
from zproxy.testing.fake_zuora import (
    handlers_accounts,
    handlers_actions,
    handlers_auth,
    handlers_billing,
    handlers_catalog,
    handlers_control,
    handlers_orders,
    handlers_subscriptions,
)
from zproxy.testing.fake_zuora.auth import AuthService, load_clients, load_tenants
from zproxy.testing.fake_zuora.context import Endpoint
from zproxy.testing.fake_zuora.data import DEFAULT_ACCOUNTS
from zproxy.testing.fake_zuora.fake import FAKE, FakeZuora
from zproxy.testing.fake_zuora.limits import DEFAULT_POOL, ZOQL_POOL
from zproxy.testing.fake_zuora.pipeline import ENDPOINTS, pipeline

ALL_ENDPOINTS: list[Endpoint] = [
    *handlers_auth.ENDPOINTS,
    *handlers_accounts.ENDPOINTS,
    *handlers_subscriptions.ENDPOINTS,
    *handlers_orders.ENDPOINTS,
    *handlers_catalog.ENDPOINTS,
    *handlers_billing.ENDPOINTS,
    *handlers_actions.ENDPOINTS,
]


def create_app(
    *,
    seed: int = 0,
    clients: dict[str, str] | None = None,
    clock: Clock | None = None,
    tenants: dict[str, int] | None = None,
    accounts: int = DEFAULT_ACCOUNTS,
    concurrency_limit: int = 40,
    zoql_concurrency_limit: int = 20,
    rate_per_minute: int = 50_000,
) -> web.Application:
    """A fresh fake Zuora. ``clients`` restricts credentials (default: any 36-char client id);
    ``tenants`` maps client ids to tenants (default 1); ``accounts`` seeded per tenant."""
    clock = clock or SystemClock()
    fake = FakeZuora(
        seed=seed,
        clock=clock,
        auth=AuthService(clock=clock, clients=clients, tenants=dict(tenants or {})),
        accounts=accounts,
    )
    fake.set_limits({DEFAULT_POOL: concurrency_limit, ZOQL_POOL: zoql_concurrency_limit})
    fake.rate.per_minute = rate_per_minute
    app = web.Application(middlewares=[pipeline])
    app[FAKE] = fake
    table: dict[tuple[str, str], Endpoint] = {}
    for ep in ALL_ENDPOINTS:
        route = app.router.add_route(ep.method, ep.path, ep.handler)
        table[(ep.method, route.resource.canonical if route.resource else ep.path)] = ep
    app[ENDPOINTS] = table
    app.router.add_routes(handlers_control.ROUTES)
    app.on_shutdown.append(_release_held)
    return app


async def _release_held(app: web.Application) -> None:
    """Let requests held by ``timeout``/``slow`` go, so shutdown does not wait on them."""
    fake = app[FAKE]
    fake.faults.reset()
    fake.holds.release_all()


def make_runner(app: web.Application) -> web.AppRunner:
    """Handlers are cancelled when their client disconnects (a hung request ends with it)."""
    return web.AppRunner(app, handler_cancellation=True, shutdown_timeout=5.0)


def _clients(path: Path | None) -> tuple[dict[str, str] | None, dict[str, int] | None]:
    """``--clients FILE``: every problem as one line naming the flag (exit 2, no traceback)."""
    if path is None:
        return None, None
    try:
        return load_clients(path), load_tenants(path)
    except OSError as exc:
        raise ConfigError([f"--clients: {path}: cannot read ({exc.strerror})"]) from None
    except yaml.YAMLError:
        raise ConfigError([f"--clients: {path}: not valid YAML"]) from None
    except ValueError as exc:  # orjson's decode errors included
        reason = str(exc).splitlines()[0].removeprefix(f"{path}: ")
        raise ConfigError([f"--clients: {path}: {reason}"]) from None


async def serve(
    host: str,
    port: int,
    *,
    seed: int,
    clients_file: Path | None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the fake Zuora on ``host:port`` until cancelled. ``on_ready`` gets the base URL."""
    clients, tenants = _clients(clients_file)
    runner = make_runner(create_app(seed=seed, clients=clients, tenants=tenants))
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            problem = f"--listen: cannot listen on {host}:{port} ({exc.strerror})"
            raise ConfigError([problem]) from None
        if on_ready is not None:
            bound = runner.addresses[0] if runner.addresses else (host, port)
            on_ready(f"http://{bound[0]}:{bound[1]}")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
