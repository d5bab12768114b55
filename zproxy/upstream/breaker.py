"""Circuit breakers per route group: the set of named breakers, one per group.

The other parts (import each name from the module that defines it): ``breaker_model``
(settings, permits, refusals, records, the listener contract), ``breaker_state`` (one group's
state machine over pybreaker's storage, timed by our clock), ``breaker_sync`` (sharing
transitions between processes through Redis).

Use: decide under no await, then do the I/O::

    permit = breaker.acquire()            # O(1), no await
    if isinstance(permit, Rejected):      # open: answer 503 / serve stale
        raise permit.to_error()
    try:
        response = await send(...)
    finally:
        breaker.record(permit, classify_outcome(status, error))

Every permit must be recorded exactly once (``Outcome.NOT_COUNTED`` when nothing was learnt,
e.g. on cancellation), or a half-open probe slot stays taken until ``probe_timeout``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from zproxy.clock import Clock
from zproxy.upstream.breaker_model import DEFAULT_GROUPS, BreakerConfig, Mode, TransitionListener
from zproxy.upstream.breaker_state import Breaker


class BreakerSet:
    """Named breakers, one per route group ("reads" and "writes" unless configured otherwise)."""

    def __init__(
        self,
        clock: Clock,
        configs: Mapping[str, BreakerConfig] | None = None,
        listeners: Iterable[TransitionListener] = (),
    ) -> None:
        self.clock = clock
        merged = {group: BreakerConfig() for group in DEFAULT_GROUPS}
        merged.update(configs or {})
        listeners = list(listeners)
        self._breakers = {
            group: Breaker(group, config, clock, listeners) for group, config in merged.items()
        }

    def __getitem__(self, group: str) -> Breaker:
        return self._breakers[group]

    def __contains__(self, group: object) -> bool:
        return group in self._breakers

    def __iter__(self) -> Iterator[Breaker]:
        return iter(self._breakers.values())

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(self._breakers)

    def set_mode(self, mode: Mode, group: str | None = None) -> None:
        """Set one group's mode, or every group's when ``group`` is None (the admin API)."""
        targets = [self._breakers[group]] if group is not None else list(self)
        for breaker in targets:
            breaker.set_mode(mode)

    def poll(self) -> None:
        """Every group's due transition (see ``Breaker.poll``)."""
        for breaker in self:
            breaker.poll()

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """The admin view: due transitions are made first, so what it shows is also what the
        listeners (metrics) and the other processes were told."""
        self.poll()
        return {group: breaker.snapshot() for group, breaker in self._breakers.items()}

    def add_listener(self, listener: TransitionListener) -> None:
        for breaker in self:
            breaker.add_listener(listener)
