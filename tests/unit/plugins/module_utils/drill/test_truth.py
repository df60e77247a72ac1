"""Issue 15: times from the clocks that see the event, client health, who healed, interrupts."""

import re
import subprocess
import sys
import time

import pytest

from ansible_collections.meshdr.alicloud.plugins.module_utils.drill import analysis, fastload, load, report

from .conftest import ADDR_A, ADDR_B, Backends
from .synthetic import REGIONS, A, B, drill_records

START = 1780000000.0
SLOS = {'max_error_rate': 0.05, 'max_time_to_detect': 5, 'max_time_to_recover': 10,
        'min_success_rate_after_failover': 0.99}


def watch(left=22.3, back=None):
    """A DNS watcher that saw A leave the answer at ``left`` (previous query 0.1 s earlier)."""
    changes = [{'t': 0.0, 'prev_t': None, 'addrs': [A, B]}, {'t': left, 'prev_t': round(left - 0.1, 4), 'addrs': [B]}]
    if back is not None:
        changes.append({'t': back, 'prev_t': round(back - 0.1, 4), 'addrs': [A, B]})
    return {'interval': 0.1, 'queries': 600, 'failures': {}, 'changes': changes,
            'latency': analysis.latency_summary([0.001] * 600), 'late': analysis.latency_summary([0.002] * 600)}


def probes(a_down=(20.2, 41.0)):
    """Direct probes at 2/s: A fails from a_down[0] to a_down[1]; B (the control) always answers."""
    rows = {A: [], B: []}
    for j in range(120):
        t = j / 2.0
        down = a_down[0] <= t < a_down[1]
        rows[A].append([t, -1 if down else 200, 'refused' if down else None, 0.001])
        rows[B].append([t, 200, None, 0.001])
    return rows


def results(records=None, client=None, dns_watch=None, probe_rows=None, **extra):
    records = records if records is not None else drill_records()
    out = {'backend': 'builtin', 'options': {'url': 'http://d/', 'qps': 100.0, 'duration': 60.0},
           'start_epoch': START, 'end_epoch': START + 60.05, 'aborted': None,
           'aggregates': {'ActualQPS': 100.0, 'RetCodes': {}}, 'timeline': [], 'records': records,
           'client': client or {'cpu_share': 0.2, 'dropped': 0, 'cores': 2, 'loadavg_max': 0.5},
           'dns_watch': dns_watch if dns_watch is not None else watch(),
           'probes': probe_rows if probe_rows is not None else probes()}
    out.update(extra)
    return out


def produce(tmp_path, res, **kw):
    args = dict(run_id='truth', fault_time=START + 19.5, fault_accepted=START + 19.9, fault_address=A,
                slos=SLOS, regions=REGIONS, control_address=B, detect_bound=4.0, dns_ttl=5,
                steady_states={'before': {'ok': True}, 'after': {'ok': True}}, formats=('json', 'markdown'),
                rollbacks=[{'name': 'restore ingress gateway', 'status': 'succeeded', 'detail': 'nothing to do'}])
    args.update(kw)
    return report.produce(res, str(tmp_path), **args)


# --- 1. the clocks that see the event ----------------------------------------------------------

def test_t0_is_when_the_fault_took_effect_and_detection_is_the_dns_watchers(tmp_path):
    out = produce(tmp_path, results(probe_rows={}))
    s = out['summary']
    assert s['t0_sent'] == pytest.approx(19.5) and s['t0_accepted'] == pytest.approx(19.9)
    assert s['t0_effect'] == 20.0 and s['t0_source'] == f'first refused request on {A}'
    assert s['detect_source'] == 'DNS watcher (10 queries/s)' and s['t_dns_left'] == 22.3
    assert s['time_to_detect'] == pytest.approx(2.3)
    # The GTM API poll is kept, as a second source, labelled so.
    names = [e['name'] for e in out['events']]
    times = [e['t'] for e in out['events']]
    assert times == sorted(times)
    assert names.index('fault_sent') < names.index('fault_accepted') < names.index('fault_effect') \
        < names.index('dns_left') < names.index('recovered')
    md = open(out['paths']['markdown']).read()
    assert '| 22.30 |' in md and 'left the DNS answers (detected) | DNS watcher |' in md
    assert 'GTM API poll, second source' in md


