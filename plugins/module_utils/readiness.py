# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Failover readiness: pure checks over facts gathered from every region, the meshes and GTM.

Each check answers one question an SRE asks before (or instead of) a drill and returns a verdict
with its evidence, never raising on missing facts: what could not be read makes the check
UNKNOWN, not READY.  The shapes are plain dicts so the module can return them as they are.

The model of the question follows AWS Route 53 ARC readiness checks (one verdict per resource
set and rule, rolled up to a summary) applied to what a multi-master ASM + GTM layout needs.
"""

import fnmatch
import hashlib
import re

READY = 'READY'
NOT_READY = 'NOT READY'
UNKNOWN = 'UNKNOWN'

# Fields the API server or a controller owns, or that differ per region by design.
IGNORED_PATHS = (
    'metadata.uid', 'metadata.resourceVersion', 'metadata.creationTimestamp', 'metadata.generation',
    'metadata.managedFields', 'metadata.ownerReferences', 'metadata.selfLink', 'metadata.deletionTimestamp',
    'metadata.annotations.kubectl.kubernetes.io/last-applied-configuration',
    'metadata.annotations.deployment.kubernetes.io/revision', 'status',
    # an IstioGateway names the clusters of its own region
    'spec.clusterIds',
    # a Service's addresses are assigned per cluster
    'spec.clusterIP', 'spec.clusterIPs', 'spec.ports[*].nodePort', 'spec.healthCheckNodePort',
    'spec.loadBalancerIP',
)


def check(name, category, status, summary, evidence=None):
    return {'name': name, 'category': category, 'status': status, 'summary': summary,
            'evidence': evidence or []}


def overall(checks):
    statuses = set(c['status'] for c in checks)
    if NOT_READY in statuses:
        return NOT_READY
    if UNKNOWN in statuses or not checks:
        return UNKNOWN
    return READY


def object_key(obj):
    meta = obj.get('metadata') or {}
    namespace = meta.get('namespace')
    return '%s %s' % (obj.get('kind'), '%s/%s' % (namespace, meta.get('name')) if namespace else meta.get('name'))


def flatten(value, prefix=''):
    """{'a': {'b': [1, {'c': 2}]}} -> {'a.b[0]': 1, 'a.b[1].c': 2}: leaves with their paths."""
    out = {}
    if isinstance(value, dict):
        if not value and prefix:
            out[prefix] = {}
        for key in sorted(value):
            out.update(flatten(value[key], '%s.%s' % (prefix, key) if prefix else str(key)))
    elif isinstance(value, list):
        if not value and prefix:
            out[prefix] = []
        for index, item in enumerate(value):
            out.update(flatten(item, '%s[%d]' % (prefix, index)))
    else:
        out[prefix] = value
    return out


def _generic(path):
    return re.sub(r'\[\d+\]', '[*]', path)


def path_ignored(path, ignored):
    generic = _generic(path)
    for pattern in ignored:
        if path == pattern or generic == pattern or path.startswith(pattern + '.') or path.startswith(pattern + '[') \
                or generic.startswith(pattern + '.') or fnmatch.fnmatchcase(path, pattern):
            return True
    return False


def _intended(intended, key, path=None):
    """Whether a declared difference covers this object (and field, when given)."""
    for entry in intended:
        if not fnmatch.fnmatchcase(key, entry.get('object') or '*'):
            continue
        if path is None or entry.get('path') in (None, '') or path_ignored(path, [entry['path']]):
            return entry.get('reason') or 'declared'
    return None


def compare_objects(objects_by_region, intended=(), ignored=IGNORED_PATHS):
    """Differences between regions: [{object, field, values: {region: value or None}, intended}].

    ``objects_by_region``: {region: {object_key: object}}.  An object missing in a region is one
    difference with field ``(object)``.
    """
    regions = sorted(objects_by_region)
    keys = sorted(set(k for objects in objects_by_region.values() for k in objects))
    differences = []
    for key in keys:
        present = dict((r, key in objects_by_region[r]) for r in regions)
        if not all(present.values()):
            differences.append({'object': key, 'field': '(object)',
                                'values': dict((r, 'present' if p else 'missing') for r, p in present.items()),
                                'intended': _intended(intended, key)})
            continue
        flat = dict((r, flatten(objects_by_region[r][key])) for r in regions)
        paths = sorted(set(p for f in flat.values() for p in f))
        for path in paths:
            if path_ignored(path, ignored):
                continue
            values = dict((r, flat[r].get(path)) for r in regions)
            if len(set(repr(v) for v in values.values())) > 1:
                differences.append({'object': key, 'field': path, 'values': values,
                                    'intended': _intended(intended, key, path)})
    return differences


def parity_check(name, category, objects_by_region, intended, unreadable):
    if unreadable:
        return check(name, category, UNKNOWN, 'could not read %s' % ', '.join(sorted(unreadable)),
                     [{'unreadable': u} for u in sorted(unreadable)])
    differences = compare_objects(objects_by_region, intended)
    unexpected = [d for d in differences if not d['intended']]
    count = len(set(k for objects in objects_by_region.values() for k in objects))
    if unexpected:
        first = unexpected[0]
        return check(name, category, NOT_READY,
                     '%d difference(s) between regions, first: %s %s (%s)' % (
                         len(unexpected), first['object'], first['field'],
                         ', '.join('%s=%s' % (r, _short(v)) for r, v in sorted(first['values'].items()))),
                     differences)
    return check(name, category, READY, '%d objects identical in every region%s' % (
        count, ' (%d declared difference(s))' % len(differences) if differences else ''), differences)


def _short(value, limit=60):
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def limiter_quota(rate_limiters, route=None):
    """Requests per second per replica allowed by the ASMLocalRateLimiter configs (the tightest one)."""
    best = None
    for limiter in rate_limiters:
        for conf in (limiter.get('spec') or {}).get('configs') or []:
            match_route = (((conf.get('match') or {}).get('vhost') or {}).get('route') or {}).get('name_match')
            if route and match_route and match_route != route:
                continue
            limit = conf.get('limit') or {}
            fill = limit.get('fill_interval') or {}
            seconds = float(fill.get('seconds') or 0) + float(fill.get('nanos') or 0) / 1e9
            if seconds <= 0 or not limit.get('quota'):
                continue
            rps = float(limit['quota']) / seconds
            best = rps if best is None else min(best, rps)
    return best


def capacity_checks(regions, traffic, headroom=1.0):
    """For each region as the survivor of each other region's failure: load after failover against
    its capacity at the HPA maximum (max replicas x per-replica quota: ASM's buckets are per pod)."""
    out = []
    names = [r['name'] for r in regions]
    by_name = dict((r['name'], r) for r in regions)
    for failed in names:
        survivors = [n for n in names if n != failed]
        if not survivors:
            continue
        total_weight = sum(max(by_name[n].get('weight') or 0, 0) for n in survivors) or len(survivors)
        for survivor in survivors:
            region = by_name[survivor]
            title = 'capacity: %s takes over from %s' % (survivor, failed)
            if traffic is None or failed not in traffic or survivor not in traffic:
                out.append(check(title, 'capacity', UNKNOWN, 'traffic per region is not known (give traffic or '
                                 'prometheus_url)', [{'traffic': traffic}]))
                continue
            share = float(region.get('weight') or 0) / total_weight if total_weight else 1.0 / len(survivors)
            load = float(traffic[survivor]) + float(traffic[failed]) * share
            quota, max_replicas = region.get('quota_rps'), region.get('hpa_max_replicas')
            evidence = [{'survivor': survivor, 'failed': failed, 'traffic_now_rps': round(float(traffic[survivor]), 1),
                         'traffic_moved_rps': round(float(traffic[failed]) * share, 1),
                         'load_after_failover_rps': round(load, 1), 'quota_rps_per_replica': quota,
                         'hpa_max_replicas': max_replicas}]
            if quota is None or max_replicas is None:
                out.append(check(title, 'capacity', UNKNOWN, 'no rate-limit quota or HPA maximum read for %s'
                                 % survivor, evidence))
                continue
            capacity = quota * max_replicas * headroom
            evidence[0]['capacity_rps'] = round(capacity, 1)
            if load > capacity:
                out.append(check(title, 'capacity', NOT_READY, '%s would get %.1f req/s after %s fails, over its '
                                 '%.1f req/s (%d replicas x %.1f req/s): clients would get HTTP 429'
                                 % (survivor, load, failed, capacity, max_replicas, quota), evidence))
            else:
                out.append(check(title, 'capacity', READY, '%s would get %.1f of %.1f req/s after %s fails'
                                 % (survivor, load, capacity, failed), evidence))
    return out


def gtm_timing_check(monitors, ttl, slo):
    """Worst-case error window GTM's settings allow: interval x evaluation count + timeout + TTL
    (detection by every probe point, then resolvers keep the old answer for a TTL)."""
    title = 'GTM timing against the drill SLOs'
    if not monitors:
        return check(title, 'gtm', NOT_READY, 'no health check on the pool addresses: GTM never drops a failed '
                     'region', [])
    evidence, problems = [], []
    for address, monitor in sorted(monitors.items()):
        if monitor is None:
            problems.append('%s has no health check' % address)
            evidence.append({'address': address, 'monitor': None})
            continue
        detect = monitor['interval'] * monitor['evaluation_count'] + monitor['timeout_ms'] / 1000.0
        window = detect + (ttl or 0)
        row = {'address': address, 'protocol': monitor['protocol'], 'path': monitor.get('path'),
               'interval': monitor['interval'], 'evaluation_count': monitor['evaluation_count'],
               'timeout_ms': monitor['timeout_ms'], 'ttl': ttl, 'detect_bound_s': round(detect, 1),
               'error_window_bound_s': round(window, 1)}
        evidence.append(row)
        if monitor['protocol'] not in ('http', 'https'):
            problems.append('%s is probed by %s only: a gateway whose application fails still passes'
                            % (address, monitor['protocol']))
        elif (monitor.get('path') or '/') == '/':
            problems.append('%s is probed on / only, not the application path' % address)
        max_window = slo.get('max_error_window')
        if max_window is not None and window > float(max_window):
            problems.append('%s: worst-case error window %.1f s > SLO %.1f s (interval %d x %d + timeout %.1f s '
                            '+ TTL %d s)' % (address, window, float(max_window), monitor['interval'],
                                             monitor['evaluation_count'], monitor['timeout_ms'] / 1000.0, ttl or 0))
        max_detect = slo.get('max_time_to_detect')
        if max_detect is not None and detect > float(max_detect):
            problems.append('%s: worst-case time to detect %.1f s > SLO %.1f s' % (address, detect, float(max_detect)))
    if problems:
        more = ' (and %d more)' % (len(problems) - 1) if len(problems) > 1 else ''
        return check(title, 'gtm', NOT_READY, problems[0] + more, evidence)
    worst = max(e['error_window_bound_s'] for e in evidence)
    return check(title, 'gtm', READY, 'worst-case error window %.1f s is within the SLOs' % worst, evidence)


def fingerprint(pem):
    body = ''.join(line.strip() for line in (pem or '').splitlines() if line and not line.startswith('-----'))
    return hashlib.sha256(body.encode('ascii', 'replace')).hexdigest()[:16] if body else None


def trust_check(root_certs):
    """Multi-master ASM needs every mesh to sign with one root CA (proxies of different meshes trust
    each other); istiod publishes its root as ConfigMap istio-ca-root-cert (key root-cert.pem)."""
    title = 'one root CA for every mesh'
    evidence = [{'region': r, 'root_ca_sha256': fingerprint(pem) if pem else None}
                for r, pem in sorted(root_certs.items())]
    missing = [e['region'] for e in evidence if e['root_ca_sha256'] is None]
    if missing:
        return check(title, 'trust', UNKNOWN, 'no istio-ca-root-cert read in %s' % ', '.join(missing), evidence)
    distinct = set(e['root_ca_sha256'] for e in evidence)
    if len(distinct) > 1:
        return check(title, 'trust', NOT_READY, '%d different root CAs: %s' % (len(distinct), ', '.join(
            '%s=%s' % (e['region'], e['root_ca_sha256']) for e in evidence)), evidence)
    return check(title, 'trust', READY, 'every mesh uses root CA %s' % distinct.pop(), evidence)


def pool_membership_check(gateway_addresses, pool_addresses):
    title = 'GTM pool holds exactly the gateways'
    gateways = dict((a, r) for r, a in gateway_addresses.items() if a)
    unknown = sorted(set(pool_addresses) - set(gateways))
    absent = sorted(r for a, r in gateways.items() if a not in pool_addresses)
    evidence = [{'gateways': gateway_addresses, 'pool': sorted(pool_addresses)}]
    problems = []
    if absent:
        problems.append('not in the pool: gateway of %s' % ', '.join(
            '%s (%s)' % (r, gateway_addresses[r]) for r in absent))
    if unknown:
        problems.append('in the pool but no known gateway: %s' % ', '.join(unknown))
    missing_gw = sorted(r for r, a in gateway_addresses.items() if not a)
    if missing_gw:
        return check(title, 'trust', UNKNOWN, 'no gateway address known for %s' % ', '.join(missing_gw), evidence)
    if problems:
        return check(title, 'trust', NOT_READY, '; '.join(problems), evidence)
    return check(title, 'trust', READY, '%d addresses, one per region' % len(pool_addresses), evidence)


def gtm_state_check(addresses):
    """``addresses``: {address: available_status}."""
    title = 'every pool address available in GTM'
    evidence = [{'address': a, 'available_status': s} for a, s in sorted(addresses.items())]
    down = [e['address'] for e in evidence if e['available_status'] != 'available']
    if not addresses:
        return check(title, 'state', NOT_READY, 'the access domain has no address', evidence)
    if down:
        return check(title, 'state', NOT_READY, 'unavailable in GTM: %s' % ', '.join(down), evidence)
    return check(title, 'state', READY, '%d of %d available' % (len(addresses), len(addresses)), evidence)


def gateway_state_checks(regions):
    out = []
    for region in regions:
        title = 'gateway of %s ready with room to scale' % region['name']
        dep, hpa = region.get('gateway_deployment'), region.get('gateway_hpa')
        if region.get('unreadable'):
            out.append(check(title, 'state', UNKNOWN, 'could not read %s' % region['unreadable'], []))
            continue
        available = int(((dep or {}).get('status') or {}).get('availableReplicas') or 0)
        current = ((hpa or {}).get('status') or {}).get('currentReplicas')
        maximum = ((hpa or {}).get('spec') or {}).get('maxReplicas')
        evidence = [{'region': region['name'], 'deployment': dep is not None, 'available_replicas': available,
                     'hpa_current_replicas': current, 'hpa_max_replicas': maximum}]
        if dep is None:
            out.append(check(title, 'state', NOT_READY, 'no gateway Deployment in %s' % region['name'], evidence))
        elif available < 1:
            out.append(check(title, 'state', NOT_READY, 'no available gateway replica in %s' % region['name'],
                             evidence))
        elif hpa is None:
            out.append(check(title, 'state', UNKNOWN, 'no HPA for the gateway in %s' % region['name'], evidence))
        elif current is not None and maximum is not None and int(current) >= int(maximum):
            out.append(check(title, 'state', NOT_READY, 'the gateway HPA in %s is already at its maximum (%d): '
                             'no room to absorb a failover' % (region['name'], int(maximum)), evidence))
        else:
            out.append(check(title, 'state', READY, '%s: %d gateway replica(s) available, HPA %s of max %s' % (
                region['name'], available, current if current is not None else '?', maximum), evidence))
    return out
