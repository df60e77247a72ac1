"""The collection against the installed SDK models (issue 13, part 4): requests and read paths.

(a) every call site's operation exists on the SDK client, and every parameter it sends is a field of the
    request model with the field's type (static keywords read with ``ast``; ``**helper(...)`` and helper-built
    values by running the real helpers on representative inputs: ``HELPER_SAMPLES``);
(b) every response path the code reads exists in the response body model (``READ_PATHS``, a reviewed table,
    with a check that it names every operation the code calls);
(d) each check reports a planted mistake.

The lab half, (c), is tests/lab/test_cloud_contract.py.  See docs/api-contract.md, "How this is checked".
"""

from __future__ import annotations

import ast
import copy
import inspect
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import call_sites  # noqa: E402
import sdk_contract as sdk  # noqa: E402
from call_sites import UNKNOWN  # noqa: E402

from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import snake_case  # noqa: E402
from ansible_collections.meshdr.alicloud.plugins.module_utils.asm import mesh as mesh_util  # noqa: E402
from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm import common as gtm_common  # noqa: E402
from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm import domain as domain_util  # noqa: E402
from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm import monitor as monitor_util  # noqa: E402
from ansible_collections.meshdr.alicloud.plugins.module_utils.gtm import pool as pool_util  # noqa: E402

ITEM = sdk.ITEM
PEM_CERT = '-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n'
PEM_KEY = '-----BEGIN PRIVATE KEY-----\nMIGdummy\n-----END PRIVATE KEY-----\n'


# -- representative inputs ------------------------------------------------------------------------

def mesh_params(**overrides):
    params = dict(name='mesh-1', state='present', region_id='cn-hangzhou', vpc_id='vpc-1', vswitches=['vsw-1', 'vsw-2'],
                  cluster_spec='enterprise', edition='Default', istio_version='v1.22', api_server_public_eip=True,
                  use_existing_ca=False, existing_ca_type=None, existing_root_ca_cert=None,
                  existing_root_ca_key=None, existing_ca_cert=None, existing_ca_key=None, cert_chain=None,
                  clusters=[{'id': 'c1', 'discovery_only': False}], purge_clusters=False,
                  locality_load_balancing=None, locality_lb_conf=None, keep_traffic_in_cluster=None,
                  cr_aggregation=None, telemetry=None, access_log=None)
    params.update(overrides)
    return params


MESH_VARIANTS = [
    mesh_params(),
    mesh_params(telemetry=True, cr_aggregation=True, access_log={'enabled': True, 'project': 'p'},
                keep_traffic_in_cluster=True),
    mesh_params(locality_lb_conf={'failover': [{'from': 'cn-hangzhou', 'to': 'cn-shanghai'}], 'distribute': None}),
    mesh_params(locality_load_balancing=False),
    mesh_params(use_existing_ca=True, existing_ca_type=1, existing_ca_cert=PEM_CERT, existing_ca_key=PEM_KEY,
                cert_chain=PEM_CERT),
    mesh_params(use_existing_ca=True, existing_ca_type=2, existing_root_ca_cert=PEM_CERT,
                existing_root_ca_key=PEM_KEY),
]

CURRENT_FEATURES = {'locality_load_balancing': False, 'locality_lb_conf': {}, 'cr_aggregation': False,
                    'telemetry': False, 'access_log': {'enabled': False, 'project': ''}}


def template_view(**kw):
    view = dict(template_id=None, name='web', protocol='http', ip_version='IPv4', interval=60, timeout=5000,
                evaluation_count=1, failure_rate=50, probe_points=[dict(city_code='357', isp_code='465')],
                extend_info={'path': '/', 'code': 500, 'host': 'www.example.com'})
    view.update(kw)
    return view


def address_view(**kw):
    view = dict(pool_util.ADDRESS_CREATE_DEFAULTS, address_id='addr-1', name='region-1', address='192.0.2.1',
                type='IPv4',
                weight=50, serial_number=1, manual_status=None,
                health_tasks=[dict(template_id='mtp-1', port=80)])
    view.update(kw)
    return view


