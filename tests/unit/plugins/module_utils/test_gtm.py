"""Unit tests for the GTM helpers: API normalisation, change sets, ExtendInfo comparison, validation."""

import json

import pytest

from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm import common as gtm_common
from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm import domain as domain_util
from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm import monitor as monitor_util
from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm import pool as pool_util

# ListCloudGtmMonitorNodes node shape (SDK ListCloudGtmMonitorNodesResponseBodyIpv4IspCityNodesIpv4IspCityNode).
# GroupName is display text in the caller's language (the zh docs show "BGP节点", "国际节点"); only GroupType
# (BGP / ISP / OVERSEAS) decides the geography, so the names below are deliberately useless for that.
NODES = [
    {"CityCode": "503", "CityName": "Beijing", "IspCode": "465", "CountryName": "China",
     "GroupName": "BGP节点", "GroupType": "BGP", "EnableStatus": "enable"},
    {"CityCode": "503", "CityName": "Beijing", "IspCode": "1", "CountryName": "China",
     "GroupName": "运营商节点", "GroupType": "ISP", "EnableStatus": "enable"},
    {"CityCode": "357", "CityName": "Hangzhou", "IspCode": "465", "CountryName": "China",
     "GroupName": "BGP Nodes", "GroupType": "BGP", "EnableStatus": "enable"},
    {"CityCode": "600", "CityName": "Shanghai", "IspCode": "465", "CountryName": "China",
     "GroupName": "BGP Nodes", "GroupType": "BGP", "EnableStatus": "disable"},
    {"CityCode": "738", "CityName": "Singapore", "IspCode": "465", "CountryName": "Singapore",
     "GroupName": "国际节点", "GroupType": "OVERSEAS", "EnableStatus": "enable"},
    {"CityCode": "806", "CityName": "Frankfurt", "IspCode": "465", "CountryName": "China (mislabelled)",
     "GroupName": "Mainland China", "GroupType": "OVERSEAS", "EnableStatus": "enable"},
]

TEMPLATE_BODY = {
    "TemplateId": "mtp-1", "Name": "web", "Protocol": "http", "IpVersion": "IPv4", "Interval": 60,
    "Timeout": 5000, "EvaluationCount": 1, "FailureRate": 50,
    "IspCityNodes": {"IspCityNode": [{"CityCode": "357", "IspCode": "465", "CityName": "Hangzhou"},
                                     {"CityCode": "503", "IspCode": "465"}]},
    "ExtendInfo": json.dumps({"path": "/", "code": 500, "host": "www.example.com"}),
}


def template_params(**kw):
    params = dict(name="web", state="present", probe_protocol="http", ip_version=None, interval=None, timeout=None,
                  evaluation_count=None, failure_rate=None, probe_points=None, host=None, path=None, code=None,
                  sni=None, follow_redirect=None, packet_num=None, packet_loss_rate=None)
    params.update(kw)
    return params


# -- generic -----------------------------------------------------------------------------
def test_list_all_paginates_until_the_last_page():
    pages = {1: [{"n": i} for i in range(2)], 2: [{"n": 2}]}
    seen = []

    def call(action, **kw):
        seen.append((action, kw["PageNumber"], kw["Name"]))
        return {"Templates": {"Template": pages[kw["PageNumber"]]}, "TotalPages": 2}

    found = gtm_common.list_all(call, "ListCloudGtmMonitorTemplates", "Templates", "Template", page_size=2, Name="x")
    assert [f["n"] for f in found] == [0, 1, 2]
    assert seen == [("ListCloudGtmMonitorTemplates", 1, "x"), ("ListCloudGtmMonitorTemplates", 2, "x")]


def test_find_by_name_is_exact_and_refuses_duplicates():
    found = [{"Name": "web"}, {"Name": "web-2"}]
    assert gtm_common.find_by_name(found, "web", "Name", "template") == {"Name": "web"}
    assert gtm_common.find_by_name(found, "we", "Name", "template") is None
    with pytest.raises(ValueError, match="2 templates are named web"):
        gtm_common.find_by_name(found + [{"Name": "web"}], "web", "Name", "template")


def test_parse_json_tolerates_empty_and_garbage():
    assert gtm_common.parse_json('{"a": 1}') == {"a": 1}
    assert gtm_common.parse_json("") == {}
    assert gtm_common.parse_json("not json") == {}
    assert gtm_common.parse_json("[1]") == {}


