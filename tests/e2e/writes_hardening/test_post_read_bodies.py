"""POST reads (ZOQL, previews) with bodies the cache key's JSON canonicalization cannot render:
nested 255-1024 deep, not UTF-8, huge numbers, duplicate keys. Each gets Zuora's own answer
(a 4xx or a 2xx), never a 500 from zproxy (issue 12 finding 3). Real zproxy, fake Zuora, Redis."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.support import zproxy_stack

ROUTES = (
    "/v1/action/query",
    "/v1/action/queryMore",
    "/v1/orders/preview",
    "/v1/subscriptions/preview",
)
BODIES = {
    "nested_300": b'{"q":' + b"[" * 300 + b"]" * 300 + b"}",
    "nested_1000": b'{"q":' + b"[" * 1000 + b"]" * 1000 + b"}",
    "nested_5000": b"[" * 5000 + b"]" * 5000,
    "invalid_utf8": b'{"queryString": "select Id from Account \xff\xfe"}',
    "huge_number": b'{"queryString": "select Id from Account", "n": 1' + b"0" * 400 + b"}",
    "duplicate_keys": b'{"queryString": "select Id from Account", "queryString": "x"}',
}


@pytest.mark.parametrize("route", ROUTES)
async def test_unusual_post_read_bodies_never_get_a_500(
    tmp_path: Path, redis_url: str, route: str
) -> None:
    async with zproxy_stack(tmp_path, redis_url) as (fz, procs), aiohttp.ClientSession() as http:
        token = await fz.token(http)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        for name, body in BODIES.items():
            for _ in range(2):  # the second one may come from the cache: same answer class
                async with http.post(procs[0].url + route, data=body, headers=headers) as resp:
                    text = await resp.text()
                    assert resp.status < 500, (name, resp.status, text)
                    assert "Traceback" not in text
