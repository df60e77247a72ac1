#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: asm_gateway
short_description: Manage an ASM gateway (IstioGateway) and wait for its load balancer addresses
version_added: 0.1.0
author:
  - meshdr.alicloud maintainers (@meshdr)
description:
  - Ensure the C(IstioGateway) O(name) (C(istio.alibabacloud.com/v1beta1), namespace C(istio-system)) exists in a
    mesh with the given target clusters, replicas, HPA, ports, Service type and annotations, resources and
    environment, or is removed. ASM then runs Deployment, Service and HPA C(istio-<name>) in C(istio-system) of
    every target cluster.
  - The gateway is managed as the custom resource through the mesh's Kubernetes API (kubeconfig from
    C(DescribeServiceMeshKubeconfig), or O(kubeconfig)), with the C(kubernetes) Python client. C(CreateASMGateway)
    and C(UpdateASMGateway) take the same object, but the API has no call to read or delete a gateway, and
    reading is what comparison, check mode and diff need.
  - Only the spec fields the user sets are compared; an update is a JSON merge patch of those fields (lists
    replace, maps merge). In check mode the create or patch is sent with C(dryRun=All), so the prediction is
    the API server's own answer (a server without dry run gets the module's own prediction).
  - With O(wait), waits until the gateway Service has a load balancer address in every target cluster, read from
    each cluster's API with O(cluster_kubeconfigs) (on Alibaba Cloud, the ACK kubeconfigs), and returns the
    addresses per cluster, the input GTM needs.
notes:
  - In check mode, when the mesh named O(mesh_name) or the O(kubeconfig) file does not exist yet (an earlier
    check-mode M(meshdr.alicloud.asm_mesh) task only predicted the mesh), the module predicts the creation
    from its options alone and warns.
  - Options are checked before any call (every problem in one message); then every target cluster in
    O(cluster_kubeconfigs) is asked for the gateway Service before the gateway is created or changed, so an
    unreachable or unauthorised cluster, or (with O(wait)) a target without a kubeconfig, fails the task with nothing
    written. A failure after a write reports C(changed=true) and lists what was written in C(writes).
  - O(gateway_type) defaults to V(ingress) at creation and is compared only when set.
  - An option left unset is not managed, so leaving it out never removes a field from the spec (for example an
    HPA); set the field to the value wanted instead.
  - Without O(cluster_ids) in the spec, ASM deploys to the mesh's member clusters; the module then waits for the
    clusters of O(cluster_kubeconfigs).
extends_documentation_fragment:
  - meshdr.alicloud.alicloud
  - meshdr.alicloud.alicloud.mesh_access
  - meshdr.alicloud.alicloud.wait
options:
  name:
    description: Name of the IstioGateway; ASM names the workload C(istio-<name>).
    type: str
    default: ingressgateway
  state:
    description: Whether the gateway should exist.
    type: str
    choices: [present, absent]
    default: present
  gateway_type:
    description: Ingress or egress gateway.
    type: str
    choices: [ingress, egress]
  cluster_ids:
    description: Clusters of the mesh to deploy the gateway into (C(clusterIds)).
    type: list
    elements: str
  replicas:
    description: Replica count (C(replicaCount)); with O(hpa), the initial count.
    type: int
  hpa:
    description: Horizontal pod autoscaling of the gateway.
    type: dict
    suboptions:
      min_replicas:
        description: Lowest replica count.
        type: int
        required: true
      max_replicas:
        description: Highest replica count.
        type: int
        required: true
      cpu_target:
        description: Target average CPU utilisation, percent.
        type: int
      memory_target:
        description: Target average memory utilisation, percent.
        type: int
  ports:
    description: Ports of the gateway Service. The list is compared and replaced as a whole.
    type: list
    elements: dict
    suboptions:
      name:
        description: Port name (for example V(http-0)).
        type: str
        required: true
      port:
        description: Service port.
        type: int
        required: true
      target_port:
        description: Container port (default O(ports[].port)).
        type: int
      protocol:
        description: Protocol.
        type: str
        choices: [TCP, UDP]
        default: TCP
  service_type:
    description: Type of the gateway Service.
    type: str
    choices: [LoadBalancer, NodePort, ClusterIP]
  service_annotations:
    description:
      - Annotations of the gateway Service, for example the internet CLB ones
        (C(service.beta.kubernetes.io/alicloud-loadbalancer-address-type=internet),
        C(service.beta.kubernetes.io/alibaba-cloud-loadbalancer-spec=slb.s1.small)). Keys not listed are kept.
    type: dict
  external_traffic_policy:
    description: C(externalTrafficPolicy) of the Service.
    type: str
    choices: [Cluster, Local]
  resources:
    description: Container resources (C(limits), C(requests)) as in Kubernetes.
    type: dict
  env:
    description: Environment variables of the gateway container, name to value.
    type: dict
  cluster_kubeconfigs:
    description: Kubeconfig path per cluster id, to read the gateway Service (addresses) in each cluster.
    type: dict
