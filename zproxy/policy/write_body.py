"""Pure check of a write's body before it is queued: Zuora's write endpoints take a JSON object.

zproxy queues a write only if Zuora could accept it: a queued write is answered 202, so a body
Zuora is certain to refuse (not JSON, empty, truncated, ``[]``, a bare string or number, not
UTF-8) would turn into a dead letter hours later instead of a 400 now. While Zuora answers,
such bodies are forwarded all the same and Zuora gives its own answer (``policy.writes``).

The check is lenient where Zuora's parser is: integers of any size, numbers beyond a double's
range (Jackson reads them as big decimals) and duplicate keys (last one wins) are JSON objects;
``NaN``/``Infinity`` are not JSON, and nothing nested deeper than 1024 levels is taken.
"""

from __future__ import annotations

import json

import orjson

#: Methods whose body Zuora reads as a JSON object (DELETE and the rest send none).
OBJECT_METHODS = frozenset({"POST", "PUT", "PATCH"})


def needs_json_object(method: str) -> bool:
    return method.upper() in OBJECT_METHODS


def _not_json(name: str) -> object:
    raise ValueError(name)


def is_json_object(body: bytes) -> bool:
    """``body`` is one JSON object (UTF-8, nothing after it but white space)."""
    try:
        return isinstance(orjson.loads(body), dict)
    except orjson.JSONDecodeError:
        pass
    # orjson refuses numbers beyond a double's range, which Zuora's parser takes: ask the
    # standard library, on text that must be UTF-8 (it would guess UTF-16/32 from bytes).
    try:
        text = body.decode("utf-8")
        return isinstance(json.loads(text, parse_constant=_not_json), dict)
    except (ValueError, RecursionError):
        return False


def body_acceptable(method: str, body: bytes) -> bool:
    """False when ``method`` needs a JSON object and ``body`` is not one."""
    return not needs_json_object(method) or is_json_object(body)
