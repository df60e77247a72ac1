"""kubernetes.core, run by ansible-playbook, against the lab's cluster and mesh APIs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PLAYBOOK = os.path.join(os.path.dirname(__file__), "playbooks", "k8s_flow.yml")


def test_kubernetes_core_playbook(lab, cluster_kubeconfig, mesh_kubeconfig, tmp_path):
    playbook_bin = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    if not os.path.exists(playbook_bin):
        pytest.skip("ansible-playbook is not installed next to this Python")
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path),
               ANSIBLE_HOME=str(tmp_path / "ansible-home"), KUBECONFIG=cluster_kubeconfig)
    env.pop("K8S_AUTH_KUBECONFIG", None)
    env.pop("ANSIBLE_CONFIG", None)  # the playbook needs nothing from the collection's ansible.cfg
    result = subprocess.run(
        [playbook_bin, "-i", "localhost,", "-c", "local", PLAYBOOK,
         "-e", f"ansible_python_interpreter={sys.executable}",
         "-e", f"cluster_kubeconfig={cluster_kubeconfig}", "-e", f"mesh_kubeconfig={mesh_kubeconfig}"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "failed=0" in result.stdout
