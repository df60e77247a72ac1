"""Unit tests for the ASM helpers: validation, desired state, normalisation, comparison and predictions."""

import base64
import copy
import json
import re

import pytest
from ansible.module_utils.common.dict_transformations import dict_merge

from ansible_collections.meshdr.alicloud.plugins.module_utils import k8s
from ansible_collections.meshdr.alicloud.plugins.module_utils.asm import common as asm_common
from ansible_collections.meshdr.alicloud.plugins.module_utils.asm import gateway as gateway_util
from ansible_collections.meshdr.alicloud.plugins.module_utils.asm import mesh as mesh_util
from ansible_collections.meshdr.alicloud.plugins.module_utils.asm import ratelimit as ratelimit_util

PEM_CERT = "-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n"
PEM_KEY = "-----BEGIN PRIVATE KEY-----\nMIGdummy\n-----END PRIVATE KEY-----\n"


def assert_problem(problems, pattern):
    """One of ``problems`` matches ``pattern`` (as pytest.raises(match=) matched the joined message)."""
    assert re.search(pattern, '; '.join(problems)), problems


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
                   'ExtraConfiguration': {'CRAggregationConfiguration': {'Enabled': False}}}
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
    assert_problem(mesh_util.mesh_problems(mesh_params(**overrides)), message)


def test_mesh_validation_accepts_a_full_shared_ca_mesh():
    assert mesh_util.mesh_problems(mesh_params(use_existing_ca=True, existing_ca_type=2, existing_root_ca_cert=PEM_CERT,
                                               existing_root_ca_key=PEM_KEY, clusters=[{'id': 'c1'}, {'id': 'c2'}],
                                               keep_traffic_in_cluster=True,
                                               locality_lb_conf={'failover': [{'from': 'a', 'to': 'b'}]})) == []


def test_absent_needs_no_network():
    assert mesh_util.mesh_problems(mesh_params(state='absent', vpc_id=None, vswitches=None)) == []


# -- desired state --------------------------------------------------------------------------------

def test_keep_traffic_in_cluster_is_a_distribute_rule_for_the_region():
    enabled, conf = mesh_util.desired_locality(mesh_params(keep_traffic_in_cluster=True))
    assert enabled is True
    assert conf == {'distribute': [{'from': 'cn-hangzhou/*', 'to': {'cn-hangzhou/*': 100}}]}


def test_failover_rules_win_over_keep_traffic_in_cluster():
    failover = {'failover': [{'from': 'cn-hangzhou', 'to': 'ap-southeast-1'}], 'distribute': None}
    enabled, conf = mesh_util.desired_locality(mesh_params(keep_traffic_in_cluster=True, locality_lb_conf=failover))
    assert enabled is True
    assert conf == {'failover': [{'from': 'cn-hangzhou', 'to': 'ap-southeast-1'}]}


def test_unset_features_are_not_managed():
    assert mesh_util.desired_features(mesh_params()) == {}
    assert mesh_util.desired_features(mesh_params(telemetry=False)) == {'telemetry': False}


def test_create_wire_params_carry_ca_and_features_with_wire_names():
    wire = mesh_util.create_wire_params(mesh_params(use_existing_ca=True, existing_ca_type=2,
                                                    existing_root_ca_cert=PEM_CERT,
                                                    existing_root_ca_key=PEM_KEY, telemetry=True,
                                                    keep_traffic_in_cluster=True, access_log={'enabled': True,
                                                                                              'project': None}))
    assert wire['VSwitches'] == '["vsw-1"]'
    # CreateServiceMeshRequest.existing_ca_type is a str in the SDK model.
    assert wire['UseExistingCA'] is True and wire['ExistingCaType'] == '2'
    assert 'ExistingCaCert' not in wire and 'CertChain' not in wire
    assert wire['Telemetry'] is True and wire['LocalityLoadBalancing'] is True
    assert json.loads(wire['LocalityLBConf'])['distribute'][0]['from'] == 'cn-hangzhou/*'
    assert wire['AccessLogEnabled'] is True and 'AccessLogProject' not in wire


