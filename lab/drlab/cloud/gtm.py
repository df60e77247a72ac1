"""GTM 3.0 ("CloudGtm*" actions of alidns 2015-01-09): the action handlers.

Objects (shared/reference/alibaba-openapi.md §7): health-check templates, addresses
(each referencing templates with a port), address pools (weighted members), and access
domains ("instance configs") bound to pools, each access domain on an instance created
on the fly for pay-as-you-go.  The lab's health checker (dataplane component) probes
``health_targets()`` and reports through ``set_address_health``; from that the
availability of addresses, pools and access domains is derived exactly where the API
shows it (``AvailableStatus``/``HealthStatus``), and ``answer()`` picks what DNS returns.

Unknown ids: the Describe calls answer 200 without the id (what Terraform relies on to
detect deletion: service_alicloud_alidns_v2.go DescribeAlidnsCloudGtm* treat a body without the id
as NotFound).  Errors follow the alidns error reference's ``CloudGtm.<Object>.<Reason>`` naming
(https://help.aliyun.com/zh/dns/api-alidns-2015-01-09-errorcodes lists e.g.
``CloudGtm.Address.AvailableModeInvalid``, ``CloudGtm.Address.AvailableStatusInvalid``,
``CloudGtm.Address.DispatchTypeNotMatchMonitorTemplate``); where the reference page could not be read
for a case (not found, in use, already exists, type mismatch) the <Reason> part is inferred and marked
so, and docs/api-contract.md lists it as unverified.

Every answer carries only keys of the SDK response model of its operation
(alibabacloud_alidns20150109 models), which tests/lab/test_cloud_gtm.py checks.
"""

from __future__ import annotations

import ipaddress
import json
import math
import time
from typing import Any, Callable

from . import ids
from .errors import ApiError, invalid
from .gtm_model import GtmBackend
from .params import Params, paginate

# Template limits: TF resource_alicloud_alidns_cloud_gtm_monitor_template.go (interval StringInSlice
# 15/60/300/900/1800/3600, timeout 2000/3000/5000/10000) and the SDK field comments (15 s on Ultimate only).
INTERVALS = [15, 60, 300, 900, 1800, 3600]
TIMEOUTS = [2000, 3000, 5000, 10000]
# Lab only, with topology gtm.allow_short_intervals (`drlab up --short-intervals`): what a drill on a laptop needs.
# The module accepts them only with its lab_short_intervals option (plugins/module_utils/gtm.py LAB_*).
LAB_INTERVALS = list(range(1, 15))
LAB_TIMEOUTS = [500, 1000]
# SequenceLbStrategyMode: the SDK and TF docs say non_preemptive; TF's validation and acceptance tests use
# nonPreemptive (resource_alicloud_alidns_cloud_gtm_address_pool.go).  The lab accepts both and echoes what
# was sent (which one the service stores is unverified).
SEQUENCE_MODES = ["preemptive", "non_preemptive", "nonPreemptive"]
JUDGEMENTS = ["any_ok", "p30_ok", "p50_ok", "p70_ok", "all_ok"]
LB_STRATEGIES = ["round_robin", "sequence", "weight", "source_nearest"]
RR_POOL_TYPE = {"A": "IPv4", "AAAA": "IPv6", "CNAME": "domain"}
NOTICE_TYPES = ["addr_alert", "addr_resume", "addr_pool_unavailable", "addr_pool_available"]

# The lab's probe points (ListCloudGtmMonitorNodes).  GroupType is BGP (BGP nodes), ISP (carrier nodes) or
# OVERSEAS (international nodes) per https://help.aliyun.com/zh/dns/api-alidns-2015-01-09-listcloudgtmmonitornodes;
# GroupName is display text (the zh reference shows "BGP节点" / "国际节点"; the en-US texts are unverified) and
# nothing may match on it.  Templates may name any well-formed node so that production inventories with real
# node codes also run against the lab.
MONITOR_NODES = [
    {"NodeId": "drlab-probe-1", "CityCode": "503", "CityName": "Beijing", "IspCode": "465", "IspName": "BGP",
     "CountryCode": "629", "CountryName": "China", "GroupName": "BGP Nodes", "GroupType": "BGP"},
    {"NodeId": "drlab-probe-2", "CityCode": "357", "CityName": "Hangzhou", "IspCode": "465", "IspName": "BGP",
     "CountryCode": "629", "CountryName": "China", "GroupName": "BGP Nodes", "GroupType": "BGP"},
    {"NodeId": "drlab-probe-3", "CityCode": "738", "CityName": "Singapore", "IspCode": "465", "IspName": "BGP",
     "CountryCode": "1047", "CountryName": "Singapore", "GroupName": "International Nodes", "GroupType": "OVERSEAS"},
    {"NodeId": "drlab-probe-4", "CityCode": "806", "CityName": "Frankfurt", "IspCode": "465", "IspName": "BGP",
     "CountryCode": "101", "CountryName": "Germany", "GroupName": "International Nodes", "GroupType": "OVERSEAS"},
]
# The node keys a template's IspCityNodes entry carries (SDK ...TemplateIspCityNodesIspCityNode: no NodeId).
TEMPLATE_NODE_KEYS = ("CityCode", "CityName", "CountryCode", "CountryName", "GroupName", "GroupType", "IspCode",
                      "IspName")


def not_exists(kind: str, object_id: str) -> ApiError:
    # CloudGtm.<Object>.<Reason> (alidns error reference); the Reason "NotExists" is inferred.
    return ApiError(400, f"CloudGtm.{kind}.NotExists", f"The specified {kind} {object_id} does not exist.")


