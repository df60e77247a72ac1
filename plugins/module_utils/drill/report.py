# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The load results file, the drill journal (JSON), its Markdown summary and its PNG timeline.

The journal's keys follow the Chaos Toolkit journal (``start, end, duration, status, deviated,
steady_states{before, after, during}, run, rollbacks``, ``node``/``platform``) with the drill's own
additions: ``run_id``, ``collection_version``, ``regions``, ``slos``, ``abort_conditions``, ``verdict``.
"""

import json
import os
import platform
import socket
import tempfile
import time

from ansible_collections.meshdr.alicloud.plugins.module_utils.drill import (
    COLLECTION_VERSION,
    RESULTS_SCHEMA,
    analysis,
    backends,
)

STATUSES = ('completed', 'failed', 'aborted', 'interrupted')
RESULTS_KIND = 'meshdr.alicloud.drill_load'


# --- files -------------------------------------------------------------------------------------

def write_private(path, data):
    """Write bytes atomically with mode 0600 (results can name internal hosts and addresses)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.drill-', dir=directory)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        os.chmod(tmp, 0o600)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_file_if_changed(path, data, mode=0o644):
    """Returns True when the file was created or its content changed."""
    try:
        with open(path, 'rb') as f:
            if f.read() == data:
                return False
    except (IOError, OSError):
        pass
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.drill-', dir=directory)
    with os.fdopen(fd, 'wb') as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.rename(tmp, path)
    return True


def results_document(result, run_id=None):
    """The load results file: the result with records as rows under ``record_fields``."""
    doc = dict((k, v) for k, v in result.items() if k != 'records')
    doc['schema'] = RESULTS_SCHEMA
    doc['kind'] = RESULTS_KIND
    doc['run_id'] = run_id
    doc['record_fields'] = list(analysis.RECORD_FIELDS)
    doc['records'] = analysis.records_to_rows(result.get('records') or [])
    return doc


def write_results(path, result, run_id=None):
    data = json.dumps(results_document(result, run_id), separators=(',', ':'), sort_keys=True).encode('utf-8')
    write_private(path, data)


def read_results(path):
    """Read a load results file back; records become dicts again."""
    with open(path) as f:
        doc = json.load(f)
    if doc.get('kind') != RESULTS_KIND or doc.get('schema') != RESULTS_SCHEMA:
        raise ValueError('%s is not a drill_load results file (schema %s)' % (path, RESULTS_SCHEMA))
    doc['records'] = analysis.rows_to_records(doc.get('record_fields') or analysis.RECORD_FIELDS,
                                              doc.get('records') or [])
    return doc


# --- journal -----------------------------------------------------------------------------------

def iso(epoch):
    if epoch is None:
        return None
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch))


def steady_state_ok(state):
    """A steady state record says whether it held with ``ok`` (or ``passed``/``met``); None if unknown."""
    if not isinstance(state, dict):
        return None
    for key in ('ok', 'passed', 'met'):
        if key in state:
            return bool(state[key])
    return None


def build_journal(results, analysis_out, verdict_out, abort_out, run_id, status='completed', title=None,
                  regions=None, slos=None, abort_conditions=None, steady_states=None, rollbacks=None,
                  fault=None, gtm_observations=None, events=None, collection_version=None, attachments=None):
    steady_states = steady_states or {}
    after_ok = steady_state_ok(steady_states.get('after'))
    if abort_out and abort_out.get('triggered') and status == 'completed':
        status = 'aborted'
    start = results.get('start_epoch')
    end = results.get('end_epoch')
    run_analysis = dict((k, v) for k, v in analysis_out.items() if k != 'timeline')
    return analysis.rounded({
        'run_id': run_id,
        'title': title or 'Region failure drill',
        'collection_version': collection_version or COLLECTION_VERSION,
        'schema': RESULTS_SCHEMA,
        'start': iso(start),
        'end': iso(end),
        'duration': (end - start) if (start is not None and end is not None) else None,
        'status': status,
        # Chaos Toolkit: the steady state did not hold after the method.
        'deviated': after_ok is False,
        'node': socket.gethostname(),
        'platform': platform.platform(),
        'regions': regions or [],
        'slos': slos or {},
        'abort_conditions': abort_conditions or {},
        'steady_states': {'before': steady_states.get('before'), 'after': steady_states.get('after'),
                          'during': steady_states.get('during') or []},
        'run': {
            'backend': results.get('backend'),
            'options': results.get('options'),
            'start_epoch': start,
            'fault': fault or {},
            'gtm_observations': gtm_observations or [],
            'events': analysis.key_events(analysis_out, events),
            'aggregates': results.get('aggregates'),
            'timeline': analysis_out.get('timeline') or results.get('timeline') or [],
            'analysis': run_analysis,
            'abort': abort_out,
            'load_aborted': results.get('aborted'),
            'notes': results.get('notes') or [],
        },
        'rollbacks': rollbacks or [],
        'verdict': verdict_out,
        'attachments': attachments or {},
    })