# -- templates ---------------------------------------------------------------------------
def test_normalise_template():
    view = monitor_util.normalise_template(TEMPLATE_BODY)
    assert view["probe_points"] == [{"city_code": "357", "isp_code": "465"}, {"city_code": "503", "isp_code": "465"}]
    assert view["extend_info"] == {"path": "/", "code": 500, "host": "www.example.com"}
    assert monitor_util.normalise_template({}) is None


def test_pick_probe_points_follows_geography():
    mainland = monitor_util.pick_probe_points(NODES, "cn-hangzhou")
    # distinct cities first, disabled nodes never, then a second ISP in a city already chosen
    assert mainland == [{"city_code": "357", "isp_code": "465"}, {"city_code": "503", "isp_code": "1"},
                        {"city_code": "503", "isp_code": "465"}]
    overseas = monitor_util.pick_probe_points(NODES, "ap-southeast-1")
    assert overseas == [{"city_code": "738", "isp_code": "465"}, {"city_code": "806", "isp_code": "465"}]
    assert monitor_util.pick_probe_points(NODES, None) == mainland


def test_plan_template_create_applies_documented_defaults():
    points = [{"city_code": "1", "isp_code": "2"}]
    action, _changes, after = monitor_util.plan_template(template_params(path="/hz"), None, points)
    assert action == "create"
    assert after["interval"] == 60 and after["timeout"] == 5000 and after["ip_version"] == "IPv4"
    assert after["extend_info"] == {"path": "/hz", "code": 500}
    assert after["template_id"] is None
    request = monitor_util.template_request(after)
    assert json.loads(request["ExtendInfo"]) == {"path": "/hz", "code": 500}
    assert request["IspCityNodes"] == [{"CityCode": "1", "IspCode": "2"}]


def test_plan_template_compares_only_what_is_set():
    current = monitor_util.normalise_template(TEMPLATE_BODY)
    assert monitor_util.plan_template(template_params(), current, None)[0] == "none"
    # ExtendInfo compared key by key: an unmentioned key (host) is neither compared nor dropped
    action, changes, after = monitor_util.plan_template(template_params(code=400, interval=60), current, None)
    assert (action, changes) == ("update", ["extend_info.code"])
    assert after["extend_info"] == {"path": "/", "code": 400, "host": "www.example.com"}
    # probe points compare as a set
    same = [{"city_code": "503", "isp_code": "465"}, {"city_code": "357", "isp_code": "465"}]
    assert monitor_util.plan_template(template_params(probe_points=same), current, None)[0] == "none"
    action, changes, _after = monitor_util.plan_template(template_params(probe_points=same[:1], failure_rate=80),
                                                         current, None)
    assert changes == ["failure_rate", "probe_points"]


def test_immutable_template_fields():
    current = monitor_util.normalise_template(TEMPLATE_BODY)
    assert monitor_util.immutable_template_errors(template_params(probe_protocol="tcp"), current)
    assert not monitor_util.immutable_template_errors(template_params(), current)
    assert not monitor_util.immutable_template_errors(template_params(probe_protocol="tcp"), None)


@pytest.mark.parametrize("kw, fragment", [
    (dict(probe_protocol="tcp", path="/x"), "path applies to protocol http/https"),
    (dict(probe_protocol="http", packet_num=3), "packet_num applies to protocol ping"),
    (dict(probe_protocol="http", sni=True), "sni applies to protocol https"),
    # the real sets (SDK field comments, TF resource_alicloud_alidns_cloud_gtm_monitor_template.go)
    (dict(interval=0), "interval must be one of 15, 60, 300, 900, 1800, 3600"),
    (dict(interval=30), "interval must be one of"),
    (dict(interval=2), "lab_short_intervals=true allows 1-14 s on drlab only"),
    (dict(interval=30, lab_short_intervals=True), "interval must be one of"),
    (dict(timeout=4000), "timeout must be one of 2000, 3000, 5000, 10000"),
    (dict(timeout=500), "lab_short_intervals=true allows 500 or 1000 ms"),
    (dict(interval=1, timeout=2000, lab_short_intervals=True), "must not exceed interval"),
    (dict(probe_protocol="ping", packet_num=30), "packet_num must be one of 20, 50, 100"),
    (dict(probe_protocol="ping", packet_loss_rate=50), "packet_loss_rate must be one of 10, 30, 40, 80, 90, 100"),
    (dict(path="x"), "path must start with '/'"),
    (dict(probe_points=[]), "at least one probe point"),
    (dict(probe_points=[{"city_code": "", "isp_code": "1"}]), "needs city_code and isp_code"),
])
def test_validate_template_refuses(kw, fragment):
    errors = monitor_util.template_problems(template_params(**kw))
    assert any(fragment in e for e in errors), errors


