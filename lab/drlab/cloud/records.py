"""Alidns domain records in the lab's hosted zones (``topology.zones``).

Typical use: CNAME the business domain to the GTM access domain.  Errors follow the
alidns documentation: ``InvalidDomainName.NoExist`` for a zone the account does not
host, ``DomainRecordDuplicate`` for an identical record, ``DomainRecordNotBelongToUser``
for an unknown record id.  TTL bounds are those of the Ultimate edition (1-86400).
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from typing import Any, Callable

from . import ids
from .errors import ApiError, invalid
from .params import Params, paginate

TYPES = ["A", "AAAA", "CNAME", "TXT", "MX", "NS", "SRV", "CAA"]


def _record_not_found(record_id: str) -> ApiError:
    return ApiError(400, "DomainRecordNotBelongToUser", f"The DNS record {record_id} does not belong to this user.")


class RecordsApi:
    def __init__(self, cloud):
        self.cloud = cloud
        self.records: dict[str, dict[str, Any]] = cloud.data["records"]

    def actions(self) -> dict[str, Callable[[Params], dict]]:
        return {
            "DescribeDomains": self.describe_domains,
            "AddDomainRecord": self.add,
            "UpdateDomainRecord": self.update,
            "DeleteDomainRecord": self.delete,
            "SetDomainRecordStatus": self.set_status,
            "DescribeDomainRecords": self.describe_records,
            "DescribeSubDomainRecords": self.describe_sub_domain,
            "DescribeDomainRecordInfo": self.describe_info,
        }

    def zones(self) -> list[str]:
        return [z.lower().rstrip(".") for z in self.cloud.topology.get("zones", [])]

    def _zone(self, p: Params) -> str:
        zone = p.req("DomainName").lower().rstrip(".")
        if zone not in self.zones():
            raise ApiError(400, "InvalidDomainName.NoExist", "The specified domain name does not exist. Refresh the "
                                                             "page and try again.")
        return zone

    @staticmethod
    def _domain_id(zone: str) -> str:
        return str(int(hashlib.sha256(zone.encode()).hexdigest()[:12], 16))

    def _validate(self, rr_type: str, value: str) -> None:
        try:
            if rr_type == "A":
                ipaddress.IPv4Address(value)
            elif rr_type == "AAAA":
                ipaddress.IPv6Address(value)
        except ValueError:
            raise invalid("Value", value) from None

    def _fields(self, p: Params) -> dict[str, Any]:
        rr_type = p.req("Type", choices=TYPES)
        value = p.req("Value")
        self._validate(rr_type, value)
        return {"RR": p.req("RR").lower(), "Type": rr_type, "Value": value,
                "TTL": p.int("TTL", default=600, minimum=1, maximum=86400), "Line": p.str("Line", "default"),
                "Priority": p.int("Priority", minimum=1, maximum=50) if rr_type == "MX" else None}

    def _check_conflicts(self, zone: str, fields: dict[str, Any], skip: str | None = None) -> None:
        for record in self.records.values():
            if record["DomainName"] != zone or record["RecordId"] == skip or record["RR"] != fields["RR"]:
                continue
            if record["Line"] != fields["Line"]:
                continue
            if record["Type"] == fields["Type"] and record["Value"] == fields["Value"]:
                raise ApiError(400, "DomainRecordDuplicate", "The DNS record already exists.")
            if "CNAME" in (record["Type"], fields["Type"]):
                raise ApiError(400, "DomainRecordConflict", "The DNS record conflicts with other records.")

    def add(self, p: Params) -> dict:
        zone = self._zone(p)
        fields = self._fields(p)
        self._check_conflicts(zone, fields)
        now = time.time()
        record_id = ids.numeric("", 19)
        self.records[record_id] = {"RecordId": record_id, "DomainName": zone, **fields, "Status": "ENABLE",
                                   "Locked": False, "Remark": "", "created": now, "updated": now}
        self.cloud.changed("record", record_id)
        return {"RecordId": record_id}

    def _record(self, p: Params) -> dict[str, Any]:
        record_id = p.req("RecordId")
        if record_id not in self.records:
            raise _record_not_found(record_id)
        return self.records[record_id]

    def update(self, p: Params) -> dict:
        record = self._record(p)
        fields = self._fields(p)
        if all(record[k] == v for k, v in fields.items()):
            # The cloud refuses a no-op update with this code; modules must compare first.
            raise ApiError(400, "DomainRecordDuplicate", "The DNS record already exists.")
        self._check_conflicts(record["DomainName"], fields, skip=record["RecordId"])
        record.update(fields)
        record["updated"] = time.time()
        self.cloud.changed("record", record["RecordId"])
        return {"RecordId": record["RecordId"]}

    def delete(self, p: Params) -> dict:
        record = self._record(p)
        del self.records[record["RecordId"]]
        self.cloud.changed("record", record["RecordId"])
        return {"RecordId": record["RecordId"]}

    def set_status(self, p: Params) -> dict:
        record = self._record(p)
        status = p.req("Status").upper()
        if status not in ("ENABLE", "DISABLE"):
            raise invalid("Status", status, ["Enable", "Disable"])
        record["Status"] = status
        record["updated"] = time.time()
        self.cloud.changed("record", record["RecordId"])
        return {"Status": status.capitalize()}

    def _render(self, record: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in record.items() if k not in ("created", "updated") and v is not None}
        out.update({"CreateTimestamp": ids.millis(record["created"]), "UpdateTimestamp": ids.millis(record["updated"]),
                    "Weight": 1})
        return out

    def _list(self, matches: list[dict[str, Any]], p: Params) -> dict:
        number, size = p.page(max_size=500)
        matches.sort(key=lambda r: (r["RR"], r["Type"], r["created"]))
        return {"TotalCount": len(matches), "PageNumber": number, "PageSize": size,
                "DomainRecords": {"Record": [self._render(r) for r in paginate(matches, number, size)]}}

    def describe_records(self, p: Params) -> dict:
        zone = self._zone(p)
        rr_kw, type_kw = (p.str("RRKeyWord") or "").lower(), (p.str("TypeKeyWord") or p.str("Type") or "").upper()
        value_kw = p.str("ValueKeyWord") or ""
        matches = [r for r in self.records.values() if r["DomainName"] == zone
                   and rr_kw in r["RR"] and (not type_kw or r["Type"] == type_kw) and value_kw in r["Value"]]
        return self._list(matches, p)

    def describe_sub_domain(self, p: Params) -> dict:
        sub = p.req("SubDomain").lower().rstrip(".")
        zone = next((z for z in self.zones() if sub == z or sub.endswith("." + z)), None)
        if zone is None:
            raise ApiError(400, "InvalidDomainName.NoExist", "The specified domain name does not exist.")
        rr = "@" if sub == zone else sub[: -len(zone) - 1]
        rr_type = (p.str("Type") or "").upper()
        matches = [r for r in self.records.values()
                   if r["DomainName"] == zone and r["RR"] == rr and (not rr_type or r["Type"] == rr_type)]
        return self._list(matches, p)

    def describe_info(self, p: Params) -> dict:
        record = self._record(p)
        return {**self._render(record), "DomainId": self._domain_id(record["DomainName"]), "PunyCode":
                record["DomainName"]}

    def describe_domains(self, p: Params) -> dict:
        number, size = p.page()
        keyword = (p.str("KeyWord") or "").lower()
        zones = [z for z in self.zones() if keyword in z]
        domains = [{"DomainId": self._domain_id(z), "DomainName": z, "PunyCode": z,
                    "VersionCode": "version_enterprise_advanced",
                    "RecordCount": sum(1 for r in self.records.values() if r["DomainName"] == z),
                    "DnsServers": {"DnsServer": [f"ns1.{z}"]}} for z in zones]
        return {"TotalCount": len(domains), "PageNumber": number, "PageSize": size,
                "Domains": {"Domain": paginate(domains, number, size)}}

    # -- for the lab's DNS server -------------------------------------------------------------
    def zone_records(self, zone: str) -> list[dict[str, Any]]:
        """Enabled records of a zone: ``{"name": fqdn, "type", "value", "ttl", "priority"}``."""
        zone = zone.lower().rstrip(".")
        out = []
        for record in self.records.values():
            if record["DomainName"] != zone or record["Status"] != "ENABLE":
                continue
            name = zone if record["RR"] == "@" else f"{record['RR']}.{zone}"
            out.append({"name": name, "type": record["Type"], "value": record["Value"], "ttl": record["TTL"],
                        "priority": record.get("Priority")})
        return out
