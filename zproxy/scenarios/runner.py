"""Run a scenario twice: through zproxy (real Redis, real ``zproxy serve``, the fake Zuora in
this process) and straight at a fresh fake Zuora (the baseline); same plan, same phases.

Phases are applied on the loop clock at their offsets from the start of the traffic: the fake's
faults are replaced by the phase's rules, and an ``admin`` action goes to zproxy's admin API.
After the last phase Zuora is up and a breaker forced open is put back to ``auto``; the runner
then waits up to ``drain_timeout`` for the write queue to empty, asks zproxy for the state of
every 202'd write, and reads the fake's ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from cryptography.fernet import Fernet

from zproxy.scenarios import driver
from zproxy.scenarios.measure import Outcome, ledger_markers
from zproxy.scenarios.model import AdminAction, Scenario
from zproxy.scenarios.recording import http_of
from zproxy.scenarios.report import RunData
from zproxy.scenarios.settings import merged_config, shipped_config
from zproxy.scenarios.traffic import HttpRequest, Planned, SeedInfo, warmup_targets
from zproxy.store.embedded import RedisServer, free_port
from zproxy.testing.fake_zuora import RunningFakeZuora, running_fake_zuora
from zproxy.testing.fake_zuora.fake import FakeZuora
from zproxy.testing.fake_zuora.faults import parse_rule
from zproxy.testing.proxy_process import ZproxyProcess

Say = Callable[[str], None]
Admin = Callable[[AdminAction], Awaitable[None]]
RedisStep = Callable[[str], Awaitable[None]]
SAMPLE_EVERY = 0.25
TERMINAL = frozenset({"applied", "dead", "missing"})


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def apply_faults(fake: FakeZuora, faults: Sequence[dict[str, object]] | tuple[object, ...]) -> None:
    """Zuora up, then the phase's rules stacked."""
    fake.set_fault(parse_rule({"mode": "up"}))
    for rule in faults:
        assert isinstance(rule, dict)
        fake.set_fault(parse_rule(rule), add=True)


