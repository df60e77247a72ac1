"""Lab topology: regions, clusters, zones, addresses, ports and timings.

The topology is one document (YAML or JSON).  ``drlab up --config FILE`` takes
it the first time a lab directory is used; afterwards the copy kept in
``DIR/topology.json`` is authoritative, so a restart finds the same world.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import secrets
from typing import Any

import yaml

from .store import write_atomic

DEFAULT_TOPOLOGY: dict[str, Any] = {
    "account_id": "1234567890123456",
    "host": "127.0.0.1",
    # Region N (1-based, in the order below) serves its gateway on this address.
    "region_address": "127.0.{n}.1",
    "ports": {"cloud": 18080, "kube": 16443, "dns": 15353,
              "prometheus": 19090, "alertmanager": 19093, "exporter": 19100},
    "regions": [
        {
            "id": "cn-hangzhou",
            "vpc_id": "vpc-bp1drlab0000000000001",
            "vswitches": ["vsw-bp1drlab0000000000001"],
            "clusters": [{"name": "cluster-1"}],
        },
        {
            "id": "ap-southeast-1",
            "vpc_id": "vpc-t4ndrlab0000000000002",
            "vswitches": ["vsw-t4ndrlab0000000000002"],
            "clusters": [{"name": "cluster-2"}],
        },
    ],
    # Zones hosted by the lab's Alibaba Cloud DNS (business domain and GTM schedule zone).
    "zones": ["meshdr-lab.example.com"],
    "timing": {
        # Seconds a new mesh stays `initial` before `running` (ASM takes minutes).
        "mesh_create_delay": 2.0,
        # Seconds a deleted mesh lingers before DescribeServiceMeshDetail says NotFound.
        "mesh_delete_delay": 1.0,
        # Seconds a mesh stays `updating` (busy, refusing other changes) after each Add/RemoveCluster,
        # UpdateMeshFeature or UpdateMeshCRAggregation; ASM takes tens of seconds, tests set less.
        "mesh_update_delay": 2.0,
        # Seconds after which ASM's resync restores a deleted/edited gateway Deployment; 0 = off.
        "gateway_resync": 20.0,
    },
    "gtm": {
        # Lab-only: accept health-check intervals of 1-14 s so drills fit in CI.
        "allow_short_intervals": False,
    },
    # The gateway HPA's controller (drlab/dataplane/hpa.py); defaults are kube-controller-manager's
    # and the autoscaling/v2 behavior defaults (kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/).
    "hpa": {
        "sync_period": 15.0,  # --horizontal-pod-autoscaler-sync-period
        "tolerance": 0.1,  # --horizontal-pod-autoscaler-tolerance
        "scale_up_stabilization": 0.0,  # behavior.scaleUp.stabilizationWindowSeconds default
        "scale_down_stabilization": 300.0,  # behavior.scaleDown.stabilizationWindowSeconds default
        # Lab only: requests per second one gateway replica serves at 100% of its CPU request (the
        # CPU metric is derived from Envoy's request counters; nothing measures real CPU).
        "replica_rps": 200.0,
    },
    # A real Prometheus and Alertmanager (drlab/monitoring): "auto" starts them when installed.
    "monitoring": {"enabled": "auto"},
    "faults": {"throttle_rate": 0.0, "error_rate": 0.0},
    "kube": {
        # What kubeconfigs carry: "client-certificate" (client-certificate-data/client-key-data from
        # the lab CA, as ACK DescribeClusterUserKubeconfig and ASM DescribeServiceMeshKubeconfig hand
        # out) or "token" (the server's bearer token).  The API servers accept both.
        "kubeconfig_auth": "client-certificate",
    },
    # What the kubelet and the registry take (drlab/kube/workloads.py).  A Pod is Ready after its
    # images are pulled (once per cluster, serially) and its containers started; ACK pulls of
    # these images and an Envoy's start take seconds.  Test labs set less, never zero.
    "workloads": {
        "image_pull_seconds": 4.0,
        "container_start_seconds": 2.0,
        # ErrImagePull turns into ImagePullBackOff after the kubelet's first back-off (10 s).
        "image_pull_backoff_seconds": 10.0,
        # A deleted Pod's containers exit this long after SIGTERM (PID 1 without a handler, e.g.
        # `sleep`, lasts the whole terminationGracePeriodSeconds instead).
        "container_stop_seconds": 1.0,
        # Per-image overrides: [{"match": PATTERN, "pull_seconds": S, "start_seconds": S}], first match wins.
        "images": [
            {"match": "registry-*.ack.aliyuncs.com/acs/proxyv2:*", "pull_seconds": 6.0, "start_seconds": 3.0},
        ],
        # The images that exist, as fnmatch patterns over normalised references (``nginx`` is
        # ``docker.io/library/nginx:latest``): repository and tag must both match; a digest
        # reference matches any tag of a listed repository.  Anything else fails with ErrImagePull.
        "registry": [
            # Bookinfo (roles/bookinfo: docker.io/istio/examples-bookinfo-<svc>-<version>:<Istio 1.x release>).
            "docker.io/istio/examples-bookinfo-productpage-v1:1.*",
            "docker.io/istio/examples-bookinfo-details-v[12]:1.*",
            "docker.io/istio/examples-bookinfo-ratings-v[12]:1.*",
            "docker.io/istio/examples-bookinfo-reviews-v[123]:1.*",
            # ASM's gateway/sidecar image in each region's ACK registry (the lab's mesh controller uses it).
            "registry-*.ack.aliyuncs.com/acs/proxyv2:1.*",
            "docker.io/istio/proxyv2:1.*",
            # Official images examples and tests run.
            "docker.io/library/nginx:1.*", "docker.io/library/nginx:latest",
            "docker.io/library/busybox:1.*", "docker.io/library/busybox:latest",
            "docker.io/curlimages/curl:8.*", "docker.io/curlimages/curl:latest",
        ],
    },
}


def _cluster_id(region_id: str, name: str) -> str:
    # ACK cluster ids are "c" + 32 hex characters; derive them so they are stable.
    return "c" + hashlib.sha256(f"{region_id}/{name}".encode()).hexdigest()[:32]


def normalise(topology: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and derived fields (indexes, addresses, cluster ids)."""
    topo = copy.deepcopy(DEFAULT_TOPOLOGY)
    for key, value in topology.items():
        if isinstance(value, dict) and isinstance(topo.get(key), dict):
            topo[key].update(value)
        else:
            topo[key] = copy.deepcopy(value)
    seen = set()
    for index, region in enumerate(topo["regions"], start=1):
        if region["id"] in seen:
            raise ValueError(f"region {region['id']} is listed twice")
        seen.add(region["id"])
        region["index"] = index
        region.setdefault("vpc_id", f"vpc-drlab{index:018d}")
        region.setdefault("vswitches", [f"vsw-drlab{index:018d}"])
        region["address"] = topo["region_address"].format(n=index)
        for cluster in region.setdefault("clusters", [{"name": f"cluster-{index}"}]):
            cluster.setdefault("id", _cluster_id(region["id"], cluster["name"]))
            cluster["region_id"] = region["id"]
            cluster["vpc_id"] = region["vpc_id"]
            cluster["address"] = region["address"]
    if topo["host"] in ("0.0.0.0", "::", ""):  # noqa: S104 - this is the check that refuses it
        raise ValueError("the lab binds specific loopback addresses only, never a wildcard")
    return topo


