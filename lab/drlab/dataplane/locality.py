"""Istio locality load balancing, shared by the gateway (Envoy CDS) and Bookinfo's sidecar emulation.

Follows istiod's ``networking/core/loadbalancer``: ``distribute`` gives weights to the
localities it lists and drops the others; ``failover`` turns localities into priorities
relative to the proxy (same region first, then the failover target, then the rest) and is
applied only when outlier detection is configured, exactly as Istio requires.  Nothing
configured means every discoverable endpoint shares the load equally.

Localities are ``region/zone/subzone`` strings; the lab uses ``<regionId>/<zone>`` where
the zone is the cluster name, so a rule ``cn-hangzhou/*`` matches every cluster of a region.
"""

from __future__ import annotations

import fnmatch
import random
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Endpoint:
    """One reachable instance of a service version (a realised Deployment)."""

    cluster_name: str
    region: str
    address: str
    port: int
    labels: dict[str, str] = field(default_factory=dict)
    available: bool = True
    cluster_id: str = ""

    @property
    def locality(self) -> str:
        return f"{self.region}/{self.cluster_name}"


@dataclass
class Weighted:
    endpoint: Endpoint
    weight: int = 1
    priority: int = 0


def _matches(pattern: str, locality: str) -> bool:
    # Istio patterns are region[/zone[/subzone]] with '*' wildcards; a shorter pattern
    # matches everything below it.
    parts = pattern.split("/")
    loc = locality.split("/")
    for index, part in enumerate(parts):
        if part == "*":
            return True
        if index >= len(loc) or not fnmatch.fnmatchcase(loc[index], part):
            return False
    return True


def effective_setting(mesh_setting: dict[str, Any] | None, rule_setting: dict[str, Any] | None) -> dict[str, Any]:
    """A DestinationRule's localityLbSetting overrides the mesh-wide one (as in Istio)."""
    for setting in (rule_setting, mesh_setting):
        if setting and setting.get("enabled", True) is not False and (
            setting.get("distribute") or setting.get("failover") or setting.get("failoverPriority")
        ):
            return setting
    return {}


def apply_locality(proxy_region: str, proxy_locality: str, endpoints: list[Endpoint],
                   setting: dict[str, Any], outlier_detection: bool) -> list[Weighted]:
    """Weights and priorities for endpoints as seen from a proxy in proxy_locality."""
    weighted = [Weighted(ep) for ep in endpoints]
    if not setting:
        return weighted
    for rule in setting.get("distribute") or []:
        if not _matches(rule.get("from", ""), proxy_locality):
            continue
        kept = []
        for item in weighted:
            for pattern, weight in (rule.get("to") or {}).items():
                if _matches(pattern, item.endpoint.locality):
                    item.weight = max(int(weight), 0)
                    if item.weight > 0:
                        kept.append(item)
                    break
        return kept
    if setting.get("failover") is not None and outlier_detection:
        targets = [f.get("to") for f in setting["failover"] if f.get("from") == proxy_region]
        for item in weighted:
            region = item.endpoint.region
            if item.endpoint.locality == proxy_locality:
                item.priority = 0
            elif region == proxy_region:
                item.priority = 2
            elif not targets or region in targets:
                item.priority = 3
            else:
                item.priority = 4
        # istiod compacts priorities so they are contiguous from 0
        levels = sorted({w.priority for w in weighted})
        for item in weighted:
            item.priority = levels.index(item.priority)
    return weighted


def pick(weighted: list[Weighted], rng: random.Random | None = None) -> Endpoint | None:
    """Choose one available endpoint: lowest priority that has any, then by weight (Envoy's behaviour)."""
    rng = rng or random
    live = [w for w in weighted if w.endpoint.available and w.weight > 0]
    if not live:
        return None
    best = min(w.priority for w in live)
    tier = [w for w in live if w.priority == best]
    return rng.choices([w.endpoint for w in tier], weights=[w.weight for w in tier])[0]
