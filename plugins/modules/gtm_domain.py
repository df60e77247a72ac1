#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: gtm_domain
short_description: Manage a GTM 3.0 access domain (instance config) and its business CNAME
version_added: 0.1.0
author:
  - meshdr.alicloud maintainers (@meshdr)
description:
  - Creates, updates or deletes a Global Traffic Manager 3.0 access domain, found by O(zone), O(hostname) and
    O(rr_type), with the address pools it schedules, its load-balancing strategy, its TTL and its alert settings.
  - With O(charge_type=postpay) (pay-as-you-go) creating the access domain creates its GTM instance.
  - Optionally manages the business record, a CNAME in a hosted zone pointing at the access domain, through the
    Alibaba Cloud DNS records API.
extends_documentation_fragment:
  - meshdr.alicloud.alicloud
options:
  zone:
    description: Zone hosted in Alibaba Cloud DNS (same account) in which the access domain lives.
    type: str
    required: true
  hostname:
    description: Host part of the access domain inside O(zone), for example V(gtm), or V(@) for the apex.
    type: str
    required: true
  rr_type:
    description: Record type GTM answers; the bound pools must be of the matching type (A=IPv4, AAAA=IPv6,
      CNAME=domain).
    type: str
    choices: [A, AAAA, CNAME]
    default: A
  state:
    description: V(present) creates or updates the access domain, V(absent) deletes it (and its business record).
    type: str
    choices: [present, absent]
    default: present
  ttl:
    description: TTL of GTM's answers, in seconds (1-86400). Default on create V(60).
    type: int
  enabled:
    description: Whether the access domain answers. Default on create V(true).
    type: bool
  charge_type:
    description:
      - V(postpay) (pay-as-you-go) creates an instance with the access domain; V(prepay) uses O(instance_id).
      - Only used on create.
    type: str
    choices: [postpay, prepay]
    default: postpay
  instance_id:
    description: Subscription instance to create the access domain in, with O(charge_type=prepay).
    type: str
  pools:
    description:
      - Address pools the access domain schedules, by name (see M(meshdr.alicloud.gtm_pool)). When given, the
        bound pools become exactly this list; replaced only when pools, weights or order differ.
    type: list
    elements: dict
    suboptions:
      name:
        description: Pool name.
        type: str
        required: true
      weight:
        description: Weight 1-100 for O(lb_strategy=weight). Default V(1).
        type: int
      serial_number:
        description: Order for O(lb_strategy=sequence) (lower first). Default the position in the list.
        type: int
  lb_strategy:
    description: How GTM picks among the available pools. Default on create V(weight).
    type: str
    choices: [weight, round_robin, sequence, source_nearest]
  sequence_mode:
    description: With O(lb_strategy=sequence), V(preemptive) (a recovered first pool takes traffic back) or not.
    type: str
    choices: [preemptive, non_preemptive]
  alert:
    description:
      - Who hears about what. When set, the access domain's alert settings are compared and updated
        (DescribeCloudGtmInstanceConfigAlert, UpdateCloudGtmInstanceConfigAlert).
    type: dict
    suboptions:
      mode:
        description: V(instance_config) uses the settings below; V(global) inherits the account's global settings.
        type: str
        choices: [instance_config, global]
        default: instance_config
      notices:
        description: Events that notify (unset keeps the current list).
        type: list
        elements: dict
        suboptions:
          type:
            description:
              - V(addr_alert) address unavailable, V(addr_resume) address recovered,
                V(addr_pool_unavailable) pool unavailable, V(addr_pool_available) pool recovered.
            type: str
            required: true
            choices: [addr_alert, addr_resume, addr_pool_unavailable, addr_pool_available]
          email:
            description: Notify by email.
            type: bool
            default: false
          sms:
            description: Notify by text message (China site only).
            type: bool
            default: false
          dingtalk:
            description: Notify by DingTalk.
            type: bool
            default: false
      groups:
        description: Alert contact groups notified (unset keeps the current list).
        type: list
        elements: str
  business_record:
    description:
      - The business domain, a CNAME record O(business_record.rr) in O(business_record.zone) whose value is the
        access domain's name. Created or updated with the access domain, deleted with it.
    type: dict
    suboptions:
      zone:
        description: Zone of the business record (hosted in Alibaba Cloud DNS).
        type: str
        required: true
      rr:
        description: Host record, for example V(www), or V(@).
        type: str
        required: true
      ttl:
        description: TTL of the CNAME in seconds (minimum depends on the DNS edition).
        type: int
        default: 600
      line:
        description: Resolution line.
        type: str
        default: default