'''

EXAMPLES = r'''
- name: Ingress gateway with HPA and an internet load balancer in the region's cluster
  meshdr.alicloud.asm_gateway:
    mesh_name: mesh-1
    region_id: cn-hangzhou
    cluster_ids: [c5ae3bd0e5e3d4a5a9c8e5d3c2b1a0f9e]
    replicas: 2
    hpa:
      min_replicas: 2
      max_replicas: 5
      cpu_target: 80
      memory_target: 80
    ports:
      - name: http-0
        port: 80
    service_annotations:
      service.beta.kubernetes.io/alicloud-loadbalancer-address-type: internet
      service.beta.kubernetes.io/alibaba-cloud-loadbalancer-spec: slb.s1.small
    cluster_kubeconfigs:
      c5ae3bd0e5e3d4a5a9c8e5d3c2b1a0f9e: "{{ playbook_dir }}/cluster-1.kubeconfig"
  register: gateway

- name: The address GTM will point at
  ansible.builtin.debug:
    msg: "{{ gateway.addresses['c5ae3bd0e5e3d4a5a9c8e5d3c2b1a0f9e'] }}"
'''

RETURN = r'''
gateway:
  description: The IstioGateway after the change (check mode, as predicted); empty when absent.
  returned: always
  type: dict
  sample:
    apiVersion: istio.alibabacloud.com/v1beta1
    kind: IstioGateway
    metadata: {name: ingressgateway, namespace: istio-system}
    spec: {gatewayType: ingress, clusterIds: [c5ae3bd0e5e3d4a5a9c8e5d3c2b1a0f9e], replicaCount: 2}
addresses:
  description: Load balancer address of the gateway Service per cluster id (null where it has none yet).
  returned: state=present
  type: dict
  sample: {c5ae3bd0e5e3d4a5a9c8e5d3c2b1a0f9e: 47.96.1.10}
clusters:
  description: The target clusters the module looked at.
  returned: state=present
  type: list
  elements: str
changes:
  description:
    - "What changed (in check mode, would change) - V(IstioGateway: create), V(IstioGateway: delete), or the
      dotted spec paths a patch changes (for example V(spec.replicaCount)); empty when nothing changed."
  returned: always
  type: list
  elements: str
  sample: [spec.replicaCount]
diff:
  description: Before and after (name, namespace, spec).
  returned: when diff mode is on
  type: dict
  contains:
    before: {description: Before., type: dict, returned: always}
    after: {description: After., type: dict, returned: always}
