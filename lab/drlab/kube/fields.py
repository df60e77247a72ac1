"""Field ownership (``metadata.managedFields``) and server-side apply.

A field path is a tuple of FieldsV1 elements: ``f:<name>`` for a map key and
``k:<json>`` for an item of a list merged by key.  Lists without a merge key are
atomic: the whole list is one leaf.  Apply conflicts, forced takeovers and
removal of fields a manager stopped applying follow the server-side apply docs.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from .errors import ApiError
from .patch import merge_key, merge_patch, strategic_merge

Path = tuple[str, ...]
_SKIP_META = {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields",
              "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "generateName"}


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def field_paths(obj: dict[str, Any], keyed_lists: bool, include_status: bool = False) -> set[Path]:
    paths: set[Path] = set()
    for key, value in obj.items():
        if key in ("apiVersion", "kind") or (key == "status" and not include_status):
            continue
        if key == "metadata" and isinstance(value, dict):
            for mkey, mvalue in value.items():
                if mkey in _SKIP_META:
                    continue
                _walk(mvalue, ("f:metadata", f"f:{mkey}"), mkey, keyed_lists, paths)
            continue
        _walk(value, (f"f:{key}",), key, keyed_lists, paths)
    return paths


def _walk(value: Any, path: Path, field: str, keyed: bool, out: set[Path]) -> None:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            _walk(child, path + (f"f:{key}",), key, keyed, out)
        return
    if isinstance(value, list) and keyed and value:
        key = merge_key(field, _names(path))
        if key and all(isinstance(item, dict) and key in item for item in value):
            for item in value:
                item_path = path + ("k:" + json.dumps({key: item[key]}, separators=(",", ":")),)
                out.add(item_path + (".",))
                for child_key, child in item.items():
                    _walk(child, item_path + (f"f:{child_key}",), child_key, keyed, out)
            return
    out.add(path)


def _names(path: Path) -> tuple[str, ...]:
    return tuple(p[2:] for p in path if p.startswith("f:"))


def to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(part, {})
    return tree


def from_fields_v1(tree: dict[str, Any], prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    for key, child in (tree or {}).items():
        if child:
            paths |= from_fields_v1(child, prefix + (key,))
        else:
            paths.add(prefix + (key,))
    return paths


def get_path(obj: Any, path: Path) -> Any:
    node = obj
    for part in path:
        if part == ".":
            return node
        if part.startswith("f:") and isinstance(node, dict):
            node = node.get(part[2:])
        elif part.startswith("k:") and isinstance(node, list):
            want = json.loads(part[2:])
            node = next((i for i in node if isinstance(i, dict) and all(i.get(k) == v for k, v in want.items())),
                        None)
        else:
            return None
        if node is None:
            return None
    return node


def remove_path(obj: Any, path: Path) -> None:
    if path and path[-1] == ".":
        path = path[:-1]
    parent = get_path(obj, path[:-1]) if len(path) > 1 else obj
    last = path[-1]
    if last.startswith("f:") and isinstance(parent, dict):
        parent.pop(last[2:], None)
    elif last.startswith("k:") and isinstance(parent, list):
        want = json.loads(last[2:])
        parent[:] = [i for i in parent if not (isinstance(i, dict) and all(i.get(k) == v for k, v in want.items()))]


def _entries(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list((obj.get("metadata") or {}).get("managedFields") or [])


def _set_entries(obj: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    entries = [e for e in entries if e.get("fieldsV1")]
    if entries:
        obj.setdefault("metadata", {})["managedFields"] = entries
    else:
        (obj.get("metadata") or {}).pop("managedFields", None)


def _entry(manager: str, operation: str, api_version: str, paths: set[Path], subresource: str | None) -> dict:
    entry = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now_rfc3339(),
             "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(paths)}
    if subresource:
        entry["subresource"] = subresource
    return entry


def record_update(old: dict[str, Any] | None, new: dict[str, Any], manager: str, api_version: str,
                  keyed: bool, subresource: str | None = None) -> None:
    """Give ``manager`` (operation Update) the fields this write changed; others lose them."""
    status_only = subresource == "status"
    new_paths = field_paths(new, keyed, include_status=status_only)
    if status_only:
        new_paths = {p for p in new_paths if p[0] == "f:status"}
    old_paths = field_paths(old, keyed, include_status=status_only) if old else set()
    if status_only:  # a status write neither touches nor removes spec/metadata fields of other managers
        old_paths = {p for p in old_paths if p[0] == "f:status"}
    changed = {p for p in new_paths if old is None or p not in old_paths or get_path(old, p) != get_path(new, p)}
    removed = old_paths - new_paths
    entries = _entries(old) if old else []
    if not changed and not removed:
        _set_entries(new, entries)
        return
    result = []
    mine: set[Path] = set(changed)
    for entry in entries:
        paths = from_fields_v1(entry.get("fieldsV1") or {})
        if entry["manager"] == manager and entry["operation"] == "Update" and entry.get("subresource") == subresource:
            mine |= paths - removed
            continue
        kept = paths - changed - removed
        if kept != paths:
            entry = dict(entry, fieldsV1=to_fields_v1(kept))
        result.append(entry)
    result.append(_entry(manager, "Update", api_version, mine, subresource))
    _set_entries(new, result)


def server_side_apply(existing: dict[str, Any] | None, applied: dict[str, Any], manager: str, force: bool,
                      api_version: str, keyed: bool) -> dict[str, Any]:
    """The object after applying ``applied`` as ``manager``; raises 409 on conflicts unless forced."""
    applied = copy.deepcopy(applied)
    applied.get("metadata", {}).pop("managedFields", None)
    applied_paths = field_paths(applied, keyed)
    base = copy.deepcopy(existing) if existing else {}
    entries = _entries(base)
    conflicts: list[tuple[str, Path]] = []
    previous: set[Path] = set()
    others: list[tuple[dict[str, Any], set[Path]]] = []
    for entry in entries:
        paths = from_fields_v1(entry.get("fieldsV1") or {})
        if entry["manager"] == manager and entry["operation"] == "Apply":
            previous = paths
            continue
        others.append((entry, paths))
        for path in paths & applied_paths:
            if path[-1] != "." and get_path(base, path) != get_path(applied, path):
                conflicts.append((entry["manager"], path))
    if conflicts and not force:
        causes = [{"type": "FieldManagerConflict", "message": f'conflict with "{m}"',
                   "field": "." + ".".join(p[2:] for p in path if p != ".")} for m, path in conflicts]
        lines = "\n".join(f'- conflict with "{m}": .{".".join(p[2:] for p in path if p != ".")}'
                          for m, path in conflicts)
        raise ApiError(409, "Conflict", f"Apply failed with {len(conflicts)} conflict"
                                        f"{'s' if len(conflicts) > 1 else ''}:\n{lines}", causes=causes)
    taken = {path for _, path in conflicts}
    owned_by_others: set[Path] = set()
    new_entries = []
    for entry, paths in others:
        kept = paths - taken
        owned_by_others |= kept
        new_entries.append(dict(entry, fieldsV1=to_fields_v1(kept)) if kept != paths else entry)
    result = base
    for path in sorted(previous - applied_paths - owned_by_others, key=len, reverse=True):
        remove_path(result, path)
    body = {k: v for k, v in applied.items() if k not in ("status",)}
    meta = dict(body.get("metadata") or {})
    for key in ("resourceVersion", "uid", "generation", "creationTimestamp"):
        meta.pop(key, None)
    body["metadata"] = meta
    result = strategic_merge(result, body) if keyed else merge_patch(result, body)
    unchanged_mine = previous == applied_paths
    old_mine = next((e for e in entries if e["manager"] == manager and e["operation"] == "Apply"), None)
    if unchanged_mine and old_mine is not None:
        new_entries.insert(entries.index(old_mine), old_mine)
    else:
        new_entries.append(_entry(manager, "Apply", api_version, applied_paths, None))
    _set_entries(result, new_entries)
    return result
