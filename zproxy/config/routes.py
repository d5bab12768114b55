"""The route table section of the settings: routes, their read and write policies."""

from __future__ import annotations

import re
from typing import Any

from zproxy.config.model import HTTP_METHODS
from zproxy.config.reader import Reader
from zproxy.policy.routes import ReadPolicy, Route, RouteTable, WritePolicy, template_fields

_JOURNEY = re.compile(r"[a-z][a-z0-9_]{0,31}")


def parse_routes(r: Reader, raw: Any) -> RouteTable:
    if not isinstance(raw, list):
        r.fail("routes", "must be a list of routes")
        return RouteTable(())
    routes: list[Route] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        route = _route(r, f"routes[{i}]", item, seen)
        if route is not None:
            routes.append(route)
    return RouteTable(routes)


def _route(r: Reader, p: str, item: Any, seen: set[str]) -> Route | None:
    if not isinstance(item, dict):
        r.fail(p, "must be a mapping")
        return None
    ok = len(r.problems)
    unknown = set(item) - {"name", "methods", "path", "read", "write", "breaker", "pool", "journey"}
    for key in sorted(unknown):
        r.fail(f"{p}.{key}", "unknown route setting")
    name = r.string(item, p, "name", None)
    if not name:
        r.fail(f"{p}.name", "required")
    elif name in seen:
        r.fail(f"{p}.name", f"duplicate route name {name!r}")
    seen.add(name or "")
    methods = item.get("methods")
    if (
        not isinstance(methods, list)
        or not methods
        or not all(isinstance(m, str) and m.upper() in HTTP_METHODS for m in methods)
    ):
        r.fail(f"{p}.methods", f"must be a list of HTTP methods (got {methods!r})")
        methods = []
    path = r.string(item, p, "path", None)
    if not path or not path.startswith("/"):
        r.fail(f"{p}.path", f"must start with '/' (got {path!r})")
    params = set(template_fields(path or ""))
    params = {x.rstrip("*") for x in params}
    read = _read_policy(r, f"{p}.read", item.get("read")) if "read" in item else None
    write = _write_policy(r, f"{p}.write", item.get("write"), params) if "write" in item else None
    if read is not None and write is not None:
        r.fail(p, "a route is either read or write, not both")
    if read is not None:
        for tag in read.tags:
            for f in template_fields(tag):
                if f not in params:
                    r.fail(f"{p}.read.tags", f"{{{f}}} is not a path parameter of {path}")
    if len(r.problems) > ok:
        return None
    return Route(
        name=name,
        methods=frozenset(m.upper() for m in methods),
        path=path,
        read=read,
        write=write,
        breaker=r.string(item, p, "breaker", None),
        pool=r.string(item, p, "pool", "default"),
        journey=_journey(r, p, item),
    )


def _journey(r: Reader, p: str, item: dict[str, Any]) -> str:
    """A metric label: lower-case letters, digits and ``_``; ``other`` when not named."""
    journey = r.string(item, p, "journey", "other") or "other"
    if not _JOURNEY.fullmatch(journey):
        r.fail(f"{p}.journey", f"must be a lower-case name like purchase (got {journey!r})")
        return "other"
    return journey


def _read_policy(r: Reader, p: str, raw: Any) -> ReadPolicy | None:
    if not isinstance(raw, dict):
        r.fail(p, "must be a mapping")
        return None
    tags = raw.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        r.fail(f"{p}.tags", "must be a list of strings")
        tags = []
    return ReadPolicy(
        fresh=r.number(raw, p, "fresh", 60.0),
        stale_while_revalidate=r.number(raw, p, "stale_while_revalidate", 0.0),
        stale_if_error=r.number(raw, p, "stale_if_error", 0.0),
        tags=tuple(tags),
        body_keyed=r.boolean(raw, p, "body_keyed", False),
        retry=r.boolean(raw, p, "retry", True),
    )


def _write_policy(r: Reader, p: str, raw: Any, params: set[str]) -> WritePolicy | None:
    if not isinstance(raw, dict):
        r.fail(p, "must be a mapping")
        return None
    inval = raw.get("invalidates") or []
    if not isinstance(inval, list) or not all(isinstance(t, str) for t in inval):
        r.fail(f"{p}.invalidates", "must be a list of strings")
        inval = []
    order_key = r.string(raw, p, "order_key", None)
    for template in [*inval, *([order_key] if order_key else [])]:
        for f in template_fields(template):
            if not f.startswith(("body.", "response.")) and f not in params:
                r.fail(
                    p, f"{{{f}}} in {template!r} is neither a path parameter, body.* nor response.*"
                )
    if order_key and "{response." in order_key:
        r.fail(f"{p}.order_key", "cannot use response fields (a queued write has no response)")
    return WritePolicy(
        on_outage=r.string(raw, p, "on_outage", "reject", ("queue", "reject")),
        queue_requires_prefer=r.boolean(raw, p, "queue_requires_prefer", False),
        order_key=order_key,
        invalidates=tuple(inval),
    )