def alert_requests():
    current = {'AlertMode': 'instance_config', 'AlertGroup': {'AlertGroup': ['ops']},
               'AlertConfig': {'AlertConfig': [{'NoticeType': 'addr_alert', 'EmailNotice': True,
                                                'SmsNotice': False, 'DingtalkNotice': False}]}}
    alert = {'mode': 'instance_config', 'groups': ['ops', 'sre'],
             'notices': [{'type': 'addr_alert', 'email': True, 'sms': True, 'dingtalk': False},
                         {'type': 'addr_pool_unavailable', 'email': True, 'sms': False, 'dingtalk': True}]}
    return [domain_util.plan_alert(alert, current)[1], domain_util.plan_alert({'mode': 'global'}, None)[1]]


def update_calls():
    have = address_view(available_mode='auto')
    calls = []
    for after, fields in (
        (address_view(address='192.0.2.9', health_judgement='p50_ok', health_tasks=[]),
         ['address', 'health_judgement', 'health_tasks']),
        (address_view(enabled=False), ['enabled']),
        (address_view(available_mode='manual', manual_status='unavailable'), ['available_mode', 'manual_status']),
        (address_view(available_mode='auto'), ['manual_status']),
    ):
        calls.extend(pool_util.address_update_calls(have, after, fields))
    return calls


def _create_template(view):
    request = monitor_util.template_request(view)
    request.update(Protocol=view['protocol'], IpVersion=view['ip_version'], ClientToken='tok')
    return request


# (function, action or its expression) -> [(action, the parameters the helpers give)]: every call site
# the scanner cannot resolve by reading must be here (checked below), so a new helper-built call is run.
HELPER_SAMPLES = {
    ('create_mesh.attempt', 'CreateServiceMesh'): lambda: [
        ('CreateServiceMesh', mesh_util.create_wire_params(p)) for p in MESH_VARIANTS],
    ('update_mesh.<lambda>', 'UpdateMeshFeature'): lambda: [
        ('UpdateMeshFeature', mesh_util.feature_wire_params(
            mesh_util.changed_features(mesh_util.desired_features(p), CURRENT_FEATURES)))
        for p in MESH_VARIANTS[:4]],
    ('create_template', 'CreateCloudGtmMonitorTemplate'): lambda: [
        ('CreateCloudGtmMonitorTemplate', _create_template(template_view())),
        ('CreateCloudGtmMonitorTemplate', _create_template(template_view(protocol='ping', extend_info={
            'packetNum': 20, 'packetLossRate': 10}))),
        ('CreateCloudGtmMonitorTemplate', _create_template(template_view(protocol='tcp', extend_info={})))],
    ('ensure_present', 'UpdateCloudGtmMonitorTemplate'): lambda: [
        ('UpdateCloudGtmMonitorTemplate', monitor_util.template_request(template_view(interval=15, timeout=2000)))],
    ('PoolManager.apply_addresses', 'CreateCloudGtmAddress'): lambda: [
        ('CreateCloudGtmAddress', pool_util.address_create_request(address_view(), 'pool-1')),
        ('CreateCloudGtmAddress', pool_util.address_create_request(
            address_view(available_mode='manual', manual_status='available', health_tasks=[]), 'pool-1'))],
    ('PoolManager.apply_addresses', 'action'): update_calls,
    ('PoolManager.apply_addresses', 'ReplaceCloudGtmAddressPoolAddress'): lambda: [
        ('ReplaceCloudGtmAddressPoolAddress', {'AddressPoolId': 'pool-1', 'Addresses': pool_util.members_request(
            [address_view(), address_view(address_id='addr-2', name='region-2', serial_number=2)])})],
    ('DomainManager.create', 'CreateCloudGtmInstanceConfig'): lambda: [
        ('CreateCloudGtmInstanceConfig', dict(domain_util.domain_create_request(
            charge, instance, 'example.com', host, rr, 30, enabled), ClientToken='tok'))
        for charge, instance, host, rr, enabled in (('postpay', None, 'www', 'A', True),
                                                    ('prepay', 'instance-1', '@', 'AAAA', False))],
    ('DomainManager.apply', 'UpdateCloudGtmInstanceConfigAlert'): lambda: [
        ('UpdateCloudGtmInstanceConfigAlert', dict(r, ConfigId='config-1', InstanceId='instance-1'))
        for r in alert_requests()],
}


