"""Helpers for the kube tests: raw HTTPS requests and manifests."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from typing import Any

import yaml


class Raw:
    """Plain HTTPS requests to one Kubernetes API, for status codes and bodies clients hide."""

    def __init__(self, kubeconfig_path: str):
        with open(kubeconfig_path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
        cluster = config["clusters"][0]["cluster"]
        self.url = cluster["server"]
        self.token = config["users"][0]["user"]["token"]
        self.ssl = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                token: str | None = "default", headers: dict[str, str] | None = None,  # noqa: S107 - sentinel
                timeout: float = 10) -> tuple[int, Any]:
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310 - loopback lab
        req.add_header("Content-Type", content_type)
        if token == "default":
            token = self.token
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.ssl) as resp:  # noqa: S310
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
