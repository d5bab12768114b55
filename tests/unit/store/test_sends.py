"""store.sends: whether a failed Redis call may have reached Redis, through redis-py's own
retries (real sockets: a closed port, and a peer that reads the command and hangs up)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from zproxy.store.connect import redis_client
from zproxy.store.embedded import free_port
from zproxy.store.sends import is_connect_failure, never_sent, tracked


def _client(port: int) -> aioredis.Redis:
    return redis_client(
        f"redis://127.0.0.1:{port}/0",
        socket_timeout=1,
        connect_timeout=1,
        max_connections=4,
        pool_wait=1,
    )


@pytest.fixture
async def swallower() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A peer that reads each command and closes the connection without answering, as Redis
    killed right after running it would."""
    got: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(65536):
            got.append(chunk)
            if b"$3\r\nSET\r\n" in chunk:
                break  # the command itself: hang up without an answer
            writer.write(b"+OK\r\n" * chunk.count(b"*"))  # the client's handshake
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1]), got
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize(
    ("error", "connecting"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (socket.gaierror(-2, "Name or service not known"), True),
        (RedisConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."), True),
        (RedisTimeoutError("Timeout connecting to server"), True),
        (RedisConnectionError("Connection closed by server."), False),
        (RedisTimeoutError("Timeout reading from 127.0.0.1:6379"), False),
        (RedisConnectionError("Error while reading from 127.0.0.1:6379 : (104, 'reset')"), False),
    ],
)
def test_which_failures_are_failures_to_connect(error: BaseException, connecting: bool) -> None:
    assert is_connect_failure(error) is connecting


async def test_a_refused_connection_never_sent_the_command() -> None:
    client = _client(free_port())  # nothing listens there
    with tracked() as sends, pytest.raises(RedisError) as caught:
        await client.set("k", "v")
    await client.aclose()
    assert sends.before_send
    assert not sends.maybe_sent
    assert never_sent(sends, caught.value)


async def test_a_command_whose_reply_was_lost_may_have_run(
    swallower: tuple[int, list[bytes]],
) -> None:
    port, got = swallower
    client = _client(port)
    with tracked() as sends, pytest.raises(RedisError) as caught:
        await client.set("k", "v")
    await client.aclose()
    assert any(b"$3\r\nSET\r\n" in chunk for chunk in got)  # the command did arrive
    assert sends.maybe_sent
    assert not never_sent(sends, caught.value)


async def test_outside_tracked_nothing_is_recorded(swallower: tuple[int, list[bytes]]) -> None:
    port, _ = swallower
    client = _client(port)
    with pytest.raises(RedisError):
        await client.set("k", "v")
    await client.aclose()
    with tracked() as sends:
        pass
    assert not sends.before_send
    assert not sends.maybe_sent
