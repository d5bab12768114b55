"""zproxy.policy.keys.request_body_digest: shared only when the meaning is surely the same."""

from __future__ import annotations

from zproxy.policy.keys import request_body_digest as digest


def test_key_order_and_spacing_do_not_matter() -> None:
    assert digest(b'{"a":1,"b":[2,3]}') == digest(b'{ "b": [2, 3], "a": 1 }')


def test_lossy_or_odd_bodies_are_digested_as_sent_and_never_raise() -> None:
    assert digest(b'{"a":1,"a":2}') != digest(b'{"a":2}')
    assert digest(b'{"a":1' + b"0" * 30 + b"}") != digest(b'{"a":1' + b"0" * 29 + b"1}")
    assert digest(b'{"a":0.1}') != digest(b'{"a":0.10000000000000001}')
    for body in (b"[" * 300 + b"]" * 300, b"[" * 5000, b"\xff\xfe", b"[NaN]", b"", b"[1e400]"):
        assert len(digest(body)) == 64