@pytest.mark.parametrize('ca_type, cert_field, key_field', [
    (2, 'ExistingRootCaCert', 'ExistingRootCaKey'),
    (1, 'ExistingCaCert', 'ExistingCaKey'),
])
def test_create_wire_params_send_the_ca_as_base64_of_the_pem(ca_type, cert_field, key_field):
    # SDK CreateServiceMeshRequest field docs: the CA certificate and key are "encoded in Base64".
    options = {2: dict(existing_root_ca_cert=PEM_CERT, existing_root_ca_key=PEM_KEY),
               1: dict(existing_ca_cert=PEM_CERT, existing_ca_key=PEM_KEY)}[ca_type]
    wire = mesh_util.create_wire_params(mesh_params(use_existing_ca=True, existing_ca_type=ca_type,
                                                    cert_chain=PEM_CERT + PEM_CERT, **options))
    for field, pem in ((cert_field, PEM_CERT), (key_field, PEM_KEY), ('CertChain', PEM_CERT + PEM_CERT)):
        assert '-----BEGIN' not in wire[field]
        assert base64.b64decode(wire[field], validate=True).decode() == pem


def test_create_wire_params_are_fields_of_the_sdk_request_model():
    from alibabacloud_servicemesh20200111 import models
    wire = mesh_util.create_wire_params(mesh_params(use_existing_ca=True, existing_ca_type=2,
                                                    existing_root_ca_cert=PEM_CERT,
                                                    existing_root_ca_key=PEM_KEY, cert_chain=PEM_CERT, telemetry=True,
                                                    cr_aggregation=True, keep_traffic_in_cluster=True,
                                                    cluster_spec='standard', edition='Default', istio_version='v1',
                                                    api_server_public_eip=False,
                                                    access_log={'enabled': True, 'project': 'p'}))
    known = models.CreateServiceMeshRequest().from_map(wire).to_map()
    assert sorted(set(wire) - set(known)) == []  # from_map drops (so the SDK never sends) unknown names


# -- reading and comparing ----------------------------------------------------------------------------

@pytest.mark.parametrize('failover', [
    [{'from': 'a', 'to': 'b'}],
    {'failover': [{'from': 'a', 'to': 'b'}]},
    json.dumps([{'from': 'a', 'to': 'b'}]),
])
def test_parse_locality_accepts_the_shapes_the_sdk_allows(failover):
    config = {'LocalityLB': {'Enabled': True, 'Failover': failover}}
    assert mesh_util.parse_locality(config) == {'failover': [{'from': 'a', 'to': 'b'}]}


def test_parse_locality_reads_distribute_and_drops_empty_parts():
    rule = {'from': 'a/*', 'to': {'a/*': 100}}
    assert mesh_util.parse_locality({'LocalityLB': {'Distribute': [rule], 'Failover': []}}) == {'distribute': [rule]}
    assert mesh_util.parse_locality({}) == {}


def test_cr_aggregation_is_read_where_terraform_reads_it():
    # terraform: ExtraConfiguration.CRAggregationConfiguration.Enabled; the flat flag is the fallback.
    nested = detail(ExtraConfiguration={'CRAggregationConfiguration': {'Enabled': True},
                                        'CRAggregationEnabled': False})
    assert mesh_util.mesh_features(nested)['cr_aggregation'] is True
    assert mesh_util.mesh_features(detail(ExtraConfiguration={'CRAggregationEnabled': True}))['cr_aggregation'] is True


def test_parse_locality_reads_the_sdk_object_shape():
    # SDK ...MeshConfigLocalityLB: Distribute and Failover are objects (Dict[str, Any]).
    rule = {'from': 'a/*', 'to': {'a/*': 100}}
    assert mesh_util.parse_locality({'LocalityLB': {'Distribute': {'distribute': [rule]}}}) == {'distribute': [rule]}


def test_normalise_mesh():
    mesh = mesh_util.normalise_mesh(detail(Telemetry=True, ExtraConfiguration={'CRAggregationEnabled': 'true'}),
                                    [{'ClusterId': 'c2', 'Name': 'cluster-2', 'RegionId': 'r2', 'State': 'running'},
                                     {'ClusterId': 'c1', 'Name': 'cluster-1', 'RegionId': 'r1', 'State': 'running'}])
    assert mesh['id'] == 'm1' and mesh['state'] == 'running' and mesh['vswitches'] == ['vsw-1']
    assert [c['id'] for c in mesh['clusters']] == ['c1', 'c2']
    assert mesh['endpoints'] == {'public_api_server_endpoint': 'https://x'}
    assert mesh['features']['telemetry'] is True and mesh['features']['cr_aggregation'] is True
    assert mesh['features']['access_log'] == {'enabled': False, 'project': ''}


