"""GTM 3.0 and DNS records through the real alidns SDK: objects, health, availability, answers."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections import Counter

import pytest
from alibabacloud_alidns20150109 import models as d
from alibabacloud_alidns20150109.client import Client as DnsClient
from cloud_support import api_error as _fail
from cloud_support import config, contract, dns_client, start_lab, stop_lab

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unit", "contract"))
import test_api_contract as static  # noqa: E402  (the contract test's read-path table)

pytestmark = pytest.mark.timeout(120)

ZONE = "meshdr-lab.example.com"


class Listener:
    """A TCP port that accepts and closes, standing in for a gateway the checker probes."""

    def __init__(self, host: str):
        self.host = host
        self.port = 0
        self._sock: socket.socket | None = None
        self.start()

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(16)
        self.port = sock.getsockname()[1]
        self._sock = sock
        threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            conn.close()

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


@pytest.fixture(scope="module")
def lab():
    handle = start_lab()
    yield handle
    stop_lab(handle)


@pytest.fixture(scope="module")
def dns(lab):
    return dns_client(lab)


def _template(dns, name: str, interval: int = 3600, **extra) -> str:
    fields = {"name": name, "protocol": "tcp", "ip_version": "IPv4", "interval": interval, "timeout": 2000,
              "evaluation_count": 1, "failure_rate": 50,
              "isp_city_nodes": [d.CreateCloudGtmMonitorTemplateRequestIspCityNodes(city_code="503", isp_code="465")],
              **extra}
    return dns.create_cloud_gtm_monitor_template(d.CreateCloudGtmMonitorTemplateRequest(**fields)).body.template_id


def _address(dns, name: str, ip: str, template_id: str | None, port: int, mode: str = "auto") -> str:
    tasks = [d.CreateCloudGtmAddressRequestHealthTasks(template_id=template_id, port=port)] if template_id else None
    return dns.create_cloud_gtm_address(d.CreateCloudGtmAddressRequest(
        name=name, address=ip, type="IPv4", enable_status="enable", available_mode=mode,
        health_judgement="any_ok", health_tasks=tasks)).body.address_id


def _domain(dns, hostname: str, members: list[tuple[str, int]], ttl: int = 5) -> dict[str, str]:
    pool = dns.create_cloud_gtm_address_pool(d.CreateCloudGtmAddressPoolRequest(
        address_pool_name=f"{hostname}-pool", address_pool_type="IPv4", enable_status="enable",
        health_judgement="any_ok")).body.address_pool_id
    dns.replace_cloud_gtm_address_pool_address(d.ReplaceCloudGtmAddressPoolAddressRequest(
        address_pool_id=pool, addresses=[d.ReplaceCloudGtmAddressPoolAddressRequestAddresses(
            address_id=a, weight_value=w, serial_number=i) for i, (a, w) in enumerate(members, start=1)]))
    dns.update_cloud_gtm_address_pool_lb_strategy(d.UpdateCloudGtmAddressPoolLbStrategyRequest(
        address_pool_id=pool, address_lb_strategy="weight"))
    created = dns.create_cloud_gtm_instance_config(d.CreateCloudGtmInstanceConfigRequest(
        charge_type="postpay", schedule_zone_mode="custom", schedule_zone_name=ZONE, schedule_hostname=hostname,
        schedule_rr_type="A", ttl=ttl, enable_status="enable")).body
    dns.replace_cloud_gtm_instance_config_address_pool(d.ReplaceCloudGtmInstanceConfigAddressPoolRequest(
        instance_id=created.instance_id, config_id=created.config_id,
        address_pools=[d.ReplaceCloudGtmInstanceConfigAddressPoolRequestAddressPools(address_pool_id=pool,
                                                                                      weight_value=1)]))
    return {"pool": pool, "config": created.config_id, "instance": created.instance_id,
            "fqdn": f"{hostname}.{ZONE}"}


def _wait_checked(lab, address_ids: list[str]) -> None:
    """Let the data plane's checker finish its first round, so a forced verdict is not raced."""
    components = lab.status()["components"]
    if "dataplane" not in components:
        return
    deadline = time.monotonic() + 10
    while not set(address_ids) <= set(lab.status()["components"]["dataplane"].get("health_checked", [])):
        assert time.monotonic() < deadline, "data plane never picked the addresses up"
        time.sleep(0.1)
    time.sleep(0.5)


def _force(lab, address_id: str, health: str, available: str) -> None:
    lab.admin("gtm/address-health", {"address_id": address_id, "health_status": health,
                                     "available_status": available, "reason": "test"})


def _answers(lab, fqdn: str, count: int) -> Counter:
    return Counter(ip for _ in range(count) for ip in lab.admin(f"gtm/answer?name={fqdn}&type=A")["addresses"])


