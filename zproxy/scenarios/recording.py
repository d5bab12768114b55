"""Replaying a ``zproxy serve --record`` recording (pure).

``load_recording`` reads the JSON lines (header lines of rotated files are skipped) into the
request plan: offsets scaled by the scenario's ``time_scale``, every pseudonym renamed to its
order of first appearance (``@account.9f2c...`` -> ``@account.3``), every identity to a
credential index (none: the request is sent without credentials). ``http_of`` then gives each
planned request its HTTP form against the fake Zuora that is running: ``@account.3`` becomes
the fake's fourth seeded account (wrapping), subscriptions, products and rate plans likewise;
other pseudonyms stay as they are (the fake answers 404: a client error, excluded from the
success rate). Write bodies are built from the recorded shapes (keys with values of the right
JSON type, id fields filled with the mapped objects); an order is the fake's sample order on
the mapped account, so it is valid.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from zproxy.policy.pseudonyms import PSEUDONYM
from zproxy.scenarios.driver import CLIENT_SECRET, client_ids
from zproxy.scenarios.traffic import MARKER, HttpRequest, Planned, SeedInfo, to_http
from zproxy.testing.fake_zuora.samples import order_body

_RENAMED = re.compile(r"@([a-z_][a-z0-9_]*)\.(\d+)")
#: Routes that only read, whatever their method; and the token endpoint (not a write).
_READ_ROUTES = frozenset(
    {"zoql_query", "zoql_query_more", "orders_preview", "subscription_preview"}
)
_TOKEN_ROUTE = "oauth_token"  # noqa: S105 - a route name
_ACCOUNT_FIELDS = ("existingAccountNumber", "accountNumber", "accountKey", "accountId")


@dataclass(frozen=True, slots=True)
class Recorded:
    """What a recorded line adds to a planned request."""

    route: str
    shape: Any = None
    prefer: str | None = None
    idempotent: bool = False
    status: int | None = None


def load_recording(
    path: Path, duration: float, time_scale: float = 1.0
) -> tuple[list[Planned], list[str]]:
    """The plan (requests whose scaled offset is before ``duration``) and every problem as
    ``FILE:LINE: message``."""
    lines: list[tuple[int, dict[str, Any]]] = []
    problems: list[str] = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [], [f"{path}: cannot read ({exc.strerror})"]
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            problems.append(f"{path}:{number}: not JSON ({exc})")
            continue
        if isinstance(doc, dict) and "recording" in doc:
            continue  # a file header
        problem = _check(doc)
        if problem:
            problems.append(f"{path}:{number}: {problem}")
        else:
            lines.append((number, doc))
    lines.sort(key=lambda item: float(item[1]["t"]))
    names = _Renamer()
    plan: list[Planned] = []
    for _, doc in lines:
        t = float(doc["t"]) * time_scale
        if t >= duration:
            continue
        plan.append(_planned(len(plan), t, doc, names))
    return plan, problems


def is_recording(path: Path) -> bool:
    """Whether ``path`` starts like a ``--record`` file (else: the older hand-written format)."""
    try:
        with path.open("rb") as f:
            first = f.readline()
        doc = orjson.loads(first)
    except (OSError, orjson.JSONDecodeError):
        return False
    return isinstance(doc, dict) and ("recording" in doc or "route" in doc)


def _check(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return "each line must be a JSON object"
    t, method, path = doc.get("t"), doc.get("method"), doc.get("path")
    if isinstance(t, bool) or not isinstance(t, int | float) or t < 0:
        return "`t` must be seconds >= 0 from the start of the recording"
    if not isinstance(method, str) or not isinstance(path, str) or not path.startswith("/"):
        return "`method` and an origin-form `path` are required"
    return None


class _Renamer:
    """Pseudonyms -> ``@kind.N`` by order of first appearance, per kind."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, int]] = {}

    def index(self, kind: str, token: str) -> int:
        table = self.seen.setdefault(kind, {})
        return table.setdefault(token, len(table))

    def text(self, value: str) -> str:
        return PSEUDONYM.sub(lambda m: f"@{m.group(1)}.{self.index(m.group(1), m.group(2))}", value)

    def shape(self, shape: Any) -> Any:
        if isinstance(shape, dict):
            return {self.text(str(k)): self.shape(v) for k, v in shape.items()}
        if isinstance(shape, list):
            return [self.shape(v) for v in shape]
        return self.text(shape) if isinstance(shape, str) else shape


