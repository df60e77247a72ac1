#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: cloud_probe
short_description: Read-only check that an account answers the way this collection expects
version_added: 0.1.0
author:
  - meshdr.alicloud maintainers (@meshdr)
description:
  - The first thing to run on a new account. Calls only C(Describe*), C(List*) and C(Get*) operations of ASM and
    GTM 3.0 and compares each answer with the official SDK's response model (every key and the kind of every value)
    and with the paths and values the collection's modules read.
  - Covers the shapes no test here can settle, because only the real service knows them, namely the mesh detail
    (C(LocalityLB), C(ExtraConfiguration.CRAggregationConfiguration), the mesh states), the GTM monitor nodes
    (C(GroupType)), existing health-check templates (interval and timeout sets), GTM instances and access domains.
  - Cannot write. The module refuses, before sending, any operation that is not a read; it never creates,
    changes or deletes anything, in check mode or not.
notes:
  - A key the account returns that the installed SDK does not declare is reported as a note, not a difference
    (the SDK is older than the service; the collection does not read such keys).
  - Nothing to compare is not a difference either (a new account has no mesh or access domain yet); such checks
    say C(not returned).
extends_documentation_fragment:
  - meshdr.alicloud.alicloud
options:
  mesh_names:
    description: Only these meshes (by name). All meshes of the account when not set.
    type: list
    elements: str
  zone:
    description: Zone of the GTM access domain to read in full (with O(hostname)).
    type: str
  hostname:
    description: Host name of the GTM access domain within O(zone).
    type: str
'''

EXAMPLES = r'''
- name: What does this account answer? (read-only)
  meshdr.alicloud.cloud_probe:
    region_id: cn-hangzhou
    zone: example.com
    hostname: bookinfo-gtm
  register: probe

- name: Stop unless the account answers as expected
  ansible.builtin.assert:
    that: probe.safe_to_run_site
    fail_msg: "{{ probe.differences }}"
'''

RETURN = r'''
safe_to_run_site:
  description: No answer differed from what the collection expects.
  returned: always
  type: bool
  sample: true
summary:
  description: One line for a person.
  returned: always
  type: str
  sample: "safe to run site.yml: 9 checks, 0 differences, 1 note"
checks:
  description: Each comparison made.
  returned: always
  type: list
  elements: dict
  contains:
    operation: {description: The API operation read., type: str, returned: always, sample: DescribeServiceMeshDetail}
    path: {description: Where in the answer., type: str, returned: always, sample: ServiceMesh.ServiceMeshInfo.State}
    expected: {description: What the collection expects there., type: str, returned: always}
    found:
      description: What the account returned (values seen, or C(not returned)).
      type: raw
      returned: always
    status:
      description: C(ok), C(difference) or C(not returned).
      type: str
      returned: always
      sample: ok
differences:
  description: The checks whose status is C(difference), and answers whose shape leaves the SDK model.
  returned: always
  type: list
  elements: dict
notes:
  description: Harmless findings (keys the installed SDK does not declare).
  returned: always
  type: list
  elements: str
report:
  description: The checks as lines for a person (status, operation, path, expected, found).
  returned: always
  type: list
  elements: str
  sample:
    - "ok  DescribeServiceMeshDetail  ServiceMesh.ServiceMeshInfo.State  expected: one of ...  found: running"
operations:
  description: Every API operation called, in order (all reads).
  returned: always
  type: list
  elements: str