async def _timeline(
    scenario: Scenario,
    fake: FakeZuora,
    start: float,
    admin: Admin | None,
    say: Say,
    redis: RedisStep | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    for phase, offset in zip(scenario.phases, scenario.phase_starts(), strict=True):
        await asyncio.sleep(max(0.0, start + offset - loop.time()))
        apply_faults(fake, [dict(f) for f in phase.faults])
        say(f"  t={offset:5.1f}s phase {phase.name} ({phase.duration:g} s)")
        if phase.admin is not None and admin is not None:
            await admin(phase.admin)
        if phase.redis is not None and redis is not None:
            await redis(phase.redis)
    await asyncio.sleep(max(0.0, start + scenario.duration - loop.time()))
    apply_faults(fake, [])


@contextlib.asynccontextmanager
async def _session() -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(limit=1000, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def run_both(
    scenario: Scenario,
    plan: Sequence[Planned],
    workdir: Path,
    say: Say = _stderr,
    config: Mapping[str, Any] | None = None,
) -> dict[str, RunData]:
    """``config``: zproxy's config before the scenario's patches (None: the shipped file)."""
    say(f"scenario {scenario.name}: {len(plan)} requests over {scenario.duration:g} s per run")
    say("run 1/2: through zproxy")
    proxied = await run_through_proxy(scenario, plan, workdir, say, config)
    say("run 2/2: baseline, straight at the fake Zuora")
    baseline = await run_baseline(scenario, plan, say)
    return {"zproxy": proxied, "baseline": baseline}


async def run_baseline(scenario: Scenario, plan: Sequence[Planned], say: Say) -> RunData:
    async with running_fake_zuora(seed=scenario.seed) as fz, _session() as session:
        http, tokens = await _prepare(scenario, plan, fz, session, fz.url)
        start = asyncio.get_running_loop().time() + 0.2
        phases = asyncio.create_task(_timeline(scenario, fz.fake, start, None, say))
        outcomes = await driver.drive(
            session, fz.url, http, tokens, scenario.traffic.timeout, start
        )
        await phases
        ledger = ledger_markers([e.path for e in fz.fake.ledger.entries])
    return RunData(outcomes, ledger, through_proxy=False, requests=_requests(http))


def _requests(http: Sequence[HttpRequest]) -> dict[int, tuple[str, str]]:
    return {r.n: (r.method, r.path) for r in http}


async def _prepare(
    scenario: Scenario,
    plan: Sequence[Planned],
    fz: RunningFakeZuora,
    session: aiohttp.ClientSession,
    base: str,
) -> tuple[list[HttpRequest], list[str]]:
    seed = SeedInfo.from_json(fz.fake.seed_info(1))
    count = scenario.traffic.credentials
    http = [http_of(p, seed, scenario.seed, count) for p in plan]
    ids = driver.client_ids(scenario.traffic.credentials, scenario.seed)
    tokens = await driver.fetch_tokens(session, base, ids)
    return http, tokens


def _write_config(scenario: Scenario, path: Path, config: Mapping[str, Any] | None) -> Path:
    base = shipped_config() if config is None else config
    doc = merged_config(base, scenario.settings, scenario.routes)
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


async def run_through_proxy(
    scenario: Scenario,
    plan: Sequence[Planned],
    workdir: Path,
    say: Say,
    config: Mapping[str, Any] | None = None,
) -> RunData:
    """``config``: zproxy's config before the scenario's patches (None: the shipped file)."""
    redis = RedisServer(workdir / "redis", port=free_port())
    await asyncio.to_thread(redis.start)
    try:
        async with running_fake_zuora(seed=scenario.seed) as fz:
            token = secrets.token_urlsafe(24)
            proc = ZproxyProcess(
                upstream=fz.url,
                redis_url=redis.url,
                data_dir=workdir / "zproxy",
                config=_write_config(scenario, workdir / "zproxy.yaml", config),
                env={
                    "ZPROXY_ADMIN_TOKEN": token,
                    "ZPROXY_QUEUE_KEY": Fernet.generate_key().decode(),
                    "ZPROXY_CACHE_SECRET": secrets.token_hex(16),
                },
            )
            await proc.astart()
            try:
                async with _session() as session:
                    return await _proxied(scenario, plan, fz, proc, token, session, say, redis)
            finally:
                proc.kill()
    finally:
        await asyncio.to_thread(redis.stop)


async def _proxied(
    scenario: Scenario,
    plan: Sequence[Planned],
    fz: RunningFakeZuora,
    proc: ZproxyProcess,
    admin_token: str,
    session: aiohttp.ClientSession,
    say: Say,
    redis: RedisServer | None = None,
) -> RunData:
    http, tokens = await _prepare(scenario, plan, fz, session, proc.url)
    warmed: int | None = None
    if scenario.warmup:
        targets = warmup_targets(http)
        await driver.warm(session, proc.url, targets, tokens, scenario.traffic.timeout)
        warmed = len(targets)
        say(f"  warmed the cache with {len(targets)} reads")

    async def redis_step(action: str) -> None:
        if redis is None:
            return
        say(f"  redis {action}")
        if action in ("restart", "stop"):
            await asyncio.to_thread(redis.stop)
        if action in ("restart", "start"):
            await asyncio.to_thread(redis.start)

    forced: list[AdminAction] = []

    async def admin(action: AdminAction) -> None:
        forced.append(action)
        await _admin_breaker(session, proc, admin_token, action)

    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2
    samples: list[tuple[float, float]] = []
    breaker: list[tuple[float, float]] = []
    sampler = asyncio.create_task(_sample_depth(session, proc, start, samples, breaker))
    try:
        phases = asyncio.create_task(_timeline(scenario, fz.fake, start, admin, say, redis_step))
        outcomes = await driver.drive(
            session, proc.url, http, tokens, scenario.traffic.timeout, start
        )
        await phases
        if any(a.breaker != "auto" for a in forced[-1:]):
            await _admin_breaker(session, proc, admin_token, AdminAction("auto"))
        states = await _drain(scenario, session, proc, outcomes, http, tokens, samples, say)
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    ledger = ledger_markers([e.path for e in fz.fake.ledger.entries])
    return RunData(
        outcomes,
        ledger,
        states,
        samples,
        breaker=breaker,
        warmed=warmed,
        requests=_requests(http),
    )


async def _drain(
    scenario: Scenario,
    session: aiohttp.ClientSession,
    proc: ZproxyProcess,
    outcomes: Sequence[Outcome],
    http: Sequence[HttpRequest],
    tokens: Sequence[str],
    samples: list[tuple[float, float]],
    say: Say,
) -> dict[str, str]:
    """Wait for an empty queue and every 202'd write in a final state (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + scenario.drain_timeout
    while True:
        depth = samples[-1][1] if samples else None
        if depth == 0 or loop.time() > deadline:
            states = await driver.write_states(session, proc.url, outcomes, http, tokens)
            open_ = sum(1 for s in states.values() if s not in TERMINAL)
            if not open_ or loop.time() > deadline:
                say(f"  drained: {len(states)} queued writes, {open_} still open")
                return states
        await asyncio.sleep(SAMPLE_EVERY)


async def _sample_depth(
    session: aiohttp.ClientSession,
    proc: ZproxyProcess,
    start: float,
    samples: list[tuple[float, float]],
    breaker: list[tuple[float, float]] | None = None,
) -> None:
    """Queue depth and the worst breaker state (0 closed, 1 half-open, 2 open) over time."""
    loop = asyncio.get_running_loop()
    while True:
        text = await _metrics(session, proc)
        at = round(loop.time() - start, 3)
        depth = parse_metric(text, "zproxy_write_queue_depth") if text else None
        if depth is not None:
            samples.append((at, depth))
        state = parse_metric(text, "zproxy_breaker_state") if text else None
        if state is not None and breaker is not None:
            breaker.append((at, state))
        await asyncio.sleep(SAMPLE_EVERY)


async def _metrics(session: aiohttp.ClientSession, proc: ZproxyProcess) -> str | None:
    try:
        async with session.get(
            proc.admin_url + "/metrics", timeout=aiohttp.ClientTimeout(total=2)
        ) as resp:
            return await resp.text()
    except (TimeoutError, aiohttp.ClientError):
        return None


async def queue_depth(session: aiohttp.ClientSession, proc: ZproxyProcess) -> float | None:
    text = await _metrics(session, proc)
    return None if text is None else parse_metric(text, "zproxy_write_queue_depth")


def parse_metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


async def _admin_breaker(
    session: aiohttp.ClientSession, proc: ZproxyProcess, token: str, action: AdminAction
) -> None:
    body: dict[str, str] = {"mode": action.breaker}
    if action.group is not None:
        body["group"] = action.group
    async with session.post(
        proc.admin_url + "/admin/breaker",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        if resp.status != 200:
            raise RuntimeError(f"admin breaker {body} failed: {resp.status} {await resp.text()}")
