#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: gtm_monitor
short_description: Manage a GTM 3.0 health-check (monitor) template
version_added: 0.1.0
author:
  - meshdr.alicloud maintainers (@meshdr)
description:
  - Creates, updates or deletes a Global Traffic Manager 3.0 health-check template, found by its O(name).
  - Addresses (see M(meshdr.alicloud.gtm_pool)) reference the template in their health tasks together with the
    port to probe; in GTM 3.0 the port belongs to the address's health task, not to the template.
  - Only the options you set are compared with the template; HTTP(S) and ping settings (ExtendInfo) are compared
    key by key as parsed JSON.
extends_documentation_fragment:
  - meshdr.alicloud.alicloud
options:
  name:
    description: Template name, unique in the account (the module fails if several templates have it).
    type: str
    required: true
  state:
    description: V(present) creates or updates the template, V(absent) deletes it (it must not be in use).
    type: str
    choices: [present, absent]
    default: present
  probe_protocol:
    description:
      - Probe protocol (the API's C(Protocol)). Required with O(state=present). Cannot change after creation.
      - Named so because O(protocol) is the transport (HTTPS or HTTP) to the Alibaba Cloud API, common to all
        modules of this collection.
    type: str
    choices: [http, https, tcp, ping]
  ip_version:
    description: IP version probed. Cannot change after creation. Default on create V(IPv4).
    type: str
    choices: [IPv4, IPv6]
  interval:
    description:
      - Seconds between probes. The service accepts 15 (Ultimate edition only), 60, 300, 900, 1800 or 3600;
        the module refuses any other value unless O(lab_short_intervals=true).
      - Default on create V(60).
    type: int
  timeout:
    description:
      - Probe timeout in milliseconds. The service accepts 2000, 3000, 5000 or 10000; the module refuses any other
        value unless O(lab_short_intervals=true).
      - Default on create V(5000).
    type: int
  lab_short_intervals:
    description:
      - B(Lab only.) Also accept intervals of 1 to 14 seconds and timeouts of 500 or 1000 ms, which only drlab
        accepts, and only when it was started with C(drlab up --short-intervals). The real service refuses them
        (the request fails with C(InvalidParameter)); never set this for a production account.
    type: bool
    default: false
  evaluation_count:
    description:
      - Consecutive failed rounds before an address is judged unhealthy. Default on create V(1).
      - Detection takes about O(interval) x O(evaluation_count) seconds (plus the timeout).
    type: int
    choices: [1, 2, 3]
  failure_rate:
    description: Percentage of probe points that must fail for a round to fail. Default on create V(50).
    type: int
    choices: [20, 50, 80, 100]
  probe_points:
    description:
      - Probe points (ListCloudGtmMonitorNodes) that run the checks.
      - Default on create, when not set, three enabled nodes in the service's geography, in distinct cities where
        possible, chosen from ListCloudGtmMonitorNodes. With O(region_id) C(cn-*) (or unset) the nodes of the
        C(BGP) and C(ISP) groups (mainland China), otherwise those of the C(OVERSEAS) group, to avoid false alarms
        from cross-border latency (the node's C(GroupType); its C(GroupName) is display text and is not used).
      - When set, the template's probe points become exactly this list.
    type: list
    elements: dict
    suboptions:
      city_code:
        description: City code of the probe point, for example V(503) (Beijing).
        type: str
        required: true
      isp_code:
        description: ISP code of the probe point, for example V(465) (BGP).
        type: str
        required: true
  host:
    description:
      - HTTP Host header for O(probe_protocol=http) or O(probe_protocol=https) probes (default the address).
    type: str
  path:
    description: URL path probed by HTTP(S) checks. Default on create V(/).
    type: str
  code:
    description:
      - HTTP(S) status threshold; a status at or above it fails the probe. Default on create V(500).
    type: int
    choices: [400, 500]
  sni:
    description: Send SNI in HTTPS probes.
    type: bool
  follow_redirect:
    description: Follow 3xx redirects in HTTP(S) probes.
    type: bool
  packet_num:
    description: Packets per ping probe (O(probe_protocol=ping)).
    type: int
    choices: [20, 50, 100]
  packet_loss_rate:
    description: Packet loss percentage at which a ping probe fails (O(probe_protocol=ping)).
    type: int
    choices: [10, 30, 40, 80, 90, 100]
notes:
  - Every option is checked before the first write and every problem is reported in one message; a failure
    after a write reports C(changed=true) and lists what was already written in C(writes).
  - O(probe_protocol) and O(ip_version) are immutable; the module fails rather than re-creating a template that
    addresses may reference.
  - Check mode predicts the exact result (only the template id of a new template is unknown) and calls no write API.
'''

EXAMPLES = r'''
- name: HTTP health check of the ingress gateways, probed from mainland China
  meshdr.alicloud.gtm_monitor:
    name: ingress-http
    probe_protocol: http
    path: /productpage
    code: 500
    interval: 60
    timeout: 5000
    evaluation_count: 2
    failure_rate: 50
    region_id: cn-hangzhou

- name: TCP check with explicit probe points
  meshdr.alicloud.gtm_monitor:
    name: ingress-tcp
    probe_protocol: tcp
    probe_points:
      - {city_code: "503", isp_code: "465"}
      - {city_code: "357", isp_code: "465"}

- name: Remove the template (no address may use it any more)
  meshdr.alicloud.gtm_monitor:
    name: ingress-tcp
    state: absent
'''

RETURN = r'''
template:
  description: The template as it is (or would be, in check mode); empty after deletion.
  returned: always
  type: dict
  contains:
    template_id:
      description: Template id (null for a template check mode would create).
      type: str
      sample: mtp-89518052425100
    name:
      description: Template name.
      type: str
      sample: ingress-http
    protocol:
      description: Probe protocol.
      type: str
      sample: http
    ip_version:
      description: IP version.
      type: str
      sample: IPv4
    interval:
      description: Seconds between probes.
      type: int
      sample: 60
    timeout:
      description: Probe timeout in milliseconds.
      type: int
      sample: 5000
    evaluation_count:
      description: Consecutive failed rounds before unhealthy.
      type: int
      sample: 2
    failure_rate:
      description: Percentage of failing probe points that fails a round.
      type: int
      sample: 50
    probe_points:
      description: Probe points, sorted, each with C(city_code) and C(isp_code).
      type: list
      elements: dict
      sample: [{city_code: "357", isp_code: "465"}]
    extend_info:
      description: Protocol settings (ExtendInfo) as parsed JSON.
      type: dict
      sample: {code: 500, path: /productpage}
template_id:
  description: Template id (null when check mode would create it or after deletion).
  returned: always
  type: str
  sample: mtp-89518052425100
changes:
  description: Fields that changed (or would change).
  returned: always
  type: list
  elements: str
  sample: [interval, extend_info.path]
diff:
  description: Template before and after, with C(--diff).
  returned: when diff mode is on
  type: dict
'''

import time

from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import (
    AlibabaCloudModule,
    AlicloudError,
    client_token,
)
from ansible_collections.meshdr.alicloud.plugins.module_utils.outcome import Outcome
from ansible_collections.meshdr.alicloud.plugins.module_utils.validation import fail_on_problems
from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm.common import (
    find_by_name,
    list_all,
    oldest,
    settle,
)
from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm.monitor import (
    EVALUATION_COUNTS,
    FAILURE_RATES,
    PACKET_LOSS_RATES,
    PACKET_NUMS,
    PROTOCOLS,
    immutable_template_errors,
    normalise_template,
    pick_probe_points,
    plan_template,
    template_request,
    template_problems,
)


def argument_spec():
    return dict(
        name=dict(type='str', required=True),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        probe_protocol=dict(type='str', choices=PROTOCOLS),
        ip_version=dict(type='str', choices=['IPv4', 'IPv6']),
        interval=dict(type='int'),
        timeout=dict(type='int'),
        lab_short_intervals=dict(type='bool', default=False),
        evaluation_count=dict(type='int', choices=EVALUATION_COUNTS),
        failure_rate=dict(type='int', choices=FAILURE_RATES),
        probe_points=dict(type='list', elements='dict', options=dict(
            city_code=dict(type='str', required=True), isp_code=dict(type='str', required=True))),
        host=dict(type='str'),
        path=dict(type='str'),
        code=dict(type='int', choices=[400, 500]),
        sni=dict(type='bool'),
        follow_redirect=dict(type='bool'),
        packet_num=dict(type='int', choices=PACKET_NUMS),
        packet_loss_rate=dict(type='int', choices=PACKET_LOSS_RATES),
    )


def named_templates(module, name):
    """Templates whose name is exactly ``name`` (the List filter is fuzzy)."""
    found = list_all(lambda action, **kw: module.call('alidns', action, **kw),
                     'ListCloudGtmMonitorTemplates', 'Templates', 'Template', Name=name)
    return [t for t in found if t.get('Name') == name]


def find_template(module, name, sleep=time.sleep):
    # Two namesakes can exist for a moment while a concurrent run settles its create (see settle):
    # read again before calling it a real duplicate.
    for attempt in range(3):
        found = named_templates(module, name)
        if len(found) <= 1:
            break
        sleep(1.0 + attempt)
    try:
        return normalise_template(find_by_name(found, name, 'Name', 'template'))
    except ValueError as exc:
        module.fail_json(msg=str(exc))


def create_template(module, request):
    """CreateCloudGtmMonitorTemplate, safe against a lost reply and against a concurrent run.

    The ClientToken makes a repeat of this request return the first answer (SDK field comment);
    a lost reply is first answered by re-reading by name (``adopt``).  Afterwards the namesakes are
    re-read: if another run created one first, ours is deleted and theirs kept (:func:`settle`).
    """
    name = request['Name']

    def adopt():
        found = named_templates(module, name)
        return dict(TemplateId=oldest(found, 'TemplateId')['TemplateId']) if found else None

    created = module.call('alidns', 'CreateCloudGtmMonitorTemplate', adopt=adopt, **request)['TemplateId']
    keep, delete = settle(named_templates(module, name), created, 'TemplateId')
    for template_id in delete:
        module.call('alidns', 'DeleteCloudGtmMonitorTemplate', TemplateId=template_id, ClientToken=client_token())
    return keep


def monitor_nodes(module, ip_version):
    body = module.call('alidns', 'ListCloudGtmMonitorNodes')
    key = 'Ipv6IspCityNode' if ip_version == 'IPv6' else 'Ipv4IspCityNode'
    return (body.get(key + 's') or {}).get(key) or []


def unknown_probe_points(module, points, ip_version):
    """The given probe points ListCloudGtmMonitorNodes does not offer for ``ip_version`` (checked before any write)."""
    known = set((str(n.get('CityCode')), str(n.get('IspCode'))) for n in monitor_nodes(module, ip_version))
    return ['probe point city_code=%s isp_code=%s is not an %s node of ListCloudGtmMonitorNodes'
            % (p['city_code'], p['isp_code'], ip_version) for p in points
            if (str(p['city_code']), str(p['isp_code'])) not in known]


def default_probe_points(module, ip_version):
    nodes = monitor_nodes(module, ip_version)
    points = pick_probe_points(nodes, module.params.get('region_id'))
    if not points:
        module.fail_json(msg='no probe points available for %s; set probe_points' % (ip_version or 'IPv4'))
    return points


def ensure_present(module, current):
    params = module.params
    fail_on_problems(module, immutable_template_errors(params, current), prefix='')
    defaults = None
    ip_version = params.get('ip_version') or (current or {}).get('ip_version') or 'IPv4'
    if current is None and not params.get('probe_points'):
        defaults = default_probe_points(module, ip_version)
    elif params.get('probe_points'):
        fail_on_problems(module, unknown_probe_points(module, params['probe_points'], ip_version))
    action, changes, after = plan_template(params, current, defaults)
    if action == 'none' or module.check_mode:
        return Outcome(changed=action != 'none', changes=changes, before=current or {}, after=after, state=after)
    request = template_request(after)
    if action == 'create':
        request.update(Protocol=after['protocol'], IpVersion=after['ip_version'], ClientToken=client_token())
        template_id = create_template(module, request)
    else:
        template_id = current['template_id']
        module.call('alidns', 'UpdateCloudGtmMonitorTemplate', TemplateId=template_id, ClientToken=client_token(),
                    **request)
    body = module.call('alidns', 'DescribeCloudGtmMonitorTemplate', TemplateId=template_id)
    after = normalise_template(body)
    return Outcome(changed=True, changes=changes, before=current or {}, after=after or {}, state=after)


def ensure_absent(module, current):
    if current is None:
        return Outcome(state={})
    if not module.check_mode:
        module.call('alidns', 'DeleteCloudGtmMonitorTemplate', TemplateId=current['template_id'],
                    ClientToken=client_token())
    return Outcome(changed=True, changes=['deleted'], before=current, after={}, state={})


def main():
    module = AlibabaCloudModule(argument_spec=argument_spec(), supports_check_mode=True,
                                required_if=[('state', 'present', ['probe_protocol'])])
    fail_on_problems(module, template_problems(module.params))
    try:
        current = find_template(module, module.params['name'])
        if module.params['state'] == 'present':
            outcome = ensure_present(module, current)
        else:
            outcome = ensure_absent(module, current)
    except AlicloudError as err:
        module.fail_api(err, msg='GTM template %s' % module.params['name'])
    module.exit_json(**outcome.result(module._diff, template=outcome.state,
                                      template_id=(outcome.state or {}).get('template_id')))


if __name__ == '__main__':
    main()
