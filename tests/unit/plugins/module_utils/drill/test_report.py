import json
import os
import stat

import pytest

from ansible_collections.meshdr.alicloud.plugins.module_utils.drill import COLLECTION_VERSION, backends, report

from .synthetic import REGIONS, A, drill_records, gtm_polls

START = 1_780_000_000.0
SLOS = {'max_error_rate': 0.05, 'max_time_to_detect': 5, 'max_time_to_recover': 10,
        'min_success_rate_after_failover': 0.99}


def load_results(records=None):
    return {'backend': 'builtin', 'start_epoch': START, 'end_epoch': START + 60.05, 'started_at': '',
            'aborted': None, 'options': {'url': 'http://productpage.example.com/productpage', 'qps': 100.0,
                                         'duration': 60.0, 'keepalive': False, 'multi_address': False},
            'aggregates': {'RetCodes': {'200': 5850, '-1': 150}, 'ActualQPS': 100.0},
            'timeline': [], 'records': drill_records() if records is None else records, 'notes': []}


def produce(tmp_path, **kw):
    args = dict(run_id='drill-test', fault_time=START + 20.0, fault_description='deleted the gateway',
                gtm_observations=[dict(o, time=START + o['time']) for o in gtm_polls()], dns_ttl=1.0,
                slos=SLOS, abort_conditions={'error_rate': 0.9, 'for_seconds': 5, 'max_duration': 120},
                regions=REGIONS, steady_states={'before': {'ok': True}, 'after': {'ok': True}},
                rollbacks=[{'name': 'restore gateway', 'status': 'succeeded', 'detail': 'asm_gateway re-applied'}])
    args.update(kw)
    return report.produce(load_results(), str(tmp_path), **args)


def test_results_file_roundtrip_private(tmp_path):
    path = str(tmp_path / 'load.json')
    report.write_results(path, load_results(), run_id='r1')
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    back = report.read_results(path)
    assert back['run_id'] == 'r1' and back['records'] == [dict(r, late=None) for r in drill_records()]
    with open(path, 'w') as f:
        json.dump({'kind': 'something else'}, f)
    with pytest.raises(ValueError, match='not a drill_load results file'):
        report.read_results(path)


def test_journal_markdown_png(tmp_path):
    out = produce(tmp_path)
    assert out['verdict'] == 'PASS' and out['changed'] and out['status'] == 'completed' and not out['deviated']
    assert out['summary']['time_to_detect'] == pytest.approx(2.0)
    assert out['summary']['time_to_recover'] == pytest.approx(3.0)
    journal = json.load(open(out['paths']['json']))
    for key in ('run_id', 'start', 'end', 'duration', 'status', 'deviated', 'collection_version', 'regions', 'slos',
                'steady_states', 'run', 'rollbacks', 'verdict'):
        assert key in journal, key
    assert journal['collection_version'] == COLLECTION_VERSION
    assert journal['start'] == '2026-05-28T20:26:40Z' and journal['duration'] == pytest.approx(60.05)
    assert set(journal['steady_states']) == {'before', 'after', 'during'}
    assert len(journal['run']['timeline']) == 60 and journal['run']['fault']['address'] == A
    assert [e['name'] for e in journal['run']['events']][:4] == ['load_start', 'fault_sent', 'fault_effect',
                                                                 'gtm_detect_api']
    md = open(out['paths']['markdown']).read()
    assert md.startswith('# Region failure drill: PASS')
    assert '| max_time_to_detect | <= 5 s | 2.00 s | PASS |' in md
    assert '| 20.00 | 2026-05-28T20:27:00Z | first refused request on 127.0.1.1 (T0) | load engine |' in md
    assert '| refused | 150 |' in md
    assert '| during | 20.0-23.0 | 300 | 50.00 % |' in md
    assert '| restore gateway | succeeded | asm_gateway re-applied |' in md
    png = open(out['paths']['png'], 'rb').read()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 10000


