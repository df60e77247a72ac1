#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: asm_ratelimit
short_description: Manage an ASM local rate limiter (ASMLocalRateLimiter)
version_added: 0.1.0
author:
  - meshdr.alicloud maintainers (@meshdr)
description:
  - Ensure an C(ASMLocalRateLimiter) custom resource (C(istio.alibabacloud.com)) exists in a mesh with the given
    workload selector and token-bucket configs, or is removed.
  - The resource is read and written through the mesh's Kubernetes API with the C(kubernetes) Python client,
    using the kubeconfig from C(DescribeServiceMeshKubeconfig) (or O(kubeconfig)).
  - Only the spec fields the user sets are compared; an update is a JSON merge patch of those fields. In check
    mode the create or patch is sent with C(dryRun=All), so the prediction is the API server's own answer (a
    server without dry run gets the module's own prediction).
  - The quota is per Envoy (per gateway replica). The module returns the effective limit for the current replica
    count, read from the gateway Deployment C(istio-<gateway_name>) in C(istio-system) of the cluster in
    O(cluster_kubeconfig), or else from the mesh's C(IstioGateway) (C(replicaCount), else C(minReplicas)).
notes:
  - In check mode, when the mesh named O(mesh_name) or the O(kubeconfig) file does not exist yet (an earlier
    check-mode M(meshdr.alicloud.asm_mesh) task only predicted the mesh), the module predicts the creation
    from its options alone and warns.
  - Every config is validated before any call (names and hosts non-empty, port 1-65535, quota > 0,
    fill interval > 0, status 400-599, config names unique), O(name) as a Kubernetes object name and
    O(namespace) as a DNS label, and every problem is reported in one message.
  - O(cluster_kubeconfig) is read (the gateway Deployment) before the rate limiter is created or changed, so an
    unreachable or unauthorised cluster fails the task with nothing written. A failure after a write reports
    C(changed=true) and lists what was written in C(writes).
extends_documentation_fragment:
  - meshdr.alicloud.alicloud
  - meshdr.alicloud.alicloud.mesh_access
options:
  name:
    description: Name of the rate limiter.
    type: str
    required: true
  namespace:
    description: Namespace of the rate limiter (where the selected workload runs).
    type: str
    default: istio-system
  state:
    description: Whether the rate limiter should exist.
    type: str
    choices: [present, absent]
    default: present
  api_version:
    description: API version of the resource (V(v1) needs ASM 1.15.3.105 or later).
    type: str
    choices: [v1beta1, v1]
    default: v1beta1
  workload_selector:
    description: "Pod labels of the workload to limit, for example V({app: istio-ingressgateway})."
    type: dict
  is_gateway:
    description: The selected workload is a gateway (rather than sidecars).
    type: bool
  configs:
    description: Token-bucket rules. Required with O(state=present).
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the rule.
        type: str
        required: true
      match:
        description: Traffic the rule applies to.
        type: dict
        required: true
        suboptions:
          vhost:
            description: Virtual host (the host of the route, V(*) for any) and port.
            type: dict
            required: true
            suboptions:
              name:
                description: Host name.
                type: str
                required: true
              port:
                description: Gateway (or service) port.
                type: int
                required: true
              route:
                description: Limit only this route of the VirtualService.
                type: dict
                suboptions:
                  name_match:
                    description: Name of the VirtualService route.
                    type: str
                    required: true
      limit:
        description: The token bucket.
        type: dict
        required: true
        suboptions:
          fill_interval:
            description: Refill period.
            type: dict
            required: true
            suboptions:
              seconds:
                description: Seconds.
                type: int
              nanos:
                description: Nanoseconds (0 to 999999999).
                type: int
          quota:
            description: Tokens per fill interval, per gateway replica.
            type: int
            required: true
          custom_response_body:
            description: Body of the rejection.
            type: str
          status:
            description: HTTP status of the rejection (default 429; needs ASM 1.24.6.64 or later).
            type: int
          per_downstream_connection:
            description: One bucket per downstream connection instead of per Envoy.
            type: bool
  gateway_name:
    description: ASM gateway whose replicas share the limit (Deployment C(istio-<gateway_name>)).
    type: str
    default: ingressgateway
  cluster_kubeconfig:
    description: Kubeconfig of a data plane cluster, to read the gateway's current replica count.
    type: path
