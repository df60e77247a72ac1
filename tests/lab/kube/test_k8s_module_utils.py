"""module_utils.k8s.Kube against a real lab Kubernetes API server over HTTPS (moved from tests/unit:
it needs a running lab)."""

import os
import sys

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "meshdr", "alicloud")
if not os.path.exists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(ROOT, LINK)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.meshdr.alicloud.plugins.module_utils import k8s  # noqa: E402
from ansible_collections.meshdr.alicloud.plugins.module_utils.asm import ratelimit as ratelimit_util  # noqa: E402


def test_kube_against_the_lab(lab):
    server = lab.admin('kube/servers', {'id': 'unit-k8s-mesh', 'kind': 'mesh'})
    with open(server['kubeconfig']) as handle:
        text = handle.read()
    kube = k8s.Kube(text=text, what='unit mesh')
    api = 'istio.alibabacloud.com/v1beta1'
    assert kube.get(api, ratelimit_util.RATELIMIT_KIND, 'rl', 'istio-system') is None
    obj = {'apiVersion': api, 'kind': ratelimit_util.RATELIMIT_KIND,
           'metadata': {'name': 'rl', 'namespace': 'istio-system'},
           'spec': {'isGateway': True, 'configs': [{'name': 'a'}]}}
    assert kube.create(obj, dry_run=True)['spec'] == obj['spec']
    assert kube.get(api, ratelimit_util.RATELIMIT_KIND, 'rl', 'istio-system') is None  # dry run wrote nothing
    created = kube.create(obj)
    assert created['metadata']['resourceVersion']
    with pytest.raises(k8s.KubeError) as err:
        kube.create(obj)
    assert err.value.status == 409
    patched = kube.merge_patch(api, ratelimit_util.RATELIMIT_KIND, 'rl', 'istio-system', {'spec': {'isGateway': False}})
    assert patched['spec'] == {'isGateway': False, 'configs': [{'name': 'a'}]}
    assert kube.delete(api, ratelimit_util.RATELIMIT_KIND, 'rl', 'istio-system') is True
    assert kube.delete(api, ratelimit_util.RATELIMIT_KIND, 'rl', 'istio-system') is False
    with pytest.raises(k8s.KubeError, match='does not serve'):
        kube.resource('example.com/v1', 'Nothing')


def test_kube_with_a_wrong_token_is_refused(lab):
    path = os.path.join(lab.dir, 'kubeconfig', 'cluster-1.yaml')
    with open(path) as handle:
        text = handle.read()
    config = yaml.safe_load(text)
    assert 'client-key-data' in config['users'][0]['user']  # as ACK/ASM hand out; Kube used it above
    config['users'][0]['user'] = {'token': 'wrong-token'}
    with pytest.raises(k8s.KubeError) as err:
        k8s.Kube(text=yaml.safe_dump(config), what='cluster-1').get('v1', 'Service', 'x', 'default')
    assert err.value.status == 401 or 'Unauthorized' in err.value.message
