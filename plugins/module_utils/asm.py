# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Helpers for the ASM (servicemesh 2020-01-11) modules.

Pure functions first (validation, normalisation, comparison, building wire parameters and
custom resources), so unit tests can call them without a cloud; then the few helpers that
talk to the API through an :class:`AlibabaCloudModule` (finding a mesh, fetching its
kubeconfig).  Wire names (``ServiceMeshId``, ``LocalityLBConf``...) are the SDK's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import json
import re

from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import compare_dicts

GATEWAY_API_VERSION = 'istio.alibabacloud.com/v1beta1'
GATEWAY_KIND = 'IstioGateway'
GATEWAY_NAMESPACE = 'istio-system'
RATELIMIT_KIND = 'ASMLocalRateLimiter'

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


class ValidationError(ValueError):
    """Bad module input, found before any API call."""


# -- generic ---------------------------------------------------------------------------------

def strip_none(value):
    """Drop ``None`` values recursively (Ansible fills unset suboptions with None)."""
    if isinstance(value, dict):
        return dict((k, strip_none(v)) for k, v in value.items() if v is not None)
    if isinstance(value, list):
        return [strip_none(v) for v in value]
    return value


def deep_merge(base, patch):
    """``patch`` applied onto ``base`` as a JSON merge patch would (dicts merge, the rest replaces)."""
    result = copy.deepcopy(base) if isinstance(base, dict) else {}
    for key, value in (patch or {}).items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def as_bool(value):
    if isinstance(value, bool):
        return value
    if value is None:
        return None
    return str(value).strip().lower() in ('true', '1', 'yes', 'on')


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


# -- validation (every problem at once) ------------------------------------------------------------

# Kubernetes object names.  An IstioGateway or ASMLocalRateLimiter is a namespaced custom resource: its
# name must be a DNS-1123 subdomain and its namespace a DNS-1123 label (Kubernetes API conventions,
# "Object Names and IDs", https://kubernetes.io/docs/concepts/overview/working-with-objects/names/;
# apimachinery pkg/util/validation IsDNS1123Subdomain / IsDNS1123Label).
DNS1123_LABEL = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')
DNS1123_SUBDOMAIN_MAX = 253
DNS1123_LABEL_MAX = 63
# ASM names the gateway's Deployment/Service istio-<name>; a Service name is a DNS-1123 label (63), so
# the IstioGateway name has 63 - len('istio-') = 57 characters left.
GATEWAY_NAME_MAX = 57
# Mesh names.  The CreateServiceMesh reference (https://www.alibabacloud.com/help/en/asm/developer-reference/
# api-servicemesh-2020-01-11-createservicemesh) and the SDK field comment ("The name of the ASM instance")
# state no pattern, and terraform-provider-alicloud (resource_alicloud_service_mesh_service_mesh.go,
# service_mesh_name) has no ValidateFunc.  The ASM console allows 1-63 characters of letters (Chinese
# included), digits, '-' and '_' (unverified against the API): that is what this module accepts, so a
# name with '/', '<', '>', ';', spaces or control characters is refused before it reaches the service.
MESH_NAME_MAX = 63
MESH_NAME = re.compile(r'^[^\W_][\w-]*$', re.UNICODE)


def dns1123_subdomain_error(option, value):
    """Why ``value`` is not a Kubernetes object name (DNS-1123 subdomain), or None."""
    value = value or ''
    if not value or len(value) > DNS1123_SUBDOMAIN_MAX or not all(
            DNS1123_LABEL.match(part) for part in value.split('.')):
        return ('%s must be a DNS-1123 subdomain (at most %d characters: lower-case letters, digits, - and ., '
                'starting and ending with a letter or digit), got %r' % (option, DNS1123_SUBDOMAIN_MAX, value))
    return None


def dns1123_label_error(option, value, limit=DNS1123_LABEL_MAX):
    value = value or ''
    if not value or len(value) > limit or not DNS1123_LABEL.match(value):
        return ('%s must be a DNS label of at most %d characters (lower-case letters, digits, -), got %r'
                % (option, limit, value))
    return None


def mesh_name_error(value):
    value = value or ''
    if not value or len(value) > MESH_NAME_MAX or not MESH_NAME.match(value):
        return ('name must be 1-%d characters of letters, digits, - and _ (starting with a letter or digit), '
                'got %r' % (MESH_NAME_MAX, value))
    return None


def raise_problems(problems):
    if problems:
        raise ValidationError('; '.join(problems))


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


