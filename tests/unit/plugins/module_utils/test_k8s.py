"""Tests for the Kubernetes helpers: pure ones, then :class:`k8s.Kube` against a real lab API server over HTTPS."""

import os

import pytest

from ansible_collections.meshdr.alicloud.plugins.module_utils import k8s
from ansible_collections.meshdr.alicloud.plugins.module_utils.asm import ratelimit as ratelimit_util


def test_lb_address():
    assert k8s.lb_address({'status': {'loadBalancer': {'ingress': [{'ip': '127.0.1.1'}]}}}) == '127.0.1.1'
    assert k8s.lb_address({'status': {'loadBalancer': {'ingress': [{'hostname': 'lb.example'}]}}}) == 'lb.example'
    assert k8s.lb_address({'status': {'loadBalancer': {}}}) is None
    assert k8s.lb_address(None) is None


def test_views_hide_server_noise():
    obj = {'apiVersion': 'v1', 'kind': 'X', 'metadata': {'name': 'a', 'namespace': 'n', 'managedFields': [{}],
                                                         'resourceVersion': '3'}, 'spec': {'k': 1, 'j': 2}}
    assert k8s.managed_view(obj) == {'name': 'a', 'namespace': 'n', 'spec': {'k': 1, 'j': 2}}
    assert k8s.managed_view(obj, ['k']) == {'name': 'a', 'namespace': 'n', 'spec': {'k': 1}}
    assert k8s.managed_view(None) == {}
    public = k8s.public_object(obj)
    assert 'managedFields' not in public['metadata'] and public['metadata']['resourceVersion'] == '3'
    assert 'managedFields' in obj['metadata']  # not mutated


def test_bad_kubeconfig_is_a_clear_error(tmp_path):
    path = tmp_path / 'kubeconfig'
    path.write_text('not: [a kubeconfig')
    with pytest.raises(k8s.KubeError, match='cannot use the kubeconfig'):
        k8s.Kube(path=str(path), what='test server')


@pytest.fixture(scope='module')
def lab():
    from drlab.testing import LabHandle

    handle = LabHandle().up()
    yield handle
    handle.down()


def test_kube_against_the_lab(lab):
    server = lab.admin('kube/servers', {'id': 'unit-k8s-mesh', 'kind': 'mesh'})
    with open(server['kubeconfig']) as handle:
        text = handle.read()
    kube = k8s.Kube(text=text, what='unit mesh')
    api = 'istio.alibabacloud.com/v1beta1'
    assert kube.get(api, ratelimit_util.RATELIMIT_KIND, 'rl', 'istio-system') is None
    obj = {'apiVersion': api, 'kind': ratelimit_util.RATELIMIT_KIND, 'metadata': {'name': 'rl', 'namespace': 'istio-system'},
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
    import yaml

    config = yaml.safe_load(text)
    config['users'][0]['user']['token'] = 'wrong-token'
    with pytest.raises(k8s.KubeError) as err:
        k8s.Kube(text=yaml.safe_dump(config), what='cluster-1').get('v1', 'Service', 'x', 'default')
    assert err.value.status == 401 or 'Unauthorized' in err.value.message
