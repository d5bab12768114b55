"""One ``zproxy_journey_requests_total{journey,outcome}`` sample per answer: the route's journey
(``other`` when none matched) and what the customer got (``policy.journeys``)."""

from __future__ import annotations

from aiohttp import web

from zproxy.edge.exchange import Exchange
from zproxy.edge.services import Services
from zproxy.observability.change import SUCCESS_FALSE
from zproxy.policy.journeys import journey_outcome

#: The client went away: no answer reached the customer, so nothing to say about the journey.
_NOT_ANSWERED = 499


def report_journey(
    services: Services, ex: Exchange, status: int, response: web.StreamResponse | None
) -> None:
    success_false = SUCCESS_FALSE.get()
    if success_false:
        SUCCESS_FALSE.set(False)
    if status == _NOT_ANSWERED:
        return
    queued = (
        status == 202
        and response is not None
        and response.headers.get("Preference-Applied") == "respond-async"
    )
    journey = ex.match.route.journey if ex.match else "other"
    outcome = journey_outcome(status, ex.cache, queued=queued, success_false=success_false)
    services.metrics.change.on_journey(journey, outcome)