def _planned(n: int, t: float, doc: Mapping[str, Any], names: _Renamer) -> Planned:
    identity = doc.get("identity")
    credential = names.index("identity", str(identity)) if identity else -1
    route = str(doc.get("route") or "unmatched")
    extra = Recorded(
        route=route,
        shape=names.shape(doc.get("shape")),
        prefer=doc.get("prefer") if isinstance(doc.get("prefer"), str) else None,
        idempotent=doc.get("idem") is True,
        status=doc.get("status") if isinstance(doc.get("status"), int) else None,
    )
    return Planned(
        n=n,
        t=round(t, 4),
        kind=route,
        credential=credential,
        method=str(doc["method"]).upper(),
        path=names.text(str(doc["path"])),
        recorded=extra,
    )


def credentials_needed(plan: Sequence[Planned]) -> int:
    return max([p.credential + 1 for p in plan] + [1])


def http_of(p: Planned, seed: SeedInfo, run_seed: int, credentials: int) -> HttpRequest:
    """The planned request's HTTP form against the fake seeded as ``seed``."""
    rec = p.recorded
    if not isinstance(rec, Recorded):
        return to_http(p, seed, run_seed)
    path = _resolve(p.path, seed)
    is_write = _is_write(p.method, rec.route)
    marker = f"w{p.n}" if is_write else None
    if marker:
        path += ("&" if "?" in path else "?") + f"{MARKER}={marker}"
    headers: dict[str, str] = {}
    body: bytes | None = None
    account: str | None = None
    if rec.route == _TOKEN_ROUTE:
        ids = client_ids(max(credentials, 1), run_seed)
        form = {
            "client_id": ids[p.n % len(ids)],
            "client_secret": CLIENT_SECRET,
            "grant_type": "client_credentials",
        }
        body = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif isinstance(rec.shape, dict | list) or (is_write and p.method != "DELETE"):
        doc = _body(rec, seed, path)
        account = _account_in(doc, path, seed)
        body = orjson.dumps(doc)
        headers["Content-Type"] = "application/json"
    else:
        account = _account_in(None, path, seed)
    if rec.prefer and rec.prefer != "other":
        headers["Prefer"] = rec.prefer
    if rec.idempotent or (is_write and rec.route == "orders_create"):
        headers["Idempotency-Key"] = f"scn-{run_seed}-{marker or p.n}"
    return HttpRequest(
        p.n, p.t, p.kind, p.credential, p.method, path, headers, body, account, marker
    )


def _is_write(method: str, route: str) -> bool:
    if method in ("GET", "HEAD", "OPTIONS"):
        return False
    return route not in _READ_ROUTES and route != _TOKEN_ROUTE


def _pool(kind: str, seed: SeedInfo) -> Sequence[str]:
    return {
        "account": seed.accounts,
        "subscription": seed.subscriptions,
        "product": seed.products,
        "plan": seed.rate_plans,
    }.get(kind, ())


def _resolve(text: str, seed: SeedInfo) -> str:
    def one(m: re.Match[str]) -> str:
        pool = _pool(m.group(1), seed)
        return pool[int(m.group(2)) % len(pool)] if pool else m.group(0)

    return _RENAMED.sub(one, text)


#: Bodies for writes recorded without a shape (the recorder did not see the body).
_DEFAULT_SHAPES: Mapping[str, Any] = {"account_update": {"notes": "str"}}


def _body(rec: Recorded, seed: SeedInfo, path: str) -> Any:
    shape = rec.shape if rec.shape is not None else _DEFAULT_SHAPES.get(rec.route, {})
    filled = _fill(shape, seed)
    if rec.route == "orders_create" and isinstance(filled, dict):
        account = filled.get("existingAccountNumber")
        if not isinstance(account, str) or account not in seed.accounts:
            account = seed.accounts[0]
        return order_body(account, seed.rate_plan)
    return filled


def _fill(shape: Any, seed: SeedInfo) -> Any:
    """A value of the recorded shape: ``str`` -> text, ``num`` -> 1, ids -> mapped objects."""
    if isinstance(shape, dict):
        if set(shape) == {"form"}:
            return {}
        return {k: _fill(v, seed) for k, v in shape.items() if not k.startswith("@")}
    if isinstance(shape, list):
        return [_fill(shape[0], seed)] if shape else []
    if shape == "num":
        return 1
    if shape == "bool":
        return False
    if shape == "null":
        return None
    if isinstance(shape, str) and shape.startswith("@"):
        return _resolve(shape, seed)
    return "replayed"


def _account_in(doc: Any, path: str, seed: SeedInfo) -> str | None:
    if isinstance(doc, dict):
        for key in _ACCOUNT_FIELDS:
            if isinstance(doc.get(key), str):
                return str(doc[key])
    for segment in path.split("?")[0].split("/"):
        if segment in seed.accounts:
            return segment
    return None
