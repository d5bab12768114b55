"""zproxy's cache hits beside its peers, in one run on one machine (issue 15).

    python -m benchmarks.peers [--quick] [--seconds S] [--rounds R] [--no-write]

Starts the fake Zuora (50 ms a call), zproxy (a real ``zproxy serve`` on its own Redis), the
floor (``benchmarks.floor``: aiohttp answering the same body, no cache, no upstream), the naive
proxy (``benchmarks.naive_proxy``: aiohttp + one Redis GET a hit, on its own Redis) and, when
installed, Debian's nginx with ``proxy_cache`` (``benchmarks.nginx``), all on 127.0.0.1 free
ports. Warms 2,000 keys (50 accounts x 10 query strings x 4 credentials, ~1.6 KB JSON each) in
every cache, then runs ``wrk -t2 -c64`` against each in alternation (A B C D, A B C D ...),
then zproxy with ``--workers 2``. Also: the miss path's p50 over Zuora direct, peak RSS per
worker, Redis memory per entry against the body, and two outages (Zuora 503 to cold keys:
origin requests per client request; Zuora 5 s an answer with stale entries: hit rate and p99).
Prints a table and writes ``benchmarks/results/<date>-peers.md``. Nothing asserts on speed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks import nginx, peers_setup, wrk
from benchmarks.harness import fake_zuora_process, set_fault
from benchmarks.peers_report import Figures, Row, render
from zproxy.store.embedded import free_port

RESULTS = Path(__file__).parent / "results"


def _hits(name: str, url: str, script: Path, seconds: float, rows: dict[str, Row]) -> None:
    result = wrk.run(url, script, seconds=seconds)
    rows.setdefault(name, Row(name)).runs.append(result)
    print(
        f"  {name:<28} {result.rps:>9.0f} req/s  p50 {result.p50_ms:6.2f} ms"
        f"  p99 {result.p99_ms:6.2f} ms  errors {result.errors} non-2xx {result.non2xx}"
    )


def measure(seconds: float, rounds: int) -> tuple[list[Row], Figures]:
    rows: dict[str, Row] = {}
    fig = Figures()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="zp-peers-")))
        fake = stack.enter_context(fake_zuora_process())
        set_fault(fake, {"mode": "slow", "latency_ms": 50})
        zredis = peers_setup.redis_server(tmp, "redis-zproxy")
        stack.callback(zredis.stop)
        nredis = peers_setup.redis_server(tmp, "redis-naive")
        stack.callback(nredis.stop)
        long_fresh = peers_setup.zproxy_config(tmp, "fresh.yaml", fresh=3600)
        peers_setup.zproxy_config(tmp, "short.yaml", fresh=1)  # for _outages
        zp = peers_setup.zproxy(tmp, fake, zredis.url, long_fresh, "zp1")
        stack.callback(zp.terminate)
        keys = peers_setup.make_keys(fake, zp.url)
        (tmp / "body.json").write_bytes(keys.sample_body)
        floor = stack.enter_context(
            peers_setup.module_server("floor", "--body", str(tmp / "body.json"))
        )
        naive = stack.enter_context(
            peers_setup.module_server("naive_proxy", "--upstream", fake, "--redis", nredis.url)
        )
        servers: list[tuple[str, str]] = [
            ("aiohttp floor", floor),
            ("naive proxy", naive),
            ("zproxy, 1 worker", zp.url),
        ]
        if nginx.binary() is None:
            print("nginx: not installed, skipped (apt-get install -y nginx to include it)")
        else:
            ng = stack.enter_context(nginx.nginx_process(tmp / "nginx", free_port(), fake))
            servers.append(("nginx proxy_cache, 1 worker", ng))
        print(f"warming {len(keys.pairs)} keys (mean body {keys.mean_body:.0f} B) ...")
        before = peers_setup.used_memory(zredis.url), peers_setup.used_memory(nredis.url)
        peers_setup.warm(zp.url, keys.pairs, "hit")
        peers_setup.warm(naive, keys.pairs, "HIT")
        if len(servers) == 4:
            peers_setup.warm(servers[3][1], keys.pairs, "HIT")
        fig.mean_body = keys.mean_body
        fig.redis_per_entry = (peers_setup.used_memory(zredis.url) - before[0]) / len(keys.pairs)
        fig.naive_per_entry = (peers_setup.used_memory(nredis.url) - before[1]) / len(keys.pairs)
        script = wrk.cycle_script(keys.pairs, tmp / "cycle.lua")
        print(f"hits: wrk -t2 -c64, {seconds:.0f} s a run, {rounds} rounds in alternation")
        for _ in range(rounds):
            for name, url in servers:
                _hits(name, url, script, seconds, rows)
        fig.rss_mb = [peers_setup.peak_rss_mb(p) for p in peers_setup.worker_pids(zp.proc.pid)]  # type: ignore[union-attr]
        _half_rate(tmp, zp.url, keys.pairs, seconds, rows["zproxy, 1 worker"].rps, fig)
        zp2 = peers_setup.zproxy(tmp, fake, zredis.url, long_fresh, "zp2", "--workers", "2")
        stack.callback(zp2.terminate)
        for _ in range(2):  # each worker holds the keys it served: 4 passes reach ~94% of both
            peers_setup.warm(zp2.url, keys.pairs, "hit")
        for _ in range(rounds):
            _hits("zproxy, 1 worker", zp.url, script, seconds, rows)
            _hits("zproxy, --workers 2", zp2.url, script, seconds, rows)
        fig.rss2_mb = [peers_setup.peak_rss_mb(p) for p in peers_setup.worker_pids(zp2.proc.pid)]  # type: ignore[union-attr]
        zp2.terminate()
        _misses(tmp, fake, zp.url, keys.pairs, seconds, fig)
        _outages(tmp, fake, zredis.url, zp.url, keys.pairs, seconds, fig, rows)
    return list(rows.values()), fig


def _half_rate(
    tmp: Path,
    url: str,
    pairs: list[tuple[str, str]],
    seconds: float,
    max_rps: float,
    fig: Figures,
) -> None:
    """Hits offered at about half of zproxy's maximum rate (64 connections, each pausing so
    that together they ask for ``max_rps / 2``): p99 there."""
    target = max(1.0, max_rps / 2)
    delay_ms = 64 * 1000 / target
    result = wrk.run(url, wrk.paced_script(pairs, tmp / "paced.lua", delay_ms), seconds=seconds)
    fig.half_rate_rps, fig.half_rate_p99 = result.rps, result.p99_ms
    print(f"  half rate: {result.rps:.0f} req/s (asked {target:.0f}), p99 {result.p99_ms:.2f} ms")


def _misses(
    tmp: Path, fake: str, proxy: str, pairs: list[tuple[str, str]], seconds: float, fig: Figures
) -> None:
    """Cold keys at low concurrency, Zuora direct then through zproxy (alternated)."""
    direct: list[float] = []
    through: list[float] = []
    for n in range(2):
        for url, out in ((fake, direct), (proxy, through)):
            script = wrk.cold_script(pairs, tmp / f"cold-{n}-{len(out)}.lua", f"m{n}{len(out)}")
            out.append(wrk.run(url, script, seconds=seconds / 2, threads=1, connections=4).p50_ms)
    fig.miss_direct_p50 = statistics.median(direct)
    fig.miss_proxy_p50 = statistics.median(through)
    print(f"  miss p50: direct {fig.miss_direct_p50:.2f} ms, zproxy {fig.miss_proxy_p50:.2f} ms")


def _outages(
    tmp: Path,
    fake: str,
    redis_url: str,
    proxy: str,
    pairs: list[tuple[str, str]],
    seconds: float,
    fig: Figures,
    rows: dict[str, Row],
) -> None:
    set_fault(fake, {"mode": "down"})
    before = peers_setup.fake_stats_total(fake)
    cold = wrk.run(proxy, wrk.cold_script(pairs, tmp / "down.lua", "down"), seconds=seconds)
    fig.outage_origin_per_request = (peers_setup.fake_stats_total(fake) - before) / max(
        1, cold.requests
    )
    fig.outage_client_requests = cold.requests
    print(f"  Zuora 503, cold keys: {fig.outage_origin_per_request:.4f} origin requests a request")
    # Entries stored > 1 s ago are stale for a zproxy whose account route is fresh for 1 s
    # (inside stale-while-revalidate): every hit is served stale and revalidates (5 s each).
    set_fault(fake, {"mode": "slow", "latency_ms": 5000})
    short = tmp / "short.yaml"
    stale = peers_setup.zproxy(tmp, fake, redis_url, short, "zp-stale")
    try:
        peers_setup.warm(stale.url, pairs, "hit")  # as the fresh runs: its hot layer filled
        script = wrk.cycle_script(pairs, tmp / "cycle-stale.lua")
        _hits("zproxy, stale + Zuora 5 s", stale.url, script, seconds, rows)
    finally:
        set_fault(fake, {"mode": "up"})
        stale.terminate()


def main(argv: list[str] | None = None, write: Callable[[Path, str], None] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round of 3 s runs")
    parser.add_argument("--seconds", type=float, default=None, help="per wrk run (default 6)")
    parser.add_argument("--rounds", type=int, default=None, help="alternations (default 2)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    seconds = args.seconds or (3.0 if args.quick else 6.0)
    rounds = args.rounds or (1 if args.quick else 2)
    rows, fig = measure(seconds, rounds)
    header = (
        f"{datetime.date.today().isoformat()}, {platform.node()}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}; wrk -t2 -c64, {seconds:.0f} s runs x {rounds} rounds"
    )
    text = render(rows, fig, header)
    print(text)
    if not args.no_write:
        out = RESULTS / f"{datetime.date.today().isoformat()}-peers.md"
        RESULTS.mkdir(exist_ok=True)
        out.write_text(text)
        print(f"written to {out}")


if __name__ == "__main__":
    main()
