"""Two runs of a GTM module creating the same named object at the same time leave one object.

Both runs listed by name and found nothing; both create.  The interleaving is forced: the second
run does its whole create (and its settling re-read) inside the first run's Create call, either
after the service stored the first object or before.  In both orders the runs must agree on one
object (the oldest namesake) and the other must be gone (module_utils.gtm.settle).  A real race
on the lab (tests/integration/targets/gtm_safe_retries) cannot force the interleaving.
"""

import itertools

import pytest

from ansible_collections.meshdr.alicloud.plugins.modules import gtm_domain, gtm_monitor, gtm_pool


class Cloud:
    """The few GTM calls the creates make, over one shared store, with a hook inside Create."""

    def __init__(self):
        self.objects = {}  # id -> body
        self.clock = itertools.count(1000)
        self.ids = itertools.count(1)
        self.inside_create = None  # (before_store, callback): run another module inside the next Create

    def call(self, action, adopt=None, **params):
        if action.startswith('UpdateCloudGtmAddressPool'):
            return {}
        if action.startswith('List'):
            return dict(TotalPages=1, **self.listing(action))
        if action.startswith('Delete'):
            key = next(k for k in params if k.endswith('Id') and k != 'InstanceId')
            del self.objects[params[key]]
            return {}
        return self.create(action, params)

    def create(self, action, params):
        kind, id_key = {'CreateCloudGtmMonitorTemplate': ('tpl', 'TemplateId'),
                        'CreateCloudGtmAddressPool': ('pool', 'AddressPoolId'),
                        'CreateCloudGtmAddress': ('addr', 'AddressId'),
                        'CreateCloudGtmInstanceConfig': ('config', 'ConfigId')}[action]
        hook, self.inside_create = self.inside_create, None
        if hook and hook[0]:
            hook[1]()
        object_id = f'{kind}-{next(self.ids)}'
        body = dict(params, **{id_key: object_id, 'kind': kind, 'CreateTimestamp': next(self.clock)})
        if kind == 'config':
            body.update(InstanceId='gtm-' + object_id, ScheduleZoneName=params['ScheduleZoneName'],
                        ScheduleHostname=params['ScheduleHostname'], ScheduleRrType=params['ScheduleRrType'])
        self.objects[object_id] = body
        if hook and not hook[0]:
            hook[1]()
        return {id_key: object_id, 'InstanceId': body.get('InstanceId')}

    def listing(self, action):
        kind, container, item = {'ListCloudGtmMonitorTemplates': ('tpl', 'Templates', 'Template'),
                                 'ListCloudGtmAddressPools': ('pool', 'AddressPools', 'AddressPool'),
                                 'ListCloudGtmAddresses': ('addr', 'Addresses', 'Address'),
                                 'ListCloudGtmInstanceConfigs': ('config', 'InstanceConfigs', 'InstanceConfig')}[action]
        return {container: {item: [o for o in self.objects.values() if o['kind'] == kind]}}

    def of(self, kind):
        return [o for o in self.objects.values() if o['kind'] == kind]


class Module:
    def __init__(self, cloud):
        self.cloud = cloud
        self.params = {}
        self.check_mode = False

    def call(self, product, action, **params):
        return self.cloud.call(action, **params)

    def fail_json(self, **kwargs):
        raise AssertionError(kwargs)


def race(cloud, first, second, second_stores_first):
    """``first()`` creates; inside its Create, ``second()`` runs whole (before or after the store)."""
    results = {}
    cloud.inside_create = (second_stores_first, lambda: results.setdefault('second', second()))
    results['first'] = first()
    return results['first'], results['second']


@pytest.mark.parametrize('second_stores_first', [False, True])
def test_two_template_creates_leave_one_template(second_stores_first):
    cloud = Cloud()
    request = dict(Name='web', Protocol='tcp', ClientToken='t')
    a, b = race(cloud, lambda: gtm_monitor.create_template(Module(cloud), dict(request)),
                lambda: gtm_monitor.create_template(Module(cloud), dict(request)), second_stores_first)
    assert a == b
    assert [t['TemplateId'] for t in cloud.of('tpl')] == [a]


@pytest.mark.parametrize('second_stores_first', [False, True])
def test_two_pool_and_address_creates_leave_one_each(second_stores_first):
    cloud = Cloud()

    def manager():
        module = Module(cloud)
        module.params = dict(name='pool')
        return gtm_pool.PoolManager(module)

    def pool():
        m = manager()
        m.apply_settings(None, [], dict(type='IPv4', enabled=True, health_judgement='any_ok', lb_strategy='weight',
                                        sequence_mode='preemptive'))
        return [p['AddressPoolId'] for p in cloud.of('pool')]

    def address():
        m = manager()
        view = dict(name='region-1', address='192.0.2.1', type='IPv4', enabled=True, available_mode='auto',
                    health_judgement='any_ok', health_tasks=[], address_id=None)
        m.apply_addresses('pool-x', dict(create=[view], update=[], replace=False, delete=[]))
        return view['address_id']

    race(cloud, pool, pool, second_stores_first)
    assert len(cloud.of('pool')) == 1
    a, b = race(cloud, address, address, second_stores_first)
    assert a == b and [x['AddressId'] for x in cloud.of('addr')] == [a]


@pytest.mark.parametrize('second_stores_first', [False, True])
def test_two_access_domain_creates_leave_one_domain(second_stores_first):
    cloud = Cloud()

    def create():
        module = Module(cloud)
        module.params = dict(zone='example.com', hostname='www', rr_type='A')
        return gtm_domain.DomainManager(module).create(dict(ScheduleZoneName='example.com', ScheduleHostname='www',
                                                            ScheduleRrType='A', ClientToken='t'))

    a, b = race(cloud, create, create, second_stores_first)
    assert a == b
    assert [(c['ConfigId'], c['InstanceId']) for c in cloud.of('config')] == [a]
