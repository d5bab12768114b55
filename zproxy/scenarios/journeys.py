"""Customer-journey error ratios of one run (pure), judged as ``zproxy_journey_requests_total``
judges an answer (``policy.journeys``): a 5xx or Zuora's ``success: false`` is *failed*; a 202
queued write or a stale answer is not. A request the client got no answer to (timeout, dropped
connection) is failed too: zproxy's metric never sees it, the customer does.

Each request's journey is its route's in the config given (first match wins, as zproxy
matches; ``other`` when none matches). A comparison labels both runs with one table, so a
journey holds the same requests on both sides.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from zproxy.config.reader import Reader
from zproxy.config.routes import parse_routes
from zproxy.policy.journeys import journey_outcome
from zproxy.policy.routes import RouteTable
from zproxy.scenarios.measure import Outcome

OTHER = "other"


def route_table(doc: Mapping[str, Any]) -> RouteTable:
    """The route table of a config document (routes with problems are left out)."""
    return parse_routes(Reader("config", {}), doc.get("routes") or [])


def label(requests: Mapping[int, tuple[str, str]], table: RouteTable) -> dict[int, str]:
    """Request number -> journey, from each request's (method, path); the query is ignored."""
    out = {}
    for n, (method, path) in requests.items():
        match = table.match(method, path.split("?", 1)[0])
        out[n] = match.route.journey if match else OTHER
    return out


def failed(o: Outcome) -> bool:
    if not o.status:
        return True
    outcome = journey_outcome(
        o.status, o.cache_status, queued=o.status == 202, success_false=o.business_failure
    )
    return outcome == "failed"


def journey_stats(outcomes: Sequence[Outcome], journeys: Mapping[int, str]) -> dict[str, Any]:
    """Journey -> requests, failed and the error ratio (failed / requests), by name."""
    total: Counter[str] = Counter()
    bad: Counter[str] = Counter()
    for o in outcomes:
        journey = journeys.get(o.n, OTHER)
        total[journey] += 1
        bad[journey] += failed(o)
    return {
        j: {"requests": total[j], "failed": bad[j], "error_ratio": round(bad[j] / total[j], 4)}
        for j in sorted(total)
    }
