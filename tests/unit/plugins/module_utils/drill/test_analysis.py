import pytest

from ansible_collections.meshdr.alicloud.plugins.module_utils.drill import analysis

from .synthetic import REGIONS, A, B, drill_records, gtm_polls

SLOS_OK = {'max_error_rate': 0.05, 'max_time_to_detect': 5, 'max_time_to_recover': 10,
           'min_success_rate_after_failover': 0.99, 'max_error_window': 5}


@pytest.fixture(scope='module')
def result():
    return analysis.analyze(drill_records(), t0=20.0, gtm_observations=gtm_polls(), dns_ttl=1.0,
                            duration=60, regions=REGIONS)


def test_totals_and_classes(result):
    assert result['requests'] == 6000
    assert result['errors'] == 150  # half of the 300 requests of [20, 23) went to A
    assert result['error_rate'] == pytest.approx(150 / 6000)
    assert result['errors_by_class'] == {'refused': 150}
    assert result['errors_by_address'] == {A: 150}


def test_fault_address_inferred_detect_and_window(result):
    assert result['fault_address'] == A and result['fault_address_inferred']
    assert result['t_detect'] == 22.0
    assert result['time_to_detect'] == pytest.approx(2.0)
    assert result['t_available_again'] == 50.0
    assert result['first_error'] == 20.0
    assert result['last_error'] == pytest.approx(22.98)
    assert result['error_window'] == pytest.approx(2.98)
    assert result['error_seconds'] == 3
    assert result['errors_on_other_addresses'] == 0


def test_recovery_exactly_at_the_end_of_the_error_window(result):
    assert result['t_recover'] == 23.0
    assert result['time_to_recover'] == pytest.approx(3.0)
    assert result['recovered'] is True


def test_failover_point_and_success_after(result):
    assert result['failover_point'] == pytest.approx(23.0)  # detect 22 + TTL 1
    assert result['success_rate_after_failover'] == 1.0
    assert result['p99_latency_ms_after_failover'] == pytest.approx(2.0)


def test_phases_split_by_region(result):
    before, during, after = (result['phases'][p] for p in ('before', 'during', 'after'))
    assert (before['from'], before['to']) == (0.0, 20.0)
    assert before['total'] == 2000 and before['errors'] == 0
    assert before['by_address'] == {A: {'total': 1000, 'ok': 1000, 'errors': 0},
                                    B: {'total': 1000, 'ok': 1000, 'errors': 0}}
    assert before['by_region'] == {'region-a': {'entered': 1000, 'served': 1000, 'errors': 0},
                                   'region-b': {'entered': 1000, 'served': 1000, 'errors': 0}}
    assert (during['from'], during['to']) == (20.0, 23.0)
    assert during['total'] == 300 and during['errors'] == 150 and during['error_rate'] == 0.5
    assert after['by_address'] == {B: {'total': 3700, 'ok': 3700, 'errors': 0}}
    assert after['by_cluster'] == {'cluster-2': 3700}


def test_timeline_per_second_by_address_and_outcome(result):
    tl = result['timeline']
    assert len(tl) == 60
    assert tl[19]['by_address'] == {A: {'200': 50}, B: {'200': 50}}
    assert tl[21]['by_address'] == {A: {'refused': 50}, B: {'200': 50}}
    assert tl[21]['outcomes'] == {'refused': 50, '200': 50}
    assert tl[30]['by_address'] == {B: {'200': 100}} and tl[30]['by_cluster'] == {'cluster-2': 100}


def test_verdict_pass():
    out = analysis.analyze(drill_records(), t0=20.0, gtm_observations=gtm_polls(), dns_ttl=1.0, duration=60)
    v = analysis.verdict(out, SLOS_OK)
    assert v['overall'] == 'PASS' and v['passed'] and not v['reasons']
    assert [s['name'] for s in v['slos']] == ['max_error_rate', 'max_time_to_detect', 'max_time_to_recover',
                                              'min_success_rate_after_failover', 'max_error_window']


@pytest.mark.parametrize('slos,failing', [
    ({'max_error_rate': 0.01}, 'max_error_rate'),          # 2.5 % measured
    ({'max_time_to_detect': 1.5}, 'max_time_to_detect'),   # 2.0 s measured
    ({'max_time_to_recover': 2.5}, 'max_time_to_recover'),  # 3.0 s measured
    ({'max_error_window': 2.0}, 'max_error_window'),       # 2.98 s measured
])
def test_verdict_fail_names_the_slo(slos, failing):
    out = analysis.analyze(drill_records(), t0=20.0, gtm_observations=gtm_polls(), dns_ttl=1.0, duration=60)
    v = analysis.verdict(out, dict(SLOS_OK, **slos))
    assert v['overall'] == 'FAIL'
    assert [s['name'] for s in v['slos'] if not s['passed']] == [failing]
    assert v['reasons'][0].startswith(failing)