@pytest.fixture(scope="module")
def domain(lab, dns):
    up1, up2 = Listener("127.0.0.1"), Listener("127.0.0.2")
    template = _template(dns, "tcp-slow")
    a1 = _address(dns, "region-1", "127.0.0.1", template, up1.port)
    a2 = _address(dns, "region-2", "127.0.0.2", template, up2.port)
    ids = _domain(dns, "www", [(a1, 80), (a2, 20)])
    _wait_checked(lab, [a1, a2])
    yield {**ids, "a1": a1, "a2": a2, "template": template}
    up1.stop()
    up2.stop()


def test_access_domain_is_fully_described(dns, domain):
    full = dns.describe_cloud_gtm_instance_config_full_info(d.DescribeCloudGtmInstanceConfigFullInfoRequest(
        instance_id=domain["instance"], config_id=domain["config"])).body
    assert full.schedule_domain_name == domain["fqdn"] and full.schedule_rr_type == "A" and full.ttl == 5
    assert full.available_status == "available" and full.health_status == "ok"
    pool = full.address_pools.address_pool[0]
    assert pool.address_pool_id == domain["pool"] and pool.address_lb_strategy == "weight"
    weights = {a.address: a.weight_value for a in pool.addresses.address}
    assert weights == {"127.0.0.1": 80, "127.0.0.2": 20}
    instances = dns.list_cloud_gtm_instances(d.ListCloudGtmInstancesRequest()).body.instances.instance
    assert domain["instance"] in [i.instance_id for i in instances]
    configs = dns.list_cloud_gtm_instance_configs(d.ListCloudGtmInstanceConfigsRequest(
        schedule_domain_name=domain["fqdn"])).body
    assert configs.total_items == 1 and configs.instance_configs.instance_config[0].config_id == domain["config"]


def test_weighted_answers_follow_the_weights(lab, domain):
    seen = _answers(lab, domain["fqdn"], 300)
    assert set(seen) == {"127.0.0.1", "127.0.0.2"}
    share = seen["127.0.0.1"] / 300
    assert 0.7 < share < 0.9, seen  # 80/20 with 300 draws: 4+ standard deviations of room


def test_health_drives_availability_answers_and_alert_log(lab, dns, domain):
    start_ms = int(time.time() * 1000) - 1
    _force(lab, domain["a2"], "exceptional", "unavailable")
    try:
        got = dns.describe_cloud_gtm_address(d.DescribeCloudGtmAddressRequest(address_id=domain["a2"])).body
        assert (got.health_status, got.available_status) == ("exceptional", "unavailable")
        pool = dns.describe_cloud_gtm_address_pool(
            d.DescribeCloudGtmAddressPoolRequest(address_pool_id=domain["pool"])).body
        assert (pool.available_status, pool.health_status) == ("available", "ok_alert")
        assert set(_answers(lab, domain["fqdn"], 40)) == {"127.0.0.1"}
        _force(lab, domain["a1"], "exceptional", "unavailable")
        full = dns.describe_cloud_gtm_instance_config_full_info(d.DescribeCloudGtmInstanceConfigFullInfoRequest(
            instance_id=domain["instance"], config_id=domain["config"])).body
        assert full.available_status == "unavailable"
        assert lab.admin(f"gtm/answer?name={domain['fqdn']}&type=A")["addresses"] == []
    finally:
        _force(lab, domain["a1"], "ok", "available")
        _force(lab, domain["a2"], "ok", "available")
    assert set(_answers(lab, domain["fqdn"], 60)) == {"127.0.0.1", "127.0.0.2"}
    logs = dns.list_cloud_gtm_alert_logs(d.ListCloudGtmAlertLogsRequest(
        start_timestamp=start_ms, end_timestamp=int(time.time() * 1000) + 1, page_number=1, page_size=100)).body
    entries = [(log.entity_type, log.action_type, log.content) for log in reversed(logs.logs.log)]
    a2 = [(kind, action) for kind, action, content in entries if domain["a2"] in content]
    assert a2 == [("GTM_ADDRESS", "ALERT"), ("GTM_ADDRESS", "RESUME")]
    pool = [action for kind, action, content in entries if domain["pool"] in content]
    assert pool == ["ALERT", "RESUME"]  # the pool went down with its last address and came back with the first
    err = _fail(lambda: dns.list_cloud_gtm_alert_logs(d.ListCloudGtmAlertLogsRequest(
        start_timestamp=start_ms, page_number=1, page_size=10)))
    assert err.code == "MissingParameter" and "EndTimestamp" in err.message
    kinds = [e["kind"] for e in lab.admin(f"events?since={start_ms / 1000}") if e.get("address_id") == domain["a2"]]
    assert "gtm_address_unavailable" in kinds and "gtm_address_available" in kinds


