"""is_storable / body_success / request directives: what may be kept."""

from __future__ import annotations

import pytest

from zproxy.policy.reads import (
    body_success,
    is_storable,
    request_forbids_store,
    request_wants_revalidation,
)

JSON = {"Content-Type": "application/json"}
MAX = 1000


@pytest.mark.parametrize(
    ("status", "headers", "success", "length", "expected"),
    [
        (200, JSON, True, 10, True),
        (200, JSON, None, 10, True),  # ZOQL answers have no success field
        (200, JSON, False, 10, False),  # Zuora's 200 + success:false is an error
        (201, JSON, True, 10, False),
        (404, JSON, None, 10, False),
        (429, JSON, None, 10, False),
        (503, JSON, None, 10, False),
        (200, JSON, True, MAX, True),
        (200, JSON, True, MAX + 1, False),
        (200, {**JSON, "Cache-Control": "private, max-age=0"}, True, 10, True),
        (200, {**JSON, "Cache-Control": "no-cache"}, True, 10, True),  # route table rules
        (200, {**JSON, "cache-control": "private, No-Store"}, True, 10, False),
        (200, {**JSON, "Set-Cookie": "ZSession=x"}, True, 10, False),
        (200, {**JSON, "Vary": "*"}, True, 10, False),
        (200, {**JSON, "Vary": "Accept-Encoding"}, True, 10, True),
        (200, {**JSON, "Content-Length": "10"}, True, 10, True),
        (200, {**JSON, "Content-Length": "12"}, True, 10, False),  # truncated
        (200, {**JSON, "Content-Length": "x"}, True, 10, False),
        # decoded by the client: Content-Length was the gzip size
        (200, {**JSON, "Content-Length": "4", "Content-Encoding": "gzip"}, True, 10, True),
    ],
)
def test_storable_table(
    status: int, headers: dict[str, str], success: bool | None, length: int, expected: bool
) -> None:
    assert is_storable(status, headers, success, length, MAX) is expected


@pytest.mark.parametrize(
    ("body", "ctype", "expected"),
    [
        (b'{"success": true, "id": 1}', "application/json", True),
        (b'{"success":false,"reasons":[]}', "application/json; charset=utf-8", False),
        (b'{"Success": false, "Errors": []}', "application/json", False),
        (b'{"records": [], "done": true}', "application/json", None),
        (b'{"success": "yes"}', "application/json", None),
        (b"[1, 2]", "application/json", None),
        (b'  {"success": tru', "application/json", False),  # truncated JSON: not kept
        (b"<xml/>", "text/xml", None),
        (b'{"success": false}', None, None),
    ],
)
def test_body_success(body: bytes, ctype: str | None, expected: bool | None) -> None:
    assert body_success(body, ctype) is expected


@pytest.mark.parametrize(
    ("headers", "revalidate", "no_store"),
    [
        ({}, False, False),
        ({"Cache-Control": "no-cache"}, True, False),
        ({"cache-control": "max-age = 0"}, True, False),
        ({"Cache-Control": "max-age=60"}, False, False),
        ({"Pragma": "no-cache"}, True, False),
        ({"Cache-Control": "no-store"}, False, True),
    ],
)
def test_request_directives(headers: dict[str, str], revalidate: bool, no_store: bool) -> None:
    assert request_wants_revalidation(headers) is revalidate
    assert request_forbids_store(headers) is no_store
