# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""gtm_monitor: health-check templates (limits, checks, the default probe set, the change plan)."""

import json

from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm.common import (
    diff_fields,
    hostname_error,
    items,
    parse_json,
    to_int,
)


PROTOCOLS = ['http', 'https', 'tcp', 'ping']
# Health-check template limits.  Interval: TF resource_alicloud_alidns_cloud_gtm_monitor_template.go
# (StringInSlice 15/60/300/900/1800/3600) and SDK CreateCloudGtmMonitorTemplateRequest.interval ("minimum 15 s,
# Ultimate Edition only"); timeout: SDK field comment and TF (2000/3000/5000/10000 ms); evaluation count 1/2/3 and
# failure rate 20/50/80/100: SDK field comments and TF IntInSlice (TF's docs also list 0, its code does not).
INTERVALS = [15, 60, 300, 900, 1800, 3600]
TIMEOUTS = [2000, 3000, 5000, 10000]
EVALUATION_COUNTS = [1, 2, 3]
FAILURE_RATES = [20, 50, 80, 100]
# Lab only (option lab_short_intervals): what drlab accepts when started with --short-intervals
# (lab/drlab/cloud/gtm.py GtmApi.intervals/timeouts); the real service refuses these.
LAB_INTERVALS = list(range(1, 15))
LAB_TIMEOUTS = [500, 1000]
# ExtendInfo ping settings: SDK CreateCloudGtmMonitorTemplateRequest.extend_info comment and TF docs
# (alidns_cloud_gtm_monitor_template.html.markdown, extend_info).
PACKET_NUMS = [20, 50, 100]
PACKET_LOSS_RATES = [10, 30, 40, 80, 90, 100]
# Probe point groups (ListCloudGtmMonitorNodes GroupType): BGP nodes, ISP (carrier) nodes, OVERSEAS
# (international) nodes -- https://help.aliyun.com/zh/dns/api-alidns-2015-01-09-listcloudgtmmonitornodes.
MAINLAND_GROUP_TYPES = ('BGP', 'ISP')
OVERSEAS_GROUP_TYPES = ('OVERSEAS',)

# ExtendInfo keys (wire JSON names) per option, and which protocols accept them.
EXTEND_KEYS = {
    'host': ('host', ('http', 'https')),
    'path': ('path', ('http', 'https')),
    'code': ('code', ('http', 'https')),
    'sni': ('sni', ('https',)),
    'follow_redirect': ('followRedirect', ('http', 'https')),
    'packet_num': ('packetNum', ('ping',)),
    'packet_loss_rate': ('packetLossRate', ('ping',)),
}
# Defaults sent on create, so that what check mode predicts is what the service stores.
TEMPLATE_CREATE_DEFAULTS = dict(ip_version='IPv4', interval=60, timeout=5000, evaluation_count=1, failure_rate=50)
HTTP_EXTEND_DEFAULTS = {'path': '/', 'code': 500}
DEFAULT_PROBE_POINTS = 3


def normalise_probe_points(nodes):
    points = [dict(city_code=str(n.get('CityCode', n.get('city_code'))),
                   isp_code=str(n.get('IspCode', n.get('isp_code')))) for n in nodes or []]
    return sorted(points, key=lambda p: (p['city_code'], p['isp_code']))


def normalise_template(body):
    if not body or not body.get('TemplateId'):
        return None
    return dict(
        template_id=body['TemplateId'], name=body.get('Name'), protocol=body.get('Protocol'),
        ip_version=body.get('IpVersion'), interval=to_int(body.get('Interval')),
        timeout=to_int(body.get('Timeout')), evaluation_count=to_int(body.get('EvaluationCount')),
        failure_rate=to_int(body.get('FailureRate')),
        probe_points=normalise_probe_points(items(body, 'IspCityNodes', 'IspCityNode')),
        extend_info=parse_json(body.get('ExtendInfo')),
    )


def template_problems(params):
    """Errors in gtm_monitor's input, before any API call (list of messages)."""
    errors = []
    if params.get('state') != 'present':
        return errors
    if not (params.get('name') or '').strip():
        errors.append('name must be a non-empty template name')
    protocol = params.get('probe_protocol')
    for option, (_key, protocols) in EXTEND_KEYS.items():
        if params.get(option) is not None and protocol not in protocols:
            errors.append('%s applies to protocol %s only, not %s' % (option, '/'.join(protocols), protocol))
    interval, timeout = params.get('interval'), params.get('timeout')
    lab = bool(params.get('lab_short_intervals'))
    intervals = (LAB_INTERVALS if lab else []) + INTERVALS
    timeouts = (LAB_TIMEOUTS if lab else []) + TIMEOUTS
    if interval is not None and interval not in intervals:
        errors.append('interval must be one of %s seconds (15 needs the Ultimate edition), got %s%s'
                      % (', '.join(map(str, INTERVALS)), interval,
                         '' if lab else '; lab_short_intervals=true allows 1-14 s on drlab only'))
    if timeout is not None and timeout not in timeouts:
        errors.append('timeout must be one of %s milliseconds, got %s%s'
                      % (', '.join(map(str, TIMEOUTS)), timeout,
                         '' if lab else '; lab_short_intervals=true allows 500 or 1000 ms on drlab only'))
    if interval is not None and timeout is not None and timeout > interval * 1000:
        errors.append('timeout (%s ms) must not exceed interval (%s s)' % (timeout, interval))
    for option, allowed in (('packet_num', PACKET_NUMS), ('packet_loss_rate', PACKET_LOSS_RATES)):
        if params.get(option) is not None and params[option] not in allowed:
            errors.append('%s must be one of %s, got %s' % (option, ', '.join(map(str, allowed)), params[option]))
    path = params.get('path')
    if path is not None and not path.startswith('/'):
        errors.append("path must start with '/', got %r" % path)
    points = params.get('probe_points')
    if points is not None:
        if not points:
            errors.append('probe_points must list at least one probe point (or be omitted for the default set)')
        for point in points:
            if not str(point.get('city_code') or '').strip() or not str(point.get('isp_code') or '').strip():
                errors.append('each probe point needs city_code and isp_code, got %s' % point)
        pairs = [(str(p.get('city_code')), str(p.get('isp_code'))) for p in points]
        for city, isp in sorted(set(pair for pair in pairs if pairs.count(pair) > 1)):
            errors.append('probe point city_code=%s isp_code=%s is listed more than once' % (city, isp))
    host = params.get('host')
    if host is not None and hostname_error(host.split(':')[0]):
        errors.append('host: %s' % hostname_error(host.split(':')[0]))
    return errors


