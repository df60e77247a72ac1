#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: gtm_info
short_description: Everything about one GTM 3.0 access domain, with a summary of what is serving
version_added: 0.1.0
author:
  - meshdr.alicloud maintainers (@meshdr)
description:
  - Reads a Global Traffic Manager 3.0 access domain with its pools, addresses, health and availability, and
    summarises which addresses are serving (answered in DNS) and which are not.
  - Cheap enough to poll every second during a drill; one API call with O(config_id), two with O(zone) and
    O(hostname).
extends_documentation_fragment:
  - meshdr.alicloud.alicloud
options:
  config_id:
    description: Access domain (instance config) id, as returned by M(meshdr.alicloud.gtm_domain).
    type: str
  instance_id:
    description: GTM instance id of O(config_id) (optional).
    type: str
  zone:
    description: Zone of the access domain (with O(hostname), instead of O(config_id)).
    type: str
  hostname:
    description: Host part of the access domain inside O(zone), or V(@).
    type: str
  rr_type:
    description: Record type of the access domain (with O(zone) and O(hostname)).
    type: str
    choices: [A, AAAA, CNAME]
    default: A
notes:
  - An address is serving when the access domain is enabled, its pool is enabled and available, and the address
    is enabled and available (by its health checks in auto mode, by its manual status in manual mode).
'''

EXAMPLES = r'''
- name: Which gateways does GTM answer with right now?
  meshdr.alicloud.gtm_info:
    zone: example.com
    hostname: gtm
  register: gtm

- name: Poll until the drained region is out of DNS answers (1 call per poll)
  meshdr.alicloud.gtm_info:
    config_id: "{{ gtm.domain.config_id }}"
  register: now
  until: "'8.219.1.20' in now.summary.not_serving"
  retries: 120
  delay: 1
'''

RETURN = r'''
found:
  description: Whether the access domain exists.
  returned: always
  type: bool
  sample: true
domain:
  description: The access domain, null when not found.
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
    available_status:
      description: available or unavailable.
      type: str
      sample: available
    health_status:
      description: ok, ok_alert or exceptional.
      type: str
      sample: ok
    alert:
      description: Alert notices and groups when the service reports them, else null.
      type: dict
      sample: null
    pools:
      description:
        - Bound pools by serial number, each with C(pool_id), C(name), C(type), C(enabled), C(weight),
          C(serial_number), C(lb_strategy), C(sequence_mode), C(health_judgement), C(available_status),
          C(health_status) and C(addresses).
        - Each address has C(address_id), C(name), C(address), C(type), C(weight), C(serial_number), C(enabled),
          C(available_mode), C(manual_status), C(health_judgement), C(health_status), C(available_status)
          (and C(health_tasks), empty here as the full-info call does not list them).
      type: list
      elements: dict
      sample: []
summary:
  description: What DNS answers with now.
  returned: always
  type: dict
  contains:
    serving:
      description: Addresses (IPs or domains) currently serving.
      type: list
      elements: str
      sample: [47.96.1.10, 8.219.1.20]
    not_serving:
      description: Configured addresses not serving (unavailable, disabled, or in an unavailable pool).
      type: list
      elements: str
      sample: []
    all_available:
      description: True when at least one address is configured and every one is serving.
      type: bool
      sample: true
'''

from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import AlibabaCloudModule, AlicloudError
from ansible_collections.meshdr.alicloud.plugins.module_utils.validation import fail_on_problems
from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm.common import (
    RR_POOL_TYPE,
    list_all,
)
from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm.domain import (
    domain_fqdn,
    name_problems,
    normalise_domain,
    summarise,
)


def find_config(module):
    zone = module.params['zone'].rstrip('.').lower()
    hostname = module.params['hostname'].lower()
    found = list_all(lambda action, **kw: module.call('alidns', action, **kw), 'ListCloudGtmInstanceConfigs',
                     'InstanceConfigs', 'InstanceConfig', ScheduleZoneName=zone,
                     ScheduleDomainName=domain_fqdn(zone, hostname))
    for config in found:
        if ((config.get('ScheduleZoneName') or '').lower() == zone
                and (config.get('ScheduleHostname') or '').lower() == hostname
                and config.get('ScheduleRrType') == module.params['rr_type']):
            return config['ConfigId'], config.get('InstanceId')
    return None, None


def main():
    module = AlibabaCloudModule(
        argument_spec=dict(config_id=dict(type='str'), instance_id=dict(type='str'), zone=dict(type='str'),
                           hostname=dict(type='str'),
                           rr_type=dict(type='str', choices=list(RR_POOL_TYPE), default='A')),
        supports_check_mode=True,
        required_one_of=[('config_id', 'zone')],
        mutually_exclusive=[('config_id', 'zone')],
        required_together=[('zone', 'hostname')],
    )
    if module.params['zone']:
        fail_on_problems(module, name_problems(module.params['zone'], module.params['hostname']))
    config_id, instance_id = module.params['config_id'], module.params['instance_id']
    try:
        if not config_id:
            config_id, instance_id = find_config(module)
        domain = None
        if config_id:
            domain = normalise_domain(module.call('alidns', 'DescribeCloudGtmInstanceConfigFullInfo',
                                                  ConfigId=config_id, InstanceId=instance_id))
    except AlicloudError as err:
        module.fail_api(err, msg='GTM access domain')
    module.exit_json(changed=False, found=domain is not None, domain=domain, summary=summarise(domain))


if __name__ == '__main__':
    main()
