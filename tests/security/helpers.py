"""Helpers for the security tests: raw HTTP/1.1 exchanges over a socket (for requests no
client library would send), JSON replies, and a bounded poll."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict

from zproxy.testing.proxy_process import ZproxyProcess

ADMIN = {"Authorization": "Bearer test-admin-token"}


@dataclass(frozen=True, slots=True)
class Raw:
    """What came back on a raw connection: the bytes, and whether the server closed it."""

    data: bytes
    closed: bool

    @property
    def status(self) -> int:
        parts = self.data.split(b" ", 2)
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0

    @property
    def head(self) -> bytes:
        return self.data.partition(b"\r\n\r\n")[0]

    @property
    def body(self) -> bytes:
        return self.data.partition(b"\r\n\r\n")[2]

    def json(self) -> Any:
        return orjson.loads(self.body)


async def raw_exchange(port: int, data: bytes, *, timeout: float = 5.0) -> Raw:
    """Send ``data`` and read until the server closes (or ``timeout`` passes: not closed)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        received = b""
        try:
            async with asyncio.timeout(timeout):
                while chunk := await reader.read(65536):
                    received += chunk
        except TimeoutError:
            return Raw(received, closed=False)
        return Raw(received, closed=True)
    finally:
        writer.close()


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer; ``headers`` look up case-insensitively."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


async def call(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Reply:
    async with session.request(method, url, **kwargs) as resp:
        return Reply(resp.status, CIMultiDict(resp.headers), await resp.read())


async def admin(
    session: aiohttp.ClientSession, proc: ZproxyProcess, method: str, path: str, **kw: Any
) -> Reply:
    return await call(session, method, proc.admin_url + path, headers=ADMIN, **kw)