def test_a_direct_probe_sees_the_fault_before_any_load_request(tmp_path):
    out = produce(tmp_path, results())
    assert out['summary']['t0_effect'] == 20.0  # the probe at 20.5 is later than the request at 20.0
    rows = probes(a_down=(19.5, 41.0))
    out = produce(tmp_path, results(probe_rows=rows))
    assert out['summary']['t0_effect'] == 19.5


def test_without_a_failed_request_t0_is_the_apis_answer():
    records = [r for r in drill_records() if analysis.is_ok(r)]
    out = analysis.analyze(records, t0=19.5, t0_accepted=19.9, fault_address=A, dns_watch=watch(), duration=60)
    assert out['t0'] == 19.9 and out['t0_source'] == 'accepted by the Kubernetes API'


def test_dns_transitions():
    changes = watch(left=22.3, back=45.0)['changes']
    assert analysis.dns_transitions(changes, A, 19.5) == (22.3, 22.2, 45.0, 44.9)
    # Already out of the answer when the fault was sent (drained): it did not leave because of it.
    assert analysis.dns_transitions(changes, A, 30.0) == (None, None, None, None)
    assert analysis.dns_transitions(changes, B, 19.5) == (None, None, None, None)


# --- 2. measurement validity ---------------------------------------------------------------------

def busy(records):
    """What a starved client looks like: starts late, DNS slow, the control series timing out."""
    out = []
    for r in records:
        r = dict(r, late=0.4 if int(r['t']) % 3 == 0 else 0.01)
        if r['addr'] == B and int(r['t'] * 10) % 7 == 0:
            r.update(status=-1, error='timeout', latency=3.0, cluster=None)  # errors on the survivor
        out.append(r)
    return out


def test_a_busy_client_is_inconclusive_never_fail(tmp_path):
    rows = probes()
    rows[B] = [[t, -1, 'timeout', 3.0] if i % 4 == 0 else [t, 200, None, 0.5] for i, (t, *_rest) in enumerate(rows[B])]
    dns = dict(watch(), failures={'dns_failure': 40}, latency=analysis.latency_summary([0.9] * 600))
    out = produce(tmp_path, results(records=busy(drill_records()), client={'cpu_share': 0.95, 'dropped': 12},
                                    dns_watch=dns, probe_rows=rows))
    assert not out['slos_passed']  # the figures look like a failure of the system ...
    assert out['verdict'] == 'INCONCLUSIVE' and not out['passed']  # ... but the client was the bottleneck
    ch = out['client_health']
    assert ch['healthy'] is False
    text = ' '.join(ch['reasons'])
    for what in ('started late', 'could not be sent', 'of a core', 'DNS watcher queries failed', 'DNS queries slow',
                 'control requests'):
        assert what in text, what
    assert out['reasons'][0].startswith('the client, not the system, was the bottleneck')
    assert all(r.startswith('not judged: ') for r in out['reasons'][1:])
    md = open(out['paths']['markdown']).read()
    assert md.startswith('# Region failure drill: INCONCLUSIVE') and 'Client: NOT healthy' in md


@pytest.mark.parametrize('what', ['late', 'dropped', 'cpu', 'dns_fail', 'dns_slow', 'control'])
def test_each_client_symptom_alone_is_enough(what):
    records = drill_records()
    client = {'cpu_share': 0.2, 'dropped': 0}
    dns = watch()
    control = {'address': B, 'rows': probes()[B]}
    if what == 'late':
        records = [dict(r, late=0.3) for r in records]
    elif what == 'dropped':
        client['dropped'] = 1
    elif what == 'cpu':
        client['cpu_share'] = 0.97
    elif what == 'dns_fail':
        dns = dict(dns, failures={'timeout': 7})
    elif what == 'dns_slow':
        dns = dict(dns, latency=analysis.latency_summary([0.8] * 100))
    else:
        control['rows'] = [[r[0], -1, 'timeout', 3.0] if i % 10 == 0 else r for i, r in enumerate(control['rows'])]
    ch = analysis.client_health(records, client, dns, control)
    assert ch['healthy'] is False and len(ch['reasons']) == 1, ch