def desired_extend_info(params):
    return dict((key, params[option]) for option, (key, _p) in EXTEND_KEYS.items() if params.get(option) is not None)


def pick_probe_points(nodes, region_id, count=DEFAULT_PROBE_POINTS):
    """The default probe set: ``count`` enabled nodes in the service's geography.

    A region ``cn-*`` (and an unset region: the SDK default is cn-hangzhou) is served in
    mainland China, so probe from there; any other region from outside mainland China.
    Probing from the wrong geography raises false alarms (cross-border latency).  The
    geography comes from the node's GroupType only (BGP and ISP groups are mainland China
    probe points, OVERSEAS the international ones: ListCloudGtmMonitorNodes reference);
    GroupName is display text in the caller's language and is never matched.  Nodes are
    taken in the service's order, one per city first so a single city's outage is not a verdict.
    """
    wanted = MAINLAND_GROUP_TYPES if (not region_id or region_id.startswith('cn-')) else OVERSEAS_GROUP_TYPES
    enabled = [n for n in nodes if (n.get('EnableStatus') or 'enable') == 'enable']
    chosen_pool = [n for n in enabled if (n.get('GroupType') or '').upper() in wanted] or enabled
    chosen, cities = [], set()
    for node in chosen_pool:  # distinct cities first
        if node.get('CityCode') not in cities and len(chosen) < count:
            chosen.append(node)
            cities.add(node.get('CityCode'))
    for node in chosen_pool:
        if node not in chosen and len(chosen) < count:
            chosen.append(node)
    return normalise_probe_points(chosen)


def plan_template(params, current, default_points):
    """What gtm_monitor does: ``(action, changed_fields, after_view)``; action is create/update/none.

    Only fields the user set are compared; ExtendInfo is compared key by key as parsed JSON.
    ``default_points`` are used for a template created without ``probe_points``.
    """
    wanted = dict(name=params['name'], protocol=params.get('probe_protocol'), ip_version=params.get('ip_version'),
                  interval=params.get('interval'), timeout=params.get('timeout'),
                  evaluation_count=params.get('evaluation_count'), failure_rate=params.get('failure_rate'))
    points = normalise_probe_points(params['probe_points']) if params.get('probe_points') else None
    extend = desired_extend_info(params)
    if current is None:
        after = dict(TEMPLATE_CREATE_DEFAULTS)
        after.update(dict((k, v) for k, v in wanted.items() if v is not None))
        after['template_id'] = None
        after['probe_points'] = points or default_points
        base = dict(HTTP_EXTEND_DEFAULTS) if after['protocol'] in ('http', 'https') else {}
        base.update(extend)
        after['extend_info'] = base
        return 'create', sorted(k for k in after if k != 'template_id'), after
    changed = diff_fields(wanted, current, ['interval', 'timeout', 'evaluation_count', 'failure_rate'])
    if points is not None and points != current['probe_points']:
        changed.append('probe_points')
    for key, value in sorted(extend.items()):
        if current['extend_info'].get(key) != value:
            changed.append('extend_info.%s' % key)
    after = dict(current)
    after.update(dict((k, v) for k, v in wanted.items() if v is not None and k not in ('protocol', 'ip_version')))
    if points is not None:
        after['probe_points'] = points
    merged = dict(current['extend_info'])
    merged.update(extend)
    after['extend_info'] = merged
    return ('update' if changed else 'none'), changed, after


def immutable_template_errors(params, current):
    errors = []
    for option, field in (('probe_protocol', 'protocol'), ('ip_version', 'ip_version')):
        if current and params.get(option) is not None and params[option] != current[field]:
            errors.append('%s of template %s is %s and cannot change to %s (delete and re-create it)'
                          % (option, current['name'], current[field], params[option]))
    return errors


def template_request(view):
    """Wire parameters of Create/UpdateCloudGtmMonitorTemplate from a template view."""
    req = dict(Name=view['name'], Interval=view['interval'], Timeout=view['timeout'],
               EvaluationCount=view['evaluation_count'], FailureRate=view['failure_rate'],
               IspCityNodes=[dict(CityCode=p['city_code'], IspCode=p['isp_code']) for p in view['probe_points']])
    if view['extend_info']:
        req['ExtendInfo'] = json.dumps(view['extend_info'], sort_keys=True)
    return req
