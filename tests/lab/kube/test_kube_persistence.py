"""State survives a clean restart and a kill -9; kubeconfigs are private; old watches expire after restart."""

from __future__ import annotations

import os
import shutil
import stat

import pytest
from kube_support import Raw, available, deployment
from kubernetes import client as k8s
from kubernetes import config as kube_config

from drlab.testing import LabHandle


@pytest.fixture(scope="module")
def own_lab():
    handle = LabHandle(topology={"timing": {"gateway_resync": 0}}).up()
    yield handle
    handle.down()
    shutil.rmtree(handle.dir, ignore_errors=True)


def _apps(path: str) -> k8s.AppsV1Api:
    return k8s.AppsV1Api(kube_config.new_client_from_config(config_file=path))


def test_kubeconfigs_are_private_and_per_cluster(own_lab):
    topo = own_lab.topology
    certs = set()
    for region in topo["regions"]:
        for cluster in region["clusters"]:
            path = os.path.join(own_lab.dir, "kubeconfig", f"{cluster['id']}.yaml")
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # it holds client-key-data
            raw = Raw(path)
            assert raw.url.endswith(f"/clusters/{cluster['id']}") and raw.url.startswith("https://127.0.0.1:")
            certs.add(raw.cert_pem)
            assert os.path.exists(os.path.join(own_lab.dir, "kubeconfig", f"{cluster['name']}.yaml"))
    assert None not in certs and len(certs) == len([c for r in topo["regions"] for c in r["clusters"]])


def test_restart_and_kill9_lose_nothing(own_lab):
    path = os.path.join(own_lab.dir, "kubeconfig", "cluster-1.yaml")
    mesh = own_lab.admin("kube/servers", {"id": "c0persistmesh", "kind": "mesh"})
    _apps(path).create_namespaced_deployment("default", deployment("keep"))
    # settled (Available, with what the controllers wrote: revision annotation, ReplicaSet): a restart
    # must not touch it
    created = available(_apps(path), "keep", "default", 1)
    cert = Raw(path).cert_pem

    own_lab.restart()
    assert Raw(path).cert_pem == cert  # same kubeconfig keeps working
    again = _apps(path).read_namespaced_deployment("keep", "default")
    assert again.metadata.uid == created.metadata.uid
    assert again.metadata.resource_version == created.metadata.resource_version
    assert Raw(mesh["kubeconfig"]).request("GET", "/apis/networking.istio.io/v1")[0] == 200

    # A watch from before the restart cannot be resumed: the history is gone, so 410 Expired.
    status, body = Raw(path).request(
        "GET", f"/apis/apps/v1/namespaces/default/deployments?watch=1&timeoutSeconds=1"
               f"&resourceVersion={int(created.metadata.resource_version) - 1}")
    assert status == 200 and body["type"] == "ERROR" and body["object"]["reason"] == "Expired"

    patched = _apps(path).patch_namespaced_deployment("keep", "default", {"spec": {"replicas": 4}})
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)
    _apps(path).create_namespaced_deployment("default", deployment("acked"))
    own_lab.kill9()  # no clean shutdown: everything acknowledged must already be on disk
    own_lab.up()
    apps = _apps(path)
    assert apps.read_namespaced_deployment("keep", "default").spec.replicas == 4
    assert apps.read_namespaced_deployment("acked", "default").metadata.name == "acked"
    after = apps.patch_namespaced_deployment("acked", "default", {"metadata": {"labels": {"x": "1"}}})
    assert int(after.metadata.resource_version) > int(patched.metadata.resource_version)
