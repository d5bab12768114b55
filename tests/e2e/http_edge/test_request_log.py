"""One ``request`` log event per answer (CONTRACT §4 "Logs") with the fields operators need,
and nothing secret: query values of secret-looking parameters redacted, the caller as a short
keyed hash, never its token."""

from __future__ import annotations

import re

import aiohttp

from tests.e2e.http_edge.wire import log_events
from tests.support import eventually
from tests.support.http import raw_exchange
from zproxy.testing.proxy_process import ZproxyProcess

TOKEN = "tok-Sup3rSecretBearerValue"
QUERY = "/v1/passthrough?access_token=qs-secret-1&Client%5FSecret=qs-secret-2&page=3"
ADMIN = {"Authorization": "Bearer test-admin-token"}
FIELDS = {
    "request_id",
    "method",
    "route",
    "path",
    "status",
    "duration_ms",
    "bytes",
    "cache",
    "upstream_status",
    "upstream_ms",
    "identity",
}


async def _event(edge: ZproxyProcess, request_id: str) -> dict[str, object]:
    async def logged() -> bool:
        return any(e["request_id"] == request_id for e in log_events(edge, "request"))

    await eventually(logged, timeout=10)
    [event] = [e for e in log_events(edge, "request") if e["request_id"] == request_id]
    return event


async def test_request_event_fields(edge: ZproxyProcess) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            edge.url + QUERY,
            headers={"Authorization": f"Bearer {TOKEN}", "X-Request-Id": "log-fields-1"},
        ) as resp,
    ):
        assert resp.status == 200
        body = await resp.read()
    event = await _event(edge, "log-fields-1")
    assert event.keys() >= FIELDS
    assert event["method"] == "GET"
    assert event["status"] == 200
    assert event["upstream_status"] == 200
    assert isinstance(event["upstream_ms"], float | int)
    assert event["upstream_ms"] >= 0
    assert event["bytes"] == len(body)
    path = str(event["path"])
    assert path.startswith("/v1/passthrough?")
    assert "page=3" in path
    assert "qs-secret" not in path
    assert re.fullmatch(r"[0-9a-z]{6,16}", str(event["identity"]))
    assert "breaker" not in event  # only when not closed
    logs = edge.logs()
    assert TOKEN not in logs
    assert "qs-secret" not in logs


async def test_same_caller_same_identity_other_caller_other(edge: ZproxyProcess) -> None:
    async with aiohttp.ClientSession() as http:
        for rid, token in (("id-a1", TOKEN), ("id-a2", TOKEN), ("id-b", TOKEN + "-other")):
            async with http.get(
                edge.url + "/v1/passthrough",
                headers={"Authorization": f"Bearer {token}", "X-Request-Id": rid},
            ) as resp:
                assert resp.status == 200
    a1, a2, b = [await _event(edge, rid) for rid in ("id-a1", "id-a2", "id-b")]
    assert a1["identity"] == a2["identity"] != b["identity"]


async def test_breaker_state_logged_when_not_closed(edge: ZproxyProcess) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            edge.admin_url + "/admin/breaker", json={"mode": "force_open"}, headers=ADMIN
        ) as resp:
            assert resp.status == 200
        async with http.get(
            edge.url + "/v1/passthrough", headers={"X-Request-Id": "log-breaker-1"}
        ) as resp:
            assert resp.status == 503
    event = await _event(edge, "log-breaker-1")
    assert event["breaker"] == "open"
    assert event["status"] == 503


async def test_request_id_of_the_event_is_the_answer_header(edge: ZproxyProcess) -> None:
    raw = await raw_exchange(
        edge.port, b"GET /v1/passthrough HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    )
    rid = raw.header("X-Request-Id")
    assert raw.status == 200
    assert rid
    event = await _event(edge, rid)
    assert event["identity"] is None  # no credentials


async def test_credentials_that_are_not_utf8_are_logged_not_a_500(edge: ZproxyProcess) -> None:
    ids = []
    for n, credential in enumerate((b"Authorization: Bearer \xff\xfe", b"Cookie: ZSession=\xff")):
        raw = await raw_exchange(
            edge.port,
            b"GET /v1/passthrough HTTP/1.1\r\nHost: a\r\nX-Request-Id: raw-cred-%d\r\n" % n
            + credential
            + b"\r\nConnection: close\r\n\r\n",
        )
        assert raw.status == 200, raw.data
        ids.append(f"raw-cred-{n}")
    events = [await _event(edge, rid) for rid in ids]
    assert all(e["identity"] for e in events)
    assert "unhandled_error" not in edge.logs()
