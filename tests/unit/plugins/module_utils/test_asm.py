"""Unit tests for the ASM helpers: validation, desired state, normalisation, comparison and predictions."""

import copy
import json

import pytest

from ansible_collections.meshdr.alicloud.plugins.module_utils import asm

PEM_CERT = "-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n"
PEM_KEY = "-----BEGIN PRIVATE KEY-----\nMIGdummy\n-----END PRIVATE KEY-----\n"


def mesh_params(**overrides):
    params = dict(name='mesh-1', state='present', region_id='cn-hangzhou', vpc_id='vpc-1', vswitches=['vsw-1'],
                  cluster_spec=None, edition=None, istio_version=None, api_server_public_eip=None,
                  use_existing_ca=False, existing_ca_type=None, existing_root_ca_cert=None,
                  existing_root_ca_key=None, existing_ca_cert=None, existing_ca_key=None, cert_chain=None,
                  clusters=None, purge_clusters=False, locality_load_balancing=None, locality_lb_conf=None,
                  keep_traffic_in_cluster=None, cr_aggregation=None, telemetry=None, access_log=None)
    params.update(overrides)
    return params


def detail(**config):
    """A DescribeServiceMeshDetail ServiceMesh as the SDK's to_map() gives it."""
    mesh_config = {'Telemetry': False, 'EnableLocalityLB': False, 'LocalityLB': {'Enabled': False},
                   'AccessLog': {'Enabled': False, 'Project': ''},
                   'ExtraConfiguration': {'CRAggregationEnabled': False}}
    mesh_config.update(config)
    return {'ServiceMeshInfo': {'ServiceMeshId': 'm1', 'Name': 'mesh-1', 'RegionId': 'cn-hangzhou',
                                'State': 'running', 'Version': 'v1.22'},
            'ClusterSpec': 'standard', 'Clusters': ['c1'],
            'Endpoints': {'PublicApiServerEndpoint': 'https://x'},
            'Spec': {'Network': {'VpcId': 'vpc-1', 'VSwitches': ['vsw-1']}, 'MeshConfig': mesh_config}}


# -- validation -------------------------------------------------------------------------------

@pytest.mark.parametrize('overrides, message', [
    ({'vpc_id': 'nope'}, 'vpc_id must be a VPC id'),
    ({'vswitches': []}, 'at least one vSwitch'),
    ({'vswitches': ['vsw-1', 'vsw-1']}, 'twice'),
    ({'vswitches': ['sw-1']}, 'vSwitch ids'),
    ({'use_existing_ca': True}, 'existing_ca_type'),
    ({'use_existing_ca': True, 'existing_ca_type': 2}, 'needs existing_root_ca_cert'),
    ({'use_existing_ca': True, 'existing_ca_type': 1, 'existing_ca_cert': PEM_CERT}, 'needs existing_ca_key'),
    ({'use_existing_ca': True, 'existing_ca_type': 2, 'existing_root_ca_cert': 'x', 'existing_root_ca_key': PEM_KEY},
     'PEM certificate'),
    ({'use_existing_ca': True, 'existing_ca_type': 2, 'existing_root_ca_cert': PEM_CERT,
      'existing_root_ca_key': 'x'}, 'PEM private key'),
    ({'existing_root_ca_cert': PEM_CERT}, 'use_existing_ca is not true'),
    ({'clusters': [{'id': 'c1'}, {'id': 'c1'}]}, 'more than once'),
    ({'clusters': [{'id': ''}]}, 'needs an id'),
    ({'locality_lb_conf': {'failover': [{'from': 'a'}]}}, 'non-empty from and to'),
    ({'locality_lb_conf': {'failover': [{'from': 'a', 'to': 'b'}],
                           'distribute': [{'from': 'a/*', 'to': {'a/*': 100}}]}}, 'not both'),
    ({'locality_lb_conf': {'distribute': [{'from': 'a/*', 'to': {'a/*': 60}}]}}, 'add up to 100'),
    ({'locality_lb_conf': {'distribute': [{'from': 'a/*', 'to': {'a/*': 'x'}}]}}, 'integers'),
    ({'keep_traffic_in_cluster': True, 'locality_lb_conf': {'distribute': [{'from': 'a/*', 'to': {'a/*': 100}}]}},
     'writes the distribute rules'),
    ({'keep_traffic_in_cluster': True, 'locality_load_balancing': False}, 'need locality_load_balancing'),
])
def test_mesh_validation_refuses(overrides, message):
    with pytest.raises(asm.ValidationError, match=message):
        asm.validate_mesh_params(mesh_params(**overrides))


