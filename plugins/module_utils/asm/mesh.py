# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""asm_mesh and asm_mesh_info: validating, normalising and comparing a service mesh.

Pure functions first (validation, desired state, wire parameters, reading API answers) so unit tests
call them without a cloud; then the few helpers that talk to the API through an
:class:`AlibabaCloudModule`.  Wire names (``LocalityLBConf``...) are the SDK's.
"""

import base64
import copy
import json
import os
import re

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict, dict_merge
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import AlicloudError, compare_dicts
from ansible_collections.meshdr.alicloud.plugins.module_utils.asm.common import (
    find_meshes,
    strip_none,
)


# DescribeServiceMeshDetail answers that mean "no such mesh".  terraform-provider-alicloud
# (alicloud/service_alicloud_service_mesh_v2.go, DescribeServiceMeshServiceMesh) maps StatusForbidden,
# 403, 500, 503 and ServiceMesh.NotFound to "not found".  We take the 4xx ones as they are (HTTP 403
# and 404 too), but NOT 500/503 on their own: terraform first retries them for a minute and only
# then gives up, and treating a server error as "gone" during a normal read would make asm_mesh
# create a second mesh next to one that merely answered 5xx.  A 5xx that survives the retries counts
# as gone only when DescribeServiceMeshes no longer lists the mesh either (see describe_mesh).
MESH_GONE_CODES = ('ServiceMesh.NotFound', 'StatusForbidden', '403')
MESH_GONE_HTTP = (403, 404)
# A mesh still busy with its creation or an earlier change.  terraform retries StillInitializing on
# DeleteServiceMesh (resource_alicloud_service_mesh_service_mesh.go, Delete) and waits for
# State=running after every change; a change refused with it is retried after the mesh is running.
MESH_BUSY_CODES = ('StillInitializing',)
# DeleteServiceMesh while clusters are (still being) detached; terraform retries it (same file, Delete).
MESH_IN_USE_CODES = ('RelatedResourceReused',)
# CreateServiceMesh with a name the region already has; terraform retries it on create (same file,
# Create), because a name stays taken while the mesh holding it is being deleted.
NAME_TAKEN_CODES = ('NameAlreadyExist',)


def b64(text):
    """Base64 of a text field.

    SDK CreateServiceMeshRequest field docs: ExistingRootCaCert, ExistingRootCaKey, ExistingCaCert and
    ExistingCaKey are "encoded in Base64" (users give PEM; the module encodes it).
    """
    return base64.b64encode(text.encode('utf-8')).decode('ascii')


def decode_ca(value):
    """GetCaCert's CaCert as PEM text.

    SDK GetCaCertResponseBody.ca_cert: "The Base64-encoded content of the CA certificate"; the API
    reference's sample answer is PEM text, so both are accepted.
    """
    if not value or 'BEGIN CERTIFICATE' in value:
        return value
    try:
        return base64.b64decode(''.join(value.split())).decode('utf-8')
    except (ValueError, TypeError, UnicodeDecodeError):
        return value


def pem_equal(a, b):
    """Two PEM texts carry the same material (whitespace and line breaks aside)."""
    if not a or not b:
        return False
    return ''.join(a.split()) == ''.join(b.split())


# Mesh names.  The CreateServiceMesh reference (https://www.alibabacloud.com/help/en/asm/developer-reference/
# api-servicemesh-2020-01-11-createservicemesh) and the SDK field comment ("The name of the ASM instance")
# state no pattern, and terraform-provider-alicloud (resource_alicloud_service_mesh_service_mesh.go,
# service_mesh_name) has no ValidateFunc.  The ASM console allows 1-63 characters of letters (Chinese
# included), digits, '-' and '_' (unverified against the API): that is what this module accepts, so a
# name with '/', '<', '>', ';', spaces or control characters is refused before it reaches the service.
MESH_NAME_MAX = 63
MESH_NAME = re.compile(r'^[^\W_][\w-]*$', re.UNICODE)


def mesh_name_error(value):
    value = value or ''
    if not value or len(value) > MESH_NAME_MAX or not MESH_NAME.match(value):
        return ('name must be 1-%d characters of letters, digits, - and _ (starting with a letter or digit), '
                'got %r' % (MESH_NAME_MAX, value))
    return None


def locality_lb_conf_problems(conf):
    problems = []
    if conf is None:
        return problems
    if not isinstance(conf, dict):
        return ['locality_lb_conf must be a dict with distribute and/or failover']
    unknown = sorted(set(conf) - set(['distribute', 'failover']))
    if unknown:
        problems.append('locality_lb_conf: unknown keys %s (expected distribute and/or failover)'
                        % ', '.join(unknown))
    if conf.get('distribute') and conf.get('failover'):
        problems.append('locality_lb_conf: set either distribute or failover, not both '
                        '(ASM and Istio accept only one of them)')
    for index, rule in enumerate(conf.get('failover') or []):
        if not isinstance(rule, dict) or not rule.get('from') or not rule.get('to'):
            problems.append('locality_lb_conf.failover[%d] needs non-empty from and to (region ids)' % index)
    for index, rule in enumerate(conf.get('distribute') or []):
        if not isinstance(rule, dict) or not rule.get('from') or not isinstance(rule.get('to'), dict) \
                or not rule['to']:
            problems.append('locality_lb_conf.distribute[%d] needs from (locality) and to '
                            '(a dict of locality: weight)' % index)
            continue
        try:
            weights = [int(w) for w in rule['to'].values()]
        except (TypeError, ValueError):
            problems.append('locality_lb_conf.distribute[%d].to weights must be integers' % index)
            continue
        if any(w < 0 for w in weights) or sum(weights) != 100:
            problems.append('locality_lb_conf.distribute[%d].to weights must be >= 0 and add up to 100 '
                            '(they add up to %d)' % (index, sum(weights)))
    return problems


# existing_ca_type -> its (certificate, key) options: 1 = istiod CA (existing_ca_*), 2 = plugin cacerts
# (existing_root_ca_*) (SDK CreateServiceMeshRequest field comments).
CA_OPTIONS = {1: ('existing_ca_cert', 'existing_ca_key'), 2: ('existing_root_ca_cert', 'existing_root_ca_key')}
# What AnsibleModule checks for asm_mesh (declared, so the messages are Ansible's own).
MESH_RULES = dict(required_if=[('use_existing_ca', True, ['existing_ca_type'])])


def mesh_problems(params, check_mode=False):
    """Everything asm_mesh can check before talking to the API, as a list of messages."""
    problems = []
    if params.get('state', 'present') != 'present':
        return problems
    error = mesh_name_error(params['name']) if 'name' in params else None
    if error:
        problems.append(error)
    if not params.get('region_id'):
        problems.append('region_id is required (the region of the mesh)')
    vpc = params.get('vpc_id')
    if not vpc or not vpc.startswith('vpc-'):
        problems.append('vpc_id must be a VPC id (vpc-...), got %r' % (vpc,))
    vswitches = params.get('vswitches') or []
    if not vswitches:
        problems.append('vswitches must list at least one vSwitch id')
    bad = [v for v in vswitches if not v or not str(v).startswith('vsw-')]
    if bad:
        problems.append('vswitches must be vSwitch ids (vsw-...), got %s' % ', '.join(repr(v) for v in bad))
    if len(set(vswitches)) != len(vswitches):
        problems.append('vswitches lists a vSwitch twice')
    if params.get('use_existing_ca') and params.get('existing_ca_type') in CA_OPTIONS:
        # That use_existing_ca needs a type is declared (MESH_RULES).  Which options the type needs is checked
        # here: a required_if on existing_ca_type alone would also fire without use_existing_ca, and hide the
        # clearer "given but use_existing_ca is not true" below.
        ca_type = params['existing_ca_type']
        for opt in CA_OPTIONS[ca_type]:
            if not params.get(opt):
                problems.append('existing_ca_type %d needs %s' % (ca_type, opt))
        cert_opt, key_opt = CA_OPTIONS[ca_type]
        if params.get(cert_opt) and 'BEGIN CERTIFICATE' not in params[cert_opt]:
            problems.append('%s must be a PEM certificate (-----BEGIN CERTIFICATE-----)' % cert_opt)
        if params.get(key_opt) and 'PRIVATE KEY' not in params[key_opt]:
            problems.append('%s must be a PEM private key' % key_opt)
    else:
        given = [o for o in ('existing_ca_type', 'existing_ca_cert', 'existing_ca_key', 'existing_root_ca_cert',
                             'existing_root_ca_key', 'cert_chain') if params.get(o)]
        if given:
            problems.append('%s given but use_existing_ca is not true' % ', '.join(given))
    ids = [c.get('id') for c in params.get('clusters') or []]
    if any(not i for i in ids):
        problems.append('every entry of clusters needs an id')
    dupes = sorted(set(i for i in ids if i and ids.count(i) > 1))
    if dupes:
        problems.append('clusters lists %s more than once' % ', '.join(dupes))
    conf = params.get('locality_lb_conf')
    problems.extend(locality_lb_conf_problems(conf))
    if params.get('keep_traffic_in_cluster') and isinstance(conf, dict) and conf.get('distribute'):
        problems.append('keep_traffic_in_cluster writes the distribute rules itself; '
                        'do not set locality_lb_conf.distribute as well')
    wants_locality = params.get('keep_traffic_in_cluster') or bool(conf)
    if wants_locality and params.get('locality_load_balancing') is False:
        problems.append('locality_lb_conf and keep_traffic_in_cluster need locality_load_balancing '
                        '(leave it unset or true)')
    wait_timeout = params.get('wait_timeout')
    if wait_timeout is not None and wait_timeout < 1:
        problems.append('wait_timeout must be >= 1 second, got %s' % wait_timeout)
    if not check_mode:  # a dry run of a whole site may predict the directory an earlier task creates
        problems.extend(kubeconfig_path_problems(params.get('kubeconfig_path')))
    return problems


def kubeconfig_path_problems(path):
    """Where asm_mesh will write the mesh kubeconfig must be a writable file path, checked before any write."""
    if not path:
        return []
    if os.path.isdir(path):
        return ['kubeconfig_path %s is a directory; give the path of the file to write' % path]
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        return ['kubeconfig_path: directory %s does not exist' % directory]
    if not os.access(directory, os.W_OK | os.X_OK):
        return ['kubeconfig_path: directory %s is not writable' % directory]
    return []


def keep_in_region_rule(region_id):
    """The Istio ``distribute`` rule keeping a region's traffic in that region."""
    return {'from': '%s/*' % region_id, 'to': {'%s/*' % region_id: 100}}


