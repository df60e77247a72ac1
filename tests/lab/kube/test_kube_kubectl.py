"""kubectl (where installed) against the lab: get with short names, multi-document apply, scale, delete."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on the PATH")

APP = """\
apiVersion: v1
kind: Namespace
metadata:
  name: kctl
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: kctl
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: kctl
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: kctl
data: {mode: lab}
"""

ROUTES = """\
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: web, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: web, namespace: istio-system}
spec:
  hosts: ["*"]
  gateways: [web]
  http: [{name: all, route: [{destination: {host: web.kctl.svc.cluster.local, port: {number: 80}}}]}]
"""


@pytest.fixture
def kubectl(tmp_path):
    env = dict(os.environ, HOME=str(tmp_path))  # a private ~/.kube/cache per test

    def run(kubeconfig: str, *args: str, stdin: str | None = None, check: bool = True) -> str:
        result = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=stdin, capture_output=True,
                                text=True, timeout=60, env=env)
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout
    return run


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_get_apply_scale_delete(kubectl, cluster_kubeconfig, tmp_path):
    assert "default" in kubectl(cluster_kubeconfig, "get", "ns")
    manifest = tmp_path / "app.yaml"
    manifest.write_text(APP)
    assert _lines(kubectl(cluster_kubeconfig, "apply", "-f", str(manifest))) == [
        "namespace/kctl created", "deployment.apps/web created", "service/web created", "configmap/settings created"]
    assert _lines(kubectl(cluster_kubeconfig, "apply", "-f", str(manifest))) == [
        "namespace/kctl unchanged", "deployment.apps/web unchanged", "service/web unchanged",
        "configmap/settings unchanged"]
    assert "successfully rolled out" in kubectl(cluster_kubeconfig, "rollout", "status", "deploy/web", "-n", "kctl",
                                                "--timeout=60s")
    table = _lines(kubectl(cluster_kubeconfig, "get", "deploy", "-n", "kctl"))
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table[1].split()[:4] == ["web", "2/2", "2", "2"]
    assert "deployment.apps/web scaled" in kubectl(cluster_kubeconfig, "scale", "deploy/web", "-n", "kctl",
                                                   "--replicas=3")
    kubectl(cluster_kubeconfig, "rollout", "status", "deploy/web", "-n", "kctl", "--timeout=60s")
    dep = json.loads(kubectl(cluster_kubeconfig, "get", "deploy", "web", "-n", "kctl", "-o", "json"))
    assert dep["spec"]["replicas"] == 3 and dep["status"]["availableReplicas"] == 3
    out = kubectl(cluster_kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", str(manifest))
    assert "deployment.apps/web serverside-applied" in out
    deleted = _lines(kubectl(cluster_kubeconfig, "delete", "-f", str(manifest)))
    assert deleted == ['namespace "kctl" deleted', 'deployment.apps "web" deleted', 'service "web" deleted',
                       'configmap "settings" deleted']
    assert "kctl" not in kubectl(cluster_kubeconfig, "get", "ns")
    missing = subprocess.run(["kubectl", "--kubeconfig", cluster_kubeconfig, "get", "deploy", "web", "-n", "kctl"],
                             capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": str(tmp_path)})
    assert missing.returncode != 0 and "NotFound" in missing.stderr


def test_istio_kinds_in_the_mesh(kubectl, mesh_kubeconfig, tmp_path):
    manifest = tmp_path / "routes.yaml"
    manifest.write_text(ROUTES)
    assert _lines(kubectl(mesh_kubeconfig, "apply", "-f", str(manifest))) == [
        "gateway.networking.istio.io/web created", "virtualservice.networking.istio.io/web created"]
    assert "web" in kubectl(mesh_kubeconfig, "get", "gw,vs", "-n", "istio-system")
    assert _lines(kubectl(mesh_kubeconfig, "delete", "-f", str(manifest))) == [
        'gateway.networking.istio.io "web" deleted', 'virtualservice.networking.istio.io "web" deleted']


def test_kubectl_without_credentials_is_refused(kubectl, cluster_kubeconfig, tmp_path):
    import yaml

    config = yaml.safe_load(open(cluster_kubeconfig, encoding="utf-8"))
    config["users"][0]["user"] = {"token": "not-the-token"}  # and no client certificate
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = subprocess.run(["kubectl", "--kubeconfig", str(bad), "get", "ns"], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "HOME": str(tmp_path)})
    assert result.returncode != 0
    assert "Unauthorized" in result.stderr or "provide credentials" in result.stderr
