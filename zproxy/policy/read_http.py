"""What the read decision reads from HTTP messages: the request's cache directives
(``no-cache``, ``no-store``) and whether Zuora's answer may be kept (``is_storable``,
``body_success``). Pure; re-exported by ``zproxy.policy.reads``."""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from zproxy.policy.keys import header


def is_storable(
    status: int,
    headers: Mapping[str, str],
    body_success: bool | None,
    body_len: int,
    max_bytes: int,
) -> bool:
    """May this upstream answer be kept?

    Only a 200 whose body is complete (matches ``Content-Length`` when the body was not
    transfer-decoded) and at most ``max_bytes``, whose JSON ``success`` is not false. We are a
    private cache per credential, so ``Cache-Control: private`` is fine; ``no-store`` is
    honoured. The route table decides freshness, so ``max-age``/``no-cache`` are not read
    (as nginx's ``proxy_cache_valid``). ``Set-Cookie`` answers and ``Vary: *`` are not kept.
    """
    if status != 200 or body_success is False or body_len > max_bytes:
        return False
    if _has_directive(header(headers, "Cache-Control"), "no-store"):
        return False
    if header(headers, "Set-Cookie") is not None:
        return False
    if (header(headers, "Vary") or "").strip() == "*":
        return False
    length = header(headers, "Content-Length")
    if length is not None and header(headers, "Content-Encoding") is None:
        return length.strip().isdigit() and int(length) == body_len
    return True


def _has_directive(value: str | None, name: str) -> bool:
    if not value:
        return False
    return any(part.split("=", 1)[0].strip().lower() == name for part in value.split(","))


def request_wants_revalidation(headers: Mapping[str, str]) -> bool:
    """``Cache-Control: no-cache`` / ``max-age=0`` or ``Pragma: no-cache`` on the request."""
    cc = header(headers, "Cache-Control")
    if _has_directive(cc, "no-cache") or "max-age=0" in (cc or "").replace(" ", "").lower():
        return True
    return _has_directive(header(headers, "Pragma"), "no-cache")


def request_forbids_store(headers: Mapping[str, str]) -> bool:
    """``Cache-Control: no-store`` on the request."""
    return _has_directive(header(headers, "Cache-Control"), "no-store")


def body_success(body: bytes, content_type: str | None) -> bool | None:
    """The top-level ``success`` (or CRUD ``Success``) of a JSON body; None when absent or not
    JSON. Only called for answers that might be stored."""
    if not content_type or "json" not in content_type.lower() or body.lstrip()[:1] != b"{":
        return None
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False  # a JSON answer we cannot parse is not worth keeping
    if not isinstance(doc, dict):
        return None
    value = doc.get("success", doc.get("Success"))
    return value if isinstance(value, bool) else None
