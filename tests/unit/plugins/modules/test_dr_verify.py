"""Pure helpers of the dr_verify module: header parsing, the in-cluster rule, the weight check."""

from ansible_collections.meshdr.alicloud.plugins.modules import dr_verify

REGIONS = [{"name": "r1", "address": "127.0.1.1", "weight": 50, "cluster": "cluster-1"},
           {"name": "r2", "address": "127.0.2.1", "weight": 50, "cluster": "cluster-2"}]


def params(**over):
    base = {"domain": "d.example.com", "requests": 10, "tolerance": 0.15, "timeout": 5.0, "rate": 0.0,
            "regions": REGIONS, "max_failures": 0, "check_in_cluster": True}
    base.update(over)
    return base


def page(address, cluster, backends="details={c},reviews={c},ratings={c}", status=200):
    return {"address": address, "status": status, "cluster": cluster,
            "backends": dr_verify.parse_backends(backends.format(c=cluster))}


def test_parse_backends():
    assert dr_verify.parse_backends("details=cluster-1, reviews=cluster-2") == {
        "details": "cluster-1", "reviews": "cluster-2"}
    assert dr_verify.parse_backends(None) == {}


def test_in_cluster_allows_none_but_not_other_clusters_or_unavailable():
    assert dr_verify.in_cluster("c1", {"details": "c1", "reviews": "c1", "ratings": "none"})
    assert not dr_verify.in_cluster("c1", {"details": "c1", "reviews": "c2"})
    assert not dr_verify.in_cluster("c1", {"details": "unavailable"})
    assert not dr_verify.in_cluster("c1", {})


def test_even_split_passes():
    results = [page("127.0.1.1", "cluster-1")] * 5 + [page("127.0.2.1", "cluster-2")] * 5
    report = dr_verify.summarise(params(), results)
    assert report["passed"], report["problems"]
    assert [r["share"] for r in report["regions"]] == [0.5, 0.5]


def test_skewed_split_fails_with_the_region_named():
    results = [page("127.0.1.1", "cluster-1")] * 9 + [page("127.0.2.1", "cluster-2")]
    report = dr_verify.summarise(params(), results)
    assert not report["passed"]
    assert any(p.startswith("r1 (127.0.1.1) got 90.0%") for p in report["problems"])


def test_cross_cluster_backend_and_wrong_front_cluster_are_violations():
    results = ([page("127.0.1.1", "cluster-1", "details=cluster-1,reviews=cluster-2,ratings=cluster-2")]
               + [page("127.0.2.1", "cluster-1")] + [page("127.0.1.1", "cluster-1")] * 4
               + [page("127.0.2.1", "cluster-2")] * 4)
    report = dr_verify.summarise(params(), results)
    assert report["in_cluster_violations"] == 2
    assert not report["passed"]
    assert len(report["samples"]) == 2


def test_failures_and_unknown_addresses_count_against_max_failures():
    results = ([page("127.0.1.1", "cluster-1")] * 4 + [page("127.0.2.1", "cluster-2")] * 4
               + [{"address": "127.0.2.1", "status": 0, "error": "refused"}, page("10.9.9.9", "x")])
    report = dr_verify.summarise(params(), results)
    assert report["failures"] == 2
    assert not dr_verify.summarise(params(), results)["passed"]
    assert dr_verify.summarise(params(max_failures=2, check_in_cluster=False), results)["passed"]


def test_validate_rejects_bad_input():
    assert dr_verify.validate(params()) == []
    assert dr_verify.validate(params(requests=0))
    assert dr_verify.validate(params(tolerance=2))
    assert dr_verify.validate(params(rate=-1)) == [
        "rate must be 0 (no pacing) or a positive number of requests per second, got -1"]
    assert dr_verify.validate(params(regions=[dict(REGIONS[0], weight=0)]))
    assert dr_verify.validate(params(regions=[REGIONS[0], dict(REGIONS[1], address="127.0.1.1")]))


def test_paced_requests_start_evenly_at_the_rate(fake_clock):
    clock, starts = fake_clock, []

    def send():
        starts.append(clock.now)
        clock.now += 0.004  # each request takes 4 ms
        return {'status': 200}
    results = dr_verify.paced(5, 50, send, clock=clock.clock, sleep=clock.sleep)
    assert len(results) == 5
    assert [round(t, 6) for t in starts] == [0.0, 0.02, 0.04, 0.06, 0.08]


def test_requests_slower_than_the_rate_are_not_delayed_further(fake_clock):
    clock = fake_clock

    def send():
        clock.now += 0.5
        return {'status': 200}
    dr_verify.paced(3, 10, send, clock=clock.clock, sleep=clock.sleep)
    assert clock.sleeps == []


def test_rate_zero_sends_back_to_back(fake_clock):
    clock = fake_clock
    dr_verify.paced(4, 0, lambda: {'status': 200}, clock=clock.clock, sleep=clock.sleep)
    assert clock.sleeps == []
