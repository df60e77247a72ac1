"""Pure helpers of the kube emulator: patch semantics, selectors, field ownership."""

from __future__ import annotations

import pytest

from drlab.kube.errors import ApiError
from drlab.kube.fields import field_paths, from_fields_v1, server_side_apply, to_fields_v1
from drlab.kube.patch import json_patch, merge_patch, strategic_merge
from drlab.kube.selectors import parse_field_selector, parse_label_selector

POD_SPEC = {"spec": {"containers": [
    {"name": "a", "image": "x:1", "ports": [{"containerPort": 80}], "env": [{"name": "E", "value": "1"}],
     "args": ["--one"]},
    {"name": "b", "image": "y:1"}]}}


def test_strategic_merge_directives():
    patched = strategic_merge(POD_SPEC, {"spec": {
        "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
        "containers": [{"name": "a", "ports": [{"containerPort": 81}], "args": ["--two"],
                        "env": [{"name": "E", "$patch": "delete"}]}]}})
    containers = patched["spec"]["containers"]
    assert [c["name"] for c in containers] == ["b", "a"]
    assert containers[1]["ports"] == [{"containerPort": 80}, {"containerPort": 81}]  # merged on containerPort
    assert containers[1]["args"] == ["--two"]  # no merge key: replaced
    assert containers[1]["env"] == []
    replaced = strategic_merge(POD_SPEC, {"spec": {"containers": [{"$patch": "replace"}, {"name": "c", "image": "z"}]}})
    assert replaced["spec"]["containers"] == [{"name": "c", "image": "z"}]
    service = strategic_merge({"spec": {"ports": [{"port": 80, "name": "http"}]}},
                              {"spec": {"ports": [{"port": 443, "name": "https"}]}})
    assert [p["port"] for p in service["spec"]["ports"]] == [80, 443]  # Service ports merge on port
    meta = strategic_merge({"metadata": {"finalizers": ["a"], "labels": {"x": "1", "y": "2"}}},
                           {"metadata": {"finalizers": ["b"], "$deleteFromPrimitiveList/finalizers": ["a"],
                                         "labels": {"$patch": "replace", "z": "3"}}})
    assert meta["metadata"] == {"finalizers": ["b"], "labels": {"z": "3"}}
    retained = strategic_merge({"spec": {"a": 1, "b": 2}}, {"spec": {"$retainKeys": ["a", "c"], "c": 3}})
    assert retained == {"spec": {"a": 1, "c": 3}}


def test_merge_and_json_patch():
    assert merge_patch({"a": {"b": 1, "c": 2}, "l": [1, 2]}, {"a": {"b": None}, "l": [3]}) == {"a": {"c": 2}, "l": [3]}
    doc = {"a": [1, 2], "b": {"c~d": 1, "e/f": 2}}
    assert json_patch(doc, [{"op": "add", "path": "/a/-", "value": 3}, {"op": "remove", "path": "/b/c~0d"},
                            {"op": "move", "from": "/b/e~1f", "path": "/g"},
                            {"op": "copy", "from": "/g", "path": "/h"}]) == {"a": [1, 2, 3], "b": {}, "g": 2, "h": 2}
    with pytest.raises(ApiError) as exc:
        json_patch(doc, [{"op": "remove", "path": "/missing"}])
    assert exc.value.code == 422


def test_selectors():
    match = parse_label_selector("app=web,tier in (a, b),!legacy,env notin (dev)")
    assert match({"app": "web", "tier": "b"}) and not match({"app": "web", "tier": "c"})
    assert not match({"app": "web", "tier": "a", "legacy": ""}) and not match({"app": "web", "tier": "a", "env": "dev"})
    with pytest.raises(ApiError):
        parse_label_selector("app=(x")
    fields = parse_field_selector("metadata.name=a,metadata.namespace!=kube-system", "ConfigMap")
    assert fields({"metadata": {"name": "a", "namespace": "default"}})
    with pytest.raises(ApiError):
        parse_field_selector("spec.replicas=1", "Deployment")


def test_field_ownership_round_trip_and_apply_conflicts():
    paths = field_paths({"metadata": {"name": "x", "labels": {"a": "1"}}, **POD_SPEC}, keyed_lists=True)
    assert ("f:spec", "f:containers", 'k:{"name":"a"}', "f:image") in paths
    assert ("f:spec", "f:containers", 'k:{"name":"a"}', "f:args") in paths  # atomic list: one leaf
    assert from_fields_v1(to_fields_v1(paths)) == paths
    base = server_side_apply(None, {"metadata": {"name": "x"}, "data": {"k": "1"}}, "alice", False, "v1", True)
    with pytest.raises(ApiError) as exc:
        server_side_apply(base, {"metadata": {"name": "x"}, "data": {"k": "2"}}, "bob", False, "v1", True)
    assert exc.value.code == 409 and exc.value.details["causes"][0]["type"] == "FieldManagerConflict"
    shared = server_side_apply(base, {"metadata": {"name": "x"}, "data": {"k": "1"}}, "bob", False, "v1", True)
    assert {e["manager"] for e in shared["metadata"]["managedFields"]} == {"alice", "bob"}  # same value: co-owned
