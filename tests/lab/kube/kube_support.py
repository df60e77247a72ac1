"""Helpers for the kube tests: raw HTTPS requests and manifests."""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any

import yaml


def wait_for(check, timeout: float = 60.0, interval: float = 0.2):
    """Poll ``check()`` until it returns something truthy (Pods take the lab's pull/start delays)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, f"not reached within {timeout}s"
            return value
        time.sleep(interval)


def available(apps, name: str, namespace: str, replicas: int):
    """The Deployment once the controller reports ``replicas`` available for its current generation."""
    def check():
        dep = apps.read_namespaced_deployment(name, namespace)
        status = dep.status
        done = (status is not None and (status.available_replicas or 0) == replicas
                and (status.updated_replicas or 0) == replicas and (status.replicas or 0) == replicas
                and status.observed_generation == dep.metadata.generation)
        return dep if done else None
    return wait_for(check)


class Raw:
    """Plain HTTPS requests to one Kubernetes API, for status codes and bodies clients hide."""

    def __init__(self, kubeconfig_path: str, credentials_from: str | None = None):
        """Requests to the kubeconfig's server with its credentials (or those of ``credentials_from``)."""
        with open(kubeconfig_path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
        if credentials_from:
            with open(credentials_from, encoding="utf-8") as handle:
                config["users"] = yaml.safe_load(handle)["users"]
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        self.url = cluster["server"]
        self.token = user.get("token")
        ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
        self.bare = ssl.create_default_context(cadata=ca)  # no client certificate: only what `token=` gives
        self.ssl = ssl.create_default_context(cadata=ca)
        self.cert_pem = base64.b64decode(user["client-certificate-data"]).decode() if "client-certificate-data" \
            in user else None
        if self.cert_pem:
            with tempfile.TemporaryDirectory() as tmp:  # ssl loads a client key from files only
                path = os.path.join(tmp, "client.pem")
                with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w", encoding="utf-8") as handle:
                    handle.write(self.cert_pem + base64.b64decode(user["client-key-data"]).decode())
                self.ssl.load_cert_chain(path)

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                token: str | None = "default", headers: dict[str, str] | None = None,  # noqa: S107 - sentinel
                timeout: float = 10) -> tuple[int, Any]:
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310 - loopback lab
        req.add_header("Content-Type", content_type)
        context = self.ssl
        if token == "default":
            token = self.token
        else:
            context = self.bare
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:  # noqa: S310
                raw = resp.read()
                return resp.status, _decode(raw)
        except urllib.error.HTTPError as err:
            return err.code, _decode(err.read())


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def deployment(name: str, replicas: int = 1, image: str = "nginx:1.25", labels: dict | None = None) -> dict:
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "main", "image": image,
                                                       "ports": [{"containerPort": 8080}],
                                                       "env": [{"name": "A", "value": "1"}]}]}}},
    }
