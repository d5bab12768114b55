"""``zproxy queue ls|show ID|retry ID|drop ID``: the operator's view of queued and dead-lettered
writes, through the admin API of a running zproxy (CONTRACT §1, §3).

The admin URL is ``--admin-url``, else ``http://$ZPROXY_ADMIN_LISTEN`` (default
``127.0.0.1:9090``); the token is ``$ZPROXY_ADMIN_TOKEN``. ``ls`` prints a table, ``show`` the
write's redacted JSON. Exit codes: 0 done, 1 no such write or the server refused the action,
2 usage, authentication or connection problems (one line on stderr).
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

DEFAULT_ADMIN_LISTEN = "127.0.0.1:9090"
LIST_LIMIT = 500
TIMEOUT = 10.0
#: ``ls`` without ``--state``: everything not yet applied.
DEFAULT_STATES = ("queued", "replaying", "dead")


class CliError(Exception):
    """One line for stderr and the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any


def admin_base(admin_url: str | None) -> str:
    raw = admin_url or os.environ.get("ZPROXY_ADMIN_LISTEN") or DEFAULT_ADMIN_LISTEN
    url = raw if "://" in raw else "http://" + raw
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CliError(f"not an admin URL: {raw!r} (expected http://HOST:PORT)", 2)
    return url.rstrip("/")


def request(base: str, token: str, method: str, path: str) -> Answer:
    req = urllib.request.Request(  # noqa: S310 - the scheme is checked in admin_base
        base + path, method=method, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:  # noqa: S310
            return Answer(resp.status, _json(resp.read()))
    except urllib.error.HTTPError as exc:
        answer = Answer(exc.code, _json(exc.read()))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CliError(f"cannot reach the admin API at {base}: {reason}", 2) from None
    if answer.status in (401, 403):
        raise CliError(
            f"the admin API refused the token ({answer.status}): check ZPROXY_ADMIN_TOKEN", 2
        )
    if answer.status >= 500:
        raise CliError(f"the admin API failed ({answer.status}): {_reason(answer)}", 2)
    return answer


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        return raw.decode("utf-8", "replace")


def _reason(answer: Answer) -> str:
    body = answer.body
    if isinstance(body, dict):
        reasons = body.get("reasons")
        if isinstance(reasons, list) and reasons and isinstance(reasons[0], dict):
            return str(reasons[0].get("message", ""))
    return str(body)[:200]


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(writes: Sequence[dict[str, Any]], now: float) -> str:
    header = ("ID", "STATE", "ROUTE", "METHOD", "PATH", "TRIES", "AGE", "NOTE")
    rows = [header]
    for w in writes:
        note = w.get("deadReason") or w.get("lastError") or ""
        rows.append(
            (
                str(w.get("writeId", "")),
                str(w.get("state", "")),
                str(w.get("route", "")),
                str(w.get("method", "")),
                _cut(str(w.get("path", "")), 48),
                str(w.get("attempts", 0)),
                _age(now - float(w.get("acceptedAt") or now)),
                _cut(str(note), 40),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    return "\n".join(lines)


def _ls(base: str, token: str, state: str | None) -> int:
    writes: list[dict[str, Any]] = []
    for one in (state,) if state else DEFAULT_STATES:
        answer = request(base, token, "GET", f"/admin/writes?state={one}&limit={LIST_LIMIT}")
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise CliError(f"listing {one} writes failed ({answer.status}): {_reason(answer)}", 1)
        page = answer.body.get("writes") or []
        writes.extend(page)
        if len(page) >= LIST_LIMIT:
            print(f"(only the first {LIST_LIMIT} {one} writes are shown)", file=sys.stderr)
    if not writes:
        print("no writes" + (f" in state {state}" if state else " queued or dead"))
        return 0
    print(format_table(writes, time.time()))
    return 0


def _one(base: str, token: str, action: str, write_id: str) -> int:
    path = "/admin/writes/" + quote(write_id, safe="")
    method, path = {
        "show": ("GET", path),
        "retry": ("POST", path + "/retry"),
        "drop": ("DELETE", path),
    }[action]
    answer = request(base, token, method, path)
    if answer.status == 404:
        raise CliError(f"no write {write_id}", 1)
    if answer.status != 200:
        raise CliError(f"{action} {write_id} refused ({answer.status}): {_reason(answer)}", 1)
    if action == "show":
        print(json.dumps(answer.body, indent=2, sort_keys=True))
    elif action == "retry":
        print(f"write {write_id} re-queued")
    else:
        print(f"write {write_id} dropped")
    return 0


def run_queue_command(
    action: str, write_id: str | None, state: str | None, admin_url: str | None
) -> int:
    """``zproxy queue ACTION [ID] [--state S] [--admin-url URL]``; returns the exit code."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        # Paths and notes may hold any character; a terminal that cannot show one gets an
        # escape, not a traceback.
        sys.stdout.reconfigure(errors="backslashreplace")
    try:
        if action not in ("ls", "show", "retry", "drop"):
            raise CliError(f"unknown action {action!r} (ls, show, retry, drop)", 2)
        if action == "ls" and write_id:
            raise CliError("ls takes no write ID (use --state queued|dead)", 2)
        if action != "ls" and not write_id:
            raise CliError(f"{action} needs a write ID (see `zproxy queue ls`)", 2)
        if state is not None and action != "ls":
            raise CliError("--state applies to ls only", 2)
        token = os.environ.get("ZPROXY_ADMIN_TOKEN", "")
        if not token:
            raise CliError("set ZPROXY_ADMIN_TOKEN to use the admin API", 2)
        base = admin_base(admin_url)
        if action == "ls":
            return _ls(base, token, state)
        assert write_id is not None
        return _one(base, token, action, write_id)
    except CliError as exc:
        print(f"zproxy queue: {exc}", file=sys.stderr)
        return exc.code
