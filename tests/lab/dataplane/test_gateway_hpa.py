"""The gateway HPA scales real Envoy replicas: the survivor of a failover scales out and its 429s stop."""

from __future__ import annotations

import concurrent.futures
import copy
import http.client
import shutil
import tempfile
import threading
import time

import pytest
from dp_world import GATEWAY_PORT, RATE_LIMITER, apply, build_world, wait_for
from kubernetes import client as k8s

from drlab.dataplane.hpa import Autoscaler, HpaSettings
from drlab.testing import LabHandle

pytestmark = pytest.mark.timeout(240)

MAX = 5  # the survivor's maxReplicas

HPA = {"metadata": {"name": "istio-ingressgateway"},
       "spec": {"minReplicas": 1, "maxReplicas": 3, "metrics": [
           {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                       "averageUtilization": 80}}}]}}


def test_autoscaler_follows_the_kubernetes_algorithm():
    scaler = Autoscaler(HpaSettings(scale_up_stabilization=0, scale_down_stabilization=300))
    # 250 % of an 80 % target: ceil(1 x 250 / 80) = 4, clamped to maxReplicas
    assert scaler.desired("a", HPA, 1, 250.0, now=0) == 3
    # within the 0.1 tolerance: unchanged
    assert scaler.desired("a", HPA, 3, 85.0, now=15) == 3
    # load gone: the scale-down window (300 s) remembers the higher recommendations
    assert scaler.desired("a", HPA, 3, 0.0, now=30) == 3
    assert scaler.desired("a", HPA, 3, 0.0, now=400) == 1
    # no metric: the current scale stays, inside [min, max]
    assert scaler.desired("b", HPA, 2, None, now=0) == 2
    # spec.behavior overrides the windows, as on a cluster
    quick = {**HPA, "spec": {**HPA["spec"], "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}}}}
    assert Autoscaler(HpaSettings()).desired("c", quick, 3, 0.0, now=0) == 1
    # scale-up rate: at most max(100 %, 4 pods) per 15 s period
    wide = {**HPA, "spec": {**HPA["spec"], "maxReplicas": 20}}
    up = Autoscaler(HpaSettings())
    assert up.desired("d", wide, 2, 1000.0, now=0) == 6
    # settings from the lab topology, defaults from kube-controller-manager
    assert HpaSettings.from_topology({}).scale_down_stabilization == 300.0
    assert HpaSettings.from_topology({"hpa": {"sync_period": 1}}).sync_period == 1.0


def _status(address: str) -> int:
    # a new connection per request, as many clients make: the kernel spreads them over the replicas
    conn = http.client.HTTPConnection(address, GATEWAY_PORT, timeout=5)
    try:
        conn.request("GET", "/api/v1/products", headers={"Host": "bookinfo.example.com"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def _answers(address: str) -> bool:
    try:
        return _status(address) in (200, 429)
    except OSError:
        return False


class Load:
    """At most 10 requests per second to one address (bursts of 5 concurrent, every 0.5 s), bounded in time."""

    def __init__(self, address: str, max_seconds: float = 90):
        self.address = address
        self.codes: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._deadline = time.monotonic() + max_seconds
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with concurrent.futures.ThreadPoolExecutor(5) as pool:
            while not self._stop.is_set() and time.monotonic() < self._deadline:
                started = time.monotonic()
                for code in pool.map(lambda _: _status(self.address), range(5)):
                    self.codes.append((time.monotonic(), code))
                self._stop.wait(max(0.5 - (time.monotonic() - started), 0))

    def since(self, moment: float) -> list[int]:
        return [code for at, code in list(self.codes) if at >= moment]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture(scope="module")
def hpa_world():
    # HPA synced every second; scale-up follows the lowest recommendation of the last 8 s (so one
    # replica is seen limiting first) and scale-down waits 3 s; one replica counts as fully busy at
    # 2 rps, so 7-10 rps ask for ceil(350-500 % / 80 %) >= 5 replicas, capped at maxReplicas 5.
    lab = LabHandle(directory=tempfile.mkdtemp(prefix="drlab-hpa-"), topology={
        "timing": {"mesh_create_delay": 0.2, "mesh_update_delay": 0.2, "gateway_resync": 0},
        "hpa": {"sync_period": 1, "scale_up_stabilization": 8, "scale_down_stabilization": 3, "replica_rps": 2}}).up()
    try:
        yield build_world(lab)
    finally:
        lab.down()
        shutil.rmtree(lab.dir, ignore_errors=True)


def test_survivor_of_a_failover_scales_out_and_its_429s_stop(hpa_world):
    w = hpa_world
    survivor, lost = w.address(0), w.regions[1]
    # ASM's per-pod quota: 33 requests per 10 s in each gateway replica.  A burst of 45 drains one replica's
    # bucket; at 7-10 rps five replicas get ~20 each per 10 s (the kernel spreads connections by hash).
    limiter = copy.deepcopy(RATE_LIMITER)
    limiter["spec"]["configs"][0]["limit"] = {"fill_interval": {"seconds": 10}, "quota": 33}
    k8s.CustomObjectsApi(w.mesh_api[w.meshes[0]]).delete_namespaced_custom_object(
        "istio.alibabacloud.com", "v1beta1", "istio-system", "asmlocalratelimiters", "api-limit")
    apply(w.mesh_api[w.meshes[0]], limiter)
    k8s.CustomObjectsApi(w.mesh_api[w.meshes[0]]).patch_namespaced_custom_object(
        "istio.alibabacloud.com", "v1beta1", "istio-system", "istiogateways", "ingressgateway",
        {"spec": {"maxReplicas": MAX}})
    region_id = w.regions[0]["id"]
    cluster_api = w.cluster_api[w.regions[0]["clusters"][0]["id"]]
    autoscaling = k8s.AutoscalingV2Api(cluster_api)
    wait_for(lambda: autoscaling.read_namespaced_horizontal_pod_autoscaler(
        "istio-ingressgateway", "istio-system").spec.max_replicas == MAX, 10, 0.2, "HPA maxReplicas from ASM")

    def gateway():
        return w.lab.status()["components"]["dataplane"]["gateways"][region_id]

    # The gateway's Pod takes its image pull and start delays (longer on a busy machine) before its Envoy
    # listens: until then a connection is refused, which is "not yet", not a failure.
    wait_for(lambda: _answers(survivor), 90, 0.2, "survivor serving")
    time.sleep(1.5)  # the new bucket is in place (a config swap)

    # The limit is in force on the one replica: a burst beyond its bucket (45 requests against 33, sent
    # faster than the HPA can start a second replica) gets 429s. This is shown here rather than during the
    # failover, where whether replica 0's bucket runs dry before the new replicas listen is a race that a
    # slow client (a busy machine: fewer requests per second) loses, which says nothing about the system.
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        burst = list(pool.map(lambda _: _status(survivor), range(45)))
    assert 429 in burst, f"one replica's bucket of 33 should have limited a burst of 45: {burst}"
    # the burst may have asked the HPA for more replicas: back to one before the failover
    wait_for(lambda: gateway()["replicas"] == 1, 30, 0.5, "back to one replica after the burst")

    # failover: region 2's gateway is gone (resync off), all load lands on the survivor
    k8s.AppsV1Api(w.cluster_api[lost["clusters"][0]["id"]]).delete_namespaced_deployment(
        "istio-ingressgateway", "istio-system")
    load = Load(survivor)
    try:
        wait_for(lambda: gateway()["replicas"] == MAX, 60, 0.5, "survivor scaled out to maxReplicas")

        # the HPA's status follows at its next sync, as kube-controller-manager writes it
        hpa = wait_for(lambda: (h := autoscaling.read_namespaced_horizontal_pod_autoscaler(
            "istio-ingressgateway", "istio-system")).status.current_replicas == MAX and h, 5, 0.2, "HPA status")
        assert hpa.status.desired_replicas == MAX
        dep = k8s.AppsV1Api(cluster_api).read_namespaced_deployment("istio-ingressgateway", "istio-system")
        assert dep.spec.replicas == MAX
        status = gateway()
        assert len(set(status["pids"])) == MAX and all(status["pids"])

        # once replica 0's bucket has refilled (one fill interval), nothing is limited any more
        time.sleep(10.5)
        window = time.monotonic()
        time.sleep(6)
        after = load.since(window)
        assert after and after.count(200) == len(after), f"429s after scaling out: {after}"
        assert gateway()["replicas"] == MAX
    finally:
        load.stop()

    # load gone: after the scale-down window the HPA returns to minReplicas
    wait_for(lambda: gateway()["replicas"] == 1, 30, 0.5, "scaled back in")
    hpa = wait_for(lambda: (h := autoscaling.read_namespaced_horizontal_pod_autoscaler(
        "istio-ingressgateway", "istio-system")).status.current_replicas == 1 and h, 5, 0.2, "HPA status")
    assert hpa.status.desired_replicas == 1
    events = [e["kind"] for e in w.lab.admin("events")]
    assert "gateway_hpa_scaled" in events and "gateway_envoy_scaled" in events
