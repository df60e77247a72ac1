"""One lab for the whole kube test session, and clients built only from its kubeconfig files."""

from __future__ import annotations

import os
import shutil

import pytest
from kube_support import Raw
from kubernetes import config as kube_config
from kubernetes.dynamic import DynamicClient

from drlab.testing import LabHandle


@pytest.fixture(scope="session")
def lab():
    handle = LabHandle(topology={"timing": {"gateway_resync": 0}}).up()
    yield handle
    handle.down()
    shutil.rmtree(handle.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster_kubeconfig(lab) -> str:
    path = os.path.join(lab.dir, "kubeconfig", "cluster-1.yaml")
    assert os.path.exists(path)
    return path


@pytest.fixture(scope="session")
def mesh_kubeconfig(lab) -> str:
    """A mesh API made through the kube admin route (the cloud API makes them for real meshes)."""
    reply = lab.admin("kube/servers", {"id": "c0testmesh0000000000000000000001", "kind": "mesh"})
    assert reply["url"].endswith("/meshes/c0testmesh0000000000000000000001")
    return reply["kubeconfig"]


@pytest.fixture(scope="session")
def api_client(cluster_kubeconfig):
    client = kube_config.new_client_from_config(config_file=cluster_kubeconfig)
    yield client
    client.close()


@pytest.fixture(scope="session")
def dyn(api_client) -> DynamicClient:
    return DynamicClient(api_client)


@pytest.fixture(scope="session")
def mesh_dyn(mesh_kubeconfig) -> DynamicClient:
    return DynamicClient(kube_config.new_client_from_config(config_file=mesh_kubeconfig))


@pytest.fixture(scope="session")
def raw(cluster_kubeconfig) -> Raw:
    return Raw(cluster_kubeconfig)


@pytest.fixture(scope="session")
def mesh_raw(mesh_kubeconfig) -> Raw:
    return Raw(mesh_kubeconfig)
