"""Tests for the pure Kubernetes helpers (k8s.Kube against a lab: tests/lab/kube/test_k8s_module_utils.py)."""

import pytest

from ansible_collections.meshdr.alicloud.plugins.module_utils import k8s


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
