"""Reading a raw settings mapping with every problem collected and located."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from zproxy.config.model import HostPort


class Reader:
    def __init__(self, origin: str, origins: Mapping[str, str]) -> None:
        self.origin = origin
        self.origins = origins
        self.problems: list[str] = []

    def where(self, path: str) -> str:
        return self.origins.get(path) or f"{self.origin}: {path}"

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{self.where(path)}: {message}")

    def section(
        self, raw: Mapping[str, Any], name: str, known: type | None = None
    ) -> Mapping[str, Any]:
        """``raw[name]`` as a mapping; with ``known`` (a settings dataclass), a key that is not
        one of its fields is reported, so a typo never passes silently."""
        value = raw.get(name, {})
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(name, "must be a mapping")
            return {}
        if known is not None:
            self.only_known(value, name, {f.name for f in fields(known)})
        return value

    def only_known(self, raw: Mapping[str, Any], path: str, allowed: set[str]) -> None:
        for key in raw:
            if key not in allowed:
                self.fail(f"{path}.{key}", "unknown setting")

    def number(
        self,
        raw: Mapping[str, Any],
        path: str,
        key: str,
        default: float,
        *,
        minimum: float = 0.0,
        integer: bool = False,
        above: bool = False,
    ) -> Any:
        if key not in raw or raw[key] is None:
            return default
        value = raw[key]
        full = f"{path}.{key}" if path else key
        try:
            if isinstance(value, bool):
                raise ValueError
            number = int(value) if integer else float(value)
            if integer and isinstance(value, float) and not value.is_integer():
                raise ValueError
        except (TypeError, ValueError):
            self.fail(full, f"must be a {'whole ' if integer else ''}number (got {value!r})")
            return default
        if number < minimum or (above and number <= minimum):
            self.fail(full, f"must be {'>' if above else '>='} {minimum} (got {value!r})")
            return default
        return number

    def string(
        self,
        raw: Mapping[str, Any],
        path: str,
        key: str,
        default: str | None,
        choices: tuple[str, ...] | None = None,
    ) -> Any:
        if key not in raw or raw[key] is None:
            return default
        value = raw[key]
        full = f"{path}.{key}" if path else key
        if not isinstance(value, str):
            self.fail(full, f"must be a string (got {value!r})")
            return default
        if choices and value not in choices:
            self.fail(full, f"must be one of {', '.join(choices)} (got {value!r})")
            return default
        return value

    def boolean(self, raw: Mapping[str, Any], path: str, key: str, default: bool) -> bool:
        value = raw.get(key, default)
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if not isinstance(value, bool):
            self.fail(f"{path}.{key}", f"must be true or false (got {value!r})")
            return default
        return value

    def host_port(self, raw: Mapping[str, Any], path: str, key: str, default: HostPort) -> HostPort:
        value = raw.get(key)
        if value is None:
            return default
        text = str(value)
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            self.fail(f"{path}.{key}", f"must be HOST:PORT (got {text!r})")
            return default
        return HostPort(host.strip("[]"), int(port))
