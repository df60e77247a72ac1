"""The checker behind the API contract tests: what the installed SDK models accept and return.

The SDK models are the judge, not our code or drlab: a request model's ``from_map`` reads only
the wire keys it knows (anything else is silently dropped, and ``AlibabaCloudModule.request_model``
builds every request that way), and a response body's ``from_map``/``to_map`` keep only the keys
the model knows (``AlibabaCloudModule.call`` returns ``response.body.to_map()``, so a key the model
lacks never reaches the modules).  The schema of a model is read from the model itself:

* the wire keys and the attribute each fills come from the source of ``from_map``
  (``if m.get('Key') is not None: self.attr = ...``), i.e. exactly what the SDK keeps;
* the type of each attribute comes from the ``__init__`` annotations (``str``, ``int``, ``bool``,
  ``float``, ``Any``, ``List[X]``, ``Dict[str, X]``, or a nested model).

Every check returns a list of human-readable problems (empty = fine), so a test can both assert
"no problem" on the real code and assert the exact problem on a planted mistake.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
_COLLECTIONS = os.path.join(_ROOT, '.build', 'collections')
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)
from ansible_collections.meshdr.alicloud.plugins.module_utils import contract  # noqa: E402

ITEM = '[]'  # a path step into every element of a list
ANY_KEY = '*'  # a path step into every value of a map (e.g. Endpoints read with .items())

# The schema reader and the type check are the collection's own (cloud_probe runs them against a
# real account), so the tests judge drlab and the modules with exactly what users run.
PACKAGES = contract.PACKAGES
Type = contract.Type
ANY = contract.ANY
models = contract.models
schema = contract.schema
request_class = contract.request_model
response_body_class = contract.response_body_model


class Unknown:
    """A value whose type the source does not tell (a variable): its name is still checked, its type not."""

    def __repr__(self) -> str:
        return '<unknown>'


UNKNOWN = Unknown()


def client_class(product: str):
    return importlib.import_module(PACKAGES[product] + '.client').Client


def _unknown(value: Any) -> bool:
    return isinstance(value, Unknown)


def check_value(value: Any, tp: Type, where: str) -> list[str]:
    """Problems of ``value`` against the SDK type ``tp``: unknown keys (dropped by from_map), wrong types."""
    return [f'{path}: {problem}' for path, problem in contract.value_problems(value, tp, where, _unknown)]


def check_fields(value: Any, cls: type, where: str) -> list[str]:
    """``value`` (a wire-named dict) against the model ``cls``, recursively."""
    return [f'{path}: {problem}' for path, problem in contract.field_problems(value, cls, where, _unknown)]


# -- (a) requests ---------------------------------------------------------------------------------

def check_operation(product: str, action: str, snake_case) -> list[str]:
    """The operation exists: a request model and ``<snake_case>_with_options`` on the client."""
    if product not in PACKAGES:
        return [f'{action}: unknown product {product!r}']
    problems = []
    if request_class(product, action) is None:
        problems.append(f'{product} {action}: no {action}Request model in {PACKAGES[product]}')
    method = snake_case(action) + '_with_options'
    if not callable(getattr(client_class(product), method, None)):
        problems.append(f'{product} {action}: the {PACKAGES[product]} client has no {method}')
    return problems


def check_request(product: str, action: str, params: dict[str, Any], where: str = '') -> list[str]:
    """Every key of ``params`` is a field of the request model, with a value of its type."""
    cls = request_class(product, action)
    if cls is None:
        return [f'{where}{action}: no request model']
    params = {k: v for k, v in params.items() if v is not None}  # request_model() drops None first
    return [f'{where}{p}' for p in check_fields(params, cls, action)]


def check_request_names(product: str, action: str, names, where: str = '') -> list[str]:
    """Only the names (for call sites whose values are not known statically)."""
    cls = request_class(product, action)
    if cls is None:
        return [f'{where}{action}: no request model']
    known = schema(cls)
    return [f'{where}{action}.{n}: not a field of {cls.__name__} (from_map drops it)'
            for n in sorted(names) if n not in known]


# -- (b) response paths ---------------------------------------------------------------------------

def walk_path(product: str, action: str, path: tuple[str, ...]) -> tuple[Type | None, str | None]:
    """The SDK type at ``path`` of the answer body (ANY once untyped), or None and why the path does not exist."""
    cls = response_body_class(product, action)
    if cls is None:
        return None, f'no {action}ResponseBody model'
    tp = Type('model', model=cls)
    for step in path:
        if tp.kind == 'any':
            return ANY, None  # untyped below here (Dict[str, Any], Any): nothing more the SDK can tell
        if step == ITEM:
            if tp.kind != 'list':
                return None, f'{ITEM} is not a list in the SDK ({tp})'
            tp = tp.item
        elif step == ANY_KEY:
            if tp.kind == 'dict':
                tp = tp.item
            elif tp.kind == 'model':
                return ANY, None  # every field of a model: each exists by definition
            else:
                return None, f'not a map in the SDK ({tp})'
        elif tp.kind == 'model':
            known = schema(tp.model)
            if step not in known:
                return None, f'{step} is not a field of {tp.model.__name__}'
            tp = known[step]
        elif tp.kind == 'dict':
            tp = tp.item
        else:
            return None, f'{step} read from a {tp}'
    return tp, None


def type_at(product: str, action: str, path: tuple[str, ...]) -> Type | None:
    return walk_path(product, action, path)[0]


def is_leaf(tp: Type | None) -> bool:
    """A value the SDK does not describe further (a scalar, Any, or a list/map of those)."""
    while tp is not None and tp.kind in ('list', 'dict'):
        tp = tp.item
    return tp is not None and tp.kind != 'model'


def check_path(product: str, action: str, path: tuple[str, ...]) -> list[str]:
    """A read path (wire keys, ITEM into lists, ANY_KEY into maps) exists in the response body model."""
    _tp, why = walk_path(product, action, path)
    return [] if why is None else ['{} {}: {}'.format(action, '.'.join(path), why)]


def _matches(read: tuple[str, ...], listed: tuple[str, ...]) -> bool:
    return len(listed) >= len(read) and all(a == b or b == ANY_KEY for a, b in zip(read, listed, strict=False))


def covered(product: str, action: str, read: tuple[str, ...], listed_paths) -> bool:
    """A read is covered by a table of listed paths: it is one, a prefix of one, or a read inside one whose SDK
    type is a leaf (the items of a List[str], anything below a Dict[str, Any])."""
    for listed in listed_paths:
        if _matches(read, listed):
            return True
        if len(read) > len(listed) and _matches(read[:len(listed)], listed) \
                and is_leaf(type_at(product, action, listed)):
            return True
    return False


# -- (c) answers ----------------------------------------------------------------------------------

def lost_keys(raw: Any, kept: Any, where: str) -> list[str]:
    """Paths present in ``raw`` and absent from ``kept`` (= ``from_map(raw).to_map()``)."""
    problems = []
    if isinstance(raw, dict) and isinstance(kept, dict):
        for key in sorted(raw):
            path = f'{where}.{key}' if where else key
            if key not in kept:
                if raw[key] is not None:
                    problems.append(f'{path}: lost by the SDK model (not a field)')
                continue
            problems.extend(lost_keys(raw[key], kept[key], path))
    elif isinstance(raw, list) and isinstance(kept, list):
        for index, (a, b) in enumerate(zip(raw, kept, strict=False)):
            problems.extend(lost_keys(a, b, f'{where}[{index}]'))
    return problems


def check_answer(product: str, action: str, raw: dict[str, Any]) -> list[str]:
    """A raw answer body: every key survives the SDK model, and every value has the model's type."""
    cls = response_body_class(product, action)
    if cls is None:
        return [f'{action}: no response body model']
    kept = cls().from_map(raw).to_map()
    problems = [f'{action} {p}' for p in lost_keys(raw, kept, '')]
    problems.extend(f'{action} {p}' for p in check_fields(raw, cls, '')
                    if 'from_map drops it' not in p)  # the same finding as a lost key
    return problems
