"""Request-target validation: only origin-form targets with no dot-segments reach Zuora.

A proxy that lets ``/v1/../oauth/token`` or ``http://169.254.169.254/`` through can be turned
against its own upstream or the metadata service; these are rejected, never normalised.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from zproxy.errors import ClientError

_FORBIDDEN_ENCODED = ("%2f", "%5c", "%00")
#: Below 0x21 (controls and space) and DEL.
_CONTROL = re.compile("[\x00-\x20\x7f]")


def validate_target(raw_target: str) -> tuple[str, str]:
    """Return (raw path, raw query) of an acceptable request target, or raise ClientError(400)."""
    if not raw_target.startswith("/") or raw_target.startswith("//"):
        raise _bad("the request target must be a path starting with a single '/'")
    path, _, query = raw_target.partition("?")
    if "#" in raw_target:
        raise _bad("the request target must not contain a fragment")
    lowered = path.lower()
    if any(token in lowered for token in _FORBIDDEN_ENCODED) or "\\" in path:
        raise _bad("encoded slashes, backslashes and NUL are not allowed in the path")
    if "//" in path:
        raise _bad("empty path segments are not allowed")
    if "." in path or "%" in path:  # a dot-segment has a dot, plain or percent-encoded
        for segment in path.split("/"):
            if "%" in segment:
                segment = unquote(segment)
            if segment in (".", ".."):
                raise _bad("dot-segments are not allowed in the path")
    if _CONTROL.search(raw_target):
        raise _bad("control characters and spaces are not allowed in the request target")
    return path, query


def _bad(message: str) -> ClientError:
    return ClientError(400, "ZPROXY_BAD_REQUEST_TARGET", message)
