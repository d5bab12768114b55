"""Fixtures: the fake Zuora on a free port with the shared FakeClock (``clock``, from
tests/conftest.py), and a small authenticated client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.fake_zuora.helpers import Api
from zproxy.clock import FakeClock
from zproxy.testing.fake_zuora import RunningFakeZuora, running_fake_zuora


@pytest.fixture
async def fz(clock: FakeClock) -> AsyncIterator[RunningFakeZuora]:
    async with running_fake_zuora(clock=clock, accounts=12) as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def api(fz: RunningFakeZuora, session: aiohttp.ClientSession) -> Api:
    return Api(session, fz, await fz.token(session))


@pytest.fixture
async def plan_id(api: Api) -> str:
    """A recurring per-unit product rate plan from the seeded catalog."""
    info = await api.control("GET", "seed-info")
    plan: str = info["productRatePlans"][0]["id"]
    return plan
