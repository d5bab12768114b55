"""An unhandled error is answered with a Zuora-shaped 500 and still makes one ``request`` event
with its ``request_id`` and one ``zproxy_requests_total{status="500"}`` sample.

No input is known to make zproxy fail, so the fault is injected: a real zproxy process whose
target validation raises for ``/v1/boom`` (the process is started through a ``-c`` wrapper
that patches that one function, then runs the ordinary CLI)."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.e2e.http_edge.conftest import Seen
from tests.e2e.http_edge.wire import log_events, requests_total
from tests.support import QUEUE_KEY, write_config
from zproxy.testing.proxy_process import ZproxyProcess

_FAULTY = """
import sys
import zproxy.edge.handler as handler
real = handler.validate_target
def faulty(raw_path):
    if raw_path.startswith("/v1/boom"):
        raise RuntimeError("injected fault with internals")
    return real(raw_path)
handler.validate_target = faulty
from zproxy.cli import main
sys.exit(main(sys.argv[1:]))
"""


class _FaultyZproxy(ZproxyProcess):
    def _command(self) -> list[str]:
        cmd = super()._command()
        assert cmd[1:3] == ["-m", "zproxy"]
        return [cmd[0], "-c", _FAULTY, *cmd[3:]]


async def test_a_500_is_logged_and_counted(
    upstream: tuple[str, Seen], redis_url: str, tmp_path: Path
) -> None:
    proc = _FaultyZproxy(
        upstream=upstream[0],
        redis_url=redis_url,
        data_dir=tmp_path / "zp",
        config=write_config(tmp_path / "zp.yaml"),
        env={"ZPROXY_QUEUE_KEY": QUEUE_KEY, "ZPROXY_CACHE_SECRET": "test-cache-secret-0123456"},
    )
    await proc.astart()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(proc.url + "/v1/boom", headers={"X-Request-Id": "boom-1"}) as resp:
                status, body = resp.status, await resp.json()
                assert resp.headers["X-Request-Id"] == "boom-1"
            totals = await requests_total(http, proc)
    finally:
        proc.kill()
    assert status == 500
    assert body["success"] is False
    assert body["requestId"] == "boom-1"
    assert body["reasons"][0]["code"] == "ZPROXY_INTERNAL_ERROR"
    assert "internals" not in str(body)
    assert totals.get("500") == 1
    [event] = [e for e in log_events(proc, "request") if e["request_id"] == "boom-1"]
    assert event["status"] == 500
    [error] = log_events(proc, "unhandled_error")
    assert error["request_id"] == "boom-1"
    assert upstream[1].requests == []