def test_validate_template_accepts_good_input_and_absent():
    assert monitor_util.template_problems(template_params(probe_protocol="https", sni=True, path="/", code=400)) == []
    assert monitor_util.template_problems(template_params(state="absent", path="bad")) == []


# -- pools and addresses ---------------------------------------------------------------------
POOL_BODY = {
    "AddressPoolId": "pool-1", "AddressPoolName": "web", "AddressPoolType": "IPv4", "EnableStatus": "enable",
    "HealthJudgement": "any_ok", "AddressLbStrategy": "weight", "SequenceLbStrategyMode": "preemptive",
    "AvailableStatus": "available", "HealthStatus": "ok",
    "Addresses": {"Address": [
        {"AddressId": "addr-2", "Name": "b", "Address": "10.0.0.2", "Type": "IPv4", "EnableStatus": "enable",
         "AvailableMode": "manual", "ManualAvailableStatus": "unavailable", "HealthJudgement": "any_ok",
         "HealthTasks": {"HealthTask": [{"TemplateId": "mtp-1", "Port": 80}]}, "WeightValue": 50,
         "SerialNumber": 2, "AvailableStatus": "unavailable", "HealthStatus": "ok",
         "Remark": "meshdr.alicloud:pool=web"},
        {"AddressId": "addr-1", "Name": "a", "Address": "10.0.0.1", "Type": "IPv4", "EnableStatus": "enable",
         "AvailableMode": "auto", "ManualAvailableStatus": "", "HealthJudgement": "any_ok",
         "HealthTasks": {"HealthTask": [{"TemplateId": "mtp-1", "Port": 80}]}, "WeightValue": 50,
         "SerialNumber": 1, "AvailableStatus": "available", "HealthStatus": "ok",
         "Remark": "meshdr.alicloud:pool=web"},
    ]},
}


def address_spec(name, address, **kw):
    spec = dict(name=name, address=address, type=None, weight=None, serial_number=None, enabled=None,
                available_mode=None, manual_status=None, health_judgement=None, health_tasks=None)
    spec.update(kw)
    return spec


def pool_state():
    pool = pool_util.normalise_pool(POOL_BODY)
    owned = [dict(a, weight=None, serial_number=None) for a in pool["addresses"]]
    return pool, pool_util.merge_membership(owned, pool["addresses"])


def test_normalise_pool_sorts_members_and_hides_manual_status_in_auto_mode():
    pool = pool_util.normalise_pool(POOL_BODY)
    assert [a["name"] for a in pool["addresses"]] == ["a", "b"]
    assert pool["addresses"][0]["manual_status"] is None
    assert pool["addresses"][1]["manual_status"] == "unavailable"
    assert pool["addresses"][0]["health_tasks"] == [{"template_id": "mtp-1", "port": 80}]
    assert pool["addresses"][0]["weight"] == 50
    view = pool_util.managed_pool_view(pool)
    assert "available_status" not in view and "health_status" not in view["addresses"][0]


def test_owner_remark_round_trip():
    assert pool_util.owner_of(pool_util.owner_remark("web")) == "web"
    assert pool_util.owner_of("something else") is None
    assert pool_util.owner_of(None) is None


def test_plan_addresses_no_change_when_only_unset_fields_differ():
    pool, owned = pool_state()
    desired = [pool_util.desired_address(address_spec("a", "10.0.0.1"), 1, "IPv4", {}),
               pool_util.desired_address(address_spec("b", "10.0.0.2", available_mode="manual",
                                                      manual_status="unavailable"), 2, "IPv4", {})]
    plan = pool_util.plan_addresses(desired, owned, pool["addresses"])
    assert plan["changes"] == [] and not plan["replace"]
    assert [a["weight"] for a in plan["after"]] == [50, 50]  # unset weight keeps the member's weight