def validate_locality_lb_conf(conf):
    raise_problems(locality_lb_conf_problems(conf))


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
    if params.get('use_existing_ca'):
        ca_type = params.get('existing_ca_type')
        if ca_type not in (1, 2):
            problems.append('use_existing_ca needs existing_ca_type: 1 (istiod CA: existing_ca_cert and '
                            'existing_ca_key) or 2 (plugin cacerts: existing_root_ca_cert and '
                            'existing_root_ca_key)')
        else:
            cert_opt, key_opt = ('existing_ca_cert', 'existing_ca_key') if ca_type == 1 else (
                'existing_root_ca_cert', 'existing_root_ca_key')
            missing = [opt for opt in (cert_opt, key_opt) if not params.get(opt)]
            for opt in missing:
                problems.append('existing_ca_type %d needs %s' % (ca_type, opt))
            if cert_opt not in missing and 'BEGIN CERTIFICATE' not in params[cert_opt]:
                problems.append('%s must be a PEM certificate (-----BEGIN CERTIFICATE-----)' % cert_opt)
            if key_opt not in missing and 'PRIVATE KEY' not in params[key_opt]:
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
    import os

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


def validate_mesh_params(params, check_mode=False):
    raise_problems(mesh_problems(params, check_mode))


# -- asm_mesh: desired state ---------------------------------------------------------------------

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


# -- asm_mesh: reading the API -------------------------------------------------------------------

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
        'locality_load_balancing': bool(as_bool(enabled)),
        'locality_lb_conf': parse_locality(config),
        'cr_aggregation': bool(as_bool(cr_enabled)),
        'telemetry': bool(as_bool(config.get('Telemetry'))),
        'access_log': {'enabled': bool(as_bool(access.get('Enabled'))), 'project': access.get('Project') or ''},
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
        'endpoints': dict((snake(k), v) for k, v in endpoints.items()),
        'clusters': normalise_clusters(clusters if clusters is not None else detail.get('Clusters')),
        'features': mesh_features(detail),
    }


def snake(name):
    out = []
    for index, char in enumerate(name):
        if char.isupper() and index and not name[index - 1].isupper():
            out.append('_')
        out.append(char.lower())
    return ''.join(out)


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
            after['features']['access_log'] = deep_merge(after['features'].get('access_log') or {}, value)
        elif key == 'locality_lb_conf':
            after['features'][key] = canonical_locality(value)
        else:
            after['features'][key] = value
    return after


# -- API helpers (need an AlibabaCloudModule) -----------------------------------------------------

def find_meshes(module, name=None, mesh_id=None, region_id=None):
    """Meshes (DescribeServiceMeshes entries) matching every filter given."""
    body = module.call('servicemesh', 'DescribeServiceMeshes')
    found = []
    for mesh in body.get('ServiceMeshes') or []:
        info = mesh.get('ServiceMeshInfo') or {}
        if name is not None and info.get('Name') != name:
            continue
        if mesh_id is not None and info.get('ServiceMeshId') != mesh_id:
            continue
        if region_id is not None and info.get('RegionId') != region_id:
            continue
        found.append(mesh)
    return found


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
    from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import AlicloudError

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


def resolve_mesh_id(module, mesh_id=None, mesh_name=None, region_id=None):
    """The id of the one mesh named ``mesh_name`` (optionally in ``region_id``), or ``mesh_id`` as given."""
    if mesh_id:
        return mesh_id
    found = find_meshes(module, name=mesh_name, region_id=region_id)
    if not found:
        module.fail_json(msg='no service mesh named %s%s' % (mesh_name, ' in %s' % region_id if region_id else ''))
    if len(found) > 1:
        module.fail_json(msg='%d service meshes are named %s; give mesh_id or region_id'
                         % (len(found), mesh_name))
    return found[0]['ServiceMeshInfo']['ServiceMeshId']


def mesh_kubeconfig_text(module, mesh_id):
    body = module.call('servicemesh', 'DescribeServiceMeshKubeconfig', ServiceMeshId=mesh_id)
    text = body.get('Kubeconfig')
    if not text:
        module.fail_json(msg='DescribeServiceMeshKubeconfig returned no kubeconfig for mesh %s' % mesh_id)
    return text


# -- asm_gateway ------------------------------------------------------------------------------------