def in_use(kind: str, object_id: str, users: list[str]) -> ApiError:
    # CloudGtm.<Object>.<Reason> (alidns error reference); the Reason "InUse" is inferred.
    return ApiError(400, f"CloudGtm.{kind}.InUse", f"The {kind} {object_id} is referenced by {', '.join(users)}.")


def _address_mode(p: Params, required: bool) -> str | None:
    """AvailableMode of an address; a bad value is CloudGtm.Address.AvailableModeInvalid (alidns error reference)."""
    value = p.req("AvailableMode") if required else p.str("AvailableMode")
    if value is not None and value not in ("auto", "manual"):
        raise ApiError(400, "CloudGtm.Address.AvailableModeInvalid", "gtm address availableMode is invalid.")
    return value


def _manual_status(p: Params) -> str | None:
    """ManualAvailableStatus; a bad value is CloudGtm.Address.AvailableStatusInvalid (alidns error reference)."""
    value = p.str("ManualAvailableStatus")
    if value is not None and value not in ("available", "unavailable"):
        raise ApiError(400, "CloudGtm.Address.AvailableStatusInvalid", "gtm address availableStatus is invalid.")
    return value


def _stamps(obj: dict[str, Any]) -> dict[str, Any]:
    return {"CreateTime": ids.iso_minutes(obj["created"]), "CreateTimestamp": ids.millis(obj["created"]),
            "UpdateTime": ids.iso_minutes(obj["updated"]), "UpdateTimestamp": ids.millis(obj["updated"])}


def _page(items: list[Any], p: Params) -> dict[str, Any]:
    number, size = p.page()
    return {"PageNumber": number, "PageSize": size, "TotalItems": len(items),
            "TotalPages": max(1, math.ceil(len(items) / size)) if items else 0,
            "_items": paginate(items, number, size)}


