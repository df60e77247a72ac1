"""One lab for the whole kube test session, and clients built only from its kubeconfig files."""

from __future__ import annotations

import os
import shutil
import sys

# Test the lab of this checkout, also when the shared venv's editable install of drlab points at
# another clone: in-process imports and the lab processes (via PYTHONPATH) both use this tree.
LAB_SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "lab"))
sys.path.insert(0, LAB_SRC)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (LAB_SRC, os.environ.get("PYTHONPATH")) if p)

import pytest  # noqa: E402
from kube_support import Raw  # noqa: E402
from kubernetes import config as kube_config  # noqa: E402
from kubernetes.dynamic import DynamicClient  # noqa: E402

from drlab.testing import LabHandle  # noqa: E402


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