def desired_locality(params):
    """``(enabled, conf)`` wanted for locality load balancing; ``None`` parts mean "not managed".

    keep_traffic_in_cluster has no API field (ASM's console setting is not in the API), so it
    becomes a mesh-wide Istio ``distribute`` rule sending all of the mesh region's traffic to that
    region.  ASM accepts either ``distribute`` or ``failover``: when failover rules are given they
    win, because failover already keeps traffic local while the local endpoints are healthy.
    """
    conf = params.get('locality_lb_conf')
    conf = strip_none(dict(conf)) if conf else None
    if conf is not None:
        conf = dict((k, v) for k, v in conf.items() if v)
    if params.get('keep_traffic_in_cluster'):
        if not (conf and conf.get('failover')):
            conf = {'distribute': [keep_in_region_rule(params['region_id'])]}
    enabled = params.get('locality_load_balancing')
    if conf and enabled is None:
        enabled = True
    return enabled, conf


def desired_features(params):
    """The mesh features the user set, in the normalised shape of :func:`mesh_features`."""
    enabled, conf = desired_locality(params)
    access = params.get('access_log') or {}
    features = {
        'locality_load_balancing': enabled,
        'locality_lb_conf': conf,
        'cr_aggregation': params.get('cr_aggregation'),
        'telemetry': params.get('telemetry'),
        'access_log': strip_none(dict(access)) or None if access else None,
    }
    return dict((k, v) for k, v in features.items() if v is not None)