def operations_called(sites=None):
    """(product, action) of every operation the code calls: sites, and what the helpers name."""
    sites = call_sites.scan() if sites is None else sites
    ops = set()
    for site in sites:
        if site.action:
            ops.add((site.product, site.action))
        elif site.key in HELPER_SAMPLES:
            ops.update((site.product, action) for action, _params in HELPER_SAMPLES[site.key]())
    return ops


@pytest.fixture(scope='module')
def sites():
    return call_sites.scan()


def request_problems(sites, samples=None):
    """(a) as one list: operation existence, static names and types, helper samples."""
    samples = HELPER_SAMPLES if samples is None else samples
    problems = []
    for site in sites:
        if site.product is None:
            problems.append(f'{site.where}cannot tell which product {site.action_expr} calls')
            continue
        if site.action:
            problems.extend(sdk.check_operation(site.product, site.action, snake_case))
            known = dict((k, v) for k, v in site.params.items() if v is not UNKNOWN)
            problems.extend(sdk.check_request_names(site.product, site.action, site.params, site.where))
            problems.extend(p for p in sdk.check_request(site.product, site.action, known, site.where)
                            if 'from_map drops it' not in p)  # reported by the name check already
        if site.unresolved or not site.action:
            if site.key not in samples:
                problems.append('{}{}: built by {}; add its helpers to HELPER_SAMPLES'.format(
                    site.where, site.action or site.action_expr, ', '.join(site.unresolved) or site.action_expr))
                continue
            for action, params in samples[site.key]():
                if site.action and action != site.action:
                    problems.append(f'{site.where}HELPER_SAMPLES gives {action} for a {site.action} site')
                    continue
                problems.extend(sdk.check_operation(site.product, action, snake_case))
                full = dict((k, v) for k, v in site.params.items() if v is not UNKNOWN)
                full.update(params)
                problems.extend(sdk.check_request(site.product, action, full, site.where))
    return sorted(set(problems))


# -- (a) requests -------------------------------------------------------------------------------

def test_scanner_finds_the_call_sites(sites):
    """A scanner that found nothing would make every check below pass vacuously."""
    assert len(sites) >= 45
    assert {s.product for s in sites} == {'servicemesh', 'alidns'}
    assert ('alidns', 'CreateCloudGtmAddress') in operations_called(sites)


def test_every_helper_sample_names_a_call_site(sites):
    keys = {s.key for s in sites if s.unresolved or not s.action}
    assert sorted(set(HELPER_SAMPLES) - keys) == [], 'stale HELPER_SAMPLES entries'


def test_requests_match_the_sdk_models(sites):
    problems = request_problems(sites)
    assert problems == [], '\n'.join(problems)


# -- (b) read paths -----------------------------------------------------------------------------

def paths(*specs):
    """'A.B[].C' -> ('A', 'B', '[]', 'C'); 'A.*' reads every key of a map."""
    out = []
    for spec in specs:
        steps = []
        for part in spec.split('.'):
            if part.endswith(ITEM):
                steps.extend([part[:-len(ITEM)], ITEM])
            else:
                steps.append(part)
        out.append(tuple(steps))
    return out


def _expand(prefix, fields):
    return [f'{prefix}.{f}' if prefix else f for f in fields]


MESH_INFO = ['ServiceMeshInfo.' + f for f in ('ServiceMeshId', 'Name', 'RegionId', 'State', 'Version',
                                              'ErrorMessage', 'CreationTime')]
