# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure helpers of the GTM 3.0 modules (gtm_monitor, gtm_pool, gtm_domain, gtm_info).

Everything here works on plain dicts: API bodies (wire names, as ``AlibabaCloudModule.call``
returns them) go in, snake_case views and change plans come out.  The modules only read,
call the planned operations and report, so the interesting logic is unit-tested without a
cloud.  A ``call`` argument is any ``call(action, **params) -> body`` function.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import re

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
LB_STRATEGIES = ['weight', 'round_robin', 'sequence', 'source_nearest']
SEQUENCE_MODES = ['preemptive', 'non_preemptive']
JUDGEMENTS = ['any_ok', 'p30_ok', 'p50_ok', 'p70_ok', 'all_ok']
RR_POOL_TYPE = {'A': 'IPv4', 'AAAA': 'IPv6', 'CNAME': 'domain'}
NOTICE_TYPES = ['addr_alert', 'addr_resume', 'addr_pool_unavailable', 'addr_pool_available']

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

# An address created by gtm_pool carries this Remark: the pool (by name) that owns it.
OWNER_PREFIX = 'meshdr.alicloud:pool='


# -- generic ------------------------------------------------------------------------------
def items(body, container, item):
    """``body[container][item]`` as a list (the API wraps every list in two levels)."""
    value = (body or {}).get(container) or {}
    if isinstance(value, dict):
        value = value.get(item) or []
    return list(value or [])


def list_all(call, action, container, item, page_size=100, **filters):
    """Every item of a paginated List* operation."""
    found, page = [], 1
    while True:
        body = call(action, PageNumber=page, PageSize=page_size, **filters)
        batch = items(body, container, item)
        found.extend(batch)
        total_pages = body.get('TotalPages')
        if not batch or len(batch) < page_size or (total_pages is not None and page >= int(total_pages)):
            return found
        page += 1


def parse_json(text):
    """ExtendInfo and friends: a JSON object string (or already a dict) -> dict; empty -> {}."""
    if isinstance(text, dict):
        return text
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def to_int(value):
    try:
        return int(value) if value not in (None, '') else None
    except (TypeError, ValueError):
        return None


def enable_str(flag):
    return 'enable' if flag else 'disable'


def diff_fields(desired, current, keys):
    """Names of ``keys`` whose desired value is set (not None) and differs from current."""
    return [k for k in keys if desired.get(k) is not None and desired.get(k) != current.get(k)]


# -- monitor templates ----------------------------------------------------------------------
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


def validate_template(params):
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


def oldest(found, id_key):
    """Of several objects with one name, the one every concurrent run agrees to keep.

    Two runs that both found nothing and both created an object see, on re-reading by name,
    the same set ordered the same way: the oldest (CreateTimestamp, in every List/Describe
    model of GTM 3.0; then the id) was there first and never changes, so each run keeps it and
    deletes only what it created itself if that is not it.
    """
    return min(found, key=lambda o: (to_int(o.get('CreateTimestamp')) or 0, str(o.get(id_key) or '')))


def settle(found, created_id, id_key):
    """``(keep_id, delete_ids)`` after this run created ``created_id`` among ``found`` namesakes."""
    if not found:
        return created_id, []
    keep = oldest(found, id_key)[id_key]
    ids = [o.get(id_key) for o in found]
    return keep, ([created_id] if created_id != keep and created_id in ids else [])


def find_by_name(found, name, name_key, what):
    """The one item whose ``name_key`` equals ``name`` (List filters are fuzzy); None if none."""
    matches = [i for i in found if i.get(name_key) == name]
    if len(matches) > 1:
        raise ValueError('%d %ss are named %s; names must be unique for this module to manage them'
                         % (len(matches), what, name))
    return matches[0] if matches else None


# -- addresses and pools -----------------------------------------------------------------------
def owner_remark(pool_name):
    return OWNER_PREFIX + pool_name