def gateway_problems(params, check_mode=False):
    problems = []
    if params.get('state', 'present') != 'present':
        error = dns1123_label_error('name', params.get('name'), GATEWAY_NAME_MAX)
        return [error] if error else []
    error = dns1123_label_error('name', params.get('name'), GATEWAY_NAME_MAX)
    if error:
        problems.append(error)
    replicas = params.get('replicas')
    if replicas is not None and replicas < 1:
        problems.append('replicas must be >= 1, got %d' % replicas)
    hpa = params.get('hpa')
    if hpa:
        low, high = hpa.get('min_replicas'), hpa.get('max_replicas')
        if low is None or high is None:
            problems.append('hpa needs min_replicas and max_replicas')
        elif low < 1 or high < low:
            problems.append('hpa needs 1 <= min_replicas <= max_replicas, got %s..%s' % (low, high))
        elif replicas is not None and not low <= replicas <= high:
            problems.append('replicas %d is outside hpa min_replicas..max_replicas (%d..%d)' % (replicas, low, high))
        for key in ('cpu_target', 'memory_target'):
            value = hpa.get(key)
            if value is not None and not 1 <= value <= 100:
                problems.append('hpa.%s is a utilisation percentage (1-100), got %s' % (key, value))
    ports = params.get('ports')
    if ports is not None:
        if not ports:
            problems.append('ports, when given, must list at least one port')
        names = []
        for index, port in enumerate(ports):
            for key in ('port', 'target_port'):
                value = port.get(key)
                if value is not None and not 1 <= value <= 65535:
                    problems.append('ports[%d].%s must be 1-65535, got %s' % (index, key, value))
            # A Service port name is a DNS-1123 label (Kubernetes ServicePort.name).
            error = dns1123_label_error('ports[%d].name' % index, port.get('name'))
            if error:
                problems.append(error)
            names.append(port.get('name'))
        dupes = sorted(set(n for n in names if n and names.count(n) > 1))
        if dupes:
            problems.append('ports: names used twice: %s' % ', '.join(dupes))
    cluster_ids = params.get('cluster_ids')
    if cluster_ids is not None:
        if not cluster_ids or any(not c for c in cluster_ids):
            problems.append('cluster_ids, when given, must list non-empty cluster ids')
        if len(set(cluster_ids)) != len(cluster_ids):
            problems.append('cluster_ids lists a cluster twice')
    kubeconfigs = params.get('cluster_kubeconfigs') or {}
    if params.get('wait') and cluster_ids:
        missing = [c for c in cluster_ids if c and c not in kubeconfigs]
        if missing:
            problems.append('wait needs a kubeconfig for every target cluster: cluster_kubeconfigs lacks %s '
                            '(or set wait: false)' % ', '.join(missing))
    if not check_mode:  # a dry run of a whole site may predict the files an earlier task writes
        problems.extend(kubeconfig_file_problems('cluster_kubeconfigs.%s' % c, path)
                        for c, path in sorted(kubeconfigs.items()))
    wait_timeout = params.get('wait_timeout')
    if wait_timeout is not None and wait_timeout < 1:
        problems.append('wait_timeout must be >= 1 second, got %s' % wait_timeout)
    return [p for p in problems if p]


def kubeconfig_file_problems(option, path):
    """A kubeconfig the module will read must be a readable file (its reachability is checked later, still
    before any write)."""
    import os

    if not path or not os.path.isfile(path):
        return '%s: kubeconfig file %s does not exist' % (option, path)
    if not os.access(path, os.R_OK):
        return '%s: kubeconfig file %s is not readable' % (option, path)
    return None


def validate_gateway_params(params, check_mode=False):
    raise_problems(gateway_problems(params, check_mode))


def gateway_spec(params):
    """The IstioGateway spec fields the user set (camelCase, as in the CR)."""
    spec = {}
    if params.get('gateway_type'):
        spec['gatewayType'] = params['gateway_type']
    if params.get('cluster_ids') is not None:
        spec['clusterIds'] = list(params['cluster_ids'])
    if params.get('replicas') is not None:
        spec['replicaCount'] = params['replicas']
    hpa = params.get('hpa')
    if hpa:
        spec['minReplicas'] = hpa['min_replicas']
        spec['maxReplicas'] = hpa['max_replicas']
        if hpa.get('cpu_target') is not None:
            spec['cpu'] = {'targetAverageUtilization': hpa['cpu_target']}
        if hpa.get('memory_target') is not None:
            spec['memory'] = {'targetAverageUtilization': hpa['memory_target']}
    if params.get('ports') is not None:
        spec['ports'] = [strip_none({'name': p['name'], 'port': p['port'],
                                     'targetPort': p.get('target_port') or p['port'],
                                     'protocol': p.get('protocol') or 'TCP'}) for p in params['ports']]
    if params.get('service_type'):
        spec['serviceType'] = params['service_type']
    if params.get('service_annotations') is not None:
        spec['serviceAnnotations'] = dict((k, str(v)) for k, v in params['service_annotations'].items())
    if params.get('external_traffic_policy'):
        spec['externalTrafficPolicy'] = params['external_traffic_policy']
    if params.get('resources') is not None:
        spec['resources'] = strip_none(params['resources'])
    if params.get('env') is not None:
        spec['env'] = [{'name': k, 'value': str(v)} for k, v in sorted(params['env'].items())]
    return spec