def test_access_domain_alert_settings(dns, domain):
    ids = {"instance_id": domain["instance"], "config_id": domain["config"]}
    before = dns.describe_cloud_gtm_instance_config_alert(d.DescribeCloudGtmInstanceConfigAlertRequest(**ids)).body
    assert before.alert_mode == "global"
    dns.update_cloud_gtm_instance_config_alert(d.UpdateCloudGtmInstanceConfigAlertRequest(
        alert_mode="instance_config", alert_group=["drlab-oncall"],
        alert_config=[d.UpdateCloudGtmInstanceConfigAlertRequestAlertConfig(notice_type="addr_alert",
                                                                            email_notice=True)], **ids))
    after = dns.describe_cloud_gtm_instance_config_alert(d.DescribeCloudGtmInstanceConfigAlertRequest(**ids)).body
    assert after.alert_mode == "instance_config" and after.alert_group.alert_group == ["drlab-oncall"]
    notice = after.alert_config.alert_config[0]
    assert (notice.notice_type, notice.email_notice, notice.sms_notice) == ("addr_alert", True, False)
    full = dns.describe_cloud_gtm_instance_config_full_info(
        d.DescribeCloudGtmInstanceConfigFullInfoRequest(**ids)).body
    assert json.loads(full.alert_group) == ["drlab-oncall"]
    err = _fail(lambda: dns.update_cloud_gtm_instance_config_alert(d.UpdateCloudGtmInstanceConfigAlertRequest(
        alert_config=[d.UpdateCloudGtmInstanceConfigAlertRequestAlertConfig(notice_type="ADDR_ALERT")], **ids)))
    assert err.code == "InvalidParameter"


def test_manual_availability_overrides_health(lab, dns, domain):
    dns.update_cloud_gtm_address_manual_available_status(d.UpdateCloudGtmAddressManualAvailableStatusRequest(
        address_id=domain["a1"], available_mode="manual", manual_available_status="unavailable"))
    try:
        got = dns.describe_cloud_gtm_address(d.DescribeCloudGtmAddressRequest(address_id=domain["a1"])).body
        assert (got.available_mode, got.available_status, got.health_status) == ("manual", "unavailable", "ok")
        assert set(_answers(lab, domain["fqdn"], 30)) == {"127.0.0.2"}
    finally:
        dns.update_cloud_gtm_address_manual_available_status(d.UpdateCloudGtmAddressManualAvailableStatusRequest(
            address_id=domain["a1"], available_mode="auto"))
    got = dns.describe_cloud_gtm_address(d.DescribeCloudGtmAddressRequest(address_id=domain["a1"])).body
    assert (got.available_mode, got.available_status) == ("auto", "available")


def test_validation_errors(dns):
    nodes = [d.CreateCloudGtmMonitorTemplateRequestIspCityNodes(city_code="503", isp_code="465")]
    base = {"name": "bad", "protocol": "http", "ip_version": "IPv4", "interval": 60, "timeout": 2000,
            "evaluation_count": 1, "failure_rate": 50, "isp_city_nodes": nodes}
    for change, code in [({"interval": 16}, "InvalidParameter"), ({"failure_rate": 30}, "InvalidParameter"),
                         ({"protocol": "udp"}, "InvalidParameter"), ({"isp_city_nodes": None}, "MissingParameter"),
                         ({"extend_info": json.dumps({"code": 302})}, "InvalidParameter")]:
        err = _fail(lambda change=change: dns.create_cloud_gtm_monitor_template(
            d.CreateCloudGtmMonitorTemplateRequest(**{**base, **change})))
        assert err.code == code, change
    err = _fail(lambda: _address(dns, "x", "not-an-ip", None, 80))
    assert err.code == "InvalidParameter"
    err = _fail(lambda: _address(dns, "x", "127.0.0.9", "mtp-404", 80))
    assert err.code == "CloudGtm.MonitorTemplate.NotExists"
    err = _fail(lambda: dns.create_cloud_gtm_instance_config(d.CreateCloudGtmInstanceConfigRequest(
        charge_type="postpay", schedule_zone_mode="custom", schedule_zone_name="not-hosted.example.org",
        schedule_hostname="www", schedule_rr_type="A", ttl=30)))
    assert err.code == "InvalidDomainName.NoExist"
    # Describe of an unknown id answers 200 without the id, which is how clients detect deletion.
    missing = dns.describe_cloud_gtm_address(d.DescribeCloudGtmAddressRequest(address_id="addr-404")).body
    assert missing.request_id and missing.address_id is None


