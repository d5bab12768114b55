"""Fixtures for the end-to-end folders: one HTTP client session per test (no automatic
decompression: tests see the bytes zproxy sent) and an echoing upstream in the test's loop."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.support.echo_upstream import EchoState, running_echo


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


@pytest.fixture
async def echo() -> AsyncIterator[tuple[str, EchoState]]:
    async with running_echo() as pair:
        yield pair
