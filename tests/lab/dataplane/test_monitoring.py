"""The lab's real Prometheus and Alertmanager: they scrape the real Envoys and the lab's exporter,
load the ratelimit role's rule file, and alerts fire and resolve on what the gateways really do."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.parse
import urllib.request

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from dp_world import World, build_world, wait_for
from kubernetes import client as k8s
from test_end_to_end import get, http_status

from drlab.monitoring.component import binaries
from drlab.testing import LabHandle

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TEMPLATE = os.path.join(ROOT, "roles", "ratelimit", "templates", "meshdr-ratelimit-rules.yml.j2")


@pytest.fixture(scope="module")
def monitored():
    missing = [name for name, path in binaries().items() if not path]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: `make monitoring-deps` installs them")
    # no ASM resync: the test owns the gateway's replica count
    lab = LabHandle(directory=tempfile.mkdtemp(prefix="drlab-mon-"), monitoring=True,
                    topology={"timing": {"mesh_create_delay": 0.2, "mesh_update_delay": 0.2,
                                         "gateway_resync": 0}}).up()
    try:
        yield build_world(lab)
    finally:
        lab.down()
        shutil.rmtree(lab.dir, ignore_errors=True)


def urls(world: World) -> dict[str, str]:
    return world.lab.status()["components"]["monitoring"]


def api(url: str, data: bytes | None = None):
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")  # noqa: S310
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - the lab's loopback Prometheus
        body = resp.read()
    return json.loads(body) if body.strip().startswith(b"{") else body


def write_rules(world: World, index: int) -> str:
    """The ratelimit role's template, rendered for the test world's limiter (5 per 60 s on api-route)."""
    region = world.regions[index]["id"]
    variables = {
        "ratelimit_mesh_name": world.meshes[index], "ratelimit_region_id": region,
        "ratelimit_gateway_name": "ingressgateway", "ratelimit_stat_prefix": "http_local_rate_limiter",
        "ratelimit_quota": 5, "ratelimit_fill_interval_seconds": 60, "ratelimit_route": "api-route",
        "ratelimit_alert_for": "2s", "ratelimit_alert_share": 0.05, "ratelimit_alert_rate_limited_per_second": 0.05,
        "ratelimit_alert_no_replica_for": "2s", "ratelimit_capacity_share": 0.8, "ratelimit_max_replicas": 3,
        "ratelimit_metric_matchers": f'region="{region}"', "ratelimit_gtm_alert_metric": "drlab_gtm_address_available",
    }
    with open(TEMPLATE, encoding="utf-8") as handle:
        text = Templar(loader=DataLoader(), variables=variables).template(trust_as_template(handle.read()))
    rules_dir = urls(world)["rules_dir"]
    os.makedirs(rules_dir, exist_ok=True)
    with open(os.path.join(rules_dir, f"meshdr-ratelimit-{region}.rules.yml"), "w", encoding="utf-8") as handle:
        handle.write(text)
    return region


def loaded_groups(world: World) -> set[str]:
    return {g["name"] for g in api(urls(world)["prometheus"] + "/api/v1/rules")["data"]["groups"]}


def alerts(world: World, name: str, state: str = "firing") -> list[dict]:
    return [a for a in api(urls(world)["prometheus"] + "/api/v1/alerts")["data"]["alerts"]
            if a["labels"]["alertname"] == name and a["state"] == state]


def notifications(world: World, name: str, status: str) -> list[dict]:
    return [e for e in world.lab.admin("events") if e["kind"] == "alert_notification"
            and e["alertname"] == name and e["status"] == status]


def test_prometheus_scrapes_every_gateway_envoy_and_the_exporter(monitored: World):
    prom = urls(monitored)["prometheus"]

    def healthy():
        targets = api(prom + "/api/v1/targets")["data"]["activeTargets"]
        return {(t["labels"]["job"], t["labels"].get("region", "")) for t in targets if t["health"] == "up"}
    regions = {r["id"] for r in monitored.regions}
    wait_for(lambda: {("istio-gateway", r) for r in regions} | {("drlab-exporter", "")} <= healthy(), 40,
             0.5, "every gateway Envoy and the exporter scraped")
    # kube-state-metrics' names from the lab's Kubernetes state, per region
    query = "kube_deployment_status_replicas_available{deployment='istio-ingressgateway'}"
    result = api(prom + "/api/v1/query?" + urllib.parse.urlencode({"query": query}))["data"]["result"]
    assert {r["metric"]["region"]: r["value"][1] for r in result} == {r: "1" for r in regions}


def test_rule_file_loaded_on_reload_and_429s_fire_an_alert(monitored: World):
    region = write_rules(monitored, 1)
    assert f"meshdr-ratelimit-{region}" not in loaded_groups(monitored)  # written, not yet reloaded
    api(urls(monitored)["prometheus"] + "/-/reload", data=b"")
    wait_for(lambda: f"meshdr-ratelimit-{region}" in loaded_groups(monitored), 20, 0.5, "rule group loaded")
    address = monitored.address(1)
    wait_for(lambda: get(address, "/productpage")[0] == 200, 20, 0.2, "gateway serving")
    codes = [get(address, "/api/v1/products")[0] for _ in range(30)]
    assert codes.count(429) >= 20
    wait_for(lambda: alerts(monitored, "MeshdrGatewayRateLimited"), 60, 1, "MeshdrGatewayRateLimited firing")
    fired = alerts(monitored, "MeshdrGatewayRateLimited")[0]
    assert fired["labels"]["region"] == region and fired["labels"]["severity"] == "warning"
    # Alertmanager delivered it to the lab's webhook receiver, which logs it on the lab's timeline
    wait_for(lambda: notifications(monitored, "MeshdrGatewayRateLimited", "firing"), 30, 1,
             "Alertmanager notification")
    # the other region sent no 429 and its rules are not loaded: nothing fires for it
    assert not [a for a in alerts(monitored, "MeshdrGatewayRateLimited")
                if a["labels"]["region"] != region]


def test_a_gateway_without_ready_replicas_fires_and_resolves(monitored: World):
    region = write_rules(monitored, 0)
    api(urls(monitored)["prometheus"] + "/-/reload", data=b"")
    wait_for(lambda: f"meshdr-ratelimit-{region}" in loaded_groups(monitored), 20, 0.5, "rule group loaded")
    cluster_id = monitored.regions[0]["clusters"][0]["id"]
    apps = k8s.AppsV1Api(monitored.cluster_api[cluster_id])
    apps.patch_namespaced_deployment_scale("istio-ingressgateway", "istio-system", {"spec": {"replicas": 0}})
    try:
        wait_for(lambda: alerts(monitored, "MeshdrGatewayNoReadyReplica"), 60, 1, "MeshdrGatewayNoReadyReplica")
        assert alerts(monitored, "MeshdrGatewayNoReadyReplica")[0]["labels"]["region"] == region
        # Alertmanager sends a resolved notification only for a group it has notified as firing (its dedup
        # stage drops a first flush that holds only resolved alerts: prometheus/alertmanager notify/notify.go,
        # DedupStage.needsUpdate). A gateway back before the first flush would resolve in silence.
        wait_for(lambda: notifications(monitored, "MeshdrGatewayNoReadyReplica", "firing"), 30, 1,
                 "firing notification")
    finally:
        apps.patch_namespaced_deployment_scale("istio-ingressgateway", "istio-system", {"spec": {"replicas": 1}})
    wait_for(lambda: http_status(monitored.address(0)) == 200, 90, 0.5, "gateway serving again")
    wait_for(lambda: notifications(monitored, "MeshdrGatewayNoReadyReplica", "resolved"), 60, 1,
             "resolved notification")
