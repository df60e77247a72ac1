"""The readiness checks' judgements, one planted problem at a time."""

from __future__ import annotations

from ansible_collections.meshdr.alicloud.plugins.module_utils import readiness as rd

ROOT_A = "-----BEGIN CERTIFICATE-----\nMIIBaaaa\nbbbb\n-----END CERTIFICATE-----\n"
ROOT_B = "-----BEGIN CERTIFICATE-----\nMIIBcccc\ndddd\n-----END CERTIFICATE-----\n"


def vs(timeout=None, weight=100):
    route = {"destination": {"host": "productpage"}, "weight": weight}
    http = {"name": "productpage", "route": [route]}
    if timeout:
        http["timeout"] = timeout
    return {"kind": "VirtualService", "metadata": {"name": "bookinfo", "namespace": "bookinfo", "labels": {}},
            "spec": {"hosts": ["*"], "http": [http]}}


def region(name, weight=50, quota=100.0, max_replicas=3, **extra):
    return {"name": name, "weight": weight, "quota_rps": quota, "hpa_max_replicas": max_replicas, **extra}


def test_identical_objects_are_ready():
    objects = {"a": {"VirtualService bookinfo/bookinfo": vs()}, "b": {"VirtualService bookinfo/bookinfo": vs()}}
    assert rd.parity_check("mesh", "parity", objects, [], [])["status"] == rd.READY


def test_a_field_set_in_one_region_only_is_named_with_both_values():
    objects = {"a": {"VirtualService bookinfo/bookinfo": vs()},
               "b": {"VirtualService bookinfo/bookinfo": vs(timeout="7s")}}
    result = rd.parity_check("mesh", "parity", objects, [], [])
    assert result["status"] == rd.NOT_READY
    assert result["evidence"] == [{"object": "VirtualService bookinfo/bookinfo", "field": "spec.http[0].timeout",
                                   "values": {"a": None, "b": "7s"}, "intended": None}]


def test_a_declared_difference_is_listed_but_not_judged():
    objects = {"a": {"VirtualService bookinfo/bookinfo": vs(weight=90)},
               "b": {"VirtualService bookinfo/bookinfo": vs(weight=100)}}
    intended = [{"object": "VirtualService bookinfo/*", "path": "spec.http[*].route[*].weight", "reason": "canary"}]
    result = rd.parity_check("mesh", "parity", objects, intended, [])
    assert result["status"] == rd.READY and result["evidence"][0]["intended"] == "canary"
    # the declaration covers that field only
    other = {"a": {"VirtualService bookinfo/bookinfo": vs(weight=90, timeout="1s")},
             "b": {"VirtualService bookinfo/bookinfo": vs(weight=100)}}
    assert rd.parity_check("mesh", "parity", other, intended, [])["status"] == rd.NOT_READY


def test_an_object_missing_in_one_region():
    objects = {"a": {"VirtualService bookinfo/bookinfo": vs()}, "b": {}}
    result = rd.parity_check("mesh", "parity", objects, [], [])
    assert result["status"] == rd.NOT_READY
    assert result["evidence"][0]["values"] == {"a": "present", "b": "missing"}


def test_server_owned_and_per_region_fields_are_not_compared():
    a = {"kind": "IstioGateway", "metadata": {"name": "gw", "resourceVersion": "1", "uid": "x"},
         "spec": {"clusterIds": ["c1"], "replicaCount": 1}, "status": {"phase": "a"}}
    b = {"kind": "IstioGateway", "metadata": {"name": "gw", "resourceVersion": "9", "uid": "y"},
         "spec": {"clusterIds": ["c2"], "replicaCount": 1}, "status": {"phase": "b"}}
    assert rd.compare_objects({"a": {"k": a}, "b": {"k": b}}) == []


def test_unreadable_region_is_unknown_not_ready():
    result = rd.parity_check("mesh", "parity", {"a": {}, "b": {}}, [], ["mesh API of b: 401"])
    assert result["status"] == rd.UNKNOWN


def test_capacity_of_a_survivor_is_quota_times_hpa_maximum():
    regions = [region("a"), region("b", max_replicas=1)]
    checks = rd.capacity_checks(regions, {"a": 80.0, "b": 60.0})
    verdicts = {(c["evidence"][0]["survivor"], c["evidence"][0]["failed"]): c for c in checks}
    assert verdicts[("a", "b")]["status"] == rd.READY
    b_takes_over = verdicts[("b", "a")]
    assert b_takes_over["status"] == rd.NOT_READY and "HTTP 429" in b_takes_over["summary"]
    assert b_takes_over["evidence"][0]["load_after_failover_rps"] == 140.0
    assert b_takes_over["evidence"][0]["capacity_rps"] == 100.0


def test_a_failed_regions_traffic_is_shared_by_weight_among_survivors():
    regions = [region("a", weight=60), region("b", weight=20), region("c", weight=20)]
    checks = rd.capacity_checks(regions, {"a": 100.0, "b": 50.0, "c": 50.0})
    moved = {(c["evidence"][0]["survivor"], c["evidence"][0]["failed"]): c["evidence"][0]["traffic_moved_rps"]
             for c in checks}
    assert moved[("b", "a")] == 50.0 and moved[("c", "a")] == 50.0
    assert moved[("a", "b")] == 37.5 and moved[("c", "b")] == 12.5