def owner_of(remark):
    return remark[len(OWNER_PREFIX):] if remark and remark.startswith(OWNER_PREFIX) else None


def normalise_tasks(tasks):
    out = [dict(template_id=t.get('TemplateId'), port=to_int(t.get('Port'))) for t in tasks or []]
    return sorted(out, key=lambda t: (t['template_id'] or '', t['port'] or 0))


def normalise_address(body, member=None):
    """An address (ListCloudGtmAddresses / pool member entry) as gtm_pool and gtm_info show it."""
    member = member or body
    manual = body.get('ManualAvailableStatus') or None
    return dict(
        address_id=body.get('AddressId'), name=body.get('Name'), address=body.get('Address'),
        type=body.get('Type'), enabled=body.get('EnableStatus') == 'enable',
        available_mode=body.get('AvailableMode'),
        manual_status=manual if body.get('AvailableMode') == 'manual' else None,
        health_judgement=body.get('HealthJudgement'),
        health_tasks=normalise_tasks(items(body, 'HealthTasks', 'HealthTask')),
        weight=to_int(member.get('WeightValue')), serial_number=to_int(member.get('SerialNumber')),
        health_status=body.get('HealthStatus'), available_status=body.get('AvailableStatus'),
    )


def normalise_pool(body):
    if not body or not body.get('AddressPoolId'):
        return None
    addresses = [normalise_address(a) for a in items(body, 'Addresses', 'Address')]
    return dict(
        pool_id=body['AddressPoolId'], name=body.get('AddressPoolName'), type=body.get('AddressPoolType'),
        enabled=body.get('EnableStatus') == 'enable', health_judgement=body.get('HealthJudgement'),
        lb_strategy=body.get('AddressLbStrategy'), sequence_mode=body.get('SequenceLbStrategyMode') or None,
        available_status=body.get('AvailableStatus'), health_status=body.get('HealthStatus'),
        addresses=sorted(addresses, key=lambda a: a['name'] or ''),
    )


POOL_STATUS_KEYS = ('available_status', 'health_status')
ADDRESS_STATUS_KEYS = ('health_status', 'available_status')


def managed_pool_view(pool):
    """The pool without the statuses the service derives (what --diff shows)."""
    if pool is None:
        return {}
    view = dict((k, v) for k, v in pool.items() if k not in POOL_STATUS_KEYS)
    view['addresses'] = [dict((k, v) for k, v in a.items() if k not in ADDRESS_STATUS_KEYS)
                         for a in pool.get('addresses', [])]
    return view


def validate_pool(params):
    errors = []
    if params.get('state') != 'present':
        return errors
    if not (params.get('name') or '').strip():
        errors.append('name must be a non-empty pool name')
    addresses = params.get('addresses')
    if addresses is None:
        return errors
    if not addresses:
        # A pool without an address answers no query: the access domain using it would resolve to nothing.
        errors.append('addresses, when given, must list at least one address (an empty pool serves nothing; '
                      'use state=absent to remove the pool)')
    names = [a.get('name') for a in addresses]
    for name in sorted(set(n for n in names if names.count(n) > 1)):
        errors.append('address name %s is listed more than once' % name)
    pool_type = params.get('type') or 'IPv4'
    keys = [address_key(a.get('type') or pool_type, a.get('address')) for a in addresses]
    for key in sorted(set(k for k in keys if keys.count(k) > 1)):
        errors.append('address %s is listed more than once (each address may be in a pool once)' % key)
    for index, addr in enumerate(addresses, start=1):
        label = 'addresses[%d] (%s)' % (index, addr.get('name'))
        if not (addr.get('name') or '').strip():
            errors.append('%s: name must be non-empty' % label)
        kind = addr.get('type') or pool_type
        if kind != pool_type:
            errors.append('%s: type %s does not match the pool type %s' % (label, kind, pool_type))
        error = address_value_error(kind, addr.get('address') or '')
        if error:
            errors.append('%s: %s' % (label, error))
        weight = addr.get('weight')
        if weight is not None and not 1 <= weight <= 100:
            errors.append('%s: weight must be between 1 and 100, got %s' % (label, weight))
        if addr.get('manual_status') is not None and addr.get('available_mode') != 'manual':
            errors.append('%s: manual_status needs available_mode=manual' % label)
        if addr.get('available_mode') == 'manual' and addr.get('manual_status') is None:
            errors.append('%s: available_mode=manual needs manual_status (available or unavailable)' % label)
        for task in addr.get('health_tasks') or []:
            port = task.get('port')
            if port is not None and not 1 <= port <= 65535:
                errors.append('%s: health task port must be 1-65535, got %s' % (label, port))
    return errors