MESH_DETAIL = MESH_INFO + [
    'ClusterSpec', 'Clusters', 'Endpoints.*', 'Spec.Network.VpcId', 'Spec.Network.VSwitches',
    'Spec.MeshConfig.LocalityLB.Enabled', 'Spec.MeshConfig.LocalityLB.Distribute',
    'Spec.MeshConfig.LocalityLB.Failover',
    'Spec.MeshConfig.EnableLocalityLB', 'Spec.MeshConfig.ExtraConfiguration.CRAggregationEnabled',
    'Spec.MeshConfig.ExtraConfiguration.CRAggregationConfiguration.Enabled',
    'Spec.MeshConfig.AccessLog.Enabled', 'Spec.MeshConfig.AccessLog.Project', 'Spec.MeshConfig.Telemetry']
# monitor_util.normalise_probe_points reads CityCode/IspCode, and (eagerly, as the .get default) city_code/isp_code.
PROBE_POINT = ['CityCode', 'IspCode', 'city_code', 'isp_code']
TEMPLATE = ['TemplateId', 'Name', 'Protocol', 'IpVersion', 'Interval', 'Timeout', 'EvaluationCount', 'FailureRate',
            'ExtendInfo'] + _expand('IspCityNodes.IspCityNode[]', PROBE_POINT)
ADDRESS = ['AddressId', 'Name', 'Address', 'Type', 'EnableStatus', 'ManualAvailableStatus', 'AvailableMode',
           'HealthJudgement', 'HealthTasks.HealthTask[].TemplateId', 'HealthTasks.HealthTask[].Port', 'WeightValue',
           'SerialNumber', 'HealthStatus', 'AvailableStatus']
POOL = ['AddressPoolId', 'AddressPoolName', 'AddressPoolType', 'EnableStatus', 'HealthJudgement', 'AddressLbStrategy',
        'SequenceLbStrategyMode', 'AvailableStatus', 'HealthStatus'] + _expand('Addresses.Address[]', ADDRESS)
NOTICE = ['NoticeType', 'EmailNotice', 'SmsNotice', 'DingtalkNotice']
# monitor_util.pick_probe_points decides the geography by GroupType only (not CountryName/GroupName display text)
NODE = ['EnableStatus', 'GroupType'] + PROBE_POINT