class GtmApi:
    """The CloudGtm* action handlers over a :class:`~drlab.cloud.gtm_model.GtmBackend`."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.model = GtmBackend(cloud.data["gtm"], cloud.data["alert_logs"], record_event=cloud.lab.record_event,
                                changed=cloud.changed, save=cloud.save)
        # the handlers read and write the backend's dicts in place
        self.templates = self.model.templates
        self.addresses = self.model.addresses
        self.pools = self.model.pools
        self.instances = self.model.instances
        self.configs = self.model.configs
        self.alert_logs = self.model.alert_logs
        short = bool(cloud.topology.get("gtm", {}).get("allow_short_intervals"))
        self.intervals = (LAB_INTERVALS if short else []) + INTERVALS
        self.timeouts = (LAB_TIMEOUTS if short else []) + TIMEOUTS

    # -- what the lab's other components use (cloud component: gtm_answer, health_targets, ...) ----
    def set_address_health(self, address_id: str, health_status: str, available_status: str, reason: str = "") -> bool:
        return self.model.set_address_health(address_id, health_status, available_status, reason)

    def health_targets(self) -> list[dict[str, Any]]:
        return self.model.health_targets()

    def answer(self, fqdn: str, rr_type: str) -> dict[str, Any] | None:
        return self.model.answer(fqdn, rr_type)

    def actions(self) -> dict[str, Callable[[Params], dict]]:
        return {
            "ListCloudGtmMonitorNodes": self.list_nodes,
            "CreateCloudGtmMonitorTemplate": self.create_template,
            "UpdateCloudGtmMonitorTemplate": self.update_template,
            "UpdateCloudGtmMonitorTemplateRemark": self.update_template_remark,
            "DeleteCloudGtmMonitorTemplate": self.delete_template,
            "DescribeCloudGtmMonitorTemplate": self.describe_template,
            "ListCloudGtmMonitorTemplates": self.list_templates,
            "CreateCloudGtmAddress": self.create_address,
            "UpdateCloudGtmAddress": self.update_address,
            "UpdateCloudGtmAddressEnableStatus": self.update_address_enable,
            "UpdateCloudGtmAddressManualAvailableStatus": self.update_address_manual,
            "UpdateCloudGtmAddressRemark": self.update_address_remark,
            "DeleteCloudGtmAddress": self.delete_address,
            "DescribeCloudGtmAddress": self.describe_address,
            "DescribeCloudGtmAddressReference": self.address_reference,
            "ListCloudGtmAddresses": self.list_addresses,
            "CreateCloudGtmAddressPool": self.create_pool,
            "ReplaceCloudGtmAddressPoolAddress": self.replace_pool_addresses,
            "UpdateCloudGtmAddressPoolLbStrategy": self.update_pool_lb,
            "UpdateCloudGtmAddressPoolBasicConfig": self.update_pool_basic,
            "UpdateCloudGtmAddressPoolEnableStatus": self.update_pool_enable,
            "UpdateCloudGtmAddressPoolRemark": self.update_pool_remark,
            "DeleteCloudGtmAddressPool": self.delete_pool,
            "DescribeCloudGtmAddressPool": self.describe_pool,
            "DescribeCloudGtmAddressPoolReference": self.pool_reference,
            "ListCloudGtmAddressPools": self.list_pools,
            "ListCloudGtmInstances": self.list_instances,
            "UpdateCloudGtmInstanceName": self.update_instance_name,
            "CreateCloudGtmInstanceConfig": self.create_config,
            "ReplaceCloudGtmInstanceConfigAddressPool": self.replace_config_pools,
            "UpdateCloudGtmInstanceConfigBasic": self.update_config_basic,
            "UpdateCloudGtmInstanceConfigEnableStatus": self.update_config_enable,
            "UpdateCloudGtmInstanceConfigLbStrategy": self.update_config_lb,
            "UpdateCloudGtmInstanceConfigRemark": self.update_config_remark,
            "DeleteCloudGtmInstanceConfig": self.delete_config,
            "DescribeCloudGtmInstanceConfigFullInfo": self.describe_config,
            "ListCloudGtmInstanceConfigs": self.list_configs,
            "DescribeCloudGtmInstanceConfigAlert": self.describe_config_alert,
            "UpdateCloudGtmInstanceConfigAlert": self.update_config_alert,
            "ListCloudGtmAvailableAlertGroups": self.list_alert_groups,
            "ListCloudGtmAlertLogs": self.list_alert_logs,
        }

    def _touch(self, obj: dict[str, Any], object_id: str) -> dict:
        obj["updated"] = time.time()
        self.cloud.changed("gtm", object_id)
        return {"Success": True}

    # -- monitor nodes and templates -------------------------------------------------------
    def list_nodes(self, p: Params) -> dict:
        nodes = [{**n, "DefaultSelected": True, "EnableStatus": "enable", "Ips": {"Ip": [self.cloud.lab.host]}}
                 for n in MONITOR_NODES]
        return {"Ipv4IspCityNodes": {"Ipv4IspCityNode": nodes}, "Ipv6IspCityNodes": {"Ipv6IspCityNode": []}}

    def _nodes(self, p: Params, required: bool) -> list[dict[str, str]] | None:
        nodes = p.json("IspCityNodes", required=required, kind=list)
        if nodes is None:
            return None
        if not nodes or not all(isinstance(n, dict) and n.get("CityCode") and n.get("IspCode") for n in nodes):
            raise invalid("IspCityNodes", json.dumps(nodes))
        known = {(n["CityCode"], n["IspCode"]): {k: n[k] for k in TEMPLATE_NODE_KEYS} for n in MONITOR_NODES}
        return [{**known.get((str(n["CityCode"]), str(n["IspCode"])), {}), "CityCode": str(n["CityCode"]),
                 "IspCode": str(n["IspCode"])} for n in nodes]

    def _extend_info(self, p: Params, protocol: str) -> str | None:
        info = p.json("ExtendInfo", kind=dict)
        if info is None:
            return None
        if protocol in ("http", "https") and "code" in info and int(info["code"]) not in (400, 500):
            raise invalid("ExtendInfo.code", info["code"], [400, 500])
        return json.dumps(info, sort_keys=True)

    def create_template(self, p: Params) -> dict:
        protocol = p.req("Protocol", choices=["ping", "tcp", "http", "https"])
        now = time.time()
        template = {
            "TemplateId": ids.numeric("mtp-"), "Name": p.req("Name"), "Protocol": protocol,
            "IpVersion": p.req("IpVersion", choices=["IPv4", "IPv6"]),
            "Interval": p.int("Interval", required=True, choices=self.intervals),
            "Timeout": p.int("Timeout", required=True, choices=self.timeouts),
            "EvaluationCount": p.int("EvaluationCount", required=True, choices=[1, 2, 3]),
            "FailureRate": p.int("FailureRate", required=True, choices=[20, 50, 80, 100]),
            "IspCityNodes": self._nodes(p, required=True),
            "ExtendInfo": self._extend_info(p, protocol) or json.dumps(
                {"path": "/", "code": 500} if protocol in ("http", "https") else {}),
            "Remark": "", "created": now, "updated": now,
        }
        self.templates[template["TemplateId"]] = template
        self.cloud.changed("gtm", template["TemplateId"])
        return {"TemplateId": template["TemplateId"], "Success": True}

    def _template(self, p: Params) -> dict:
        template_id = p.req("TemplateId")
        if template_id not in self.templates:
            raise not_exists("MonitorTemplate", template_id)
        return self.templates[template_id]

    def update_template(self, p: Params) -> dict:
        t = self._template(p)
        updates = {
            "Name": p.str("Name"), "Interval": p.int("Interval", choices=self.intervals),
            "Timeout": p.int("Timeout", choices=self.timeouts),
            "EvaluationCount": p.int("EvaluationCount", choices=[1, 2, 3]),
            "FailureRate": p.int("FailureRate", choices=[20, 50, 80, 100]),
            "IspCityNodes": self._nodes(p, required=False), "ExtendInfo": self._extend_info(p, t["Protocol"]),
        }
        t.update({k: v for k, v in updates.items() if v is not None})
        return self._touch(t, t["TemplateId"])

    def update_template_remark(self, p: Params) -> dict:
        t = self._template(p)
        t["Remark"] = p.str("Remark", "")
        return self._touch(t, t["TemplateId"])

    def delete_template(self, p: Params) -> dict:
        t = self._template(p)
        users = [a["AddressId"] for a in self.addresses.values()
                 if any(task["TemplateId"] == t["TemplateId"] for task in a["HealthTasks"])]
        if users:
            raise in_use("MonitorTemplate", t["TemplateId"], users)
        del self.templates[t["TemplateId"]]
        self.cloud.changed("gtm", t["TemplateId"])
        return {"Success": True}

    def _render_template(self, t: dict) -> dict:
        out = {k: v for k, v in t.items() if k not in ("created", "updated", "IspCityNodes")}
        out["IspCityNodes"] = {"IspCityNode": t["IspCityNodes"]}
        return {**out, **_stamps(t)}

    def describe_template(self, p: Params) -> dict:
        t = self.templates.get(p.req("TemplateId"))
        return self._render_template(t) if t else {}

    def list_templates(self, p: Params) -> dict:
        items = [t for t in self.templates.values()
                 if (not p.str("Name") or p.str("Name") in t["Name"])
                 and (not p.str("Protocol") or t["Protocol"] == p.str("Protocol"))
                 and (not p.str("IpVersion") or t["IpVersion"] == p.str("IpVersion"))]
        page = _page(sorted(items, key=lambda t: t["created"]), p)
        return {**{k: v for k, v in page.items() if k != "_items"},
                "Templates": {"Template": [self._render_template(t) for t in page["_items"]]}}

    # -- addresses ------------------------------------------------------------------------
    def _health_tasks(self, p: Params, required: bool, address_type: str) -> list[dict[str, Any]] | None:
        tasks = p.json("HealthTasks", required=required, kind=list)
        if tasks is None:
            return None
        out = []
        for task in tasks:
            if not isinstance(task, dict) or not task.get("TemplateId"):
                raise invalid("HealthTasks", json.dumps(tasks))
            template = self.templates.get(task["TemplateId"])
            if template is None:
                raise not_exists("MonitorTemplate", task["TemplateId"])
            if address_type in ("IPv4", "IPv6") and template["IpVersion"] != address_type:
                # documented code (alidns error reference); that it means the IP version mismatch is inferred
                raise ApiError(400, "CloudGtm.Address.DispatchTypeNotMatchMonitorTemplate",
                               "the address dispatchType is not match monitor template.")
            port = task.get("Port")
            if template["Protocol"] != "ping":
                if port is None or not 1 <= int(port) <= 65535:
                    raise invalid("HealthTasks.Port", port)
                port = int(port)
            out.append({"TemplateId": template["TemplateId"], "Port": port})
        return out

    @staticmethod
    def _check_address(kind: str, value: str) -> None:
        try:
            if kind == "IPv4":
                ipaddress.IPv4Address(value)
            elif kind == "IPv6":
                ipaddress.IPv6Address(value)
            elif not value or " " in value:
                raise ValueError(value)
        except ValueError:
            raise invalid("Address", value) from None

    def create_address(self, p: Params) -> dict:
        kind = p.req("Type", choices=["IPv4", "IPv6", "domain"])
        value = p.req("Address")
        self._check_address(kind, value)
        mode = _address_mode(p, required=True)
        now = time.time()
        address = {
            "AddressId": ids.numeric("addr-"), "Name": p.req("Name"), "Address": value, "Type": kind,
            "EnableStatus": p.req("EnableStatus", choices=["enable", "disable"]), "AvailableMode": mode,
            "ManualAvailableStatus": _manual_status(p) or ("available" if mode == "manual" else None),
            "HealthJudgement": p.req("HealthJudgement", choices=JUDGEMENTS),
            "HealthTasks": self._health_tasks(p, required=False, address_type=kind) or [],
            "AttributeInfo": p.str("AttributeInfo", ""), "Remark": p.str("Remark", ""),
            "health": {"HealthStatus": "ok", "AvailableStatus": "available", "since": now},
            "created": now, "updated": now,
        }
        self.addresses[address["AddressId"]] = address
        self.cloud.changed("gtm", address["AddressId"])
        return {"AddressId": address["AddressId"], "Success": True}

    def _address(self, p: Params) -> dict:
        address_id = p.req("AddressId")
        if address_id not in self.addresses:
            raise not_exists("Address", address_id)
        return self.addresses[address_id]

    def update_address(self, p: Params) -> dict:
        a = self._address(p)
        if "Address" in p:
            self._check_address(a["Type"], p.req("Address"))
            a["Address"] = p.req("Address")
        if "Name" in p:
            a["Name"] = p.req("Name")
        if "HealthJudgement" in p:
            a["HealthJudgement"] = p.req("HealthJudgement", choices=JUDGEMENTS)
        if "AttributeInfo" in p:
            a["AttributeInfo"] = p.req("AttributeInfo")
        tasks = self._health_tasks(p, required=False, address_type=a["Type"])
        if tasks is not None:
            a["HealthTasks"] = tasks
        return self._touch(a, a["AddressId"])

    def update_address_enable(self, p: Params) -> dict:
        a = self._address(p)
        a["EnableStatus"] = p.req("EnableStatus", choices=["enable", "disable"])
        return self._touch(a, a["AddressId"])

    def update_address_manual(self, p: Params) -> dict:
        a = self._address(p)
        before = self.model.availability(a)
        a["AvailableMode"] = _address_mode(p, required=True)
        manual = _manual_status(p)
        if a["AvailableMode"] == "manual":
            if manual is None:
                raise ApiError(400, "CloudGtm.Address.AvailableStatusInvalid",
                               "gtm address availableStatus is invalid.")
            a["ManualAvailableStatus"] = manual
        self.model.availability_event(a, before, reason="manual")
        return self._touch(a, a["AddressId"])

    def update_address_remark(self, p: Params) -> dict:
        a = self._address(p)
        a["Remark"] = p.str("Remark", "")
        return self._touch(a, a["AddressId"])

    def delete_address(self, p: Params) -> dict:
        a = self._address(p)
        users = [pool_id for pool_id, pool in self.pools.items()
                 if any(m["AddressId"] == a["AddressId"] for m in pool["Addresses"])]
        if users:
            raise in_use("Address", a["AddressId"], users)
        del self.addresses[a["AddressId"]]
        self.cloud.changed("gtm", a["AddressId"])
        return {"Success": True}

    def _render_tasks(self, a: dict, with_status: bool) -> dict:
        tasks = []
        for task in a["HealthTasks"]:
            template = self.templates.get(task["TemplateId"], {})
            entry = {"TemplateId": task["TemplateId"], "TemplateName": template.get("Name", ""), "Port": task["Port"]}
            if with_status:
                entry["MonitorStatus"] = "ok" if self.model.health_status(a) in ("ok", "ok_alert") else "exceptional"
            tasks.append(entry)
        return {"HealthTask": tasks}

    def _render_address(self, a: dict, with_status: bool = True) -> dict:
        return {
            "AddressId": a["AddressId"], "Name": a["Name"], "Address": a["Address"], "Type": a["Type"],
            "EnableStatus": a["EnableStatus"], "AvailableMode": a["AvailableMode"],
            "ManualAvailableStatus": a.get("ManualAvailableStatus") or "",
            "AvailableStatus": self.model.address_available(a), "HealthStatus": self.model.health_status(a),
            "HealthJudgement": a["HealthJudgement"], "HealthTasks": self._render_tasks(a, with_status),
            "AttributeInfo": a["AttributeInfo"], "Remark": a["Remark"], **_stamps(a),
        }

    def describe_address(self, p: Params) -> dict:
        a = self.addresses.get(p.req("AddressId"))
        return self._render_address(a) if a else {}

    def list_addresses(self, p: Params) -> dict:
        def keep(a: dict) -> bool:
            return ((not p.str("Name") or p.str("Name") in a["Name"])
                    and (not p.str("Address") or a["Address"] == p.str("Address"))
                    and (not p.str("AddressId") or a["AddressId"] == p.str("AddressId"))
                    and (not p.str("Type") or a["Type"] == p.str("Type"))
                    and (not p.str("EnableStatus") or a["EnableStatus"] == p.str("EnableStatus"))
                    and (not p.str("HealthStatus") or self.model.health_status(a) == p.str("HealthStatus"))
                    and (not p.str("MonitorTemplateId")
                         or any(t["TemplateId"] == p.str("MonitorTemplateId") for t in a["HealthTasks"])))

        page = _page(sorted(filter(keep, self.addresses.values()), key=lambda a: a["created"]), p)
        return {**{k: v for k, v in page.items() if k != "_items"},
                "Addresses": {"Address": [self._render_address(a) for a in page["_items"]]}}

    # -- address pools ----------------------------------------------------------------------
    def create_pool(self, p: Params) -> dict:
        now = time.time()
        pool = {
            "AddressPoolId": ids.numeric("pool-"), "AddressPoolName": p.req("AddressPoolName"),
            "AddressPoolType": p.req("AddressPoolType", choices=["IPv4", "IPv6", "domain"]),
            "EnableStatus": p.req("EnableStatus", choices=["enable", "disable"]),
            "HealthJudgement": p.req("HealthJudgement", choices=JUDGEMENTS),
            "AddressLbStrategy": "round_robin", "SequenceLbStrategyMode": "preemptive",
            "Remark": p.str("Remark", ""), "Addresses": [], "created": now, "updated": now,
        }
        self.pools[pool["AddressPoolId"]] = pool
        self.cloud.changed("gtm", pool["AddressPoolId"])
        return {"AddressPoolId": pool["AddressPoolId"], "Success": True}

    def _pool(self, p: Params) -> dict:
        pool_id = p.req("AddressPoolId")
        if pool_id not in self.pools:
            raise not_exists("AddressPool", pool_id)
        return self.pools[pool_id]

    @staticmethod
    def _members(raw: Any, id_key: str, name: str) -> list[dict[str, Any]]:
        if not isinstance(raw, list):
            raise invalid(name, json.dumps(raw))
        members, seen = [], set()
        for index, item in enumerate(raw, start=1):
            if not isinstance(item, dict) or not item.get(id_key):
                raise invalid(name, json.dumps(raw))
            if item[id_key] in seen:
                raise invalid(f"{name}.{id_key}", item[id_key])
            seen.add(item[id_key])
            weight = int(item.get("WeightValue", 1))
            if not 1 <= weight <= 100:
                raise invalid(f"{name}.WeightValue", weight)
            members.append({id_key: item[id_key], "WeightValue": weight,
                            "SerialNumber": int(item.get("SerialNumber", index)),
                            "RequestSource": list(item.get("RequestSource") or ["default"])})
        return members

    def replace_pool_addresses(self, p: Params) -> dict:
        pool = self._pool(p)
        members = self._members(p.json("Addresses", required=True), "AddressId", "Addresses")
        for member in members:
            address = self.addresses.get(member["AddressId"])
            if address is None:
                raise not_exists("Address", member["AddressId"])
            if address["Type"] != pool["AddressPoolType"]:
                raise ApiError(400, "CloudGtm.AddressPool.TypeMismatch",  # CloudGtm.<Object>.<Reason>; Reason inferred
                               f"Address {address['AddressId']} is {address['Type']}, "
                               f"pool is {pool['AddressPoolType']}.")
        pool["Addresses"] = members
        self._touch(pool, pool["AddressPoolId"])
        return {"AddressPoolId": pool["AddressPoolId"], "Success": True}

    def update_pool_lb(self, p: Params) -> dict:
        pool = self._pool(p)
        pool["AddressLbStrategy"] = p.req("AddressLbStrategy", choices=LB_STRATEGIES)
        mode = p.str("SequenceLbStrategyMode", choices=SEQUENCE_MODES)
        if mode:
            pool["SequenceLbStrategyMode"] = mode
        return self._touch(pool, pool["AddressPoolId"])

    def update_pool_basic(self, p: Params) -> dict:
        pool = self._pool(p)
        if "AddressPoolName" in p:
            pool["AddressPoolName"] = p.req("AddressPoolName")
        if "HealthJudgement" in p:
            pool["HealthJudgement"] = p.req("HealthJudgement", choices=JUDGEMENTS)
        return self._touch(pool, pool["AddressPoolId"])

    def update_pool_enable(self, p: Params) -> dict:
        pool = self._pool(p)
        pool["EnableStatus"] = p.req("EnableStatus", choices=["enable", "disable"])
        return self._touch(pool, pool["AddressPoolId"])

    def update_pool_remark(self, p: Params) -> dict:
        pool = self._pool(p)
        pool["Remark"] = p.str("Remark", "")
        return self._touch(pool, pool["AddressPoolId"])

    def delete_pool(self, p: Params) -> dict:
        pool = self._pool(p)
        users = [c["ConfigId"] for c in self.configs.values()
                 if any(m["AddressPoolId"] == pool["AddressPoolId"] for m in c["AddressPools"])]
        if users:
            raise in_use("AddressPool", pool["AddressPoolId"], users)
        del self.pools[pool["AddressPoolId"]]
        self.cloud.changed("gtm", pool["AddressPoolId"])
        return {"Success": True}

    def _render_pool(self, pool: dict, with_addresses: bool = True, in_config: bool = False) -> dict:
        # in_config: a pool as an access domain lists it (SDK ...FullInfoResponseBodyAddressPoolsAddressPool,
        # ListCloudGtmInstanceConfigs...AddressPool): no Remark, and its addresses carry no HealthTasks.
        available, health = self.model.pool_status(pool)
        out = {k: v for k, v in pool.items() if k not in ("Addresses", "created", "updated")
               and not (in_config and k == "Remark")}
        out.update({"AvailableStatus": available, "HealthStatus": health, **_stamps(pool)})
        if with_addresses:
            rendered = []
            for member in pool["Addresses"]:
                address = self.addresses.get(member["AddressId"])
                if address is not None:
                    entry = self._render_address(address, with_status=False)
                    if in_config:
                        entry.pop("HealthTasks")
                    rendered.append({**entry,
                                     "WeightValue": member["WeightValue"], "SerialNumber": member["SerialNumber"],
                                     "RequestSource": {"RequestSource": member["RequestSource"]}})
            out["Addresses"] = {"Address": rendered}
        return out

    def describe_pool(self, p: Params) -> dict:
        pool = self.pools.get(p.req("AddressPoolId"))
        return self._render_pool(pool) if pool else {}

    def _config_refs(self, pool_id: str) -> list[dict]:
        refs = []
        for config in self.configs.values():
            if any(m["AddressPoolId"] == pool_id for m in config["AddressPools"]):
                rendered = self._render_config(config, full=False)
                # SDK Describe...ReferenceResponseBody...InstanceConfig: no pools, commodity, zone mode or times
                refs.append({k: v for k, v in rendered.items() if k not in ("AddressPools", "CommodityCode",
                                                                          "ScheduleZoneMode")
                             and not k.startswith(("Create", "Update"))})
        return refs

    def address_reference(self, p: Params) -> dict:
        """Which pools (and through them which access domains) use an address."""
        address = self.addresses.get(p.req("AddressId"))
        if address is None:
            return {}
        pools = []
        for pool in self.pools.values():
            if any(m["AddressId"] == address["AddressId"] for m in pool["Addresses"]):
                rendered = self._render_pool(pool, with_addresses=False)
                rendered = {k: v for k, v in rendered.items() if not k.startswith(("Create", "Update"))}
                configs = self._config_refs(pool["AddressPoolId"])
                pools.append({**rendered, "InstanceConfigs": {"InstanceConfig": configs}})
        return {"AddressId": address["AddressId"], "Address": address["Address"], "Name": address["Name"],
                "AddressPools": {"AddressPool": pools}}

    def pool_reference(self, p: Params) -> dict:
        pool = self.pools.get(p.req("AddressPoolId"))
        if pool is None:
            return {}
        return {"AddressPoolId": pool["AddressPoolId"], "AddressPoolName": pool["AddressPoolName"],
                "InstanceConfigs": {"InstanceConfig": self._config_refs(pool["AddressPoolId"])}}

    def list_pools(self, p: Params) -> dict:
        items = [pool for pool in self.pools.values()
                 if (not p.str("AddressPoolName") or p.str("AddressPoolName") in pool["AddressPoolName"])
                 and (not p.str("AddressPoolType") or pool["AddressPoolType"] == p.str("AddressPoolType"))
                 and (not p.str("EnableStatus") or pool["EnableStatus"] == p.str("EnableStatus"))]
        page = _page(sorted(items, key=lambda x: x["created"]), p)
        return {**{k: v for k, v in page.items() if k != "_items"},
                "AddressPools": {"AddressPool": [self._render_pool(x) for x in page["_items"]]}}

    # -- instances and access domains (instance configs) --------------------------------------
    def list_instances(self, p: Params) -> dict:
        items = [i for i in self.instances.values()
                 if (not p.str("InstanceId") or i["InstanceId"] == p.str("InstanceId"))
                 and (not p.str("InstanceName") or p.str("InstanceName") in i["InstanceName"])]
        page = _page(sorted(items, key=lambda x: x["created"]), p)
        rendered = []
        for inst in page["_items"]:
            domain = next((c["ScheduleDomainName"] for c in self.configs.values()
                           if c["InstanceId"] == inst["InstanceId"]), "")
            rendered.append({**{k: v for k, v in inst.items() if k not in ("created", "updated")},
                             "ScheduleDomainName": domain, **_stamps(inst)})
        return {**{k: v for k, v in page.items() if k != "_items"}, "Instances": {"Instance": rendered}}

    def update_instance_name(self, p: Params) -> dict:
        instance_id = p.req("InstanceId")
        inst = self.instances.get(instance_id)
        if inst is None:
            raise not_exists("Instance", instance_id)
        inst["InstanceName"] = p.req("InstanceName")
        return self._touch(inst, instance_id)

    def _zone(self, p: Params, name: str = "ScheduleZoneName") -> str:
        zone = p.req(name).rstrip(".").lower()
        if zone not in [z.lower() for z in self.cloud.topology.get("zones", [])]:
            raise ApiError(400, "InvalidDomainName.NoExist", f"The domain name {zone} does not exist in this account.")
        return zone

    def create_config(self, p: Params) -> dict:
        charge = p.str("ChargeType", "postpay", choices=["postpay", "prepay"])
        if p.str("ScheduleZoneMode", "custom", choices=["custom", "sys_assign"]) != "custom":
            raise invalid("ScheduleZoneMode", "sys_assign", ["custom"])  # the lab hosts custom zones only
        zone = self._zone(p)
        hostname = p.req("ScheduleHostname").lower()
        rr_type = p.req("ScheduleRrType", choices=list(RR_POOL_TYPE))
        ttl = p.int("Ttl", required=True, minimum=1, maximum=86400)
        domain = f"{hostname}.{zone}" if hostname != "@" else zone
        if any(c["ScheduleDomainName"] == domain and c["ScheduleRrType"] == rr_type for c in self.configs.values()):
            raise ApiError(400, "CloudGtm.InstanceConfig.AlreadyExists",  # CloudGtm.<Object>.<Reason>; Reason inferred
                           f"An access domain {domain} {rr_type} already exists.")
        now = time.time()
        if charge == "prepay":
            instance_id = p.req("InstanceId")
            if instance_id not in self.instances:
                raise not_exists("Instance", instance_id)
        else:
            instance_id = "gtm-intl-" + ids.numeric("", 12)
            self.instances[instance_id] = {
                "InstanceId": instance_id, "InstanceName": domain, "ChargeType": charge, "VersionCode": "ultimate",
                "CommodityCode": "dns_gtm_public_intl", "MonitorTaskQuota": 100, "created": now, "updated": now}
        config = {
            "ConfigId": ids.numeric("config-"), "InstanceId": instance_id, "ScheduleZoneMode": "custom",
            "ScheduleZoneName": zone, "ScheduleHostname": hostname, "ScheduleDomainName": domain,
            "ScheduleRrType": rr_type, "Ttl": ttl, "EnableStatus": p.str("EnableStatus", "enable",
                                                                        choices=["enable", "disable"]),
            "AddressPoolLbStrategy": "round_robin", "SequenceLbStrategyMode": "preemptive",
            "Remark": p.str("Remark", ""), "AddressPools": [], "AlertMode": "global", "AlertGroup": [],
            "AlertConfig": [], "created": now, "updated": now,
        }
        self.configs[config["ConfigId"]] = config
        self.cloud.lab.record_event("gtm_access_domain_created", config_id=config["ConfigId"], domain=domain)
        self.cloud.changed("gtm", config["ConfigId"])
        return {"ConfigId": config["ConfigId"], "InstanceId": instance_id, "Success": True}

    def _config(self, p: Params) -> dict:
        config_id = p.req("ConfigId")
        config = self.configs.get(config_id)
        if config is None:
            raise not_exists("InstanceConfig", config_id)
        instance_id = p.str("InstanceId")
        if instance_id and instance_id != config["InstanceId"]:
            raise not_exists("Instance", instance_id)
        return config

    def replace_config_pools(self, p: Params) -> dict:
        config = self._config(p)
        members = self._members(p.json("AddressPools", required=True), "AddressPoolId", "AddressPools")
        for member in members:
            pool = self.pools.get(member["AddressPoolId"])
            if pool is None:
                raise not_exists("AddressPool", member["AddressPoolId"])
            if pool["AddressPoolType"] != RR_POOL_TYPE[config["ScheduleRrType"]]:
                raise ApiError(400, "CloudGtm.AddressPool.TypeMismatch",  # CloudGtm.<Object>.<Reason>; Reason inferred
                               f"Pool {pool['AddressPoolId']} is {pool['AddressPoolType']}; "
                               f"{config['ScheduleRrType']} needs {RR_POOL_TYPE[config['ScheduleRrType']]}.")
        config["AddressPools"] = members
        return self._touch(config, config["ConfigId"])

    def update_config_basic(self, p: Params) -> dict:
        config = self._config(p)
        if "ScheduleZoneName" in p:
            config["ScheduleZoneName"] = self._zone(p)
        if "ScheduleHostname" in p:
            config["ScheduleHostname"] = p.req("ScheduleHostname").lower()
        if "Ttl" in p:
            config["Ttl"] = p.int("Ttl", minimum=1, maximum=86400)
        host, zone = config["ScheduleHostname"], config["ScheduleZoneName"]
        config["ScheduleDomainName"] = f"{host}.{zone}" if host != "@" else zone
        return self._touch(config, config["ConfigId"])

    def update_config_enable(self, p: Params) -> dict:
        config = self._config(p)
        config["EnableStatus"] = p.req("EnableStatus", choices=["enable", "disable"])
        return self._touch(config, config["ConfigId"])

    def update_config_lb(self, p: Params) -> dict:
        config = self._config(p)
        config["AddressPoolLbStrategy"] = p.req("AddressPoolLbStrategy", choices=LB_STRATEGIES)
        mode = p.str("SequenceLbStrategyMode", choices=SEQUENCE_MODES)
        if mode:
            config["SequenceLbStrategyMode"] = mode
        return self._touch(config, config["ConfigId"])

    def update_config_remark(self, p: Params) -> dict:
        config = self._config(p)
        config["Remark"] = p.str("Remark", "")
        return self._touch(config, config["ConfigId"])

    def delete_config(self, p: Params) -> dict:
        config = self._config(p)
        del self.configs[config["ConfigId"]]
        instance = self.instances.get(config["InstanceId"])
        if instance and instance["ChargeType"] == "postpay" and not any(
                c["InstanceId"] == instance["InstanceId"] for c in self.configs.values()):
            del self.instances[instance["InstanceId"]]  # pay-as-you-go instances go with their domain
        self.cloud.lab.record_event("gtm_access_domain_deleted", config_id=config["ConfigId"])
        self.cloud.changed("gtm", config["ConfigId"])
        return {"Success": True}

    def _render_config(self, config: dict, full: bool) -> dict:
        available, health = self.model.config_status(config)
        out = {k: v for k, v in config.items()
               if k not in ("AddressPools", "AlertMode", "AlertGroup", "AlertConfig", "created", "updated")}
        if full:
            out["AlertGroup"] = json.dumps(config.get("AlertGroup", []))
            out["AlertConfig"] = json.dumps(config.get("AlertConfig", []))
        instance = self.instances.get(config["InstanceId"], {})
        out.update({"AvailableStatus": available, "HealthStatus": health, "VersionCode": "ultimate",
                    "CommodityCode": instance.get("CommodityCode", ""),
                    **_stamps(config)})
        if full:  # FullInfo names the instance; a ListCloudGtmInstanceConfigs entry does not (SDK models)
            out["InstanceName"] = instance.get("InstanceName", "")
        pools = []
        for member in config["AddressPools"]:
            pool = self.pools.get(member["AddressPoolId"])
            if pool is not None:
                pools.append({**self._render_pool(pool, with_addresses=full, in_config=True),
                              "WeightValue": member["WeightValue"],
                              "SerialNumber": member["SerialNumber"],
                              "RequestSource": {"RequestSource": member["RequestSource"]}})
        out["AddressPools"] = {"AddressPool": pools}
        return out

    def describe_config(self, p: Params) -> dict:
        config = self.configs.get(p.req("ConfigId"))
        instance_id = p.str("InstanceId")
        if config is None or (instance_id and instance_id != config["InstanceId"]):
            return {}
        return self._render_config(config, full=True)

    def list_configs(self, p: Params) -> dict:
        items = [c for c in self.configs.values()
                 if (not p.str("InstanceId") or c["InstanceId"] == p.str("InstanceId"))
                 and (not p.str("EnableStatus") or c["EnableStatus"] == p.str("EnableStatus"))
                 and (not p.str("ScheduleZoneName") or c["ScheduleZoneName"] == p.str("ScheduleZoneName").lower())
                 and (not p.str("ScheduleDomainName")
                      or p.str("ScheduleDomainName").lower().rstrip(".") in c["ScheduleDomainName"])]
        page = _page(sorted(items, key=lambda x: x["created"]), p)
        return {**{k: v for k, v in page.items() if k != "_items"},
                "InstanceConfigs": {"InstanceConfig": [self._render_config(c, full=False) for c in page["_items"]]}}

    # -- health: fed by the lab's checker, shown by the API, used by DNS ------------------------
    def describe_config_alert(self, p: Params) -> dict:
        config = self.configs.get(p.req("ConfigId"))
        if config is None:
            return {}
        return {"ConfigId": config["ConfigId"], "InstanceId": config["InstanceId"],
                "AlertMode": config.get("AlertMode", "global"),
                "AlertGroup": {"AlertGroup": config.get("AlertGroup", [])},
                "AlertConfig": {"AlertConfig": config.get("AlertConfig", [])}}

    def update_config_alert(self, p: Params) -> dict:
        config = self._config(p)
        mode = p.str("AlertMode", choices=["global", "instance_config"])
        groups = p.json("AlertGroup", kind=list)
        notices = p.json("AlertConfig", kind=list)
        if groups is not None:
            if not all(isinstance(g, str) and g for g in groups):
                raise invalid("AlertGroup", json.dumps(groups))
            config["AlertGroup"] = groups
        if notices is not None:
            rendered = []
            for notice in notices:
                kind = notice.get("NoticeType") if isinstance(notice, dict) else None
                if kind not in NOTICE_TYPES:
                    raise invalid("AlertConfig.NoticeType", kind, NOTICE_TYPES)
                rendered.append({"NoticeType": kind, **{k: bool(notice.get(k, False)) for k in
                                                        ("EmailNotice", "SmsNotice", "DingtalkNotice")}})
            config["AlertConfig"] = rendered
        if mode:
            config["AlertMode"] = mode
        return self._touch(config, config["ConfigId"])

    def list_alert_groups(self, p: Params) -> dict:
        # Contact groups live in CloudMonitor; the lab offers one and echoes those in use.
        names = {"drlab-oncall"} | {g for c in self.configs.values() for g in c.get("AlertGroup", [])}
        return {"AlertGroups": {"AlertGroup": [{"GroupName": n} for n in sorted(names)]}}

    def list_alert_logs(self, p: Params) -> dict:
        def millis(name: str) -> int:
            value = p.int(name, required=True, minimum=0) or 0
            return value * 1000 if value < 10 ** 11 else value  # seconds or milliseconds both accepted

        start, end = millis("StartTimestamp"), millis("EndTimestamp")
        p.req("PageNumber")
        p.req("PageSize")
        logs = [entry for entry in reversed(self.alert_logs)
                if start <= entry["Timestamp"] <= end
                and (not p.str("EntityType") or entry["EntityType"] == p.str("EntityType"))
                and (not p.str("ActionType") or entry["ActionType"] == p.str("ActionType"))
                and (not p.str("Keyword") or p.str("Keyword") in entry["Content"])]
        page = _page(logs, p)
        return {**{k: v for k, v in page.items() if k != "_items"}, "Logs": {"Log": page["_items"]}}

    def snapshot(self) -> list[dict[str, Any]]:
        """Every access domain with its pools and addresses, statuses resolved."""
        return [self._render_config(c, full=True) for c in self.configs.values()]


