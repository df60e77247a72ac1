# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""When each alert fired and resolved during a drill, from Prometheus' own ``ALERTS`` series.

Prometheus keeps a synthetic series ``ALERTS{alertname, alertstate="pending"|"firing", <labels>}``
with value 1 for every evaluation in which an alert is active (documented under alerting rules,
"Inspecting alerts during runtime"); a query_range over the drill window therefore tells when an
alert started firing and when it stopped, whichever receiver the notifications went to.
"""

import json

from urllib.parse import urlencode
from ansible.module_utils.urls import open_url

DEFAULT_SELECTOR = 'ALERTS{alertname=~"Meshdr.*",alertstate="firing"}'


def intervals(result, step, window_end):
    """query_range ``result`` (matrix) -> [{alertname, region, severity, fired, resolved}] by fire time.

    An alert's firing samples are grouped into runs; a gap longer than two steps ends a run (it
    resolved, then fired again).  ``resolved`` is None when it was still firing at the window's end.
    """
    out = []
    for series in result or []:
        labels = series.get('metric') or {}
        times = sorted(float(t) for t, value in series.get('values') or [] if str(value) != '0')
        run_start = previous = None
        for t in times:
            if run_start is None:
                run_start = previous = t
                continue
            if t - previous > 2 * step:
                out.append(_interval(labels, run_start, previous + step))
                run_start = t
            previous = t
        if run_start is not None:
            resolved = previous + step if previous + step < window_end else None
            out.append(_interval(labels, run_start, resolved))
    return sorted(out, key=lambda a: (a['fired'], a['alertname']))


def _interval(labels, fired, resolved):
    return {'alertname': labels.get('alertname'), 'region': labels.get('region', ''),
            'severity': labels.get('severity', ''), 'fired': round(fired, 3),
            'resolved': round(resolved, 3) if resolved is not None else None}


def query(url, start, end, step=1.0, selector=DEFAULT_SELECTOR, timeout=10):
    """The alerts that fired between ``start`` and ``end`` (epoch seconds) on the Prometheus at ``url``."""
    params = urlencode({'query': selector, 'start': '%.3f' % start, 'end': '%.3f' % end, 'step': '%gs' % step})
    response = open_url('%s/api/v1/query_range?%s' % (url.rstrip('/'), params), timeout=timeout)
    body = json.loads(response.read())
    if body.get('status') != 'success':
        raise ValueError('Prometheus answered %s: %s' % (body.get('errorType'), body.get('error')))
    return intervals(body['data']['result'], step, end)
