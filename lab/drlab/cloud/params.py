"""Typed access to RPC request parameters, with the cloud's validation errors.

The SDKs never enforce "required" (see shared/reference/alibaba-openapi.md), so the
service must: every accessor raises the same ``MissingParameter``/``InvalidParameter``
errors the cloud would.  Parameters arrive as strings; booleans as Python's
``True``/``False`` (what the Python SDK sends) or ``true``/``false`` (other SDKs);
lists either JSON-encoded (CloudGtm, VSwitches) or flattened 1-based (``Tag.1.Key``).
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

from .errors import invalid, missing

_FLAT = re.compile(r"^([A-Za-z]+)\.(\d+)(?:\.([A-Za-z]+))?$")


class Params:
    def __init__(self, values: dict[str, str]):
        self.values = values

    def __contains__(self, name: str) -> bool:
        return self.values.get(name, "") != ""

    def str(self, name: str, default: str | None = None, required: bool = False,
            choices: Iterable[str] | None = None) -> str | None:
        value = self.values.get(name, "")
        if value == "":
            if required:
                raise missing(name)
            return default
        if choices is not None and value not in choices:
            raise invalid(name, value, list(choices))
        return value

    def req(self, name: str, choices: Iterable[str] | None = None) -> str:
        value = self.str(name, required=True, choices=choices)
        assert value is not None  # noqa: S101 - required=True never returns None
        return value

    def int(self, name: str, default: int | None = None, required: bool = False,
            choices: Iterable[int] | None = None, minimum: int | None = None,
            maximum: int | None = None) -> int | None:
        raw = self.str(name, required=required)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise invalid(name, raw) from None
        allowed = list(choices) if choices is not None else None
        if allowed is not None and value not in allowed:
            raise invalid(name, raw, allowed)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise invalid(name, raw)
        return value

    def bool(self, name: str, default: bool | None = None) -> bool | None:
        raw = self.str(name)
        if raw is None:
            return default
        if raw.lower() == "true":
            return True
        if raw.lower() == "false":
            return False
        raise invalid(name, raw, ["true", "false"])

    def json(self, name: str, default: Any = None, required: bool = False, kind: type | None = None) -> Any:
        raw = self.str(name, required=required)
        if raw is None:
            return default
        try:
            value = json.loads(raw)
        except ValueError:
            raise invalid(name, raw) from None
        if kind is not None and not isinstance(value, kind):
            raise invalid(name, raw)
        return value

    def flat_list(self, prefix: str) -> list[Any]:
        """``Tag.1.Key=a&Tag.1.Value=b`` -> ``[{"Key": "a", "Value": "b"}]`` (``X.1=v`` -> ``["v"]``)."""
        items: dict[int, Any] = {}
        for key, value in self.values.items():
            match = _FLAT.match(key)
            if not match or match.group(1) != prefix:
                continue
            index = int(match.group(2))
            if match.group(3):
                items.setdefault(index, {})[match.group(3)] = value
            else:
                items[index] = value
        return [items[i] for i in sorted(items)]

    def page(self, max_size: int = 100, default_size: int = 20) -> tuple[int, int]:
        number = self.int("PageNumber", default=1, minimum=1) or 1
        size = self.int("PageSize", default=default_size, minimum=1, maximum=max_size) or default_size
        return number, size


def paginate(items: list[Any], number: int, size: int) -> list[Any]:
    start = (number - 1) * size
    return items[start:start + size]
