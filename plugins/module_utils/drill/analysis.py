# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure functions that turn drill records into figures and a verdict.

A *record* is one request: ``{'t': start offset in s from the load start, 'addr': the address
connected to (or None when DNS failed), 'status': HTTP status or -1 for a socket error (fortio's
convention), 'error': None or an error class, 'latency': s, 'cluster': the x-drlab-cluster
response header or None, 'tries': addresses tried}``.

Every time below is an offset in seconds from the load start.  Definitions (also in the
drill_report module documentation):

- *success*: an HTTP status in [200, 400); anything else (socket errors, 4xx, 5xx) is an error.
- *time to detect*: first GTM observation at or after T0 where the fault address is unavailable, minus T0.
  Observations are polled, so this is an upper bound by at most one poll interval.
- *error window*: start of the last failed request at or after T0 minus start of the first one.
- *T_recover*: the start of the first one-second bucket, at or after the bucket holding T0, from which
  every later non-empty bucket of the run has an error rate <= ``recovery_error_rate``; never before
  T0.  *time to recover* = T_recover - T0.  Not recovered (None) when the last non-empty bucket is
  still above the threshold.
- *failover point*: T_detect + ``dns_ttl`` when GTM detected the fault, else T_recover, else T0.
  *success rate after failover* is measured over the requests started at or after it.
- phases: *before* = [0, T0), *during* = [T0, T_recover) (to the end when not recovered),
  *after* = [T_recover, end].