def test_idempotent_and_check_mode(tmp_path):
    first = produce(tmp_path / '..' / tmp_path.name, check_mode=True)
    assert first['changed'] and not os.listdir(tmp_path)
    produce(tmp_path)
    again = produce(tmp_path)
    assert not again['changed']
    check = produce(tmp_path, check_mode=True, slos={'max_error_rate': 0.01})
    assert check['changed'] and check['verdict'] == 'FAIL'
    assert 'PASS' in open(check['paths']['markdown']).read().splitlines()[0]  # not rewritten


def test_abort_and_deviation(tmp_path):
    out = produce(tmp_path, formats=('json', 'markdown'), abort_conditions={'error_rate': 0.4, 'for_seconds': 2},
                  steady_states={'before': {'ok': True}, 'after': {'ok': False, 'detail': 'region-a not serving'}})
    assert out['aborted'] and out['status'] == 'aborted' and out['verdict'] == 'FAIL' and out['deviated']
    assert any(r.startswith('aborted: error rate above 0.4') for r in out['reasons'])


@pytest.mark.parametrize('kw, reason', [
    ({'rollbacks': [{'name': 'restore cn-hangzhou', 'status': 'failed', 'detail': 'timed out'}]},
     'rollback step failed: restore cn-hangzhou (timed out)'),
    ({'status': 'failed', 'status_reason': 'GTM never dropped the address'},
     'drill failed: GTM never dropped the address'),
    ({'steady_states': {'before': {'ok': True}, 'after': {'ok': False, 'note': 'not measured'}}},
     'steady state after the drill did not hold'),
])
def test_slos_met_but_the_run_went_wrong_is_a_fail(tmp_path, kw, reason):
    out = produce(tmp_path, formats=('json', 'markdown'), **kw)
    assert out['slos_passed'] and not out['passed'] and out['verdict'] == 'FAIL'
    assert out['reasons'] == [reason]
    md = open(out['paths']['markdown']).read()
    assert md.startswith('# Region failure drill: FAIL') and '**Overall: FAIL**. ' + reason in md
    journal = json.load(open(out['paths']['json']))
    assert journal['verdict']['overall'] == 'FAIL' and journal['verdict']['slos_passed']


def test_unknown_steady_state_and_not_needed_rollback_do_not_fail(tmp_path):
    out = produce(tmp_path, formats=('json',), steady_states={'before': None, 'after': {'note': 'free-form'}},
                  rollbacks=[{'name': 'rollback', 'status': 'not needed'}])
    assert out['verdict'] == 'PASS' and out['reasons'] == []


def test_times_as_iso_and_offsets(tmp_path):
    iso = produce(tmp_path, fault_time='2026-05-28T20:27:00Z', formats=('json',))
    offset = produce(tmp_path, fault_time=20.0, formats=('json',))
    assert iso['summary']['t0'] == offset['summary']['t0'] == 20.0
    assert report.to_epoch('2026-05-28T22:27:00.5+02:00') == START + 20.5


def test_fortio_results_report_whole_run_figures(tmp_path):
    fixture = os.path.join(os.path.dirname(__file__), 'fixtures', 'fortio_runbook.json')
    with open(fixture) as f:
        res = backends.parse_fortio(json.load(f))
    res['options']['duration'] = 300.0
    path = str(tmp_path / 'load.json')
    report.write_results(path, res)
    out = report.produce(report.read_results(path), str(tmp_path), run_id='fortio', formats=('json', 'markdown'),
                         slos={'max_error_rate': 0.2, 'max_time_to_detect': 60}, fault_time=100.0)
    assert out['summary']['requests'] == 3900 and out['summary']['errors'] == 526
    assert out['summary']['error_rate'] == pytest.approx(526 / 3900)  # the runbook's 13.5 %
    slos = {s['name']: s for s in out['slos']}
    assert slos['max_error_rate']['passed'] and not slos['max_time_to_detect']['passed']
    md = open(out['paths']['markdown']).read()
    assert 'Return codes (fortio RetCodes, -1 = socket error): -1: 526, 200: 3374' in md
    assert 'IPCountMap counts connections' in md