def test_a_system_failure_with_a_healthy_client_is_a_fail(tmp_path):
    # GTM never drops A: errors go on to the end of the run; the client was fine throughout.
    records = drill_records(error_seconds=40)
    records = [dict(r, late=0.001) for r in records]
    out = produce(tmp_path, results(records=records, dns_watch=dict(watch(), changes=watch()['changes'][:1])))
    assert out['client_health']['healthy'] is True and out['client_health']['reasons'] == []
    assert out['verdict'] == 'FAIL'
    assert any(r.startswith('max_time_to_detect') for r in out['reasons'])


def test_a_refusing_survivor_is_the_systems_fault_not_the_clients():
    rows = [[t, -1, 'refused', 0.001] for t, *_rest in probes()[B]]
    ch = analysis.client_health(drill_records(), {'cpu_share': 0.1}, watch(), {'address': B, 'rows': rows})
    assert ch['healthy'] is True and ch['figures']['control_failures'] == len(rows)


def test_interrupted_run_is_inconclusive_but_a_failed_rollback_is_a_fail(tmp_path):
    out = produce(tmp_path, results(interrupted={'reason': 'signal SIGTERM', 'at': 30.0}))
    assert out['status'] == 'interrupted' and out['verdict'] == 'INCONCLUSIVE'
    assert out['reasons'][0] == 'drill interrupted: signal SIGTERM'
    out = produce(tmp_path, results(interrupted={'reason': 'x', 'at': 30.0}),
                  rollbacks=[{'name': 'restore', 'status': 'failed', 'detail': 'timed out'}])
    assert out['verdict'] == 'FAIL'


# --- 3. who healed -------------------------------------------------------------------------------

def test_region_back_before_the_rollback_is_said(tmp_path):
    out = produce(tmp_path, results(), rollback_started=START + 58.0)
    s = out['summary']
    assert s['t_region_back'] == 41.0 and s['region_back_source'] == 'direct probe'
    assert s['healed_by'] == 'before the rollback acted (ASM resync or an operator)'
    md = open(out['paths']['markdown']).read()
    assert 'Who healed: 127.0.1.1 served again at 41.00 s (direct probe), before the rollback acted' in md
    out = produce(tmp_path, results(), rollback_started=START + 30.0)
    assert out['summary']['healed_by'] == 'the rollback'


def test_no_inf_and_no_unrounded_floats_in_the_markdown(tmp_path):
    out = produce(tmp_path, results(records=drill_records(error_seconds=40)))  # never recovers
    md = open(out['paths']['markdown']).read()
    assert not re.search(r'\binf\b', md)
    assert 'unresolved' not in md
    assert not re.search(r'\d\.\d{5,}', md), re.findall(r'\d\.\d{5,}', md)[:5]


# --- 4. interrupts -------------------------------------------------------------------------------

def test_the_engine_stops_when_the_process_that_started_it_is_gone():
    servers = Backends().start()
    parent = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(0.5)'])  # noqa: S603
    try:
        began = time.monotonic()
        res = load.run_load(load.LoadSpec(f'http://{ADDR_A}:{servers.port}/', qps=20, duration=60, timeout=1,
                                          watch_pid=parent.pid, probe_addresses=[ADDR_B]))
        took = time.monotonic() - began
        parent.wait()
    finally:
        servers.stop()
    assert res['interrupted'] and f'(pid {parent.pid}) is gone' in res['interrupted']['reason']
    assert took < 30  # far from the asked 60 s: it stopped itself (within a tick, on an idle machine)
    assert res['records'] and res['probes'][ADDR_B]
    assert all(r['late'] is not None for r in res['records'])


@pytest.mark.parametrize('engine_class', [load.LoadEngine, fastload.SelectorEngine])
def test_the_engine_stops_on_request_and_keeps_what_it_measured(engine_class):
    servers = Backends().start()
    try:
        engine = engine_class(load.LoadSpec(f'http://{ADDR_A}:{servers.port}/', qps=20, duration=60, timeout=1))

        def stop_soon(snapshot):
            if snapshot['requests'] >= 10:
                engine.request_stop('signal SIGINT')

        engine.on_progress = stop_soon
        engine.spec.progress_interval = 0.25
        res = engine.run()
    finally:
        servers.stop()
    assert res['interrupted']['reason'] == 'signal SIGINT'
    assert 10 <= len(res['records']) < 600