# --- Markdown ----------------------------------------------------------------------------------

def _n(v, digits=3):
    if v is None:
        return 'n/a'
    if isinstance(v, bool):
        return 'yes' if v else 'no'
    if isinstance(v, float):
        return ('%.' + str(digits) + 'f') % v
    return str(v)


def _pct(v):
    return 'n/a' if v is None else '%.2f %%' % (100.0 * v)


def _float(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _sec(v, digits=2):
    return 'n/a' if v is None else ('%.' + str(digits) + 'f s') % v


def _abort_text(conditions):
    """The abort conditions in words (the journal keeps the dict)."""
    conditions = conditions or {}
    parts = []
    if conditions.get('error_rate') is not None:
        parts.append('error rate above %s for %s consecutive seconds' % (
            _pct(_float(conditions['error_rate'])), conditions.get('for_seconds') or 5))
    if conditions.get('max_duration') is not None:
        parts.append('load longer than %g s' % float(conditions['max_duration']))
    for k in sorted(set(conditions) - {'error_rate', 'for_seconds', 'max_duration'}):
        parts.append('%s %s' % (k, conditions[k]))
    return '; '.join(parts) or 'none'


def _ms(v):
    return 'n/a' if v is None else '%.1f' % (v * 1000.0)


def _measured(slo):
    m = slo['measured']
    if m is None:
        return 'n/a'
    if slo['unit'] == 'ratio':
        return _pct(m)
    if slo['unit'] == 's':
        return '%.2f s' % m
    return '%.1f %s' % (m, slo['unit'])


def _objective(slo):
    o = slo['objective']
    text = _pct(o) if slo['unit'] == 'ratio' else ('%g %s' % (o, slo['unit']))
    return '%s %s' % (slo['comparison'], text)


def render_markdown(journal):
    j = journal
    run = j['run']
    a = run['analysis']
    v = j['verdict']
    aggr = run.get('aggregates') or {}
    opts = run.get('options') or {}
    start = run.get('start_epoch')
    region_of = dict((r.get('address'), r.get('name')) for r in j.get('regions') or [])
    out = []
    w = out.append
    w('# %s: %s' % (j['title'], v['overall']))
    w('')
    w('| Run | |')
    w('|---|---|')
    for label, value in (
            ('Run ID', j['run_id']), ('Collection version', j['collection_version']),
            ('Start (UTC)', j['start']), ('End (UTC)', j['end']), ('Duration', '%s s' % _n(j['duration'], 1)),
            ('Status', j['status']), ('Deviated', _n(j['deviated'])),
            ('Load', '%s, %s req/s asked, %s achieved, keep-alive %s, multi-address %s' % (
                run.get('backend'), _n(opts.get('qps'), 0), _n(aggr.get('ActualQPS'), 1),
                _n(opts.get('keepalive')), _n(opts.get('multi_address')))),
            ('Target', opts.get('url')),
            ('Regions', ', '.join('%s (%s%s)' % (r.get('name'), r.get('address'),
                                                 ', ' + r['cluster'] if r.get('cluster') else '')
                                  for r in j.get('regions') or []) or 'n/a'),
            ('Fault', '%s at T0 = %s s (%s)' % ((run.get('fault') or {}).get('description') or 'fault',
                                                _n(a.get('t0'), 2), a.get('t0_source') or 'fault sent')
             if a.get('t0') is not None else 'none')):
        w('| %s | %s |' % (label, value))
    w('')
    w('## SLOs')
    w('')
    if v['slos']:
        w('| SLO | Objective | Measured | Result |')
        w('|---|---|---|---|')
        for s in v['slos']:
            result = 'PASS' if s['passed'] else 'FAIL'
            note = (' (%s)' % s['note']) if s.get('note') else ''
            w('| %s | %s | %s | %s%s |' % (s['name'], _objective(s), _measured(s), result, note))
    else:
        w('No SLO declared.')
    w('')
    w('**Overall: %s**%s' % (v['overall'], ('. ' + '; '.join(v['reasons'])) if v['reasons'] else ''))
    w('')
    w('## Client health')
    w('')
    ch = a.get('client_health') or {}
    w('Whether this client could measure at all: when one of these is over its limit, the client, not the '
      'system, was the bottleneck and the verdict is INCONCLUSIVE.')
    w('')
    w('| Figure | Measured | Limit |')
    w('|---|---:|---:|')
    figs = ch.get('figures') or {}
    lim = ch.get('limits') or {}
    for key, label, fmt in (('late_p99', 'request start lateness p99 (s)', 3), ('dropped', 'requests not sent', 0),
                            ('cpu_share', 'load engine CPU (share of one core)', 2),
                            ('dns_latency_p99', 'DNS watcher query latency p99 (s)', 3),
                            ('dns_failure_rate', 'DNS watcher failed queries (share)', 3),
                            ('watch_late_p99', 'DNS watcher lateness p99 (s)', 3),
                            ('control_timeout_rate', 'control requests timed out (share)', 3)):
        if key in figs:
            w('| %s | %s | %s |' % (label, _n(figs[key], fmt), _n(lim.get(key), fmt)))
    if 'control_requests' in figs:
        w('| control requests to %s (failed) | %d (%d) | |' % (figs.get('control_address'), figs['control_requests'],
                                                               figs.get('control_failures') or 0))
    if 'loadavg_max' in figs:
        w('| host load average, max (cores) | %s (%s) | |' % (_n(figs['loadavg_max'], 2), figs.get('cores')))
    if figs.get('engine'):
        w('| load engine | %s | |' % figs['engine'])
    w('')
    w('Client: %s.' % ('healthy' if ch.get('healthy') else ('NOT healthy: ' + '; '.join(ch.get('reasons') or []))
                       if ch.get('healthy') is False else 'not measured'))
    w('')
    w('## Timeline of key events')
    w('')
    w('| t (s) | UTC | Event | Seen by |')
    w('|---:|---|---|---|')
    for e in run['events']:
        utc = iso(start + e['t']) if start is not None else 'n/a'
        w('| %.2f | %s | %s | %s |' % (e['t'], utc, e['description'], e.get('source') or ''))
    w('')
    w('Time to detect: %s (%s; GTM API poll, second source: %s). Time to recover: %s. Error window: %s '
      '(%s seconds with errors)%s. Errors on other addresses than %s after T0: %s.' % (
          _sec(a.get('time_to_detect')), a.get('detect_source') or 'not observed',
          _sec(a.get('time_to_detect_api')), _sec(a.get('time_to_recover')), _sec(a.get('error_window')),
          a.get('error_seconds'),
          ('; physical bound (interval x evaluation count + timeout + TTL): %s s' % _n(a['physical_bound'], 1))
          if a.get('physical_bound') is not None else '',
          a.get('fault_address') or 'the fault address', _n(a.get('errors_on_other_addresses'))))
    w('')
    if a.get('alerts') is not None:
        fired = []
        for r in a['alerts']:
            where = ' (%s)' % r['region'] if r.get('region') else ''
            until = _n(r['resolved'], 1) if r['resolved'] is not None else 'end'
            fired.append('%s%s %s-%s s' % (r['alertname'], where, _n(r['fired'], 1), until))
        first = ' (%s)' % a['first_alert'] if a.get('first_alert') else ''
        w('Time to alert: %s%s; alerts during the drill: %s.' % (
            _sec(a.get('time_to_alert')), first, ', '.join(fired) or 'none'))
        w('')
    if a.get('t_region_back') is not None:
        w('Who healed: %s served again at %s s (%s), %s.' % (
            a.get('fault_address'), _n(a['t_region_back'], 2), a.get('region_back_source'), a.get('healed_by')))
        w('')
    w('## Traffic')
    w('')
    w('Requests: %d, successful: %d, errors: %d (error rate %s); success rate after failover (from %s s): %s.' % (
        a['requests'], a['ok'], a['errors'], _pct(a.get('error_rate')), _n(a.get('failover_point'), 2),
        _pct(a.get('success_rate_after_failover'))))
    w('')
    w('Return codes (fortio RetCodes, -1 = socket error): %s' % ', '.join(
        '%s: %s' % (k, aggr['RetCodes'][k]) for k in sorted(aggr.get('RetCodes') or {})))
    w('')
    w('## Per-region split')
    w('')
    w('Entered = requests sent to that region\'s address; served = successful requests answered by '
      'that region (x-drlab-cluster).')
    w('')
    w('| Phase | Window (s) | Requests | Error rate | By address (ok/errors) | Served by cluster |')
    w('|---|---|---:|---:|---|---|')
    for name in ('before', 'during', 'after'):
        p = a['phases'].get(name)
        if not p:
            continue
        by_addr = ', '.join('%s%s: %d/%d' % (addr, (' (%s)' % region_of[addr]) if addr in region_of else '',
                                             s['ok'], s['errors'])
                            for addr, s in sorted(p['by_address'].items()))
        by_cluster = ', '.join('%s: %d' % kv for kv in sorted(p['by_cluster'].items()))
        cells = (name, _n(p['from'], 1), _n(p['to'], 1), p['total'], _pct(p['error_rate']), by_addr or '-',
                 by_cluster or '-')
        w('| %s | %s-%s | %d | %s | %s | %s |' % cells)
    w('')
    w('## Errors by class')
    w('')
    if a['errors_by_class']:
        w('| Class | Count |')
        w('|---|---:|')
        for k, n in sorted(a['errors_by_class'].items(), key=lambda kv: -kv[1]):
            w('| %s | %d |' % (k, n))
        w('')
        w('| Address | Class | Count |')
        w('|---|---|---:|')
        for addr, per in sorted((a.get('errors_by_address_class') or {}).items()):
            for k, n in sorted(per.items(), key=lambda kv: -kv[1]):
                w('| %s%s | %s | %d |' % ('no address (DNS failed)' if addr == analysis.UNRESOLVED else addr,
                                          (' (%s)' % region_of[addr]) if addr in region_of else '', k, n))
    else:
        w('No errors.')
    w('')
    w('## Latency (successful requests, ms)')
    w('')
    w('| Window | Count | p50 | p75 | p90 | p99 | p99.9 | max |')
    w('|---|---:|---:|---:|---:|---:|---:|---:|')
    rows = [('whole run', a['latency'])] + [(n, a['phases'][n]['latency']) for n in ('before', 'during', 'after')
                                            if n in a['phases'] and 'latency' in a['phases'][n]]
    for label, lat in rows:
        figures = [_ms(lat[k]) for k in ('p50', 'p75', 'p90', 'p99', 'p99.9', 'max')]
        w('| %s | %d | %s |' % (label, lat['count'], ' | '.join(figures)))
    w('')
    w('## Safety')
    w('')
    ab = run.get('abort') or {}
    w('Abort conditions: %s. Aborted: %s%s.' % (
        _abort_text(j.get('abort_conditions')), _n(bool(ab.get('triggered'))),
        (' (%s)' % ab['reason']) if ab.get('reason') else ''))
    w('')
    if j['rollbacks']:
        w('| Rollback step | Status | What it did |')
        w('|---|---|---|')
        for r in j['rollbacks']:
            w('| %s | %s | %s |' % (r.get('name', 'rollback'), r.get('status', 'n/a'), r.get('detail', '')))
    else:
        w('No rollback recorded.')
    w('')
    w('## Steady state')
    w('')
    w('| | Held | Success rate | Requests | Successes by region | GTM serving |')
    w('|---|---|---:|---:|---|---|')
    for when in ('before', 'after'):
        state = j['steady_states'].get(when) or {}
        ok = steady_state_ok(state)
        by_region = state.get('successes_by_region') or {}
        w('| %s | %s | %s | %s | %s | %s |' % (
            when, 'yes' if ok else ('no' if ok is False else 'not recorded'),
            _pct(_float(state.get('success_rate'))), state.get('requests', 'n/a'),
            ', '.join('%s: %s' % kv for kv in sorted(by_region.items())) or '-',
            ', '.join(state.get('gtm_serving') or []) or '-'))
    w('')
    w('## Definitions')
    w('')
    w('- Success: HTTP status 200-399; socket errors, 4xx and 5xx are errors.')
    w('- T0: when the fault took effect, the first refused request (or direct probe) on the fault address; '
      'else when the Kubernetes API accepted it; else when it was sent.')
    w('- Time to detect: when the fault address left the DNS answers, seen by the DNS watcher inside the load '
      'engine (same resolver as the requests), minus T0; the GTM API poll is a second source, late by its poll.')
    w('- Recovered: from the first second (not before T0) after which every second has an error rate '
      '<= %s; time to recover = that instant - T0.' % _pct(a.get('recovery_error_rate')))
    w('- Failover point: GTM detection + DNS TTL (%s s), else recovery, else T0.' % _n(a.get('dns_ttl'), 1))
    for note in run.get('notes') or []:
        w('- Backend note: %s' % note)
    if j.get('attachments'):
        w('')
        w('## Attachments')
        w('')
        for k, p in sorted(j['attachments'].items()):
            w('- %s: `%s`' % (k, p))
    w('')
    return '\n'.join(out)


# --- PNG ---------------------------------------------------------------------------------------

_COLOURS = ('#4c8fcf', '#8fc98f', '#c5b0d5', '#c49c94', '#9edae5', '#dbdb8d')


def render_png(journal, path):
    """Requests/s per address (stacked, successes) with errors on top, and lines at the key events."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    run = journal['run']
    a = run['analysis']
    buckets = run['timeline']
    region_of = dict((r.get('address'), r.get('name')) for r in journal.get('regions') or [])
    xs = [b['t'] for b in buckets]
    addresses = sorted(set(addr for b in buckets for addr in b['by_address']))
    fig, ax = plt.subplots(figsize=(13, 5), dpi=100)
    bottom = [0] * len(buckets)
    for i, addr in enumerate(addresses):
        ok = [sum(n for o, n in b['by_address'].get(addr, {}).items() if o.isdigit() and 200 <= int(o) < 400)
              for b in buckets]
        if not any(ok):
            continue  # no success there (a failed DNS lookup names no address): nothing to stack
        label = '%s ok' % (('%s (%s)' % (region_of[addr], addr)) if addr in region_of else addr)
        ax.bar(xs, ok, width=1.0, align='edge', bottom=bottom, color=_COLOURS[i % len(_COLOURS)], label=label,
               linewidth=0)
        bottom = [bottom[k] + ok[k] for k in range(len(ok))]
    # Errors split by the address they went to (DNS failures have none) and by class, stacked on the successes.
    err_colours = ('#d62728', '#ff9896', '#8c564b', '#e377c2', '#bcbd22', '#7f7f7f')
    pairs = sorted(set((addr, o) for b in buckets for addr, per in b['by_address'].items() for o in per
                       if not (o.isdigit() and 200 <= int(o) < 400)))
    for i, (addr, cls) in enumerate(pairs):
        errs = [b['by_address'].get(addr, {}).get(cls, 0) for b in buckets]
        where = ('%s (%s)' % (region_of[addr], addr)) if addr in region_of else (
            'no address' if addr == analysis.UNRESOLVED else addr)
        label = '%s on %s' % (('HTTP %s' % cls) if cls.isdigit() else cls.replace('_', ' '), where)
        ax.bar(xs, errs, width=1.0, align='edge', bottom=bottom, color=err_colours[i % len(err_colours)], label=label,
               linewidth=0)
        bottom = [bottom[k] + errs[k] for k in range(len(errs))]
    errors = [0] * len(buckets)
    top = max([bottom[k] + errors[k] for k in range(len(errors))] or [1]) or 1
    ax.set_ylim(0, top * 1.25)
    lines = [
        ('t0', 'T0 fault', 'black', '--'),
        ('t_detect', 'left DNS', '#ff7f0e', '-.'),
        ('t_detect_api', 'GTM API', '#ffbb78', ':'),
        ('t_recover', 'recovered', '#00441b', '-'),
        ('t_region_back', 'region serves', '#17becf', '-'),
        ('t_available_again', 'back in DNS', '#9467bd', ':'),
    ]
    marks = dict((line[0], a.get(line[0])) for line in lines)
    # Switchover and rollback marks come from the playbook's events (drain, restore, undrain, rollback).
    for e in run.get('events') or []:
        if e.get('name') in ('drain', 'restore', 'undrain', 'rollback_start'):
            key = 'event_' + e['name']
            marks[key] = e['t']
            lines.append((key, e['name'].replace('_start', ''), '#7f7f7f', '--'))
        elif e.get('name') == 'alert_fired':
            # alerts (Prometheus ALERTS) next to the DNS and client marks: time to alert vs time to detect
            key = 'alert_%d' % len(lines)
            marks[key] = e['t']
            lines.append((key, e.get('description') or 'alert fired', '#9467bd', ':'))
    if a.get('physical_bound') is not None and a.get('t0') is not None:
        # What GTM's health check and the TTL allow at best, against the measured error window.
        ax.axvspan(a['t0'], a['t0'] + a['physical_bound'], color='#ffdd99', alpha=0.35, zorder=0,
                   label='physical bound %.1f s (interval x count + timeout + TTL)' % a['physical_bound'])
    if a.get('first_error') is not None and a.get('last_error') is not None:
        ax.axvspan(a['first_error'], max(a['last_error'], a['first_error'] + 0.05), ymin=0, ymax=0.04,
                   color='#d62728', zorder=4, label='error window %.2f s' % (a.get('error_window') or 0))
    n = 0
    for key, label, colour, style in lines:
        t = marks.get(key)
        if t is None:
            continue
        ax.axvline(t, color=colour, linestyle=style, linewidth=1.6, zorder=3)
        ax.text(t, top * (1.22 - 0.055 * n), ' %s %.1fs' % (label, t), color=colour, fontsize=8,
                va='top', ha='left', zorder=5, bbox=dict(facecolor='white', edgecolor='none', alpha=0.85, pad=1))
        n += 1
    ax.set_ylim(0, top * (1.3 + 0.05 * max(0, n - 4)))
    # Wide enough for every drawn event (GTM may mark the address available after the load ended).
    shown = [t for t in marks.values() if t is not None]
    ax.set_xlim(0, max([xs[-1] + 1 if xs else 1, 1] + [t + 1.5 for t in shown]))
    ax.set_xlabel('seconds since load start (%s UTC)' % (journal.get('start') or '?'))
    ax.set_ylabel('requests per second')
    ax.set_title('%s %s: %s (detect %s, recover %s, error window %s, client %s)' % (
        journal['title'], journal['run_id'], journal['verdict']['overall'], _sec(a.get('time_to_detect'), 1),
        _sec(a.get('time_to_recover'), 1), _sec(a.get('error_window')),
        {True: 'healthy', False: 'NOT healthy'}.get((a.get('client_health') or {}).get('healthy'), 'not measured')),
        fontsize=9)
    if buckets:
        ax.legend(loc='upper left', bbox_to_anchor=(1.01, 1.0), fontsize=8, framealpha=0.9)
    else:
        ax.text(0.5, 0.5, 'no per-second timeline from the %s backend' % run.get('backend'), ha='center',
                va='center', transform=ax.transAxes, fontsize=11, color='#555555')
    ax.grid(axis='y', alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format='png', metadata={'Software': None})
    plt.close(fig)


# --- the whole report ----------------------------------------------------------------------------

def to_epoch(value):
    """Epoch seconds from a number or an ISO 8601 string (no offset = UTC)."""
    if value is None or value == '':
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip().replace(' ', 'T', 1)
    try:
        return float(text)
    except ValueError:
        pass
    if len(text) >= 19 and text[10] == 'T' and not (text.endswith('Z') or text[-6] in '+-'):
        text += 'Z'
    # fortio's parser reads RFC 3339, which is what Ansible's filters and `date -Is` print.
    return backends.parse_rfc3339(text)


def to_offset(value, start_epoch):
    """Offset from the load start.  Numbers below 1e9 are offsets already; others are epochs/ISO times."""
    if value is None or value == '':
        return None
    try:
        number = float(value)  # templated numbers arrive as strings
    except (TypeError, ValueError):
        number = None
    if number is not None and not isinstance(value, bool) and number < 1e9:
        return number
    return to_epoch(value) - start_epoch


FORMATS = ('json', 'markdown', 'png')


VERDICTS = ('PASS', 'FAIL', 'INCONCLUSIVE')


def judge_run(verdict_out, status='completed', status_reason=None, steady_states=None, rollbacks=None,
              client=None):
    """The overall verdict.

    - FAIL when a rollback step failed (the region may be left broken: true whatever the client saw);
    - else INCONCLUSIVE when the client, not the system, was the bottleneck (``client`` is
      analysis.client_health: its reasons say why) or the drill was interrupted: nothing measured then
      can pass or fail the system;
    - else PASS when the SLOs (and abort conditions) held, the drill ran to its end and the steady state
      held afterwards; FAIL otherwise.  ``reasons`` says which of these decided it.
    """
    reasons = []
    rollback_failed = []
    for step in rollbacks or []:
        if isinstance(step, dict) and str(step.get('status', '')).lower() in ('failed', 'error'):
            rollback_failed.append('rollback step failed: %s%s' % (
                step.get('name') or '?', (' (%s)' % step['detail']) if step.get('detail') else ''))
    inconclusive = []
    if client and client.get('healthy') is False:
        inconclusive.append('the client, not the system, was the bottleneck: %s' % '; '.join(client['reasons']))
    if status == 'interrupted':
        inconclusive.append('drill interrupted%s' % ((': %s' % status_reason) if status_reason else ''))
    elif status != 'completed' and not verdict_out.get('aborted'):
        reasons.append('drill %s%s' % (status, (': %s' % status_reason) if status_reason else ''))
    if steady_state_ok((steady_states or {}).get('after')) is False:
        reasons.append('steady state after the drill did not hold')
    slo_reasons = list(verdict_out['reasons'])
    if rollback_failed:
        overall = 'FAIL'
        all_reasons = rollback_failed + inconclusive + slo_reasons + reasons
    elif inconclusive:
        overall = 'INCONCLUSIVE'
        all_reasons = inconclusive + ['not judged: %s' % r for r in slo_reasons + reasons]
    else:
        overall = 'PASS' if verdict_out['passed'] and not reasons else 'FAIL'
        all_reasons = slo_reasons + reasons
    return dict(verdict_out, overall=overall, passed=overall == 'PASS',
                slos_passed=all(r['passed'] for r in verdict_out['slos']), reasons=all_reasons)


def produce(results, output_dir, run_id=None, fault_time=None, fault_address=None, fault_description=None,
            gtm_observations=None, dns_ttl=0.0, recovery_error_rate=0.01, slos=None, abort_conditions=None,
            regions=None, steady_states=None, rollbacks=None, status='completed', title=None, events=None,
            formats=FORMATS, collection_version=None, load_results_path=None, check_mode=False, status_reason=None,
            fault_accepted=None, rollback_started=None, control_address=None, detect_bound=None, alerts=None):
    """Analysis + verdict + journal + files.  Returns what drill_report returns (without ``changed``
    folded in: ``changed`` is True when a file was (or, in check mode, would be) written or changed)."""
    start = results.get('start_epoch')
    if start is None:
        raise ValueError('the load results have no start time')
    run_id = run_id or results.get('run_id') or time.strftime('drill-%Y%m%dT%H%M%SZ', time.gmtime(start))
    t0 = to_offset(fault_time, start)
    observations = []
    for o in gtm_observations or []:
        observations.append({'time': to_offset(o.get('time'), start), 'address': o.get('address'),
                             'available': bool(o.get('available'))})
    extra = []
    for e in events or []:
        extra.append({'name': e.get('name', 'event'), 't': to_offset(e.get('time'), start),
                      'description': e.get('description') or e.get('name', ''), 'source': e.get('source')})
    # Alerts (drill/alerts.py, from Prometheus' ALERTS series) go on the timeline like any event.
    alert_rows = []
    for a in alerts or []:
        fired, resolved = to_offset(a.get('fired'), start), to_offset(a.get('resolved'), start)
        row = dict(a, fired=round(fired, 3) if fired is not None else None,
                   resolved=round(resolved, 3) if resolved is not None else None)
        alert_rows.append(row)
        what = '%s%s' % (a.get('alertname'), ' (%s)' % a['region'] if a.get('region') else '')
        extra.append({'name': 'alert_fired', 't': row['fired'], 'description': 'alert %s fired' % what,
                      'source': 'Prometheus'})
        if row['resolved'] is not None:
            extra.append({'name': 'alert_resolved', 't': row['resolved'], 'description': 'alert %s resolved' % what,
                          'source': 'Prometheus'})
    duration = (results.get('options') or {}).get('duration')
    if results.get('interrupted') and status == 'completed':
        status = 'interrupted'
        status_reason = status_reason or results['interrupted'].get('reason')
    out = analysis.analyze(results.get('records') or [], t0=t0, fault_address=fault_address,
                           gtm_observations=observations, dns_ttl=dns_ttl,
                           recovery_error_rate=recovery_error_rate, duration=duration, regions=regions,
                           t0_accepted=to_offset(fault_accepted, start), dns_watch=results.get('dns_watch'),
                           probes=results.get('probes'), control_address=control_address,
                           client=results.get('client'), rollback_started=to_offset(rollback_started, start))
    # Time to alert: the first alert firing after the fault took effect, next to the time to detect.
    effect = out.get('t0_effect') if out.get('t0_effect') is not None else t0
    after = [r for r in alert_rows if effect is not None and r['fired'] is not None and r['fired'] >= effect - 1.0]
    out['alerts'] = alert_rows if alerts is not None else None
    out['time_to_alert'] = round(max(0.0, min(r['fired'] for r in after) - effect), 3) if after else None
    out['first_alert'] = min(after, key=lambda r: r['fired'])['alertname'] if after else None
    # The physical bound of the error window: what GTM's health check and the TTL allow at best.
    out['physical_bound'] = round(float(detect_bound) + float(dns_ttl or 0), 3) if detect_bound is not None else None
    if not results.get('records'):
        # fortio: aggregates only.  The whole-run figures still come from its RetCodes.
        if results.get('timeline'):
            out['timeline'] = results['timeline']
        codes = (results.get('aggregates') or {}).get('RetCodes') or {}
        total = sum(codes.values())
        if total:
            ok = sum(n for code, n in codes.items() if 200 <= int(code) < 400)
            out.update(requests=total, ok=ok, errors=total - ok, error_rate=(total - ok) / float(total),
                       success_rate=ok / float(total))
    abort_conditions = abort_conditions or {}
    actual = None
    if results.get('end_epoch') is not None:
        actual = results['end_epoch'] - start
    abort = analysis.evaluate_abort(out['timeline'], error_rate=abort_conditions.get('error_rate'),
                                    for_seconds=abort_conditions.get('for_seconds') or 1,
                                    max_duration=abort_conditions.get('max_duration'), actual_duration=actual)
    if not abort['triggered'] and results.get('aborted'):
        abort = dict(results['aborted'], triggered=True)
    verdict_out = judge_run(analysis.verdict(out, slos, abort), status, status_reason, steady_states, rollbacks,
                            client=out['client_health'])
    paths = {}
    names = {'json': 'journal.json', 'markdown': 'report.md', 'png': 'timeline.png'}
    for fmt in formats:
        paths[fmt] = os.path.join(output_dir, '%s-%s' % (run_id, names[fmt]))
    attachments = dict(paths)
    if load_results_path:
        attachments['load_results'] = load_results_path
    journal = build_journal(
        results, out, verdict_out, abort, run_id, status=status, title=title, regions=regions, slos=slos,
        abort_conditions=abort_conditions, steady_states=steady_states, rollbacks=rollbacks,
        fault={'time': t0, 'address': out.get('fault_address'), 'description': fault_description},
        gtm_observations=observations, events=extra, collection_version=collection_version, attachments=attachments)
    changed = False
    if 'json' in paths:
        data = (json.dumps(journal, indent=2, sort_keys=True, default=str) + '\n').encode('utf-8')
        changed |= _emit(paths['json'], data, check_mode)
    if 'markdown' in paths:
        changed |= _emit(paths['markdown'], render_markdown(journal).encode('utf-8'), check_mode)
    if 'png' in paths:
        if check_mode:
            changed |= not os.path.exists(paths['png'])
        else:
            fd, tmp = tempfile.mkstemp(prefix='.drill-', suffix='.png', dir=output_dir)
            os.close(fd)
            try:
                render_png(journal, tmp)
                with open(tmp, 'rb') as f:
                    changed |= write_file_if_changed(paths['png'], f.read())
            finally:
                os.unlink(tmp)
    return {
        'changed': changed, 'run_id': run_id, 'verdict': verdict_out['overall'], 'passed': verdict_out['passed'],
        'slos': verdict_out['slos'], 'slos_passed': verdict_out['slos_passed'], 'reasons': verdict_out['reasons'],
        'status': journal['status'],
        'deviated': journal['deviated'], 'aborted': abort['triggered'], 'abort': abort, 'paths': paths,
        'summary': summary(out), 'events': journal['run']['events'], 'client_health': out['client_health'],
    }


def _emit(path, data, check_mode):
    if check_mode:
        try:
            with open(path, 'rb') as f:
                return f.read() != data
        except (IOError, OSError):
            return True
    return write_file_if_changed(path, data)


def summary(out):
    """The headline figures of an analysis (what a playbook prints or asserts on)."""
    keys = ('requests', 'ok', 'errors', 'error_rate', 'success_rate', 't0', 'fault_address', 't_detect',
            'time_to_detect', 'first_error', 'last_error', 'error_window', 'error_seconds',
            'errors_on_other_addresses', 't_recover', 'time_to_recover', 'recovered', 't_available_again',
            'failover_point', 'success_rate_after_failover', 'p99_latency_ms_after_failover', 'errors_by_class',
            'errors_by_address', 't0_sent', 't0_accepted', 't0_effect', 't0_source', 'detect_source', 't_dns_left',
            't_dns_left_prev', 't_dns_back', 't_detect_api', 'time_to_detect_api', 't_region_back',
            'region_back_source', 'healed_by', 'physical_bound', 'errors_by_address_class', 'time_to_alert',
            'first_alert')
    s = dict((k, out.get(k)) for k in keys)
    s['latency_ms'] = dict((k, (v * 1000.0 if v is not None else None)) for k, v in out['latency'].items()
                           if k != 'count')
    s['phases'] = dict((name, {'from': p['from'], 'to': p['to'], 'total': p['total'], 'errors': p['errors'],
                               'error_rate': p['error_rate'], 'by_address': p['by_address'],
                               'by_cluster': p['by_cluster'], 'by_region': p['by_region']})
                       for name, p in out['phases'].items())
    return s