def test_plan_addresses_one_weight_change_is_exactly_a_membership_replace():
    pool, owned = pool_state()
    desired = [pool_util.desired_address(address_spec("a", "10.0.0.1", weight=80), 1, "IPv4", {}),
               pool_util.desired_address(address_spec("b", "10.0.0.2"), 2, "IPv4", {})]
    plan = pool_util.plan_addresses(desired, owned, pool["addresses"])
    assert plan["changes"] == ["addresses.a.weight", "membership"]
    assert plan["update"] == [] and plan["create"] == [] and plan["delete"] == []
    request = pool_util.members_request(plan["after"])
    assert request == [{"AddressId": "addr-1", "WeightValue": 80, "SerialNumber": 1, "RequestSource": ["default"]},
                       {"AddressId": "addr-2", "WeightValue": 50, "SerialNumber": 2, "RequestSource": ["default"]}]


def test_plan_addresses_create_update_delete():
    pool, owned = pool_state()
    desired = [pool_util.desired_address(address_spec("a", "10.0.0.9", available_mode="manual",
                                                      manual_status="unavailable",
                                                      health_tasks=[{"template": "web-http", "port": 8080}]),
                                         1, "IPv4", {"web-http": "mtp-7"}),
               pool_util.desired_address(address_spec("c", "10.0.0.3", weight=10), 2, "IPv4", {})]
    plan = pool_util.plan_addresses(desired, owned, pool["addresses"])
    assert plan["changes"] == ["addresses.a.address", "addresses.a.available_mode", "addresses.a.health_tasks",
                               "addresses.a.manual_status", "addresses.c: create", "addresses.b: delete",
                               "membership"]
    (have, after, fields), = plan["update"]
    calls = pool_util.address_update_calls(have, after, fields)
    assert [c[0] for c in calls] == ["UpdateCloudGtmAddress", "UpdateCloudGtmAddressManualAvailableStatus"]
    assert calls[0][1]["HealthTasks"] == [{"TemplateId": "mtp-7", "Port": 8080}]
    assert calls[1][1] == {"AddressId": "addr-1", "AvailableMode": "manual", "ManualAvailableStatus": "unavailable"}
    assert after["available_status"] == "unavailable"
    created = plan["create"][0]
    assert created["address_id"] is None and created["enabled"] is True and created["weight"] == 10
    request = pool_util.address_create_request(created, "web")
    assert request["Remark"] == "meshdr.alicloud:pool=web" and request["HealthTasks"] == []
    assert "ManualAvailableStatus" not in request
    assert [a["name"] for a in plan["delete"]] == ["b"]


def test_back_to_auto_clears_manual_status():
    pool, owned = pool_state()
    desired = [pool_util.desired_address(address_spec("a", "10.0.0.1"), 1, "IPv4", {}),
               pool_util.desired_address(address_spec("b", "10.0.0.2", available_mode="auto"), 2, "IPv4", {})]
    plan = pool_util.plan_addresses(desired, owned, pool["addresses"])
    (have, after, fields), = plan["update"]
    assert fields == ["available_mode", "manual_status"]
    assert pool_util.address_update_calls(have, after, fields) == [
        ("UpdateCloudGtmAddressManualAvailableStatus", {"AddressId": "addr-2", "AvailableMode": "auto"})]
    assert after["manual_status"] is None


def test_resolve_template_by_id_or_name():
    templates = [{"TemplateId": "mtp-1", "Name": "web"}, {"TemplateId": "mtp-2", "Name": "dup"},
                 {"TemplateId": "mtp-3", "Name": "dup"}]
    assert pool_util.resolve_template("mtp-1", templates) == "mtp-1"
    assert pool_util.resolve_template("web", templates) == "mtp-1"
    with pytest.raises(ValueError, match="ambiguous"):
        pool_util.resolve_template("dup", templates)
    with pytest.raises(ValueError, match="does not exist"):
        pool_util.resolve_template("nope", templates)


def pool_params(addresses, **kw):
    params = dict(name="web", state="present", type=None, addresses=addresses)
    params.update(kw)
    return params


