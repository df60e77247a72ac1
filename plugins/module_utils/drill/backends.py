# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Load backends behind one result schema.

Every backend returns ``{'backend', 'options', 'start_epoch', 'end_epoch', 'started_at', 'aborted',
'aggregates' (fortio field names), 'timeline' (per-second buckets, [] when the tool cannot tell),
'records' (per-request, [] when the tool cannot tell), 'notes' (what this backend could not measure)}``.

- ``builtin``: the engines of ``fastload.py`` (epoll, plain HTTP) and ``load.py`` (asyncio, HTTPS and
  keep-alive): everything, including per-request records.
- ``fortio``: ``fortio load -json FILE``; its JSON is an aggregate only (no time series, and
  ``IPCountMap`` counts connections), so the drill's timeline and detection/recovery figures need
  the built-in engine.
- ``hey``: ``hey -disable-keepalive -o csv``; its CSV has one row per request that got an HTTP answer (no
  address); failed requests appear only in its text summary, which ``-o csv`` replaces.  The backend
  reports ``MissingFromCSV`` = scheduled - answered, an upper bound of the failures (it also counts
  requests hey did not send when it fell behind its rate), and says so in ``notes``.
"""

import calendar
import csv
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from ansible_collections.meshdr.alicloud.plugins.module_utils.drill import analysis, load

BACKENDS = ('builtin', 'fortio', 'hey')


class BackendError(Exception):
    pass


def find_tool(name):
    return shutil.which(name)


def run_backend(backend, spec, on_progress=None, handle_signals=False):
    """Run ``spec`` (a load.LoadSpec) with ``backend``; returns the common result dict."""
    if backend == 'builtin':
        result = load.run_load(spec, on_progress=on_progress, handle_signals=handle_signals)
        result['notes'] = []
        return result
    if spec.nameserver:
        raise BackendError('the %s backend resolves through the system resolver only; nameserver needs the '
                           'builtin backend' % backend)
    if spec.multi_address:
        raise BackendError('multi_address needs the builtin backend')
    tool = find_tool(backend)
    if not tool:
        raise BackendError('%s is not on the PATH' % backend)
    if backend == 'fortio':
        return run_fortio(tool, spec)
    if backend == 'hey':
        return run_hey(tool, spec)
    raise BackendError('unknown backend %r' % backend)


# --- fortio ------------------------------------------------------------------------------------

def fortio_command(tool, spec, json_path):
    cmd = [tool, 'load', '-json', json_path, '-qps', '%g' % spec.qps, '-c', str(spec.workers),
           '-t', '%gs' % spec.duration, '-timeout', '%gs' % spec.timeout, '-p', '50,75,90,99,99.9',
           '-keepalive=%s' % ('true' if spec.keepalive else 'false')]
    if spec.host_header:
        cmd += ['-H', 'Host: %s' % spec.host_header]
    for k, v in spec.headers.items():
        cmd += ['-H', '%s: %s' % (k, v)]
    return cmd + [spec.url]


def run_fortio(tool, spec):
    fd, path = tempfile.mkstemp(prefix='fortio-', suffix='.json')
    os.close(fd)
    try:
        # An argument list, no shell: the tool path comes from the PATH lookup.
        proc = subprocess.run(fortio_command(tool, spec, path), capture_output=True, text=True,  # noqa: S603
                              timeout=spec.duration + spec.timeout + 30, check=False)
        if proc.returncode != 0:
            raise BackendError('fortio failed (rc=%d): %s' % (proc.returncode, proc.stderr[-2000:]))
        with open(path) as f:
            doc = json.load(f)
    finally:
        os.unlink(path)
    result = parse_fortio(doc)
    result['options'] = spec.as_dict()
    return result


def parse_rfc3339(value):
    """fortio's StartTime (Go RFC 3339 with nanoseconds and an offset) -> epoch seconds."""
    m = re.match(r'^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$', value or '')
    if not m:
        raise ValueError('not an RFC 3339 time: %r' % value)
    y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
    epoch = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) + float(m.group(7) or 0)
    tz = m.group(8)
    if tz != 'Z':
        sign = 1 if tz[0] == '+' else -1
        epoch -= sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    return epoch


def _strip_port(key):
    """fortio's IPCountMap keys are the dialled address, e.g. '127.0.0.1:8080' or '[::1]:8080'."""
    if key.startswith('['):
        return key[1:key.index(']')]
    if key.count(':') == 1:
        return key.split(':', 1)[0]
    return key


