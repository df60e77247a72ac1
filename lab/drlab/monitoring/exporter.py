"""The lab's exporter: what kube-state-metrics and a GTM probe would tell Prometheus.

On ACK, Managed Service for Prometheus (ARMS) scrapes kube-state-metrics, so alert rules about
gateway replicas are written against kube-state-metrics' metric names; the lab publishes the same
names from its Kubernetes state, so one rule file serves both.  Names and labels follow
kube-state-metrics v2 (docs/metrics/workload/deployment-metrics.md and
horizontalpodautoscaler-metrics.md in kubernetes/kube-state-metrics): ``deployment`` /
``horizontalpodautoscaler`` and ``namespace`` labels.  GTM has no Prometheus endpoint; the lab's
``drlab_gtm_address_available`` stands for the address alarms GTM sends (an operator wires those
through CloudMonitor in production), so it is named as lab-only.

Rendering is pure: the component hands in plain records and gets the exposition text back
(Prometheus text format 0.0.4).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


@dataclass
class Family:
    name: str
    kind: str
    help: str
    samples: list[Sample] = field(default_factory=list)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_value(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render(families: list[Family]) -> str:
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {family.help}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for sample in family.samples:
            labels = ",".join(f'{k}="{_escape(str(v))}"' for k, v in sorted(sample.labels.items()))
            lines.append(f"{sample.name}{{{labels}}} {_format_value(sample.value)}" if labels
                         else f"{sample.name} {_format_value(sample.value)}")
    return "\n".join(lines) + "\n"


def deployment_families(deployments: list[tuple[dict[str, str], dict]]) -> list[Family]:
    """``deployments``: (extra labels such as region/cluster, Deployment object) pairs."""
    spec = Family("kube_deployment_spec_replicas", "gauge", "Number of desired pods for a deployment.")
    available = Family("kube_deployment_status_replicas_available", "gauge",
                       "The number of available replicas per deployment.")
    for extra, obj in deployments:
        meta = obj.get("metadata", {})
        labels = {**extra, "namespace": meta.get("namespace", ""), "deployment": meta.get("name", "")}
        spec.samples.append(Sample(spec.name, labels, float((obj.get("spec") or {}).get("replicas", 1))))
        available.samples.append(Sample(available.name, labels,
                                        float((obj.get("status") or {}).get("availableReplicas") or 0)))
    return [spec, available]


def hpa_families(hpas: list[tuple[dict[str, str], dict]]) -> list[Family]:
    names = {
        "kube_horizontalpodautoscaler_spec_min_replicas": ("Lower limit for the number of pods that can be set "
                                                            "by the autoscaler, default 1.", "spec", "minReplicas"),
        "kube_horizontalpodautoscaler_spec_max_replicas": ("Upper limit for the number of pods that can be set "
                                                            "by the autoscaler; cannot be smaller than "
                                                            "MinReplicas.", "spec", "maxReplicas"),
        "kube_horizontalpodautoscaler_status_current_replicas": ("Current number of replicas of pods managed by "
                                                                  "this autoscaler.", "status", "currentReplicas"),
        "kube_horizontalpodautoscaler_status_desired_replicas": ("Desired number of replicas of pods managed by "
                                                                  "this autoscaler.", "status", "desiredReplicas"),
    }
    families = []
    for name, (text, part, key) in names.items():
        family = Family(name, "gauge", text)
        for extra, obj in hpas:
            meta = obj.get("metadata", {})
            value = (obj.get(part) or {}).get(key)
            if value is None and key == "minReplicas":
                value = 1
            if value is None:
                continue
            labels = {**extra, "namespace": meta.get("namespace", ""), "horizontalpodautoscaler": meta.get("name", "")}
            family.samples.append(Sample(name, labels, float(value)))
        families.append(family)
    return families


def gtm_families(addresses: list[dict[str, str]]) -> list[Family]:
    """``addresses``: dicts with address_id, address, region (may be empty), available (bool)."""
    family = Family("drlab_gtm_address_available", "gauge",
                    "Lab only: 1 when GTM considers the address available, 0 when its health check dropped it.")
    for entry in addresses:
        labels = {"address_id": entry["address_id"], "address": entry["address"], "region": entry.get("region", "")}
        family.samples.append(Sample(family.name, labels, 1.0 if entry["available"] else 0.0))
    return [family]