@pytest.mark.parametrize("params, fragment", [
    (pool_params([address_spec("a", "1.2.3")]), "is not an IPv4 address"),
    (pool_params([address_spec("a", "01.2.3.4")]), "is not an IPv4 address"),
    (pool_params([address_spec("a", "fe80::1", type="IPv6")]), "does not match the pool type IPv4"),
    (pool_params([address_spec("a", "10.0.0.1")], type="IPv6"), "is not an IPv6 address"),
    (pool_params([address_spec("a", "no spaces.com")], type="domain"), "is not a domain name"),
    (pool_params([address_spec("a", "10.0.0.1", weight=0)]), "weight must be between 1 and 100"),
    (pool_params([address_spec("a", "10.0.0.1"), address_spec("a", "10.0.0.2")]), "listed more than once"),
    (pool_params([address_spec("a", "10.0.0.1", health_tasks=[{"template": "t", "port": 0}])]), "1-65535"),
])
def test_validate_pool_refuses(params, fragment):
    errors = pool_util.pool_problems(params)
    assert any(fragment in e for e in errors), errors


def test_validate_pool_accepts():
    assert pool_util.pool_problems(pool_params([address_spec("a", "10.0.0.1", weight=100)])) == []
    assert pool_util.pool_problems(pool_params([address_spec("a", "www.example.com")], type="domain")) == []
    assert pool_util.pool_problems(pool_params([address_spec("a", "2001:db8::1")], type="IPv6")) == []
    assert pool_util.pool_problems(pool_params(None)) == []


# -- access domains -------------------------------------------------------------------------
FULL_INFO = {
    "ConfigId": "config-1", "InstanceId": "gtm-1", "ScheduleZoneName": "example.com", "ScheduleHostname": "gtm",
    "ScheduleRrType": "A", "ScheduleDomainName": "gtm.example.com", "Ttl": 30, "EnableStatus": "enable",
    "AddressPoolLbStrategy": "weight", "SequenceLbStrategyMode": "preemptive", "AvailableStatus": "available",
    "HealthStatus": "ok_alert",
    "AlertGroup": '["oncall"]', "AlertConfig": '[{"NoticeType": "addr_alert", "EmailNotice": true}]',
    "AddressPools": {"AddressPool": [dict(POOL_BODY, WeightValue=1, SerialNumber=1)]},
}


def domain_params(**kw):
    params = dict(zone="example.com", hostname="gtm", rr_type="A", state="present", ttl=None, enabled=None,
                  charge_type="postpay", instance_id=None, pools=None, lb_strategy=None, sequence_mode=None,
                  alert=None, business_record=None)
    params.update(kw)
    return params


def test_normalise_domain_and_summary():
    domain = domain_util.normalise_domain(FULL_INFO)
    assert domain["fqdn"] == "gtm.example.com" and domain["ttl"] == 30
    notice = {"type": "addr_alert", "email": True, "sms": False, "dingtalk": False}
    assert domain["alert"] == {"groups": ["oncall"], "notices": [notice]}
    assert domain["pools"][0]["weight"] == 1 and len(domain["pools"][0]["addresses"]) == 2
    # b is manually unavailable: not serving; a serves
    expected = {"serving": ["10.0.0.1"], "not_serving": ["10.0.0.2"], "all_available": False}
    assert domain_util.summarise(domain) == expected
    assert domain_util.summarise(dict(domain, enabled=False))["serving"] == []
    assert domain_util.summarise(None) == {"serving": [], "not_serving": [], "all_available": False}
    assert domain_util.normalise_domain({}) is None


def test_unwrap_list_accepts_every_wire_shape():
    assert domain_util.unwrap_list('["a"]', "AlertGroup") == ["a"]
    assert domain_util.unwrap_list({"AlertGroup": ["a"]}, "AlertGroup") == ["a"]
    assert domain_util.unwrap_list(["a"], "AlertGroup") == ["a"]
    assert domain_util.unwrap_list("", "AlertGroup") == []
    assert domain_util.unwrap_list(None, "AlertGroup") == []


def test_plan_domain_only_set_fields_and_binding_changes():
    current = domain_util.normalise_domain(FULL_INFO)
    assert domain_util.plan_domain(domain_params(), current, {})[0] == []
    params = domain_params(ttl=30, pools=[{"name": "web", "weight": None, "serial_number": None}])
    assert domain_util.plan_domain(params, current, {"web": "pool-1"})[0] == []
    changes, after = domain_util.plan_domain(domain_params(ttl=10, lb_strategy="sequence",
                                                           pools=[{"name": "web", "weight": 5, "serial_number": None}]),
                                             current, {"web": "pool-1"})
    assert changes == ["ttl", "lb_strategy", "pools"]
    assert after["pools"] == [{"pool_id": "pool-1", "name": "web", "weight": 5, "serial_number": 1}]