def test_changed_features_compares_only_what_is_set():
    locality = {'Enabled': True, 'Failover': [{'from': 'a', 'to': 'b'}]}
    current = mesh_util.mesh_features(detail(Telemetry=True, LocalityLB=locality))
    assert mesh_util.changed_features({'telemetry': True}, current) == {}
    assert mesh_util.changed_features({'telemetry': False}, current) == {'telemetry': False}
    assert mesh_util.changed_features({'locality_lb_conf': {'failover': [{'to': 'b', 'from': 'a'}]}}, current) == {}
    assert mesh_util.changed_features({'access_log': {'enabled': False}}, current) == {}
    assert mesh_util.changed_features({'access_log': {'project': 'p'}}, current) == {'access_log': {'project': 'p'}}


def test_feature_wire_params_only_for_changes():
    # An existing mesh changes CR aggregation through UpdateMeshCRAggregation (as terraform does), so
    # UpdateMeshFeature never carries it; CreateServiceMesh does.
    assert mesh_util.feature_wire_params({'cr_aggregation': True}) == {}
    assert mesh_util.feature_wire_params({'cr_aggregation': True}, for_create=True) == {'CRAggregationEnabled': True}
    wire = mesh_util.feature_wire_params({'locality_lb_conf': {'failover': [{'from': 'a', 'to': 'b'}]},
                                          'access_log': {'project': 'p'}})
    assert wire == {'LocalityLBConf': '{"failover":[{"from":"a","to":"b"}]}', 'AccessLogProject': 'p'}


def test_immutable_conflicts_name_every_difference():
    mesh = mesh_util.normalise_mesh(detail())
    params = mesh_params(vpc_id='vpc-2', vswitches=['vsw-9'], cluster_spec='enterprise', istio_version='v1.25')
    problems = mesh_util.immutable_conflicts(params, mesh)
    assert len(problems) == 4
    assert any('vpc_id is vpc-1' in p for p in problems)
    assert mesh_util.immutable_conflicts(mesh_params(), mesh) == []


def test_immutable_ca_compares_pem_material():
    mesh = mesh_util.normalise_mesh(detail())
    params = mesh_params(use_existing_ca=True, existing_ca_type=2, existing_root_ca_cert=PEM_CERT)
    assert mesh_util.immutable_conflicts(params, mesh, ca_cert=PEM_CERT.replace('\n', '\r\n')) == []
    assert mesh_util.immutable_conflicts(params, mesh, ca_cert='-----BEGIN CERTIFICATE-----\nother\n') != []


def test_cluster_changes():
    wanted = [{'id': 'c1', 'discovery_only': False}, {'id': 'c3', 'discovery_only': True}]
    assert mesh_util.cluster_changes(wanted, ['c1', 'c2'], purge=False) == ([{'id': 'c3', 'discovery_only': True}], [])
    assert mesh_util.cluster_changes(wanted, ['c1', 'c2'], purge=True)[1] == ['c2']
    assert mesh_util.cluster_changes(None, ['c1'], purge=True) == ([], [])


def test_predict_mesh_applies_exactly_the_changes():
    current = mesh_util.normalise_mesh(detail())
    after = mesh_util.predict_mesh(mesh_params(), current, [{'id': 'c9', 'discovery_only': False}], ['c1'],
                                   {'telemetry': True, 'access_log': {'project': 'p'}})
    before = mesh_util.mesh_view(current)
    assert after['clusters'] == ['c9']
    assert after['features']['telemetry'] is True
    assert after['features']['access_log'] == {'enabled': False, 'project': 'p'}
    assert {k: v for k, v in after.items() if k not in ('clusters', 'features')} == \
        {k: v for k, v in before.items() if k not in ('clusters', 'features')}


