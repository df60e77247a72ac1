# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""gtm_pool: address pools and their addresses (checks, ownership, the change plan, request bodies)."""

import ipaddress

from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm.common import (
    diff_fields,
    enable_str,
    hostname_error,
    items,
    to_int,
)


JUDGEMENTS = ['any_ok', 'p30_ok', 'p50_ok', 'p70_ok', 'all_ok']

# An address created by gtm_pool carries this Remark: the pool (by name) that owns it.
OWNER_PREFIX = 'meshdr.alicloud:pool='


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


def pool_problems(params):
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
        for task in addr.get('health_tasks') or []:
            port = task.get('port')
            if port is not None and not 1 <= port <= 65535:
                errors.append('%s: health task port must be 1-65535, got %s' % (label, port))
    return errors


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
