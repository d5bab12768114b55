"""A TCP pass-through in front of a real redis-server that, once armed, lets Redis run the next
command carrying a marker (a script's SHA) but loses its reply: it then drops every
connection and refuses new ones for a while, as a Redis restart right after the command
would. What zproxy does next (retry, rollback) meets a Redis that is gone."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass(slots=True)
class RedisCut:
    redis_port: int
    marker: bytes
    refuse_for: float = 1.5
    #: Instead of dropping connections: Redis stays reachable but every reply is lost for
    #: this long after the marked command (a stalled Redis or network).
    stall_for: float = 0.0
    armed: bool = False
    cuts: int = 0
    port: int = 0
    _refusing_until: float = 0.0
    _stalled_until: float = 0.0
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self._drop_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _drop_all(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if asyncio.get_running_loop().time() < self._refusing_until:
            client_w.close()
            return
        redis_r, redis_w = await asyncio.open_connection("127.0.0.1", self.redis_port)
        self._writers |= {client_w, redis_w}
        cut = asyncio.Event()
        up = asyncio.ensure_future(self._upstream(client_r, redis_w, cut))
        down = asyncio.ensure_future(self._downstream(redis_r, client_w, cut))
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        for task in (up, down):
            task.cancel()
        for writer in (client_w, redis_w):
            writer.close()
            self._writers.discard(writer)

    async def _upstream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, cut: asyncio.Event
    ) -> None:
        tail = b""
        while chunk := await reader.read(65536):
            window = tail + chunk  # the script's call, not redis-py's SCRIPT EXISTS for it
            seen = self.armed and b"EVALSHA\r\n$40\r\n" + self.marker in window
            tail = chunk[-64:]
            if seen:
                self.armed = False
                cut.set()  # its reply is lost
            writer.write(chunk)
            await writer.drain()
            if seen and self.stall_for:
                self.cuts += 1
                self._stalled_until = asyncio.get_running_loop().time() + self.stall_for
            elif seen:
                await asyncio.sleep(0.2)  # Redis runs it
                self.cuts += 1
                self._refusing_until = asyncio.get_running_loop().time() + self.refuse_for
                self._drop_all()
                return

    async def _downstream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, cut: asyncio.Event
    ) -> None:
        while chunk := await reader.read(65536):
            if cut.is_set() or asyncio.get_running_loop().time() < self._stalled_until:
                continue
            writer.write(chunk)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