'''

EXAMPLES = r'''
- name: 100 requests per second per gateway pod on the productpage route
  meshdr.alicloud.asm_ratelimit:
    mesh_name: mesh-1
    region_id: cn-hangzhou
    name: productpage-limit
    workload_selector:
      app: istio-ingressgateway
    is_gateway: true
    configs:
      - name: productpage
        match:
          vhost:
            name: "*"
            port: 80
            route:
              name_match: productpage-route
        limit:
          fill_interval:
            seconds: 1
          quota: 100
          custom_response_body: '{"error": "rate limited"}'
    cluster_kubeconfig: "{{ drlab_dir }}/kubeconfig/cluster-1.yaml"
  register: limiter

- name: Effective limit of the whole gateway
  ansible.builtin.debug:
    msg: "{{ limiter.effective_limits[0].effective_requests_per_second }} requests/s"
'''

RETURN = r'''
ratelimiter:
  description: The ASMLocalRateLimiter after the change (check mode, as predicted); empty when absent.
  returned: always
  type: dict
  sample:
    apiVersion: istio.alibabacloud.com/v1beta1
    kind: ASMLocalRateLimiter
    metadata: {name: productpage-limit, namespace: istio-system, resourceVersion: "42"}
    spec: {isGateway: true, workloadSelector: {labels: {app: istio-ingressgateway}}, configs: []}
replicas:
  description: Current replica count of the gateway, or null when it could not be read.
  returned: state=present
  type: int
  sample: 2
replicas_source:
  description: Where RV(replicas) came from, C(deployment) (cluster), C(istiogateway) (mesh) or null.
  returned: state=present
  type: str
  sample: deployment
effective_limits:
  description: Per config, the quota per replica and the effective limit of the whole gateway.
  returned: state=present
  type: list
  elements: dict
  contains:
    name: {description: Config name., type: str, returned: always, sample: productpage}
    quota_per_replica: {description: Tokens per interval per Envoy., type: int, returned: always, sample: 100}
    fill_interval_seconds: {description: Refill period in seconds., type: float, returned: always, sample: 1.0}
    replicas: {description: Gateway replicas., type: int, returned: always, sample: 2}
    effective_quota: {description: quota x replicas (null if unknown)., type: int, returned: always, sample: 200}
    effective_requests_per_second:
      description: effective_quota / fill interval (null if unknown).
      type: float
      returned: always
      sample: 200.0
changes:
  description:
    - "What changed (in check mode, would change) - V(ASMLocalRateLimiter: create), V(ASMLocalRateLimiter:
      delete), or the dotted spec paths a patch changes (for example V(spec.configs)); empty when nothing changed."
  returned: always
  type: list
  elements: str
  sample: [spec.configs]
diff:
  description: Before and after (name, namespace, spec).
  returned: when diff mode is on
  type: dict
  contains:
    before: {description: Before., type: dict, returned: always}
    after: {description: After., type: dict, returned: always}