# Host names: RFC 1123 section 2.1 (RFC 952 labels, a digit allowed first): labels of 1-63 letters, digits
# and hyphens, neither starting nor ending with a hyphen, at most 253 characters in all.
HOST_LABEL = re.compile(r'^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$')
HOST_NAME_MAX = 253


def hostname_error(value, wildcard=False, apex=False):
    """Why ``value`` is not an RFC 1123 host name (optionally ``*.``-prefixed, or ``@``), or None."""
    if apex and value == '@':
        return None
    labels = (value or '').split('.')
    if wildcard and labels[0] == '*' and len(labels) > 1:
        labels = labels[1:]
    elif wildcard and value == '*':
        return None
    if not value or len(value) > HOST_NAME_MAX or not all(HOST_LABEL.match(label) for label in labels):
        return ('%r is not a host name (RFC 1123: labels of letters, digits and -, at most 63 characters each, '
                'not starting or ending with -)' % (value,))
    return None


def address_value_error(kind, value):
    """Why ``value`` is not an address of ``kind`` (IPv4, IPv6, domain), or None.

    IP addresses are parsed by Python's ``ipaddress`` (the textual forms of RFC 791 / RFC 4291 and 5952);
    a domain address is an RFC 1123 host name with at least two labels.
    """
    if kind in ('IPv4', 'IPv6'):
        parse = ipaddress.IPv4Address if kind == 'IPv4' else ipaddress.IPv6Address
        try:
            parse(value)
        except ValueError:
            return '%r is not an %s address' % (value, kind)
        return None
    stripped = (value or '').rstrip('.')
    if '.' not in stripped or hostname_error(stripped):
        return '%r is not a domain name' % value
    return None


def address_key(kind, value):
    """The address as the service compares it (IPv6 in its compressed form, names case-insensitive)."""
    if kind in ('IPv4', 'IPv6'):
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            return value
    return (value or '').rstrip('.').lower()


def resolve_template(ref, templates):
    """Template id for a reference by id or by name; raises ValueError if unknown or ambiguous."""
    by_id = [t for t in templates if t.get('TemplateId') == ref]
    if by_id:
        return ref
    by_name = [t for t in templates if t.get('Name') == ref]
    if len(by_name) == 1:
        return by_name[0]['TemplateId']
    if by_name:
        raise ValueError('health task template %s is ambiguous: %d templates have that name' % (ref, len(by_name)))
    raise ValueError('health task template %s does not exist (give a template name or id)' % ref)


def desired_address(spec, index, pool_type, template_ids):
    """A user's address entry as a view (None = not set, kept as it is on update)."""
    tasks = None
    if spec.get('health_tasks') is not None:
        tasks = normalise_tasks([dict(TemplateId=template_ids[t['template']], Port=t.get('port'))
                                 for t in spec['health_tasks']])
    mode = spec.get('available_mode')
    return dict(name=spec['name'], address=spec['address'], type=spec.get('type') or pool_type,
                weight=spec.get('weight'), serial_number=spec.get('serial_number') or index,
                enabled=spec.get('enabled'), available_mode=mode,
                manual_status=spec.get('manual_status') if mode == 'manual' else None,
                health_judgement=spec.get('health_judgement'), health_tasks=tasks)


