"""zproxy's own endpoints (CONTRACT §2-§3, checklist 21 and 25): ``/_zproxy/*`` is answered by
zproxy and never forwarded, encodings do not reach it, the admin API lives on its own
listener only, and its token check neither leaks nor breaks on odd input."""

from __future__ import annotations

import aiohttp

from tests.support import StartZproxy
from tests.support.echo_upstream import EchoState
from tests.support.http import ADMIN, raw_exchange, request
from zproxy.edge.responses import same_secret


async def _get(port: int, target: str, headers: bytes = b"") -> tuple[int, bytes]:
    raw = await raw_exchange(
        port,
        b"GET "
        + target.encode()
        + b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
        + headers
        + b"\r\n",
    )
    return raw.status, raw.body


async def test_internal_namespace_is_answered_by_zproxy_and_not_reachable_by_encodings(
    start_zproxy: StartZproxy, echo: tuple[str, EchoState]
) -> None:
    proc = await start_zproxy()
    status, body = await _get(proc.port, "/_zproxy/unknown")
    assert status == 404
    assert b'"ZPROXY_NOT_FOUND"' in body
    auth = b"Authorization: Bearer tok-internal-1\r\n"
    status, body = await _get(proc.port, "/_zproxy/writes/no-such-write", auth)
    assert (status, b'"ZPROXY_WRITE_NOT_FOUND"' in body) == (404, True)
    status, body = await _get(proc.port, "/_zproxy/writes/no-such-write")
    assert status == 404  # no credential: the same answer, ids reveal nothing
    for target in (
        "/_zproxy%2fwrites/x",
        "/_zproxy%2Fwrites/x",
        "/_zproxy/writes/..%2fx",
        "/_zproxy/%2e%2e/admin/writes",
        "/v1/..%2f_zproxy/writes/x",
        "/v1/../_zproxy/writes/x",
        "/_zproxy/writes%5cx",
        "//_zproxy/writes/x",
    ):
        status, body = await _get(proc.port, target)
        assert status == 400, target
        assert b'"ZPROXY_BAD_REQUEST_TARGET"' in body, target
    status, _ = await _get(proc.port, "/_zproxy/callouts")
    assert status == 404  # callouts are POST only
    assert echo[1].seen == []  # none of it was forwarded


async def test_admin_api_lives_on_its_own_listener_only(
    start_zproxy: StartZproxy, echo: tuple[str, EchoState], http: aiohttp.ClientSession
) -> None:
    proc = await start_zproxy()
    # On the proxy port these are ordinary paths, forwarded to Zuora: never zproxy's admin.
    for path in ("/admin/writes?state=dead", "/admin/breaker", "/metrics", "/healthz"):
        reply = await request(http, "GET", proc.url + path, headers=ADMIN)
        assert reply.status == 200
        assert reply.json()["raw_path"] == path  # the echo upstream's answer
    assert len(echo[1].seen) == 4
    # And the admin port serves nothing of the proxy.
    reply = await request(http, "GET", proc.admin_url + "/v1/accounts/A00000001")
    assert reply.status == 404
    assert len(echo[1].seen) == 4


#: Authorization headers that must all be refused (the non-UTF-8 one was a 500 + traceback).
BAD_AUTHORIZATIONS = (
    b"",
    b"Authorization: Bearer wrong-token\r\n",
    b"Authorization: Bearer test-admin-token-and-more\r\n",
    b"Authorization: Basic dGVzdC1hZG1pbi10b2tlbg==\r\n",
    b"Authorization: Bearer \xff\xfe\r\n",
    b"Authorization: Bearer test-admin-toke\xc3\xa9\r\n",
)


async def test_admin_refuses_bad_tokens_with_401_on_every_spelling_of_its_paths(
    start_zproxy: StartZproxy,
) -> None:
    proc = await start_zproxy()
    for authorization in BAD_AUTHORIZATIONS:
        for target in (
            "/admin/writes",
            "/admin/writes?state=dead",
            "/admin/writes/some-id",
            "/admin%2fwrites",
            "/%61dmin/writes",
            "/admin//writes",
            "/admin/./writes",
            "/admin/breaker",
            "http://127.0.0.1/admin/writes",
        ):
            status, body = await _get(proc.admin_port, target, authorization)
            assert status == 401, (authorization, target, status, body[:200])
            assert b'"ZPROXY_ADMIN_UNAUTHORIZED"' in body
        # Spellings the router does not resolve are 404, never the resource.
        for target in ("//admin/writes", "/ADMIN/writes", "/x/../admin/writes", "/%2e/admin/w"):
            status, _ = await _get(proc.admin_port, target, authorization)
            assert status == 404, (authorization, target)
    assert "Traceback" not in proc.logs()
    status, _ = await _get(proc.admin_port, "/metrics")
    assert status == 200  # metrics, health and readiness need no token


async def test_admin_token_is_accepted_in_any_scheme_case(start_zproxy: StartZproxy) -> None:
    proc = await start_zproxy()
    for scheme in (b"Bearer", b"bearer", b"BEARER"):
        status, _ = await _get(
            proc.admin_port,
            "/admin/breaker",
            b"Authorization: " + scheme + b" test-admin-token\r\n",
        )
        assert status == 200


async def test_without_a_configured_token_the_admin_api_is_closed(
    start_zproxy: StartZproxy,
) -> None:
    proc = await start_zproxy(env={"ZPROXY_ADMIN_TOKEN": ""})
    status, body = await _get(proc.admin_port, "/admin/writes", b"Authorization: Bearer \r\n")
    assert status == 403
    assert b'"ZPROXY_ADMIN_DISABLED"' in body


def test_same_secret_compares_bytes_and_never_raises() -> None:
    assert same_secret("s3cret", "s3cret")
    assert not same_secret("s3cre", "s3cret")
    assert not same_secret("\udcff\udcfe", "s3cret")  # header bytes that were not UTF-8
    assert not same_secret("caf\u00e9", "cafe")