def test_mesh_validation_accepts_a_full_shared_ca_mesh():
    asm.validate_mesh_params(mesh_params(use_existing_ca=True, existing_ca_type=2, existing_root_ca_cert=PEM_CERT,
                                         existing_root_ca_key=PEM_KEY, clusters=[{'id': 'c1'}, {'id': 'c2'}],
                                         keep_traffic_in_cluster=True,
                                         locality_lb_conf={'failover': [{'from': 'a', 'to': 'b'}]}))


def test_absent_needs_no_network():
    asm.validate_mesh_params(mesh_params(state='absent', vpc_id=None, vswitches=None))


# -- desired state --------------------------------------------------------------------------------

def test_keep_traffic_in_cluster_is_a_distribute_rule_for_the_region():
    enabled, conf = asm.desired_locality(mesh_params(keep_traffic_in_cluster=True))
    assert enabled is True
    assert conf == {'distribute': [{'from': 'cn-hangzhou/*', 'to': {'cn-hangzhou/*': 100}}]}


def test_failover_rules_win_over_keep_traffic_in_cluster():
    failover = {'failover': [{'from': 'cn-hangzhou', 'to': 'ap-southeast-1'}], 'distribute': None}
    enabled, conf = asm.desired_locality(mesh_params(keep_traffic_in_cluster=True, locality_lb_conf=failover))
    assert enabled is True
    assert conf == {'failover': [{'from': 'cn-hangzhou', 'to': 'ap-southeast-1'}]}


def test_unset_features_are_not_managed():
    assert asm.desired_features(mesh_params()) == {}
    assert asm.desired_features(mesh_params(telemetry=False)) == {'telemetry': False}


def test_create_wire_params_carry_ca_and_features_with_wire_names():
    wire = asm.create_wire_params(mesh_params(use_existing_ca=True, existing_ca_type=2, existing_root_ca_cert=PEM_CERT,
                                              existing_root_ca_key=PEM_KEY, telemetry=True,
                                              keep_traffic_in_cluster=True, access_log={'enabled': True,
                                                                                        'project': None}))
    assert wire['VSwitches'] == '["vsw-1"]'
    assert wire['UseExistingCA'] is True and wire['ExistingCaType'] == 2
    assert wire['ExistingRootCaCert'] == PEM_CERT and wire['ExistingRootCaKey'] == PEM_KEY
    assert 'ExistingCaCert' not in wire and 'CertChain' not in wire
    assert wire['Telemetry'] is True and wire['LocalityLoadBalancing'] is True
    assert json.loads(wire['LocalityLBConf'])['distribute'][0]['from'] == 'cn-hangzhou/*'
    assert wire['AccessLogEnabled'] is True and 'AccessLogProject' not in wire


# -- reading and comparing ----------------------------------------------------------------------------

@pytest.mark.parametrize('failover', [
    [{'from': 'a', 'to': 'b'}],
    {'failover': [{'from': 'a', 'to': 'b'}]},
    json.dumps([{'from': 'a', 'to': 'b'}]),
])
def test_parse_locality_accepts_the_shapes_the_sdk_allows(failover):
    config = {'LocalityLB': {'Enabled': True, 'Failover': failover}}
    assert asm.parse_locality(config) == {'failover': [{'from': 'a', 'to': 'b'}]}


def test_parse_locality_reads_distribute_and_drops_empty_parts():
    rule = {'from': 'a/*', 'to': {'a/*': 100}}
    assert asm.parse_locality({'LocalityLB': {'Distribute': [rule], 'Failover': []}}) == {'distribute': [rule]}
    assert asm.parse_locality({}) == {}