def test_a_starved_clients_timeout_is_not_t0():
    # A request to A started after the fault was sent timed out (the client was starved): not the fault.
    records = drill_records()
    i = next(n for n, r in enumerate(records) if r['addr'] == A and r['t'] >= 19.6)
    records[i] = dict(records[i], status=-1, error='timeout', latency=3.0, cluster=None)
    out = analysis.analyze(records, t0=19.5, t0_accepted=19.9, fault_address=A, dns_watch=watch(), duration=60)
    assert out['t0_effect'] == 20.0 and out['t0_source'] == f'first refused request on {A}'
    # A refused request that started before the fault was sent is not it either.
    records[i] = dict(records[i], error='refused', latency=0.001)
    assert analysis.analyze(records, t0=19.7, fault_address=A, dns_watch=watch(), duration=60)['t0_effect'] == 20.0


def test_the_plot_has_no_unresolved_ok_and_splits_errors_by_address_and_class(tmp_path, monkeypatch):
    records = drill_records()
    records[100] = dict(records[100], addr=None, status=-1, error='dns_failure', cluster=None)
    i = next(n for n, r in enumerate(records) if r['addr'] == A and r['error'] == 'refused')
    records[i] = dict(records[i], error='reset')
    labels, marks = [], []
    import matplotlib.axes
    real_bar, real_text = matplotlib.axes.Axes.bar, matplotlib.axes.Axes.text

    def recording_bar(self, *args, **kw):
        labels.append(kw.get('label'))
        return real_bar(self, *args, **kw)

    def recording_text(self, x, y, s, *args, **kw):
        marks.append(s.strip())
        return real_text(self, x, y, s, *args, **kw)

    monkeypatch.setattr(matplotlib.axes.Axes, 'bar', recording_bar)
    monkeypatch.setattr(matplotlib.axes.Axes, 'text', recording_text)
    events = [{'name': n, 'time': START + t} for n, t in (('drain', 15.0), ('restore', 45.0), ('undrain', 50.0))]
    produce(tmp_path, results(records=records), formats=('png',), events=events)
    assert 'unresolved ok' not in labels
    assert {f'refused on region-a ({A})', f'reset on region-a ({A})', 'dns failure on no address'} <= set(labels)
    assert {'drain 15.0s', 'restore 45.0s', 'undrain 50.0s', 'T0 fault 20.0s'} <= set(marks), marks


def test_the_json_journal_has_no_unrounded_floats_and_no_inf(tmp_path):
    out = produce(tmp_path, results(records=drill_records(error_seconds=40)), formats=('json',))
    text = open(out['paths']['json']).read()
    assert not re.search(r'\d\.\d{5,}', text), re.findall(r'"(\w+)": (-?\d+\.\d{5,})', text)[:5]
    assert not re.search(r'\b(inf|Infinity|NaN)\b', text)


def test_a_weighted_pool_answering_one_address_per_query_is_followed_through_its_flips():
    """The default drill (GTM weight strategy) sees A and B alternate before the fault; A left when its
    absence started that lasted, not at the first answer without it."""
    flips = [{'t': round(0.1 * i, 1), 'prev_t': round(0.1 * i - 0.1, 1) if i else None,
              'addrs': [A] if i % 2 else [B]} for i in range(0, 200)]
    # From 12.0 s on GTM answers only B; A comes back at 30.0 s.
    changes = [c for c in flips if c['t'] < 12.0] + [{'t': 12.0, 'prev_t': 11.9, 'addrs': [B]},
                                                     {'t': 30.0, 'prev_t': 29.9, 'addrs': [A]}]
    left, left_prev, back, back_prev = analysis.dns_transitions(changes, A, 10.0)
    assert (left, left_prev, back, back_prev) == (12.0, 11.9, 30.0, 29.9)
    # Flips shorter than the absence threshold are not a departure; an address never in the answers
    # before the fault did not leave because of it.
    assert analysis.dns_transitions(changes[:50], A, 2.0) == (None, None, None, None)
    only_b = [{'t': 0.0, 'prev_t': None, 'addrs': [B]}]
    assert analysis.dns_transitions(only_b, A, 1.0) == (None, None, None, None)
