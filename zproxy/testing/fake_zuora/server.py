"""``running_fake_zuora``: the fake on 127.0.0.1 and a free port, for tests of the proxy.

async with running_fake_zuora(seed=3, clock=FakeClock()) as fz:
    token = await fz.token(session)
    fz.fake.set_fault(parse_rule({"mode": "down"}))
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from zproxy.testing.fake_zuora.app import create_app, make_runner
from zproxy.testing.fake_zuora.fake import FAKE, FakeZuora

#: Credentials the default (unrestricted) fake accepts.
DEFAULT_CLIENT_ID = "0b3f8f0e-5c1d-4c6e-9a55-3f1d2c4b5a60"
DEFAULT_CLIENT_SECRET = "fake-zuora-secret"  # noqa: S105 (a test credential, not a secret)


@dataclass(frozen=True, slots=True)
class RunningFakeZuora:
    url: str
    app: web.Application
    client_id: str
    client_secret: str

    @property
    def fake(self) -> FakeZuora:
        """The live state: tenants, faults, ledger, stats (tests may drive it directly)."""
        return self.app[FAKE]

    async def token(self, session: aiohttp.ClientSession) -> str:
        """An access token for this fake's client, over HTTP."""
        form = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "grant_type": "client_credentials",
        }
        async with session.post(f"{self.url}/oauth/token", data=form) as resp:
            resp.raise_for_status()
            body = await resp.json()
        return str(body["access_token"])


@asynccontextmanager
async def running_fake_zuora(**kwargs: Any) -> AsyncIterator[RunningFakeZuora]:
    """Start ``create_app(**kwargs)`` on 127.0.0.1:<free port>; stop it on exit."""
    clients: dict[str, str] | None = kwargs.get("clients")
    client_id, secret = (
        next(iter(clients.items())) if clients else (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    )
    app = create_app(**kwargs)
    runner = make_runner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield RunningFakeZuora(f"http://{host}:{port}", app, client_id, secret)
    finally:
        await runner.cleanup()