def test_normalise_mesh():
    mesh = asm.normalise_mesh(detail(Telemetry=True, ExtraConfiguration={'CRAggregationEnabled': 'true'}),
                              [{'ClusterId': 'c2', 'Name': 'cluster-2', 'RegionId': 'r2', 'State': 'running'},
                               {'ClusterId': 'c1', 'Name': 'cluster-1', 'RegionId': 'r1', 'State': 'running'}])
    assert mesh['id'] == 'm1' and mesh['state'] == 'running' and mesh['vswitches'] == ['vsw-1']
    assert [c['id'] for c in mesh['clusters']] == ['c1', 'c2']
    assert mesh['endpoints'] == {'public_api_server_endpoint': 'https://x'}
    assert mesh['features']['telemetry'] is True and mesh['features']['cr_aggregation'] is True
    assert mesh['features']['access_log'] == {'enabled': False, 'project': ''}


def test_changed_features_compares_only_what_is_set():
    locality = {'Enabled': True, 'Failover': [{'from': 'a', 'to': 'b'}]}
    current = asm.mesh_features(detail(Telemetry=True, LocalityLB=locality))
    assert asm.changed_features({'telemetry': True}, current) == {}
    assert asm.changed_features({'telemetry': False}, current) == {'telemetry': False}
    assert asm.changed_features({'locality_lb_conf': {'failover': [{'to': 'b', 'from': 'a'}]}}, current) == {}
    assert asm.changed_features({'access_log': {'enabled': False}}, current) == {}
    assert asm.changed_features({'access_log': {'project': 'p'}}, current) == {'access_log': {'project': 'p'}}


def test_feature_wire_params_only_for_changes():
    assert asm.feature_wire_params({'cr_aggregation': True}) == {'CRAggregationEnabled': True}
    wire = asm.feature_wire_params({'locality_lb_conf': {'failover': [{'from': 'a', 'to': 'b'}]},
                                    'access_log': {'project': 'p'}})
    assert wire == {'LocalityLBConf': '{"failover":[{"from":"a","to":"b"}]}', 'AccessLogProject': 'p'}


def test_immutable_conflicts_name_every_difference():
    mesh = asm.normalise_mesh(detail())
    params = mesh_params(vpc_id='vpc-2', vswitches=['vsw-9'], cluster_spec='enterprise', istio_version='v1.25')
    problems = asm.immutable_conflicts(params, mesh)
    assert len(problems) == 4
    assert any('vpc_id is vpc-1' in p for p in problems)
    assert asm.immutable_conflicts(mesh_params(), mesh) == []


def test_immutable_ca_compares_pem_material():
    mesh = asm.normalise_mesh(detail())
    params = mesh_params(use_existing_ca=True, existing_ca_type=2, existing_root_ca_cert=PEM_CERT)
    assert asm.immutable_conflicts(params, mesh, ca_cert=PEM_CERT.replace('\n', '\r\n')) == []
    assert asm.immutable_conflicts(params, mesh, ca_cert='-----BEGIN CERTIFICATE-----\nother\n') != []


def test_cluster_changes():
    wanted = [{'id': 'c1', 'discovery_only': False}, {'id': 'c3', 'discovery_only': True}]
    assert asm.cluster_changes(wanted, ['c1', 'c2'], purge=False) == ([{'id': 'c3', 'discovery_only': True}], [])
    assert asm.cluster_changes(wanted, ['c1', 'c2'], purge=True)[1] == ['c2']
    assert asm.cluster_changes(None, ['c1'], purge=True) == ([], [])


def test_predict_mesh_applies_exactly_the_changes():
    current = asm.normalise_mesh(detail())
    after = asm.predict_mesh(mesh_params(), current, [{'id': 'c9', 'discovery_only': False}], ['c1'],
                             {'telemetry': True, 'access_log': {'project': 'p'}})
    before = asm.mesh_view(current)
    assert after['clusters'] == ['c9']
    assert after['features']['telemetry'] is True
    assert after['features']['access_log'] == {'enabled': False, 'project': 'p'}
    assert {k: v for k, v in after.items() if k not in ('clusters', 'features')} == \
        {k: v for k, v in before.items() if k not in ('clusters', 'features')}


def test_predict_new_mesh():
    after = asm.predict_mesh(mesh_params(), None, [{'id': 'c1', 'discovery_only': False}], (), {'telemetry': True})
    assert after['clusters'] == ['c1'] and after['cluster_spec'] == 'standard'
    assert after['features']['telemetry'] is True and after['features']['cr_aggregation'] is False


# -- gateway ------------------------------------------------------------------------------------------------

