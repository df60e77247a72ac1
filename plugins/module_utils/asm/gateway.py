# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""asm_gateway: the IstioGateway custom resource (checks, the spec from module options, target clusters)."""

from ansible_collections.meshdr.alicloud.plugins.module_utils.asm.common import (
    GATEWAY_API_VERSION,
    GATEWAY_KIND,
    GATEWAY_NAMESPACE,
    GATEWAY_NAME_MAX,
    dns1123_label_error,
    kubeconfig_file_problems,
    strip_none,
)


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