# operation -> every path of its answer body the code reads (wire names; '[]' = each list element,
# '*' = every key).  Reviewed against: asm/ find_meshes/resolve_mesh_id/normalise_mesh/mesh_features/
# parse_locality/normalise_clusters/mesh_kubeconfig_text; asm_mesh.py describe/read_mesh/ensure_present/
# wait_running; gtm/ list_all/items/normalise_template/normalise_address/normalise_pool/normalise_domain/
# alert_view/resolve_template/pick_probe_points; gtm_monitor.py, gtm_pool.py, gtm_domain.py (normalise_record,
# find, find_record, pool_ids), gtm_info.py find_config, dr_readiness.py gather_region/gather_gtm.
# An operation whose answer is not read maps to [].
READ_PATHS = {
    ('servicemesh', 'DescribeServiceMeshes'): paths(*_expand('ServiceMeshes[]', MESH_INFO[:4])),
    ('servicemesh', 'DescribeServiceMeshDetail'): paths(*_expand('ServiceMesh', MESH_DETAIL)),
    ('servicemesh', 'DescribeClustersInServiceMesh'): paths(*_expand('Clusters[]', [
        'ClusterId', 'Name', 'RegionId', 'State', 'ClusterType', 'VpcId'])),
    ('servicemesh', 'CreateServiceMesh'): paths('ServiceMeshId'),
    ('servicemesh', 'GetCaCert'): paths('CaCert'),
    ('servicemesh', 'DescribeServiceMeshKubeconfig'): paths('Kubeconfig'),
    ('servicemesh', 'AddClusterIntoServiceMesh'): [],
    ('servicemesh', 'RemoveClusterFromServiceMesh'): [],
    ('servicemesh', 'UpdateMeshFeature'): [],
    ('servicemesh', 'UpdateMeshCRAggregation'): [],
    ('servicemesh', 'DeleteServiceMesh'): [],
    ('alidns', 'ListCloudGtmMonitorTemplates'): paths('TotalPages', *_expand('Templates.Template[]',
                                                                             TEMPLATE + ['CreateTimestamp'])),
    ('alidns', 'ListCloudGtmMonitorNodes'): paths(*_expand('Ipv4IspCityNodes.Ipv4IspCityNode[]', NODE),
                                                  *_expand('Ipv6IspCityNodes.Ipv6IspCityNode[]', NODE)),
    ('alidns', 'CreateCloudGtmMonitorTemplate'): paths('TemplateId'),
    ('alidns', 'DescribeCloudGtmMonitorTemplate'): paths(*TEMPLATE),
    ('alidns', 'UpdateCloudGtmMonitorTemplate'): [],
    ('alidns', 'DeleteCloudGtmMonitorTemplate'): [],
    ('alidns', 'ListCloudGtmAddressPools'): paths('TotalPages', *_expand('AddressPools.AddressPool[]',
                                                                         POOL + ['CreateTimestamp'])),
    ('alidns', 'DescribeCloudGtmAddressPool'): paths(*POOL),
    # dr_readiness: which health-check templates probe an address
    ('alidns', 'DescribeCloudGtmAddress'): paths('HealthTasks.HealthTask[].TemplateId'),
    ('alidns', 'ListCloudGtmAddresses'): paths('TotalPages', *_expand('Addresses.Address[]', ADDRESS + [
        'Remark', 'CreateTimestamp'])),
    ('alidns', 'CreateCloudGtmAddressPool'): paths('AddressPoolId'),
    ('alidns', 'CreateCloudGtmAddress'): paths('AddressId'),
    ('alidns', 'UpdateCloudGtmAddressPoolBasicConfig'): [],
    ('alidns', 'UpdateCloudGtmAddressPoolEnableStatus'): [],
    ('alidns', 'UpdateCloudGtmAddressPoolLbStrategy'): [],
    ('alidns', 'UpdateCloudGtmAddress'): [],
    ('alidns', 'UpdateCloudGtmAddressEnableStatus'): [],
    ('alidns', 'UpdateCloudGtmAddressManualAvailableStatus'): [],
    ('alidns', 'ReplaceCloudGtmAddressPoolAddress'): [],
    ('alidns', 'DeleteCloudGtmAddress'): [],
    ('alidns', 'DeleteCloudGtmAddressPool'): [],
    ('alidns', 'ListCloudGtmInstanceConfigs'): paths('TotalPages', *_expand('InstanceConfigs.InstanceConfig[]', [
        'ConfigId', 'InstanceId', 'ScheduleZoneName', 'ScheduleHostname', 'ScheduleRrType', 'CreateTimestamp'])),
    ('alidns', 'DescribeCloudGtmInstanceConfigFullInfo'): paths(
        'ConfigId', 'InstanceId', 'ScheduleZoneName', 'ScheduleHostname', 'ScheduleRrType', 'ScheduleDomainName',
        'Ttl', 'EnableStatus', 'AddressPoolLbStrategy', 'SequenceLbStrategyMode', 'AvailableStatus', 'HealthStatus',
        'AlertConfig', 'AlertGroup',
        *_expand('AddressPools.AddressPool[]', POOL + ['WeightValue', 'SerialNumber'])),
    ('alidns', 'DescribeCloudGtmInstanceConfigAlert'): paths(
        'AlertMode', 'AlertGroup.AlertGroup[]', *_expand('AlertConfig.AlertConfig[]', NOTICE)),
    ('alidns', 'CreateCloudGtmInstanceConfig'): paths('ConfigId', 'InstanceId'),
    ('alidns', 'ListCloudGtmInstances'): paths('Instances.Instance[].InstanceId'),
    ('alidns', 'UpdateCloudGtmInstanceConfigBasic'): [],
    ('alidns', 'UpdateCloudGtmInstanceConfigEnableStatus'): [],
    ('alidns', 'ReplaceCloudGtmInstanceConfigAddressPool'): [],
    ('alidns', 'UpdateCloudGtmInstanceConfigLbStrategy'): [],
    ('alidns', 'UpdateCloudGtmInstanceConfigAlert'): [],
    ('alidns', 'DeleteCloudGtmInstanceConfig'): [],
    ('alidns', 'DescribeDomainRecords'): paths('TotalPages', *_expand('DomainRecords.Record[]', [
        'RecordId', 'RR', 'Type', 'Value', 'TTL', 'Line'])),
    ('alidns', 'AddDomainRecord'): paths('RecordId'),
    ('alidns', 'UpdateDomainRecord'): [],
    ('alidns', 'DeleteDomainRecord'): [],
}