def gateway_params(**overrides):
    params = dict(name='ingressgateway', state='present', gateway_type=None, cluster_ids=None, replicas=None,
                  hpa=None, ports=None, service_type=None, service_annotations=None, external_traffic_policy=None,
                  resources=None, env=None, cluster_kubeconfigs=None, wait=True)
    params.update(overrides)
    return params


@pytest.mark.parametrize('overrides, message', [
    ({'name': 'Bad_Name'}, 'DNS label'),
    ({'replicas': 0}, 'replicas must be >= 1'),
    ({'hpa': {'min_replicas': 3, 'max_replicas': 2}}, 'min_replicas <= max_replicas'),
    ({'hpa': {'min_replicas': 1, 'max_replicas': 2, 'memory_target': 0}}, 'memory_target'),
    ({'hpa': {'min_replicas': 2, 'max_replicas': 3}, 'replicas': 5}, 'outside hpa'),
    ({'ports': []}, 'at least one port'),
    ({'ports': [{'name': 'a', 'port': 80, 'target_port': 70000}]}, 'target_port must be 1-65535'),
    ({'ports': [{'name': 'a', 'port': 80}, {'name': 'a', 'port': 81}]}, 'names used twice'),
    ({'cluster_ids': ['c1', 'c1']}, 'twice'),
    ({'cluster_ids': ['c1'], 'cluster_kubeconfigs': {'c2': '/x'}}, 'lacks c1'),
])
def test_gateway_validation_refuses(overrides, message):
    with pytest.raises(asm.ValidationError, match=message):
        asm.validate_gateway_params(gateway_params(**overrides))


def test_gateway_spec_has_only_what_the_user_set():
    assert asm.gateway_spec(gateway_params()) == {}
    spec = asm.gateway_spec(gateway_params(
        cluster_ids=['c1'], replicas=2, hpa={'min_replicas': 2, 'max_replicas': 4, 'cpu_target': 80,
                                             'memory_target': None},
        ports=[{'name': 'http-0', 'port': 80, 'target_port': None, 'protocol': 'TCP'}],
        service_annotations={'a': 1}, env={'B': 2, 'A': 'x'}))
    assert spec == {'clusterIds': ['c1'], 'replicaCount': 2, 'minReplicas': 2, 'maxReplicas': 4,
                    'cpu': {'targetAverageUtilization': 80},
                    'ports': [{'name': 'http-0', 'port': 80, 'targetPort': 80, 'protocol': 'TCP'}],
                    'serviceAnnotations': {'a': '1'},
                    'env': [{'name': 'A', 'value': 'x'}, {'name': 'B', 'value': '2'}]}


def test_gateway_target_clusters():
    assert asm.gateway_target_clusters({'clusterIds': ['c2']}, {'c1': 'x'}) == ['c2']
    assert asm.gateway_target_clusters({}, {'c2': 'x', 'c1': 'y'}) == ['c1', 'c2']
    assert asm.gateway_target_clusters(None, None) == []


def test_spec_changes_is_a_merge_patch_prediction():
    current = {'gatewayType': 'ingress', 'serviceAnnotations': {'a': '1', 'b': '2'}, 'ports': [{'port': 80}]}
    assert asm.spec_changes({'serviceAnnotations': {'a': '1'}}, current) == (False, current)
    changed, after = asm.spec_changes({'serviceAnnotations': {'a': '9'}, 'ports': [{'port': 81}]}, current)
    assert changed
    assert after == {'gatewayType': 'ingress', 'serviceAnnotations': {'a': '9', 'b': '2'}, 'ports': [{'port': 81}]}
    assert current['serviceAnnotations']['a'] == '1'  # not mutated


# -- rate limiter -------------------------------------------------------------------------------------------

CONFIG = {'name': 'pp', 'match': {'vhost': {'name': '*', 'port': 80, 'route': {'name_match': 'r1'}}},
          'limit': {'fill_interval': {'seconds': 1, 'nanos': None}, 'quota': 10, 'custom_response_body': None,
                    'status': None, 'per_downstream_connection': None}}


def limiter_params(config_changes=None, **overrides):
    config = copy.deepcopy(CONFIG)
    for path, value in (config_changes or {}).items():
        node = config
        keys = path.split('.')
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    params = dict(state='present', workload_selector={'app': 'istio-ingressgateway'}, is_gateway=True,
                  configs=[config])
    params.update(overrides)
    return params


