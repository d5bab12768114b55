"""Drive Debian's ``wrk`` with a Lua script that cycles a list of (path, Authorization) pairs,
and read its summary back as numbers (the script's ``done`` prints one JSON line)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50": %d, "p99": %d, ' ..
    '"errors": %d, "non2xx": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""

_CYCLE = r"""
local reqs = {}
local n = 0
local i = 0
local threads = 0
function setup(thread)
  thread:set("offset", threads * 7919)
  threads = threads + 1
end
function init(args)
  for k = 1, #KEYS do
    reqs[k] = wrk.format("GET", KEYS[k][1],
                         {["Authorization"] = KEYS[k][2], ["Accept"] = "application/json"})
  end
  n = #reqs
  i = tonumber(offset) or 0
end
request = function()
  i = i + 1
  return reqs[(i % n) + 1]
end
"""

_COLD = r"""
local n = 0
local i = 0
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
request = function()
  i = i + 1
  local k = (i % #KEYS) + 1
  return wrk.format("GET", KEYS[k][1] .. "?cold=" .. RUN .. "-" .. tid .. "-" .. i,
                    {["Authorization"] = KEYS[k][2], ["Accept"] = "application/json"})
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    non2xx: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def available() -> bool:
    return shutil.which("wrk") is not None


def _lua_keys(keys: Sequence[tuple[str, str]]) -> str:
    rows = ",\n".join(f"  {{{json.dumps(p)}, {json.dumps(a)}}}" for p, a in keys)
    return "KEYS = {\n" + rows + "\n}\n"


def cycle_script(keys: Sequence[tuple[str, str]], path: Path) -> Path:
    """Every request the next warm (path, Authorization) pair; threads start apart."""
    path.write_text(_lua_keys(keys) + _CYCLE + _DONE)
    return path


def paced_script(keys: Sequence[tuple[str, str]], path: Path, delay_ms: float) -> Path:
    """As ``cycle_script``, each connection waiting ``delay_ms`` before each request (wrk's
    ``delay`` hook; latency is timed from the write): an offered rate below the maximum."""
    paced = f"function delay() return {max(0, round(delay_ms))} end\n"
    path.write_text(_lua_keys(keys) + _CYCLE + paced + _DONE)
    return path


def cold_script(keys: Sequence[tuple[str, str]], path: Path, run: str) -> Path:
    """Every request a key nobody asked for before (a query string unique to the run)."""
    path.write_text(_lua_keys(keys) + f"RUN = {json.dumps(run)}\n" + _COLD + _DONE)
    return path


def run(
    url: str,
    script: Path,
    *,
    seconds: float,
    threads: int = 2,
    connections: int = 64,
    timeout_s: int = 10,
) -> WrkResult:
    """One bounded wrk run (killed if it overstays its duration by ``timeout_s`` + 15 s)."""
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=seconds + timeout_s + 15, check=True
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    data = json.loads(line.removeprefix("WRKJSON "))
    return WrkResult(
        requests=int(data["requests"]),
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50"] / 1000,
        p99_ms=data["p99"] / 1000,
        errors=int(data["errors"]),
        non2xx=int(data["non2xx"]),
    )