# Reviewed reads of a key the model of that operation lacks, harmless by construction: a shared normaliser
# reads it with .get() and the caller does not use the result.  (operation, path) -> why.
ABSENT_OK = {
    ('ListCloudGtmAddresses', 'Addresses.Address.[].WeightValue'):
        'gtm.pool.normalise_address is shared with pool members; gtm_pool overrides weight from the pool '
        '(merge_membership)',
    **{('DescribeCloudGtmInstanceConfigFullInfo',
        'AddressPools.AddressPool.[].Addresses.Address.[].HealthTasks.HealthTask.[].' + key):
       'gtm.pool.normalise_address is shared with pools: FullInfo pool members carry no health tasks (SDK model), '
       'the .get gives [] and gtm_domain/gtm_info never use them' for key in ('TemplateId', 'Port')},
    ('ListCloudGtmAddresses', 'Addresses.Address.[].SerialNumber'):
        'as WeightValue: the serial number comes from the pool membership',
    **{(action, f'{prefix}.{key}'): 'monitor_util.normalise_probe_points takes API nodes and views alike: '
       'the snake_case fallback is the .get default, evaluated even when CityCode/IspCode are there'
       for action, prefix in (('ListCloudGtmMonitorTemplates', 'Templates.Template.[].IspCityNodes.IspCityNode.[]'),
                              ('DescribeCloudGtmMonitorTemplate', 'IspCityNodes.IspCityNode.[]'),
                              ('ListCloudGtmMonitorNodes', 'Ipv4IspCityNodes.Ipv4IspCityNode.[]'),
                              ('ListCloudGtmMonitorNodes', 'Ipv6IspCityNodes.Ipv6IspCityNode.[]'))
       for key in ('city_code', 'isp_code')},
    ('DescribeDomainRecords', 'TotalPages'):
        'gtm_common.list_all reads TotalPages when given (CloudGtm List*), else stops on a short page; '
        'DescribeDomainRecords has TotalCount only',
}


PROBE = os.path.join(call_sites.ROOT, 'plugins', 'modules', 'cloud_probe.py')


def probe_reads(path=PROBE):
    """(action, path) cloud_probe reads from raw answers: ``present``/``values_in``(action, answer, path) with a
    literal path, or a loop variable over one of the module's path tuples."""
    tree = ast.parse(open(path, encoding='utf-8').read())
    constants = dict((n.targets[0].id, ast.literal_eval(n.value)) for n in tree.body if isinstance(n, ast.Assign)
                     and isinstance(n.targets[0], ast.Name) and isinstance(n.value, ast.Tuple))

    def reading(node):
        return isinstance(node, ast.Call) and getattr(node.func, 'attr', None) in ('present', 'values_in') \
            and len(node.args) >= 3 and isinstance(node.args[0], ast.Constant)

    found = {}
    for node in ast.walk(tree):  # breadth first: an inner loop over the same name overrides the outer one
        if reading(node) and isinstance(node.args[2], ast.Constant):
            found[id(node)] = (node, [node.args[2].value])
        if isinstance(node, ast.For) and isinstance(node.target, ast.Name) and isinstance(node.iter, ast.Name):
            for call in ast.walk(node):
                if reading(call) and getattr(call.args[2], 'id', None) == node.target.id:
                    found[id(call)] = (call, list(constants.get(node.iter.id, ())))
    calls = [n for n in ast.walk(tree) if reading(n)]
    unread = [ast.unparse(n) for n in calls if id(n) not in found or not found[id(n)][1]]
    assert unread == [], 'cloud_probe reads paths this test cannot read'
    reads = []
    for call, values in found.values():
        reads.extend((call.args[0].value, v) for v in values)
    return reads


