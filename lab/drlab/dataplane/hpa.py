"""The gateway HPA's controller: desired replicas from measured load, the way Kubernetes computes them.

ASM creates an autoscaling/v2 HorizontalPodAutoscaler next to each gateway Deployment
(``drlab.mesh``); on a real cluster kube-controller-manager scales the Deployment from the
pods' CPU.  The lab has no CPU to measure per pod, so the CPU metric is derived from what the
gateway's Envoys count: requests per second per replica over ``replica_rps`` (the rate one
replica serves at 100% of its CPU request) is the replica's utilization.

The algorithm follows https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/
(section "Algorithm details" and "Configurable scaling behavior"):
- ``desired = ceil(current x currentUtilization / targetUtilization)``, unchanged while the
  ratio is within the tolerance (0.1, ``--horizontal-pod-autoscaler-tolerance``);
- clamped to ``[minReplicas, maxReplicas]``;
- stabilization: scaling up follows the *lowest* recommendation of the scale-up window (0 s by
  default), scaling down the *highest* of the scale-down window (300 s by default), so a short
  dip does not remove replicas;
- rate policies (the defaults): up by at most max(100 %, 4 pods) and down by at most 100 % per
  15 s period.  ``spec.behavior`` of the HPA object overrides the windows as on a cluster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

POLICY_PERIOD = 15.0  # the default policies' periodSeconds


@dataclass
class HpaSettings:
    sync_period: float = 15.0
    tolerance: float = 0.1
    scale_up_stabilization: float = 0.0
    scale_down_stabilization: float = 300.0
    replica_rps: float = 200.0

    @classmethod
    def from_topology(cls, topology: dict[str, Any]) -> HpaSettings:
        conf = topology.get("hpa") or {}
        defaults = cls()
        return cls(**{k: float(conf.get(k, getattr(defaults, k))) for k in defaults.__dataclass_fields__})


def target_utilization(hpa: dict[str, Any]) -> float:
    """The CPU averageUtilization target of an autoscaling/v2 HPA (80 when it names none, as ASM sets)."""
    for metric in (hpa.get("spec") or {}).get("metrics") or []:
        resource = metric.get("resource") or {}
        if metric.get("type") == "Resource" and resource.get("name") == "cpu":
            value = (resource.get("target") or {}).get("averageUtilization")
            if value:
                return float(value)
    return 80.0


def _window(hpa: dict[str, Any], direction: str, default: float) -> float:
    rules = (((hpa.get("spec") or {}).get("behavior") or {}).get(direction) or {})
    value = rules.get("stabilizationWindowSeconds")
    return float(value) if value is not None else default


@dataclass
class Autoscaler:
    """Recommendations per HPA, kept for the stabilization windows."""

    settings: HpaSettings
    history: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    scaled_at: dict[str, list[tuple[float, int]]] = field(default_factory=dict)  # (time, replicas before)

    def desired(self, key: str, hpa: dict[str, Any], current: int, utilization: float | None, now: float) -> int:
        spec = hpa.get("spec") or {}
        low = max(int(spec.get("minReplicas") or 1), 1)
        high = max(int(spec.get("maxReplicas") or low), low)
        if current < 1:
            return low  # a scaled-to-zero target is left alone by Kubernetes; the lab's gateway has >= 1
        if utilization is None:  # no metric: Kubernetes keeps the current scale (ScalingActive False)
            return min(max(current, low), high)
        ratio = utilization / target_utilization(hpa)
        raw = current if abs(ratio - 1.0) <= self.settings.tolerance else math.ceil(current * ratio)
        raw = min(max(raw, low), high)
        up_window = _window(hpa, "scaleUp", self.settings.scale_up_stabilization)
        down_window = _window(hpa, "scaleDown", self.settings.scale_down_stabilization)
        history = self.history.setdefault(key, [])
        history.append((now, raw))
        keep = max(up_window, down_window)
        history[:] = [(t, r) for t, r in history if now - t <= keep]
        up = min(r for t, r in history if now - t <= up_window)
        down = max(r for t, r in history if now - t <= down_window)
        result = current
        if result < up:
            result = up
        if result > down:
            result = down
        # rate policies over the last period: start from the replica count the period began with
        recent = [(t, before) for t, before in self.scaled_at.get(key, []) if now - t < POLICY_PERIOD]
        base = recent[0][1] if recent else current
        result = min(result, max(base * 2, base + 4))  # scaleUp: Percent 100, Pods 4, selectPolicy Max
        result = max(result, 0)  # scaleDown: Percent 100
        result = min(max(result, low), high)
        if result != current:
            self.scaled_at.setdefault(key, []).append((now, current))
            self.scaled_at[key] = [(t, b) for t, b in self.scaled_at[key] if now - t < POLICY_PERIOD]
        return result
