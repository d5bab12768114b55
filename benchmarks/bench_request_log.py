"""What one request's log line and metrics cost on a cache hit (microseconds per request).

Run: ``.venv/bin/python -m benchmarks.bench_request_log``. The line is the ``request`` event of
``zproxy.edge.request_log`` with a hit's fields (CONTRACT §4 "Logs"), written to /dev/null
(one write + flush per line, as in production): through structlog's processor chain (merge,
level, timestamp, exc_info, redaction, orjson renderer, BytesLogger) and through ``HotLines``
(same fields, same redaction, one ``orjson.dumps``). Metrics: ``Metrics.on_request`` (counter
+ duration histogram, children bound once) and ``Metrics.on_cache``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import structlog

from zproxy.observability import logging as zlog
from zproxy.observability.metrics import Metrics
from zproxy.policy import sensitive

N = 50_000


def event() -> dict[str, Any]:
    return {
        "request_id": "9eb1ab5e55358084000000000000000d",
        "method": "GET",
        "route": "account",
        "path": "/v1/accounts/A00000123?fields=basicInfo",
        "status": 200,
        "duration_ms": 0.42,
        "bytes": 1572,
        "cache": "zproxy; hit; ttl=41",
        "upstream_status": None,
        "upstream_ms": None,
        "identity": "3f9a0c1d22ab",
        "track_id": None,
    }


def per_call_us(fn: Callable[[], None], n: int = N) -> float:
    for _ in range(n // 10):
        fn()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n * 1e6)
    return best


def main() -> None:
    devnull = open("/dev/null", "w")  # noqa: SIM115 - held for the whole run
    real_stderr, sys.stderr = sys.stderr, devnull
    try:
        zlog.configure_logging(sensitive.redact_value, "json", "info")
        log = structlog.get_logger("zproxy.proxy")
        hot = zlog.hot_lines()
        assert hot is not None
        metrics = Metrics()
        chain = per_call_us(lambda: log.info("request", **event()))
        fast = per_call_us(lambda: hot.info("request", event()))
        build = per_call_us(event)

        def both() -> None:
            metrics.on_request("account", "GET", 200, 0.00042)
            metrics.on_cache("account", "hit")

        counted = per_call_us(both)
    finally:
        sys.stderr = real_stderr
        devnull.close()
    print("per request, microseconds (best of 3 x 50,000):")
    print(f"  request line, structlog chain : {chain - build:6.2f} us")
    print(f"  request line, HotLines        : {fast - build:6.2f} us")
    print(f"  metrics (on_request+on_cache) : {counted:6.2f} us")
    print(f"  line + metrics (HotLines)     : {fast - build + counted:6.2f} us")


if __name__ == "__main__":
    main()