notes:
  - Every option is checked before the first write and every problem is reported in one message; a failure
    after a write reports C(changed=true) and lists what was already written in C(writes).
  - O(hostname) and O(zone) must be RFC 1123 host names (O(hostname) may also be V(@) or start with V(*.));
    O(pools), when given, must not be empty, and every pool must exist before anything is written.
  - O(zone), O(hostname) and O(rr_type) identify the access domain; O(charge_type) and O(instance_id) are used
    on create only.
  - Check mode predicts the exact C(domain) result (ids of objects it would create are null); C(resolved) then
    shows the state before the change.
'''

EXAMPLES = r'''
- name: Access domain gtm.example.com, TTL 30, one weighted pool, business CNAME www -> gtm
  meshdr.alicloud.gtm_domain:
    zone: example.com
    hostname: gtm
    rr_type: A
    ttl: 30
    pools:
      - name: bookinfo-ingress
    alert:
      notices:
        - {type: addr_alert, email: true}
        - {type: addr_resume, email: true}
        - {type: addr_pool_unavailable, email: true, sms: true}
      groups: [oncall]
    business_record:
      zone: example.com
      rr: www
      ttl: 60
  register: gtm

- name: Primary/secondary pools instead (sequence, preemptive)
  meshdr.alicloud.gtm_domain:
    zone: example.com
    hostname: gtm
    lb_strategy: sequence
    sequence_mode: preemptive
    pools:
      - name: ingress-cn-hangzhou
      - name: ingress-ap-southeast-1

- name: Remove it (the CNAME too)
  meshdr.alicloud.gtm_domain:
    zone: example.com
    hostname: gtm
    state: absent
    business_record: {zone: example.com, rr: www}
'''

RETURN = r'''
config_id:
  description: Access domain (instance config) id; null when check mode would create it or after deletion.
  returned: always
  type: str
  sample: config-89646781284803
instance_id:
  description: GTM instance id; null when check mode would create it or after deletion.
  returned: always
  type: str
  sample: gtm-intl-1e5ba5de5f01
domain:
  description: The managed settings as they are (or would be, in check mode); empty after deletion.
  returned: always
  type: dict
  contains:
    config_id:
      description: Access domain id.
      type: str
      sample: config-89646781284803
    instance_id:
      description: GTM instance id.
      type: str
      sample: gtm-intl-1e5ba5de5f01
    zone:
      description: Zone.
      type: str
      sample: example.com
    hostname:
      description: Host part.
      type: str
      sample: gtm
    rr_type:
      description: Record type.
      type: str
      sample: A
    fqdn:
      description: The access domain's name.
      type: str
      sample: gtm.example.com
    ttl:
      description: TTL of GTM's answers.
      type: int
      sample: 30
    enabled:
      description: Whether the access domain answers.
      type: bool
      sample: true
    lb_strategy:
      description: Strategy among pools.
      type: str
      sample: weight
    sequence_mode:
      description: Sequence mode.
      type: str
      sample: preemptive
    pools:
      description: Bound pools, each C(pool_id), C(name), C(weight), C(serial_number), by serial number.
      type: list
      elements: dict
      sample: [{pool_id: pool-89564542105737, name: bookinfo-ingress, weight: 1, serial_number: 1}]
    alert:
      description: Alert settings (C(mode), C(notices), C(groups)) when O(alert) is set, else null.
      type: dict
      sample: {mode: instance_config, groups: [oncall], notices: [{type: addr_alert, email: true, sms: false,
               dingtalk: false}]}
    business_record:
      description: The CNAME (C(record_id), C(zone), C(rr), C(value), C(ttl), C(line)) when O(business_record)
        is set, else null.
      type: dict
      sample: {record_id: "1000001", zone: example.com, rr: www, value: gtm.example.com, ttl: 60, line: default}
resolved:
  description:
    - The full resolved view from DescribeCloudGtmInstanceConfigFullInfo, the same shape as
      M(meshdr.alicloud.gtm_info)'s C(domain), with statuses, pools and their addresses.
    - In check mode, the state before the change (null when the access domain does not exist yet).
  returned: always
  type: dict
  sample: {config_id: config-89646781284803, available_status: available, health_status: ok, pools: []}
changes:
  description: What changed (or would change).
  returned: always
  type: list
  elements: str
  sample: [ttl, pools]
diff:
  description: C(domain) before and after, with C(--diff).
  returned: when diff mode is on
  type: dict