def test_plan_alert():
    current = {"AlertMode": "instance_config", "AlertGroup": {"AlertGroup": ["oncall"]},
               "AlertConfig": {"AlertConfig": [{"NoticeType": "addr_alert", "EmailNotice": True}]}}
    same = dict(mode="instance_config", notices=[dict(type="addr_alert", email=True, sms=False, dingtalk=False)],
                groups=["oncall"])
    assert domain_util.plan_alert(same, current)[0] is False
    assert domain_util.plan_alert(dict(mode="instance_config", notices=None, groups=None), current)[0] is False
    changed, request, after = domain_util.plan_alert(dict(same, groups=["oncall", "sre"]), current)
    assert changed and request["AlertGroup"] == ["oncall", "sre"]
    assert request["AlertConfig"] == [{"NoticeType": "addr_alert", "EmailNotice": True, "SmsNotice": False,
                                       "DingtalkNotice": False}]
    assert domain_util.plan_alert(same, None)[0] is True


@pytest.mark.parametrize("kw, fragment", [
    (dict(ttl=0), "ttl must be between 1 and 86400"),
    (dict(instance_id="gtm-1"), "only for charge_type=prepay"),
    (dict(hostname="gtm.example.com"), "host part inside zone"),
    (dict(hostname="gtm."), "host part inside zone"),
    (dict(pools=[{"name": "a"}, {"name": "a"}]), "listed more than once"),
    (dict(pools=[{"name": "a", "weight": 101}]), "weight must be between 1 and 100"),
    (dict(business_record={"zone": "example.com", "rr": "gtm", "ttl": 600}), "not be the access domain itself"),
    (dict(business_record={"zone": "example.com", "rr": "www", "ttl": 0}), "business_record.ttl"),
    (dict(alert={"notices": [{"type": "addr_alert"}, {"type": "addr_alert"}]}), "listed more than once"),
])
def test_validate_domain_refuses(kw, fragment):
    errors = domain_util.domain_problems(domain_params(**kw))
    assert any(fragment in e for e in errors), errors


def test_validate_domain_accepts():
    assert domain_util.domain_problems(domain_params(hostname="@", ttl=1)) == []
    record = {"zone": "example.com", "rr": "www", "ttl": 60}
    assert domain_util.domain_problems(domain_params(business_record=record)) == []


def test_disable_an_address_and_pool_settings():
    pool, owned = pool_state()
    desired = [pool_util.desired_address(address_spec("a", "10.0.0.1", enabled=False), 1, "IPv4", {}),
               pool_util.desired_address(address_spec("b", "10.0.0.2"), 2, "IPv4", {})]
    plan = pool_util.plan_addresses(desired, owned, pool["addresses"])
    (have, after, fields), = plan["update"]
    assert pool_util.address_update_calls(have, after, fields) == [
        ("UpdateCloudGtmAddressEnableStatus", {"AddressId": "addr-1", "EnableStatus": "disable"})]
    assert not plan["replace"]
    params = dict(health_judgement="all_ok", enabled=None, lb_strategy="sequence", sequence_mode=None)
    assert pool_util.plan_pool_settings(params, pool) == ["health_judgement", "lb_strategy"]
    assert pool_util.plan_pool_settings(dict(params, health_judgement=None, lb_strategy="weight"), pool) == []


@pytest.mark.parametrize("interval, timeout, lab", [(15, 2000, False), (3600, 10000, False), (60, 5000, False),
                                                    (2, 2000, True), (1, 500, True), (60, 1000, True)])
def test_validate_template_accepts_the_real_sets_and_lab_values_only_with_the_lab_option(interval, timeout, lab):
    params = template_params(interval=interval, timeout=timeout, lab_short_intervals=lab)
    assert monitor_util.template_problems(params) == []


def test_real_and_lab_interval_sets_match_the_sdk_and_drlab():
    # drlab's sets are the lab's contract; the module's lab option must accept exactly what drlab does
    from drlab.cloud import gtm as lab_gtm
    assert monitor_util.INTERVALS == lab_gtm.INTERVALS and monitor_util.TIMEOUTS == lab_gtm.TIMEOUTS
    assert monitor_util.LAB_INTERVALS == lab_gtm.LAB_INTERVALS and monitor_util.LAB_TIMEOUTS == lab_gtm.LAB_TIMEOUTS


