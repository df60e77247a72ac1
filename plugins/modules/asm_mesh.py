#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: asm_mesh
short_description: Manage an Alibaba Cloud Service Mesh (ASM) instance
version_added: 0.1.0
author:
  - meshdr.alicloud maintainers (@meshdr)
description:
  - Ensure an ASM instance, found by O(name) in O(region_id), exists with the given network, root CA,
    member clusters and mesh features, or is deleted.
  - Reads the mesh first and changes only what differs from what the user set (C(UpdateMeshFeature) with the
    differing features only, C(AddClusterIntoServiceMesh)/C(RemoveClusterFromServiceMesh) for cluster set
    differences).
  - In the multi-master disaster-recovery layout every mesh gets the same root CA (O(use_existing_ca)), so
    proxies in different meshes trust each other.
notes:
  - Every option is checked before the first write and every problem is reported in one message; a failure
    after a write reports C(changed=true) and lists what was already written in C(writes).
  - The directory of O(kubeconfig_path) must exist and be writable; it is checked before the mesh is created.
  - "Create-only settings: O(vpc_id), O(vswitches), O(cluster_spec), O(istio_version) and the CA options. When an
    existing mesh differs in any of them the module fails and names the differences; it never deletes and
    re-creates a mesh by itself. The CA is compared through C(GetCaCert) with O(existing_root_ca_cert) (type 2)
    or O(existing_ca_cert) (type 1)."
  - "O(edition) and O(api_server_public_eip) are passed at creation only and never compared (the API does not
    report them back in a comparable form)."
  - "O(keep_traffic_in_cluster): the ASM API has no field for ASM's console setting I(keep traffic in cluster).
    The module uses what ASM and Istio do honour: a mesh-wide locality load balancing C(distribute) rule
    (C(UpdateMeshFeature) C(LocalityLBConf)) sending all of the mesh region's traffic to that region, for example
    V({\"distribute\": [{\"from\": \"cn-hangzhou/*\", \"to\": {\"cn-hangzhou/*\": 100}}]}). ASM accepts either
    C(distribute) or C(failover) rules: when O(locality_lb_conf) has C(failover) rules, those are sent alone,
    since locality failover already keeps traffic in the local region while its endpoints are healthy (Istio
    applies failover only with C(outlierDetection) in the DestinationRule)."
  - "O(clusters[].discovery_only) applies when a cluster is attached; the API does not report it afterwards, so
    it is not compared for clusters already in the mesh."
  - Deleting a mesh that still has clusters detaches them first (one at a time, each waited for), unless
    O(force_delete) is set; C(DeleteServiceMesh) is then retried while ASM answers C(RelatedResourceReused) (clusters
    still detaching) or C(StillInitializing), within O(wait_timeout), as terraform-provider-alicloud does.
  - "A mesh is busy after every change: the module makes C(UpdateMeshFeature), C(UpdateMeshCRAggregation),
    C(AddClusterIntoServiceMesh) and C(RemoveClusterFromServiceMesh) one at a time and waits for C(State=running)
    before and after each (as terraform-provider-alicloud does); a change refused as busy (C(StillInitializing),
    another run changing the same mesh) is repeated once the mesh is running. With O(wait=false) only the wait after
    the last change is skipped. O(wait_timeout) bounds the whole task."
  - "The CA options take PEM text; the module sends it Base64-encoded, as the API requires for
    C(ExistingRootCaCert), C(ExistingRootCaKey), C(ExistingCaCert) and C(ExistingCaKey)."
  - "Safe against lost replies and concurrent runs: a C(CreateServiceMesh) whose reply was lost, or answered
    C(NameAlreadyExist), re-finds the mesh by O(name) and O(region_id) and manages it instead of creating a second;
    an add whose reply was lost, or that was refused because the cluster is already a member, re-reads the members.
    Two runs of the same task converge on one mesh with one attachment per cluster."
  - "A mesh counts as deleted when C(DescribeServiceMeshDetail) answers C(ServiceMesh.NotFound), C(StatusForbidden)
    or HTTP 403/404; an HTTP 5xx counts only when C(DescribeServiceMeshes) no longer lists the mesh either (so a
    server error never leads to a duplicate mesh)."
  - Adding clusters and writing O(kubeconfig_path) need the mesh C(running), so the module waits for that even
    with O(wait=false).
extends_documentation_fragment:
  - meshdr.alicloud.alicloud
  - meshdr.alicloud.alicloud.wait
options:
  name:
    description:
      - Name of the mesh; with O(region_id) it identifies the mesh.
      - 1 to 63 letters, digits, C(-) and C(_), starting with a letter or digit.
    type: str
    required: true
  state:
    description: Whether the mesh should exist.
    type: str
    choices: [present, absent]
    default: present
  vpc_id:
    description: VPC of the mesh control plane. Required with O(state=present). Create-only.
    type: str
  vswitches:
    description: vSwitch ids of the mesh control plane. Required with O(state=present). Create-only.
    type: list
    elements: str
  cluster_spec:
    description: Instance specification. Create-only.
    type: str
    choices: [standard, enterprise, ultimate]
  edition:
    description: Edition passed at creation (for example V(Default) or V(Pro)). Create-only, not compared.
    type: str
  istio_version:
    description: ASM (Istio) version at creation. Create-only; an existing mesh of another version is an error.
    type: str
  api_server_public_eip:
    description: Expose the mesh API server with a public EIP. Create-only, not compared.
    type: bool
  use_existing_ca:
    description: Use your own CA instead of one generated by ASM (so several meshes share one root CA).
    type: bool
    default: false
  existing_ca_type:
    description:
      - V(1) istiod's own CA (C(istio-ca-secret)) from O(existing_ca_cert) and O(existing_ca_key);
        V(2) plugged-in CA (C(cacerts)) from O(existing_root_ca_cert) and O(existing_root_ca_key).
    type: int
    choices: [1, 2]
  existing_root_ca_cert:
    description: PEM root certificate (O(existing_ca_type=2)).
    type: str
  existing_root_ca_key:
    description: PEM root private key (O(existing_ca_type=2)). Never logged or returned.
    type: str
  existing_ca_cert:
    description: PEM CA certificate (O(existing_ca_type=1)).
    type: str
  existing_ca_key:
    description: PEM CA private key (O(existing_ca_type=1)). Never logged or returned.
    type: str
  cert_chain:
    description: Certificate chain (C(CertChain)), when the CA is an intermediate.
    type: str
  clusters:
    description:
      - Kubernetes (ACK) clusters that should be members of the mesh. Clusters missing from the mesh are added.
      - Clusters in the mesh but not listed are removed only with O(purge_clusters=true).
      - Not set means cluster membership is not managed.
    type: list
    elements: dict
    suboptions:
      id:
        description: Cluster id.
        type: str
        required: true
      discovery_only:
        description: Attach for service discovery only (the peer clusters of a multi-master layout).
        type: bool
        default: false
  purge_clusters:
    description: Remove member clusters not listed in O(clusters).
    type: bool
    default: false
  locality_load_balancing:
    description:
      - Mesh-wide Istio locality load balancing. Implied V(true) by O(locality_lb_conf) or O(keep_traffic_in_cluster).
    type: bool
  locality_lb_conf:
    description:
      - Mesh-wide Istio C(localityLbSetting), as C(LocalityLBConf). Either O(locality_lb_conf.distribute) or
        O(locality_lb_conf.failover).
    type: dict
    suboptions:
      distribute:
        description: "Rules C({from, to{locality: weight}}); the weights of a rule add up to 100."
        type: list
        elements: dict
      failover:
        description: Rules C({from, to}) of region ids.
        type: list
        elements: dict
  keep_traffic_in_cluster:
    description:
      - Keep every call inside the mesh's own region (see the notes for how, since the API has no such field).
    type: bool
  cr_aggregation:
    description:
      - Let the Kubernetes API of the data plane clusters serve the mesh's Istio resources.
      - Set at creation (C(CRAggregationEnabled)), changed with C(UpdateMeshCRAggregation).
    type: bool
  telemetry:
    description: Collect mesh metrics (C(Telemetry)).
    type: bool
  access_log:
    description: Access log collection.
    type: dict
    suboptions:
      enabled:
        description: Collect access logs.
        type: bool
      project:
        description: Log project of the access logs.
        type: str
  kubeconfig_path:
    description:
      - Write the mesh kubeconfig (C(DescribeServiceMeshKubeconfig)) to this file, mode 0600. The task reports a
        change only when the content (or the mode) changes.
    type: path
  force_delete:
    description: With O(state=absent), delete even with member clusters (C(Force)) instead of detaching them first.
    type: bool
    default: false
'''

EXAMPLES = r'''
- name: A mesh per region sharing one root CA, with its cluster, keeping traffic in the region
  meshdr.alicloud.asm_mesh:
    name: mesh-1
    region_id: cn-hangzhou
    vpc_id: vpc-bp1drlab0000000000001
    vswitches: [vsw-bp1drlab0000000000001]
    use_existing_ca: true
    existing_ca_type: 2
    existing_root_ca_cert: "{{ lookup('file', 'root-cert.pem') }}"
    existing_root_ca_key: "{{ lookup('file', 'root-key.pem') }}"
    clusters:
      - id: c5ae3bd0e5e3d4a5a9c8e5d3c2b1a0f9e
    keep_traffic_in_cluster: true
    cr_aggregation: true
    telemetry: true
    kubeconfig_path: "{{ playbook_dir }}/mesh-1.kubeconfig"
  register: mesh

- name: Fail over to the peer region when local endpoints fail
  meshdr.alicloud.asm_mesh:
    name: mesh-1
    region_id: cn-hangzhou
    vpc_id: vpc-bp1drlab0000000000001
    vswitches: [vsw-bp1drlab0000000000001]
    locality_lb_conf:
      failover:
        - from: cn-hangzhou
          to: ap-southeast-1

- name: Delete it (detaching its clusters first)
  meshdr.alicloud.asm_mesh:
    name: mesh-1
    region_id: cn-hangzhou
    state: absent
'''

RETURN = r'''
mesh_id:
  description: Id of the mesh (null when check mode predicts a creation, or after a deletion).
  returned: always
  type: str
  sample: c08ba3fd1e6484b0f8cc1ad8fe10d4cbd
mesh:
  description: The mesh as read after the changes (in check mode, as predicted). Empty after a deletion.
  returned: always
  type: dict
  contains:
    id: {description: Mesh id., type: str, returned: success, sample: c08ba3fd1e6484b0f8cc1ad8fe10d4cbd}
    name: {description: Mesh name., type: str, returned: success, sample: mesh-1}
    region_id: {description: Region., type: str, returned: success, sample: cn-hangzhou}
    state: {description: "C(running), or a busy state (C(initial)...)", type: str, returned: success, sample: running}
    version: {description: ASM version., type: str, returned: success, sample: v1.22.6.71-g7d67a80b-aliyun}
    cluster_spec: {description: Instance specification., type: str, returned: success, sample: standard}
    vpc_id: {description: VPC id., type: str, returned: success, sample: vpc-bp1drlab0000000000001}
    vswitches: {description: vSwitch ids., type: list, elements: str, returned: success}
    endpoints:
      description: API server and Pilot endpoints (C(public_api_server_endpoint), C(intranet_api_server_endpoint)...).
      type: dict
      returned: success
    clusters:
      description: Member clusters (C(id), C(name), C(region_id), C(state), C(cluster_type), C(vpc_id)).
      type: list
      elements: dict
      returned: success
    features:
      description: >-
        Mesh features: C(locality_load_balancing), C(locality_lb_conf) ({distribute, failover}),
        C(cr_aggregation), C(telemetry), C(access_log) ({enabled, project}).
      type: dict
      returned: success
kubeconfig_path:
  description: Where the mesh kubeconfig was written (when O(kubeconfig_path) was given).
  returned: when O(kubeconfig_path) is set
  type: str
  sample: /home/user/mesh-1.kubeconfig
changes:
  description:
    - "What changed (in check mode, would change) - V(mesh: create), V(mesh: delete), V(features.<name>),
      V(clusters.<id>: add), V(clusters.<id>: remove), V(kubeconfig_path); empty when nothing changed."
  returned: always
  type: list
  elements: str
  sample: ['features.telemetry', 'clusters.c5ae3bd0e5e3d4a5a9c8e5d3c2b1a0f9e: add']
diff:
  description: Before and after of the managed fields (name, region, network, cluster spec, cluster ids, features).
  returned: when diff mode is on
  type: dict
  contains:
    before: {description: Before., type: dict, returned: always}
    after: {description: After., type: dict, returned: always}
'''

import os
import tempfile
import time

from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import (
    WAIT_ARGS,
    AlibabaCloudModule,
    AlicloudError,
    WaitTimeout,
    wait_for,
)
from ansible_collections.meshdr.alicloud.plugins.module_utils.asm import common as asm_common
from ansible_collections.meshdr.alicloud.plugins.module_utils.asm import mesh as mesh_util
from ansible_collections.meshdr.alicloud.plugins.module_utils.outcome import Outcome
from ansible_collections.meshdr.alicloud.plugins.module_utils.validation import fail_on_problems


def describe(module, mesh_id):
    """DescribeServiceMeshDetail's ServiceMesh, or None when the mesh is gone (mesh_util.describe_mesh)."""
    return mesh_util.describe_mesh(module, mesh_id)


def read_mesh(module, mesh_id):
    detail = describe(module, mesh_id)
    if detail is None:
        return None
    clusters = module.call('servicemesh', 'DescribeClustersInServiceMesh', ServiceMeshId=mesh_id).get('Clusters')
    return mesh_util.normalise_mesh(detail, clusters)


def mesh_state(detail):
    return (detail or {}).get('ServiceMeshInfo', {}).get('State') if detail else 'NotFound'


class Deadline:
    """One wait_timeout for the whole task: every wait and retry of this run draws on it."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return max(0.0, self.end - time.monotonic())


def wait_running(module, mesh_id, deadline, changed=False):
    """Wait for running; a timeout fails the task, still saying whether this run changed something."""
    try:
        wait_for(lambda: describe(module, mesh_id), lambda d: mesh_state(d) == 'running', deadline.left(),
                 'mesh %s (%s) to be running' % (module.params['name'], mesh_id), describe=mesh_state)
    except WaitTimeout as exc:
        module.fail_json(msg=str(exc), mesh_id=mesh_id, changed=changed)


def wait_gone(module, mesh_id, deadline, changed=True):
    try:
        wait_for(lambda: describe(module, mesh_id), lambda d: d is None, deadline.left(),
                 'mesh %s (%s) to be deleted' % (module.params['name'], mesh_id), describe=mesh_state)
    except WaitTimeout as exc:
        module.fail_json(msg=str(exc), mesh_id=mesh_id, changed=changed)


def retry_while(module, deadline, codes, what, attempt, between, changed):
    """``attempt()`` until it stops failing with one of ``codes``, calling ``between()`` before each retry.

    Bounded by the task's wait_timeout: a code still answered at the end fails the task naming it.
    """
    while True:
        try:
            return attempt()
        except AlicloudError as err:
            if err.code not in codes:
                raise
            if deadline.left() <= 0:
                module.fail_json(msg='%s: still %s after wait_timeout (%s s): %s'
                                     % (what, err.code, module.params['wait_timeout'], err.message),
                                 error=err.as_dict(), changed=changed)
            between()
            time.sleep(min(2.0, deadline.left()))


def change(module, mesh_id, deadline, action, adopt=None, last=False, **params):
    """One change of a mesh, as terraform makes it: the mesh running before, the call, running after.

    terraform waits for ServiceMeshInfo.State == running after every AddClusterIntoServiceMesh,
    RemoveClusterFromServiceMesh, UpdateMeshFeature and UpdateMeshCRAggregation
    (resource_alicloud_service_mesh_service_mesh.go, Update), because the mesh refuses another change
    while it applies one.  A refusal as busy (StillInitializing: a concurrent run's change) waits for
    running again and repeats, within wait_timeout.  ``last`` with wait=false skips the final wait.
    """
    wait_running(module, mesh_id, deadline, changed=True)
    result = retry_while(module, deadline, mesh_util.MESH_BUSY_CODES, '%s on mesh %s' % (action, mesh_id),
                         lambda: module.call('servicemesh', action, adopt=adopt, ServiceMeshId=mesh_id, **params),
                         lambda: wait_running(module, mesh_id, deadline, changed=True), changed=True)
    if not last or module.params['wait']:
        wait_running(module, mesh_id, deadline, changed=True)
    return result


def add_cluster(module, mesh_id, deadline, cluster, last):
    return change(module, mesh_id, deadline, 'AddClusterIntoServiceMesh', last=last,
                  adopt=lambda: mesh_util.adopt_cluster(module, mesh_id, cluster['id']),
                  ClusterId=cluster['id'], DiscoveryOnly=cluster['discovery_only'])


def remove_cluster(module, mesh_id, deadline, cluster_id, last):
    try:
        change(module, mesh_id, deadline, 'RemoveClusterFromServiceMesh', last=last, ClusterId=cluster_id)
    except AlicloudError as err:
        # A repeat of a remove whose reply was lost (or a concurrent run's remove): the cluster is out.
        if cluster_id in mesh_util.mesh_cluster_ids(module, mesh_id):
            raise
        module.warn('RemoveClusterFromServiceMesh %s answered %s, but the cluster is no longer in the mesh'
                    % (cluster_id, err.code))
        if not last or module.params['wait']:
            wait_running(module, mesh_id, deadline, changed=True)


def create_mesh(module, deadline):
    """CreateServiceMesh, safe against a lost reply and against a concurrent run creating the same mesh.

    A lost reply or NameAlreadyExist re-finds the mesh by name and region (mesh_util.adopt_mesh) instead of
    creating a second one.  NameAlreadyExist with only a mesh being deleted under that name waits for it
    to be gone and creates again, within wait_timeout (terraform retries NameAlreadyExist on create).
    """
    params = module.params
    wire = mesh_util.create_wire_params(params)

    def attempt():
        return module.call('servicemesh', 'CreateServiceMesh',
                           adopt=lambda: mesh_util.adopt_mesh(module, params['name'], params['region_id']), **wire)

    def between():
        for mesh in asm_common.find_meshes(module, name=params['name'], region_id=params['region_id']):
            wait_gone(module, mesh['ServiceMeshInfo']['ServiceMeshId'], deadline, changed=False)

    return retry_while(module, deadline, mesh_util.NAME_TAKEN_CODES, 'CreateServiceMesh %s' % params['name'],
                       attempt, between, changed=False)['ServiceMeshId']


def kubeconfig_differs(path, text):
    try:
        with open(path) as handle:
            current = handle.read()
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        return True
    return current != text or mode != 0o600


def write_kubeconfig(path, text):
    # Not module.atomic_move: it chmods a file it creates to 0666 & ~umask after the rename, a moment in
    # which the mesh credentials would be readable by others; this file is 0600 from its first byte.
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.kubeconfig-', dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
        os.rename(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def handle_kubeconfig(module, mesh_id):
    """Write the kubeconfig if its content differs; return whether it changed."""
    path = module.params['kubeconfig_path']
    if not path:
        return False
    if mesh_id is None:  # check mode, mesh not created yet
        return True
    text = asm_common.mesh_kubeconfig_text(module, mesh_id)
    if not kubeconfig_differs(path, text):
        return False
    if not module.check_mode:
        try:
            write_kubeconfig(path, text)
            module.wrote('wrote the mesh kubeconfig to %s' % path)
        except OSError as exc:
            module.fail_json(msg='cannot write the mesh kubeconfig to %s: %s' % (path, exc))
    return True


def ensure_present(module, found):
    params = module.params
    deadline = Deadline(params['wait_timeout'])
    desired = mesh_util.desired_features(params)
    if found is not None:
        return update_mesh(module, found['ServiceMeshInfo']['ServiceMeshId'], deadline, desired)
    to_add = mesh_util.cluster_changes(params['clusters'], [], False)[0]
    after = mesh_util.predict_mesh(params, None, to_add, (), desired)
    created = ['mesh: create'] + ['clusters.%s: add' % c['id'] for c in to_add]
    if module.check_mode:
        handle_kubeconfig(module, None)
        return Outcome(changed=True, changes=created, after=after, state=dict(after, id=None, state='running'),
                       values=dict(mesh_id=None))
    mesh_id = create_mesh(module, deadline)
    if 'CreateServiceMesh' in getattr(module, 'adopted', ()):
        # Not created by this attempt's answer but re-found (a lost reply, or a concurrent run's mesh):
        # its features and clusters are whatever that create set, so reconcile it like an existing
        # mesh.  This run meant to create it, so it reports a change either way.
        outcome = update_mesh(module, mesh_id, deadline, desired)
        outcome.changed, outcome.changes, outcome.before = True, ['mesh: create'] + outcome.changes, {}
        return outcome
    if params['wait'] or to_add or params['kubeconfig_path']:
        wait_running(module, mesh_id, deadline, changed=True)
    for index, cluster in enumerate(to_add):
        add_cluster(module, mesh_id, deadline, cluster, last=index == len(to_add) - 1)
    if params['kubeconfig_path'] and not params['wait']:
        wait_running(module, mesh_id, deadline, changed=True)
    handle_kubeconfig(module, mesh_id)
    mesh = read_mesh(module, mesh_id)
    return Outcome(changed=True, changes=created, after=mesh_util.mesh_view(mesh), state=mesh,
                   values=dict(mesh_id=mesh_id))


def update_mesh(module, mesh_id, deadline, desired):
    """An existing mesh brought to the module's parameters (only what the user set)."""
    params = module.params
    current = read_mesh(module, mesh_id)
    if current is None or current['state'] == 'deleting':
        module.fail_json(msg='mesh %s (%s) is being deleted; run again once it is gone' % (params['name'], mesh_id))
    ca_cert = None
    if params['use_existing_ca']:
        ca_cert = mesh_util.decode_ca(module.call('servicemesh', 'GetCaCert', ServiceMeshId=mesh_id).get('CaCert'))
    problems = mesh_util.immutable_conflicts(params, current, ca_cert)
    if problems:
        module.fail_json(msg='mesh %s (%s) differs in create-only settings: %s. Change them back, or delete the mesh '
                             'and create it again (this module never re-creates a mesh by itself)'
                             % (params['name'], mesh_id, '; '.join(problems)), mesh_id=mesh_id)
    features = mesh_util.changed_features(desired, current['features'])
    to_add, to_remove = mesh_util.cluster_changes(params['clusters'], [c['id'] for c in current['clusters']],
                                                  params['purge_clusters'])
    before = mesh_util.mesh_view(current)
    after = mesh_util.predict_mesh(params, current, to_add, to_remove, features)
    changed = bool(features or to_add or to_remove)
    changes = (['features.%s' % key for key in sorted(features)] + ['clusters.%s: add' % c['id'] for c in to_add]
               + ['clusters.%s: remove' % cluster_id for cluster_id in to_remove])
    if module.check_mode:
        kube_changed = handle_kubeconfig(module, mesh_id)
        predicted = dict(current, clusters=[c for c in current['clusters'] if c['id'] not in to_remove]
                         + [{'id': c['id']} for c in to_add], features=after['features'])
        return Outcome(changed=changed or kube_changed, changes=changes + (['kubeconfig_path'] if kube_changed else []),
                       before=before, after=after, state=predicted, values=dict(mesh_id=mesh_id))
    if changed:
        # One operation at a time, each waited for (see change()); CR aggregation has its own call.
        steps = []
        feature_wire = mesh_util.feature_wire_params(features)
        if feature_wire:
            steps.append(lambda last: change(module, mesh_id, deadline, 'UpdateMeshFeature', last=last,
                                             **feature_wire))
        if 'cr_aggregation' in features:
            steps.append(lambda last: change(module, mesh_id, deadline, 'UpdateMeshCRAggregation', last=last,
                                             Enabled=features['cr_aggregation']))
        for cluster in to_add:
            steps.append(lambda last, cluster=cluster: add_cluster(module, mesh_id, deadline, cluster, last))
        for cluster_id in to_remove:
            steps.append(lambda last, cluster_id=cluster_id: remove_cluster(module, mesh_id, deadline,
                                                                            cluster_id, last))
        for index, step in enumerate(steps):
            step(index == len(steps) - 1)
        if params['kubeconfig_path'] and not params['wait']:
            wait_running(module, mesh_id, deadline, changed=True)
    elif (params['wait'] or params['kubeconfig_path']) and current['state'] != 'running':
        wait_running(module, mesh_id, deadline)
    kube_changed = handle_kubeconfig(module, mesh_id)
    # Read again only what may have moved: after a change, or after waiting for a mesh that was not running.
    # A running mesh nothing was done to is what `current` already says (two round trips fewer on a re-run).
    waited = params['wait'] and current['state'] != 'running'
    mesh = read_mesh(module, mesh_id) if (changed or waited) else current
    return Outcome(changed=changed or kube_changed, changes=changes + (['kubeconfig_path'] if kube_changed else []),
                   before=before, after=mesh_util.mesh_view(mesh), state=mesh, values=dict(mesh_id=mesh_id))


def ensure_absent(module, found):
    deadline = Deadline(module.params['wait_timeout'])
    gone = Outcome(state={})
    if found is None:
        return gone
    mesh_id = found['ServiceMeshInfo']['ServiceMeshId']
    current = read_mesh(module, mesh_id)
    if current is None:
        return gone
    deleted = Outcome(changed=True, changes=['mesh: delete'], before=mesh_util.mesh_view(current), state={})
    if current['state'] == 'deleting':
        if module.params['wait'] and not module.check_mode:
            wait_gone(module, mesh_id, deadline, changed=False)
        return gone
    if module.check_mode:
        return deleted
    force = module.params['force_delete']
    if not force:
        # Detach one cluster at a time, each followed by a wait for running (as terraform's Update).
        for cluster in current['clusters']:
            remove_cluster(module, mesh_id, deadline, cluster['id'], last=False)
    wait_running(module, mesh_id, deadline, changed=bool(current['clusters']) and not force)

    def attempt():
        try:
            return module.call('servicemesh', 'DeleteServiceMesh', ServiceMeshId=mesh_id, Force=force or None)
        except AlicloudError as err:
            # terraform's Delete: StatusForbidden / 403 / not found after its retries = already gone.
            if mesh_util.mesh_gone(module, err, mesh_id):
                return {}
            raise

    # terraform retries DeleteServiceMesh on RelatedResourceReused (clusters still detaching) and
    # StillInitializing (mesh busy) (resource_alicloud_service_mesh_service_mesh.go, Delete).
    retry_while(module, deadline, mesh_util.MESH_IN_USE_CODES + mesh_util.MESH_BUSY_CODES,
                'DeleteServiceMesh %s' % mesh_id,
                attempt, lambda: None, changed=True)
    if module.params['wait']:
        wait_gone(module, mesh_id, deadline)
    return deleted


def main():
    argument_spec = dict(
        name=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        vpc_id=dict(type='str'),
        vswitches=dict(type='list', elements='str'),
        cluster_spec=dict(type='str', choices=['standard', 'enterprise', 'ultimate']),
        edition=dict(type='str'),
        istio_version=dict(type='str'),
        api_server_public_eip=dict(type='bool'),
        use_existing_ca=dict(type='bool', default=False),
        existing_ca_type=dict(type='int', choices=[1, 2]),
        existing_root_ca_cert=dict(type='str'),
        existing_root_ca_key=dict(type='str', no_log=True),
        existing_ca_cert=dict(type='str'),
        existing_ca_key=dict(type='str', no_log=True),
        cert_chain=dict(type='str'),
        clusters=dict(type='list', elements='dict', options=dict(
            id=dict(type='str', required=True),
            discovery_only=dict(type='bool', default=False),
        )),
        purge_clusters=dict(type='bool', default=False),
        locality_load_balancing=dict(type='bool'),
        locality_lb_conf=dict(type='dict', options=dict(
            distribute=dict(type='list', elements='dict'),
            failover=dict(type='list', elements='dict'),
        )),
        keep_traffic_in_cluster=dict(type='bool'),
        cr_aggregation=dict(type='bool'),
        telemetry=dict(type='bool'),
        access_log=dict(type='dict', options=dict(
            enabled=dict(type='bool'),
            project=dict(type='str'),
        )),
        kubeconfig_path=dict(type='path'),
        force_delete=dict(type='bool', default=False),
        **WAIT_ARGS,
    )
    module = AlibabaCloudModule(argument_spec=argument_spec, supports_check_mode=True, **mesh_util.MESH_RULES)
    params = module.params
    fail_on_problems(module, mesh_util.mesh_problems(params, module.check_mode))
    if not params['region_id']:
        module.fail_json(msg='region_id is required (the region of the mesh)')
    try:
        found = asm_common.find_meshes(module, name=params['name'], region_id=params['region_id'])
        if len(found) > 1:
            module.fail_json(msg='%d meshes are named %s in %s; names must be unique for this module'
                             % (len(found), params['name'], params['region_id']))
        found = found[0] if found else None
        if params['state'] == 'present':
            outcome = ensure_present(module, found)
        else:
            outcome = ensure_absent(module, found)
    except AlicloudError as err:
        module.fail_api(err, msg='mesh %s' % params['name'])
    result = outcome.result(module._diff, mesh=outcome.state,
                            mesh_id=outcome.values.get('mesh_id') if params['state'] == 'present' else None)
    if params['kubeconfig_path']:
        result['kubeconfig_path'] = params['kubeconfig_path']
    module.exit_json(**result)


if __name__ == '__main__':
    main()