def feature_wire_params(features, for_create=False):
    """Wire parameters (CreateServiceMesh, or UpdateMeshFeature) for normalised features.

    CR aggregation is a CreateServiceMesh parameter (CRAggregationEnabled), but an existing mesh changes
    it through UpdateMeshCRAggregation (Enabled), as terraform does (resource_alicloud_service_mesh_
    service_mesh.go, Update), so it is left out of the UpdateMeshFeature parameters.
    """
    wire = {}
    if 'locality_load_balancing' in features:
        wire['LocalityLoadBalancing'] = features['locality_load_balancing']
    if features.get('locality_lb_conf') is not None:
        wire['LocalityLBConf'] = json.dumps(features['locality_lb_conf'], sort_keys=True, separators=(',', ':'))
    if for_create and 'cr_aggregation' in features:
        wire['CRAggregationEnabled'] = features['cr_aggregation']
    if 'telemetry' in features:
        wire['Telemetry'] = features['telemetry']
    access = features.get('access_log') or {}
    if access.get('enabled') is not None:
        wire['AccessLogEnabled'] = access['enabled']
    if access.get('project') is not None:
        wire['AccessLogProject'] = access['project']
    return wire


def changed_features(desired, current):
    """The subset of desired features that differ from current (only what the user set)."""
    out = {}
    for key, want in desired.items():
        have = current.get(key)
        if key == 'access_log':
            if compare_dicts(want, have or {}):
                out[key] = want
        elif key == 'locality_lb_conf':
            if canonical_locality(want) != canonical_locality(have):
                out[key] = want
        elif want != have:
            out[key] = want
    return out


