"""kubernetes.core's own integration targets against a lab cluster (a manual, slow check: tens of minutes).

Runs only with MESHDR_K8S_CORE_TESTS=1 and a local mirror of kubernetes.core (k8s_core_targets.py
says where); fetched code is run from a temporary directory, never copied into this tree.
MESHDR_K8S_CORE_TARGETS (comma-separated) picks targets; the default is every supported one.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import k8s_core_targets as harness
import pytest

pytestmark = [
    pytest.mark.skipif(os.environ.get("MESHDR_K8S_CORE_TESTS") != "1",
                       reason="slow manual check: set MESHDR_K8S_CORE_TESTS=1"),
    pytest.mark.skipif(not os.path.isdir(harness.MIRROR), reason=f"no kubernetes.core mirror at {harness.MIRROR}"),
]

SELECTED = [t for t in os.environ.get("MESHDR_K8S_CORE_TARGETS", "").split(",") if t] or harness.SUPPORTED


@pytest.fixture(scope="module")
def targets_dir():
    work = tempfile.mkdtemp(prefix="k8s-core-")
    yield harness.extract(harness.installed_version(), work), work
    shutil.rmtree(work, ignore_errors=True)


@pytest.mark.parametrize("target", SELECTED)
def test_target(target, targets_dir, cluster_kubeconfig):
    directory, work = targets_dir
    ok, line = harness.run_target(directory, target, cluster_kubeconfig, work)
    if not ok:
        with open(os.path.join(work, f"{target}.log"), encoding="utf-8") as handle:
            tail = handle.read()[-6000:]
        pytest.fail(f"{line}\n{tail}")


def test_exceptions_are_named():
    assert not set(harness.EXCEPTED) & set(harness.SUPPORTED)
