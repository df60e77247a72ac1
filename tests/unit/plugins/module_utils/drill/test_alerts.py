"""Alert intervals from Prometheus' ALERTS series (query_range matrix)."""

from ansible_collections.meshdr.alicloud.plugins.module_utils.drill import alerts


def series(name, times, region="ap-southeast-1"):
    return {"metric": {"alertname": name, "alertstate": "firing", "region": region, "severity": "critical"},
            "values": [[t, "1"] for t in times]}


def test_one_run_fired_and_resolved():
    out = alerts.intervals([series("MeshdrGatewayNoReadyReplica", [100, 101, 102, 103])], 1.0, 200)
    assert out == [{"alertname": "MeshdrGatewayNoReadyReplica", "region": "ap-southeast-1", "severity": "critical",
                    "fired": 100, "resolved": 104}]


def test_still_firing_at_the_end_has_no_resolved_time():
    out = alerts.intervals([series("MeshdrGtmAddressUnavailable", [150, 151, 152])], 1.0, 152.5)
    assert out[0]["resolved"] is None


def test_a_gap_splits_two_firings_and_the_order_is_by_fire_time():
    out = alerts.intervals([series("B", [10, 11, 30, 31]), series("A", [20])], 1.0, 100)
    assert [(a["alertname"], a["fired"], a["resolved"]) for a in out] == [
        ("B", 10, 12), ("A", 20, 21), ("B", 30, 32)]


def test_nothing_fired():
    assert alerts.intervals([], 1.0, 100) == []
