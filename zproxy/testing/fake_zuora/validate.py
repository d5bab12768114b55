"""Body validation helpers: each raises ``Reply`` with a 400 v1 error naming the field."""

from __future__ import annotations

import datetime as dt
from typing import Any

from zproxy.testing.fake_zuora.context import Reply
from zproxy.testing.fake_zuora.responses import MISSING_FIELD, bad_request


class Fields:
    """Typed reads from one JSON object, with Zuora-style 400s on bad input."""

    def __init__(self, data: dict[str, Any], request_id: str, prefix: str = "") -> None:
        self.data = data
        self.request_id = request_id
        self.prefix = prefix

    def fail(self, name: str, message: str, code: int = 0) -> Reply:
        label = f"{self.prefix}{name}"
        args = (f"'{label}' {message}", self.request_id)
        return Reply(bad_request(*args, code) if code else bad_request(*args))

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def text(self, name: str, *, required: bool = False, max_len: int = 255) -> str | None:
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise self.fail(name, "is required.", MISSING_FIELD)
            return None
        if not isinstance(value, str) or len(value) > max_len:
            raise self.fail(name, f"must be a string of at most {max_len} characters.")
        return value

    def req_str(self, name: str, max_len: int = 255) -> str:
        value = self.text(name, required=True, max_len=max_len)
        assert value is not None
        return value

    def flag(self, name: str, default: bool | None = None) -> bool | None:
        value = self.data.get(name, default)
        if value is not None and not isinstance(value, bool):
            raise self.fail(name, "must be true or false.")
        return value

    def integer(self, name: str, lo: int, hi: int, default: int | None = None) -> int | None:
        value = self.data.get(name, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.fail(name, f"must be an integer from {lo} to {hi}.")
        return value

    def number(self, name: str, *, required: bool = False, minimum: float = 0.0) -> float | None:
        value = self.data.get(name)
        if value is None:
            if required:
                raise self.fail(name, "is required.", MISSING_FIELD)
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            raise self.fail(name, f"must be a number >= {minimum:g}.")
        return float(value)

    def date(self, name: str, default: str | None = None) -> str | None:
        value = self.data.get(name, default)
        if value is None:
            return None
        try:
            return dt.date.fromisoformat(value).isoformat()
        except (TypeError, ValueError):
            raise self.fail(name, "must be a date in the format yyyy-mm-dd.") from None

    def obj(self, name: str, *, required: bool = False) -> Fields | None:
        value = self.data.get(name)
        if value is None:
            if required:
                raise self.fail(name, "is required.", MISSING_FIELD)
            return None
        if not isinstance(value, dict):
            raise self.fail(name, "must be an object.")
        return Fields(value, self.request_id, f"{self.prefix}{name}.")

    def objs(self, name: str, *, required: bool = False) -> list[Fields]:
        value = self.data.get(name)
        if value is None or value == []:
            if required:
                raise self.fail(name, "is required.", MISSING_FIELD)
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(name, "must be a list of objects.")
        return [
            Fields(v, self.request_id, f"{self.prefix}{name}[{i}].") for i, v in enumerate(value)
        ]

    def custom(self) -> dict[str, Any]:
        """Tenant custom fields (``Foo__c``)."""
        return {k: v for k, v in self.data.items() if k.endswith("__c")}