def test_settle_keeps_the_oldest_namesake_so_concurrent_runs_agree():
    mine = {"TemplateId": "mtp-2", "CreateTimestamp": 2000}
    theirs = {"TemplateId": "mtp-1", "CreateTimestamp": 1000}
    # the run that created the younger one deletes its own and uses the older one ...
    assert gtm_common.settle([mine, theirs], "mtp-2", "TemplateId") == ("mtp-1", ["mtp-2"])
    # ... the run that created the older one keeps it and deletes nothing, whatever order the List gives
    assert gtm_common.settle([theirs, mine], "mtp-1", "TemplateId") == ("mtp-1", [])
    # alone (the common case), or when the List does not show our create yet: keep ours
    assert gtm_common.settle([mine], "mtp-2", "TemplateId") == ("mtp-2", [])
    assert gtm_common.settle([], "mtp-2", "TemplateId") == ("mtp-2", [])
    # same millisecond: the id decides, the same way for both runs
    a, b = {"AddressId": "addr-b", "CreateTimestamp": 5}, {"AddressId": "addr-a", "CreateTimestamp": 5}
    assert gtm_common.settle([a, b], "addr-b", "AddressId") == ("addr-a", ["addr-b"])
    assert gtm_common.settle([b, a], "addr-a", "AddressId") == ("addr-a", [])


def test_one_client_token_is_reused_by_every_retry_of_one_create():
    """The service de-duplicates a repeat by its ClientToken (SDK field comment), so every retry of one logical
    create must carry the same token: AlibabaCloudModule.call builds the SDK request once and resends it."""
    from ansible_collections.meshdr.alicloud.plugins.module_utils import alicloud

    seen = []

    class Client:
        def create_cloud_gtm_address_with_options(self, request, runtime):
            seen.append(request.client_token)
            if len(seen) < 3:
                raise ConnectionResetError('reset after the request was sent')

            class Body:
                @staticmethod
                def to_map():
                    return {'AddressId': 'addr-1'}

            class Response:
                body = Body()
            return Response()

    module = object.__new__(alicloud.AlibabaCloudModule)
    module._module = object()  # no AnsibleModule: call() needs only the clients and params
    module._clients = {'alidns': Client()}
    module.params = dict(api_retries=5, api_retry_max_time=30.0)
    module.api_calls, module.adopted, module.read_only = [], [], False
    token = alicloud.client_token()
    body = module.call('alidns', 'CreateCloudGtmAddress', Name='a', Address='192.0.2.1', Type='IPv4',
                       EnableStatus='enable', AvailableMode='auto', HealthJudgement='any_ok', ClientToken=token)
    assert body == {'AddressId': 'addr-1'}
    assert seen == [token, token, token]


# -- input rules (issue 14) ---------------------------------------------------------------------

@pytest.mark.parametrize("value, ok", [
    ("www", True), ("a-b.c1", True), ("1abc", True), ("*.gtm", True), ("@", True),
    ("a/b<c>", False), ("-a", False), ("a-", False), ("a..b", False), ("h" * 64, False), ("a b", False), ("", False),
])
def test_hostnames_follow_rfc_1123(value, ok):
    assert (gtm_common.hostname_error(value, wildcard=True, apex=True) is None) is ok


@pytest.mark.parametrize("kind, value, ok", [
    ("IPv4", "10.0.0.1", True), ("IPv4", "10.0.0.256", False), ("IPv4", "010.0.0.1", False),
    ("IPv6", "2001:db8::1", True), ("IPv6", "fe80::1::2", False), ("IPv6", "10.0.0.1", False),
    ("domain", "app.example.com", True), ("domain", "a/b.example.com", False), ("domain", "localhost", False),
])
def test_addresses_are_parsed_as_their_kind(kind, value, ok):
    assert (pool_util.address_value_error(kind, value) is None) is ok


def test_a_pool_lists_every_problem_once_each():
    errors = pool_util.pool_problems({"state": "present", "name": "p", "type": "IPv6", "addresses": [
        {"name": "a", "address": "2001:db8::1"}, {"name": "b", "address": "2001:DB8:0::1", "weight": 0}]})
    assert errors == ["address 2001:db8::1 is listed more than once (each address may be in a pool once)",
                      "addresses[2] (b): weight must be between 1 and 100, got 0"]
    assert pool_util.pool_problems({"state": "present", "name": "p", "addresses": []})[0].startswith(
        "addresses, when given, must list at least one address")
