#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: dr_readiness
short_description: Judge whether every region can take over from any other, without breaking anything
version_added: 0.1.0
author:
  - meshdr.alicloud contributors (@meshdr)
description:
  - Reads every region's mesh, cluster and the GTM access domain and judges, per check, V(READY), V(NOT READY)
    or V(UNKNOWN), with the evidence. Nothing is written; check mode and normal mode do the same.
  - C(parity) compares the Istio and ASM resources of every mesh (Gateway, VirtualService, DestinationRule,
    ServiceEntry, ASMLocalRateLimiter, IstioGateway) and the application workloads of every cluster (Deployments,
    Services, HPAs in O(regions[].namespaces), plus the gateway's own) region by region, and names each difference
    (object, field, value per region). Fields the server owns (status, resourceVersion, uid, ...) and fields that
    differ per region by design (an IstioGateway's C(clusterIds), a Service's cluster IP) are not compared;
    O(intended_differences) declares others.
  - C(capacity) computes, for every region as the survivor of every other region's failure, the load after the
    failover (its own traffic plus the failed region's, shared by weight) against its capacity at the HPA maximum
    (maximum replicas x the local rate-limit quota per replica, as ASM's token buckets are per gateway pod).
  - C(gtm) bounds the error window GTM's health-check settings allow (interval x evaluation count + timeout +
    TTL) and compares it with O(slo); it also requires an HTTP(S) probe of an application path, not only a port.
  - C(trust) requires one root CA for every mesh (GetCaCert of each mesh) and a GTM pool holding exactly the
    gateways of the regions.
  - C(state) requires every address to be available in GTM, every gateway Deployment to have an available
    replica, and every gateway HPA to have room to scale out.
options:
  regions:
    description: The regions of the DR layout.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Region id, as the evidence names it.
        type: str
        required: true
      mesh_id:
        description: ASM instance of the region (for its root CA); or give O(regions[].mesh_name).
        type: str
      mesh_name:
        description: Name of the region's ASM instance, looked up in the region when O(regions[].mesh_id) is not given.
        type: str
      mesh_kubeconfig:
        description: Kubeconfig of the region's mesh API (Istio resources).
        type: path
        required: true
      cluster_kubeconfig:
        description: Kubeconfig of the region's cluster (workloads, gateway Deployment and HPA).
        type: path
        required: true
      gateway_name:
        description: ASM gateway name; its workload is C(istio-<name>) in C(istio-system).
        type: str
        default: ingressgateway
      gateway_address:
        description:
          - The gateway's load balancer address (what the GTM pool should hold).
          - Read from the gateway Service's load balancer status when omitted.
        type: str
      weight:
        description: GTM weight of the region (how a failed region's traffic is shared among survivors).
        type: int
        default: 1
      namespaces:
        description: Application namespaces whose Deployments, Services and HPAs are compared.
        type: list
        elements: str
        default: []
      rate_limit_route:
        description: Route name of the rate limit that bounds capacity; the tightest config when omitted.
        type: str
  zone:
    description: Zone of the GTM access domain.
    type: str
    required: true
  hostname:
    description: Host part of the GTM access domain.
    type: str
    required: true
  rr_type:
    description: Record type of the access domain.
    type: str
    choices: [A, AAAA, CNAME]
    default: A
  slo:
    description: Drill SLOs the GTM settings are judged against.
    type: dict
    default: {}
    suboptions:
      max_error_window:
        description: Seconds clients may see errors after a region fails.
        type: float
      max_time_to_detect:
        description: Seconds GTM may take to drop a failed address.
        type: float
  traffic:
    description:
      - Requests per second each region carries now on the rate-limited route (region name -> number).
      - Read from O(prometheus_url) when omitted and a URL is given; without either, capacity is V(UNKNOWN).
    type: dict
  prometheus_url:
    description: A Prometheus that scrapes the gateways, for the current traffic (O(traffic_query)).
    type: str
  traffic_query:
    description: PromQL giving requests per second per region, as series labelled C(region).
    type: str
    default: sum by (region) (rate(envoy_http_local_rate_limit_enabled[5m]))
  capacity_headroom:
    description: Share of the computed capacity a survivor may use (1.0 = all of it).
    type: float
    default: 1.0
  intended_differences:
    description: Differences between regions that are meant to be (they are listed, not judged).
    type: list
    elements: dict
    default: []
    suboptions:
      object:
        description: Object key as the evidence shows it (C(Kind namespace/name)), glob patterns allowed.
        type: str
        required: true
      path:
        description: Field path (C(spec.http[0].route[0].weight)); C([*]) for any index; the whole object if omitted.
        type: str
      reason:
        description: Why the difference is intended (shown in the report).
        type: str
  prometheus_timeout:
    description: Seconds allowed for the Prometheus query.
    type: float
    default: 10
extends_documentation_fragment:
  - meshdr.alicloud.alicloud
attributes:
  check_mode:
    support: full
    description: Read-only; identical in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
notes:
  - Every Alibaba Cloud call is a Describe/List/Get (the module refuses any other before sending it).
  - Kubernetes calls are GET lists only.
seealso:
  - module: meshdr.alicloud.drill_report
  - module: meshdr.alicloud.gtm_info
'''

EXAMPLES = r'''
- name: Can every region take over from the others?
  meshdr.alicloud.dr_readiness:
    regions:
      - name: cn-hangzhou
        mesh_id: c1b2f3a4d5e6f7a8b9c0d1e2f3a4b5c6d
        mesh_kubeconfig: /etc/meshdr/mesh-cn-hangzhou.yaml
        cluster_kubeconfig: /etc/meshdr/cluster-cn-hangzhou.yaml
        gateway_address: 47.96.1.10
        weight: 50
        namespaces: [bookinfo]
        rate_limit_route: productpage
      - name: ap-southeast-1
        mesh_id: c9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d
        mesh_kubeconfig: /etc/meshdr/mesh-ap-southeast-1.yaml
        cluster_kubeconfig: /etc/meshdr/cluster-ap-southeast-1.yaml
        gateway_address: 8.219.1.20
        weight: 50
        namespaces: [bookinfo]
        rate_limit_route: productpage
    zone: example.com
    hostname: bookinfo-gtm
    slo:
      max_error_window: 60
    prometheus_url: http://prometheus.example.internal:9090
    intended_differences:
      - object: VirtualService bookinfo/bookinfo
        path: spec.http[*].timeout
        reason: the Singapore backend is further away
  register: readiness

- name: Stop when a failover would hurt
  ansible.builtin.assert:
    that: readiness.status == 'READY'
    fail_msg: "{{ readiness.checks | rejectattr('status', 'equalto', 'READY') | map(attribute='summary') | list }}"
'''

RETURN = r'''
status:
  description: V(READY) when every check is, V(NOT READY) when any check is, else V(UNKNOWN).
  returned: always
  type: str
  sample: READY
checks:
  description: One verdict per check, in the order parity, capacity, gtm, trust, state.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: What is checked.
      type: str
      sample: "capacity: ap-southeast-1 takes over from cn-hangzhou"
    category:
      description: V(parity), V(capacity), V(gtm), V(trust) or V(state).
      type: str
      sample: capacity
    status:
      description: V(READY), V(NOT READY) or V(UNKNOWN).
      type: str
      sample: READY
    summary:
      description: One line a person reads.
      type: str
      sample: ap-southeast-1 would get 120.0 of 300.0 req/s after cn-hangzhou fails
    evidence:
      description: What the verdict rests on (differences, numbers, addresses).
      type: list
      elements: dict
counts:
  description: Number of checks per status.
  returned: always
  type: dict
  sample: {READY: 9, NOT READY: 0, UNKNOWN: 0}
traffic:
  description: Requests per second per region used by the capacity checks, and where they came from.
  returned: always
  type: dict
  sample: {source: prometheus, rps: {cn-hangzhou: 40.2, ap-southeast-1: 38.9}}
duration:
  description: Seconds the checks took.
  returned: always
  type: float
  sample: 2.4
'''

import json
import time

from ansible.module_utils.basic import missing_required_lib
from urllib.parse import urlencode
from ansible.module_utils.urls import open_url
from ansible_collections.meshdr.alicloud.plugins.module_utils import readiness as rd
from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import AlibabaCloudModule, AlicloudError
from ansible_collections.meshdr.alicloud.plugins.module_utils.asm.common import find_meshes
from ansible_collections.meshdr.alicloud.plugins.module_utils.asm.mesh import decode_ca
from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm.common import items, list_all, parse_json
from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm.domain import domain_fqdn, normalise_domain
from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm.monitor import normalise_template
from ansible_collections.meshdr.alicloud.plugins.module_utils.validation import fail_on_problems
from ansible_collections.meshdr.alicloud.plugins.module_utils.k8s import (
    HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR, Kube, KubeError, lb_address)

ISTIO = 'networking.istio.io/v1beta1'
ASM = 'istio.alibabacloud.com/v1beta1'
MESH_KINDS = [(ISTIO, 'Gateway'), (ISTIO, 'VirtualService'), (ISTIO, 'DestinationRule'), (ISTIO, 'ServiceEntry'),
              (ASM, 'ASMLocalRateLimiter'), (ASM, 'IstioGateway')]
WORKLOAD_KINDS = [('apps/v1', 'Deployment'), ('v1', 'Service'), ('autoscaling/v2', 'HorizontalPodAutoscaler')]


def _list(kube, api_version, kind, namespace=None):
    resource = kube.resource(api_version, kind)
    try:
        return list(resource.get(namespace=namespace).to_dict().get('items') or [])
    except Exception as exc:  # noqa: BLE001 - API errors and connection failures alike make the region unreadable
        raise KubeError('listing %s in %s: %s' % (kind, kube.what, exc), status=getattr(exc, 'status', None))


def workload_view(obj):
    """The fields of a workload that must match across regions (what a failover depends on).

    The gateway's objects in istio-system are written by each region's ASM, which labels them with
    its own mesh: their labels are not compared, only what they run.
    """
    meta = obj.get('metadata') or {}
    spec = obj.get('spec') or {}
    view = {'metadata': {'name': meta.get('name'), 'namespace': meta.get('namespace')}}
    if meta.get('namespace') != 'istio-system':
        view['metadata']['labels'] = meta.get('labels') or {}
    if obj['kind'] == 'Deployment':
        pod = (spec.get('template') or {}).get('spec') or {}
        view['spec'] = {'replicas': spec.get('replicas'), 'serviceAccountName': pod.get('serviceAccountName'),
                        'containers': [{'name': c.get('name'), 'image': c.get('image'), 'ports': c.get('ports'),
                                        'resources': c.get('resources'), 'env': c.get('env')}
                                       for c in pod.get('containers') or []]}
    elif obj['kind'] == 'Service':
        view['spec'] = {'type': spec.get('type'), 'selector': spec.get('selector'),
                        'ports': [{'name': p.get('name'), 'port': p.get('port'), 'targetPort': p.get('targetPort'),
                                   'protocol': p.get('protocol')} for p in spec.get('ports') or []]}
    else:
        view['spec'] = {'minReplicas': spec.get('minReplicas'), 'maxReplicas': spec.get('maxReplicas'),
                        'metrics': spec.get('metrics')}
    return view


def mesh_view(obj):
    meta = obj.get('metadata') or {}
    return {'kind': obj.get('kind'), 'metadata': {'name': meta.get('name'), 'namespace': meta.get('namespace'),
                                                  'labels': meta.get('labels') or {}},
            'spec': obj.get('spec') or {}}


def gather_region(module, region):
    """Everything one region contributes; what cannot be read is named in ``unreadable``."""
    facts = {'name': region['name'], 'weight': region['weight'], 'gateway_address': region.get('gateway_address'),
             'mesh_objects': {}, 'cluster_objects': {}, 'unreadable': [], 'root_ca': None,
             'gateway_deployment': None, 'gateway_hpa': None, 'rate_limiters': []}
    gateway = 'istio-%s' % region['gateway_name']
    try:
        mesh = Kube(path=region['mesh_kubeconfig'], what='mesh API of %s' % region['name'])
        for api_version, kind in MESH_KINDS:
            try:
                for obj in _list(mesh, api_version, kind):
                    obj.setdefault('kind', kind)
                    facts['mesh_objects'][rd.object_key(obj)] = mesh_view(obj)
                    if kind == 'ASMLocalRateLimiter':
                        facts['rate_limiters'].append(obj)
            except KubeError as err:
                if err.status != 404:  # a kind the mesh does not serve has no objects to compare
                    raise
    except KubeError as err:
        facts['unreadable'].append(err.message)
    try:
        cluster = Kube(path=region['cluster_kubeconfig'], what='cluster of %s' % region['name'])
        for namespace in list(region['namespaces']) + ['istio-system']:
            for api_version, kind in WORKLOAD_KINDS:
                for obj in _list(cluster, api_version, kind, namespace):
                    obj.setdefault('kind', kind)
                    name = (obj.get('metadata') or {}).get('name')
                    if namespace == 'istio-system' and name != gateway:
                        continue  # only the gateway's own objects of the mesh namespace
                    facts['cluster_objects'][rd.object_key(obj)] = workload_view(obj)
                    if namespace == 'istio-system' and kind == 'Deployment':
                        facts['gateway_deployment'] = obj
                    if namespace == 'istio-system' and kind == 'HorizontalPodAutoscaler':
                        facts['gateway_hpa'] = obj
                    if namespace == 'istio-system' and kind == 'Service' and not facts['gateway_address']:
                        facts['gateway_address'] = lb_address(obj)
    except KubeError as err:
        facts['unreadable'].append(err.message)
    mesh_ref = region['mesh_id'] or region['mesh_name']
    try:
        mesh_id = region['mesh_id']
        if not mesh_id:
            found = find_meshes(module, name=region['mesh_name'], region_id=region['name'])
            mesh_id = found[0]['ServiceMeshInfo']['ServiceMeshId'] if found else None
        if mesh_id is None:
            facts['unreadable'].append('root CA: no mesh named %s in %s' % (mesh_ref, region['name']))
        else:
            facts['root_ca'] = decode_ca((module.call('servicemesh', 'GetCaCert', ServiceMeshId=mesh_id)
                                          or {}).get('CaCert'))
    except AlicloudError as err:
        facts['unreadable'].append('root CA of mesh %s: %s' % (mesh_ref, err))
    selector = {'app': gateway}
    facts['rate_limiters'] = [r for r in facts['rate_limiters']
                              if ((r.get('spec') or {}).get('workloadSelector') or {}).get('labels') == selector]
    facts['quota_rps'] = rd.limiter_quota(facts['rate_limiters'], region.get('rate_limit_route'))
    facts['hpa_max_replicas'] = ((facts['gateway_hpa'] or {}).get('spec') or {}).get('maxReplicas')
    return facts


def gather_gtm(module):
    zone = module.params['zone'].rstrip('.').lower()
    hostname = module.params['hostname'].lower()

    def call(action, **kw):
        return module.call('alidns', action, **kw)
    configs = list_all(call, 'ListCloudGtmInstanceConfigs', 'InstanceConfigs', 'InstanceConfig',
                       ScheduleZoneName=zone, ScheduleDomainName=domain_fqdn(zone, hostname))
    config = next((c for c in configs if (c.get('ScheduleHostname') or '').lower() == hostname
                   and (c.get('ScheduleZoneName') or '').lower() == zone
                   and c.get('ScheduleRrType') == module.params['rr_type']), None)
    if config is None:
        return None
    domain = normalise_domain(call('DescribeCloudGtmInstanceConfigFullInfo', ConfigId=config['ConfigId'],
                                   InstanceId=config.get('InstanceId')))
    addresses = [a for pool in domain.get('pools') or [] for a in pool.get('addresses') or []]
    templates, monitors = {}, {}
    for address in addresses:
        detail = call('DescribeCloudGtmAddress', AddressId=address['address_id'])
        tasks = items(detail, 'HealthTasks', 'HealthTask')
        monitor = None
        for task in tasks:
            template_id = task.get('TemplateId')
            if template_id not in templates:
                templates[template_id] = normalise_template(call('DescribeCloudGtmMonitorTemplate',
                                                                 TemplateId=template_id))
            template = templates[template_id]
            if template:
                extend = parse_json(template.get('extend_info'))
                monitor = {'protocol': (template['protocol'] or '').lower(), 'interval': template['interval'] or 0,
                           'evaluation_count': template['evaluation_count'] or 1,
                           'timeout_ms': template['timeout'] or 0, 'path': extend.get('path')}
        monitors[address['address']] = monitor
    return {'domain': domain, 'addresses': dict((a['address'], a.get('available_status')) for a in addresses),
            'monitors': monitors}


def traffic_from_prometheus(url, query, timeout):
    response = open_url('%s/api/v1/query?%s' % (url.rstrip('/'), urlencode({'query': query})), timeout=timeout)
    body = json.loads(response.read())
    if body.get('status') != 'success':
        raise ValueError('Prometheus answered %s' % body.get('error') or body.get('status'))
    return dict((r['metric'].get('region'), float(r['value'][1])) for r in body['data']['result']
                if r['metric'].get('region'))


def run_checks(module, regions, gtm, traffic, slo):
    checks = []
    mesh_unreadable = [m for r in regions for m in r['unreadable'] if 'mesh API' in m]
    cluster_unreadable = [m for r in regions for m in r['unreadable'] if 'cluster of' in m]
    intended = module.params['intended_differences']
    mesh_objects = dict((r['name'], r['mesh_objects']) for r in regions)
    checks.append(rd.parity_check('mesh resources are the same in every region', 'parity', mesh_objects, intended,
                                  mesh_unreadable))
    checks.append(rd.parity_check('application workloads are the same in every region', 'parity',
                                  dict((r['name'], r['cluster_objects']) for r in regions), intended,
                                  cluster_unreadable))
    checks.extend(rd.capacity_checks(regions, traffic, module.params['capacity_headroom']))
    if gtm is None:
        checks.append(rd.check('GTM access domain', 'gtm', rd.NOT_READY, 'no access domain %s.%s (%s)' % (
            module.params['hostname'], module.params['zone'], module.params['rr_type'])))
    else:
        checks.append(rd.gtm_timing_check(gtm['monitors'], gtm['domain'].get('ttl'), slo))
    checks.append(rd.trust_check(dict((r['name'], r['root_ca']) for r in regions)))
    if gtm is not None:
        checks.append(rd.pool_membership_check(dict((r['name'], r['gateway_address']) for r in regions),
                                               set(gtm['addresses'])))
        checks.append(rd.gtm_state_check(gtm['addresses']))
    cluster_facts = [dict(r, unreadable='; '.join(m for m in r['unreadable'] if 'cluster of' in m)) for r in regions]
    checks.extend(rd.gateway_state_checks(cluster_facts))
    return checks


def readiness_problems(params):
    """What the argument spec cannot say about the input (all of it, before any call)."""
    problems = []
    names = [r['name'] for r in params['regions']]
    if len(names) < 2:
        problems.append('regions: a failover needs at least two regions, got %d' % len(names))
    if len(set(names)) != len(names):
        problems.append('regions: names must be unique, got %s' % ', '.join(names))
    if not 0 < params['capacity_headroom'] <= 1:
        problems.append('capacity_headroom must be greater than 0 and at most 1, got %s' % params['capacity_headroom'])
    for key, value in (params['traffic'] or {}).items():
        try:
            if float(value) < 0:
                raise ValueError(value)
        except (TypeError, ValueError):
            problems.append('traffic.%s must be a number of requests per second, got %r' % (key, value))
    unknown = sorted(set(params['traffic'] or {}) - set(names))
    if unknown:
        problems.append('traffic names regions that are not in regions: %s' % ', '.join(unknown))
    return problems


def main():
    region_spec = dict(
        name=dict(type='str', required=True), mesh_id=dict(type='str'), mesh_name=dict(type='str'),
        mesh_kubeconfig=dict(type='path', required=True), cluster_kubeconfig=dict(type='path', required=True),
        gateway_name=dict(type='str', default='ingressgateway'), gateway_address=dict(type='str'),
        weight=dict(type='int', default=1), namespaces=dict(type='list', elements='str', default=[]),
        rate_limit_route=dict(type='str'))
    module = AlibabaCloudModule(
        argument_spec=dict(
            regions=dict(type='list', elements='dict', required=True, options=region_spec,
                         required_one_of=[('mesh_id', 'mesh_name')], mutually_exclusive=[('mesh_id', 'mesh_name')]),
            zone=dict(type='str', required=True), hostname=dict(type='str', required=True),
            rr_type=dict(type='str', choices=['A', 'AAAA', 'CNAME'], default='A'),
            slo=dict(type='dict', default={}, options=dict(max_error_window=dict(type='float'),
                                                           max_time_to_detect=dict(type='float'))),
            traffic=dict(type='dict'), prometheus_url=dict(type='str'),
            traffic_query=dict(type='str', default='sum by (region) (rate(envoy_http_local_rate_limit_enabled[5m]))'),
            capacity_headroom=dict(type='float', default=1.0),
            intended_differences=dict(type='list', elements='dict', default=[], options=dict(
                object=dict(type='str', required=True), path=dict(type='str'), reason=dict(type='str'))),
            prometheus_timeout=dict(type='float', default=10),
        ),
        read_only=True,
        supports_check_mode=True,
    )
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=KUBERNETES_IMPORT_ERROR)
    params = module.params
    fail_on_problems(module, readiness_problems(params))
    started = time.time()
    regions = [gather_region(module, r) for r in params['regions']]
    try:
        gtm = gather_gtm(module)
    except AlicloudError as err:
        module.fail_api(err, msg='GTM access domain %s.%s' % (params['hostname'], params['zone']))
    traffic = {'source': None, 'rps': None}
    if params['traffic'] is not None:
        traffic = {'source': 'given', 'rps': dict((k, float(v)) for k, v in params['traffic'].items())}
    elif params['prometheus_url']:
        try:
            traffic = {'source': 'prometheus', 'query': params['traffic_query'],
                       'rps': traffic_from_prometheus(params['prometheus_url'], params['traffic_query'],
                                                      params['prometheus_timeout'])}
        except (ValueError, KeyError, IOError) as err:
            traffic = {'source': 'prometheus', 'query': params['traffic_query'], 'rps': None, 'error': str(err)}
        if traffic['rps'] is not None:
            # a region that served nothing in the window has no series: it carries 0
            traffic['rps'] = dict((r['name'], traffic['rps'].get(r['name'], 0.0)) for r in params['regions'])
    checks = run_checks(module, regions, gtm, traffic['rps'], params['slo'])
    counts = dict((s, sum(1 for c in checks if c['status'] == s)) for s in (rd.READY, rd.NOT_READY, rd.UNKNOWN))
    module.exit_json(changed=False, status=rd.overall(checks), checks=checks, counts=counts, traffic=traffic,
                     duration=round(time.time() - started, 2))


if __name__ == '__main__':
    main()