'''

from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import (
    AlibabaCloudModule,
    AlicloudError,
    client_token,
)
from ansible_collections.meshdr.alicloud.plugins.module_utils.outcome import Outcome
from ansible_collections.meshdr.alicloud.plugins.module_utils.validation import fail_on_problems
from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm.common import (
    LB_STRATEGIES,
    RR_POOL_TYPE,
    SEQUENCE_MODES,
    enable_str,
    list_all,
    oldest,
    settle,
)
from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm.domain import (
    NOTICE_TYPES,
    alert_view,
    bindings_view,
    desired_bindings,
    domain_create_request,
    domain_fqdn,
    normalise_domain,
    plan_alert,
    plan_domain,
    domain_problems,
)


def argument_spec():
    notice = dict(type=dict(type='str', required=True, choices=NOTICE_TYPES), email=dict(type='bool', default=False),
                  sms=dict(type='bool', default=False), dingtalk=dict(type='bool', default=False))
    return dict(
        zone=dict(type='str', required=True),
        hostname=dict(type='str', required=True),
        rr_type=dict(type='str', choices=list(RR_POOL_TYPE), default='A'),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        ttl=dict(type='int'),
        enabled=dict(type='bool'),
        charge_type=dict(type='str', choices=['postpay', 'prepay'], default='postpay'),
        instance_id=dict(type='str'),
        pools=dict(type='list', elements='dict', options=dict(
            name=dict(type='str', required=True), weight=dict(type='int'), serial_number=dict(type='int'))),
        lb_strategy=dict(type='str', choices=LB_STRATEGIES),
        sequence_mode=dict(type='str', choices=SEQUENCE_MODES),
        alert=dict(type='dict', options=dict(
            mode=dict(type='str', choices=['instance_config', 'global'], default='instance_config'),
            notices=dict(type='list', elements='dict', options=notice),
            groups=dict(type='list', elements='str'))),
        business_record=dict(type='dict', options=dict(
            zone=dict(type='str', required=True), rr=dict(type='str', required=True),
            ttl=dict(type='int', default=600), line=dict(type='str', default='default'))),
    )


def normalise_record(record, zone):
    return dict(record_id=record.get('RecordId'), zone=zone, rr=record.get('RR'), value=record.get('Value'),
                ttl=record.get('TTL'), line=record.get('Line'))


class DomainManager:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.zone = module.params['zone'].rstrip('.').lower()
        self.hostname = module.params['hostname'].lower()
        self.rr_type = module.params['rr_type']
        self.fqdn = domain_fqdn(self.zone, self.hostname)

    def call(self, action, **params):
        return self.module.call('alidns', action, **params)

    # -- reads ---------------------------------------------------------------------------
    def matching(self):
        """Access domains of this zone/hostname/rr_type, as ListCloudGtmInstanceConfigs lists them."""
        found = list_all(self.call, 'ListCloudGtmInstanceConfigs', 'InstanceConfigs', 'InstanceConfig',
                         ScheduleZoneName=self.zone, ScheduleDomainName=self.fqdn)
        return [c for c in found if (c.get('ScheduleZoneName') or '').lower() == self.zone
                and (c.get('ScheduleHostname') or '').lower() == self.hostname
                and c.get('ScheduleRrType') == self.rr_type]

    def find(self):
        matches = self.matching()
        if not matches:
            return None
        first = oldest(matches, 'ConfigId')  # the one a concurrent run keeps too (see create)
        return self.describe(first['ConfigId'], first.get('InstanceId'))

    def create(self, request):
        """CreateCloudGtmInstanceConfig, safe against a lost reply and a concurrent run.

        ClientToken de-duplicates a repeat; a lost reply or an "already exists" refusal is answered
        by re-reading by name (``adopt``); afterwards, if another run's access domain is older,
        ours is deleted (with its pay-as-you-go instance) and theirs used.
        """
        def adopt():
            found = self.matching()
            if not found:
                return None
            first = oldest(found, 'ConfigId')
            return dict(ConfigId=first['ConfigId'], InstanceId=first.get('InstanceId'))

        body = self.call('CreateCloudGtmInstanceConfig', adopt=adopt, **request)
        found = self.matching()
        keep, delete = settle(found, body['ConfigId'], 'ConfigId')
        for config_id in delete:
            self.call('DeleteCloudGtmInstanceConfig', ConfigId=config_id, InstanceId=body['InstanceId'],
                      ClientToken=client_token())
        if keep == body['ConfigId']:
            return body['ConfigId'], body['InstanceId']
        winner = [c for c in found if c['ConfigId'] == keep][0]
        return keep, winner.get('InstanceId')

    def describe(self, config_id, instance_id):
        return normalise_domain(self.call('DescribeCloudGtmInstanceConfigFullInfo', ConfigId=config_id,
                                          InstanceId=instance_id))

    def pool_ids(self):
        wanted = [p['name'] for p in self.params.get('pools') or []]
        if not wanted:
            return {}
        pools = list_all(self.call, 'ListCloudGtmAddressPools', 'AddressPools', 'AddressPool')
        ids, errors = {}, []
        for name in wanted:
            matches = [p for p in pools if p.get('AddressPoolName') == name]
            if len(matches) != 1:
                errors.append('pool %s %s' % (name, 'does not exist (create it with gtm_pool first)' if not matches
                                              else 'is ambiguous: %d pools have that name' % len(matches)))
                continue
            if matches[0].get('AddressPoolType') != RR_POOL_TYPE[self.rr_type]:
                errors.append('pool %s holds %s addresses; rr_type %s needs %s pools'
                              % (name, matches[0].get('AddressPoolType'), self.rr_type, RR_POOL_TYPE[self.rr_type]))
            ids[name] = matches[0]['AddressPoolId']
        fail_on_problems(self.module, errors, prefix='')
        return ids

    def find_record(self):
        spec = self.params.get('business_record')
        if not spec:
            return None
        zone = spec['zone'].rstrip('.').lower()
        rr = spec['rr'].lower()
        found = list_all(self.call, 'DescribeDomainRecords', 'DomainRecords', 'Record', page_size=100,
                         DomainName=zone, RRKeyWord=rr)
        records = [r for r in found if (r.get('RR') or '').lower() == rr and r.get('Type') == 'CNAME'
                   and (r.get('Line') or 'default') == spec['line']]
        return normalise_record(records[0], zone) if records else None

    def current_alert(self, current):
        if not self.params.get('alert') or current is None:
            return None
        return self.call('DescribeCloudGtmInstanceConfigAlert', ConfigId=current['config_id'],
                         InstanceId=current['instance_id'])

    # -- present -------------------------------------------------------------------------
    def managed(self, full, alert, record):
        view = dict((k, full[k]) for k in ('config_id', 'instance_id', 'zone', 'hostname', 'rr_type', 'fqdn', 'ttl',
                                           'enabled', 'lb_strategy', 'sequence_mode'))
        view['pools'] = bindings_view(full['pools'])
        view['alert'] = alert
        view['business_record'] = record
        return view

    def ensure_present(self, current):
        params = self.params
        pool_ids = self.pool_ids()
        record = self.find_record()
        alert_current = self.current_alert(current)
        if current is None:
            changes = ['domain: create']
            after = dict(config_id=None, instance_id=params.get('instance_id'), zone=self.zone,
                         hostname=self.hostname, rr_type=self.rr_type, fqdn=self.fqdn,
                         ttl=params.get('ttl') or 60, enabled=params.get('enabled') is not False,
                         lb_strategy=params.get('lb_strategy') or 'weight',
                         sequence_mode=params.get('sequence_mode') or 'preemptive',
                         pools=desired_bindings(params.get('pools') or [], pool_ids))
        else:
            changes, after = plan_domain(params, current, pool_ids)
            after = self.managed(after, None, None)
        alert_request = None
        if params.get('alert'):
            alert_changed, alert_request, after['alert'] = plan_alert(params['alert'], alert_current)
            if alert_changed:
                changes.append('alert')
        else:
            after['alert'] = None
        after['business_record'], record_change = self.plan_record(record)
        if record_change:
            changes.append('business_record: %s' % record_change)
        before = self.managed(current, alert_view(alert_current) if alert_current is not None else None,
                              record) if current else {}
        if not changes or self.module.check_mode:
            return Outcome(changed=bool(changes), changes=changes, before=before, after=after, state=after,
                           values=dict(resolved=current))
        config_id, instance_id = self.apply(current, after, changes, alert_request)
        after['config_id'], after['instance_id'] = config_id, instance_id
        after['business_record'] = self.apply_record(record, after['business_record'])
        full = self.describe(config_id, instance_id)
        after = self.managed(full, after['alert'], after['business_record'])
        return Outcome(changed=True, changes=changes, before=before, after=after, state=after,
                       values=dict(resolved=full))

    def plan_record(self, record):
        spec = self.params.get('business_record')
        if not spec:
            return None, None
        want = dict(record_id=record['record_id'] if record else None, zone=spec['zone'].rstrip('.').lower(),
                    rr=spec['rr'].lower(), value=self.fqdn, ttl=spec['ttl'], line=spec['line'])
        if record is None:
            return want, 'create'
        if (record['value'] or '').rstrip('.').lower() != self.fqdn or record['ttl'] != spec['ttl']:
            return want, 'update'
        return record, None

    def apply(self, current, after, changes, alert_request):
        if current is None:
            request = domain_create_request(self.params['charge_type'], self.params.get('instance_id'), self.zone,
                                            self.hostname, self.rr_type, after['ttl'], after['enabled'])
            config_id, instance_id = self.create(dict(request, ClientToken=client_token()))
            changes = ['pools' if after['pools'] else None, 'lb_strategy'] + changes
        else:
            config_id, instance_id = current['config_id'], current['instance_id']
        ids = dict(ConfigId=config_id, InstanceId=instance_id)
        if 'ttl' in changes:
            self.call('UpdateCloudGtmInstanceConfigBasic', ScheduleZoneName=self.zone, ScheduleHostname=self.hostname,
                      Ttl=after['ttl'], ClientToken=client_token(), **ids)
        if 'enabled' in changes:
            self.call('UpdateCloudGtmInstanceConfigEnableStatus', EnableStatus=enable_str(after['enabled']),
                      ClientToken=client_token(), **ids)
        if 'pools' in changes:
            self.call('ReplaceCloudGtmInstanceConfigAddressPool', ClientToken=client_token(), AddressPools=[
                dict(AddressPoolId=p['pool_id'], WeightValue=p['weight'], SerialNumber=p['serial_number'],
                     RequestSource=['default']) for p in after['pools']], **ids)
        if 'lb_strategy' in changes or 'sequence_mode' in changes:
            self.call('UpdateCloudGtmInstanceConfigLbStrategy', AddressPoolLbStrategy=after['lb_strategy'],
                      SequenceLbStrategyMode=after['sequence_mode'], ClientToken=client_token(), **ids)
        if 'alert' in changes:
            self.call('UpdateCloudGtmInstanceConfigAlert', ClientToken=client_token(), **dict(alert_request, **ids))
        return config_id, instance_id

    def apply_record(self, record, want):
        if want is None or (record is not None and want is record):
            return want
        request = dict(RR=want['rr'], Type='CNAME', Value=self.fqdn, TTL=want['ttl'], Line=want['line'])
        if record is None:
            # AddDomainRecord takes no ClientToken: a lost reply (or DomainRecordDuplicate from a concurrent
            # run) is answered by re-reading the record.
            def adopt():
                found = self.find_record()
                return dict(RecordId=found['record_id']) if found else None

            want['record_id'] = self.call('AddDomainRecord', adopt=adopt, DomainName=want['zone'],
                                          **request)['RecordId']
        else:
            self.call('UpdateDomainRecord', RecordId=record['record_id'], **request)
        return want

    # -- absent --------------------------------------------------------------------------
    def ensure_absent(self, current):
        record = self.find_record()
        if record is not None and (record['value'] or '').rstrip('.').lower() != self.fqdn:
            record = None  # someone else's CNAME: not ours to delete
        changes = (['domain: delete'] if current else []) + (['business_record: delete'] if record else [])
        if changes and not self.module.check_mode:
            if record:  # the name users resolve goes first, so nobody is sent to a deleted domain
                self.call('DeleteDomainRecord', RecordId=record['record_id'])
            if current:
                self.call('DeleteCloudGtmInstanceConfig', ConfigId=current['config_id'],
                          InstanceId=current['instance_id'], ClientToken=client_token())
        before = self.managed(current, None, record) if current else {}
        return Outcome(changed=bool(changes), changes=changes, before=before, after={}, state={},
                       values=dict(resolved=None))


def main():
    module = AlibabaCloudModule(argument_spec=argument_spec(), supports_check_mode=True,
                                required_if=[('charge_type', 'prepay', ['instance_id'])])
    fail_on_problems(module, domain_problems(module.params))
    manager = DomainManager(module)
    try:
        current = manager.find()
        if module.params['state'] == 'present':
            outcome = manager.ensure_present(current)
        else:
            outcome = manager.ensure_absent(current)
    except AlicloudError as err:
        module.fail_api(err, msg='GTM access domain %s %s' % (manager.fqdn, manager.rr_type))
    after = outcome.state or {}
    module.exit_json(**outcome.result(module._diff, domain=after, config_id=after.get('config_id'),
                                      instance_id=after.get('instance_id')))


if __name__ == '__main__':
    main()
