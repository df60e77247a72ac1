# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""gtm_domain and gtm_info: access domains (checks, pool bindings, alert settings, the answering summary)."""

import json

from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm.common import (
    HOST_NAME_MAX,
    enable_str,
    hostname_error,
    items,
    to_int,
)
from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm.pool import (
    normalise_pool,
)


NOTICE_TYPES = ['addr_alert', 'addr_resume', 'addr_pool_unavailable', 'addr_pool_available']


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


def name_problems(zone, hostname):
    """The zone and host of an access domain (gtm_domain, and the lookups of gtm_info and cloud_probe)."""
    errors = []
    hostname = hostname or ''
    given_zone, zone = zone, (zone or '').rstrip('.').lower()
    if hostname != '@' and (not hostname or ' ' in hostname or hostname.endswith('.')
                            or (zone and hostname.lower().endswith('.' + zone))):
        errors.append('hostname must be the host part inside zone (for example www, or @ for the apex), got %r'
                      % hostname)
    elif hostname_error(hostname, wildcard=True, apex=True):
        errors.append('hostname: %s' % hostname_error(hostname, wildcard=True, apex=True))
    if '.' not in zone or hostname_error(zone):
        errors.append('zone must be a domain name (for example example.com): %s'
                      % (hostname_error(zone) or '%r has a single label' % (given_zone,)))
    elif hostname not in ('', '@') and not hostname_error(hostname, wildcard=True) \
            and len(hostname) + 1 + len(zone) > HOST_NAME_MAX:
        errors.append('hostname.zone is longer than %d characters' % HOST_NAME_MAX)
    return errors


def domain_problems(params):
    errors = []
    if params.get('state') != 'present':
        return errors
    ttl = params.get('ttl')
    if ttl is not None and not 1 <= ttl <= 86400:
        errors.append('ttl must be between 1 and 86400 seconds, got %s' % ttl)
    if params.get('charge_type') == 'postpay' and params.get('instance_id'):
        errors.append('instance_id is only for charge_type=prepay; postpay creates its own instance')
    errors.extend(name_problems(params.get('zone'), params.get('hostname')))
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