'''

from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import AlibabaCloudModule, AlicloudError
from ansible_collections.meshdr.alicloud.plugins.module_utils.asm import common as asm_common
from ansible_collections.meshdr.alicloud.plugins.module_utils.asm import ratelimit as ratelimit_util
from ansible_collections.meshdr.alicloud.plugins.module_utils import k8s
from ansible_collections.meshdr.alicloud.plugins.module_utils.outcome import Outcome
from ansible_collections.meshdr.alicloud.plugins.module_utils.validation import fail_on_problems


def current_replicas(module, mesh):
    """(replicas, source): the gateway Deployment in the cluster, else the IstioGateway spec."""
    name = 'istio-%s' % module.params['gateway_name']
    if module.params['cluster_kubeconfig']:
        cluster = k8s.Kube(path=module.params['cluster_kubeconfig'],
                           what='the cluster API server (%s)' % module.params['cluster_kubeconfig'])
        deployment = cluster.get('apps/v1', 'Deployment', name, asm_common.GATEWAY_NAMESPACE)
        if deployment is not None:
            return (deployment.get('spec') or {}).get('replicas', 1), 'deployment'
        return 0, 'deployment'
    gateway = mesh.get(asm_common.GATEWAY_API_VERSION, asm_common.GATEWAY_KIND, module.params['gateway_name'],
                       asm_common.GATEWAY_NAMESPACE)
    if gateway is None:
        return None, None
    spec = gateway.get('spec') or {}
    replicas = spec.get('replicaCount', spec.get('minReplicas'))
    return (replicas if replicas is not None else 1), 'istiogateway'


def predict_without_mesh(module, api_version, why):
    """Check mode, mesh not created yet: the limiter would be created with it (absent: nothing to do)."""
    module.warn('%s; predicting from the module options alone' % why)
    if module.params['state'] == 'absent':
        return Outcome(state={})
    obj = k8s.new_object(api_version, ratelimit_util.RATELIMIT_KIND, module.params['name'], module.params['namespace'],
                         ratelimit_util.ratelimit_spec(module.params))
    return Outcome(changed=True, changes=['%s: create' % ratelimit_util.RATELIMIT_KIND], after=k8s.managed_view(obj),
                   state=obj, values=dict(replicas=None, replicas_source=None,
                                          effective_limits=ratelimit_util.effective_limits(obj['spec'], None)))


def ensure_present(module, mesh, resource, current):
    plan = resource.plan(current, ratelimit_util.ratelimit_spec(module.params))
    # Read before writing: an unreachable or unauthorised cluster_kubeconfig fails the task while
    # nothing has been changed (it used to fail after the limiter was created or patched).
    replicas, source = current_replicas(module, mesh)
    outcome = resource.apply(plan)
    outcome.values.update(replicas=replicas, replicas_source=source,
                          effective_limits=ratelimit_util.effective_limits(outcome.state.get('spec'), replicas))
    return outcome


def main():
    argument_spec = dict(
        name=dict(type='str', required=True),
        namespace=dict(type='str', default='istio-system'),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        api_version=dict(type='str', default='v1beta1', choices=['v1beta1', 'v1']),
        workload_selector=dict(type='dict'),
        is_gateway=dict(type='bool'),
        configs=dict(type='list', elements='dict', options=dict(
            name=dict(type='str', required=True),
            match=dict(type='dict', required=True, options=dict(
                vhost=dict(type='dict', required=True, options=dict(
                    name=dict(type='str', required=True),
                    port=dict(type='int', required=True),
                    route=dict(type='dict', options=dict(name_match=dict(type='str', required=True))),
                )),
            )),
            limit=dict(type='dict', required=True, options=dict(
                fill_interval=dict(type='dict', required=True, options=dict(
                    seconds=dict(type='int'),
                    nanos=dict(type='int'),
                )),
                quota=dict(type='int', required=True),
                custom_response_body=dict(type='str'),
                status=dict(type='int'),
                per_downstream_connection=dict(type='bool'),
            )),
        )),
        gateway_name=dict(type='str', default='ingressgateway'),
        cluster_kubeconfig=dict(type='path'),
    )
    argument_spec.update(asm_common.mesh_access_args())
    module = AlibabaCloudModule(argument_spec=argument_spec, supports_check_mode=True, **asm_common.MESH_ACCESS_RULES)
    params = module.params
    fail_on_problems(module, ratelimit_util.ratelimit_problems(params, module.check_mode))
    api_version = 'istio.alibabacloud.com/%s' % params['api_version']
    name, namespace = params['name'], params['namespace']
    try:
        try:
            mesh = asm_common.open_mesh_kube(module)
        except asm_common.MeshNotYet as exc:
            outcome = predict_without_mesh(module, api_version, str(exc))
        else:
            resource = k8s.CustomResource(module, mesh, api_version, ratelimit_util.RATELIMIT_KIND, name, namespace)
            current = resource.get()
            if params['state'] == 'absent':
                outcome = resource.delete(current)
            else:
                outcome = ensure_present(module, mesh, resource, current)
    except k8s.KubeError as exc:
        module.fail_json(msg=str(exc), status=exc.status, reason=exc.reason)
    except AlicloudError as err:
        module.fail_api(err, msg='rate limiter %s/%s' % (namespace, name))
    module.exit_json(**outcome.result(module._diff, ratelimiter=k8s.public_object(outcome.state)))


if __name__ == '__main__':
    main()