def gateway_object(name, spec):
    return {'apiVersion': GATEWAY_API_VERSION, 'kind': GATEWAY_KIND,
            'metadata': {'name': name, 'namespace': GATEWAY_NAMESPACE}, 'spec': spec}


def gateway_target_clusters(spec, cluster_kubeconfigs):
    """Clusters the gateway should run in: its clusterIds, else every cluster we have a kubeconfig for."""
    ids = (spec or {}).get('clusterIds')
    if ids:
        return list(ids)
    return sorted(cluster_kubeconfigs or {})


# -- asm_ratelimit ---------------------------------------------------------------------------------

def ratelimit_problems(params, check_mode=False):
    problems = []
    # Names are checked when given (the module always gives them; unit tests may not).
    if 'name' in params:
        problems.append(dns1123_subdomain_error('name', params['name']))
    if 'namespace' in params:
        problems.append(dns1123_label_error('namespace', params['namespace']))
    problems = [p for p in problems if p]
    if params.get('state', 'present') != 'present':
        return problems
    configs = params.get('configs')
    if not configs:
        problems.append('configs must list at least one rate limit config')
    if not params.get('workload_selector'):
        problems.append('workload_selector must give at least one label (e.g. app: istio-ingressgateway)')
    if 'gateway_name' in params:
        error = dns1123_label_error('gateway_name', params['gateway_name'], GATEWAY_NAME_MAX)
        if error:
            problems.append(error)
    if params.get('cluster_kubeconfig') and not check_mode:
        error = kubeconfig_file_problems('cluster_kubeconfig', params['cluster_kubeconfig'])
        if error:
            problems.append(error)
    names = []
    for index, config in enumerate(configs or []):
        where = 'configs[%d]' % index
        name = config.get('name')
        if not name:
            problems.append('%s.name must be non-empty' % where)
        names.append(name)
        vhost = ((config.get('match') or {}).get('vhost')) or {}
        if not vhost.get('name'):
            problems.append('%s.match.vhost.name must be non-empty (the host, or * for any)' % where)
        port = vhost.get('port')
        if port is None or not 1 <= port <= 65535:
            problems.append('%s.match.vhost.port must be 1-65535, got %s' % (where, port))
        route = vhost.get('route')
        if route is not None and not (route.get('name_match') or '').strip():
            problems.append('%s.match.vhost.route.name_match must be a non-empty route name' % where)
        limit = config.get('limit') or {}
        quota = limit.get('quota')
        if quota is None or quota <= 0:
            problems.append('%s.limit.quota must be > 0, got %s' % (where, quota))
        interval = limit.get('fill_interval') or {}
        seconds, nanos = interval.get('seconds') or 0, interval.get('nanos') or 0
        if seconds < 0 or not 0 <= nanos < 1000000000:
            problems.append('%s.limit.fill_interval: seconds >= 0 and 0 <= nanos < 1e9' % where)
        elif seconds == 0 and nanos == 0:
            problems.append('%s.limit.fill_interval must be > 0' % where)
        status = limit.get('status')
        if status is not None and not 400 <= status <= 599:
            problems.append('%s.limit.status must be an HTTP error status (400-599), got %s' % (where, status))
    dupes = sorted(set(n for n in names if n and names.count(n) > 1))
    if dupes:
        problems.append('configs: names used twice: %s' % ', '.join(dupes))
    return problems


def validate_ratelimit_params(params, check_mode=False):
    raise_problems(ratelimit_problems(params, check_mode))