def load_file(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


class LabDir:
    """Paths and persisted identity of one lab directory."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)

    def file(self, *parts: str) -> str:
        return os.path.join(self.path, *parts)

    @property
    def topology_file(self) -> str:
        return self.file("topology.json")

    @property
    def credentials_file(self) -> str:
        return self.file("credentials.json")

    @property
    def admin_token_file(self) -> str:
        return self.file("admin-token")

    @property
    def pid_file(self) -> str:
        return self.file("drlab.pid")

    @property
    def log_file(self) -> str:
        return self.file("drlab.log")

    def ensure(self, config_path: str | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """Create the directory, topology and credentials if missing; return the topology."""
        os.makedirs(self.path, mode=0o700, exist_ok=True)
        if os.path.exists(self.topology_file) and not config_path:
            with open(self.topology_file, encoding="utf-8") as handle:
                raw = json.load(handle)
        else:
            raw = load_file(config_path) if config_path else {}
        if overrides:
            for key, value in overrides.items():
                if isinstance(value, dict):
                    raw.setdefault(key, {}).update(value)
                else:
                    raw[key] = value
        topo = normalise(raw)
        write_atomic(self.topology_file, json.dumps(topo, indent=1, sort_keys=True))
        if not os.path.exists(self.credentials_file):
            creds = {
                # Shaped like real RAM keys so nothing downstream special-cases the lab.
                "access_key_id": "LTAI5t" + secrets.token_hex(9).upper()[:18],
                "access_key_secret": secrets.token_urlsafe(22)[:30],
            }
            write_atomic(self.credentials_file, json.dumps(creds, indent=1))
        if not os.path.exists(self.admin_token_file):  # guards /__drlab/ (drlab/admin.py)
            write_atomic(self.admin_token_file, secrets.token_urlsafe(32) + "\n", mode=0o600)
        return topo

    def topology(self) -> dict[str, Any]:
        with open(self.topology_file, encoding="utf-8") as handle:
            return json.load(handle)

    def admin_token(self) -> str:
        with open(self.admin_token_file, encoding="utf-8") as handle:
            return handle.read().strip()

    def credentials(self) -> dict[str, str]:
        with open(self.credentials_file, encoding="utf-8") as handle:
            return json.load(handle)
