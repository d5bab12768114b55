"""The request plan: which request goes out when, as whom (pure, seeded, repeatable).

Both runs (through zproxy and the baseline) send the same plan. Every write carries a marker
``?scenario_write=wN`` that the fake's ledger records with the path, so the audit can prove each
acknowledged write was applied once; orders also carry their own ``Idempotency-Key``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from zproxy.scenarios.model import WRITE_KINDS, Traffic
from zproxy.testing.fake_zuora.samples import order_body

MARKER = "scenario_write"
MARKER_RE = re.compile(r"[?&]" + MARKER + r"=(w\d+)")
_READ_POSTS = re.compile(r"^/v1/(action/query|.*/preview)")
_ACCOUNT_PATH = re.compile(r"^/v1/accounts/([^/?]+)")


@dataclass(frozen=True, slots=True)
class SeedInfo:
    """What the fake seeded: account numbers and a product rate plan to order."""

    accounts: tuple[str, ...]
    rate_plan: str
    subscriptions: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    rate_plans: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> SeedInfo:
        plans = tuple(str(p["id"]) for p in doc["productRatePlans"])
        return cls(
            tuple(str(a) for a in doc["accounts"]),
            plans[0],
            tuple(str(s) for s in doc.get("subscriptions", ())),
            tuple(str(p) for p in doc.get("products", ())),
            plans,
        )


@dataclass(frozen=True, slots=True)
class Planned:
    """One request of the plan, before it has its HTTP form."""

    n: int
    t: float
    kind: str
    credential: int
    account: int = 0
    #: Recorded traffic: the request as recorded (method, path, headers, body).
    method: str = ""
    path: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    #: A ``--record`` line: ``scenarios.recording.Recorded`` (route, body shape, headers).
    recorded: Any = None


@dataclass(frozen=True, slots=True)
class HttpRequest:
    n: int
    t: float
    kind: str
    credential: int
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes | None
    account: str | None
    #: ``wN`` for writes (in the path's query), else None.
    marker: str | None = None

    @property
    def is_write(self) -> bool:
        return self.marker is not None


def plan_mix(traffic: Traffic, duration: float, seed: int) -> list[Planned]:
    """``rate x duration`` requests evenly spaced; kind, credential and account drawn."""
    rng = random.Random(seed)
    kinds = [k for k, w in traffic.mix.items() if w > 0]
    weights = [traffic.mix[k] for k in kinds]
    count = round(traffic.rate * duration)
    out = []
    for n in range(count):
        kind = rng.choices(kinds, weights)[0]
        out.append(
            Planned(
                n=n,
                t=(n + 0.5) / traffic.rate,  # never on a phase boundary
                kind=kind,
                credential=rng.randrange(traffic.credentials),
                account=rng.randrange(traffic.accounts),
            )
        )
    return out


def to_http(p: Planned, seed: SeedInfo, run_seed: int) -> HttpRequest:
    if p.method:
        return _recorded_http(p)
    account = seed.accounts[p.account % len(seed.accounts)]
    marker = f"w{p.n}" if p.kind in WRITE_KINDS else None
    qs = f"?{MARKER}={marker}" if marker else ""
    method, path = "GET", ""
    body: dict[str, Any] | None = None
    headers: dict[str, str] = {}
    if p.kind == "get_account":
        path = f"/v1/accounts/{account}"
    elif p.kind == "get_summary":
        path = f"/v1/accounts/{account}/summary"
    elif p.kind == "list_subscriptions":
        path = f"/v1/subscriptions/accounts/{account}"
    elif p.kind == "catalog":
        path = "/v1/catalog/products"
    elif p.kind == "zoql_query":
        method, path = "POST", "/v1/action/query"
        # The account number comes from the fake's own seed data, not from input.
        query = f"select Id, Name, Balance from Account where AccountNumber = '{account}'"  # noqa: S608
        body = {"queryString": query}
    elif p.kind == "update_account":
        method, path = "PUT", f"/v1/accounts/{account}{qs}"
        body = {"notes": f"scenario write {marker}"}
    elif p.kind == "create_order":
        method, path = "POST", f"/v1/orders{qs}"
        body = order_body(account, seed.rate_plan)
        headers = {"Prefer": "respond-async", "Idempotency-Key": f"scn-{run_seed}-{marker}"}
    elif p.kind == "payment":
        method, path = "POST", f"/v1/payments{qs}"
        body = {"accountNumber": account, "amount": 1.0, "type": "External"}
    else:  # pragma: no cover - parse rejects unknown kinds
        raise ValueError(p.kind)
    raw = orjson.dumps(body) if body is not None else None
    if raw is not None:
        headers = {**headers, "Content-Type": "application/json"}
    return HttpRequest(p.n, p.t, p.kind, p.credential, method, path, headers, raw, account, marker)


def is_write(method: str, path: str) -> bool:
    return method not in ("GET", "HEAD", "OPTIONS") and not _READ_POSTS.match(path)


def _recorded_http(p: Planned) -> HttpRequest:
    marker = f"w{p.n}" if is_write(p.method, p.path) else None
    path = p.path
    if marker:
        path += ("&" if "?" in path else "?") + f"{MARKER}={marker}"
    return HttpRequest(
        p.n,
        p.t,
        p.kind,
        p.credential,
        p.method,
        path,
        p.headers,
        p.body,
        _account_of(p.path, p.body),
        marker,
    )


def _account_of(path: str, body: bytes | None) -> str | None:
    found = _ACCOUNT_PATH.match(path)
    if found:
        return found.group(1)
    try:
        doc = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None
    if isinstance(doc, dict):
        for key in ("existingAccountNumber", "accountNumber", "accountKey"):
            if isinstance(doc.get(key), str):
                return str(doc[key])
    return None


def warmup_targets(requests: Sequence[HttpRequest]) -> list[HttpRequest]:
    """Each distinct read of the plan once per credential: the cache a steady state has."""
    seen: set[tuple[int, str, str, bytes | None]] = set()
    out = []
    for r in requests:
        key = (r.credential, r.method, r.path, r.body)
        if not r.is_write and r.kind != "payment" and key not in seen:
            seen.add(key)
            out.append(r)
    return out


def load_recorded(path: Path, duration: float) -> tuple[list[Planned], list[str]]:
    """JSON lines ``{t, method, path, headers?, body?, credential?, kind?}``: the plan and
    every problem (``FILE:LINE: message``). Lines past ``duration`` are dropped."""
    plan: list[Planned] = []
    problems: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = _recorded_line(orjson.loads(line), len(plan))
        except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
            problems.append(f"{path}:{number}: {exc}")
            continue
        if item.t < duration:
            plan.append(item)
    plan.sort(key=lambda p: p.t)
    return [_renumber(p, n) for n, p in enumerate(plan)], problems


def _renumber(p: Planned, n: int) -> Planned:
    return Planned(n, p.t, p.kind, p.credential, 0, p.method, p.path, p.headers, p.body)


def _recorded_line(doc: Any, n: int) -> Planned:
    if not isinstance(doc, dict):
        raise ValueError("each line must be a JSON object")
    t, method, path = doc.get("t"), doc.get("method"), doc.get("path")
    if isinstance(t, bool) or not isinstance(t, int | float) or t < 0:
        raise ValueError("`t` must be seconds >= 0 from the start")
    if not isinstance(method, str) or not isinstance(path, str) or not path.startswith("/"):
        raise ValueError("`method` and an origin-form `path` are required")
    headers = doc.get("headers") or {}
    if not isinstance(headers, dict) or any(k.lower() == "authorization" for k in headers):
        raise ValueError("`headers` must be an object without Authorization (added per credential)")
    body = doc.get("body")
    raw = (
        body.encode() if isinstance(body, str) else orjson.dumps(body) if body is not None else None
    )
    kind = doc.get("kind") or f"{method.upper()} {path.split('?')[0]}"
    credential = doc.get("credential", 0)
    if isinstance(credential, bool) or not isinstance(credential, int) or credential < 0:
        raise ValueError("`credential` must be an index >= 0")
    hdrs = {str(k): str(v) for k, v in headers.items()}
    return Planned(n, float(t), str(kind), credential, 0, method.upper(), path, hdrs, raw)
