#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: dr_verify
short_description: Check that a GTM-resolved domain reaches every region by weight and stays in-cluster
version_added: 0.1.0
author:
  - meshdr.alicloud contributors (@meshdr)
description:
  - Sends I(requests) HTTP requests to I(domain), resolving the name with a fresh DNS query before
    each request (as a client without a cache would), and connects to the address the answer gave.
  - Counts which region's gateway address served each request and compares each region's share
    with its weight's share of the total weight, within I(tolerance).
  - With I(check_in_cluster), checks every successful response reports that all its backend calls
    were served by the same cluster as the front page (the lab's Bookinfo reports this in the
    response headers named by I(cluster_header) and I(backends_header)).
  - Read-only; never reports a change, and runs the same in check mode.
options:
  domain:
    description: Host name to resolve and send as the HTTP C(Host) header.
    type: str
    required: true
  dns_server:
    description:
      - Address of the DNS server to ask (for example the lab's GTM DNS C(127.0.0.1)).
      - When omitted, the system resolver configuration is used.
    type: str
  dns_port:
    description: Port of I(dns_server).
    type: int
    default: 53
  port:
    description: TCP port of the HTTP requests.
    type: int
    default: 80
  path:
    description: Path requested.
    type: str
    default: /productpage
  requests:
    description: Number of requests (1 to 2000); each is one DNS query and one HTTP request.
    type: int
    default: 100
  timeout:
    description: Seconds allowed for each DNS query and each HTTP request.
    type: float
    default: 5.0
  regions:
    description: The regions expected to serve the domain.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Region name, for the report.
        type: str
        required: true
      address:
        description: The region's gateway address, as DNS answers it.
        type: str
        required: true
      weight:
        description: The region's GTM weight.
        type: int
        required: true
      cluster:
        description: Name of the cluster that must serve this region's pages (checked when set).
        type: str
  tolerance:
    description:
      - Largest allowed difference between a region's share of the requests and its weight's share,
        as a fraction (C(0.15) = 15 percentage points).
    type: float
    default: 0.15
  rate:
    description:
      - Requests per second at most, all regions together; C(0) sends each request as soon as the last one
        ended.
      - Keep it under the gateways' local rate limit (quota per fill interval, per replica). What this module
        sends counts against the same token bucket as every other client, and a request the limiter turns
        away (HTTP 429) is a failure here. The requests are spaced evenly, so a second check running at the
        same time adds at most the same rate again.
    type: float
    default: 0
  max_failures:
    description: Requests allowed to fail (DNS error, connection error or an HTTP status other than 200).
    type: int
    default: 0
  check_in_cluster:
    description: Check that each page's backend calls stayed in the cluster that served the page.
    type: bool
    default: true
  cluster_header:
    description: Response header naming the cluster that served the page.
    type: str
    default: x-drlab-cluster
  backends_header:
    description: Response header listing C(service=cluster) for each backend call of the page.
    type: str
    default: x-drlab-backends
  fail_on_mismatch:
    description: Fail when the check does not pass (otherwise return C(passed=false)).
    type: bool
    default: true
notes:
  - Answers naming an address that is not in I(regions) count as failures.
  - A backend shown as C(none) was not called for that page (reviews v1 calls no ratings) and is not a violation.
requirements:
  - dnspython >= 2.0
'''

EXAMPLES = r'''
- name: Traffic through the GTM domain reaches both regions by weight, each page served in-cluster
  meshdr.alicloud.dr_verify:
    domain: bookinfo.meshdr-lab.example.com
    dns_server: 127.0.0.1
    dns_port: 15353
    port: 8080
    requests: 200
    # half of the gateways' local rate limit (100 per second per replica)
    rate: 50
    tolerance: 0.15
    regions:
      - {name: cn-hangzhou, address: 127.0.1.1, weight: 50, cluster: cluster-1}
      - {name: ap-southeast-1, address: 127.0.2.1, weight: 50, cluster: cluster-2}
  register: verify
'''

RETURN = r'''
passed:
  description: Whether every region's share is within the tolerance, failures are within I(max_failures)
    and no page left its cluster.
  type: bool
  returned: always
  sample: true
requests:
  description: Requests sent.
  type: int
  returned: always
  sample: 200
failures:
  description: Requests that failed.
  type: int
  returned: always
  sample: 0
in_cluster_violations:
  description: Successful pages whose backend calls went to another cluster (or to none).
  type: int
  returned: always
  sample: 0
regions:
  description: Per region, what was expected and what was seen.
  type: list
  elements: dict
  returned: always
  sample:
    - {name: cn-hangzhou, address: 127.0.1.1, weight: 50, expected_share: 0.5, requests: 97, share: 0.485,
       ok: 97, within_tolerance: true, clusters: {cluster-1: 97}}
problems:
  description: Why the check did not pass, one line each (empty when it passed).
  type: list
  elements: str
  returned: always
  sample: []
samples:
  description: Up to 10 failed or out-of-cluster requests, with what was seen.
  type: list
  elements: dict
  returned: always
  sample: [{address: 127.0.2.1, status: 0, error: "[Errno 111] Connection refused"}]
'''

import http.client as http_client
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import dns.exception
    import dns.resolver
    HAS_DNS = True
    DNS_IMPORT_ERROR = None
except ImportError:
    HAS_DNS = False
    DNS_IMPORT_ERROR = traceback.format_exc()

MAX_REQUESTS = 2000


def parse_backends(value):
    """'details=cluster-1,reviews=cluster-1' -> {'details': 'cluster-1', 'reviews': 'cluster-1'}."""
    out = {}
    for part in (value or '').split(','):
        if '=' in part:
            name, cluster = part.split('=', 1)
            out[name.strip()] = cluster.strip()
    return out


def in_cluster(cluster, backends):
    """True when every backend call that happened was served by cluster ('none' = not called)."""
    if not cluster or not backends:
        return False
    return all(served in (cluster, 'none') for served in backends.values())


def validate(params):
    problems = []
    if not 1 <= params['requests'] <= MAX_REQUESTS:
        problems.append('requests must be between 1 and %d, got %d' % (MAX_REQUESTS, params['requests']))
    if not 0 <= params['tolerance'] <= 1:
        problems.append('tolerance must be a fraction between 0 and 1, got %s' % params['tolerance'])
    if params['timeout'] <= 0:
        problems.append('timeout must be positive')
    if params['rate'] < 0:
        problems.append('rate must be 0 (no pacing) or a positive number of requests per second, got %s'
                        % params['rate'])
    if not params['regions']:
        problems.append('regions must list at least one region')
    seen = set()
    for region in params['regions']:
        if region['weight'] < 0:
            problems.append('region %s: weight must not be negative' % region['name'])
        if region['address'] in seen:
            problems.append('address %s is listed for two regions' % region['address'])
        seen.add(region['address'])
    if params['regions'] and sum(r['weight'] for r in params['regions']) <= 0:
        problems.append('the regions\' weights add up to 0')
    return problems


def make_resolver(server, port, timeout):
    if server:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [server]
        resolver.port = port
    else:
        resolver = dns.resolver.Resolver()
    resolver.timeout = timeout
    resolver.lifetime = timeout
    resolver.cache = None  # every request asks again, as GTM's weights apply per answer
    return resolver


def one_request(resolver, params):
    """Resolve, then GET; returns a dict describing what happened."""
    seen = {'address': None, 'status': 0}
    try:
        answer = resolver.resolve(params['domain'], 'A')
        addresses = [r.address for r in answer]
    except dns.exception.DNSException as exc:
        seen['error'] = 'DNS: %s' % exc
        return seen
    if not addresses:
        seen['error'] = 'DNS: empty answer'
        return seen
    seen['address'] = addresses[0]
    conn = http_client.HTTPConnection(addresses[0], params['port'], timeout=params['timeout'])
    try:
        conn.request('GET', params['path'], headers={'Host': params['domain'], 'User-Agent': 'meshdr-dr-verify',
                                                     'Connection': 'close'})
        resp = conn.getresponse()
        resp.read()
        seen['status'] = resp.status
        seen['cluster'] = resp.getheader(params['cluster_header']) or ''
        seen['backends'] = parse_backends(resp.getheader(params['backends_header']))
    except (OSError, http_client.HTTPException) as exc:
        seen['error'] = str(exc)
    finally:
        conn.close()
    return seen


def paced(count, rate, send, clock=time.monotonic, sleep=time.sleep):
    """send() count times, request i starting no sooner than i / rate seconds after the first."""
    # Spaced, not bursty: Envoy's local rate limit filter takes one token per request from a bucket refilled
    # every fill_interval and answers 429 when it is empty (Envoy docs, HTTP local rate limit filter;
    # ASMLocalRateLimiter's quota and fill_interval are that bucket), so a burst fails where the same count
    # spread over time does not.
    results = []
    start = clock()
    for i in range(count):
        if rate:
            delay = start + i / float(rate) - clock()
            if delay > 0:
                sleep(delay)
        results.append(send())
    return results


def summarise(params, results):
    total_weight = float(sum(r['weight'] for r in params['regions']))
    by_address = dict((r['address'], r) for r in params['regions'])
    report = []
    for region in params['regions']:
        report.append({'name': region['name'], 'address': region['address'], 'weight': region['weight'],
                       'expected_share': round(region['weight'] / total_weight, 4), 'requests': 0, 'ok': 0,
                       'clusters': {}})
    index = dict((r['address'], i) for i, r in enumerate(params['regions']))
    failures, violations, samples, problems = 0, 0, [], []
    for seen in results:
        entry = report[index[seen['address']]] if seen.get('address') in index else None
        if entry is not None:
            entry['requests'] += 1
        if seen.get('status') != 200 or entry is None:
            failures += 1
            if entry is None and seen.get('address'):
                seen['error'] = seen.get('error') or 'address not in regions'
            if len(samples) < 10:
                samples.append(seen)
            continue
        entry['ok'] += 1
        cluster = seen.get('cluster') or ''
        entry['clusters'][cluster] = entry['clusters'].get(cluster, 0) + 1
        expected_cluster = by_address[seen['address']].get('cluster')
        if params['check_in_cluster'] and (not in_cluster(cluster, seen.get('backends'))
                                           or (expected_cluster and cluster != expected_cluster)):
            violations += 1
            if len(samples) < 10:
                samples.append(seen)
    for entry in report:
        entry['share'] = round(entry['requests'] / float(len(results)), 4)
        entry['within_tolerance'] = abs(entry['share'] - entry['expected_share']) <= params['tolerance']
        if not entry['within_tolerance']:
            problems.append('%s (%s) got %.1f%% of the requests, expected %.1f%% +/- %.1f points' % (
                entry['name'], entry['address'], 100 * entry['share'], 100 * entry['expected_share'],
                100 * params['tolerance']))
    if failures > params['max_failures']:
        problems.append('%d of %d requests failed (at most %d allowed)'
                        % (failures, len(results), params['max_failures']))
    if violations:
        problems.append('%d pages had backend calls outside the cluster that served them' % violations)
    return {'passed': not problems, 'requests': len(results), 'failures': failures,
            'in_cluster_violations': violations, 'regions': report, 'problems': problems, 'samples': samples}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            domain=dict(type='str', required=True),
            dns_server=dict(type='str'),
            dns_port=dict(type='int', default=53),
            port=dict(type='int', default=80),
            path=dict(type='str', default='/productpage'),
            requests=dict(type='int', default=100),
            timeout=dict(type='float', default=5.0),
            regions=dict(type='list', elements='dict', required=True, options=dict(
                name=dict(type='str', required=True),
                address=dict(type='str', required=True),
                weight=dict(type='int', required=True),
                cluster=dict(type='str'),
            )),
            tolerance=dict(type='float', default=0.15),
            rate=dict(type='float', default=0.0),
            max_failures=dict(type='int', default=0),
            check_in_cluster=dict(type='bool', default=True),
            cluster_header=dict(type='str', default='x-drlab-cluster'),
            backends_header=dict(type='str', default='x-drlab-backends'),
            fail_on_mismatch=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    if not HAS_DNS:
        module.fail_json(msg=missing_required_lib('dnspython'), exception=DNS_IMPORT_ERROR)
    params = module.params
    problems = validate(params)
    if problems:
        module.fail_json(msg='invalid arguments: ' + '; '.join(problems))
    resolver = make_resolver(params['dns_server'], params['dns_port'], params['timeout'])
    results = paced(params['requests'], params['rate'], lambda: one_request(resolver, params))
    report = summarise(params, results)
    if not report['passed'] and params['fail_on_mismatch']:
        module.fail_json(msg='verify failed: ' + '; '.join(report['problems']), changed=False, **report)
    module.exit_json(changed=False, **report)


if __name__ == '__main__':
    main()