'''

from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import (
    WAIT_ARGS,
    AlibabaCloudModule,
    AlicloudError,
    WaitTimeout,
    wait_for,
)
from ansible_collections.meshdr.alicloud.plugins.module_utils.asm import common as asm_common
from ansible_collections.meshdr.alicloud.plugins.module_utils.asm import gateway as gateway_util
from ansible_collections.meshdr.alicloud.plugins.module_utils import k8s
from ansible_collections.meshdr.alicloud.plugins.module_utils.outcome import Outcome
from ansible_collections.meshdr.alicloud.plugins.module_utils.validation import fail_on_problems

# Set at creation only, compared only when the user sets them.
CREATE_DEFAULTS = {'gatewayType': 'ingress'}


def cluster_clients(module, cluster_ids):
    clients = {}
    kubeconfigs = module.params['cluster_kubeconfigs'] or {}
    for cluster_id in cluster_ids:
        if cluster_id in kubeconfigs:
            clients[cluster_id] = k8s.Kube(path=kubeconfigs[cluster_id],
                                           what='the API server of cluster %s' % cluster_id)
    return clients


def service_states(clients, service_name):
    """Per cluster: the gateway Service's address, or a word for why there is none."""
    out = {}
    for cluster_id, client in clients.items():
        svc = client.get('v1', 'Service', service_name, asm_common.GATEWAY_NAMESPACE)
        out[cluster_id] = {'exists': svc is not None, 'address': k8s.lb_address(svc),
                           'type': ((svc or {}).get('spec') or {}).get('type')}
    return out


def wait_addresses(module, clients, spec, changed):
    service_name = 'istio-%s' % module.params['name']
    wants_lb = spec.get('serviceType', 'LoadBalancer') == 'LoadBalancer'

    def ready(states):
        return all(s['exists'] and (s['address'] or not wants_lb) for s in states.values())

    def one(state):
        if state['address']:
            return state['address']
        if state['exists']:
            return 'no load balancer address'
        return 'no Service %s/%s' % (asm_common.GATEWAY_NAMESPACE, service_name)

    def describe(states):
        return ', '.join('%s: %s' % (c, one(s)) for c, s in sorted(states.items()))

    what = 'the load balancer address of gateway %s in cluster(s) %s' % (module.params['name'],
                                                                         ', '.join(sorted(clients)))
    try:
        return wait_for(lambda: service_states(clients, service_name), ready, module.params['wait_timeout'], what,
                        delay=1.0, describe=describe)
    except WaitTimeout as exc:
        module.fail_json(msg=str(exc), changed=changed)


def wait_removed(module, clients):
    service_name = 'istio-%s' % module.params['name']
    try:
        wait_for(lambda: service_states(clients, service_name),
                 lambda states: not any(s['exists'] for s in states.values()), module.params['wait_timeout'],
                 'gateway %s to be removed from cluster(s) %s' % (module.params['name'], ', '.join(sorted(clients))),
                 delay=1.0, describe=lambda states: ', '.join('%s: %s' % (c, 'Service still there' if s['exists']
                                                                          else 'gone')
                                                              for c, s in sorted(states.items())))
    except WaitTimeout as exc:
        module.fail_json(msg=str(exc), changed=True)


def cluster_access(module, targets, need_all):
    """Clients of the target clusters, each already asked for the gateway Service (a read).

    Done before the mesh is changed: an unreachable or unauthorised cluster API (or, with ``need_all``, a
    target without a kubeconfig) fails the task while nothing has been written, instead of after the
    gateway (and with it the gateway's replicas, and so the effective rate limit) was changed.
    """
    if need_all:
        missing = [c for c in targets if c not in (module.params['cluster_kubeconfigs'] or {})]
        if missing:
            module.fail_json(msg='cannot wait for gateway %s in cluster(s) %s: no kubeconfig for them in '
                                 'cluster_kubeconfigs (nothing was changed)' % (module.params['name'],
                                                                                ', '.join(missing)))
    clients = cluster_clients(module, targets)
    states = service_states(clients, 'istio-%s' % module.params['name'])
    return clients, states


def ensure_absent(module, resource, current):
    if current is None:
        return Outcome(state={})
    clients = {}
    if module.params['wait'] and not module.check_mode:
        targets = gateway_util.gateway_target_clusters(current.get('spec'), module.params['cluster_kubeconfigs'])
        clients = cluster_access(module, targets, need_all=False)[0]
    outcome = resource.delete(current)
    if clients:
        wait_removed(module, clients)
    return outcome


def ensure_present(module, resource, current):
    params = module.params
    plan = resource.plan(current, gateway_util.gateway_spec(params), defaults=CREATE_DEFAULTS)
    targets = gateway_util.gateway_target_clusters(plan['predicted'].get('spec') or {}, params['cluster_kubeconfigs'])
    waiting = params['wait'] and not module.check_mode
    clients, states = cluster_access(module, targets, need_all=waiting)
    outcome = resource.apply(plan)
    if waiting:
        states = wait_addresses(module, clients, outcome.state.get('spec') or {}, outcome.changed)
    outcome.values.update(addresses=dict((c, (states.get(c) or {}).get('address')) for c in targets),
                          clusters=targets)
    return outcome


def predict_without_mesh(module, why):
    """Check mode, mesh not created yet: the gateway would be created with it (absent: nothing to do)."""
    module.warn('%s; predicting from the module options alone' % why)
    if module.params['state'] == 'absent':
        return Outcome(state={})
    spec = dict(CREATE_DEFAULTS, **gateway_util.gateway_spec(module.params))
    obj = gateway_util.gateway_object(module.params['name'], spec)
    targets = gateway_util.gateway_target_clusters(spec, module.params['cluster_kubeconfigs'])
    return Outcome(changed=True, changes=['%s: create' % asm_common.GATEWAY_KIND], after=k8s.managed_view(obj),
                   state=obj, values=dict(addresses=dict((c, None) for c in targets), clusters=targets))


def main():
    argument_spec = dict(
        name=dict(type='str', default='ingressgateway'),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        gateway_type=dict(type='str', choices=['ingress', 'egress']),
        cluster_ids=dict(type='list', elements='str'),
        replicas=dict(type='int'),
        hpa=dict(type='dict', options=dict(
            min_replicas=dict(type='int', required=True),
            max_replicas=dict(type='int', required=True),
            cpu_target=dict(type='int'),
            memory_target=dict(type='int'),
        )),
        ports=dict(type='list', elements='dict', options=dict(
            name=dict(type='str', required=True),
            port=dict(type='int', required=True),
            target_port=dict(type='int'),
            protocol=dict(type='str', default='TCP', choices=['TCP', 'UDP']),
        )),
        service_type=dict(type='str', choices=['LoadBalancer', 'NodePort', 'ClusterIP']),
        service_annotations=dict(type='dict'),
        external_traffic_policy=dict(type='str', choices=['Cluster', 'Local']),
        resources=dict(type='dict'),
        env=dict(type='dict'),
        cluster_kubeconfigs=dict(type='dict'),
        **WAIT_ARGS,
    )
    argument_spec.update(asm_common.mesh_access_args())
    module = AlibabaCloudModule(argument_spec=argument_spec, supports_check_mode=True, **asm_common.MESH_ACCESS_RULES)
    fail_on_problems(module, gateway_util.gateway_problems(module.params, module.check_mode))
    try:
        try:
            mesh = asm_common.open_mesh_kube(module)
        except asm_common.MeshNotYet as exc:
            outcome = predict_without_mesh(module, str(exc))
        else:
            resource = k8s.CustomResource(module, mesh, asm_common.GATEWAY_API_VERSION, asm_common.GATEWAY_KIND,
                                          module.params['name'], asm_common.GATEWAY_NAMESPACE)
            current = resource.get()
            if module.params['state'] == 'absent':
                outcome = ensure_absent(module, resource, current)
            else:
                outcome = ensure_present(module, resource, current)
    except k8s.KubeError as exc:
        module.fail_json(msg=str(exc), status=exc.status, reason=exc.reason)
    except AlicloudError as err:
        module.fail_api(err, msg='gateway %s' % module.params['name'])
    module.exit_json(**outcome.result(module._diff, gateway=k8s.public_object(outcome.state)))


if __name__ == '__main__':
    main()
