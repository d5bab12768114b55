"""Request counters and the write ledger: what tests read back through ``/__fake/``."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One write the fake applied to its state (never a write that failed)."""

    seq: int
    method: str
    path: str
    idempotency_key: str | None
    account: str | None
    at: float
    status: int
    tenant: int
    request_id: str


@dataclass(slots=True)
class Ledger:
    entries: list[LedgerEntry] = field(default_factory=list)

    def record(self, **fields: Any) -> LedgerEntry:
        entry = LedgerEntry(seq=len(self.entries) + 1, **fields)
        self.entries.append(entry)
        return entry

    def to_json(self, since: int = 0) -> list[dict[str, Any]]:
        return [asdict(e) for e in self.entries[since:]]


@dataclass(slots=True)
class Stats:
    requests: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    paths: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0
    idempotent_replays: int = 0

    def enter(self) -> None:
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight

    def leave(self, method: str, group: str, status: str, path: str) -> None:
        self.in_flight -= 1
        self.requests[(method, group, status)] += 1
        self.paths[path] += 1

    def to_json(self) -> dict[str, Any]:
        by_method: Counter[str] = Counter()
        by_group: Counter[str] = Counter()
        by_status: Counter[str] = Counter()
        for (method, group, status), n in self.requests.items():
            by_method[method] += n
            by_group[group] += n
            by_status[status] += n
        return {
            "total": sum(self.requests.values()),
            "by_method": dict(by_method),
            "by_group": dict(by_group),
            "by_status": dict(by_status),
            "requests": [
                {"method": m, "group": g, "status": s, "count": n}
                for (m, g, s), n in sorted(self.requests.items())
            ],
            "paths": dict(self.paths),
            "faults": dict(self.faults),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "idempotent_replays": self.idempotent_replays,
        }
