# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""asm_ratelimit: the ASMLocalRateLimiter custom resource (checks, spec, effective limits)."""

import copy

from ansible_collections.meshdr.alicloud.plugins.module_utils.asm.common import (
    GATEWAY_NAME_MAX,
    dns1123_label_error,
    dns1123_subdomain_error,
    kubeconfig_file_problems,
    strip_none,
)


RATELIMIT_KIND = 'ASMLocalRateLimiter'


def ratelimit_problems(params, check_mode=False):
    problems = []
    # Names are checked when given (the module always gives them; unit tests may not).
    if 'name' in params:
        problems.append(dns1123_subdomain_error('name', params['name']))
    if 'namespace' in params:
        problems.append(dns1123_label_error('namespace', params['namespace']))
    problems = [p for p in problems if p]
    if params.get('state', 'present') != 'present':
        return problems
    configs = params.get('configs')
    if not configs:
        problems.append('configs must list at least one rate limit config')
    if not params.get('workload_selector'):
        problems.append('workload_selector must give at least one label (e.g. app: istio-ingressgateway)')
    if 'gateway_name' in params:
        error = dns1123_label_error('gateway_name', params['gateway_name'], GATEWAY_NAME_MAX)
        if error:
            problems.append(error)
    if params.get('cluster_kubeconfig') and not check_mode:
        error = kubeconfig_file_problems('cluster_kubeconfig', params['cluster_kubeconfig'])
        if error:
            problems.append(error)
    names = []
    for index, config in enumerate(configs or []):
        where = 'configs[%d]' % index
        name = config.get('name')
        if not name:
            problems.append('%s.name must be non-empty' % where)
        names.append(name)
        vhost = ((config.get('match') or {}).get('vhost')) or {}
        if not vhost.get('name'):
            problems.append('%s.match.vhost.name must be non-empty (the host, or * for any)' % where)
        port = vhost.get('port')
        if port is None or not 1 <= port <= 65535:
            problems.append('%s.match.vhost.port must be 1-65535, got %s' % (where, port))
        route = vhost.get('route')
        if route is not None and not (route.get('name_match') or '').strip():
            problems.append('%s.match.vhost.route.name_match must be a non-empty route name' % where)
        limit = config.get('limit') or {}
        quota = limit.get('quota')
        if quota is None or quota <= 0:
            problems.append('%s.limit.quota must be > 0, got %s' % (where, quota))
        interval = limit.get('fill_interval') or {}
        seconds, nanos = interval.get('seconds') or 0, interval.get('nanos') or 0
        if seconds < 0 or not 0 <= nanos < 1000000000:
            problems.append('%s.limit.fill_interval: seconds >= 0 and 0 <= nanos < 1e9' % where)
        elif seconds == 0 and nanos == 0:
            problems.append('%s.limit.fill_interval must be > 0' % where)
        status = limit.get('status')
        if status is not None and not 400 <= status <= 599:
            problems.append('%s.limit.status must be an HTTP error status (400-599), got %s' % (where, status))
    dupes = sorted(set(n for n in names if n and names.count(n) > 1))
    if dupes:
        problems.append('configs: names used twice: %s' % ', '.join(dupes))
    return problems


def ratelimit_spec(params):
    spec = {'workloadSelector': {'labels': dict((k, str(v)) for k, v in params['workload_selector'].items())},
            'configs': [strip_none(copy.deepcopy(c)) for c in params['configs']]}
    for config in spec['configs']:
        interval = config['limit'].setdefault('fill_interval', {})
        interval.setdefault('seconds', 0)
        interval.setdefault('nanos', 0)
    if params.get('is_gateway') is not None:
        spec['isGateway'] = params['is_gateway']
    return spec


def effective_limits(spec, replicas):
    """Per config: the quota per Envoy, and the whole gateway's limit for ``replicas`` pods."""
    out = []
    for config in (spec or {}).get('configs') or []:
        limit = config.get('limit') or {}
        interval = limit.get('fill_interval') or {}
        seconds = (interval.get('seconds') or 0) + (interval.get('nanos') or 0) / 1e9
        quota = limit.get('quota') or 0
        entry = {'name': config.get('name'), 'quota_per_replica': quota, 'fill_interval_seconds': seconds,
                 'replicas': replicas, 'effective_quota': None, 'effective_requests_per_second': None}
        if replicas is not None:
            entry['effective_quota'] = quota * replicas
            if seconds > 0:
                entry['effective_requests_per_second'] = round(quota * replicas / seconds, 3)
        out.append(entry)
    return out