def test_references_block_deletes_and_bad_members(dns, domain):
    used = dns.describe_cloud_gtm_address_reference(
        d.DescribeCloudGtmAddressReferenceRequest(address_id=domain["a1"])).body
    [pool] = used.address_pools.address_pool
    assert pool.address_pool_id == domain["pool"]
    assert [c.config_id for c in pool.instance_configs.instance_config] == [domain["config"]]
    by_pool = dns.describe_cloud_gtm_address_pool_reference(
        d.DescribeCloudGtmAddressPoolReferenceRequest(address_pool_id=domain["pool"])).body
    assert [c.schedule_domain_name for c in by_pool.instance_configs.instance_config] == [domain["fqdn"]]
    err = _fail(lambda: dns.delete_cloud_gtm_monitor_template(
        d.DeleteCloudGtmMonitorTemplateRequest(template_id=domain["template"])))
    assert err.code == "CloudGtm.MonitorTemplate.InUse"
    err = _fail(lambda: dns.delete_cloud_gtm_address(d.DeleteCloudGtmAddressRequest(address_id=domain["a1"])))
    assert err.code == "CloudGtm.Address.InUse"
    err = _fail(lambda: dns.delete_cloud_gtm_address_pool(
        d.DeleteCloudGtmAddressPoolRequest(address_pool_id=domain["pool"])))
    assert err.code == "CloudGtm.AddressPool.InUse"
    err = _fail(lambda: dns.replace_cloud_gtm_address_pool_address(d.ReplaceCloudGtmAddressPoolAddressRequest(
        address_pool_id=domain["pool"], addresses=[d.ReplaceCloudGtmAddressPoolAddressRequestAddresses(
            address_id="addr-404", weight_value=1)])))
    assert err.code == "CloudGtm.Address.NotExists"
    err = _fail(lambda: dns.create_cloud_gtm_instance_config(d.CreateCloudGtmInstanceConfigRequest(
        charge_type="postpay", schedule_zone_mode="custom", schedule_zone_name=ZONE, schedule_hostname="www",
        schedule_rr_type="A", ttl=30)))
    assert err.code == "CloudGtm.InstanceConfig.AlreadyExists"


def test_teardown_in_dependency_order(lab, dns):
    template = _template(dns, "teardown")
    address = _address(dns, "teardown", "127.0.0.3", template, 9)
    ids = _domain(dns, "gone", [(address, 1)])
    dns.delete_cloud_gtm_instance_config(d.DeleteCloudGtmInstanceConfigRequest(instance_id=ids["instance"],
                                                                              config_id=ids["config"]))
    dns.delete_cloud_gtm_address_pool(d.DeleteCloudGtmAddressPoolRequest(address_pool_id=ids["pool"]))
    dns.delete_cloud_gtm_address(d.DeleteCloudGtmAddressRequest(address_id=address))
    dns.delete_cloud_gtm_monitor_template(d.DeleteCloudGtmMonitorTemplateRequest(template_id=template))
    instances = dns.list_cloud_gtm_instances(d.ListCloudGtmInstancesRequest()).body.instances.instance
    assert ids["instance"] not in [i.instance_id for i in instances]  # pay-as-you-go instance left with it
    assert lab.admin(f"gtm/answer?name={ids['fqdn']}&type=A") is None
    err = _fail(lambda: dns.delete_cloud_gtm_address(d.DeleteCloudGtmAddressRequest(address_id=address)))
    assert err.code == "CloudGtm.Address.NotExists"


def test_list_pagination(dns, domain):
    page = dns.list_cloud_gtm_addresses(d.ListCloudGtmAddressesRequest(page_number=2, page_size=1)).body
    assert page.page_number == 2 and page.page_size == 1 and len(page.addresses.address) == 1
    assert page.total_items >= 2 and page.total_pages == page.total_items
    err = _fail(lambda: dns.list_cloud_gtm_addresses(d.ListCloudGtmAddressesRequest(page_size=101)))
    assert err.code == "InvalidParameter"


def test_short_intervals_only_with_the_lab_flag(dns):
    assert _template(dns, "fast", interval=2).startswith("mtp-")  # this lab runs with --short-intervals
    strict = start_lab(gtm={"allow_short_intervals": False})
    try:
        err = _fail(lambda: _template(dns_client(strict), "fast", interval=2))
        assert err.code == "InvalidParameter"
    finally:
        stop_lab(strict)