def ratelimit_spec(params):
    spec = {'workloadSelector': {'labels': dict((k, str(v)) for k, v in params['workload_selector'].items())},
            'configs': [strip_none(copy.deepcopy(c)) for c in params['configs']]}
    for config in spec['configs']:
        interval = config['limit'].setdefault('fill_interval', {})
        interval.setdefault('seconds', 0)
        interval.setdefault('nanos', 0)
    if params.get('is_gateway') is not None:
        spec['isGateway'] = params['is_gateway']
    return spec


def effective_limits(spec, replicas):
    """Per config: the quota per Envoy, and the whole gateway's limit for ``replicas`` pods."""
    out = []
    for config in (spec or {}).get('configs') or []:
        limit = config.get('limit') or {}
        interval = limit.get('fill_interval') or {}
        seconds = (interval.get('seconds') or 0) + (interval.get('nanos') or 0) / 1e9
        quota = limit.get('quota') or 0
        entry = {'name': config.get('name'), 'quota_per_replica': quota, 'fill_interval_seconds': seconds,
                 'replicas': replicas, 'effective_quota': None, 'effective_requests_per_second': None}
        if replicas is not None:
            entry['effective_quota'] = quota * replicas
            if seconds > 0:
                entry['effective_requests_per_second'] = round(quota * replicas / seconds, 3)
        out.append(entry)
    return out


def spec_changes(desired, current):
    """``(changed, after)``: whether the user-set fields differ, and the spec after a merge patch."""
    diffs = compare_dicts(desired, current or {})
    return bool(diffs), deep_merge(current or {}, desired)


# -- Kubernetes access for the CR modules -----------------------------------------------------------

def create_cr(mesh, obj):
    """Create a custom resource; if it already exists (a concurrent run created it since we read), adopt it.

    The Kubernetes API answers 409 AlreadyExists to a second create of a name (API conventions); the
    object the other run made is re-read and brought to our spec with a merge patch when it differs,
    so two runs converge on one object instead of one failing.
    """
    from ansible_collections.meshdr.alicloud.plugins.module_utils import k8s

    meta = obj['metadata']
    try:
        return mesh.create(obj)
    except k8s.KubeError as exc:
        if exc.status != 409:
            raise
    current = mesh.get(obj['apiVersion'], obj['kind'], meta['name'], meta.get('namespace'))
    if current is None:  # created and deleted again meanwhile: let the next run decide
        return mesh.create(obj)
    changed, _after = spec_changes(obj.get('spec') or {}, current.get('spec'))
    if not changed:
        return current
    return mesh.merge_patch(obj['apiVersion'], obj['kind'], meta['name'], meta.get('namespace'),
                            {'spec': obj.get('spec') or {}})


MESH_ACCESS_DOC = 'mesh_id, mesh_name or kubeconfig'


def mesh_access_args():
    """Options every CR module shares: which mesh, or its kubeconfig."""
    return dict(
        mesh_id=dict(type='str'),
        mesh_name=dict(type='str'),
        kubeconfig=dict(type='path'),
    )


class MeshNotYet(Exception):
    """Check mode only: the mesh (or its kubeconfig) does not exist yet, as an earlier check-mode task predicted."""


def open_mesh_kube(module):
    """A :class:`k8s.Kube` on the mesh's Kubernetes API (kubeconfig file, else DescribeServiceMeshKubeconfig).

    In check mode a missing kubeconfig file or mesh name raises :class:`MeshNotYet`, so a dry run of a whole
    site (where asm_mesh only predicted the mesh) can predict the custom resource's creation.
    """
    import os

    from ansible_collections.meshdr.alicloud.plugins.module_utils import k8s

    params = module.params
    if not k8s.HAS_KUBERNETES:
        from ansible.module_utils.basic import missing_required_lib
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=k8s.KUBERNETES_IMPORT_ERROR)
    if params.get('kubeconfig'):
        if module.check_mode and not os.path.exists(params['kubeconfig']):
            raise MeshNotYet('mesh kubeconfig %s does not exist (yet)' % params['kubeconfig'])
        return k8s.Kube(path=params['kubeconfig'], what='the mesh API server (%s)' % params['kubeconfig'])
    if module.check_mode and not params.get('mesh_id') and not find_meshes(module, name=params.get('mesh_name'),
                                                                           region_id=params.get('region_id')):
        raise MeshNotYet('no service mesh named %s (yet)' % params.get('mesh_name'))
    mesh_id = resolve_mesh_id(module, params.get('mesh_id'), params.get('mesh_name'), params.get('region_id'))
    text = mesh_kubeconfig_text(module, mesh_id)
    return k8s.Kube(text=text, what='the API server of mesh %s' % mesh_id)
