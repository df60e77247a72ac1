#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: gtm_pool
short_description: Manage a GTM 3.0 address pool and the addresses in it
version_added: 0.1.0
author:
  - meshdr.alicloud maintainers (@meshdr)
description:
  - Creates, updates or deletes a Global Traffic Manager 3.0 address pool, found by its O(name), together with
    its addresses, given inline.
  - The module creates, updates and deletes the address objects it owns. Ownership is recorded in the address's
    C(Remark) as C(meshdr.alicloud:pool=<pool name>); an address is identified by its name within the pool.
    Addresses created by other means are never modified or deleted, but are dropped from the pool's membership
    when O(addresses) is given (the pool's members are then exactly O(addresses)).
  - Membership and weights are replaced (ReplaceCloudGtmAddressPoolAddress) only when they differ.
  - Setting an address to O(addresses[].available_mode=manual) with O(addresses[].manual_status=unavailable) is
    the planned switchover, GTM stops answering with it regardless of its health, until it is set back.
extends_documentation_fragment:
  - meshdr.alicloud.alicloud
options:
  name:
    description: Pool name, unique in the account (the module fails if several pools have it).
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the pool and its addresses.
      - V(absent) deletes the pool, then the addresses it owns. A pool bound to an access domain cannot be deleted.
    type: str
    choices: [present, absent]
    default: present
  type:
    description:
      - Address type of the pool. Cannot change after creation. Default on create V(IPv4).
      - Addresses are validated against it before any API call, so set it for V(IPv6) and V(domain) pools.
    type: str
    choices: [IPv4, IPv6, domain]
  enabled:
    description: Whether the pool serves. Default on create V(true).
    type: bool
  health_judgement:
    description:
      - How many of the pool's addresses must be available for the pool to be available.
      - Default on create V(any_ok).
    type: str
    choices: [any_ok, p30_ok, p50_ok, p70_ok, all_ok]
  lb_strategy:
    description:
      - How GTM picks among the pool's available addresses. Default on create V(weight).
    type: str
    choices: [weight, round_robin, sequence, source_nearest]
  sequence_mode:
    description:
      - With O(lb_strategy=sequence), whether a recovered address with a lower serial number takes traffic back
        (V(preemptive)) or not.
    type: str
    choices: [preemptive, non_preemptive]
  addresses:
    description:
      - The pool's addresses. When given, the pool's members become exactly this list; owned addresses not in it
        are deleted. When omitted, membership and addresses are left alone.
      - Sub-options left unset keep the address's current value; the defaults below apply when it is created.
    type: list
    elements: dict
    suboptions:
      name:
        description: Address name, unique within the pool. It identifies the address.
        type: str
        required: true
      address:
        description: IP address or domain name.
        type: str
        required: true
      type:
        description: Must be the pool's O(type) (default).
        type: str
        choices: [IPv4, IPv6, domain]
      weight:
        description: Weight 1-100 for O(lb_strategy=weight). Default V(1) (kept when unset for a member).
        type: int
      serial_number:
        description: Order for O(lb_strategy=sequence) (lower first). Default the position in the list.
        type: int
      enabled:
        description: Whether the address serves. Default on create V(true).
        type: bool
      available_mode:
        description:
          - V(auto) follows the health checks; V(manual) uses O(addresses[].manual_status).
          - Default on create V(auto).
        type: str
        choices: [auto, manual]
      manual_status:
        description: With O(addresses[].available_mode=manual), the availability to force.
        type: str
        choices: [available, unavailable]
      health_judgement:
        description: How many health tasks must pass for the address to be healthy. Default on create V(any_ok).
        type: str
        choices: [any_ok, p30_ok, p50_ok, p70_ok, all_ok]
      health_tasks:
        description:
          - Health checks of the address. Default on create none (the address is then always available in
            V(auto) mode). When given, the address's health tasks become exactly this list.
        type: list
        elements: dict
        suboptions:
          template:
            description: Health-check template, by name or id (see M(meshdr.alicloud.gtm_monitor)).
            type: str
            required: true
          port:
            description: Port to probe (not used by ping templates).
            type: int
notes:
  - Every option is checked before the first write and every problem is reported in one message; a failure
    after a write reports C(changed=true) and lists what was already written in C(writes).
  - O(addresses), when given, must not be empty and must not list one address twice; IPv4 and IPv6 addresses
    are parsed as such, domain addresses are RFC 1123 host names.
  - O(type) is immutable.
  - Check mode predicts the exact result; ids and statuses of addresses it would create are null.
'''

EXAMPLES = r'''
- name: Two ingress gateways, 50/50, health-checked over HTTP on port 80
  meshdr.alicloud.gtm_pool:
    name: bookinfo-ingress
    lb_strategy: weight
    addresses:
      - name: cn-hangzhou
        address: 47.96.1.10
        weight: 50
        health_tasks: [{template: ingress-http, port: 80}]
      - name: ap-southeast-1
        address: 8.219.1.20
        weight: 50
        health_tasks: [{template: ingress-http, port: 80}]
  register: pool

- name: Planned switchover - drain ap-southeast-1 whatever its health says
  meshdr.alicloud.gtm_pool:
    name: bookinfo-ingress
    addresses:
      - name: cn-hangzhou
        address: 47.96.1.10
      - name: ap-southeast-1
        address: 8.219.1.20
        available_mode: manual
        manual_status: unavailable

- name: Give it back to the health checks
  meshdr.alicloud.gtm_pool:
    name: bookinfo-ingress
    addresses:
      - {name: cn-hangzhou, address: 47.96.1.10}
      - {name: ap-southeast-1, address: 8.219.1.20, available_mode: auto}
'''

RETURN = r'''
pool:
  description: The pool and its addresses as they are (or would be, in check mode); empty after deletion.
  returned: always
  type: dict
  contains:
    pool_id:
      description: Pool id (null when check mode would create it).
      type: str
      sample: pool-89564542105737
    name:
      description: Pool name.
      type: str
      sample: bookinfo-ingress
    type:
      description: Address type.
      type: str
      sample: IPv4
    enabled:
      description: Whether the pool serves.
      type: bool
      sample: true
    health_judgement:
      description: Pool availability rule.
      type: str
      sample: any_ok
    lb_strategy:
      description: Load-balancing strategy.
      type: str
      sample: weight
    sequence_mode:
      description: Sequence mode.
      type: str
      sample: preemptive
    available_status:
      description:
        - Pool availability, available or unavailable.
        - Null for a pool check mode would create.
      type: str
      sample: available
    health_status:
      description: Pool health, ok, ok_alert or exceptional.
      type: str
      sample: ok
    addresses:
      description: Members, sorted by name.
      type: list
      elements: dict
      contains:
        address_id:
          description: Address id (null for an address check mode would create).
          type: str
          sample: addr-89636516932803
        name:
          description: Address name.
          type: str
          sample: cn-hangzhou
        address:
          description: IP address or domain.
          type: str
          sample: 47.96.1.10
        type:
          description: Address type.
          type: str
          sample: IPv4
        weight:
          description: Weight in the pool.
          type: int
          sample: 50
        serial_number:
          description: Order in the pool.
          type: int
          sample: 1
        enabled:
          description: Whether the address serves.
          type: bool
          sample: true
        available_mode:
          description: auto or manual.
          type: str
          sample: auto
        manual_status:
          description: Forced availability in manual mode, otherwise null.
          type: str
          sample: null
        health_judgement:
          description: Health rule of the address.
          type: str
          sample: any_ok
        health_tasks:
          description: Health tasks, each with C(template_id) and C(port).
          type: list
          elements: dict
          sample: [{template_id: mtp-89518052425100, port: 80}]
        health_status:
          description:
            - Health, one of ok, ok_alert, ok_no_monitor, exceptional.
            - Null for an address check mode would create.
          type: str
          sample: ok
        available_status:
          description:
            - Availability, available or unavailable.
            - Null for an address check mode would create.
          type: str
          sample: available
pool_id:
  description: Pool id (null when check mode would create it, or after deletion).
  returned: always
  type: str
  sample: pool-89564542105737
address_ids:
  description: Address ids by address name (null for addresses check mode would create).
  returned: always
  type: dict
  sample: {cn-hangzhou: addr-89636516932803, ap-southeast-1: addr-89636516932804}
changes:
  description: What changed (or would change).
  returned: always
  type: list
  elements: str
  sample: [addresses.cn-hangzhou.weight, membership]
diff:
  description: Pool before and after (without the service-derived statuses), with C(--diff).
  returned: when diff mode is on
  type: dict
'''

import functools
import time

from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import (
    AlibabaCloudModule,
    AlicloudError,
    client_token,
)
from ansible_collections.meshdr.alicloud.plugins.module_utils.outcome import Outcome
from ansible_collections.meshdr.alicloud.plugins.module_utils.validation import fail_on_problems
from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm.common import (
    LB_STRATEGIES,
    SEQUENCE_MODES,
    enable_str,
    find_by_name,
    list_all,
    oldest,
    settle,
)
from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm.pool import (
    JUDGEMENTS,
    address_create_request,
    address_update_calls,
    desired_address,
    managed_pool_view,
    members_request,
    merge_membership,
    normalise_address,
    normalise_pool,
    owner_of,
    plan_addresses,
    plan_pool_settings,
    resolve_template,
    pool_problems,
)

TYPES = ['IPv4', 'IPv6', 'domain']


def argument_spec():
    task = dict(template=dict(type='str', required=True), port=dict(type='int'))
    address = dict(
        name=dict(type='str', required=True),
        address=dict(type='str', required=True),
        type=dict(type='str', choices=TYPES),
        weight=dict(type='int'),
        serial_number=dict(type='int'),
        enabled=dict(type='bool'),
        available_mode=dict(type='str', choices=['auto', 'manual']),
        manual_status=dict(type='str', choices=['available', 'unavailable']),
        health_judgement=dict(type='str', choices=JUDGEMENTS),
        health_tasks=dict(type='list', elements='dict', options=task),
    )
    return dict(
        name=dict(type='str', required=True),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        type=dict(type='str', choices=TYPES),
        enabled=dict(type='bool'),
        health_judgement=dict(type='str', choices=JUDGEMENTS),
        lb_strategy=dict(type='str', choices=LB_STRATEGIES),
        sequence_mode=dict(type='str', choices=SEQUENCE_MODES),
        addresses=dict(type='list', elements='dict', options=address,
                       required_if=[('available_mode', 'manual', ['manual_status'])]),
    )


class PoolManager:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.name = module.params['name']

    def call(self, action, **params):
        return self.module.call('alidns', action, **params)

    def named_pools(self):
        found = list_all(self.call, 'ListCloudGtmAddressPools', 'AddressPools', 'AddressPool',
                         AddressPoolName=self.name)
        return [p for p in found if p.get('AddressPoolName') == self.name]

    def find_pool(self, sleep=time.sleep):
        # A concurrent run may hold a second namesake for a moment until it settles (see settle).
        for attempt in range(3):
            found = self.named_pools()
            if len(found) <= 1:
                break
            sleep(1.0 + attempt)
        try:
            return normalise_pool(find_by_name(found, self.name, 'AddressPoolName', 'pool'))
        except ValueError as exc:
            self.module.fail_json(msg=str(exc))

    def owned_named(self, name):
        """This pool's addresses (by Remark) called ``name``, as the API lists them."""
        found = list_all(self.call, 'ListCloudGtmAddresses', 'Addresses', 'Address', Name=name)
        return [a for a in found if a.get('Name') == name and owner_of(a.get('Remark')) == self.name]

    @staticmethod
    def adopter(namesakes, id_key):
        """``adopt`` for a create: the namesake every run keeps, as the create's answer (None if none)."""
        def adopt():
            found = namesakes()
            return {id_key: oldest(found, id_key)[id_key]} if found else None
        return adopt

    @staticmethod
    def settled(created, id_key, namesakes, delete):
        """After a create, re-read the namesakes: keep the oldest, delete ours if it is not that one.

        Two runs started together both create; both then agree on the oldest (module_utils.gtm.settle),
        so they leave one object.
        """
        keep, extra = settle(namesakes(), created, id_key)
        for object_id in extra:
            delete(object_id)
        return keep

    def describe(self, pool_id):
        return normalise_pool(self.call('DescribeCloudGtmAddressPool', AddressPoolId=pool_id))

    def owned_addresses(self):
        found = list_all(self.call, 'ListCloudGtmAddresses', 'Addresses', 'Address')
        return [normalise_address(a) for a in found if owner_of(a.get('Remark')) == self.name]

    def template_ids(self):
        refs = set(t['template'] for a in self.params['addresses'] or [] for t in a.get('health_tasks') or [])
        if not refs:
            return {}
        templates = list_all(self.call, 'ListCloudGtmMonitorTemplates', 'Templates', 'Template')
        resolved = {}
        for ref in sorted(refs):
            try:
                resolved[ref] = resolve_template(ref, templates)
            except ValueError as exc:
                self.module.fail_json(msg=str(exc))
        return resolved

    # -- present -------------------------------------------------------------------------
    def ensure_present(self, current):
        params = self.params
        if current and params.get('type') and params['type'] != current['type']:
            self.module.fail_json(msg='type of pool %s is %s and cannot change to %s (delete and re-create it)'
                                  % (self.name, current['type'], params['type']))
        pool_type = current['type'] if current else (params.get('type') or 'IPv4')
        settings = plan_pool_settings(params, current) if current else []
        changes = list(settings) if current else ['pool: create']
        plan = None
        if params.get('addresses') is not None:
            template_ids = self.template_ids()
            desired = [desired_address(a, i, pool_type, template_ids)
                       for i, a in enumerate(params['addresses'], start=1)]
            members = current['addresses'] if current else []
            plan = plan_addresses(desired, merge_membership(self.owned_addresses(), members), members)
            changes.extend(plan['changes'])
        after = self.predict(current, pool_type, plan)
        if changes and not self.module.check_mode:
            pool_id = self.apply_settings(current, settings, after)
            if plan is not None:
                self.apply_addresses(pool_id, plan)
            after = self.describe(pool_id)
        return Outcome(changed=bool(changes), changes=changes, before=managed_pool_view(current),
                       after=managed_pool_view(after), state=after)

    def predict(self, current, pool_type, plan):
        params = self.params
        if current is None:
            after = dict(pool_id=None, name=self.name, type=pool_type,
                         enabled=True if params.get('enabled') is None else params['enabled'],
                         health_judgement=params.get('health_judgement') or 'any_ok',
                         lb_strategy=params.get('lb_strategy') or 'weight',
                         sequence_mode=params.get('sequence_mode') or 'preemptive',
                         available_status=None, health_status=None, addresses=[])
        else:
            after = dict(current)
            for field in ('enabled', 'health_judgement', 'lb_strategy', 'sequence_mode'):
                if params.get(field) is not None:
                    after[field] = params[field]
        if plan is not None:
            after['addresses'] = plan['after']
        return after

    def apply_settings(self, current, settings, after):
        if current is None:
            # Safe against a lost reply (ClientToken, and adopt re-reads by name) and a concurrent run (settled).
            created = self.call('CreateCloudGtmAddressPool', AddressPoolName=self.name, AddressPoolType=after['type'],
                                EnableStatus=enable_str(after['enabled']), HealthJudgement=after['health_judgement'],
                                ClientToken=client_token(),
                                adopt=self.adopter(self.named_pools, 'AddressPoolId'))['AddressPoolId']
            pool_id = self.settled(created, 'AddressPoolId', self.named_pools, lambda pool_id: self.call(
                'DeleteCloudGtmAddressPool', AddressPoolId=pool_id, ClientToken=client_token()))
            settings = ['lb_strategy']
        else:
            pool_id = current['pool_id']
        if 'health_judgement' in settings:
            self.call('UpdateCloudGtmAddressPoolBasicConfig', AddressPoolId=pool_id,
                      HealthJudgement=after['health_judgement'], ClientToken=client_token())
        if 'enabled' in settings:
            self.call('UpdateCloudGtmAddressPoolEnableStatus', AddressPoolId=pool_id,
                      EnableStatus=enable_str(after['enabled']), ClientToken=client_token())
        if 'lb_strategy' in settings or 'sequence_mode' in settings:
            self.call('UpdateCloudGtmAddressPoolLbStrategy', AddressPoolId=pool_id,
                      AddressLbStrategy=after['lb_strategy'], SequenceLbStrategyMode=after['sequence_mode'],
                      ClientToken=client_token())
        return pool_id

    def apply_addresses(self, pool_id, plan):
        for view in plan['create']:
            request = address_create_request(view, self.name)
            namesakes = functools.partial(self.owned_named, view['name'])
            created = self.call('CreateCloudGtmAddress', ClientToken=client_token(),
                                adopt=self.adopter(namesakes, 'AddressId'), **request)['AddressId']
            view['address_id'] = self.settled(created, 'AddressId', namesakes, lambda address_id: self.call(
                'DeleteCloudGtmAddress', AddressId=address_id, ClientToken=client_token()))
        for have, after, fields in plan['update']:
            for action, request in address_update_calls(have, after, fields):
                self.call(action, ClientToken=client_token(), **request)
        if plan['replace']:
            self.call('ReplaceCloudGtmAddressPoolAddress', AddressPoolId=pool_id,
                      Addresses=members_request(plan['after']), ClientToken=client_token())
        for view in plan['delete']:  # after the replace: a member cannot be deleted
            self.call('DeleteCloudGtmAddress', AddressId=view['address_id'], ClientToken=client_token())

    # -- absent --------------------------------------------------------------------------
    def ensure_absent(self, current):
        owned = self.owned_addresses()
        changes = (['pool: delete'] if current else []) + ['addresses.%s: delete' % a['name'] for a in owned]
        if changes and not self.module.check_mode:
            if current:
                self.call('DeleteCloudGtmAddressPool', AddressPoolId=current['pool_id'], ClientToken=client_token())
            for addr in owned:
                self.call('DeleteCloudGtmAddress', AddressId=addr['address_id'], ClientToken=client_token())
        return Outcome(changed=bool(changes), changes=changes, before=managed_pool_view(current), after={}, state={})


def main():
    module = AlibabaCloudModule(argument_spec=argument_spec(), supports_check_mode=True)
    fail_on_problems(module, pool_problems(module.params))
    manager = PoolManager(module)
    try:
        current = manager.find_pool()
        if module.params['state'] == 'present':
            outcome = manager.ensure_present(current)
        else:
            outcome = manager.ensure_absent(current)
    except AlicloudError as err:
        module.fail_api(err, msg='GTM pool %s' % module.params['name'])
    after = outcome.state or {}
    address_ids = dict((a['name'], a['address_id']) for a in after.get('addresses', []))
    module.exit_json(**outcome.result(module._diff, pool=after, pool_id=after.get('pool_id'), address_ids=address_ids))


if __name__ == '__main__':
    main()