def test_domain_records(lab, dns):
    add = dns.add_domain_record(d.AddDomainRecordRequest(domain_name=ZONE, rr="shop", type="CNAME",
                                                         value=f"www.{ZONE}", ttl=60)).body
    assert add.record_id
    err = _fail(lambda: dns.add_domain_record(d.AddDomainRecordRequest(domain_name=ZONE, rr="shop", type="CNAME",
                                                                       value=f"www.{ZONE}", ttl=60)))
    assert err.code == "DomainRecordDuplicate"
    err = _fail(lambda: dns.add_domain_record(d.AddDomainRecordRequest(domain_name=ZONE, rr="shop", type="A",
                                                                       value="127.0.0.1")))
    assert err.code == "DomainRecordConflict"
    err = _fail(lambda: dns.add_domain_record(d.AddDomainRecordRequest(domain_name="other.example.org", rr="x",
                                                                       type="A", value="127.0.0.1")))
    assert err.code == "InvalidDomainName.NoExist"
    found = dns.describe_sub_domain_records(d.DescribeSubDomainRecordsRequest(sub_domain=f"shop.{ZONE}")).body
    assert found.total_count == 1 and found.domain_records.record[0].value == f"www.{ZONE}"
    err = _fail(lambda: dns.update_domain_record(d.UpdateDomainRecordRequest(
        record_id=add.record_id, rr="shop", type="CNAME", value=f"www.{ZONE}", ttl=60)))
    assert err.code == "DomainRecordDuplicate"  # a no-op update is refused; modules must compare first
    dns.update_domain_record(d.UpdateDomainRecordRequest(record_id=add.record_id, rr="shop", type="CNAME",
                                                         value=f"www.{ZONE}", ttl=120))
    info = dns.describe_domain_record_info(d.DescribeDomainRecordInfoRequest(record_id=add.record_id)).body
    assert info.ttl == 120 and info.status == "ENABLE"
    listed = dns.describe_domain_records(d.DescribeDomainRecordsRequest(domain_name=ZONE, rrkey_word="sho")).body
    assert [r.record_id for r in listed.domain_records.record] == [add.record_id]
    dns.delete_domain_record(d.DeleteDomainRecordRequest(record_id=add.record_id))
    err = _fail(lambda: dns.delete_domain_record(d.DeleteDomainRecordRequest(record_id=add.record_id)))
    assert err.code == "DomainRecordNotBelongToUser"


def test_real_health_checker_and_dns_follow_a_dead_gateway(lab, dns):
    if "dataplane" not in lab.status()["components"]:
        pytest.skip("the data plane component (health checks, GTM DNS) is not in this build")
    from dns import resolver as dns_resolver

    alive, doomed = Listener("127.0.0.4"), Listener("127.0.0.5")
    try:
        template = _template(dns, "tcp-fast", interval=1)
        a1 = _address(dns, "live-1", "127.0.0.4", template, alive.port)
        a2 = _address(dns, "live-2", "127.0.0.5", template, doomed.port)
        ids = _domain(dns, "live", [(a1, 50), (a2, 50)], ttl=1)
        resolver = dns_resolver.Resolver(configure=False)
        resolver.nameservers = [lab.topology["host"]]
        resolver.port = lab.topology["ports"]["dns"]
        # Both healthy: both served, once the lab has published the new domain to its DNS thread (on the next
        # turn of its main loop: dataplane/component.py, publish). A busy machine once asked in between and got
        # an empty answer, so the answers are gathered until both addresses came or the time is up.
        seen: set[str] = set()
        deadline = time.monotonic() + 15
        while seen != {"127.0.0.4", "127.0.0.5"}:
            assert time.monotonic() < deadline, f"GTM DNS served {sorted(seen)} of the two healthy addresses"
            try:
                seen |= {r.address for r in resolver.resolve(ids["fqdn"], "A")}
            except (dns_resolver.NXDOMAIN, dns_resolver.NoAnswer):
                time.sleep(0.05)
        doomed.stop()

        def status(address_id: str) -> str:
            return dns.describe_cloud_gtm_address(d.DescribeCloudGtmAddressRequest(address_id=address_id)).body\
                .available_status

        deadline = time.monotonic() + 15
        while status(a2) != "unavailable":
            assert time.monotonic() < deadline, "the checker never marked the dead gateway unavailable"
            time.sleep(0.2)
        assert status(a1) == "available"
        answers = [resolver.resolve(ids["fqdn"], "A") for _ in range(20)]
        assert {r.address for a in answers for r in a} == {"127.0.0.4"}
        assert all(a.rrset.ttl == 1 for a in answers)
    finally:
        alive.stop()
        doomed.stop()


def test_client_token_makes_a_retried_create_idempotent(dns):
    def create(token: str) -> str:
        return dns.create_cloud_gtm_address(d.CreateCloudGtmAddressRequest(
            name="retried", address="127.0.0.9", type="IPv4", enable_status="disable", available_mode="auto",
            health_judgement="any_ok", client_token=token)).body.address_id

    def count() -> int:
        return dns.list_cloud_gtm_addresses(d.ListCloudGtmAddressesRequest(name="retried")).body.total_items

    first = create("token-1")
    assert create("token-1") == first and count() == 1
    assert create("token-2") != first and count() == 2