def test_capacity_without_traffic_or_quota_is_unknown():
    assert {c["status"] for c in rd.capacity_checks([region("a"), region("b")], None)} == {rd.UNKNOWN}
    checks = rd.capacity_checks([region("a", quota=None), region("b")], {"a": 1, "b": 1})
    assert [c["status"] for c in checks if c["evidence"][0]["survivor"] == "a"] == [rd.UNKNOWN]


def test_limiter_quota_is_the_tightest_matching_config():
    limiter = {"spec": {"configs": [
        {"match": {"vhost": {"route": {"name_match": "productpage"}}},
         "limit": {"quota": 100, "fill_interval": {"seconds": 1}}},
        {"match": {"vhost": {"route": {"name_match": "api"}}}, "limit": {"quota": 5, "fill_interval": {"seconds": 60}}},
    ]}}
    assert rd.limiter_quota([limiter], "productpage") == 100.0
    assert round(rd.limiter_quota([limiter]), 4) == round(5 / 60, 4)


MONITOR = {"protocol": "http", "interval": 60, "evaluation_count": 2, "timeout_ms": 3000, "path": "/productpage"}


def test_gtm_window_is_interval_times_count_plus_timeout_plus_ttl():
    result = rd.gtm_timing_check({"1.1.1.1": MONITOR}, 30, {"max_error_window": 200})
    assert result["status"] == rd.READY and result["evidence"][0]["error_window_bound_s"] == 153.0
    slow = rd.gtm_timing_check({"1.1.1.1": MONITOR}, 30, {"max_error_window": 100})
    assert slow["status"] == rd.NOT_READY and "153.0 s > SLO 100.0 s" in slow["summary"]


def test_gtm_probing_only_a_port_or_nothing_is_not_ready():
    tcp = dict(MONITOR, protocol="tcp", path=None)
    assert "tcp only" in rd.gtm_timing_check({"1.1.1.1": tcp}, 30, {})["summary"]
    root = dict(MONITOR, path="/")
    assert rd.gtm_timing_check({"1.1.1.1": root}, 30, {})["status"] == rd.NOT_READY
    assert rd.gtm_timing_check({"1.1.1.1": None}, 30, {})["status"] == rd.NOT_READY
    assert rd.gtm_timing_check({}, 30, {})["status"] == rd.NOT_READY


def test_a_second_root_ca_is_not_ready():
    assert rd.trust_check({"a": ROOT_A, "b": ROOT_A})["status"] == rd.READY
    result = rd.trust_check({"a": ROOT_A, "b": ROOT_B})
    assert result["status"] == rd.NOT_READY and "2 different root CAs" in result["summary"]
    assert rd.trust_check({"a": ROOT_A, "b": None})["status"] == rd.UNKNOWN


def test_pool_must_hold_exactly_the_gateways():
    gateways = {"a": "10.0.0.1", "b": "10.0.0.2"}
    assert rd.pool_membership_check(gateways, {"10.0.0.1", "10.0.0.2"})["status"] == rd.READY
    missing = rd.pool_membership_check(gateways, {"10.0.0.1"})
    assert missing["status"] == rd.NOT_READY and "gateway of b (10.0.0.2)" in missing["summary"]
    stranger = rd.pool_membership_check(gateways, {"10.0.0.1", "10.0.0.2", "10.9.9.9"})
    assert stranger["status"] == rd.NOT_READY and "10.9.9.9" in stranger["summary"]


def test_state_of_gtm_and_gateways():
    assert rd.gtm_state_check({"1": "available", "2": "unavailable"})["status"] == rd.NOT_READY
    dep = {"status": {"availableReplicas": 1}}
    at_max = {"spec": {"maxReplicas": 3}, "status": {"currentReplicas": 3}}
    room = {"spec": {"maxReplicas": 3}, "status": {"currentReplicas": 1}}
    verdicts = [c["status"] for c in rd.gateway_state_checks([
        {"name": "a", "gateway_deployment": dep, "gateway_hpa": room},
        {"name": "b", "gateway_deployment": dep, "gateway_hpa": at_max},
        {"name": "c", "gateway_deployment": {"status": {}}, "gateway_hpa": room},
        {"name": "d", "gateway_deployment": None, "gateway_hpa": None}])]
    assert verdicts == [rd.READY, rd.NOT_READY, rd.NOT_READY, rd.NOT_READY]


def test_overall_verdict():
    ready = rd.check("x", "state", rd.READY, "")
    assert rd.overall([ready]) == rd.READY
    assert rd.overall([ready, rd.check("y", "gtm", rd.UNKNOWN, "")]) == rd.UNKNOWN
    assert rd.overall([ready, rd.check("y", "gtm", rd.UNKNOWN, ""), rd.check("z", "trust", rd.NOT_READY, "")]) \
        == rd.NOT_READY
    assert rd.overall([]) == rd.UNKNOWN
