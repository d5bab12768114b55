"""``server.body_total_timeout`` bounds the whole request body, not only each gap between
reads (``body_read_timeout``): a body trickled a byte at a time, each byte well within the gap
bound, still ends in a 408 and is not forwarded."""

from __future__ import annotations

import asyncio

from tests.e2e.http_edge.conftest import Seen, StartEdge
from tests.support.http import read_all


async def test_trickled_body_hits_the_total_deadline(start_edge: StartEdge, seen: Seen) -> None:
    edge = await start_edge(overrides={"server": {"body_read_timeout": 5, "body_total_timeout": 1}})
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    size = 100
    try:
        writer.write(
            b"PUT /v1/passthrough HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size
        )
        await writer.drain()
        sent = 0
        answer = asyncio.ensure_future(read_all(reader, 60))
        while not answer.done() and sent < size:
            writer.write(b"x")  # one byte per 0.2 s: every gap far below body_read_timeout
            await writer.drain()
            sent += 1
            await asyncio.sleep(0.2)
        data, _ = await answer
    finally:
        writer.close()
    assert sent < size  # answered before the body could complete
    assert data.startswith(b"HTTP/1.1 408 "), data
    assert seen.requests == []