# -- the lab answers what the SDK response models know, and what the collection reads ---------------
class RecordingClient(DnsClient):
    """The real SDK client, keeping each raw answer body before from_map() drops unknown keys."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.raw: dict[str, list[dict]] = {}

    def call_api(self, params, request, runtime):
        answer = super().call_api(params, request, runtime)
        self.raw.setdefault(params.action, []).append(answer.get("body") or {})
        return answer


# What the lab must answer on every call because the GTM modules read it unconditionally (wire paths).
# A subset of the contract test's READ_PATHS (tests/unit/contract), which checks each path against the
# SDK models and the modules' real reads; this test checks the lab answers carry them.
LAB_MUST_ANSWER = {
    "ListCloudGtmMonitorNodes": ["Ipv4IspCityNodes.Ipv4IspCityNode[].CityCode",
                                 "Ipv4IspCityNodes.Ipv4IspCityNode[].IspCode",
                                 "Ipv4IspCityNodes.Ipv4IspCityNode[].GroupType",
                                 "Ipv4IspCityNodes.Ipv4IspCityNode[].EnableStatus"],
    "DescribeCloudGtmMonitorTemplate": ["TemplateId", "Name", "Protocol", "IpVersion", "Interval", "Timeout",
                                        "EvaluationCount", "FailureRate", "ExtendInfo",
                                        "IspCityNodes.IspCityNode[].CityCode", "IspCityNodes.IspCityNode[].IspCode"],
    "ListCloudGtmMonitorTemplates": ["TotalPages", "Templates.Template[].TemplateId", "Templates.Template[].Name",
                                     "Templates.Template[].CreateTimestamp", "Templates.Template[].Interval"],
    "ListCloudGtmAddresses": ["TotalPages", "Addresses.Address[].AddressId", "Addresses.Address[].Name",
                              "Addresses.Address[].Remark", "Addresses.Address[].CreateTimestamp",
                              "Addresses.Address[].AvailableMode", "Addresses.Address[].ManualAvailableStatus",
                              "Addresses.Address[].HealthTasks.HealthTask[].TemplateId",
                              "Addresses.Address[].HealthTasks.HealthTask[].Port"],
    "DescribeCloudGtmAddressPool": ["AddressPoolId", "AddressPoolName", "AddressPoolType", "EnableStatus",
                                    "HealthJudgement", "AddressLbStrategy", "SequenceLbStrategyMode",
                                    "AvailableStatus", "HealthStatus", "Addresses.Address[].AddressId",
                                    "Addresses.Address[].WeightValue", "Addresses.Address[].SerialNumber",
                                    "Addresses.Address[].HealthTasks.HealthTask[].Port"],
    "ListCloudGtmAddressPools": ["AddressPools.AddressPool[].AddressPoolId",
                                 "AddressPools.AddressPool[].AddressPoolName",
                                 "AddressPools.AddressPool[].AddressPoolType",
                                 "AddressPools.AddressPool[].CreateTimestamp"],
    "ListCloudGtmInstanceConfigs": ["InstanceConfigs.InstanceConfig[].ConfigId",
                                    "InstanceConfigs.InstanceConfig[].InstanceId",
                                    "InstanceConfigs.InstanceConfig[].ScheduleZoneName",
                                    "InstanceConfigs.InstanceConfig[].ScheduleHostname",
                                    "InstanceConfigs.InstanceConfig[].ScheduleRrType",
                                    "InstanceConfigs.InstanceConfig[].CreateTimestamp"],
    "DescribeCloudGtmInstanceConfigFullInfo": [
        "ConfigId", "InstanceId", "ScheduleZoneName", "ScheduleHostname", "ScheduleRrType", "ScheduleDomainName",
        "Ttl", "EnableStatus", "AddressPoolLbStrategy", "SequenceLbStrategyMode", "AvailableStatus", "HealthStatus",
        "AlertConfig", "AlertGroup", "AddressPools.AddressPool[].AddressPoolId",
        "AddressPools.AddressPool[].WeightValue", "AddressPools.AddressPool[].SerialNumber",
        "AddressPools.AddressPool[].Addresses.Address[].Address",
        "AddressPools.AddressPool[].Addresses.Address[].AvailableStatus"],
    "DescribeCloudGtmInstanceConfigAlert": ["AlertMode", "AlertConfig.AlertConfig[].NoticeType",
                                            "AlertGroup.AlertGroup"],
    "CreateCloudGtmMonitorTemplate": ["TemplateId"], "CreateCloudGtmAddress": ["AddressId"],
    "CreateCloudGtmAddressPool": ["AddressPoolId"], "CreateCloudGtmInstanceConfig": ["ConfigId", "InstanceId"],
}


# SDK slips the service cannot follow: CreateCloudGtmInstanceConfigResponseBody types ConfigId as bool,
# while it is the id string (the SDK's own field comment, and TF uses it as the id).
SDK_SLIPS = {("CreateCloudGtmInstanceConfig", "ConfigId")}


def _present(data, parts):
    if not parts:
        return True
    head, rest = parts[0], parts[1:]
    key = head.removesuffix("[]")
    if not isinstance(data, dict) or key not in data:
        return False
    value = data[key]
    if head.endswith("[]"):
        return isinstance(value, list) and (not value or any(_present(v, rest) for v in value))
    return _present(value, rest)


def test_every_answer_fits_the_sdk_response_model_and_carries_what_the_collection_reads(lab, domain):
    rec = RecordingClient(config(lab))
    rec.list_cloud_gtm_monitor_nodes(d.ListCloudGtmMonitorNodesRequest())
    template = _template(rec, "shapes", interval=60)
    rec.describe_cloud_gtm_monitor_template(d.DescribeCloudGtmMonitorTemplateRequest(template_id=template))
    rec.list_cloud_gtm_monitor_templates(d.ListCloudGtmMonitorTemplatesRequest(page_number=1, page_size=100))
    address = _address(rec, "shapes", "127.0.0.7", template, 80, mode="manual")
    rec.describe_cloud_gtm_address(d.DescribeCloudGtmAddressRequest(address_id=address))
    rec.list_cloud_gtm_addresses(d.ListCloudGtmAddressesRequest(page_number=1, page_size=100))
    ids = _domain(rec, "shapes", [(address, 1)])
    rec.describe_cloud_gtm_address_pool(d.DescribeCloudGtmAddressPoolRequest(address_pool_id=ids["pool"]))
    rec.list_cloud_gtm_address_pools(d.ListCloudGtmAddressPoolsRequest(page_number=1, page_size=100))
    rec.update_cloud_gtm_instance_config_alert(d.UpdateCloudGtmInstanceConfigAlertRequest(
        config_id=ids["config"], instance_id=ids["instance"], alert_mode="instance_config", alert_group=["g"],
        alert_config=[d.UpdateCloudGtmInstanceConfigAlertRequestAlertConfig(notice_type="addr_alert",
                                                                            email_notice=True)]))
    for call in (rec.list_cloud_gtm_instance_configs(d.ListCloudGtmInstanceConfigsRequest(page_number=1,
                                                                                           page_size=100)),
                 rec.describe_cloud_gtm_instance_config_full_info(d.DescribeCloudGtmInstanceConfigFullInfoRequest(
                     config_id=ids["config"], instance_id=ids["instance"])),
                 rec.describe_cloud_gtm_instance_config_alert(d.DescribeCloudGtmInstanceConfigAlertRequest(
                     config_id=ids["config"], instance_id=ids["instance"])),
                 rec.list_cloud_gtm_instances(d.ListCloudGtmInstancesRequest()),
                 rec.describe_cloud_gtm_address_reference(d.DescribeCloudGtmAddressReferenceRequest(address_id=address)),
                 rec.describe_cloud_gtm_address_pool_reference(
                     d.DescribeCloudGtmAddressPoolReferenceRequest(address_pool_id=ids["pool"]))):
        assert call.body.request_id
    rec.update_cloud_gtm_address_manual_available_status(d.UpdateCloudGtmAddressManualAvailableStatusRequest(
        address_id=address, available_mode="auto"))
    problems = {}
    for action, bodies in rec.raw.items():
        model = contract.response_body_model("alidns", action)
        unknown = sorted({f"{where}: {problem}" for body in bodies
                          for where, problem in contract.shape_differences(model, body)
                          if (action, where) not in SDK_SLIPS})
        missing = [p for p in LAB_MUST_ANSWER.get(action, []) if not all(_present(b, p.split(".")) for b in bodies)]
        if unknown or missing:
            problems[action] = {"not as the model declares": unknown, "read but not answered": missing}
    assert set(LAB_MUST_ANSWER) <= set(rec.raw), set(LAB_MUST_ANSWER) - set(rec.raw)
    assert not problems, json.dumps(problems, indent=1)


def test_what_the_lab_must_answer_is_what_the_contract_table_says_the_modules_read():
    listed = {action: static.READ_PATHS[("alidns", action)] for product, action in static.READ_PATHS
              if product == "alidns"}
    for action, wanted in LAB_MUST_ANSWER.items():
        assert action in listed, action
        for path in wanted:
            assert static.sdk.covered("alidns", action, static.paths(path)[0], listed[action]), (action, path)


def test_the_shape_check_catches_planted_mistakes():
    full = contract.response_body_model("alidns", "DescribeCloudGtmInstanceConfigFullInfo")
    # a pool entry of FullInfo carries no Remark and its addresses no HealthTasks (what the lab used to send)
    planted = {"ConfigId": "c", "AddressPools": {"AddressPool": [{"AddressPoolId": "p", "Remark": "",
                                                                  "Addresses": {"Address": [{"HealthTasks": {}}]}}]}}
    assert [w for w, _ in contract.shape_differences(full, planted)] == [
        "AddressPools.AddressPool[0].Addresses.Address[0].HealthTasks", "AddressPools.AddressPool[0].Remark"]
    assert not _present({"Addresses": {"Address": [{"AddressId": "a"}]}}, ["Addresses", "Address[]", "WeightValue"])


def _dns_query(lab, name: str, rdtype: str, **make):
    import dns.message
    import dns.query

    topo = lab.topology
    return dns.query.udp(dns.message.make_query(name, rdtype, **make), topo["host"], port=topo["ports"]["dns"],
                         timeout=5)


def test_dns_answers_while_the_lab_main_loop_is_blocked(lab, domain):
    """GTM DNS runs on its own thread over a published snapshot: a main loop blocked for 3 s (what a long
    reconcile or a starved process does) still gets answers, and they are the pool's addresses."""
    import dns.exception
    import dns.rdatatype

    if "dataplane" not in lab.status()["components"]:
        pytest.skip("the data plane component (GTM DNS) is not in this build")
    stall: dict = {}
    blocker = threading.Thread(target=lambda: stall.update(lab.admin("stall", {"seconds": 3})))
    blocker.start()
    answered: list[tuple[float, set[str]]] = []
    try:
        while blocker.is_alive():
            try:
                reply = _dns_query(lab, domain["fqdn"], "A")
            except dns.exception.Timeout:
                continue
            addresses = {r.address for rrset in reply.answer if rrset.rdtype == dns.rdatatype.A for r in rrset}
            answered.append((time.monotonic(), addresses))
            time.sleep(0.05)
    finally:
        blocker.join(10)
    assert stall, "the stall route did not answer"
    during = [a for t, a in answered if stall["started"] <= t <= stall["ended"]]
    assert during, f"no DNS answer while the main loop was blocked ({len(answered)} answers in all)"
    assert all(a and a <= {"127.0.0.1", "127.0.0.2"} for a in during)