@pytest.mark.parametrize('changes, message', [
    ({'limit.quota': 0}, 'quota must be > 0'),
    ({'limit.quota': -5}, 'quota must be > 0'),
    ({'limit.fill_interval': {'seconds': 0, 'nanos': 0}}, 'fill_interval must be > 0'),
    ({'limit.fill_interval': {'seconds': 0, 'nanos': 1000000000}}, 'nanos'),
    ({'match.vhost.route': {'name_match': ' '}}, 'name_match must be a non-empty'),
    ({'match.vhost.name': ''}, 'vhost.name must be non-empty'),
    ({'match.vhost.port': 0}, 'port must be 1-65535'),
    ({'limit.status': 200}, 'HTTP error status'),
    ({'name': ''}, 'name must be non-empty'),
])
def test_ratelimit_validation_refuses(changes, message):
    with pytest.raises(asm.ValidationError, match=message):
        asm.validate_ratelimit_params(limiter_params(changes))


def test_ratelimit_validation_needs_configs_selector_and_unique_names():
    with pytest.raises(asm.ValidationError, match='at least one rate limit config'):
        asm.validate_ratelimit_params(limiter_params(configs=[]))
    with pytest.raises(asm.ValidationError, match='workload_selector'):
        asm.validate_ratelimit_params(limiter_params(workload_selector={}))
    with pytest.raises(asm.ValidationError, match='names used twice: pp'):
        asm.validate_ratelimit_params(limiter_params(configs=[CONFIG, CONFIG]))
    asm.validate_ratelimit_params(limiter_params())


def test_ratelimit_spec_and_effective_limits():
    spec = asm.ratelimit_spec(limiter_params({'limit.fill_interval': {'seconds': 0, 'nanos': 500000000}}))
    assert spec['isGateway'] is True
    assert spec['workloadSelector'] == {'labels': {'app': 'istio-ingressgateway'}}
    assert spec['configs'][0]['limit'] == {'fill_interval': {'seconds': 0, 'nanos': 500000000}, 'quota': 10}
    limits = asm.effective_limits(spec, 3)
    assert limits == [{'name': 'pp', 'quota_per_replica': 10, 'fill_interval_seconds': 0.5, 'replicas': 3,
                       'effective_quota': 30, 'effective_requests_per_second': 60.0}]
    assert asm.effective_limits(spec, None)[0]['effective_quota'] is None


def test_strip_none_and_deep_merge():
    assert asm.strip_none({'a': None, 'b': {'c': None, 'd': [{'e': None, 'f': 1}]}}) == {'b': {'d': [{'f': 1}]}}
    assert asm.deep_merge({'a': {'b': 1, 'c': 2}, 'l': [1]}, {'a': {'b': 3}, 'l': [2]}) == \
        {'a': {'b': 3, 'c': 2}, 'l': [2]}


# -- asm_mesh's kubeconfig file and CA decoding ------------------------------------------------------------

def test_kubeconfig_written_0600_and_changed_only_on_content_or_mode(tmp_path):
    import os

    from ansible_collections.meshdr.alicloud.plugins.modules import asm_mesh

    path = str(tmp_path / 'mesh.kubeconfig')
    assert asm_mesh.kubeconfig_differs(path, 'a: 1\n')
    asm_mesh.write_kubeconfig(path, 'a: 1\n')
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert not asm_mesh.kubeconfig_differs(path, 'a: 1\n')
    assert asm_mesh.kubeconfig_differs(path, 'a: 2\n')
    os.chmod(path, 0o644)
    assert asm_mesh.kubeconfig_differs(path, 'a: 1\n')
    assert os.listdir(str(tmp_path)) == ['mesh.kubeconfig']  # no temporary file left behind


def test_decode_ca_accepts_base64_and_pem():
    import base64

    from ansible_collections.meshdr.alicloud.plugins.modules import asm_mesh

    assert asm_mesh.decode_ca(base64.b64encode(PEM_CERT.encode()).decode()) == PEM_CERT
    assert asm_mesh.decode_ca(PEM_CERT) == PEM_CERT
    assert asm_mesh.decode_ca(None) is None
