"""Response builders for the fake Zuora's four error families, and the codes it uses.

Codes marked "fake" are our own picks where Zuora's exact code is unconfirmed
(see zuora-api.md §3); they follow Zuora's layout: 6-digit resource code + 2-digit category.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

#: GET/DELETE not found (resource code 500000, category 40).
NOT_FOUND = 50000040
#: Invalid value (category 20) / missing required field (22) / unknown field (21).
INVALID_VALUE = 50000020
MISSING_FIELD = 50000022
UNKNOWN_FIELD = 50000021
#: Lock competition, as observed by GitLab.
LOCK_COMPETITION = 58730050
#: Fake: service unavailable (category 60, internal).
UNAVAILABLE = 50000060
#: Fake: rate limit (category 70, limit).
RATE_LIMITED = 50000070
#: Fake: Idempotency-Key still in flight (409) / reused for another request (422).
IDEMPOTENCY_CONFLICT = 50000049
IDEMPOTENCY_MISMATCH = 50000048
#: Auth failed (90000011 = invalid credential).
AUTH_FAILED = 90000011
AUTH_INVALID_VALUE = 90000020

LOCK_MESSAGE = "Operation failed due to a lock competition, please retry later."
CONCURRENCY_BODY = {
    "code": "REQUEST_EXCEEDED_LIMIT",
    "message": "Your total number of concurrent requests have exceeded the limit allowed by "
    "the system. Please resubmit your request later.",
}
AUTH_ERROR_BODY = {"message": "Authentication error"}

JSON = "application/json"


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type=JSON)


def v1_error(
    code: int, message: str, request_id: str, *, status: int = 200, process_id: str = ""
) -> web.Response:
    """The v1 REST family: ``success:false`` + ``reasons``; HTTP 200 for business errors."""
    return json_response(
        {
            "success": False,
            "processId": process_id or request_id.replace("-", "")[:16].upper(),
            "requestId": request_id,
            "reasons": [{"code": code, "message": message}],
        },
        status,
    )


def not_found(key: str, request_id: str) -> web.Response:
    """Not found on a v1 GET: HTTP 200 + ``success:false`` + 50000040 (our documented pick)."""
    return v1_error(NOT_FOUND, f"Cannot find entity by key: '{key}'.", request_id)


def bad_request(message: str, request_id: str, code: int = INVALID_VALUE) -> web.Response:
    """A validation error: HTTP 400 with the v1 body."""
    return v1_error(code, message, request_id, status=400)


def crud_error(code: str, message: str, status: int = 400) -> web.Response:
    """The CRUD (``/v1/object``) family: PascalCase ``Success``/``Errors``."""
    return json_response({"Success": False, "Errors": [{"Code": code, "Message": message}]}, status)


def crud_not_found() -> web.Response:
    return json_response({"done": True, "records": [], "size": 0}, 404)


def action_fault(code: str, message: str) -> web.Response:
    """The Actions (``/v1/action/query``) family: 400 ``FaultCode``/``FaultMessage``."""
    return json_response({"FaultCode": code, "FaultMessage": message}, 400)


def unavailable(request_id: str, status: int = 503) -> web.Response:
    return v1_error(
        UNAVAILABLE,
        "The service is temporarily unavailable. Please try again later.",
        request_id,
        status=status,
    )


def rate_limited(request_id: str, retry_after: int) -> web.Response:
    resp = json_response(
        {
            "success": False,
            "requestId": request_id,
            "reasons": [{"code": RATE_LIMITED, "message": "Request rate limit exceeded."}],
            "message": "You have exceeded the rate limit. Please retry later.",
        },
        429,
    )
    resp.headers["Retry-After"] = str(retry_after)
    return resp


def unauthorized() -> web.Response:
    return json_response(AUTH_ERROR_BODY, 401)


def too_many_concurrent() -> web.Response:
    return json_response(CONCURRENCY_BODY, 429)


def lock_competition(request_id: str, status: int) -> web.Response:
    return v1_error(LOCK_COMPETITION, LOCK_MESSAGE, request_id, status=status)
