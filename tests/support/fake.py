"""Reading and steering the fake Zuora running in the test's event loop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zproxy.testing.fake_zuora import RunningFakeZuora
from zproxy.testing.fake_zuora.faults import parse_rule


def set_fault(
    fz: RunningFakeZuora,
    rule: Mapping[str, Any] | None = None,
    /,
    *,
    add: bool = False,
    **fields: Any,
) -> None:
    """Install a fault rule (``rule`` and/or keyword fields); ``add`` keeps the existing ones."""
    fz.fake.set_fault(parse_rule({**(rule or {}), **fields}), add=add)


def path_count(fz: RunningFakeZuora, path: str) -> int:
    """How many requests the fake answered (or dropped) for ``path``."""
    return int(fz.fake.stats.paths.get(path, 0))


def accounts(fz: RunningFakeZuora) -> list[str]:
    """The seeded account numbers (tenant 1)."""
    return [str(a) for a in fz.fake.seed_info(1)["accounts"]]


def rate_plan(fz: RunningFakeZuora) -> str:
    """A recurring product rate plan id from the seeded catalog (tenant 1)."""
    return str(fz.fake.seed_info(1)["productRatePlans"][0]["id"])
