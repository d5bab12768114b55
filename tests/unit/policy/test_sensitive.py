"""zproxy.policy.sensitive: the one set of card and secret rules, as tables."""

from __future__ import annotations

import pytest

from zproxy.policy import sensitive
from zproxy.queue.redact import redact_text, safe_headers

PAN = "4111111111111111"


@pytest.mark.parametrize(
    ("body", "card"),
    [
        (b'{"creditCardNumber": "x"}', True),
        (b'{"CVV": "123"}', True),
        (b'{"notes": "card 4111 1111 1111 1111"}', True),
        (b'{"notes": "ref 1234567890123"}', False),  # fails Luhn: an order number
        (b'{"accountNumber": "A00000001"}', False),
    ],
)
def test_card_detection(body: bytes, card: bool) -> None:
    assert sensitive.has_card_data(body) is card


@pytest.mark.parametrize(
    ("text", "luhn", "expected"),
    [
        (PAN, True, "************1111"),
        ("1234567890123", True, "1234567890123"),
        ("1234567890123", False, "*********0123"),
        ("pan-4111-1111-1111-1111.", True, "pan-************1111."),
    ],
)
def test_mask_cards(text: str, luhn: bool, expected: str) -> None:
    assert sensitive.mask_cards(text, luhn=luhn) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer abc.def",
        "client_secret=abc&grant_type=x",
        '{"password": "abc"}',
        "<apiSecretAccessKey>abc</apiSecretAccessKey>",
        "Cookie: ZSession=abc; other=abc",
    ],
)
def test_secret_pairs_are_replaced(text: str) -> None:
    out = sensitive.redact_text(text)
    assert "abc" not in out
    assert sensitive.REDACTED in out


def test_request_and_track_ids_are_not_cards() -> None:
    for key in ("X-Request-Id", "request_id", "Zuora-Track-Id", "requestId"):
        assert sensitive.redact_value(key, PAN) == PAN
    assert sensitive.redact_value("notes", PAN) == "************1111"
    headers = safe_headers((("X-Request-Id", PAN), ("Zuora-Track-Id", PAN), ("X-Other", PAN)))
    assert headers == [
        ["X-Request-Id", PAN],
        ["Zuora-Track-Id", PAN],
        ["X-Other", "*" * 12 + "1111"],
    ]
    body = f'{{"requestId": "{PAN}", "reasons": [{{"message": "{PAN}"}}]}}'.encode()
    assert redact_text(body).count(PAN) == 1


def test_logs_and_views_share_the_secret_names() -> None:
    for name in ("password", "client_secret", "apiSecretAccessKey", "cardNumber", "cvv"):
        assert sensitive.redact_value(name, "x") == sensitive.REDACTED
        assert "x" not in redact_text(f'{{"{name}": "x"}}'.encode()).replace("[REDACTED]", "")
