"""The route table: Zuora endpoints by method and path template, each with its policy."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

_PARAM = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)(\*?)\}")
_TEMPLATE_FIELD = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_.]*)\}")


@dataclass(frozen=True, slots=True)
class ReadPolicy:
    """How long a cached answer may be served (seconds since it was stored).

    age <= fresh: hit; fresh < age <= fresh + stale_while_revalidate: served stale while one
    background request revalidates; while Zuora fails, served up to fresh + stale_if_error.
    """

    fresh: float
    stale_while_revalidate: float = 0.0
    stale_if_error: float = 0.0
    tags: tuple[str, ...] = ()
    #: POST reads (ZOQL, previews): cached by a canonical hash of the body.
    body_keyed: bool = False
    #: Retry safe requests on failure (GET/HEAD always may; a POST read only when set).
    retry: bool = True

    @property
    def ttl(self) -> float:
        """How long the store must keep an entry."""
        return self.fresh + max(self.stale_while_revalidate, self.stale_if_error)


OnOutage = Literal["queue", "reject"]


@dataclass(frozen=True, slots=True)
class WritePolicy:
    on_outage: OnOutage = "reject"
    queue_requires_prefer: bool = False
    #: Writes with one order key are replayed one at a time, in the order accepted.
    order_key: str | None = None
    #: Tag templates purged after a successful write (path params, body.*, response.*).
    invalidates: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    methods: frozenset[str]
    path: str
    read: ReadPolicy | None = None
    write: WritePolicy | None = None
    #: Breaker group; default "reads" for GET/HEAD and read routes, "writes" otherwise.
    breaker: str | None = None
    #: Upstream concurrency pool ("default" or e.g. "zoql").
    pool: str = "default"
    #: The customer journey the route serves (purchase, renewal, ...): a metric label.
    journey: str = "other"
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", compile_path(self.path))

    def match(self, path: str) -> dict[str, str] | None:
        m = self._regex.fullmatch(path)
        return None if m is None else m.groupdict()

    def breaker_group(self, method: str) -> str:
        if self.breaker:
            return self.breaker
        return "reads" if self.read is not None or method in ("GET", "HEAD") else "writes"


def compile_path(template: str) -> re.Pattern[str]:
    """``/v1/accounts/{account}`` -> one segment per ``{x}``; a trailing ``{rest*}`` matches
    nothing or ``/`` and the remainder (``/v1/payments{rest*}`` is ``/v1/payments`` and below)."""
    out: list[str] = []
    pos = 0
    for m in _PARAM.finditer(template):
        out.append(re.escape(template[pos : m.start()]))
        # {x*}: nothing, or "/" and the rest; {x}: one non-empty segment.
        out.append(f"(?P<{m.group(1)}>(?:/.*)?)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out))


def template_fields(template: str) -> list[str]:
    return _TEMPLATE_FIELD.findall(template)


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: Route
    params: Mapping[str, str]


_MATCH_MEMO = 8192


class RouteTable:
    """First route (in file order) whose method and path match wins."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = tuple(routes)
        self._by_name = {r.name: r for r in self.routes}
        #: (method, path) -> its match: the table is immutable, and a path repeats (a hit
        #: would otherwise try each route's regex in turn). Bounded: cleared when full.
        self._matched: dict[tuple[str, str], RouteMatch | None] = {}

    def match(self, method: str, path: str) -> RouteMatch | None:
        key = (method, path)
        try:
            return self._matched[key]
        except KeyError:
            pass
        found = None
        for route in self.routes:
            if method in route.methods:
                params = route.match(path)
                if params is not None:
                    found = RouteMatch(route, MappingProxyType(params))
                    break
        if len(self._matched) >= _MATCH_MEMO:
            self._matched.clear()
        self._matched[key] = found
        return found

    def get(self, name: str) -> Route | None:
        return self._by_name.get(name)


def render_tags(
    templates: Iterable[str],
    params: Mapping[str, str],
    body: Any = None,
    response: Any = None,
) -> list[str]:
    """Fill tag templates; a field that is a list yields one tag per item; a missing field
    drops that template (a tag is never rendered with a hole in it)."""
    tags: list[str] = []
    for template in templates:
        variants = [template]
        for name in template_fields(template):
            values = _lookup(name, params, body, response)
            if not values:
                variants = []
                break
            variants = [v.replace("{" + name + "}", val, 1) for v in variants for val in values]
        tags.extend(variants)
    return list(dict.fromkeys(tags))


def _lookup(name: str, params: Mapping[str, str], body: Any, response: Any) -> list[str]:
    head, _, rest = name.partition(".")
    if head == "body" and rest:
        value: Any = _dig(body, rest)
    elif head == "response" and rest:
        value = _dig(response, rest)
    else:
        value = params.get(name)
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int) and str(v)]
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return [str(value)]
    return []


def _dig(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list):
            # A path through a list collects the field from every item.
            obj = [item.get(part) for item in obj if isinstance(item, dict)]
            obj = [x for x in obj if x is not None]
        else:
            return None
    return obj