def test_call_options_are_not_taken_for_wire_names():
    from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import AlibabaCloudModule

    def options(func, positional):
        params = inspect.signature(func).parameters.values()
        return {p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD and p.name not in positional}

    assert options(AlibabaCloudModule.call, ('self', 'product', 'action')) | \
        options(gtm_common.list_all, ('call', 'action', 'container', 'item')) == call_sites.OPTIONS


def test_cloud_probe_reads_are_in_the_table():
    reads = probe_reads()
    assert len(reads) >= 15
    product_of = dict((action, product) for (product, action) in READ_PATHS)
    missing = [f'{a} {p}' for a, p in reads
               if not sdk.covered(product_of.get(a), a, paths(p)[0], READ_PATHS.get((product_of.get(a), a), []))]
    assert missing == []


def path_problems(table=None):
    table = READ_PATHS if table is None else table
    problems = []
    for (product, action), reads in sorted(table.items()):
        for path in reads:
            problems.extend(sdk.check_path(product, action, path))
    return problems


def test_read_path_table_covers_every_operation_called(sites):
    called = operations_called(sites)
    assert sorted(called - set(READ_PATHS)) == [], 'operations the code calls with no READ_PATHS entry'
    assert sorted(set(READ_PATHS) - called) == [], 'READ_PATHS entries for operations the code no longer calls'


def test_read_paths_exist_in_the_response_models():
    known = ['{} {}:'.format(*key) for key in ABSENT_OK]
    problems = [p for p in path_problems() if not any(p.startswith(k) for k in known)]
    assert problems == [], '\n'.join(problems)


def test_absent_ok_entries_are_still_read_and_still_absent():
    for (action, shown), _why in ABSENT_OK.items():
        entries = [(prod, path) for (prod, act), reads in READ_PATHS.items() if act == action for path in reads
                   if '.'.join(path) == shown]
        assert entries, f'ABSENT_OK names a path READ_PATHS no longer has: {action} {shown}'
        assert sdk.check_path(entries[0][0], action, entries[0][1]), f'now in the SDK model: {action} {shown}'


# -- (d) the checks fail on planted mistakes ------------------------------------------------------

def test_planted_misspelt_key_in_a_builder(sites, monkeypatch):
    real = mesh_util.feature_wire_params

    def misspelt(features, **options):
        wire = real(features, **options)
        wire['AccessLogProjekt'] = wire.pop('AccessLogProject', 'p')
        return wire

    monkeypatch.setattr(mesh_util, 'feature_wire_params', misspelt)
    problems = request_problems(sites)
    assert any('UpdateMeshFeature.AccessLogProjekt: not a field of UpdateMeshFeatureRequest' in p for p in problems)
    assert any('CreateServiceMesh.AccessLogProjekt: not a field of CreateServiceMeshRequest' in p for p in problems)


def test_planted_wrong_type_in_a_builder(sites, monkeypatch):
    real = pool_util.members_request

    def wrong(views):
        out = real(views)
        out[0]['WeightValue'] = str(out[0]['WeightValue'])
        return out

    monkeypatch.setattr(pool_util, 'members_request', wrong)
    problems = request_problems(sites)
    assert any('ReplaceCloudGtmAddressPoolAddress.Addresses[0].WeightValue: the SDK types it int, got str' in p
               for p in problems), problems