def create_wire_params(params):
    """CreateServiceMesh parameters for the module params (validated)."""
    wire = {
        'RegionId': params['region_id'],
        'Name': params['name'],
        'VpcId': params['vpc_id'],
        'VSwitches': json.dumps(list(params['vswitches'])),
        'IstioVersion': params.get('istio_version'),
        'ClusterSpec': params.get('cluster_spec'),
        'Edition': params.get('edition'),
        'ApiServerPublicEip': params.get('api_server_public_eip'),
    }
    if params.get('use_existing_ca'):
        wire['UseExistingCA'] = True
        # CreateServiceMeshRequest.existing_ca_type is a str in the SDK model.
        wire['ExistingCaType'] = str(params['existing_ca_type'])
        # The certificate and key fields are Base64 of the PEM text (SDK field docs, see b64).
        if params['existing_ca_type'] == 1:
            wire['ExistingCaCert'] = b64(params['existing_ca_cert'])
            wire['ExistingCaKey'] = b64(params['existing_ca_key'])
        else:
            wire['ExistingRootCaCert'] = b64(params['existing_root_ca_cert'])
            wire['ExistingRootCaKey'] = b64(params['existing_root_ca_key'])
        # CertChain's SDK doc does not say Base64; sent like its sibling fields (unverified, see
        # docs/api-contract.md).
        if params.get('cert_chain'):
            wire['CertChain'] = b64(params['cert_chain'])
    wire.update(feature_wire_params(desired_features(params), for_create=True))
    return dict((k, v) for k, v in wire.items() if v is not None)


def _loads(value):
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def canonical_locality(conf):
    """A comparable form of a localityLbSetting: empty parts dropped, JSON round-tripped."""
    conf = _loads(conf)
    if not conf:
        return {}
    out = {}
    for key in ('distribute', 'failover'):
        value = conf.get(key)
        if value:
            out[key] = json.loads(json.dumps(value, sort_keys=True))
    return out


def parse_locality(mesh_config):
    """``LocalityLB`` of DescribeServiceMeshDetail as ``{distribute, failover}``.

    The SDK response model (DescribeServiceMeshDetailResponseBodyServiceMeshSpecMeshConfigLocalityLB)
    types ``Distribute`` and ``Failover`` as objects (Dict[str, Any]); what the object holds is not
    documented.  Read: an object wrapping the Istio rule list under its Istio key (``{"failover": [...]}``,
    what drlab answers), and, to be safe on a real account whose shape is unverified (the cloud_probe
    playbook prints it), a bare list or JSON text.
    """
    locality = (mesh_config or {}).get('LocalityLB') or {}
    out = {}
    for wire, key in (('Distribute', 'distribute'), ('Failover', 'failover')):
        value = _loads(locality.get(wire))
        if isinstance(value, dict) and key in value:
            value = value[key]
        if value:
            out[key] = value
    return canonical_locality(out)


