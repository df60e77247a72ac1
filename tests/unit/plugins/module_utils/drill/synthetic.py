"""Synthetic drill records with known answers, shared by the analysis and report tests."""

A = '127.0.1.1'
B = '127.0.2.1'
REGIONS = [{'name': 'region-a', 'address': A, 'cluster': 'cluster-1'},
           {'name': 'region-b', 'address': B, 'cluster': 'cluster-2'}]


def drill_records(duration=60, qps=100, fault=20.0, error_seconds=3, error='refused'):
    """Requests alternate A/B; from ``fault`` for ``error_seconds`` A's requests fail with ``error``;
    after that window every request goes to B (GTM dropped A)."""
    records = []
    for i in range(int(duration * qps)):
        t = round(i / float(qps), 4)
        if t >= fault + error_seconds:
            addr = B
        else:
            addr = A if i % 2 == 0 else B
        failed = addr == A and fault <= t < fault + error_seconds
        records.append({
            't': t, 'addr': addr, 'status': -1 if failed else 200, 'error': error if failed else None,
            'latency': 0.002 if not failed else 0.0005,
            'cluster': None if failed else ('cluster-1' if addr == A else 'cluster-2'), 'tries': 1,
        })
    return records


def gtm_polls(duration=60, every=2.0, down_at=22.0, up_at=50.0):
    """GTM polled every ``every`` s: A unavailable from ``down_at`` to ``up_at``; B always available."""
    obs = []
    t = 0.0
    while t < duration:
        obs.append({'time': t, 'address': A, 'available': not (down_at <= t < up_at)})
        obs.append({'time': t, 'address': B, 'available': True})
        t += every
    return obs
