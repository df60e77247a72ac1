"""playbooks/cloud_probe.yml on the lab: read-only, and it tells a matching answer from a differing one.

The probe compares the service's raw answers with the SDK's response models and with what the
collection reads.  On a fresh lab it must find nothing to object to and make no write call; with a
health-check template the real service would refuse (the lab's short, lab-only interval) it must
name that template's interval as a difference.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from alibabacloud_alidns20150109 import models as dns_models
from alibabacloud_servicemesh20200111 import models as mesh_models
from cloud_support import dns_client, mesh_client, start_lab, stop_lab

pytestmark = pytest.mark.timeout(300)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, ".venv", "bin")


@pytest.fixture(scope="module")
def lab():
    handle = start_lab()
    yield handle
    stop_lab(handle)


def probe(lab) -> tuple[int, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "MESHDR_"))}
    env.update({"DRLAB_DIR": lab.dir, "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
                "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "PATH": BIN + os.pathsep + env.get("PATH", "")})
    result = subprocess.run([os.path.join(BIN, "ansible-playbook"), os.path.join(ROOT, "playbooks", "cloud_probe.yml")],
                            env=env, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    report = json.loads(result.stdout)
    for play in report["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"] == "Read the answers the collection depends on":
                return result.returncode, task["hosts"]["localhost"]
    raise AssertionError(result.stdout[-3000:])


def test_fresh_account_is_safe_and_nothing_is_written(lab):
    lab.admin("calls/reset", {})
    rc, result = probe(lab)
    assert rc == 0, result.get("differences") or result
    assert result["safe_to_run_site"] and not result["differences"]
    assert "safe to run site.yml" in result["summary"]
    assert all(op.startswith(("Describe", "List", "Get")) for op in result["operations"])
    calls = lab.admin("calls")
    assert calls["writes"] == 0 and calls["reads"] == len(result["operations"]) > 0
    checked = {(c["operation"], c["path"]) for c in result["checks"]}
    assert ("ListCloudGtmMonitorNodes", "Ipv4IspCityNodes.Ipv4IspCityNode[].GroupType") in checked


def test_a_template_the_service_would_refuse_is_named(lab):
    client = dns_client(lab)
    nodes = client.list_cloud_gtm_monitor_nodes(dns_models.ListCloudGtmMonitorNodesRequest()).body.to_map()
    node = nodes["Ipv4IspCityNodes"]["Ipv4IspCityNode"][0]
    client.create_cloud_gtm_monitor_template(dns_models.CreateCloudGtmMonitorTemplateRequest(
        name="lab-only-interval", protocol="tcp", ip_version="IPv4", interval=2, timeout=2000, evaluation_count=1,
        failure_rate=50, isp_city_nodes=[dns_models.CreateCloudGtmMonitorTemplateRequestIspCityNodes(
            city_code=node["CityCode"], isp_code=node["IspCode"])]))
    rc, result = probe(lab)
    assert rc != 0
    assert not result["safe_to_run_site"]
    assert [d["path"] for d in result["differences"]] == ["Templates.Template[].Interval"]
    assert result["differences"][0]["found"] == [2]


def test_a_mesh_with_every_feature_the_collection_reads_answers_as_the_sdk_declares(lab):
    """LocalityLB, CR aggregation and the mesh states: the shapes only a real account can confirm."""
    region = lab.topology["regions"][0]
    client = mesh_client(lab)
    mesh_id = client.create_service_mesh(mesh_models.CreateServiceMeshRequest(
        name="mesh-1", region_id=region["id"], vpc_id=region["vpc_id"], v_switches=json.dumps(region["vswitches"]),
        locality_load_balancing=True,
        locality_lbconf=json.dumps({"failover": [{"from": region["id"], "to": "ap-southeast-1"}]}),
    )).body.service_mesh_id
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        detail = client.describe_service_mesh_detail(mesh_models.DescribeServiceMeshDetailRequest(
            service_mesh_id=mesh_id)).body
        if detail.service_mesh.service_mesh_info.state == "running":
            break
        time.sleep(0.5)
    client.update_mesh_craggregation(mesh_models.UpdateMeshCRAggregationRequest(service_mesh_id=mesh_id, enabled=True))
    rc, result = probe(lab)
    mesh_checks = {c["path"]: c for c in result["checks"] if c["operation"] == "DescribeServiceMeshDetail"}
    assert mesh_checks["ServiceMesh.Spec.MeshConfig.LocalityLB"]["status"] == "ok", mesh_checks
    assert mesh_checks["ServiceMesh.Spec.MeshConfig.ExtraConfiguration.CRAggregationConfiguration.Enabled"][
        "status"] == "ok", mesh_checks
    mesh_problems = [d for d in result["differences"] if d["operation"].startswith(("Describe", "GetCa"))
                     and "Mesh" in d["operation"]]
    assert mesh_problems == [], mesh_problems
