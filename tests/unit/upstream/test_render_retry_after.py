"""The one rendering of zproxy's own ``Retry-After``: whole seconds, rounded up, at least 1."""

from __future__ import annotations

import pytest

from zproxy.policy.retry_after import parse_retry_after, render_retry_after


@pytest.mark.parametrize(
    ("seconds", "header"),
    [(0.0, "1"), (0.2, "1"), (1.0, "1"), (1.0005, "1"), (1.01, "2"), (6.5, "7"), (30.0, "30")],
)
def test_rounds_up_to_whole_seconds_never_below_one(seconds: float, header: str) -> None:
    assert render_retry_after(seconds) == header


@pytest.mark.parametrize("seconds", [0.0, 0.4, 2.5, 9.99, 120.0])
def test_a_client_parsing_it_never_comes_back_early(seconds: float) -> None:
    parsed = parse_retry_after(render_retry_after(seconds), now=0.0)
    assert parsed is not None
    assert parsed >= seconds
