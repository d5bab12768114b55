"""py-spy profile of zproxy's cache hits under the ``benchmarks.peers`` load (issue 15).

    python -m benchmarks.profile_hits [--seconds S] [--out FILE]

One fake Zuora (50 ms), one redis-server, one ``zproxy serve``; warms the 2,000 keys, then
records the worker with ``py-spy record -f raw`` while ``wrk -t2 -c64`` cycles them, and prints
the share of samples per part of the hit path. Needs ``pip install py-spy`` in the venv.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks import peers_setup, wrk
from benchmarks.harness import fake_zuora_process, set_fault

CATEGORIES = {
    "socket write (aiohttp send)": ("StreamWriter._writelines", "StreamWriter.writelines"),
    "Redis GET (redis-py pool, pack, parse)": ("Redis.execute_command", "mget"),
    "codec decode (orjson meta, zstd)": ("Codec.decode",),
    "request log (line + its metrics)": ("log_request",),
    "metrics (prometheus)": ("prometheus_client", "on_cache", "on_request"),
    "identity (token hash, principal)": ("Identities.caller",),
    "cache key (HMAC)": ("cache_key",),
    "hot layer (in-process hits)": ("HotLayer.get", "HotCacheStore"),
    "response build": ("_from_entry",),
}


def shares(raw: Path) -> tuple[int, Counter[str]]:
    total, hit = 0, Counter[str]()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        for name, patterns in CATEGORIES.items():
            if any(p in stack for p in patterns):
                hit[name] += n
    return total, hit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--stale", action="store_true", help="stale entries, Zuora 5 s")
    parser.add_argument("--out", type=Path, default=Path("hit-profile.raw"))
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="zp-prof-")))
        fake = stack.enter_context(fake_zuora_process())
        set_fault(fake, {"mode": "slow", "latency_ms": 50})
        redis = peers_setup.redis_server(tmp, "redis")
        stack.callback(redis.stop)
        config = peers_setup.zproxy_config(tmp, "fresh.yaml", fresh=3600)
        zp = peers_setup.zproxy(tmp, fake, redis.url, config, "zp")
        stack.callback(zp.terminate)
        assert zp.proc is not None
        keys = peers_setup.make_keys(fake, zp.url)
        peers_setup.warm(zp.url, keys.pairs, "hit")
        if args.stale:  # the outage figure: entries stale (fresh 1 s), Zuora 5 s an answer
            peers_setup.zproxy_config(tmp, "short.yaml", fresh=1)
            time.sleep(1.5)
            set_fault(fake, {"mode": "slow", "latency_ms": 5000})
            zp = peers_setup.zproxy(tmp, fake, redis.url, tmp / "short.yaml", "zp-stale")
            stack.callback(zp.terminate)
            assert zp.proc is not None
            peers_setup.warm(zp.url, keys.pairs, "hit")
        script = wrk.cycle_script(keys.pairs, tmp / "cycle.lua")
        wrk.run(zp.url, script, seconds=2)  # unmeasured warm-up
        pid, duration = str(zp.proc.pid), str(round(args.seconds))
        record = subprocess.Popen(
            [
                spy,
                "record",
                "-p",
                pid,
                "-d",
                duration,
                "-r",
                "200",
                "-f",
                "raw",
                "-o",
                str(args.out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        result = wrk.run(zp.url, script, seconds=args.seconds)
        record.wait(args.seconds + 30)
    total, hit = shares(args.out)
    print(f"{result.rps:.0f} req/s under py-spy; {total} samples in {args.out}")
    for name in CATEGORIES:
        print(f"{100 * hit[name] / max(1, total):5.1f}%  {name}")


if __name__ == "__main__":
    main()
