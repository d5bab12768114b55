"""A write is queued only if Zuora could accept its body (issue 12 finding 5): which bodies are
JSON objects (``policy.write_body``), and where the write decisions answer ``InvalidBody``."""

from __future__ import annotations

import pytest

from zproxy.policy.routes import WritePolicy
from zproxy.policy.write_body import body_acceptable, is_json_object
from zproxy.policy.writes import (
    Forward,
    InvalidBody,
    Queue,
    Reject,
    Reject503,
    Unknown504,
    decide_write,
    on_forward_failure,
    on_upstream_status,
)

QUEUE = WritePolicy(on_outage="queue")
REJECT = WritePolicy(on_outage="reject")

NOT_OBJECTS = {
    "empty": b"",
    "blank": b"  \n",
    "not_json": b"notes=hello",
    "truncated": b'{"notes": "hel',
    "array": b"[]",
    "string": b'"hello"',
    "number": b"42",
    "null": b"null",
    "invalid_utf8": b'{"notes": "\xff\xfe"}',
    "utf16": '{"notes": "x"}'.encode("utf-16"),
    "nan": b'{"n": NaN}',
    "trailing": b'{"a": 1} {"b": 2}',
    "deeper_than_1024": b'{"a":' + b"[" * 1100 + b"]" * 1100 + b"}",
}
OBJECTS = {
    "empty_object": b"{}",
    "padded": b' {"a": 1}\n',
    "nested_300": b'{"a":' + b'{"a":' * 299 + b"1" + b"}" * 300,
    "huge_integer": b'{"n": 1' + b"0" * 400 + b"}",
    "beyond_double": b'{"n": 1e400}',
    "duplicate_keys": b'{"a": 1, "a": 2}',
}


@pytest.mark.parametrize("body", NOT_OBJECTS.values(), ids=NOT_OBJECTS.keys())
def test_not_a_json_object(body: bytes) -> None:
    assert not is_json_object(body)
    for method in ("POST", "PUT", "patch"):
        assert not body_acceptable(method, body)
    assert body_acceptable("DELETE", body)


@pytest.mark.parametrize("body", OBJECTS.values(), ids=OBJECTS.keys())
def test_json_objects_zuora_parses(body: bytes) -> None:
    assert is_json_object(body)
    assert body_acceptable("PUT", body)


@pytest.mark.parametrize(
    ("policy", "breaker_open", "behind", "card", "expected"),
    [
        (QUEUE, True, False, False, InvalidBody()),
        (QUEUE, False, True, False, Forward()),  # Zuora is up: it gives its own answer
        (QUEUE, False, False, False, Forward()),
        (REJECT, True, False, False, Reject("not_queueable")),
        (QUEUE, True, False, True, Reject("card_data")),
    ],
)
def test_decide_write_with_an_invalid_body(
    policy: WritePolicy, breaker_open: bool, behind: bool, card: bool, expected: object
) -> None:
    got = decide_write(
        policy,
        breaker_open=breaker_open,
        prefer_async=False,
        card_data=card,
        behind_queued=behind,
        body_ok=False,
    )
    assert got == expected


@pytest.mark.parametrize(
    ("policy", "method", "never_sent", "expected"),
    [
        (QUEUE, "PUT", True, InvalidBody()),
        (QUEUE, "POST", False, InvalidBody()),
        (QUEUE, "PUT", False, Unknown504()),
        (REJECT, "PUT", True, Reject503()),
    ],
)
def test_forward_failure_with_an_invalid_body(
    policy: WritePolicy, method: str, never_sent: bool, expected: object
) -> None:
    got = on_forward_failure(
        policy, method, error_never_sent=never_sent, prefer_async=False, body_ok=False
    )
    assert got == expected


@pytest.mark.parametrize(
    ("status", "expected"), [(503, InvalidBody()), (429, InvalidBody()), (400, None)]
)
def test_upstream_status_with_an_invalid_body(status: int, expected: object) -> None:
    got = on_upstream_status(QUEUE, "PUT", status, prefer_async=False, body_ok=False)
    assert got == expected
    assert on_upstream_status(QUEUE, "PUT", status, prefer_async=False) == (
        None if expected is None else Queue()
    )
