"""Talking HTTP to zproxy (and the fake): one reply type, one request helper, a caller with a
credential fetched through zproxy, the admin port, and raw HTTP/1.1 over a socket."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict

from zproxy.testing.fake_zuora import RunningFakeZuora
from zproxy.testing.proxy_process import ZproxyProcess

ADMIN_TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer: status, headers (looked up case-insensitively) and the raw body."""

    status: int
    headers: CIMultiDict[str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    @property
    def data(self) -> Any:
        """The body parsed when it is declared JSON (and not empty), else None."""
        ctype = self.headers.get("Content-Type", "").split(";", 1)[0].strip()
        if ctype != "application/json" or not self.body.strip():
            return None
        return orjson.loads(self.body)

    @property
    def cache(self) -> str:
        return self.headers.get("Cache-Status", "")

    @property
    def code(self) -> str | None:
        """zproxy's (or Zuora's) first v1 reason code, if the body has one."""
        try:
            reasons = self.json().get("reasons") or [{}]
        except (orjson.JSONDecodeError, AttributeError):
            return None
        code = reasons[0].get("code")
        return None if code is None else str(code)


async def request(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Reply:
    """One request; ``kwargs`` go to ``session.request`` (json, data, headers, ...)."""
    async with session.request(method, url, **kwargs) as resp:
        return Reply(resp.status, CIMultiDict(resp.headers), await resp.read())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def admin(
    session: aiohttp.ClientSession,
    proc: ZproxyProcess,
    method: str,
    path: str,
    json: Any = None,
    **kwargs: Any,
) -> Reply:
    """A call to zproxy's admin port with the admin token."""
    if json is not None:
        kwargs["json"] = json
    return await request(session, method, proc.admin_url + path, headers=ADMIN, **kwargs)


async def breakers(session: aiohttp.ClientSession, proc: ZproxyProcess) -> dict[str, Any]:
    """``GET /admin/breaker``: the groups' snapshots by name."""
    reply = await admin(session, proc, "GET", "/admin/breaker")
    assert reply.status == 200, reply.body
    groups: dict[str, Any] = reply.json()["groups"]
    return groups


async def set_mode(
    session: aiohttp.ClientSession, proc: ZproxyProcess, mode: str, group: str | None = None
) -> dict[str, Any]:
    """``POST /admin/breaker``: force a mode (all groups or one); the groups after it."""
    body: dict[str, str] = {"mode": mode}
    if group is not None:
        body["group"] = group
    reply = await admin(session, proc, "POST", "/admin/breaker", body)
    assert reply.status == 200, reply.body
    groups: dict[str, Any] = reply.json()["groups"]
    return groups


async def oauth_token(
    session: aiohttp.ClientSession, base: str, client_id: str, secret: str
) -> str:
    """A token fetched THROUGH zproxy at ``base``, so zproxy learns token -> principal."""
    form = {"client_id": client_id, "client_secret": secret, "grant_type": "client_credentials"}
    reply = await request(session, "POST", base + "/oauth/token", data=form)
    assert reply.status == 200, reply.body
    return str(reply.json()["access_token"])


@dataclass(slots=True)
class Caller:
    """A CustomersDot stand-in with one credential; ``headers`` go with every request."""

    session: aiohttp.ClientSession
    base: str
    token: str
    headers: dict[str, str] = field(default_factory=dict)

    def auth(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {**bearer(self.token), **self.headers, **(extra or {})}

    async def get(self, path: str, headers: Mapping[str, str] | None = None) -> Reply:
        return await request(self.session, "GET", self.base + path, headers=self.auth(headers))

    async def send(
        self, method: str, path: str, body: Any, headers: Mapping[str, str] | None = None
    ) -> Reply:
        return await request(
            self.session, method, self.base + path, json=body, headers=self.auth(headers)
        )

    async def post(self, path: str, body: Any, headers: Mapping[str, str] | None = None) -> Reply:
        return await self.send("POST", path, body, headers)

    async def put(self, path: str, body: Any, headers: Mapping[str, str] | None = None) -> Reply:
        return await self.send("PUT", path, body, headers)

    def via(self, proxy: ZproxyProcess) -> Caller:
        """The same credential against another zproxy process."""
        return Caller(self.session, proxy.url, self.token, dict(self.headers))


async def caller(
    session: aiohttp.ClientSession,
    fz: RunningFakeZuora,
    proxy: ZproxyProcess,
    client_id: str | None = None,
) -> Caller:
    """A caller whose token was fetched through ``proxy`` (the fake's client by default)."""
    token = await oauth_token(session, proxy.url, client_id or fz.client_id, fz.client_secret)
    return Caller(session, proxy.url, token)


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

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower().encode():
                return value.strip().decode()
        return None

    def json(self) -> Any:
        return orjson.loads(self.body)


async def read_all(reader: asyncio.StreamReader, timeout: float) -> tuple[bytes, bool]:
    """Everything until the server closes (True), or what came within ``timeout`` (False)."""
    received = b""
    try:
        async with asyncio.timeout(timeout):
            while chunk := await reader.read(65536):
                received += chunk
    except TimeoutError:
        return received, False
    return received, True


async def raw_exchange(
    port: int, data: bytes, *, timeout: float = 5.0, half_close: bool = False
) -> Raw:
    """Send ``data`` (then shut the sending side when ``half_close``) and read until the
    server closes (or ``timeout`` passes: not closed)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        if half_close:
            writer.write_eof()
        received, closed = await read_all(reader, timeout)
        return Raw(received, closed)
    finally:
        writer.close()