"""

import math

RECORD_FIELDS = ('t', 'addr', 'status', 'error', 'latency', 'cluster', 'tries', 'late')
PROBE_FIELDS = ('t', 'status', 'error', 'latency')
ERROR_CLASSES = ('refused', 'reset', 'timeout', 'dns_failure', 'other')
PERCENTILES = (50, 75, 90, 99, 99.9)
UNRESOLVED = 'unresolved'

# Upper bounds (s) of the latency histogram buckets, fortio-style; the last bucket is open.
_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05,
            0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2, 3, 5, 10, 30)

SLO_DEFS = (
    # name, comparison, unit, measured key in the analysis
    ('max_error_rate', '<=', 'ratio', 'error_rate'),
    ('max_time_to_detect', '<=', 's', 'time_to_detect'),
    ('max_time_to_recover', '<=', 's', 'time_to_recover'),
    ('min_success_rate_after_failover', '>=', 'ratio', 'success_rate_after_failover'),
    ('max_error_window', '<=', 's', 'error_window'),
    ('max_p99_latency_ms', '<=', 'ms', 'p99_latency_ms_after_failover'),
)


class AnalysisError(ValueError):
    pass


def rounded(value, digits=4, key=None):
    """``value`` with every float rounded where it is made, so no reader sees 2.3000000000000007.

    Seconds keep 4 decimals (0.1 ms), figures in milliseconds (keys ending in ``_ms``) 1 decimal; an
    infinite or undefined figure becomes None (JSON has no ``inf``, and a reader should see "n/a").
    """
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            return None
        return round(value, 1 if key and str(key).endswith('_ms') else digits)
    if isinstance(value, dict):
        return dict((k, rounded(v, digits, k)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits, key) for v in value]
    return value


# --- records -------------------------------------------------------------------------------------

def is_ok(rec):
    status = rec.get('status')
    return status is not None and 200 <= status < 400


def outcome(rec):
    """'200', '503' ... for an HTTP answer, else the error class."""
    status = rec.get('status')
    if status is not None and status > 0:
        return str(status)
    return rec.get('error') or 'other'


def error_class(rec):
    """The class counted in 'errors by class': the socket error class or http_<status>."""
    status = rec.get('status')
    if status is not None and status > 0:
        return 'http_%d' % status
    return rec.get('error') or 'other'


def rows_to_records(fields, rows):
    return [dict((f, row[i]) for i, f in enumerate(fields)) for row in rows]


def records_to_rows(records):
    return [[rec.get(f) for f in RECORD_FIELDS] for rec in records]


def _addr(rec):
    return rec.get('addr') or UNRESOLVED


# --- statistics ----------------------------------------------------------------------------------

def percentile(sorted_values, p):
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    if not sorted_values:
        return None
    if len(sorted_values) == 1:
        return sorted_values[0]
    rank = (p / 100.0) * (len(sorted_values) - 1)
    low = int(math.floor(rank))
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def latency_summary(latencies):
    """{count, min, max, avg, p50, p75, p90, p99, p99.9} in seconds."""
    values = sorted(v for v in latencies if v is not None)
    out = {'count': len(values)}
    if not values:
        out.update(dict((k, None) for k in ('min', 'max', 'avg')))
        out.update(dict(('p%s' % _pname(p), None) for p in PERCENTILES))
        return out
    out['min'] = values[0]
    out['max'] = values[-1]
    out['avg'] = sum(values) / len(values)
    for p in PERCENTILES:
        out['p%s' % _pname(p)] = percentile(values, p)
    return rounded(out)


def _pname(p):
    return ('%g' % p)


def histogram(latencies, percentiles=PERCENTILES):
    """A fortio ``HistogramData``: Count, Min, Max, Sum, Avg, StdDev, Data[], Percentiles[] (s)."""
    values = sorted(v for v in latencies if v is not None)
    count = len(values)
    if not count:
        return {'Count': 0, 'Min': 0, 'Max': 0, 'Sum': 0, 'Avg': 0, 'StdDev': 0, 'Data': [], 'Percentiles': []}
    total = sum(values)
    avg = total / count
    std = math.sqrt(sum((v - avg) ** 2 for v in values) / count)
    data = []
    cumulative = 0
    start = 0.0
    idx = 0
    for end in _BUCKETS + (float('inf'),):
        n = 0
        while idx < count and values[idx] < end:
            n += 1
            idx += 1
        if n:
            cumulative += n
            data.append({'Start': start, 'End': end if end != float('inf') else values[-1],
                         'Percent': round(100.0 * cumulative / count, 4), 'Count': n})
        start = end
    return {
        'Count': count, 'Min': values[0], 'Max': values[-1], 'Sum': total, 'Avg': avg, 'StdDev': std,
        'Data': data,
        'Percentiles': [{'Percentile': p, 'Value': percentile(values, p)} for p in percentiles],
    }


def aggregates(records, requested_qps=None, requested_duration=None, num_threads=None,
               start_time=None, actual_duration=None, labels=None):
    """fortio-compatible aggregates (same field names and meaning) of a list of records.

    ``IPCountMap`` counts requests per connected address here (fortio counts connections; with a new
    connection per request both are the same).  ``RetCodes`` keys are strings, as in fortio's JSON.
    """
    ret_codes = {}
    ip_count = {}
    ok_lat = []
    err_lat = []
    for rec in records:
        code = str(rec.get('status') if rec.get('status') is not None else -1)
        ret_codes[code] = ret_codes.get(code, 0) + 1
        if rec.get('addr'):
            ip_count[rec['addr']] = ip_count.get(rec['addr'], 0) + 1
        (ok_lat if is_ok(rec) else err_lat).append(rec.get('latency'))
    if actual_duration is None:
        actual_duration = max([r['t'] + (r.get('latency') or 0) for r in records] or [0])
    count = len(records)
    return rounded({
        'RunType': 'HTTP',
        'Labels': labels or '',
        'StartTime': start_time,
        'RequestedQPS': str(requested_qps) if requested_qps is not None else 'max',
        'RequestedDuration': '%gs' % requested_duration if requested_duration is not None else None,
        'ActualQPS': (count / actual_duration) if actual_duration else 0.0,
        # fortio reports nanoseconds.
        'ActualDuration': int(round(actual_duration * 1e9)),
        'NumThreads': num_threads,
        'DurationHistogram': histogram(ok_lat + err_lat),
        'ErrorsDurationHistogram': histogram(err_lat),
        'RetCodes': ret_codes,
        'IPCountMap': ip_count,
    })


# --- timeline ------------------------------------------------------------------------------------

def _empty_bucket(t, span):
    return {'t': t, 'span': span, 'total': 0, 'ok': 0, 'errors': 0, 'outcomes': {}, 'by_address': {},
            'by_cluster': {}}


def timeline(records, duration=None, span=1):
    """Buckets of ``span`` seconds by request start: totals, outcomes, outcome per address, ok per cluster.

    Empty buckets up to ``duration`` are included so the series has no holes.
    """
    count = int(math.ceil(duration / float(span))) if duration else 0
    if records:
        count = max(count, int(max(r['t'] for r in records) // span) + 1)
    buckets = [_empty_bucket(i * span, span) for i in range(count)]
    for rec in records:
        i = int(rec['t'] // span)
        if i >= len(buckets):
            buckets.extend(_empty_bucket(j * span, span) for j in range(len(buckets), i + 1))
        _add(buckets[i], rec)
    return buckets


def _add(bucket, rec):
    o = outcome(rec)
    addr = _addr(rec)
    bucket['total'] += 1
    if is_ok(rec):
        bucket['ok'] += 1
        cluster = rec.get('cluster')
        if cluster:
            bucket['by_cluster'][cluster] = bucket['by_cluster'].get(cluster, 0) + 1
    else:
        bucket['errors'] += 1
    bucket['outcomes'][o] = bucket['outcomes'].get(o, 0) + 1
    per = bucket['by_address'].setdefault(addr, {})
    per[o] = per.get(o, 0) + 1


def bucket_error_rate(bucket):
    return (bucket['errors'] / bucket['total']) if bucket['total'] else None


# --- abort conditions ----------------------------------------------------------------------------

def evaluate_abort(buckets, error_rate=None, for_seconds=1, max_duration=None, actual_duration=None):
    """When should the run have been aborted?

    - ``error_rate``/``for_seconds``: the error rate of ``for_seconds`` consecutive non-empty one-second
      buckets is above ``error_rate`` (an empty second breaks the streak: no traffic, no evidence);
    - ``max_duration``: the run lasted longer than that.

    Returns ``{'triggered': bool, 'reason': str or None, 'at': offset or None}``.
    """
    for_seconds = max(1, int(for_seconds or 1))
    if error_rate is not None:
        streak = 0
        for b in buckets:
            rate = bucket_error_rate(b)
            if rate is not None and rate > error_rate:
                streak += 1
                if streak >= for_seconds:
                    at = b['t'] + b['span']
                    return {'triggered': True, 'at': at,
                            'reason': 'error rate above %g for %d consecutive seconds (ending at %gs)'
                                      % (error_rate, for_seconds, at)}
            else:
                streak = 0
    if max_duration is not None and actual_duration is not None and actual_duration > max_duration:
        return {'triggered': True, 'at': max_duration,
                'reason': 'run lasted %.1fs, above the maximum duration %gs' % (actual_duration, max_duration)}
    return {'triggered': False, 'at': None, 'reason': None}


# --- GTM observations ----------------------------------------------------------------------------

def gtm_transitions(observations, address, t0):
    """(T_detect, T_available_again) for ``address`` from polled observations.

    ``observations``: [{'time': offset, 'address': str, 'available': bool}].  T_detect is the first
    observation at or after T0 with the address unavailable; T_available_again the first later one
    with it available.  None when not observed.
    """
    obs = sorted((o for o in observations or [] if o.get('address') == address), key=lambda o: o['time'])
    detect = again = None
    for o in obs:
        if detect is None:
            if o['time'] >= t0 and not o.get('available'):
                detect = o['time']
        elif o.get('available'):
            again = o['time']
            break
    return detect, again


# --- the analysis --------------------------------------------------------------------------------

def _phase_stats(records, regions_by_addr, regions_by_cluster):
    by_address = {}
    by_cluster = {}
    by_region = {}
    ok = 0
    for rec in records:
        addr = _addr(rec)
        good = is_ok(rec)
        ok += 1 if good else 0
        entry = by_address.setdefault(addr, {'total': 0, 'ok': 0, 'errors': 0})
        entry['total'] += 1
        entry['ok' if good else 'errors'] += 1
        region = regions_by_addr.get(addr)
        if region:
            r = by_region.setdefault(region, {'entered': 0, 'served': 0, 'errors': 0})
            r['entered'] += 1
            r['errors'] += 0 if good else 1
        if good and rec.get('cluster'):
            by_cluster[rec['cluster']] = by_cluster.get(rec['cluster'], 0) + 1
            served = regions_by_cluster.get(rec['cluster'])
            if served:
                by_region.setdefault(served, {'entered': 0, 'served': 0, 'errors': 0})['served'] += 1
    total = len(records)
    return {
        'total': total, 'ok': ok, 'errors': total - ok,
        'error_rate': ((total - ok) / total) if total else None,
        'by_address': by_address, 'by_cluster': by_cluster, 'by_region': by_region,
    }


def recovery_time(buckets, t0, threshold):
    """T_recover as defined in the module docstring, or None."""
    start_idx = None
    for i, b in enumerate(buckets):
        if b['t'] + b['span'] > t0:
            start_idx = i
            break
    if start_idx is None:
        return None
    recover = None
    for b in buckets[start_idx:]:
        rate = bucket_error_rate(b)
        if rate is None:
            continue
        if rate > threshold:
            recover = None
        elif recover is None:
            recover = b['t']
    if recover is None:
        # Either the last non-empty bucket is above threshold, or no traffic after T0 at all.
        return None
    return float(max(recover, t0))


def dns_transitions(changes, address, after, min_absence=1.0):
    """When ``address`` left the DNS answers at or after ``after``, and when it came back.

    ``changes``: the DNS watcher's [{'t', 'prev_t', 'addrs'}] (every change of the answer, stamped with
    the first query that saw it and the last one that saw the previous answer).  Returns
    ``(left, left_prev, back, back_prev)``, None where not seen.  A weighted pool answers one address
    per query, so the answer flips between addresses all the time: the address "left" where its
    absence starts that lasts ``min_absence`` seconds or to the end, and it was in the answers before
    ``after`` if any of the last 5 s of answers (or the last answer) held it.  If it was not, it did not
    leave because of the fault: nothing is returned.
    """
    changes = sorted(changes or [], key=lambda c: c['t'])
    before = [c for c in changes if c['t'] <= after]
    recent = [c for c in before if c['t'] >= after - 5.0] + before[-1:]
    if not any(address in c['addrs'] for c in recent):
        return None, None, None, None
    later = [c for c in changes if c['t'] > after]
    for i, c in enumerate(later):
        if address in c['addrs']:
            continue
        again = next((d for d in later[i + 1:] if address in d['addrs']), None)
        if again is None or again['t'] - c['t'] >= min_absence:
            return c['t'], c['prev_t'], (again or {}).get('t'), (again or {}).get('prev_t')
    return None, None, None, None


def probe_rows_ok(row):
    status = row[1]
    return status is not None and 200 <= status < 400


def _refusal(status, error):
    if status is not None and status >= 500:
        return True
    return error in ('refused', 'reset')


def fault_effect(records, probes, address, t_sent):
    """T0 as the clients saw it: the first refusal on ``address`` of a request started at or after the
    fault was sent (a load request, or a direct probe).  Its start offset, or None."""
    # Only requests started once the fault was sent: an earlier one that failed late (a starved client's
    # timeout) is not the fault's doing.
    # And only a *refusal* (or reset, or 5xx): the server side saying no.  A timeout or a DNS failure is
    # as much the client's as the target's (a starved client times out everywhere).
    best = None
    for r in records:
        if r.get('addr') == address and _refusal(r.get('status'), r.get('error')) and r['t'] >= t_sent:
            best = r['t'] if best is None else min(best, r['t'])
            break  # records are sorted by start: the first one is the earliest
    for row in sorted((probes or {}).get(address) or []):
        if _refusal(row[1], row[2]) and row[0] >= t_sent:
            best = row[0] if best is None else min(best, row[0])
            break
    return best


def region_back(records, probes, address, after):
    """First success on ``address`` after ``after`` (direct probes first: they do not wait for DNS)."""
    rows = [row for row in (probes or {}).get(address) or [] if row[0] > after and probe_rows_ok(row)]
    if rows:
        return min(row[0] for row in rows), 'direct probe'
    ok = [r['t'] for r in records if r.get('addr') == address and r['t'] > after and is_ok(r)]
    if ok:
        return min(ok), 'load request'
    return None, None


# Thresholds above which the client, not the system, is the bottleneck (docs/drill.md, "Is the client
# healthy?").  Lab answers come in well under a millisecond; real resolvers in tens of ms.
CLIENT_LIMITS = {
    'late_p99': 0.1,             # s: 99th percentile of how late requests started against their slot
    'dropped': 0,                # requests the engine could not send at all (more than 1 s behind)
    'dns_latency_p99': 0.5,      # s: the DNS watcher's queries to the clients' resolver
    'dns_failure_rate': 0.01,    # share of the watcher's queries that failed or timed out
    'watch_late_p99': 0.25,      # s: the watcher itself running late (detection times lose resolution)
    'control_timeout_rate': 0.01,  # share of control requests (to the survivor, directly) that timed out
    'cpu_share': 0.9,            # CPU the engine used over the run, of one core (it is single-threaded)
}


def client_health(records, client=None, dns_watch=None, control=None, limits=None):
    """Was the client fit to measure?  ``{'healthy': bool or None, 'reasons', 'figures', 'limits'}``.

    Only client-side evidence counts: the engine's schedule lateness, requests it could not send, its
    CPU, the DNS watcher's latency and failures to the resolver, and *timeouts* of the control series
    (requests straight to the surviving region).  A control request refused or answered with an error
    is the survivor's doing, a system fact, and does not make the run inconclusive.
    """
    limits = dict(CLIENT_LIMITS, **(limits or {}))
    client = client or {}
    figures = {}
    reasons = []
    late = [r.get('late') for r in records if r.get('late') is not None]
    if late:
        lat = latency_summary(late)
        figures['late_p99'] = lat['p99']
        figures['late_max'] = lat['max']
        if lat['p99'] > limits['late_p99']:
            reasons.append('requests started late: p99 %.3f s behind their slot (limit %g s)' % (
                lat['p99'], limits['late_p99']))
    figures['dropped'] = client.get('dropped') or 0
    if client.get('engine'):
        figures['engine'] = client['engine']
    if figures['dropped'] > limits['dropped']:
        reasons.append('%d requests could not be sent (the engine fell more than 1 s behind)' % figures['dropped'])
    if client.get('cpu_share') is not None:
        figures['cpu_share'] = client['cpu_share']
        if client['cpu_share'] > limits['cpu_share']:
            reasons.append('the load engine used %.0f %% of a core (limit %.0f %%)' % (
                100 * client['cpu_share'], 100 * limits['cpu_share']))
    if client.get('loadavg_max') is not None:
        figures['loadavg_max'] = client['loadavg_max']
        figures['cores'] = client.get('cores')
    if dns_watch:
        queries = dns_watch.get('queries') or 0
        failed = sum((dns_watch.get('failures') or {}).values())
        figures['dns_queries'] = queries
        figures['dns_failure_rate'] = (failed / float(queries)) if queries else None
        figures['dns_latency_p99'] = (dns_watch.get('latency') or {}).get('p99')
        figures['watch_late_p99'] = (dns_watch.get('late') or {}).get('p99')
        if queries and figures['dns_failure_rate'] > limits['dns_failure_rate']:
            reasons.append('%d of %d DNS watcher queries failed (limit %.0f %%)' % (
                failed, queries, 100 * limits['dns_failure_rate']))
        if figures['dns_latency_p99'] is not None and figures['dns_latency_p99'] > limits['dns_latency_p99']:
            reasons.append('DNS queries slow: p99 %.3f s (limit %g s)' % (
                figures['dns_latency_p99'], limits['dns_latency_p99']))
        if figures['watch_late_p99'] is not None and figures['watch_late_p99'] > limits['watch_late_p99']:
            reasons.append('the DNS watcher ran late: p99 %.3f s (limit %g s)' % (
                figures['watch_late_p99'], limits['watch_late_p99']))
    if control and control.get('rows'):
        rows = control['rows']
        timeouts = sum(1 for row in rows if row[2] in ('timeout', 'dns_failure'))
        failed = sum(1 for row in rows if not probe_rows_ok(row))
        figures['control_address'] = control.get('address')
        figures['control_requests'] = len(rows)
        figures['control_failures'] = failed
        figures['control_timeout_rate'] = timeouts / float(len(rows))
        if figures['control_timeout_rate'] > limits['control_timeout_rate']:
            reasons.append('%d of %d control requests straight to the surviving region (%s) timed out (limit %.0f %%)'
                           % (timeouts, len(rows), control.get('address'), 100 * limits['control_timeout_rate']))
    measured = bool(late) or bool(dns_watch) or bool(control and control.get('rows'))
    return {'healthy': (not reasons) if measured else None, 'reasons': reasons, 'figures': figures,
            'limits': limits}


def analyze(records, t0=None, fault_address=None, gtm_observations=None, dns_ttl=0.0,
            recovery_error_rate=0.01, duration=None, regions=None, t0_accepted=None, dns_watch=None,
            probes=None, control_address=None, client=None, rollback_started=None):
    """``_analyze``, its figures rounded (``rounded``)."""
    return rounded(_analyze(records, t0=t0, fault_address=fault_address, gtm_observations=gtm_observations,
                            dns_ttl=dns_ttl, recovery_error_rate=recovery_error_rate, duration=duration,
                            regions=regions, t0_accepted=t0_accepted, dns_watch=dns_watch, probes=probes,
                            control_address=control_address, client=client, rollback_started=rollback_started))


def _analyze(records, t0=None, fault_address=None, gtm_observations=None, dns_ttl=0.0,
             recovery_error_rate=0.01, duration=None, regions=None, t0_accepted=None, dns_watch=None,
             probes=None, control_address=None, client=None, rollback_started=None):
    """Everything the verdict and the report need, from the records and the observed times.

    ``regions``: [{'name', 'address', 'cluster'}] maps addresses (where traffic entered) and
    x-drlab-cluster values (where it was served) to region names.

    ``t0`` is when the fault was *sent*; ``t0_accepted`` when the Kubernetes API answered it.  The T0
    the figures count from is when it took effect: the first refused request (or direct probe) on the
    fault address (refused, reset or 5xx), else the API's answer, else the sending (``t0_source`` says which).
    """
    records = sorted(records, key=lambda r: r['t'])
    t_sent = t0
    regions = regions or []
    regions_by_addr = dict((r['address'], r['name']) for r in regions if r.get('address'))
    regions_by_cluster = dict((r['cluster'], r['name']) for r in regions if r.get('cluster'))
    buckets = timeline(records, duration=duration)
    end = max([r['t'] + (r.get('latency') or 0) for r in records] or [duration or 0])
    total = len(records)
    ok = sum(1 for r in records if is_ok(r))
    errors = [r for r in records if not is_ok(r)]

    errors_by_class = {}
    errors_by_address = {}
    errors_by_address_class = {}
    for r in errors:
        c = error_class(r)
        errors_by_class[c] = errors_by_class.get(c, 0) + 1
        a = _addr(r)
        errors_by_address[a] = errors_by_address.get(a, 0) + 1
        per = errors_by_address_class.setdefault(a, {})
        per[c] = per.get(c, 0) + 1

    control = None
    if control_address and (probes or {}).get(control_address) is not None:
        control = {'address': control_address, 'rows': probes[control_address]}
    out = {
        'client_health': client_health(records, client, dns_watch, control),
        't0_sent': t_sent, 't0_accepted': t0_accepted, 't0_effect': None, 't0_source': None,
        'detect_source': None, 't_dns_left': None, 't_dns_left_prev': None, 't_dns_back': None,
        't_detect_api': None, 't_available_again_api': None, 'time_to_detect_api': None,
        't_region_back': None, 'region_back_source': None, 'healed_by': None, 'rollback_started': rollback_started,
        'requests': total, 'ok': ok, 'errors': total - ok,
        'error_rate': ((total - ok) / total) if total else None,
        'success_rate': (ok / total) if total else None,
        'duration': end,
        'errors_by_class': errors_by_class,
        'errors_by_address': errors_by_address,
        'errors_by_address_class': errors_by_address_class,
        'latency': latency_summary([r.get('latency') for r in records if is_ok(r)]),
        'latency_all': latency_summary([r.get('latency') for r in records]),
        't0': t0, 'fault_address': fault_address,
        'time_to_detect': None, 't_detect': None, 't_available_again': None,
        'first_error': None, 'last_error': None, 'error_window': None, 'error_seconds': 0,
        'errors_on_other_addresses': None,
        't_recover': None, 'time_to_recover': None, 'recovered': None,
        'failover_point': None, 'success_rate_after_failover': None, 'p99_latency_ms_after_failover': None,
        'phases': {}, 'timeline': buckets, 'recovery_error_rate': recovery_error_rate, 'dns_ttl': dns_ttl,
    }
    if t0 is None:
        out['phases']['before'] = _phase_stats(records, regions_by_addr, regions_by_cluster)
        out['phases']['before'].update({'from': 0.0, 'to': end})
        return out

    after_t0_errors = [r for r in errors if r['t'] + (r.get('latency') or 0) >= t_sent]
    if fault_address is None:
        # The failed region's address is the one with most errors after the fault (DNS failures
        # name no address, so they cannot point at one).
        counts = {}
        for r in after_t0_errors:
            if r.get('addr'):
                counts[r['addr']] = counts.get(r['addr'], 0) + 1
        if counts:
            fault_address = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            out['fault_address'] = fault_address
            out['fault_address_inferred'] = True
    if after_t0_errors:
        out['first_error'] = after_t0_errors[0]['t']
        out['last_error'] = after_t0_errors[-1]['t']
        out['error_window'] = out['last_error'] - out['first_error']
        out['error_seconds'] = len(set(int(r['t'] // 1) for r in after_t0_errors))
        out['errors_on_other_addresses'] = sum(1 for r in after_t0_errors if _addr(r) != fault_address)
    elif records:
        out['error_window'] = 0.0
        out['errors_on_other_addresses'] = 0
    # else: no per-request records (fortio), nothing about the fault can be measured.

    if fault_address is not None:
        effect = fault_effect(records, probes, fault_address, t_sent)
        out['t0_effect'] = effect
        if effect is not None:
            t0, out['t0_source'] = effect, 'first refused request on %s' % fault_address
        elif t0_accepted is not None:
            t0, out['t0_source'] = t0_accepted, 'accepted by the Kubernetes API'
        else:
            out['t0_source'] = 'fault sent'
        out['t0'] = t0
        # Second source: GTM's API as polled by the playbook (late by the poll and Ansible's own pace).
        detect_api, again_api = gtm_transitions(gtm_observations, fault_address, t_sent)
        out['t_detect_api'] = detect_api
        out['t_available_again_api'] = again_api
        out['time_to_detect_api'] = (detect_api - t0) if detect_api is not None else None
        if dns_watch is not None:
            left, left_prev, back, _back_prev = dns_transitions(dns_watch.get('changes'), fault_address, t_sent)
            out.update(t_dns_left=left, t_dns_left_prev=left_prev, t_dns_back=back)
            out['t_dns_left_answered'] = next((c.get('answered', left) for c in dns_watch.get('changes') or []
                                               if c['t'] == left), left)
            detect, again = left, back
            out['detect_source'] = 'DNS watcher (%g queries/s)' % (1.0 / dns_watch['interval']) \
                if dns_watch.get('interval') else 'DNS watcher'
        else:
            detect, again = detect_api, again_api
            out['detect_source'] = 'GTM API poll' if detect_api is not None else None
        out['t_detect'] = detect
        out['t_available_again'] = again
        out['time_to_detect'] = max(0.0, detect - t0) if detect is not None else None
        if effect is not None:
            back, source = region_back(records, probes, fault_address, effect)
            out['t_region_back'] = back
            out['region_back_source'] = source
            if back is not None:
                if rollback_started is None or back < rollback_started:
                    out['healed_by'] = 'before the rollback acted (ASM resync or an operator)' \
                        if rollback_started is not None else 'not the drill (it had not rolled back yet)'
                else:
                    out['healed_by'] = 'the rollback'

    t_recover = recovery_time(buckets, t0, recovery_error_rate)
    out['t_recover'] = t_recover
    out['recovered'] = t_recover is not None
    out['time_to_recover'] = (t_recover - t0) if t_recover is not None else None

    if out['t_detect'] is not None:
        # From the moment the resolver is known to give the new answer (the watcher's query was
        # answered): a request started between that query's sending and its answer may still have
        # been given the old one.
        seen = max(out['t_detect'], out.get('t_dns_left_answered') or out['t_detect'])
        failover_point = seen + (dns_ttl or 0.0)
    elif t_recover is not None:
        failover_point = t_recover
    else:
        failover_point = t0
    out['failover_point'] = failover_point
    after_fo = [r for r in records if r['t'] >= failover_point]
    if after_fo:
        ok_after = [r for r in after_fo if is_ok(r)]
        out['success_rate_after_failover'] = len(ok_after) / len(after_fo)
        p99 = latency_summary([r.get('latency') for r in ok_after])['p99']
        out['p99_latency_ms_after_failover'] = p99 * 1000.0 if p99 is not None else None

    # The last phase ends with the run (no open bound: the report never prints ``inf``).
    stop_all = max(end, (records[-1]['t'] + 1) if records else 0)
    during_end = t_recover if t_recover is not None else stop_all
    phases = [('before', 0.0, t0), ('during', t0, during_end)]
    if t_recover is not None:
        phases.append(('after', during_end, stop_all))
    for name, start, stop in phases:
        sel = [r for r in records if start <= r['t'] < stop or (stop == stop_all and r['t'] >= start)]
        stats = _phase_stats(sel, regions_by_addr, regions_by_cluster)
        stats['from'] = start
        stats['to'] = min(stop, end) if stop == stop_all else stop
        stats['latency'] = latency_summary([r.get('latency') for r in sel if is_ok(r)])
        out['phases'][name] = stats
    return out


def key_events(analysis, extra_events=None):
    """The timeline of key events, sorted by time (ties keep the causal order below): [{'name', 't',
    'description', 'source'}].  ``source`` names the clock that saw it."""
    a = analysis
    fa = a.get('fault_address')
    api = 'GTM API poll (second source)'
    candidates = [
        ('load_start', 0.0, 'load started', 'load engine'),
        ('fault_sent', a.get('t0_sent'), 'fault sent', 'playbook'),
        ('fault_accepted', a.get('t0_accepted'), 'fault accepted by the Kubernetes API', 'playbook'),
        ('fault_effect', a.get('t0_effect'), 'first refused request on %s (T0)' % fa, 'load engine'),
        ('dns_left', a.get('t_dns_left'), '%s left the DNS answers (detected)' % fa, 'DNS watcher'),
        ('gtm_detect_api', a.get('t_detect_api'), 'GTM API shows %s unavailable' % fa, api),
        ('last_error', a.get('last_error'), 'last failed request', 'load engine'),
        ('recovered', a.get('t_recover'),
         'recovered: error rate stays <= %g %% per second' % (100.0 * (a.get('recovery_error_rate') or 0)),
         'load engine'),
        ('region_back', a.get('t_region_back'), '%s serves again (%s)%s' % (
            fa, a.get('region_back_source'), (', ' + a['healed_by']) if a.get('healed_by') else ''), 'load engine'),
        ('dns_back', a.get('t_dns_back'), '%s back in the DNS answers' % fa, 'DNS watcher'),
        ('gtm_available_again_api', a.get('t_available_again_api'), 'GTM API shows %s available again' % fa, api),
        ('load_end', a.get('duration'), 'load ended', 'load engine'),
    ]
    if a.get('t0_effect') is None and a.get('t0') is not None \
            and a.get('t0') not in (a.get('t0_sent'), a.get('t0_accepted')):
        candidates.append(('fault', a.get('t0'), 'fault (T0)', 'playbook'))
    order = dict((c[0], i) for i, c in enumerate(candidates))
    events = [{'name': n, 't': t, 'description': d, 'source': src} for n, t, d, src in candidates if t is not None]
    for e in extra_events or []:
        events.append({'name': e.get('name', 'event'), 't': e['t'], 'description': e.get('description', ''),
                       'source': e.get('source') or 'playbook'})
    return sorted(events, key=lambda e: (e['t'], order.get(e['name'], len(order))))


def verdict(analysis, slos, abort=None):
    """Per-SLO results and the overall PASS/FAIL.

    ``slos``: dict with any of the SLO_DEFS names (None = not declared).  A declared SLO whose figure
    could not be measured (e.g. GTM never detected the fault) fails, with a note saying why.
    """
    results = []
    reasons = []
    slos = slos or {}
    for name, op, unit, key in SLO_DEFS:
        objective = slos.get(name)
        if objective is None:
            continue
        measured = analysis.get(key)
        note = None
        if measured is None:
            passed = False
            note = _unmeasured_note(key, analysis)
        elif op == '<=':
            passed = measured <= objective
        else:
            passed = measured >= objective
        results.append({'name': name, 'objective': objective, 'comparison': op, 'unit': unit,
                        'measured': measured, 'passed': passed, 'note': note})
        if not passed:
            reasons.append('%s: measured %s, objective %s %s%s' % (
                name, _fmt(measured), op, _fmt(objective), (' (%s)' % note) if note else ''))
    aborted = bool(abort and abort.get('triggered'))
    if aborted:
        reasons.append('aborted: %s' % abort.get('reason'))
    passed = all(r['passed'] for r in results) and not aborted
    return {'overall': 'PASS' if passed else 'FAIL', 'passed': passed, 'slos': results, 'aborted': aborted,
            'reasons': reasons, 'note': None if results else 'no SLO declared'}


def _unmeasured_note(key, analysis):
    if analysis.get('t0') is None and key != 'error_rate':
        return 'no fault time given'
    if key == 'time_to_detect':
        return 'the fault address was not seen leaving the DNS answers (nor unavailable in GTM\'s API)'
    if key == 'time_to_recover':
        return 'the error rate never stayed under the recovery threshold'
    return 'no requests in the measured window'


def _fmt(v):
    if v is None:
        return 'n/a'
    if isinstance(v, float):
        return '%.4g' % v
    return str(v)
