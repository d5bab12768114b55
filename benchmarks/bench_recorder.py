"""The recorder's cost on the hot path: microseconds per ``Recorder.record`` call (building the
sanitized line: route-template pseudonyms, keyed identity hash, JSON) and per line written by
the background flush (off the event loop, in a worker thread).

Run: ``.venv/bin/python benchmarks/bench_recorder.py``. Requests: a GET of an account, a GET
with a query, and a PUT with a small JSON body, each with a bearer token, matched against the
shipped route table.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import orjson
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from zproxy.config.parse import parse_settings
from zproxy.edge.exchange import Exchange
from zproxy.edge.recorder import Recorder
from zproxy.scenarios.settings import shipped_config

ROUTES = parse_settings(shipped_config(), "shipped", {}).routes
N = 20_000
BODY = orjson.dumps({"notes": "renewal", "autoPay": True, "billToContact": {"workEmail": "x"}})


def exchange(method: str, target: str, body: bytes | None = None) -> Exchange:
    headers = CIMultiDict({"Authorization": "Bearer " + "t" * 40})
    if body is not None:
        headers["Content-Type"] = "application/json"
        headers["Content-Length"] = str(len(body))
    request = make_mocked_request(method, target, headers=headers)
    path, _, query = target.partition("?")
    ex = Exchange(request, "rid", None, path, query, ROUTES.match(method, path), 0.0)
    ex.body = body
    return ex


def per_call_us(recorder: Recorder, ex: Exchange, rounds: int = 5) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(N):
            recorder.record(ex, 200, 0.004)
        samples.append((time.perf_counter() - start) / N * 1e6)
        recorder.take()
    return statistics.median(samples)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        recorder = Recorder(Path(tmp) / "rec.jsonl", max_bytes=1 << 30)
        cases = {
            "GET /v1/accounts/{account}": exchange("GET", "/v1/accounts/A00012345"),
            "GET .../summary?query": exchange("GET", "/v1/accounts/A00012345/summary?page=2"),
            "PUT /v1/accounts/{account} + body": exchange("PUT", "/v1/accounts/A00012345", BODY),
        }
        print(f"record() per request, median of 5 x {N} calls:")
        for name, ex in cases.items():
            print(f"  {name:38s} {per_call_us(recorder, ex):6.2f} us")
        for _ in range(N):
            recorder.record(cases["GET /v1/accounts/{account}"], 200, 0.004)
        batch = recorder.take()
        start = time.perf_counter()
        recorder.write(batch)
        spent = time.perf_counter() - start
        size = (Path(tmp) / "rec.jsonl").stat().st_size
        print(
            f"flush (worker thread): {spent / len(batch) * 1e6:.2f} us per line, "
            f"{size / len(batch):.0f} bytes per line"
        )


if __name__ == "__main__":
    main()
