"""What a KubeServer is told by its component, instead of reading its parent's attributes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass
class KubeSettings:
    """Shared by the component and all its servers: a change (e.g. an admin route turning
    automatic Deployment status off) reaches every server at once."""

    base_url: str
    # Deployments become Available as soon as they are written, since there is no kubelet.
    # Turn off globally here, or per Deployment with KubeServer.set_external_status(), to own
    # readiness through patch_status (the data plane does for gateway Deployments).
    auto_deployment_status: bool = True
    # Each Deployment gets a ReplicaSet and Pods (drlab/kube/workloads.py), so `kubectl get pods`
    # looks like a cluster; they are cosmetic (nothing runs in them) and can be turned off.
    simulate_pods: bool = True
    # The cluster CA (PEM), published into every namespace as ConfigMap kube-root-ca.crt.
    ca_pem: str = ""
    # The kubelet's delays and the image registry (drlab/kube/workloads.py WorkloadSettings).
    workloads: Any = None
    # Called with (server id, namespace, Deployment name) and when its next transition is due.
    schedule_workload: Callable[[tuple[str, str, str], float], None] | None = None