'''

from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import AlibabaCloudModule, AlicloudError
from ansible_collections.meshdr.alicloud.plugins.module_utils import contract
from ansible_collections.meshdr.alicloud.plugins.module_utils.asm import mesh as mesh_util
from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm.domain import name_problems
from ansible_collections.meshdr.alicloud.plugins.module_utils.validation import fail_on_problems
from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm.monitor import (
    INTERVALS,
    MAINLAND_GROUP_TYPES,
    OVERSEAS_GROUP_TYPES,
    TIMEOUTS,
)

# What the collection reads from each answer and the values it can handle: the paths from the SDK
# response models, the value sets from the modules' own constants (their sources are cited there and
# in docs/api-contract.md).  Mesh states: running and initial are documented (TF
# docs/d/service_mesh_service_meshes), updating and deleting are what asm_mesh and drlab assume for a
# mesh applying a change or going away (unverified); any other state is reported so that the real set
# becomes known (asm_mesh treats every state but running as busy and waits).
MESH_STATES = ('running', 'initial', 'updating', 'deleting')
GROUP_TYPES = MAINLAND_GROUP_TYPES + OVERSEAS_GROUP_TYPES

MESH_LIST_PATHS = ('ServiceMeshes[].ServiceMeshInfo.ServiceMeshId', 'ServiceMeshes[].ServiceMeshInfo.Name',
                   'ServiceMeshes[].ServiceMeshInfo.RegionId')
MESH_DETAIL_PATHS = ('ServiceMesh.ServiceMeshInfo.ServiceMeshId', 'ServiceMesh.Spec.Network.VpcId',
                     'ServiceMesh.Spec.MeshConfig.LocalityLB',
                     'ServiceMesh.Spec.MeshConfig.ExtraConfiguration.CRAggregationConfiguration.Enabled')
NODE_PATHS = ('Ipv4IspCityNodes.Ipv4IspCityNode[].CityCode', 'Ipv4IspCityNodes.Ipv4IspCityNode[].IspCode')
DOMAIN_PATHS = ('ConfigId', 'InstanceId', 'ScheduleHostname', 'ScheduleZoneName', 'Ttl', 'AddressPools')


class Probe:
    def __init__(self, module):
        self.module = module
        self.checks = []
        self.differences = []
        self.notes = []

    def read(self, product, action, **params):
        """Call a read operation; compare the raw answer's shape with the SDK model."""
        self.module.call(product, action, **params)
        answer = self.module.last_answer or {}
        for where, problem in contract.shape_differences(contract.response_body_model(product, action), answer):
            if contract.is_unknown_field(problem):
                self.notes.append('%s: %s is %s' % (action, where, problem))
            else:
                self.differences.append(dict(operation=action, path=where, expected='the SDK model\'s type',
                                             found=problem, status='difference'))
        return answer

    def present(self, action, answer, path):
        values = contract.read_path(answer, path)
        self.record(action, path, 'present', values, bool(values) or None)
        return values

    def values_in(self, action, answer, path, allowed):
        values = contract.read_path(answer, path)
        unknown = sorted(set(str(v) for v in values) - set(str(a) for a in allowed))
        self.record(action, path, 'one of %s' % ', '.join(str(a) for a in allowed), sorted(set(values), key=str),
                    (not unknown) if values else None)

    def record(self, action, path, expected, found, ok):
        status = 'not returned' if ok is None else ('ok' if ok else 'difference')
        check = dict(operation=action, path=path, expected=expected, found=found if found else 'not returned',
                     status=status)
        self.checks.append(check)
        if status == 'difference':
            self.differences.append(check)

    # -- what is probed --------------------------------------------------------------------
    def meshes(self, names):
        listing = self.read('servicemesh', 'DescribeServiceMeshes')
        for path in MESH_LIST_PATHS:
            self.present('DescribeServiceMeshes', listing, path)
        self.values_in('DescribeServiceMeshes', listing, 'ServiceMeshes[].ServiceMeshInfo.State', MESH_STATES)
        for mesh in listing.get('ServiceMeshes') or []:
            info = mesh.get('ServiceMeshInfo') or {}
            if names and info.get('Name') not in names:
                continue
            mesh_id = info.get('ServiceMeshId')
            detail = self.read('servicemesh', 'DescribeServiceMeshDetail', ServiceMeshId=mesh_id)
            for path in MESH_DETAIL_PATHS:
                self.present('DescribeServiceMeshDetail', detail, path)
            self.values_in('DescribeServiceMeshDetail', detail, 'ServiceMesh.ServiceMeshInfo.State', MESH_STATES)
            clusters = self.read('servicemesh', 'DescribeClustersInServiceMesh', ServiceMeshId=mesh_id)
            self.present('DescribeClustersInServiceMesh', clusters, 'Clusters[].ClusterId')

    def gtm(self, zone, hostname):
        nodes = self.read('alidns', 'ListCloudGtmMonitorNodes')
        for path in NODE_PATHS:
            self.present('ListCloudGtmMonitorNodes', nodes, path)
        self.values_in('ListCloudGtmMonitorNodes', nodes, 'Ipv4IspCityNodes.Ipv4IspCityNode[].GroupType', GROUP_TYPES)
        templates = self.read('alidns', 'ListCloudGtmMonitorTemplates', PageNumber=1, PageSize=100)
        self.values_in('ListCloudGtmMonitorTemplates', templates, 'Templates.Template[].Interval', INTERVALS)
        self.values_in('ListCloudGtmMonitorTemplates', templates, 'Templates.Template[].Timeout', TIMEOUTS)
        instances = self.read('alidns', 'ListCloudGtmInstances', PageNumber=1, PageSize=100)
        self.present('ListCloudGtmInstances', instances, 'Instances.Instance[].InstanceId')
        configs = self.read('alidns', 'ListCloudGtmInstanceConfigs', PageNumber=1, PageSize=100)
        self.present('ListCloudGtmInstanceConfigs', configs, 'InstanceConfigs.InstanceConfig[].ConfigId')
        if not zone:
            return
        for config in contract.read_path(configs, 'InstanceConfigs.InstanceConfig[]'):
            if ((config.get('ScheduleZoneName') or '').lower() == zone.rstrip('.').lower()
                    and (config.get('ScheduleHostname') or '').lower() == hostname.lower()):
                full = self.read('alidns', 'DescribeCloudGtmInstanceConfigFullInfo', ConfigId=config['ConfigId'],
                                 InstanceId=config.get('InstanceId'))
                for path in DOMAIN_PATHS:
                    self.present('DescribeCloudGtmInstanceConfigFullInfo', full, path)

    def result(self):
        verdict = 'safe to run site.yml' if not self.differences else 'NOT safe to run site.yml'
        summary = '%s: %d checks, %d differences, %d notes' % (
            verdict, len(self.checks), len(self.differences), len(self.notes))
        report = ['%-12s %s  %s  expected: %s  found: %s' % (
            c['status'], c['operation'], c['path'], c['expected'], c['found']) for c in self.checks]
        report += ['%-12s %s  %s  %s' % ('difference', d['operation'], d['path'], d['found'])
                   for d in self.differences if d not in self.checks]
        return dict(changed=False, safe_to_run_site=not self.differences, summary=summary, checks=self.checks,
                    differences=self.differences, notes=self.notes, report=report,
                    operations=list(self.module.api_calls))


def main():
    module = AlibabaCloudModule(
        argument_spec=dict(mesh_names=dict(type='list', elements='str'), zone=dict(type='str'),
                           hostname=dict(type='str')),
        read_only=True,
        supports_check_mode=True,
        required_together=[('zone', 'hostname')],
    )
    problems = []
    if module.params['zone']:
        problems.extend(name_problems(module.params['zone'], module.params['hostname']))
    problems.extend('mesh_names: %s' % mesh_util.mesh_name_error(name) for name in module.params['mesh_names'] or []
                    if mesh_util.mesh_name_error(name))
    fail_on_problems(module, problems)
    probe = Probe(module)
    try:
        probe.meshes(module.params['mesh_names'])
        probe.gtm(module.params['zone'], module.params['hostname'])
    except AlicloudError as err:
        module.fail_api(err, msg='probing the account (read-only)')
    module.exit_json(**probe.result())


if __name__ == '__main__':
    main()