def test_predict_new_mesh():
    after = mesh_util.predict_mesh(mesh_params(), None, [{'id': 'c1', 'discovery_only': False}], (),
                                   {'telemetry': True})
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
    assert_problem(gateway_util.gateway_problems(gateway_params(**overrides)), message)


def test_gateway_spec_has_only_what_the_user_set():
    assert gateway_util.gateway_spec(gateway_params()) == {}
    spec = gateway_util.gateway_spec(gateway_params(
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
    assert gateway_util.gateway_target_clusters({'clusterIds': ['c2']}, {'c1': 'x'}) == ['c2']
    assert gateway_util.gateway_target_clusters({}, {'c2': 'x', 'c1': 'y'}) == ['c1', 'c2']
    assert gateway_util.gateway_target_clusters(None, None) == []


def test_a_cr_plan_is_a_merge_patch_prediction():
    current = gateway_util.gateway_object('gw', {'gatewayType': 'ingress', 'serviceAnnotations': {'a': '1', 'b': '2'},
                                                 'ports': [{'port': 80}]})
    resource = k8s.CustomResource(FakeModule(), FakeKube(current), GW_API, GW_KIND, 'gw', 'istio-system')
    plan = resource.plan(current, {'serviceAnnotations': {'a': '1'}})
    assert plan['action'] == 'none' and plan['predicted'] is current and plan['changes'] == []
    plan = resource.plan(current, {'serviceAnnotations': {'a': '9'}, 'ports': [{'port': 81}]})
    assert plan['action'] == 'patch'
    assert plan['changes'] == ['spec.ports', 'spec.serviceAnnotations.a']
    assert plan['predicted']['spec'] == {'gatewayType': 'ingress', 'serviceAnnotations': {'a': '9', 'b': '2'},
                                         'ports': [{'port': 81}]}
    assert current['spec']['serviceAnnotations']['a'] == '1'  # not mutated
    plan = resource.plan(None, {'replicaCount': 2}, defaults={'gatewayType': 'ingress'})
    assert plan['action'] == 'create' and plan['changes'] == ['IstioGateway: create']
    assert plan['predicted'] == gateway_util.gateway_object('gw', {'gatewayType': 'ingress', 'replicaCount': 2})


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
    assert_problem(ratelimit_util.ratelimit_problems(limiter_params(changes)), message)


def test_ratelimit_validation_needs_configs_selector_and_unique_names():
    assert_problem(ratelimit_util.ratelimit_problems(limiter_params(configs=[])), 'at least one rate limit config')
    assert_problem(ratelimit_util.ratelimit_problems(limiter_params(workload_selector={})), 'workload_selector')
    assert_problem(ratelimit_util.ratelimit_problems(limiter_params(configs=[CONFIG, CONFIG])), 'names used twice: pp')
    assert ratelimit_util.ratelimit_problems(limiter_params()) == []


def test_ratelimit_spec_and_effective_limits():
    spec = ratelimit_util.ratelimit_spec(limiter_params({'limit.fill_interval': {'seconds': 0, 'nanos': 500000000}}))
    assert spec['isGateway'] is True
    assert spec['workloadSelector'] == {'labels': {'app': 'istio-ingressgateway'}}
    assert spec['configs'][0]['limit'] == {'fill_interval': {'seconds': 0, 'nanos': 500000000}, 'quota': 10}
    limits = ratelimit_util.effective_limits(spec, 3)
    assert limits == [{'name': 'pp', 'quota_per_replica': 10, 'fill_interval_seconds': 0.5, 'replicas': 3,
                       'effective_quota': 30, 'effective_requests_per_second': 60.0}]
    assert ratelimit_util.effective_limits(spec, None)[0]['effective_quota'] is None


def test_strip_none():
    assert asm_common.strip_none({'a': None, 'b': {'c': None, 'd': [{'e': None, 'f': 1}]}}) == {'b': {'d': [{'f': 1}]}}


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

    assert mesh_util.decode_ca(base64.b64encode(PEM_CERT.encode()).decode()) == PEM_CERT
    assert mesh_util.decode_ca(PEM_CERT) == PEM_CERT
    assert mesh_util.decode_ca(None) is None


# -- API helpers and asm_mesh's sequencing, on a scripted fake module -------------------------------------

class FakeMesh:
    """Enough of AlibabaCloudModule for asm helpers: answers per action, records calls."""

    def __init__(self, answers, params=None):
        self.answers = answers
        self.calls = []
        self.params = dict(name='mesh-1', region_id='cn-hangzhou', wait=True, wait_timeout=30)
        self.params.update(params or {})
        self.warnings = []
        self.check_mode = False

    def call(self, product, action, adopt=None, retry_codes=(), **params):
        """Through the real retry/adopt policy (call_with_retry), with scripted answers."""
        from ansible_collections.meshdr.alicloud.plugins.module_utils import alicloud

        def invoke():
            self.calls.append((action, params))
            answer = self.answers[action]
            if callable(answer):
                answer = answer(params, adopt)
            if isinstance(answer, Exception):
                raise answer
            return answer

        return alicloud.call_with_retry(invoke, action=action, attempts=3, max_time=5, sleep=lambda s: None,
                                        retry_codes=retry_codes, adopt=adopt)

    def warn(self, msg):
        self.warnings.append(msg)

    def fail_json(self, **kwargs):
        raise AssertionError(f'fail_json: {kwargs}')


def api_error(code, status=400):
    from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import AlicloudError
    return AlicloudError(code, 'test', http_status=status)


def listed(*meshes):
    return {'ServiceMeshes': [{'ServiceMeshInfo': {'ServiceMeshId': i, 'Name': n, 'RegionId': 'cn-hangzhou',
                                                   'State': st}} for i, n, st in meshes]}


@pytest.mark.parametrize('error, still_listed, gone', [
    (api_error('ServiceMesh.NotFound', 404), True, True),
    (api_error('StatusForbidden', 403), True, True),
    # terraform maps 500/503 to "not found" too; we believe a 5xx only when the list agrees, so a
    # server error on a live mesh can never make asm_mesh create a duplicate.
    (api_error('InternalError', 500), True, False),
    (api_error('ServiceUnavailable', 503), False, True),
    (api_error('InvalidParameter', 400), False, False),
])
def test_mesh_gone_decision(error, still_listed, gone):
    module = FakeMesh({'DescribeServiceMeshes': listed(('m1', 'mesh-1', 'running')) if still_listed else listed()})
    assert mesh_util.mesh_gone(module, error, 'm1') is gone


def test_adopt_mesh_takes_a_live_mesh_of_that_name_only():
    module = FakeMesh({'DescribeServiceMeshes': listed(('old', 'mesh-1', 'deleting'), ('other', 'mesh-2', 'running'))})
    assert mesh_util.adopt_mesh(module, 'mesh-1', 'cn-hangzhou') is None
    module.answers['DescribeServiceMeshes'] = listed(('old', 'mesh-1', 'deleting'), ('new', 'mesh-1', 'initial'))
    assert mesh_util.adopt_mesh(module, 'mesh-1', 'cn-hangzhou') == {'ServiceMeshId': 'new'}


def test_adopt_cluster_is_success_only_when_the_cluster_is_a_member():
    module = FakeMesh({'DescribeClustersInServiceMesh': {'Clusters': [{'ClusterId': 'c1'}]}})
    assert mesh_util.adopt_cluster(module, 'm1', 'c1')['Code'] == '200'
    assert mesh_util.adopt_cluster(module, 'm1', 'c2') is None


def sequenced_mesh():
    """A mesh that is busy after each change until read twice, and refuses a change while busy."""
    from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import AlicloudError

    state = {'busy': 0, 'clusters': [], 'log': []}

    def detail(params, adopt):
        state['log'].append('read:%s' % ('updating' if state['busy'] else 'running'))
        if state['busy']:
            state['busy'] -= 1
            return {'ServiceMesh': {'ServiceMeshInfo': {'State': 'updating'}}}
        return {'ServiceMesh': {'ServiceMeshInfo': {'State': 'running'}}}

    def changing(name):
        def answer(params, adopt):
            if state['busy']:
                return AlicloudError('StillInitializing', 'busy', http_status=400)
            state['log'].append(name)
            state['busy'] = 2
            if name == 'add':
                state['clusters'].append(params['ClusterId'])
            if name == 'remove':
                state['clusters'].remove(params['ClusterId'])
            return {}
        return answer

    answers = {'DescribeServiceMeshDetail': detail,
               'DescribeClustersInServiceMesh': lambda p, a: {'Clusters': [{'ClusterId': c}
                                                                           for c in state['clusters']]},
               'UpdateMeshFeature': changing('feature'), 'UpdateMeshCRAggregation': changing('cr'),
               'AddClusterIntoServiceMesh': changing('add'), 'RemoveClusterFromServiceMesh': changing('remove')}
    return state, answers


def no_sleep(monkeypatch, asm_mesh):
    import functools
    monkeypatch.setattr(asm_mesh.time, 'sleep', lambda s: None)
    monkeypatch.setattr(asm_mesh, 'wait_for', functools.partial(asm_mesh.wait_for, sleep=lambda s: None))


def test_asm_mesh_waits_for_running_before_and_after_every_change(monkeypatch):
    from ansible_collections.meshdr.alicloud.plugins.modules import asm_mesh

    no_sleep(monkeypatch, asm_mesh)
    state, answers = sequenced_mesh()
    module = FakeMesh(answers)
    deadline = asm_mesh.Deadline(30)
    asm_mesh.change(module, 'm1', deadline, 'UpdateMeshFeature', Telemetry=True)
    asm_mesh.change(module, 'm1', deadline, 'UpdateMeshCRAggregation', Enabled=True)
    asm_mesh.add_cluster(module, 'm1', deadline, {'id': 'c1', 'discovery_only': False}, last=False)
    asm_mesh.remove_cluster(module, 'm1', deadline, 'c1', last=True)
    changes = [entry for entry in state['log'] if not entry.startswith('read')]
    assert changes == ['feature', 'cr', 'add', 'remove']
    # Every change is preceded by a read that saw running, and followed by reads until running again.
    log = state['log']
    for index, entry in enumerate(log):
        if not entry.startswith('read'):
            assert log[index - 1] == 'read:running'
            assert log[index + 1:index + 4] == ['read:updating', 'read:updating', 'read:running']
    # No change was ever refused as busy: the module never overlapped two.
    assert not any(isinstance(a, Exception) for a in module.calls)


def test_asm_mesh_retries_a_change_refused_as_busy_after_waiting(monkeypatch):
    from ansible_collections.meshdr.alicloud.plugins.modules import asm_mesh

    no_sleep(monkeypatch, asm_mesh)
    state, answers = sequenced_mesh()
    calls = {'n': 0}
    real_feature = answers['UpdateMeshFeature']

    def first_busy(params, adopt):  # a concurrent run changed the mesh between our read and our call
        calls['n'] += 1
        if calls['n'] == 1:
            return api_error('StillInitializing')
        return real_feature(params, adopt)

    answers['UpdateMeshFeature'] = first_busy
    module = FakeMesh(answers)
    asm_mesh.change(module, 'm1', asm_mesh.Deadline(30), 'UpdateMeshFeature', Telemetry=True)
    assert calls['n'] == 2 and 'feature' in state['log']


def test_create_mesh_adopts_the_mesh_a_concurrent_run_created(monkeypatch):
    from ansible_collections.meshdr.alicloud.plugins.modules import asm_mesh

    no_sleep(monkeypatch, asm_mesh)
    module = FakeMesh({'CreateServiceMesh': api_error('NameAlreadyExist'),
                       'DescribeServiceMeshes': listed(('theirs', 'mesh-1', 'initial'))},
                      params=mesh_params())
    assert asm_mesh.create_mesh(module, asm_mesh.Deadline(30)) == 'theirs'
    assert [a for a, _params in module.calls].count('CreateServiceMesh') == 1


def test_create_mesh_after_a_lost_reply_adopts_instead_of_creating_twice(monkeypatch):
    from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import AlicloudError
    from ansible_collections.meshdr.alicloud.plugins.modules import asm_mesh

    no_sleep(monkeypatch, asm_mesh)
    state = {'meshes': listed()}

    def create(params, adopt):  # the service creates it, the reply is lost
        state['meshes'] = listed(('mine', 'mesh-1', 'initial'))
        return AlicloudError('NetworkError', 'reset', outcome_unknown=True, retryable=True)

    module = FakeMesh({'CreateServiceMesh': create, 'DescribeServiceMeshes': lambda p, a: state['meshes']},
                      params=mesh_params())
    assert asm_mesh.create_mesh(module, asm_mesh.Deadline(30)) == 'mine'
    assert [a for a, _params in module.calls].count('CreateServiceMesh') == 1


def test_create_mesh_waits_for_a_deleting_namesake_then_creates(monkeypatch):
    from ansible_collections.meshdr.alicloud.plugins.modules import asm_mesh

    no_sleep(monkeypatch, asm_mesh)
    state = {'reads': 0}

    def create(params, adopt):
        return api_error('NameAlreadyExist') if state['reads'] < 2 else {'ServiceMeshId': 'new'}

    def detail(params, adopt):
        state['reads'] += 1
        if state['reads'] < 2:
            return {'ServiceMesh': {'ServiceMeshInfo': {'State': 'deleting'}}}
        return api_error('ServiceMesh.NotFound', 404)

    module = FakeMesh({'CreateServiceMesh': create, 'DescribeServiceMeshDetail': detail,
                       'DescribeServiceMeshes': lambda p, a: listed(('old', 'mesh-1', 'deleting'))
                       if state['reads'] < 2 else listed()}, params=mesh_params())
    assert asm_mesh.create_mesh(module, asm_mesh.Deadline(30)) == 'new'


def test_delete_retries_related_resource_reused_and_still_initializing(monkeypatch):
    from ansible_collections.meshdr.alicloud.plugins.modules import asm_mesh

    no_sleep(monkeypatch, asm_mesh)
    refusals = [api_error('RelatedResourceReused'), api_error('StillInitializing')]
    state = {'deleted': False}

    def delete(params, adopt):
        if refusals:
            return refusals.pop(0)
        state['deleted'] = True
        return {}

    def detail(params, adopt):
        if state['deleted']:
            return api_error('ServiceMesh.NotFound', 404)
        return {'ServiceMesh': {'ServiceMeshInfo': {'ServiceMeshId': 'm1', 'State': 'running'}}}

    module = FakeMesh({'DescribeServiceMeshDetail': detail, 'DeleteServiceMesh': delete,
                       'DescribeClustersInServiceMesh': {'Clusters': []}},
                      params=dict(mesh_params(state='absent'), force_delete=False))
    changed = asm_mesh.ensure_absent(module, {'ServiceMeshInfo': {'ServiceMeshId': 'm1'}}).changed
    assert changed and state['deleted'] and refusals == []


GW_API, GW_KIND = asm_common.GATEWAY_API_VERSION, asm_common.GATEWAY_KIND


class FakeModule:
    def __init__(self, check_mode=False):
        self.check_mode = check_mode
        self.writes = []

    def wrote(self, what):
        self.writes.append(what)


class FakeKube:
    """A mesh API server holding one object; ``dry_run_refused`` plays a server without dryRun."""

    def __init__(self, existing=None, dry_run_refused=False):
        self.existing = existing
        self.patched = None
        self.dry_runs = 0
        self.dry_run_refused = dry_run_refused

    def _dry(self, dry_run):
        if dry_run:
            self.dry_runs += 1
            if self.dry_run_refused:
                raise k8s.KubeError('creating: dryRun is not supported', status=400, reason='BadRequest')
        return dry_run

    def create(self, obj, dry_run=False):
        if self.existing is not None:
            raise k8s.KubeError('AlreadyExists', status=409, reason='AlreadyExists')
        answer = dict(obj, metadata=dict(obj['metadata'], uid='u1'))
        if not self._dry(dry_run):
            self.existing = answer
        return answer

    def get(self, api_version, kind, name, namespace):
        return self.existing

    def merge_patch(self, api_version, kind, name, namespace, patch, dry_run=False):
        after = dict_merge(self.existing, patch)
        if not self._dry(dry_run):
            self.patched = patch
            self.existing = after
        return after


def gateway_resource(kube, check_mode=False):
    return k8s.CustomResource(FakeModule(check_mode), kube, GW_API, GW_KIND, 'ingressgateway', 'istio-system')


def test_cr_create_adopts_what_a_concurrent_run_created():
    ours = gateway_util.gateway_object('ingressgateway', {'replicaCount': 2})
    theirs = gateway_util.gateway_object('ingressgateway', {'replicaCount': 2})
    plan = dict(current=None, action='create', predicted=ours, changes=['IstioGateway: create'])
    kube = FakeKube(existing=theirs)
    outcome = gateway_resource(kube).apply(plan)
    assert outcome.state is theirs and kube.patched is None and outcome.changed
    kube = FakeKube(existing=gateway_util.gateway_object('ingressgateway', {'replicaCount': 1}))
    assert gateway_resource(kube).apply(plan).state['spec']['replicaCount'] == 2
    assert kube.patched == {'spec': {'replicaCount': 2}}
    kube = FakeKube()
    resource = gateway_resource(kube)
    outcome = resource.apply(plan)
    assert outcome.state['metadata']['uid'] == 'u1'
    assert resource.module.writes == ['created IstioGateway istio-system/ingressgateway']


def test_cr_check_mode_asks_the_server_for_a_dry_run_and_writes_nothing():
    current = gateway_util.gateway_object('ingressgateway', {'replicaCount': 1})
    kube = FakeKube(existing=current)
    resource = gateway_resource(kube, check_mode=True)
    outcome = resource.apply(resource.plan(current, {'replicaCount': 3}))
    assert kube.dry_runs == 1 and kube.patched is None and kube.existing is current
    assert outcome.changed and outcome.changes == ['spec.replicaCount']
    assert outcome.before['spec'] == {'replicaCount': 1} and outcome.after['spec'] == {'replicaCount': 3}
    assert resource.module.writes == []
    # a server refusing dryRun: the local prediction stands, and it is not asked again
    kube = FakeKube(dry_run_refused=True)
    resource = gateway_resource(kube, check_mode=True)
    outcome = resource.apply(resource.plan(None, {'replicaCount': 2}))
    assert outcome.changed and outcome.state == gateway_util.gateway_object('ingressgateway', {'replicaCount': 2})
    assert kube.existing is None and resource.dry_run is False


def test_cr_changed_comes_from_the_server_answer():
    current = gateway_util.gateway_object('ingressgateway', {'replicaCount': 1})
    kube = FakeKube(existing=current)
    kube.merge_patch = lambda *args, **kwargs: current  # the server stores the object as it was
    resource = gateway_resource(kube)
    outcome = resource.apply(resource.plan(current, {'replicaCount': 3}))
    assert not outcome.changed and outcome.changes == [] and resource.module.writes == []
    outcome = gateway_resource(FakeKube()).delete(None)
    assert not outcome.changed
    resource = gateway_resource(FakeKube(existing=current), check_mode=True)
    outcome = resource.delete(current)
    assert outcome.changed and outcome.changes == ['IstioGateway: delete'] and outcome.after == {}


def test_every_gateway_problem_is_reported_at_once():
    message = '; '.join(gateway_util.gateway_problems({"name": "Bad_Name", "replicas": 0,
                                                      "ports": [{"name": "p", "port": 0}]}))
    for part in ("name must be a DNS label", "replicas must be >= 1", "ports[0].port must be 1-65535"):
        assert part in message


@pytest.mark.parametrize("name, ok", [("mesh-1", True), ("网格_1", True), ("a/b<c>;", False), ("-m", False),
                                      ("m" * 64, False), ("", False)])
def test_mesh_names(name, ok):
    assert (mesh_util.mesh_name_error(name) is None) is ok


def test_use_existing_ca_needs_a_type_declared():
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    spec = dict(use_existing_ca=dict(type='bool', default=False), existing_ca_type=dict(type='int', choices=[1, 2]),
                **dict((o, dict(type='str')) for pair in mesh_util.CA_OPTIONS.values() for o in pair))
    validator = ArgumentSpecValidator(spec, **mesh_util.MESH_RULES)
    assert 'missing: existing_ca_type' in ' '.join(validator.validate({'use_existing_ca': True}).error_messages)
    assert validator.validate({'use_existing_ca': True, 'existing_ca_type': 1}).error_messages == []
    assert validator.validate({'existing_ca_type': 1}).error_messages == []  # mesh_problems says what is wrong
