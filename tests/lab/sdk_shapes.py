"""Compare a raw JSON answer with the SDK response model of its operation.

The SDK's ``from_map`` silently drops keys its model does not know, so a lab answer with an
invented key (or a module reading one) passes every SDK-based test and still is not what the
service sends.  ``unknown_paths`` walks the raw answer against the model (wire names, nested
models and lists) and returns every path the model does not have; ``has_path`` says whether a
path the collection reads exists in the model at all.
"""

from __future__ import annotations

import typing
from functools import lru_cache
from typing import Any

from alibabacloud_alidns20150109 import models as M
from darabonba.model import DaraModel


def _dummy(hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (list, typing.List):
        (inner,) = typing.get_args(hint)
        return [inner()] if isinstance(inner, type) and issubclass(inner, DaraModel) else ["x"]
    if origin is dict:
        return {"k": "v"}
    if isinstance(hint, type) and issubclass(hint, DaraModel):
        return hint()
    return {str: "x", int: 1, bool: True, float: 1.0}.get(hint, "x")



@lru_cache(maxsize=None)
def fields(model: type) -> dict[str, Any]:
    """Wire name -> type hint of every field of ``model`` (found through its own to_map)."""
    hints = typing.get_type_hints(model.__init__, globalns={**vars(M), "main_models": M, "List": typing.List,
                                                            "Dict": typing.Dict, "Any": typing.Any})
    out = {}
    for attr, hint in hints.items():
        if attr == "return":
            continue
        instance = model()
        before = instance.to_map()
        setattr(instance, attr, _dummy(hint))
        after = instance.to_map()
        wire = [k for k in after if after[k] != before.get(k)]
        out[wire[0] if wire else attr] = hint
    return out


def _model_of(hint: Any) -> type | None:
    origin = typing.get_origin(hint)
    if origin in (list, typing.List):
        hint = typing.get_args(hint)[0]
    return hint if isinstance(hint, type) and issubclass(hint, DaraModel) else None


def unknown_paths(model: type, data: Any, path: str = "") -> list[str]:
    if isinstance(data, list):
        return [p for i, item in enumerate(data) for p in unknown_paths(model, item, f"{path}[{i}]")]
    if not isinstance(data, dict):
        return []
    known = fields(model)
    found = []
    for key, value in data.items():
        where = f"{path}.{key}" if path else key
        if key not in known:
            found.append(where)
            continue
        inner = _model_of(known[key])
        if inner is not None:
            found.extend(unknown_paths(inner, value, where))
    return found


def has_path(model: type, path: str) -> bool:
    """``path`` like ``Addresses.Address[].HealthTasks.HealthTask[].Port`` exists in the model."""
    current: type | None = model
    for part in path.split("."):
        part = part.removesuffix("[]")
        if current is None or part not in fields(current):
            return False
        current = _model_of(fields(current)[part])
    return True


def response_model(action: str) -> type:
    return getattr(M, action + "ResponseBody")
