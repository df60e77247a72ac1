"""readiness.yml on a converged lab: READY as converged, NOT READY with the right evidence when one
region is made unable to take over (a VirtualService edited in one mesh only, a gateway that cannot
scale far enough for the traffic, GTM settings slower than the SLO), and nothing written meanwhile."""

from __future__ import annotations

import glob
import json
import os

import pytest
import site_support as site
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from drlab.testing import LabHandle

ISTIO = ("networking.istio.io", "v1beta1")
ASM = ("istio.alibabacloud.com", "v1beta1")
TRAFFIC = json.dumps({"dr_readiness_traffic": {"cn-hangzhou": 80, "ap-southeast-1": 60}})


@pytest.fixture(scope="module")
def converged(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("readiness")
    lab = LabHandle(topology=site.topology()).up()
    try:
        inv = site.inventory(tmp)
        rc, report = site.run(lab, inv, "site.yml")
        assert rc == 0, site.failed_tasks(report)
        yield lab, inv, str(tmp)
    finally:
        lab.down()


def readiness(converged, *extra: str):
    lab, inv, tmp = converged
    before = writes(lab)
    reports = os.path.join(tmp, "reports")
    rc, report = site.run(lab, inv, "readiness.yml", "-e", f"dr_readiness_report_dir={reports}", *extra)
    assert writes(lab) == before, "the readiness checks wrote to the cloud"
    stats = (report.get("global_custom_stats") or {}).get("dr_readiness")
    assert stats, report
    newest = sorted(glob.glob(os.path.join(reports, "readiness-*.json")))[-1]
    with open(newest, encoding="utf-8") as handle:
        result = json.load(handle)
    markdown = open(newest[:-5] + ".md", encoding="utf-8").read()  # noqa: SIM115
    return rc, result, markdown


def writes(lab) -> int:
    return lab.admin("calls")["writes"]


def by_category(result, category):
    return [c for c in result["checks"] if c["category"] == category]


def mesh_api(lab, region_id: str) -> k8s.ApiClient:
    return k8s_config.new_client_from_config(config_file=os.path.join(lab.dir, "kubeconfig", f"mesh-{region_id}.yaml"))


def test_converged_site_is_ready(converged):
    rc, result, markdown = readiness(converged, "-e", TRAFFIC)
    assert rc == 0
    assert result["status"] == "READY", [c for c in result["checks"] if c["status"] != "READY"]
    assert {c["category"] for c in result["checks"]} == {"parity", "capacity", "gtm", "trust", "state"}
    capacity = by_category(result, "capacity")
    assert len(capacity) == 2 and all(c["evidence"][0]["capacity_rps"] == 300.0 for c in capacity)
    assert "# Failover readiness: READY" in markdown


def test_virtual_service_edited_in_one_mesh_is_named(converged):
    lab = converged[0]
    custom = k8s.CustomObjectsApi(mesh_api(lab, "ap-southeast-1"))
    vs = custom.list_cluster_custom_object(*ISTIO, "virtualservices")["items"][0]
    name, namespace = vs["metadata"]["name"], vs["metadata"]["namespace"]
    patch = {"spec": {"http": [dict(vs["spec"]["http"][0], timeout="7s")] + vs["spec"]["http"][1:]}}
    custom.patch_namespaced_custom_object(*ISTIO, namespace, "virtualservices", name, patch)
    try:
        rc, result, markdown = readiness(converged)
        assert rc != 0 and result["status"] == "NOT READY"
        parity = by_category(result, "parity")[0]
        assert parity["status"] == "NOT READY"
        difference = [d for d in parity["evidence"] if d["field"] == "spec.http[0].timeout"]
        assert difference and difference[0]["values"] == {"cn-hangzhou": None, "ap-southeast-1": "7s"}
        assert f"VirtualService {namespace}/{name}" in parity["summary"] and "spec.http[0].timeout" in markdown
        # declared as intended, the same difference no longer counts
        rc, result, _ = readiness(converged, "-e", json.dumps({"dr_readiness_intended_differences": [
            {"object": f"VirtualService {namespace}/{name}", "path": "spec.http[*].timeout", "reason": "test"}]}))
        assert by_category(result, "parity")[0]["status"] == "READY"
    finally:
        custom.patch_namespaced_custom_object(*ISTIO, namespace, "virtualservices", name,
                                              {"spec": {"http": vs["spec"]["http"]}})


def test_survivor_that_cannot_scale_far_enough_is_not_ready(converged):
    lab = converged[0]
    custom = k8s.CustomObjectsApi(mesh_api(lab, "ap-southeast-1"))
    custom.patch_namespaced_custom_object(*ASM, "istio-system", "istiogateways", "ingressgateway",
                                          {"spec": {"maxReplicas": 1}})
    try:
        for _ in range(30):  # the lab's ASM controller applies the CR to the cluster's HPA
            rc, result, markdown = readiness(converged, "-e", TRAFFIC)
            check = [c for c in by_category(result, "capacity") if c["evidence"][0]["survivor"] == "ap-southeast-1"]
            if check and check[0]["status"] == "NOT READY":
                break
        evidence = check[0]["evidence"][0]
        assert evidence["hpa_max_replicas"] == 1 and evidence["capacity_rps"] == 100.0
        assert evidence["load_after_failover_rps"] == 140.0
        assert "HTTP 429" in check[0]["summary"] and result["status"] == "NOT READY"
        # the other direction still holds: hangzhou can take Singapore's traffic
        other = [c for c in by_category(result, "capacity") if c["evidence"][0]["survivor"] == "cn-hangzhou"]
        assert other[0]["status"] == "READY"
    finally:
        custom.patch_namespaced_custom_object(*ASM, "istio-system", "istiogateways", "ingressgateway",
                                              {"spec": {"maxReplicas": 3}})


def test_gtm_settings_slower_than_the_slo(converged):
    rc, result, _ = readiness(converged, "-e", "dr_slo_max_error_window=3")
    gtm = by_category(result, "gtm")[0]
    assert gtm["status"] == "NOT READY" and "> SLO 3.0 s" in gtm["summary"]
    row = gtm["evidence"][0]
    bound = row["interval"] * row["evaluation_count"] + row["timeout_ms"] / 1000 + row["ttl"]
    assert row["error_window_bound_s"] == bound