ADDRESS_CREATE_DEFAULTS = dict(weight=1, enabled=True, available_mode='auto', health_judgement='any_ok',
                               health_tasks=[])


def merge_membership(owned, members):
    """Owned address views with their weight and serial number in the pool (None when not a member)."""
    by_id = dict((m['address_id'], m) for m in members)
    merged = []
    for addr in owned:
        member = by_id.get(addr['address_id']) or {}
        view = dict(addr)
        view.update(weight=member.get('weight'), serial_number=member.get('serial_number'))
        merged.append(view)
    return merged


def plan_addresses(desired, owned, members):
    """The address work of gtm_pool.

    ``desired``: views from :func:`desired_address`; ``owned``: addresses this pool owns (by
    Remark) merged with their membership (:func:`merge_membership`); ``members``: the pool's
    current member views.  Returns a dict with ``create`` (views), ``update`` (list of
    (current, after, fields)), ``delete`` (views), ``replace`` (membership or weights differ),
    ``changes`` (readable field paths) and ``after`` (predicted member views, by name).
    """
    by_name = dict((a['name'], a) for a in owned)
    plan = dict(create=[], update=[], delete=[], replace=False, after=[], changes=[])
    for want in desired:
        have = by_name.get(want['name'])
        if have is None:
            after = dict(ADDRESS_CREATE_DEFAULTS)
            after.update(dict((k, v) for k, v in want.items() if v is not None))
            after.setdefault('manual_status', None)
            after.update(address_id=None, health_status=None,
                         available_status=after['manual_status'] if after['available_mode'] == 'manual' else None)
            plan['create'].append(after)
            plan['changes'].append('addresses.%s: create' % want['name'])
        else:
            fields = diff_fields(want, have, ['address', 'enabled', 'available_mode', 'manual_status',
                                              'health_judgement', 'health_tasks'])
            if want.get('available_mode') == 'auto' and have.get('manual_status') is not None:
                fields.append('manual_status')
            fields = sorted(set(fields))
            after = dict(have)
            after.update(dict((k, v) for k, v in want.items() if v is not None))
            if after['available_mode'] != 'manual':
                after['manual_status'] = None
            elif 'manual_status' in fields or 'available_mode' in fields:
                after['available_status'] = after['manual_status']
            if after.get('weight') is None:
                after['weight'] = 1
            if fields:
                plan['update'].append((have, after, fields))
            plan['changes'].extend('addresses.%s.%s' % (want['name'], f) for f in fields)
            if have.get('weight') is not None:
                plan['changes'].extend('addresses.%s.%s' % (want['name'], f) for f in ('weight', 'serial_number')
                                       if have.get(f) != after.get(f))
        plan['after'].append(after)
    member_state = sorted((m['address_id'], m['weight'], m['serial_number']) for m in members)
    wanted_state = sorted((a['address_id'] or '', a['weight'], a['serial_number']) for a in plan['after'])
    plan['replace'] = member_state != wanted_state
    wanted_names = set(a['name'] for a in desired)
    plan['delete'] = [a for a in owned if a['name'] not in wanted_names]
    plan['changes'].extend('addresses.%s: delete' % a['name'] for a in plan['delete'])
    if plan['replace']:
        plan['changes'].append('membership')
    plan['after'] = sorted(plan['after'], key=lambda a: a['name'])
    return plan


def address_create_request(view, pool_name):
    req = dict(Name=view['name'], Address=view['address'], Type=view['type'],
               EnableStatus=enable_str(view['enabled']), AvailableMode=view['available_mode'],
               HealthJudgement=view['health_judgement'], Remark=owner_remark(pool_name),
               HealthTasks=[dict(TemplateId=t['template_id'], Port=t['port']) for t in view['health_tasks']])
    if view['available_mode'] == 'manual':
        req['ManualAvailableStatus'] = view['manual_status']
    return req


