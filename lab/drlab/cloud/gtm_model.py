"""GTM 3.0's state model: the objects, their health, and what DNS answers from them.

The action handlers (``drlab.cloud.gtm.GtmApi``, one method per ``CloudGtm*`` action) parse
and validate requests and render responses; this backend holds the objects and derives what
depends on them, as moto splits a service's backend (models.py) from its responses
(responses.py).  Availability of addresses, pools and access domains is derived here from the
health verdicts the lab's checker reports (``set_address_health``), and ``answer()`` picks what
GTM's DNS returns.

``frozen()`` hands the data plane's DNS thread a private copy to answer from: the copy shares
only the sequence strategy's memory (which address serves now), so DNS answers and the admin
``gtm/answer`` route agree on it, and nothing else the thread reads can change under it.
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
from typing import Any, Callable

from . import ids

HEALTH = ["ok", "ok_alert", "ok_no_monitor", "exceptional"]
KINDS = ("templates", "addresses", "pools", "instances", "configs")


def _enough(available: int, total: int, judgement: str) -> bool:
    if total == 0:
        return False
    need = {"any_ok": 1, "p30_ok": math.ceil(0.3 * total), "p50_ok": math.ceil(0.5 * total),
            "p70_ok": math.ceil(0.7 * total), "all_ok": total}[judgement]
    return available >= max(need, 1)


def _nothing(*_args: Any, **_kwargs: Any) -> None:
    return None


class GtmBackend:
    """GTM objects (the ``gtm`` section of the cloud state) and the alert log."""

    def __init__(self, gtm: dict[str, dict], alert_logs: list[dict],
                 record_event: Callable[..., Any] = _nothing, changed: Callable[[str, str], Any] = _nothing,
                 save: Callable[[], Any] = _nothing, sequence: dict[str, str] | None = None):
        for key in KINDS:
            gtm.setdefault(key, {})
        self.gtm = gtm
        self.templates: dict[str, dict] = gtm["templates"]
        self.addresses: dict[str, dict] = gtm["addresses"]
        self.pools: dict[str, dict] = gtm["pools"]
        self.instances: dict[str, dict] = gtm["instances"]
        self.configs: dict[str, dict] = gtm["configs"]
        self.alert_logs = alert_logs
        self._record_event = record_event
        self._changed = changed
        self._save = save
        # non-preemptive sequence: who serves now (shared with frozen copies, see the module doc)
        self._sequence_current: dict[str, str] = {} if sequence is None else sequence

    def frozen(self) -> GtmBackend:
        """A private copy for readers on another thread: answers, never records or saves."""
        return GtmBackend(copy.deepcopy({k: self.gtm[k] for k in KINDS}), [], sequence=self._sequence_current)

    def health_status(self, a: dict) -> str:
        return a["health"]["HealthStatus"] if a["HealthTasks"] else "ok_no_monitor"

    def address_available(self, a: dict) -> str:
        if a["AvailableMode"] == "manual":
            return a.get("ManualAvailableStatus") or "available"
        return a["health"]["AvailableStatus"] if a["HealthTasks"] else "available"

    def pool_status(self, pool: dict) -> tuple[str, str]:
        """(AvailableStatus, HealthStatus) of a pool from its enabled members."""
        members = [self.addresses[m["AddressId"]] for m in pool["Addresses"] if m["AddressId"] in self.addresses]
        members = [a for a in members if a["EnableStatus"] == "enable"]
        up = sum(1 for a in members if self.address_available(a) == "available")
        available = pool["EnableStatus"] == "enable" and _enough(up, len(members), pool["HealthJudgement"])
        healthy = all(self.health_status(a) in ("ok", "ok_no_monitor") for a in members)
        health = "ok" if available and healthy else "ok_alert" if available else "exceptional"
        return ("available" if available else "unavailable"), health

    def config_status(self, config: dict) -> tuple[str, str]:
        statuses = [self.pool_status(self.pools[m["AddressPoolId"]]) for m in config["AddressPools"]
                    if m["AddressPoolId"] in self.pools]
        available = config["EnableStatus"] == "enable" and any(s[0] == "available" for s in statuses)
        healthy = statuses and all(s[1] == "ok" for s in statuses)
        health = "ok" if available and healthy else "ok_alert" if available else "exceptional"
        return ("available" if available else "unavailable"), health

    def set_address_health(self, address_id: str, health_status: str, available_status: str, reason: str = "") -> bool:
        """Record a health-check verdict; returns True when what the API shows changed."""
        if health_status not in HEALTH:
            raise ValueError(f"health_status must be one of {HEALTH}")
        if available_status not in ("available", "unavailable"):
            raise ValueError("available_status must be available or unavailable")
        address = self.addresses.get(address_id)
        if address is None:
            raise KeyError(address_id)
        current = address["health"]
        if current["HealthStatus"] == health_status and current["AvailableStatus"] == available_status:
            return False
        before = self.availability(address)
        previous = dict(current)
        address["health"] = {"HealthStatus": health_status, "AvailableStatus": available_status, "since": time.time()}
        self._record_event("gtm_address_health", address_id=address_id, address=address["Address"],
                                    health_status=health_status, available_status=available_status,
                                    previous_health=previous["HealthStatus"],
                                    previous_available=previous["AvailableStatus"], reason=reason)
        self.availability_event(address, before, reason)
        self._save()
        self._changed("gtm", address_id)
        return True

    def availability(self, address: dict) -> tuple[str, dict[str, str]]:
        """Availability of an address and of every pool holding it, to diff after a change."""
        pools = {pool_id: self.pool_status(pool)[0] for pool_id, pool in self.pools.items()
                 if any(m["AddressId"] == address["AddressId"] for m in pool["Addresses"])}
        return self.address_available(address), pools

    def _log_alert(self, entity: str, action: str, content: str) -> None:
        self.alert_logs.append({"Timestamp": ids.millis(time.time()), "EntityType": entity, "ActionType": action,
                                "Content": content})
        del self.alert_logs[:-1000]  # bounded: the log is for drills, not an archive

    def availability_event(self, address: dict, before: tuple[str, dict[str, str]], reason: str) -> None:
        after = self.availability(address)
        if after[0] != before[0]:
            self._log_alert("GTM_ADDRESS", "ALERT" if after[0] == "unavailable" else "RESUME",
                            f"{address['Name']} ({address['Address']}, {address['AddressId']}) is {after[0]} "
                            f"({reason})")
            self._record_event(f"gtm_address_{after[0]}", address_id=address["AddressId"],
                                        address=address["Address"], reason=reason)
        for pool_id, status in after[1].items():
            if before[1].get(pool_id, status) != status:
                pool = self.pools[pool_id]
                self._log_alert("GTM_ADDRESS_POOL", "ALERT" if status == "unavailable" else "RESUME",
                                f"{pool['AddressPoolName']} ({pool_id}) is {status}")
                self._record_event(f"gtm_pool_{status}", pool_id=pool_id, reason=reason)

    def health_targets(self) -> list[dict[str, Any]]:
        """What the health checker probes: one entry per enabled address with health tasks.

        The shape is what ``drlab.dataplane.health.HealthChecker`` consumes, so the data
        plane wires ``HealthChecker(cloud.health_targets, cloud.set_address_health)``.
        """
        targets = []
        for address in self.addresses.values():
            if address["EnableStatus"] != "enable" or not address["HealthTasks"]:
                continue
            tasks = []
            for task in address["HealthTasks"]:
                template = self.templates.get(task["TemplateId"])
                if template is None:
                    continue
                extend = json.loads(template["ExtendInfo"] or "{}")
                tasks.append({
                    "template_id": template["TemplateId"], "protocol": template["Protocol"], "port": task["Port"],
                    "interval": template["Interval"], "timeout_ms": template["Timeout"],
                    "evaluation_count": template["EvaluationCount"], "failure_rate": template["FailureRate"],
                    "nodes": len(template["IspCityNodes"]), "host": extend.get("host") or "",
                    "path": extend.get("path") or "/", "code": int(extend.get("code") or 500),
                    "sni": bool(extend.get("sni")), "follow_redirect": bool(extend.get("followRedirect")),
                })
            targets.append({
                "address_id": address["AddressId"], "address": address["Address"], "type": address["Type"],
                "enabled": True, "manual": address["AvailableMode"] == "manual",
                "judgement": address["HealthJudgement"], "health_status": address["health"]["HealthStatus"],
                "available_status": self.address_available(address), "tasks": tasks,
            })
        return targets

    def answer(self, fqdn: str, rr_type: str) -> dict[str, Any] | None:
        """What GTM's DNS returns for fqdn/rr_type, or None when no access domain serves it.

        ``addresses`` is one pick (weights and sequence applied; empty when nothing is
        available); ``candidates`` lists every available address with its weight.
        """
        name = fqdn.rstrip(".").lower()
        config = next((c for c in self.configs.values() if c["ScheduleDomainName"] == name
                       and c["ScheduleRrType"] == rr_type.upper() and c["EnableStatus"] == "enable"), None)
        if config is None:
            return None
        pools = []
        for member in config["AddressPools"]:
            pool = self.pools.get(member["AddressPoolId"])
            if pool is not None and self.pool_status(pool)[0] == "available":
                pools.append((member, pool))
        candidates = []
        for member, pool in pools:
            for entry in pool["Addresses"]:
                address = self.addresses.get(entry["AddressId"])
                if address and address["EnableStatus"] == "enable" and self.address_available(address) == "available":
                    candidates.append({"address": address["Address"], "address_id": address["AddressId"],
                                       "pool_id": pool["AddressPoolId"], "weight": entry["WeightValue"],
                                       "serial": entry["SerialNumber"], "pool_weight": member["WeightValue"]})
        chosen_pool = self._pick(config["ConfigId"], config["AddressPoolLbStrategy"],
                                 config["SequenceLbStrategyMode"],
                                 [(m["WeightValue"], m["SerialNumber"], pool["AddressPoolId"]) for m, pool in pools])
        addresses: list[str] = []
        if chosen_pool is not None:
            pool = self.pools[chosen_pool]
            members = [(c["weight"], c["serial"], c["address"]) for c in candidates if c["pool_id"] == chosen_pool]
            if pool["AddressLbStrategy"] in ("round_robin", "source_nearest"):
                addresses = [m[2] for m in members]
                random.shuffle(addresses)  # each answer rotates, as round robin DNS does
            else:
                pick = self._pick(chosen_pool, pool["AddressLbStrategy"], pool["SequenceLbStrategyMode"], members)
                addresses = [pick] if pick else []
        return {"fqdn": name, "rr_type": config["ScheduleRrType"], "ttl": config["Ttl"],
                "config_id": config["ConfigId"], "addresses": addresses, "candidates": candidates}

    def _pick(self, key: str, strategy: str, mode: str, options: list[tuple[int, int, str]]) -> str | None:
        """Pick one of (weight, serial, value) by strategy; sequence remembers its current choice."""
        if not options:
            self._sequence_current.pop(key, None)
            return None
        if strategy == "sequence":
            current = self._sequence_current.get(key)
            if mode in ("non_preemptive", "nonPreemptive") and current in [o[2] for o in options]:
                return current
            choice = min(options, key=lambda o: o[1])[2]
            self._sequence_current[key] = choice
            return choice
        if strategy == "weight":
            return random.choices([o[2] for o in options], weights=[o[0] for o in options])[0]
        return random.choice(options)[2]