def test_dns_answers_what_resolvers_ask(lab, dns, domain):
    """RFC behaviour: NODATA for empty non-terminals, OPT in EDNS replies (and BADVERS), ANY, MX."""
    from dns import flags as dnsflags
    from dns import rcode as dnsrcode
    from dns import rdatatype as dnstype

    if "dataplane" not in lab.status()["components"]:
        pytest.skip("the data plane component (GTM DNS) is not in this build")
    added = [dns.add_domain_record(d.AddDomainRecordRequest(domain_name=ZONE, rr=rr, type=kind, value=value,
                                                            priority=priority, ttl=60)).body.record_id
             for rr, kind, value, priority in (("mx", "MX", f"mail.{ZONE}", 5), ("a.deep", "A", "127.0.0.9", None),
                                               ("mx", "TXT", "v=spf1 -all", None))]
    try:
        deadline = time.monotonic() + 10
        while not _dns_query(lab, f"mx.{ZONE}", "MX").answer:
            assert time.monotonic() < deadline, "records never reached the DNS"
            time.sleep(0.1)
        mx = _dns_query(lab, f"mx.{ZONE}", "MX")
        assert [(r.preference, r.exchange.to_text()) for r in mx.answer[0]] == [(5, f"mail.{ZONE}.")]

        # deep.<zone> holds nothing but a.deep.<zone> exists: NOERROR, no answer, SOA for negative caching
        ent = _dns_query(lab, f"deep.{ZONE}", "A")
        assert ent.rcode() == dnsrcode.NOERROR and not ent.answer
        assert ent.authority and ent.authority[0].rdtype == dnstype.SOA
        assert _dns_query(lab, f"nothing.deep.{ZONE}", "A").rcode() == dnsrcode.NXDOMAIN

        edns = _dns_query(lab, domain["fqdn"], "A", use_edns=0, payload=4096)
        assert edns.edns == 0 and 512 <= edns.payload <= 4096 and edns.answer
        plain = _dns_query(lab, domain["fqdn"], "A", use_edns=False)
        assert plain.edns == -1 and plain.answer
        assert _dns_query(lab, domain["fqdn"], "A", use_edns=1).rcode() == dnsrcode.BADVERS

        any_gtm = _dns_query(lab, domain["fqdn"], "ANY")
        assert any_gtm.rcode() == dnsrcode.NOERROR and {rs.rdtype for rs in any_gtm.answer} == {dnstype.A}
        any_mx = _dns_query(lab, f"mx.{ZONE}", "ANY")
        assert {rs.rdtype for rs in any_mx.answer} == {dnstype.MX, dnstype.TXT}
        apex = _dns_query(lab, ZONE, "ANY")
        assert {rs.rdtype for rs in apex.answer} >= {dnstype.SOA, dnstype.NS}
        assert apex.flags & dnsflags.AA
    finally:
        for record_id in added:
            dns.delete_domain_record(d.DeleteDomainRecordRequest(record_id=record_id))
