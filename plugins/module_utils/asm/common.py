# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shared parts of the ASM (servicemesh 2020-01-11) modules: finding a mesh and opening its Kubernetes API,
the options every custom-resource module shares, and the input checks they all use (Kubernetes names,
kubeconfig files).  Wire names (``ServiceMeshId``...) are the SDK's.
"""

import os
import re

from ansible.module_utils.basic import missing_required_lib


GATEWAY_API_VERSION = 'istio.alibabacloud.com/v1beta1'
GATEWAY_KIND = 'IstioGateway'
GATEWAY_NAMESPACE = 'istio-system'


def strip_none(value):
    """Drop ``None`` values recursively (Ansible fills unset suboptions with None)."""
    if isinstance(value, dict):
        return dict((k, strip_none(v)) for k, v in value.items() if v is not None)
    if isinstance(value, list):
        return [strip_none(v) for v in value]
    return value


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


def kubeconfig_file_problems(option, path):
    """A kubeconfig the module will read must be a readable file (its reachability is checked later, still
    before any write)."""
    if not path or not os.path.isfile(path):
        return '%s: kubeconfig file %s does not exist' % (option, path)
    if not os.access(path, os.R_OK):
        return '%s: kubeconfig file %s is not readable' % (option, path)
    return None


def mesh_access_args():
    """Options every CR module shares: which mesh, or its kubeconfig.

    Documented by the doc fragment meshdr.alicloud.alicloud.mesh_access (plugins/doc_fragments/alicloud.py
    MESH_ACCESS); tests/unit/plugins/test_doc_fragments.py checks the two agree.
    """
    return dict(
        mesh_id=dict(type='str'),
        mesh_name=dict(type='str'),
        kubeconfig=dict(type='path'),
    )


# The AnsibleModule rules that go with mesh_access_args(): exactly one way to the mesh.
MESH_ACCESS_RULES = dict(mutually_exclusive=[('mesh_id', 'mesh_name', 'kubeconfig')],
                         required_one_of=[('mesh_id', 'mesh_name', 'kubeconfig')])


class MeshNotYet(Exception):
    """Check mode only: the mesh (or its kubeconfig) does not exist yet, as an earlier check-mode task predicted."""


def open_mesh_kube(module):
    """A :class:`k8s.Kube` on the mesh's Kubernetes API (kubeconfig file, else DescribeServiceMeshKubeconfig).

    In check mode a missing kubeconfig file or mesh name raises :class:`MeshNotYet`, so a dry run of a whole
    site (where asm_mesh only predicted the mesh) can predict the custom resource's creation.
    """
    # Here, not with this file: asm_mesh never talks to a mesh's Kubernetes API and should not import
    # the kubernetes client (~0.18 s a process, benchmarks/site_converge.py).
    from ansible_collections.meshdr.alicloud.plugins.module_utils import k8s

    params = module.params
    if not k8s.HAS_KUBERNETES:
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
