"""Raw HTTP/1.1 over a socket, for requests no client library would send (copied from the
security tests' helpers, not imported), and reading zproxy's JSON log and metrics."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from prometheus_client.parser import text_string_to_metric_families

from zproxy.testing.proxy_process import ZproxyProcess


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


def log_events(proc: ZproxyProcess, event: str) -> list[dict[str, Any]]:
    out = []
    for line in proc.logs().splitlines():
        if line.startswith("{"):
            doc = orjson.loads(line)
            if doc.get("event") == event:
                out.append(doc)
    return out


async def requests_total(session: aiohttp.ClientSession, proc: ZproxyProcess) -> dict[str, float]:
    """``zproxy_requests_total`` samples by status (summed over routes and methods)."""
    async with session.get(proc.admin_url + "/metrics") as resp:
        text = await resp.text()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "zproxy_requests_total":
                status = sample.labels["status"]
                out[status] = out.get(status, 0.0) + sample.value
    return out