def parse_fortio(doc):
    """A fortio ``-json`` result (periodic.RunnerResults + fhttp.HTTPRunnerResults) -> the common schema."""
    if not isinstance(doc, dict) or 'DurationHistogram' not in doc or 'RetCodes' not in doc:
        raise ValueError('not a fortio HTTP result: DurationHistogram and RetCodes are required')
    start = parse_rfc3339(doc['StartTime']) if doc.get('StartTime') else None
    duration_s = (doc.get('ActualDuration') or 0) / 1e9
    ip_count = {}
    for key, n in (doc.get('IPCountMap') or {}).items():
        addr = _strip_port(key)
        ip_count[addr] = ip_count.get(addr, 0) + n
    aggr = {
        'RunType': doc.get('RunType', 'HTTP'),
        'Labels': doc.get('Labels', ''),
        'StartTime': doc.get('StartTime'),
        'RequestedQPS': doc.get('RequestedQPS'),
        'RequestedDuration': doc.get('RequestedDuration'),
        'ActualQPS': doc.get('ActualQPS'),
        'ActualDuration': doc.get('ActualDuration'),
        'NumThreads': doc.get('NumThreads'),
        'DurationHistogram': doc['DurationHistogram'],
        'ErrorsDurationHistogram': doc.get('ErrorsDurationHistogram'),
        'RetCodes': dict((str(k), v) for k, v in doc['RetCodes'].items()),
        'IPCountMap': ip_count,
        'Version': doc.get('Version'),
        'RunID': doc.get('RunID'),
    }
    if doc.get('SocketCount') is not None:
        aggr['SocketCount'] = doc['SocketCount']
    return {
        'backend': 'fortio',
        'options': {'url': doc.get('URL')},
        'start_epoch': start,
        'end_epoch': (start + duration_s) if start is not None else None,
        'started_at': doc.get('StartTime'),
        'aborted': None,
        'aggregates': aggr,
        'timeline': [],
        'records': [],
        'notes': ['fortio -json is an aggregate: no per-second timeline and no per-request records; '
                  'IPCountMap counts connections, not requests'],
    }


def fortio_success_latency(hist, errors_hist):
    """Success-only latency from fortio's two histograms (all - errors): count and average (s)."""
    count = hist.get('Count', 0) - (errors_hist or {}).get('Count', 0)
    total = hist.get('Sum', 0) - (errors_hist or {}).get('Sum', 0)
    return {'count': count, 'avg': (total / count) if count else None}


# --- hey ---------------------------------------------------------------------------------------

def hey_command(tool, spec):
    # hey's -q is per worker; -z stops the run at the duration.
    cmd = [tool, '-z', '%gs' % spec.duration, '-c', str(spec.workers),
           '-q', '%g' % (spec.qps / spec.workers), '-t', '%d' % max(1, int(round(spec.timeout))),
           '-m', spec.method, '-o', 'csv', '-host', spec.host_header]
    if not spec.keepalive:
        cmd.append('-disable-keepalive')
    for k, v in spec.headers.items():
        cmd += ['-H', '%s: %s' % (k, v)]
    return cmd + [spec.url]


def run_hey(tool, spec):
    start = time.time()
    proc = subprocess.run(hey_command(tool, spec), capture_output=True, text=True,  # noqa: S603
                          timeout=spec.duration + spec.timeout + 30, check=False)
    end = time.time()
    if proc.returncode != 0:
        raise BackendError('hey failed (rc=%d): %s' % (proc.returncode, proc.stderr[-2000:]))
    address = spec.host if spec.literal else None
    return parse_hey_csv(proc.stdout, spec, start, end, address=address)


def parse_hey_csv(text, spec, start_epoch, end_epoch, address=None):
    """hey's ``-o csv`` rows -> the common schema.

    Columns: response-time, DNS+dialup, DNS, Request-write, Response-delay, Response-read,
    status-code, offset (s from the start).  Rows exist only for requests that got an HTTP answer;
    the shortfall from the scheduled count is ``MissingFromCSV`` (failed or never sent).
    hey does not say which address it connected to: ``addr`` is the URL's IP literal or None.
    """
    reader = csv.DictReader(io.StringIO(text))
    expected = ['response-time', 'status-code', 'offset']
    if reader.fieldnames is None or any(f not in reader.fieldnames for f in expected):
        raise ValueError('not hey CSV output: header %r' % (reader.fieldnames,))
    records = []
    for row in reader:
        records.append({'t': round(float(row['offset']), 4), 'addr': address, 'status': int(row['status-code']),
                        'error': None, 'latency': float(row['response-time']), 'cluster': None, 'tries': 1})
    records.sort(key=lambda r: r['t'])
    # The sending window, as for the built-in engine: the duration, longer when starts ran late.
    last_start = records[-1]['t'] + 1.0 / spec.qps if records else 0.0
    aggr = analysis.aggregates(records, requested_qps=spec.qps, requested_duration=spec.duration,
                               num_threads=spec.workers, start_time=load._iso(start_epoch),
                               actual_duration=max(spec.duration, last_start))
    # hey's workers tick at qps/c each for the duration: that is what it scheduled.  What the CSV lacks
    # is failed requests *and* requests hey never sent when it fell behind; the two cannot be told apart.
    scheduled = int(round(spec.qps * spec.duration))
    missing = max(0, scheduled - len(records))
    notes = ['hey: the CSV lists only requests that got an HTTP answer, without address; RetCodes and ActualQPS '
             'count those only. MissingFromCSV = scheduled (%d) - answered (%d) = %d is an upper bound of the failed '
             'requests (it also counts requests hey did not send when it fell behind)' % (
                 scheduled, len(records), missing)]
    aggr['ScheduledRequests'] = scheduled
    aggr['MissingFromCSV'] = missing
    return {
        'backend': 'hey',
        'options': spec.as_dict(),
        'start_epoch': start_epoch,
        'end_epoch': end_epoch,
        'started_at': load._iso(start_epoch),
        'aborted': None,
        'aggregates': aggr,
        'timeline': analysis.timeline(records, duration=spec.duration),
        'records': records,
        'notes': notes,
    }
