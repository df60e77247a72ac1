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


def test_the_report_puts_alerts_on_the_timeline_and_times_the_first_after_the_fault(tmp_path):
    from ansible_collections.meshdr.alicloud.plugins.module_utils.drill import report

    start = 1000.0
    records = [{'t': i * 0.1, 'address': '10.0.0.1', 'status': 200, 'latency': 0.01, 'attempts': 1}
               for i in range(100)]
    results = {'start_epoch': start, 'end_epoch': start + 10, 'records': records, 'options': {'duration': 10}}
    fired = [{'alertname': 'MeshdrGatewayRateLimited', 'region': 'a', 'severity': 'warning', 'fired': start + 1,
              'resolved': start + 2},
             {'alertname': 'MeshdrGatewayNoReadyReplica', 'region': 'b', 'severity': 'critical', 'fired': start + 6.5,
              'resolved': None}]
    out = report.produce(results, str(tmp_path), run_id='t', fault_time=start + 5, fault_address='10.0.0.2',
                         alerts=fired, formats=['json', 'markdown', 'png'])
    assert out['summary']['time_to_alert'] == 1.5 and out['summary']['first_alert'] == 'MeshdrGatewayNoReadyReplica'
    names = [(e['name'], e['t']) for e in out['events'] if e['name'].startswith('alert_')]
    assert ('alert_fired', start + 6.5) in names and ('alert_resolved', start + 2.0) in names
    markdown = (tmp_path / 't-report.md').read_text()
    assert 'Time to alert: 1.50 s (MeshdrGatewayNoReadyReplica)' in markdown
    # no Prometheus given: nothing said about alerts
    plain = report.produce(results, str(tmp_path), run_id='u', fault_time=start + 5, fault_address='10.0.0.2',
                           formats=['markdown'])
    assert plain['summary']['time_to_alert'] is None
    assert 'Time to alert' not in (tmp_path / 'u-report.md').read_text()