def mesh_features(detail):
    """The normalised features of a mesh, from DescribeServiceMeshDetail's ``ServiceMesh``."""
    config = ((detail or {}).get('Spec') or {}).get('MeshConfig') or {}
    locality = config.get('LocalityLB') or {}
    enabled = locality.get('Enabled')
    if enabled is None:
        enabled = config.get('EnableLocalityLB')
    extra = config.get('ExtraConfiguration') or {}
    # terraform reads ExtraConfiguration.CRAggregationConfiguration.Enabled (resource_alicloud_service_
    # mesh_service_mesh.go, Read); the SDK model also has the flat CRAggregationEnabled, the fallback.
    cr_config = extra.get('CRAggregationConfiguration') or {}
    cr_enabled = cr_config.get('Enabled')
    if cr_enabled is None:
        cr_enabled = extra.get('CRAggregationEnabled')
    access = config.get('AccessLog') or {}
    return {
        'locality_load_balancing': boolean(enabled, strict=False),
        'locality_lb_conf': parse_locality(config),
        'cr_aggregation': boolean(cr_enabled, strict=False),
        'telemetry': boolean(config.get('Telemetry'), strict=False),
        'access_log': {'enabled': boolean(access.get('Enabled'), strict=False), 'project': access.get('Project') or ''},
    }


def normalise_clusters(clusters):
    out = []
    for cluster in clusters or []:
        if isinstance(cluster, str):
            out.append({'id': cluster})
            continue
        out.append({'id': cluster.get('ClusterId'), 'name': cluster.get('Name'),
                    'region_id': cluster.get('RegionId'), 'state': cluster.get('State'),
                    'cluster_type': cluster.get('ClusterType'), 'vpc_id': cluster.get('VpcId')})
    return sorted(out, key=lambda c: c['id'] or '')


def normalise_mesh(detail, clusters=None):
    """A mesh as the modules return it (snake_case), from DescribeServiceMesh(es|Detail)."""
    info = detail.get('ServiceMeshInfo') or {}
    spec = detail.get('Spec') or {}
    network = spec.get('Network') or {}
    endpoints = detail.get('Endpoints') or {}
    return {
        'id': info.get('ServiceMeshId'),
        'name': info.get('Name'),
        'region_id': info.get('RegionId'),
        'state': info.get('State'),
        'version': info.get('Version'),
        'error_message': info.get('ErrorMessage') or '',
        'creation_time': info.get('CreationTime'),
        'cluster_spec': detail.get('ClusterSpec'),
        'vpc_id': network.get('VpcId'),
        'vswitches': list(network.get('VSwitches') or []),
        'endpoints': camel_dict_to_snake_dict(endpoints),
        'clusters': normalise_clusters(clusters if clusters is not None else detail.get('Clusters')),
        'features': mesh_features(detail),
    }


def mesh_view(mesh):
    """The fields asm_mesh manages, for ``diff`` (before/after) and predictions."""
    if not mesh:
        return {}
    return {
        'name': mesh.get('name'),
        'region_id': mesh.get('region_id'),
        'vpc_id': mesh.get('vpc_id'),
        'vswitches': list(mesh.get('vswitches') or []),
        'cluster_spec': mesh.get('cluster_spec'),
        'clusters': sorted(c['id'] for c in mesh.get('clusters') or []),
        'features': copy.deepcopy(mesh.get('features') or {}),
    }


def immutable_conflicts(params, mesh, ca_cert=None):
    """Messages for create-only settings that differ from the existing mesh."""
    problems = []
    if params.get('vpc_id') and mesh.get('vpc_id') and params['vpc_id'] != mesh['vpc_id']:
        problems.append('vpc_id is %s, requested %s' % (mesh['vpc_id'], params['vpc_id']))
    wanted = params.get('vswitches')
    if wanted and mesh.get('vswitches') and sorted(wanted) != sorted(mesh['vswitches']):
        problems.append('vswitches are %s, requested %s' % (sorted(mesh['vswitches']), sorted(wanted)))
    if params.get('cluster_spec') and mesh.get('cluster_spec') and params['cluster_spec'] != mesh['cluster_spec']:
        problems.append('cluster_spec is %s, requested %s' % (mesh['cluster_spec'], params['cluster_spec']))
    if params.get('istio_version') and mesh.get('version') and params['istio_version'] != mesh['version']:
        problems.append('istio_version is %s, requested %s (upgrades are not done by this module)'
                        % (mesh['version'], params['istio_version']))
    if params.get('use_existing_ca') and ca_cert is not None:
        wanted_cert = params.get('existing_ca_cert') if params.get('existing_ca_type') == 1 else \
            params.get('existing_root_ca_cert')
        if not pem_equal(wanted_cert, ca_cert):
            problems.append('the mesh CA certificate (GetCaCert) differs from the requested %s'
                            % ('existing_ca_cert' if params.get('existing_ca_type') == 1 else 'existing_root_ca_cert'))
    return problems


