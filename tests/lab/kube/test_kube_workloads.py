"""Workloads take time and can fail as on a cluster: pull/start delays, missing images and
ServiceAccounts, progress deadlines, paused rollouts (drlab/kube/workloads.py)."""

from __future__ import annotations

import pytest
from kube_support import available, deployment, wait_for
from kubernetes import client as k8s

from drlab.kube.workloads import WorkloadSettings, normalise_image

NS = "wl"


@pytest.fixture(scope="module")
def apps(api_client):
    core = k8s.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": NS}})
    return k8s.AppsV1Api(api_client)


@pytest.fixture(scope="module")
def core(api_client):
    return k8s.CoreV1Api(api_client)


def _conditions(dep) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in (dep.status.conditions or [])} if dep.status else {}


def _pods(core, app):
    return core.list_namespaced_pod(NS, label_selector=f"app={app}").items


def _waiting(pod) -> str | None:
    state = (pod.status.container_statuses or [None])[0]
    return state.state.waiting.reason if state and state.state.waiting else None


def test_image_references_and_the_registry_rule():
    assert normalise_image("nginx") == "docker.io/library/nginx:latest"
    assert normalise_image("istio/proxyv2:1.24.1") == "docker.io/istio/proxyv2:1.24.1"
    assert normalise_image("docker.io/nginx:1.25") == "docker.io/library/nginx:1.25"
    assert normalise_image("localhost:5000/x") == "localhost:5000/x:latest"
    settings = WorkloadSettings(registry=["docker.io/istio/examples-bookinfo-reviews-v[123]:1.*",
                                          "registry-*.ack.aliyuncs.com/acs/proxyv2:1.*"],
                                images=[{"match": "registry-*.ack.aliyuncs.com/acs/proxyv2:*", "pull_seconds": 9}])
    assert settings.exists(normalise_image("docker.io/istio/examples-bookinfo-reviews-v2:1.20.2"))
    assert not settings.exists(normalise_image("docker.io/istio/examples-bookinfo-reviews-v4:1.20.2"))
    assert not settings.exists(normalise_image("docker.io/istio/examples-bookinfo-reviews-v2:latest"))
    assert settings.exists(normalise_image("docker.io/istio/examples-bookinfo-reviews-v1@sha256:" + "a" * 64))
    proxy = normalise_image("registry-cn-hangzhou.ack.aliyuncs.com/acs/proxyv2:1.24.6.64-g6b1f7a5b-aliyun")
    assert settings.exists(proxy) and settings.pull(proxy) == 9 and settings.pull("docker.io/x:1") == 4.0


def test_pods_take_their_pull_and_start_delays(apps, core):
    apps.create_namespaced_deployment(NS, deployment("slow", replicas=2, image="nginx:1.27"))
    dep = apps.read_namespaced_deployment("slow", NS)
    assert not (dep.status.available_replicas or 0) and dep.status.unavailable_replicas == 2
    assert _conditions(dep)["Available"] == ("False", "MinimumReplicasUnavailable")
    pods = _pods(core, "slow")
    assert len(pods) == 2 and {p.status.phase for p in pods} == {"Pending"}
    assert {_waiting(p) for p in pods} == {"ContainerCreating"}
    dep = available(apps, "slow", NS, 2)
    assert _conditions(dep) == {"Available": ("True", "MinimumReplicasAvailable"),
                                "Progressing": ("True", "NewReplicaSetAvailable")}
    assert {p.status.phase for p in _pods(core, "slow")} == {"Running"}


def test_missing_image_never_becomes_available(apps, core):
    body = deployment("noimage", image="docker.io/istio/examples-bookinfo-nothing-v1:1.20.2")
    body["spec"]["progressDeadlineSeconds"] = 3
    apps.create_namespaced_deployment(NS, body)
    wait_for(lambda: _waiting(_pods(core, "noimage")[0]) == "ErrImagePull")
    pod = wait_for(lambda: next((p for p in _pods(core, "noimage") if _waiting(p) == "ImagePullBackOff"), None))
    assert pod.status.phase == "Pending" and "Back-off pulling image" in pod.status.container_statuses[0].state.\
        waiting.message
    dep = wait_for(lambda: (lambda d: d if _conditions(d).get("Progressing", ("",))[0] == "False" else None)(
        apps.read_namespaced_deployment("noimage", NS)), timeout=30)
    assert _conditions(dep)["Progressing"] == ("False", "ProgressDeadlineExceeded")
    assert _conditions(dep)["Available"] == ("False", "MinimumReplicasUnavailable")
    assert not dep.status.available_replicas and dep.status.unavailable_replicas == 1
    events = core.list_namespaced_event(NS).items
    assert any(e.reason == "Failed" and e.involved_object.name == pod.metadata.name and "not found" in e.message
               for e in events)


def test_missing_service_account_fails_create_until_it_exists(apps, core):
    body = deployment("nosa")
    body["spec"]["template"]["spec"]["serviceAccountName"] = "nosa-sa"
    apps.create_namespaced_deployment(NS, body)
    dep = apps.read_namespaced_deployment("nosa", NS)
    assert _conditions(dep)["ReplicaFailure"] == ("True", "FailedCreate")
    message = next(c.message for c in dep.status.conditions if c.type == "ReplicaFailure")
    assert 'error looking up service account wl/nosa-sa: serviceaccount "nosa-sa" not found' in message
    assert _pods(core, "nosa") == [] and dep.status.unavailable_replicas == 1
    rs = apps.list_namespaced_replica_set(NS, label_selector="app=nosa").items[0]
    assert [(c.type, c.reason) for c in rs.status.conditions] == [("ReplicaFailure", "FailedCreate")]
    assert any(e.reason == "FailedCreate" and e.type == "Warning" and e.involved_object.kind == "ReplicaSet"
               and e.message.startswith("Error creating: ") for e in core.list_namespaced_event(NS).items)
    core.create_namespaced_service_account(NS, {"metadata": {"name": "nosa-sa"}})
    dep = available(apps, "nosa", NS, 1)  # the ReplicaSet controller retries
    assert "ReplicaFailure" not in _conditions(dep)


def test_paused_deployment_reports_paused_and_rolls_nothing_out(apps):
    apps.create_namespaced_deployment(NS, deployment("held"))
    available(apps, "held", NS, 1)
    apps.patch_namespaced_deployment("held", NS, {"spec": {"paused": True}})
    dep = wait_for(lambda: (lambda d: d if _conditions(d)["Progressing"][1] == "DeploymentPaused" else None)(
        apps.read_namespaced_deployment("held", NS)))
    assert _conditions(dep)["Progressing"] == ("Unknown", "DeploymentPaused")
    assert next(c.message for c in dep.status.conditions if c.type == "Progressing") == "Deployment is paused"
    apps.patch_namespaced_deployment("held", NS, {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "nginx:1.26"}]}}}})
    assert len(apps.list_namespaced_replica_set(NS, label_selector="app=held").items) == 1  # no rollout
    apps.patch_namespaced_deployment("held", NS, {"spec": {"paused": False}})
    dep = available(apps, "held", NS, 1)
    assert _conditions(dep)["Progressing"] == ("True", "NewReplicaSetAvailable")
    assert sorted(rs.spec.replicas for rs in apps.list_namespaced_replica_set(NS, label_selector="app=held").items
                  ) == [0, 1]
