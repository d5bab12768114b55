"""Cache poisoning through unkeyed inputs (reliability-security §3.1, checklist 19): headers
that some servers honour as a different host, URL or method are not forwarded, so they cannot
shape an answer that is then cached for requests without them. The upstream here echoes
what reached it, so anything forwarded would be visible in the cached body."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.support import StartZproxy
from tests.support.echo_upstream import EchoState
from tests.support.http import Reply, raw_exchange, request

AUTH = {"Authorization": "Bearer tok-unkeyed-0001"}
POISON = {
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Port": "666",
    "X-Forwarded-Proto": "gopher",
    "X-Forwarded-For": "6.6.6.6",
    "Forwarded": "host=evil.example;proto=gopher",
    "X-Original-URL": "/v1/accounts/VICTIM",
    "X-Rewrite-URL": "/v1/accounts/VICTIM",
    "X-HTTP-Method-Override": "DELETE",
    "X-HTTP-Method": "DELETE",
    "X-Method-Override": "DELETE",
}


def _seen(reply: Reply) -> dict[str, Any]:
    doc: dict[str, Any] = reply.json()
    return doc


def _headers(reply: Reply) -> dict[str, str]:
    """What the upstream received, without the per-request id."""
    return {k.lower(): v for k, v in _seen(reply)["headers"] if k.lower() != "x-request-id"}


async def test_unkeyed_headers_neither_reach_zuora_nor_poison_the_entry(
    start_zproxy: StartZproxy, echo: tuple[str, EchoState], http: aiohttp.ClientSession
) -> None:
    proc = await start_zproxy()
    url = proc.url + "/v1/accounts/A00000001"
    poisoned = await request(http, "GET", url, headers={**AUTH, **POISON})
    assert poisoned.status == 200
    assert poisoned.headers["Cache-Status"] == "zproxy; fwd=miss; stored"
    text = poisoned.body.decode()
    for value in ("evil.example", "VICTIM", "DELETE", "6.6.6.6", "gopher", "666"):
        assert value not in text, value
    assert _seen(poisoned)["method"] == "GET"
    assert _seen(poisoned)["raw_path"] == "/v1/accounts/A00000001"

    # Another request without the headers is served that entry ...
    clean = await request(http, "GET", url, headers=AUTH)
    assert clean.headers["Cache-Status"].startswith("zproxy; hit")
    assert clean.body == poisoned.body
    # ... and it is what a clean request makes Zuora answer (the baseline).
    baseline = await request(http, "GET", url, headers={**AUTH, "Cache-Control": "no-cache"})
    assert baseline.headers["Cache-Status"].startswith("zproxy; fwd=")
    expected = _headers(baseline)
    assert expected.pop("cache-control") == "no-cache"  # the one header the baseline added
    assert _headers(poisoned) == expected
    assert len(echo[1].seen) == 2  # the poisoned miss and the baseline; the hit stayed local


async def test_query_parameters_are_part_of_the_key(
    start_zproxy: StartZproxy, http: aiohttp.ClientSession
) -> None:
    proc = await start_zproxy()
    base = proc.url + "/v1/accounts/A00000002"
    odd = await request(http, "GET", base + "?utm_source=evil&cb=1", headers=AUTH)
    assert odd.headers["Cache-Status"] == "zproxy; fwd=miss; stored"
    plain = await request(http, "GET", base, headers=AUTH)
    assert plain.headers["Cache-Status"] == "zproxy; fwd=miss; stored"  # not the odd entry
    assert _seen(plain)["raw_path"] == "/v1/accounts/A00000002"
    # Parameter order is not a distinction (sorted in the key), values are.
    again = await request(http, "GET", base + "?cb=1&utm_source=evil", headers=AUTH)
    assert again.headers["Cache-Status"].startswith("zproxy; hit")
    assert again.body == odd.body
    other = await request(http, "GET", base + "?cb=2&utm_source=evil", headers=AUTH)
    assert other.headers["Cache-Status"] == "zproxy; fwd=miss; stored"


async def test_scoping_headers_and_credentials_are_part_of_the_key(
    start_zproxy: StartZproxy, http: aiohttp.ClientSession
) -> None:
    proc = await start_zproxy()
    url = proc.url + "/v1/accounts/A00000003"
    first = await request(http, "GET", url, headers=AUTH)
    assert first.headers["Cache-Status"] == "zproxy; fwd=miss; stored"
    for extra in (
        {"Zuora-Entity-Ids": "entity-2"},
        {"Zuora-Org-Ids": "org-2"},
        {"Zuora-Version": "211.0"},
        {"Accept": "application/xml"},
        {"Authorization": "Bearer tok-unkeyed-0002"},
    ):
        reply = await request(http, "GET", url, headers={**AUTH, **extra})
        assert reply.headers["Cache-Status"] == "zproxy; fwd=miss; stored", extra
    # Without a credential nothing is served from (or stored in) the cache.
    anonymous = await request(http, "GET", url)
    assert anonymous.headers["Cache-Status"] == "zproxy; fwd=bypass"
    assert (
        (await request(http, "GET", url, headers=AUTH))
        .headers["Cache-Status"]
        .startswith("zproxy; hit")
    )


async def test_identity_headers_named_hop_by_hop_make_the_request_uncacheable(
    start_zproxy: StartZproxy, echo: tuple[str, EchoState], http: aiohttp.ClientSession
) -> None:
    """``Connection: Zuora-Entity-Ids`` strips the header on the way to Zuora, so Zuora answers
    for the default entity: that answer must not be stored as entity E2's."""
    proc = await start_zproxy()
    url = proc.url + "/v1/accounts/A00000004"
    entity = {"Zuora-Entity-Ids": "E2"}
    for named in ("Zuora-Entity-Ids", "authorization", "Accept"):
        headers = {**AUTH, **entity, "Accept": "application/json", "Connection": named}
        stripped = await request(http, "GET", url, headers=headers)
        assert stripped.headers["Cache-Status"] == "zproxy; fwd=bypass", named
        sent = {k.lower(): v for k, v in headers.items()}[named.lower()]
        assert _headers(stripped).get(named.lower()) != sent, named  # it did not reach Zuora
    honest = await request(
        http, "GET", url, headers={**AUTH, **entity, "Accept": "application/json"}
    )
    assert honest.headers["Cache-Status"] == "zproxy; fwd=miss; stored"
    assert _headers(honest)["zuora-entity-ids"] == "E2"


async def test_identity_headers_that_cannot_be_relayed_make_the_request_uncacheable(
    start_zproxy: StartZproxy, http: aiohttp.ClientSession
) -> None:
    """A scoping header that is not UTF-8 text is dropped on the way to Zuora (never relayed
    mangled), so the answer is not stored under it either."""
    proc = await start_zproxy()
    request = (
        b"GET /v1/accounts/A00000005 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
        b"Authorization: Bearer tok-unkeyed-0001\r\nZuora-Entity-Ids: E2\xff\r\n\r\n"
    )
    for _ in range(2):
        raw = await raw_exchange(proc.port, request)
        assert raw.status == 200
        assert b"Cache-Status: zproxy; fwd=bypass" in raw.head
        assert b"Zuora-Entity-Ids" not in raw.body  # not relayed