def cluster_changes(wanted, current_ids, purge):
    """``(to_add, to_remove)``: to_add is a list of ``{id, discovery_only}``, to_remove a list of ids."""
    if wanted is None:
        return [], []
    current = set(current_ids)
    wanted_ids = set(c['id'] for c in wanted)
    to_add = [dict(id=c['id'], discovery_only=bool(c.get('discovery_only'))) for c in wanted if c['id'] not in current]
    to_remove = sorted(current - wanted_ids) if purge else []
    return to_add, to_remove


def predict_mesh(params, current=None, to_add=(), to_remove=(), features=None):
    """The mesh view after the changes this run would make (check mode and diff)."""
    if current is None:
        base = {'name': params['name'], 'region_id': params['region_id'], 'vpc_id': params['vpc_id'],
                'vswitches': list(params['vswitches']), 'cluster_spec': params.get('cluster_spec') or 'standard',
                'clusters': [],
                'features': {'locality_load_balancing': False, 'locality_lb_conf': {}, 'cr_aggregation': False,
                             'telemetry': False, 'access_log': {'enabled': False, 'project': ''}}}
    else:
        base = mesh_view(current)
    after = copy.deepcopy(base)
    ids = [i for i in after['clusters'] if i not in to_remove] + [c['id'] for c in to_add]
    after['clusters'] = sorted(ids)
    for key, value in (features or {}).items():
        if key == 'access_log':
            after['features']['access_log'] = dict_merge(after['features'].get('access_log') or {}, value)
        elif key == 'locality_lb_conf':
            after['features'][key] = canonical_locality(value)
        else:
            after['features'][key] = value
    return after


def mesh_gone(module, err, mesh_id):
    """Whether a failed DescribeServiceMeshDetail means the mesh does not exist (see MESH_GONE_CODES)."""
    if err.code in MESH_GONE_CODES or err.http_status in MESH_GONE_HTTP:
        return True
    if err.http_status is not None and err.http_status >= 500:
        # terraform takes 500/503 as "not found"; we believe it only when the list agrees.
        listed = find_meshes(module, mesh_id=mesh_id)
        return not listed
    return False


def describe_mesh(module, mesh_id):
    """DescribeServiceMeshDetail's ``ServiceMesh``, or None when the mesh is gone."""
    try:
        return module.call('servicemesh', 'DescribeServiceMeshDetail', ServiceMeshId=mesh_id)['ServiceMesh']
    except AlicloudError as err:
        if mesh_gone(module, err, mesh_id):
            return None
        raise


def adopt_mesh(module, name, region_id):
    """For CreateServiceMesh's ``adopt``: the body the create would have answered, if the mesh exists.

    Used after a lost reply, and after NameAlreadyExist: a mesh of this name in this region that is not
    being deleted was created by this call (or by a concurrent run meaning the same mesh; asm_mesh found
    none before creating), so it is the one to manage.
    """
    for mesh in find_meshes(module, name=name, region_id=region_id):
        info = mesh.get('ServiceMeshInfo') or {}
        if info.get('State') != 'deleting':
            return {'ServiceMeshId': info.get('ServiceMeshId')}
    return None


def mesh_cluster_ids(module, mesh_id):
    body = module.call('servicemesh', 'DescribeClustersInServiceMesh', ServiceMeshId=mesh_id)
    return [c.get('ClusterId') for c in body.get('Clusters') or []]


def adopt_cluster(module, mesh_id, cluster_id):
    """For AddClusterIntoServiceMesh's ``adopt``: success when the cluster is (already) a member.

    After a lost reply the add may have happened; after a refusal ("already added", or the mesh busy
    with a concurrent run's add of the same cluster) the cluster may be in: re-reading the members
    tells.  The AddClusterIntoServiceMesh response model has Code/Message/RequestId only.
    """
    if cluster_id in mesh_cluster_ids(module, mesh_id):
        return {'Code': '200', 'Message': 'adopted: the cluster is a member of the mesh'}
    return None