def address_update_calls(have, after, fields):
    """The update operations for an existing address, as (action, params) in order."""
    calls = []
    basic = [f for f in fields if f in ('address', 'health_judgement', 'health_tasks')]
    if basic:
        req = dict(AddressId=have['address_id'], Name=after['name'], Address=after['address'],
                   HealthJudgement=after['health_judgement'],
                   HealthTasks=[dict(TemplateId=t['template_id'], Port=t['port']) for t in after['health_tasks']])
        calls.append(('UpdateCloudGtmAddress', req))
    if 'enabled' in fields:
        calls.append(('UpdateCloudGtmAddressEnableStatus',
                      dict(AddressId=have['address_id'], EnableStatus=enable_str(after['enabled']))))
    if 'available_mode' in fields or 'manual_status' in fields:
        req = dict(AddressId=have['address_id'], AvailableMode=after['available_mode'])
        if after['available_mode'] == 'manual':
            req['ManualAvailableStatus'] = after['manual_status']
        calls.append(('UpdateCloudGtmAddressManualAvailableStatus', req))
    return calls


def members_request(after_views):
    return [dict(AddressId=a['address_id'], WeightValue=a['weight'], SerialNumber=a['serial_number'],
                 RequestSource=['default']) for a in sorted(after_views, key=lambda a: a['serial_number'])]


def plan_pool_settings(params, current):
    """Pool-level changes (health_judgement, enabled, lb_strategy, sequence_mode) -> list of fields."""
    wanted = dict(health_judgement=params.get('health_judgement'), enabled=params.get('enabled'),
                  lb_strategy=params.get('lb_strategy'), sequence_mode=params.get('sequence_mode'))
    return diff_fields(wanted, current, ['health_judgement', 'enabled', 'lb_strategy', 'sequence_mode'])


# -- access domains ---------------------------------------------------------------------------
def domain_fqdn(zone, hostname):
    zone = zone.rstrip('.').lower()
    hostname = hostname.lower()
    return zone if hostname == '@' else '%s.%s' % (hostname, zone)


def domain_create_request(charge_type, instance_id, zone, hostname, rr_type, ttl, enabled):
    """CreateCloudGtmInstanceConfig parameters (without ClientToken).

    ChargeType is always sent: the SDK's default is prepay (field comment), TF sends postpay; prepay needs
    the subscription InstanceId.  ScheduleZoneMode custom: sys_assign "is no longer supported" (SDK).
    """
    request = dict(ChargeType=charge_type, ScheduleZoneMode='custom', ScheduleZoneName=zone,
                   ScheduleHostname=hostname, ScheduleRrType=rr_type, Ttl=ttl, EnableStatus=enable_str(enabled))
    if charge_type == 'prepay':
        request['InstanceId'] = instance_id
    return request


def normalise_domain(body):
    """DescribeCloudGtmInstanceConfigFullInfo (or a list entry) as gtm_domain / gtm_info show it."""
    if not body or not body.get('ConfigId'):
        return None
    pools = []
    for entry in items(body, 'AddressPools', 'AddressPool'):
        pool = normalise_pool(entry) or {}
        pool.update(weight=to_int(entry.get('WeightValue')), serial_number=to_int(entry.get('SerialNumber')))
        pools.append(pool)
    alert = unwrap_list(body.get('AlertConfig'), 'AlertConfig')
    groups = parse_groups(body.get('AlertGroup'))
    return dict(
        config_id=body['ConfigId'], instance_id=body.get('InstanceId'),
        zone=body.get('ScheduleZoneName'), hostname=body.get('ScheduleHostname'),
        rr_type=body.get('ScheduleRrType'), fqdn=body.get('ScheduleDomainName'), ttl=to_int(body.get('Ttl')),
        enabled=body.get('EnableStatus') == 'enable', lb_strategy=body.get('AddressPoolLbStrategy'),
        sequence_mode=body.get('SequenceLbStrategyMode') or None,
        available_status=body.get('AvailableStatus'), health_status=body.get('HealthStatus'),
        pools=sorted(pools, key=lambda p: (p.get('serial_number') or 0, p.get('name') or '')),
        alert=dict(notices=normalise_notices(alert), groups=sorted(groups)) if alert or groups else None,
    )


