"""The transparent proxy over real HTTP: a real zproxy process, real Redis, an echo upstream."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal

import aiohttp
import orjson
import pytest
from yarl import URL

from tests.support.echo_upstream import EchoState
from zproxy.testing.proxy_process import ZproxyProcess

pytestmark = pytest.mark.slow


def _headers(seen: dict[str, object]) -> dict[str, str]:
    pairs = seen["headers"]
    assert isinstance(pairs, list)
    return {k.lower(): v for k, v in pairs}


async def test_forwards_method_path_query_headers_and_status(
    zproxy_echo: ZproxyProcess, echo: tuple[str, EchoState], http: aiohttp.ClientSession
) -> None:
    upstream_url, state = echo
    async with http.get(
        URL(zproxy_echo.url + "/v1/unlisted/x?b=2&a=1&a=%2F", encoded=True),
        headers={"X-Custom": "yes", "Zuora-Track-Id": "trace-1", "Zuora-Version": "211.0"},
    ) as resp:
        assert resp.status == 200
        assert resp.headers["X-Upstream"] == "echo"
        assert resp.headers["Zuora-Track-Id"] == "trace-1"
        assert len(resp.headers["X-Request-Id"]) >= 16
        seen = orjson.loads(await resp.read())
    assert seen["method"] == "GET"
    assert seen["raw_path"] == "/v1/unlisted/x?b=2&a=1&a=%2F"
    headers = _headers(seen)
    assert headers["x-custom"] == "yes"
    assert headers["zuora-version"] == "211.0"
    assert headers["host"] == upstream_url.removeprefix("http://")
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-request-id"] == resp.headers["X-Request-Id"]
    async with http.post(zproxy_echo.url + "/status/418", data=b"{}") as resp:
        assert resp.status == 418
    posted = _headers(state.seen[-1])
    assert posted["content-length"] == "2"  # the client's framing, not re-chunked
    assert "transfer-encoding" not in posted
    assert len(state.seen) == 2


async def test_request_id_is_echoed_when_given(
    zproxy_echo: ZproxyProcess, http: aiohttp.ClientSession
) -> None:
    async with http.get(zproxy_echo.url + "/v1/x", headers={"X-Request-Id": "abc-123"}) as resp:
        assert resp.headers["X-Request-Id"] == "abc-123"
        assert _headers(orjson.loads(await resp.read()))["x-request-id"] == "abc-123"


async def test_multi_megabyte_bodies_stream_both_ways(
    zproxy_echo: ZproxyProcess, http: aiohttp.ClientSession
) -> None:
    payload = os.urandom(5_000_000)

    async def chunks() -> object:
        for i in range(0, len(payload), 100_000):
            yield payload[i : i + 100_000]

    async with http.post(zproxy_echo.url + "/v1/upload", data=chunks()) as resp:
        seen = orjson.loads(await resp.read())
    assert seen["body_len"] == len(payload)
    assert seen["body_sha256"] == hashlib.sha256(payload).hexdigest()

    async with http.get(zproxy_echo.url + "/big?size=8000000") as resp:
        data = await resp.read()
        assert resp.status == 200
        assert len(data) == 8_000_000
        assert hashlib.sha256(data).hexdigest() == resp.headers["X-Body-Sha256"]


async def test_hop_by_hop_headers_are_dropped_both_ways(
    zproxy_echo: ZproxyProcess, http: aiohttp.ClientSession
) -> None:
    async with http.get(
        zproxy_echo.url + "/hop",
        headers={
            "Connection": "keep-alive, X-Secret",
            "X-Secret": "s",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            "Trailer": "X-T",
            "X-Forwarded-Host": "evil.example",
            "X-HTTP-Method-Override": "DELETE",
        },
    ) as resp:
        assert resp.status == 200
        assert "X-Up-Secret" not in resp.headers
        assert "Proxy-Authenticate" not in resp.headers
        assert "timeout=5" not in resp.headers.get("Keep-Alive", "")
        assert resp.headers["X-End-To-End"] == "kept"
    async with http.get(
        zproxy_echo.url + "/v1/x",
        headers={
            "Connection": "X-Secret",
            "X-Secret": "s",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            "X-Forwarded-Host": "evil.example",
            "X-HTTP-Method-Override": "DELETE",
            "X-Original-URL": "/admin",
        },
    ) as resp:
        seen = _headers(orjson.loads(await resp.read()))
    for name in (
        "x-secret",
        "keep-alive",
        "te",
        "proxy-authorization",
        "x-forwarded-host",
        "x-http-method-override",
        "x-original-url",
    ):
        assert name not in seen, name


async def _raw(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data",
        "/v1/../oauth/token",
        "/v1/%2e%2e/admin",
        "/v1/%2E%2E/admin",
        "/v1/..%2fx",
        "//x",
        "/v1/./accounts",
        "*",
    ],
)
async def test_bad_request_targets_get_400_and_nothing_is_sent(
    zproxy_echo: ZproxyProcess, echo: tuple[str, EchoState], target: str
) -> None:
    raw = await _raw(
        zproxy_echo.port, f"GET {target} HTTP/1.1\r\nHost: zproxy.local\r\n\r\n".encode()
    )
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400", raw[:200]
    parsed = orjson.loads(body)
    assert parsed["success"] is False
    assert parsed["reasons"][0]["code"].startswith("ZPROXY_BAD_REQUEST")
    assert b"Traceback" not in raw
    assert echo[1].seen == []


async def test_body_over_the_limit_gets_413_and_nothing_is_sent(
    zproxy_echo: ZproxyProcess, echo: tuple[str, EchoState]
) -> None:
    raw = await _raw(
        zproxy_echo.port, b"POST /v1/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 6500000\r\n\r\n"
    )
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), raw[:200]
    assert orjson.loads(body)["reasons"][0]["code"] == "ZPROXY_REQUEST_TOO_LARGE"
    assert echo[1].seen == []


async def test_chunked_body_over_the_limit_gets_413_and_is_not_applied(
    zproxy_echo: ZproxyProcess, echo: tuple[str, EchoState], http: aiohttp.ClientSession
) -> None:
    async def chunks() -> object:
        for _ in range(70):
            yield b"x" * 100_000

    async with http.post(zproxy_echo.url + "/v1/upload", data=chunks()) as resp:
        assert resp.status == 413
        assert (await resp.json())["reasons"][0]["code"] == "ZPROXY_REQUEST_TOO_LARGE"
    # The upstream may have seen the start of the body, never a complete request.
    assert echo[1].seen == []


async def test_upstream_body_over_the_cap_gets_502(
    zproxy_echo: ZproxyProcess, http: aiohttp.ClientSession
) -> None:
    async with http.get(zproxy_echo.url + "/big?size=9500000") as resp:
        assert resp.status == 502
        assert (await resp.json())["reasons"][0]["code"] == "ZPROXY_UPSTREAM_BODY_TOO_LARGE"


async def test_slow_request_body_gets_408(
    zproxy_echo: ZproxyProcess, echo: tuple[str, EchoState]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", zproxy_echo.port)
    writer.write(b"POST /v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(65536), 15)
    writer.close()
    assert raw.startswith(b"HTTP/1.1 408"), raw[:100]


async def test_too_many_headers_are_refused(zproxy_echo: ZproxyProcess) -> None:
    headers = "".join(f"X-H{i}: v\r\n" for i in range(200))
    raw = await _raw(zproxy_echo.port, f"GET /v1/x HTTP/1.1\r\nHost: a\r\n{headers}\r\n".encode())
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] in (b"400", b"431"), raw[:100]
    assert orjson.loads(body)["success"] is False


async def test_unreachable_upstream_is_a_zuora_shaped_503(
    redis_url: str, tmp_path: object, http: aiohttp.ClientSession
) -> None:
    from pathlib import Path

    proc = ZproxyProcess(
        upstream="http://127.0.0.1:9", redis_url=redis_url, data_dir=Path(str(tmp_path)) / "zp"
    )
    await proc.astart()
    try:
        async with http.get(proc.url + "/v1/unlisted", headers={"Zuora-Track-Id": "t-9"}) as resp:
            assert resp.status == 503
            assert resp.headers["Retry-After"].isdigit()
            assert resp.headers["Zuora-Track-Id"] == "t-9"
            body = await resp.json()
            assert body["success"] is False
            assert body["reasons"][0]["code"] == "ZPROXY_UPSTREAM_UNAVAILABLE"
            assert body["requestId"] == resp.headers["X-Request-Id"]
    finally:
        proc.kill()


async def test_secrets_and_card_numbers_never_reach_the_logs(
    zproxy_echo: ZproxyProcess, http: aiohttp.ClientSession
) -> None:
    secret_headers = {
        "Authorization": "Bearer tok-SECRET-1234567890",
        "apiAccessKeyId": "keyid-SECRET",
        "apiSecretAccessKey": "apisecret-SECRET",
        "Cookie": "ZSession=cookie-SECRET",
    }
    body = b'{"creditCardNumber": "4111111111111111", "client_secret": "cs-SECRET"}'
    for path in (
        "/v1/payment-methods",
        "/status/500",
        "/v1/accounts/4111111111111111",
        "/v1/../x?client_secret=cs-SECRET",
    ):
        async with http.post(zproxy_echo.url + path, data=body, headers=secret_headers) as resp:
            await resp.read()
    zproxy_echo.terminate()
    logs = zproxy_echo.logs()
    events = [orjson.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert sum(e["event"] == "request" for e in events) == 4
    assert "SECRET" not in logs
    assert "4111111111111111" not in logs


async def test_sigterm_finishes_in_flight_requests_and_exits_0(
    zproxy_echo: ZproxyProcess, echo: tuple[str, EchoState], http: aiohttp.ClientSession
) -> None:
    pending = asyncio.create_task(http.get(zproxy_echo.url + "/slow?delay=1.5"))
    await asyncio.wait_for(echo[1].slow_started.wait(), 10)
    assert zproxy_echo.proc is not None
    zproxy_echo.proc.send_signal(signal.SIGTERM)
    resp = await asyncio.wait_for(pending, 15)
    assert resp.status == 200
    assert orjson.loads(await resp.read())["raw_path"] == "/slow?delay=1.5"
    resp.release()
    assert await zproxy_echo.aterminate() == 0
