"""The Kubernetes request counters behind `drlab calls`: what a benchmark reads to tell a no-change run
(reads, dry runs) from one that wrote."""

from __future__ import annotations

from drlab.kube.calls import kind_of


def test_requests_are_counted_by_kind_and_resource(lab, raw):
    lab.admin("kube/calls/reset", {})
    assert raw.request("GET", "/api/v1")[0] == 200
    assert raw.request("GET", "/api/v1/namespaces/default/configmaps")[0] == 200
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "counted"}, "data": {"a": "1"}}
    assert raw.request("POST", "/api/v1/namespaces/default/configmaps?dryRun=All", cm)[0] == 201
    assert raw.request("GET", "/api/v1/namespaces/default/configmaps/counted")[0] == 404  # the dry run kept nothing
    assert raw.request("POST", "/api/v1/namespaces/default/configmaps", cm)[0] == 201
    same = {"data": {"a": "1"}}
    path = "/api/v1/namespaces/default/configmaps/counted"
    assert raw.request("PATCH", path, same, content_type="application/merge-patch+json")[0] == 200
    assert raw.request("PATCH", path, same, content_type="application/json")[0] == 415
    assert raw.request("DELETE", path)[0] == 200
    report = lab.admin("kube/calls")
    assert {k: report[k] for k in ("discovery", "read", "watch", "dry_run", "write", "no_op", "refused", "total")} == {
        "discovery": 1, "read": 2, "watch": 0, "dry_run": 1, "write": 2, "no_op": 1, "refused": 1, "total": 8}
    assert report["requests"]["POST write configmaps"] == 1
    assert report["requests"]["PATCH no_op configmaps"] == 1
    assert report["requests"]["GET read configmaps"] == 2
    assert lab.admin("kube/calls/reset", {})["total"] == 8
    assert lab.admin("kube/calls")["total"] == 0


def test_kinds_follow_the_api_layout():
    assert kind_of("GET", ["apis", "apps", "v1"], {}) == "discovery"
    assert kind_of("GET", ["apis", "apps", "v1", "deployments"], {}) == "read"
    assert kind_of("GET", ["apis", "apps", "v1", "deployments"], {"watch": "true"}) == "watch"
    assert kind_of("PATCH", ["api", "v1", "namespaces", "x"], {"dryRun": "All"}) == "dry_run"
    assert kind_of("PATCH", ["api", "v1", "namespaces", "x"], {}) == "write"
    assert kind_of("PATCH", ["api", "v1", "namespaces", "x"], {}, 200, persisted=False) == "no_op"
    assert kind_of("PATCH", ["apis", "x.io", "v1", "namespaces", "n", "things", "a"], {}, 415) == "refused"
    assert kind_of("GET", ["openapi", "v2"], {}) == "discovery"