def unwrap_list(value, key):
    """A list that arrives as a list, as {key: [...]} (Describe*Alert) or as a JSON string (FullInfo)."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError:
            value = [value]
    if isinstance(value, dict):
        value = value.get(key)
    return list(value or []) if isinstance(value, list) else []


def parse_groups(groups):
    return [str(g) for g in unwrap_list(groups, 'AlertGroup')]


def normalise_notices(entries):
    entries = [e for e in entries or [] if isinstance(e, dict)]
    out = [dict(type=e.get('NoticeType'), email=bool(e.get('EmailNotice')), sms=bool(e.get('SmsNotice')),
                dingtalk=bool(e.get('DingtalkNotice'))) for e in entries or []]
    return sorted(out, key=lambda n: n['type'] or '')


def summarise(domain):
    """Which addresses answer DNS now: enabled, available, in an available pool of an enabled domain."""
    serving, not_serving = [], []
    for pool in (domain or {}).get('pools', []):
        pool_up = pool.get('enabled') and pool.get('available_status') == 'available'
        for addr in pool.get('addresses', []):
            up = bool(domain.get('enabled') and pool_up and addr.get('enabled')
                      and addr.get('available_status') == 'available')
            (serving if up else not_serving).append(addr.get('address'))
    return dict(serving=serving, not_serving=not_serving,
                all_available=bool(serving) and not not_serving)


def validate_domain(params):
    errors = []
    if params.get('state') != 'present':
        return errors
    ttl = params.get('ttl')
    if ttl is not None and not 1 <= ttl <= 86400:
        errors.append('ttl must be between 1 and 86400 seconds, got %s' % ttl)
    if params.get('charge_type') == 'prepay' and not params.get('instance_id'):
        errors.append('charge_type=prepay needs instance_id (the subscription instance to use)')
    if params.get('charge_type') == 'postpay' and params.get('instance_id'):
        errors.append('instance_id is only for charge_type=prepay; postpay creates its own instance')
    hostname = params.get('hostname') or ''
    zone = (params.get('zone') or '').rstrip('.').lower()
    if hostname != '@' and (not hostname or ' ' in hostname or hostname.endswith('.')
                            or (zone and hostname.lower().endswith('.' + zone))):
        errors.append('hostname must be the host part inside zone (for example www, or @ for the apex), got %r'
                      % hostname)
    elif hostname_error(hostname, wildcard=True, apex=True):
        errors.append('hostname: %s' % hostname_error(hostname, wildcard=True, apex=True))
    if '.' not in zone or hostname_error(zone):
        errors.append('zone must be a domain name (for example example.com): %s'
                      % (hostname_error(zone) or '%r has a single label' % (params.get('zone'),)))
    elif hostname not in ('', '@') and not hostname_error(hostname, wildcard=True) \
            and len(hostname) + 1 + len(zone) > HOST_NAME_MAX:
        errors.append('hostname.zone is longer than %d characters' % HOST_NAME_MAX)
    pools = params.get('pools') or []
    names = [p['name'] for p in pools]
    for name in sorted(set(n for n in names if names.count(n) > 1)):
        errors.append('pool %s is listed more than once' % name)
    for pool in pools:
        weight = pool.get('weight')
        if weight is not None and not 1 <= weight <= 100:
            errors.append('pool %s: weight must be between 1 and 100, got %s' % (pool['name'], weight))
    if params.get('pools') is not None and not params['pools']:
        errors.append('pools, when given, must list at least one address pool (a domain without pools answers '
                      'nothing)')
    record = params.get('business_record')
    if record:
        error = hostname_error(record.get('zone', '').rstrip('.'))
        if error or '.' not in record.get('zone', ''):
            errors.append('business_record.zone must be a domain name: %s' % (error or record.get('zone')))
        if hostname_error(record.get('rr') or '', wildcard=True, apex=True):
            errors.append('business_record.rr: %s' % hostname_error(record.get('rr') or '', wildcard=True, apex=True))
        rec_ttl = record.get('ttl')
        if rec_ttl is not None and not 1 <= rec_ttl <= 86400:
            errors.append('business_record.ttl must be between 1 and 86400, got %s' % rec_ttl)
        if domain_fqdn(record['zone'], record['rr']) == domain_fqdn(params['zone'], params['hostname']):
            errors.append('business_record must not be the access domain itself (a CNAME to itself)')
    alert = params.get('alert')
    if alert and alert.get('notices') is not None:
        types = [n['type'] for n in alert['notices']]
        for kind in sorted(set(t for t in types if types.count(t) > 1)):
            errors.append('alert notice %s is listed more than once' % kind)
    return errors


def plan_domain(params, current, pool_ids):
    """Changed field names of an existing access domain and the predicted managed view."""
    changed = []
    after = dict(current)
    if params.get('ttl') is not None and params['ttl'] != current['ttl']:
        changed.append('ttl')
        after['ttl'] = params['ttl']
    if params.get('enabled') is not None and params['enabled'] != current['enabled']:
        changed.append('enabled')
        after['enabled'] = params['enabled']
    for field in ('lb_strategy', 'sequence_mode'):
        if params.get(field) is not None and params[field] != current[field]:
            changed.append(field)
            after[field] = params[field]
    if params.get('pools') is not None:
        wanted = desired_bindings(params['pools'], pool_ids)
        have = [dict(pool_id=p['pool_id'], name=p['name'], weight=p['weight'], serial_number=p['serial_number'])
                for p in current['pools']]
        if sorted(wanted, key=binding_key) != sorted(have, key=binding_key):
            changed.append('pools')
        after['pools'] = wanted
    else:
        after['pools'] = bindings_view(current['pools'])
    return changed, after


def binding_key(b):
    return (b['serial_number'] or 0, b['pool_id'] or '')


def desired_bindings(pools, pool_ids):
    return [dict(pool_id=pool_ids[p['name']], name=p['name'], weight=p.get('weight') or 1,
                 serial_number=p.get('serial_number') or index) for index, p in enumerate(pools, start=1)]


def bindings_view(pools):
    return sorted([dict(pool_id=p['pool_id'], name=p['name'], weight=p['weight'], serial_number=p['serial_number'])
                   for p in pools], key=binding_key)


def alert_view(body):
    """DescribeCloudGtmInstanceConfigAlert -> {mode, notices, groups}."""
    return dict(mode=(body or {}).get('AlertMode'),
                notices=normalise_notices(unwrap_list((body or {}).get('AlertConfig'), 'AlertConfig')),
                groups=sorted(parse_groups((body or {}).get('AlertGroup'))))


def plan_alert(alert, current):
    """(changed, request, after view) for UpdateCloudGtmInstanceConfigAlert; current from the Describe call."""
    have = alert_view(current)
    want = dict(mode=alert.get('mode') or 'instance_config', notices=have['notices'], groups=have['groups'])
    if alert.get('notices') is not None:
        want['notices'] = normalise_notices([dict(NoticeType=n['type'], EmailNotice=bool(n.get('email')),
                                                  SmsNotice=bool(n.get('sms')), DingtalkNotice=bool(n.get('dingtalk')))
                                             for n in alert['notices']])
    if alert.get('groups') is not None:
        want['groups'] = sorted(alert['groups'])
    request = dict(AlertMode=want['mode'], AlertGroup=want['groups'],
                   AlertConfig=[dict(NoticeType=n['type'], EmailNotice=n['email'], SmsNotice=n['sms'],
                                     DingtalkNotice=n['dingtalk']) for n in want['notices']])
    return want != have, request, want