def test_planted_static_mistakes_in_a_call_site():
    text = (
        "def f(module, mesh_id):\n"
        "    module.call('servicemesh', 'DescribeServiceMeshDetail', ServiceMeshID=mesh_id)\n"
        "    module.call('servicemesh', 'DeleteServiceMesh', ServiceMeshId=mesh_id, Force='yes')\n"
        "    module.call('servicemesh', 'DescribeServiceMeshDetails', ServiceMeshId=mesh_id)\n"
        "    request = dict(RR='www', TTL='600')\n"
        "    request['Typ'] = 'CNAME'\n"
        "    module.call('alidns', 'AddDomainRecord', DomainName='example.com', **request)\n"
        "    module.call('alidns', 'CreateCloudGtmAddress', **build(mesh_id))\n"
        "    module.call(which, 'DescribeServiceMeshes')\n"
        "class P:\n"
        "    def read(self, product, action, **params):\n"
        "        return self.module.call(product, action, **params)\n"
        "    def go(self):\n"
        "        self.read('servicemesh', 'DescribeServiceMeshKubeconfig', ServiceMeshIds='m')\n"
    )
    problems = request_problems(call_sites.scan_source('planted.py', text), samples={})
    expected = [
        'DescribeServiceMeshDetail.ServiceMeshID: not a field of DescribeServiceMeshDetailRequest',
        'DeleteServiceMesh.Force: the SDK types it bool, got str',
        'no DescribeServiceMeshDetailsRequest model',
        'has no describe_service_mesh_details_with_options',
        'AddDomainRecord.TTL: the SDK types it int, got str',
        'AddDomainRecord.Typ: not a field of AddDomainRecordRequest',
        "CreateCloudGtmAddress: built by build(mesh_id); add its helpers to HELPER_SAMPLES",
        "planted.py:9 (f) cannot tell which product which calls",
        "planted.py:14 (P.go) DescribeServiceMeshKubeconfig.ServiceMeshIds: not a field",
    ]
    for text in expected:
        assert any(text in p for p in problems), (text, problems)


def test_planted_missing_read_path():
    table = copy.deepcopy(READ_PATHS)
    table[('servicemesh', 'DescribeServiceMeshDetail')].append(('ServiceMesh', 'ServiceMeshInfo', 'Status'))
    table[('alidns', 'DescribeCloudGtmAddressPool')].append(('Addresses', 'Address', ITEM, 'Weight'))
    table[('alidns', 'ListCloudGtmAddresses')].append(('Addresses', 'Address', 'AddressId'))
    problems = path_problems(table)
    assert any('ServiceMesh.ServiceMeshInfo.Status: Status is not a field of' in p for p in problems), problems
    assert any('Addresses.Address.[].Weight: Weight is not a field of' in p for p in problems), problems
    assert any('Addresses.Address.AddressId: AddressId read from a List[' in p for p in problems), problems


def test_planted_call_site_without_table_entry(sites):
    extra = call_sites.scan_source('planted.py', "def f(m):\n    m.call('servicemesh', 'DescribeUpgradeVersion')\n")
    assert ('servicemesh', 'DescribeUpgradeVersion') in operations_called(sites + extra) - set(READ_PATHS)


def test_planted_unknown_answer_key_and_type():
    raw = {'RequestId': 'r', 'ServiceMesh': {'ServiceMeshInfo': {'State': 'running', 'Statuz': 'x'},
                                             'Spec': {'MeshConfig': {'LocalityLB': {'Failover': [{'from': 'a'}]}}}},
           'Extra': {'a': 1}}
    problems = sdk.check_answer('servicemesh', 'DescribeServiceMeshDetail', raw)
    assert 'DescribeServiceMeshDetail Extra: lost by the SDK model (not a field)' in problems
    assert 'DescribeServiceMeshDetail ServiceMesh.ServiceMeshInfo.Statuz: lost by the SDK model (not a field)' \
        in problems
    assert any('ServiceMesh.Spec.MeshConfig.LocalityLB.Failover: the SDK types it Dict[str, any], got list' in p
               for p in problems), problems
    clean = {'RequestId': 'r', 'ServiceMesh': {'ServiceMeshInfo': {'State': 'running'}}}
    assert sdk.check_answer('servicemesh', 'DescribeServiceMeshDetail', clean) == []
