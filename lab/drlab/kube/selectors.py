"""Label and field selectors as the apiserver parses them (``labels.Parse``, ``fields.ParseSelector``)."""

from __future__ import annotations

import re
from typing import Any, Callable

from .errors import bad_request

Matcher = Callable[[dict[str, Any]], bool]

_SET_EXPR = re.compile(r"^\s*(!?)\s*([A-Za-z0-9./_-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_EQ_EXPR = re.compile(r"^\s*([A-Za-z0-9./_-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*$")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside ``in (...)`` sets."""
    terms, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        terms.append(current)
    return terms


def parse_label_selector(text: str | None) -> Matcher:
    if not text or not text.strip():
        return lambda labels: True
    checks: list[Matcher] = []
    for term in _split_terms(text):
        eq = _EQ_EXPR.match(term)
        if eq:
            key, op, value = eq.groups()
            if op == "!=":
                checks.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                checks.append(lambda labels, k=key, v=value: labels.get(k) == v)
            continue
        st = _SET_EXPR.match(term)
        if not st:
            raise bad_request(f"unable to parse requirement: found '{term.strip()}', expected: in, notin, =, ==, !=")
        negated, key, op, values = st.groups()
        if op:
            if negated:
                raise bad_request(f"unable to parse requirement: '!' cannot be combined with {op}")
            members = {v.strip() for v in values.split(",") if v.strip()}
            if op == "in":
                checks.append(lambda labels, k=key, m=members: labels.get(k) in m)
            else:
                checks.append(lambda labels, k=key, m=members: labels.get(k) not in m)
        elif negated:
            checks.append(lambda labels, k=key: k not in labels)
        else:
            checks.append(lambda labels, k=key: k in labels)
    return lambda labels: all(check(labels) for check in checks)


def _field_value(obj: dict[str, Any], path: str) -> Any:
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


# Field labels every kind supports, plus the few kind-specific ones clients use.
_FIELDS = {"metadata.name", "metadata.namespace"}
_KIND_FIELDS = {
    # As the registries' field label conversions allow (pkg/registry/core/*/strategy.go, ToSelectableFields).
    "Pod": {"spec.nodeName", "status.phase", "spec.serviceAccountName", "spec.restartPolicy", "spec.schedulerName",
            "status.podIP", "status.nominatedNodeName", "spec.hostNetwork"},
    "Secret": {"type"},
    "Event": {"involvedObject.kind", "involvedObject.name", "involvedObject.namespace", "involvedObject.uid",
              "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
              "reportingComponent", "source", "type"},
    "Namespace": {"status.phase"},
    "Node": {"spec.unschedulable"},
    "Job": {"status.successful"},
    "ReplicaSet": {"status.replicas"},
    "ReplicationController": {"status.replicas"},
}
_ALIASES = {("Event", "source"): "source.component"}


def parse_field_selector(text: str | None, kind: str) -> Matcher:
    if not text or not text.strip():
        return lambda obj: True
    checks: list[Matcher] = []
    allowed = _FIELDS | _KIND_FIELDS.get(kind, set())
    for term in text.split(","):
        match = re.match(r"^\s*([A-Za-z0-9.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not match:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        path, op, value = match.groups()
        if path not in allowed:
            raise bad_request(f'"{path}" is not a known field selector: only "metadata.name", '
                              f'"metadata.namespace"')
        path = _ALIASES.get((kind, path), path)
        if op == "!=":
            checks.append(lambda obj, p=path, v=value: str(_field_value(obj, p) or "") != v)
        else:
            checks.append(lambda obj, p=path, v=value: str(_field_value(obj, p) or "") == v)
    return lambda obj: all(check(obj) for check in checks)
