"""Does a raw JSON answer fit an SDK response model?  Unknown keys and wrong types, by path.

The Tea SDK's ``from_map`` silently drops keys its model does not know and never checks types, so a
lab answer in the wrong shape "parses" and the mismatch only shows on a real account.  This walks the
model's constructor annotations (the SDK's own types) and its ``to_map`` wire names instead.
"""

from __future__ import annotations

import inspect
import re
import typing
from typing import Any

from Tea.model import TeaModel

_SIMPLE = {str: (str,), bool: (bool,), int: (int,), float: (int, float)}


def _fields(model: type) -> dict[str, Any]:
    """Wire name -> annotation, in constructor order (to_map lists the wire names in the same order)."""
    names = re.findall(r"result\['([^']+)'\] = ", inspect.getsource(model.to_map))
    params = [p for p in inspect.signature(model.__init__).parameters.values() if p.name != "self"]
    hints = typing.get_type_hints(model.__init__)
    return {wire: hints.get(p.name, p.annotation) for p, wire in zip(params, names, strict=False)}


def _check(annotation: Any, value: Any, path: str, problems: list[str]) -> None:
    if value is None:
        return
    origin = typing.get_origin(annotation)
    if inspect.isclass(annotation) and issubclass(annotation, TeaModel):
        if not isinstance(value, dict):
            problems.append(f"{path}: {type(value).__name__}, the SDK has an object ({annotation.__name__})")
            return
        problems.extend(mismatches(annotation, value, path))
    elif origin in (list, typing.List):
        if not isinstance(value, list):
            problems.append(f"{path}: {type(value).__name__}, the SDK has a list")
            return
        (inner,) = typing.get_args(annotation) or (Any,)
        for index, item in enumerate(value):
            _check(inner, item, f"{path}[{index}]", problems)
    elif origin in (dict, typing.Dict):
        if not isinstance(value, dict):
            problems.append(f"{path}: {type(value).__name__}, the SDK has an object (Dict)")
    elif annotation in _SIMPLE:
        ok = _SIMPLE[annotation]
        if not isinstance(value, ok) or (annotation is not bool and isinstance(value, bool)):
            problems.append(f"{path}: {type(value).__name__} {value!r}, the SDK has {annotation.__name__}")


def mismatches(model: type, data: dict[str, Any], path: str = "") -> list[str]:
    """Every key of ``data`` the model lacks, and every value of another type than the model's."""
    fields = _fields(model)
    problems: list[str] = []
    for key, value in data.items():
        where = f"{path}.{key}" if path else key
        if key not in fields:
            problems.append(f"{where}: not in {model.__name__}")
            continue
        _check(fields[key], value, where, problems)
    return problems