def test_not_detected_and_not_recovered_fail_with_notes():
    # Errors on A never stop and GTM never marks A down.
    recs = drill_records(error_seconds=100)
    obs = [o for o in gtm_polls() if o['address'] == B]
    out = analysis.analyze(recs, t0=20.0, fault_address=A, gtm_observations=obs, duration=60)
    assert out['time_to_detect'] is None and out['t_recover'] is None and out['recovered'] is False
    assert out['failover_point'] == 20.0
    assert out['success_rate_after_failover'] == pytest.approx(0.5)
    v = analysis.verdict(out, SLOS_OK)
    failed = dict((s['name'], s) for s in v['slos'] if not s['passed'])
    assert set(failed) == {'max_error_rate', 'max_time_to_detect', 'max_time_to_recover',
                           'min_success_rate_after_failover', 'max_error_window'}
    assert 'GTM' in failed['max_time_to_detect']['note']


def test_no_errors_recovers_at_t0():
    # multi-address: the fault produces no error at all.
    recs = drill_records(error_seconds=0)
    out = analysis.analyze(recs, t0=20.4, fault_address=A, gtm_observations=gtm_polls(), duration=60)
    assert out['errors'] == 0 and out['error_window'] == 0.0
    assert out['t_recover'] == 20.4 and out['time_to_recover'] == 0.0
    assert analysis.verdict(out, SLOS_OK)['overall'] == 'PASS'


def test_recovery_threshold_tolerates_stray_errors():
    recs = drill_records()
    recs[4000]['status'], recs[4000]['error'] = 503, None  # one 503 at t=40.0: 1 % of that second
    out = analysis.analyze(recs, t0=20.0, duration=60, recovery_error_rate=0.01)
    assert out['t_recover'] == 23.0
    assert out['errors_by_class'] == {'refused': 150, 'http_503': 1}
    strict = analysis.analyze(recs, t0=20.0, duration=60, recovery_error_rate=0.0)
    assert strict['t_recover'] == 41.0


def test_abort_conditions():
    tl = analysis.timeline(drill_records(), duration=60)
    assert analysis.evaluate_abort(tl, error_rate=0.4, for_seconds=3)['at'] == 23
    assert not analysis.evaluate_abort(tl, error_rate=0.4, for_seconds=4)['triggered']
    assert not analysis.evaluate_abort(tl, error_rate=0.5, for_seconds=1)['triggered']  # "above" is strict
    long_run = analysis.evaluate_abort(tl, max_duration=30, actual_duration=60.2)
    assert long_run['triggered'] and long_run['at'] == 30
    aborted = analysis.verdict(analysis.analyze(drill_records(), t0=20.0, duration=60), {'max_error_rate': 1},
                               analysis.evaluate_abort(tl, error_rate=0.4, for_seconds=2))
    assert aborted['overall'] == 'FAIL' and aborted['aborted']


def test_aggregates_fortio_names():
    recs = drill_records(duration=10, fault=2.0)
    agg = analysis.aggregates(recs, requested_qps=100, requested_duration=10, num_threads=8,
                              start_time='2026-01-01T00:00:00Z', actual_duration=10.0)
    assert agg['RetCodes'] == {'200': 850, '-1': 150}
    assert agg['IPCountMap'] == {A: 100 + 150, B: 100 + 150 + 500}
    assert agg['ActualQPS'] == 100.0 and agg['ActualDuration'] == 10 * 10 ** 9
    h = agg['DurationHistogram']
    assert h['Count'] == 1000 and h['Min'] == 0.0005 and h['Max'] == 0.002
    assert [p['Percentile'] for p in h['Percentiles']] == [50, 75, 90, 99, 99.9]
    assert h['Data'][-1]['Percent'] == 100.0 and sum(d['Count'] for d in h['Data']) == 1000
    assert agg['ErrorsDurationHistogram']['Count'] == 150


def test_percentile_interpolation():
    vals = [float(v) for v in range(1, 101)]
    assert analysis.percentile(vals, 50) == pytest.approx(50.5)
    assert analysis.percentile(vals, 99) == pytest.approx(99.01)
    assert analysis.percentile([], 50) is None


def test_key_events_sorted():
    out = analysis.analyze(drill_records(), t0=20.0, gtm_observations=gtm_polls(), dns_ttl=1.0, duration=60)
    names = [e['name'] for e in analysis.key_events(out, [{'name': 'rollback', 't': 55.0}])]
    assert names == ['load_start', 'fault_sent', 'fault_effect', 'gtm_detect_api', 'last_error', 'recovered',
                     'gtm_available_again_api', 'rollback', 'load_end']


def test_fault_address_never_inferred_from_dns_failures():
    recs = drill_records()
    for r in recs[2000:2400]:  # [20, 24): the resolver fails for everyone
        r.update(addr=None, status=-1, error='dns_failure', cluster=None)
    out = analysis.analyze(recs, t0=20.0, duration=60)
    assert out['fault_address'] is None and out['errors_by_address'] == {'unresolved': 400}
    recs[2500].update(status=-1, error='reset')  # one reset on B (t=25.0) now names an address
    assert analysis.analyze(recs, t0=20.0, duration=60)['fault_address'] == B
