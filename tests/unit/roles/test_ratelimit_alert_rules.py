"""The ratelimit role's alert rules, checked by Prometheus' own tools.

The template is rendered by Ansible's templar with the role's variables, then
``promtool check rules`` parses it and ``promtool test rules`` evaluates every alert against
series that must make it fire and series that must not.  Metric names and labels in the
fixtures are the ones a real Envoy publishes (``envoy_http_local_rate_limit_*`` with the
``envoy_local_http_ratelimit_prefix`` tag, as scraped from the lab's Envoy) and the
kube-state-metrics v2 names; a rule written against a name nothing publishes fails here.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TEMPLATE = os.path.join(ROOT, "roles", "ratelimit", "templates", "meshdr-ratelimit-rules.yml.j2")
REGION = "cn-hangzhou"
OTHER = "ap-southeast-1"

VARIABLES = {
    "ratelimit_mesh_name": "meshdr-cn-hangzhou", "ratelimit_region_id": REGION,
    "ratelimit_gateway_name": "ingressgateway", "ratelimit_stat_prefix": "http_local_rate_limiter",
    "ratelimit_quota": 100, "ratelimit_fill_interval_seconds": 1, "ratelimit_route": "productpage",
    "ratelimit_alert_for": "1m", "ratelimit_alert_share": 0.05, "ratelimit_alert_rate_limited_per_second": 1,
    "ratelimit_alert_no_replica_for": "1m", "ratelimit_capacity_share": 0.8, "ratelimit_max_replicas": 3,
    "ratelimit_metric_matchers": f'region="{REGION}"',
    "ratelimit_gtm_alert_metric": "drlab_gtm_address_available",
}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: `make monitoring-deps` installs the Debian package prometheus (as root)")
    return path


def render(**overrides) -> str:
    templar = Templar(loader=DataLoader(), variables={**VARIABLES, **overrides})
    with open(TEMPLATE, encoding="utf-8") as handle:
        return templar.template(trust_as_template(handle.read()))


def envoy(counter: str, values: str, region: str = REGION, pod: str = "istio-ingressgateway-abc-0") -> dict:
    labels = (f'{{envoy_local_http_ratelimit_prefix="http_local_rate_limiter",namespace="istio-system",'
              f'pod="{pod}",region="{region}"}}')
    return {"series": f"envoy_http_local_rate_limit_{counter}{labels}", "values": values}


def replicas(values: str, region: str = REGION) -> dict:
    return {"series": f'kube_deployment_status_replicas_available{{namespace="istio-system",'
                      f'deployment="istio-ingressgateway",region="{region}"}}', "values": values}


def hpa_max(values: str) -> dict:
    return {"series": f'kube_horizontalpodautoscaler_spec_max_replicas{{namespace="istio-system",'
                      f'horizontalpodautoscaler="istio-ingressgateway",region="{REGION}"}}', "values": values}


def gtm(values: str, region: str = REGION) -> dict:
    return {"series": f'drlab_gtm_address_available{{address_id="a1",address="127.0.1.1",region="{region}"}}',
            "values": values}


def _descriptions() -> dict[str, str]:
    rules = yaml.safe_load(render())["groups"][0]["rules"]
    return {r["alert"]: r["annotations"]["description"] for r in rules
            if "alert" in r and "description" in r.get("annotations", {})}


def fires(alertname: str, summary: str, eval_time: str = "5m", **extra_labels) -> dict:
    """The alert fires with these labels and this summary (Prometheus templates rendered)."""
    annotations = {"summary": summary}
    if alertname in _descriptions():
        annotations["description"] = _descriptions()[alertname]
    return {"alertname": alertname, "eval_time": eval_time,
            "exp_alerts": [{"exp_labels": {"region": REGION, **extra_labels}, "exp_annotations": annotations}]}


def silent(alertname: str, eval_time: str = "5m") -> dict:
    return {"alertname": alertname, "eval_time": eval_time, "exp_alerts": []}


SHARE_HIGH = "More than 5% of requests are rate limited on the gateway in cn-hangzhou"
NO_REPLICA = "No ready replica of gateway istio-ingressgateway in cn-hangzhou"
# 250/s against 100/s per replica x 3 replicas
NEAR_CAPACITY = "The gateway in cn-hangzhou carries 83.33% of what it can serve at its maximum replicas"

# (name, input series, expectations); counters are per minute: 0+300x10 is 5 per second.
CASES = [
    ("429s above the threshold fire", [envoy("rate_limited", "0+300x10"), envoy("enabled", "0+6000x10")],
     [fires("MeshdrGatewayRateLimited", "The gateway in cn-hangzhou rejects requests with HTTP 429 (5.0/s)",
            severity="warning")]),
    ("429s below the threshold do not", [envoy("rate_limited", "0+30x10"), envoy("enabled", "0+6000x10")],
     [silent("MeshdrGatewayRateLimited"), silent("MeshdrGatewayRateLimitedShareHigh")]),
    ("429s that last less than `for` do not", [envoy("rate_limited", "0 0 0 0 300"), envoy("enabled", "0+6000x4")],
     [silent("MeshdrGatewayRateLimited", eval_time="4m")]),
    ("another region's 429s do not", [envoy("rate_limited", "0+3000x10", region=OTHER),
                                      envoy("enabled", "0+6000x10", region=OTHER)],
     [silent("MeshdrGatewayRateLimited"), silent("MeshdrGatewayRateLimitedShareHigh")]),
    ("a high share of 429s is critical", [envoy("rate_limited", "0+600x10"), envoy("enabled", "0+6000x10")],
     [fires("MeshdrGatewayRateLimitedShareHigh", SHARE_HIGH, severity="critical")]),
    ("no ready replica fires", [replicas("1 1 0 0 0 0 0 0")],
     [fires("MeshdrGatewayNoReadyReplica", NO_REPLICA, severity="critical")]),
    ("a deleted gateway Deployment (no series) fires", [replicas("1 1 _ _ _ _ _ _ _ _"), hpa_max("3x10")],
     [fires("MeshdrGatewayNoReadyReplica", NO_REPLICA, eval_time="8m", severity="critical")]),
    ("ready replicas do not", [replicas("2x10")], [silent("MeshdrGatewayNoReadyReplica")]),
    ("another region without replicas does not", [replicas("2x10"), replicas("0x10", region=OTHER)],
     [silent("MeshdrGatewayNoReadyReplica")]),
    ("above 80% of quota x HPA max fires", [envoy("enabled", "0+15000x10"), hpa_max("3x10")],
     [fires("MeshdrGatewayNearCapacity", NEAR_CAPACITY, severity="warning")]),
    ("below 80% does not", [envoy("enabled", "0+12000x10"), hpa_max("3x10")], [silent("MeshdrGatewayNearCapacity")]),
    ("a larger HPA maximum is more capacity", [envoy("enabled", "0+15000x10"), hpa_max("5x10")],
     [silent("MeshdrGatewayNearCapacity")]),
    ("without the HPA series the inventory's maximum counts", [envoy("enabled", "0+15000x10")],
     [fires("MeshdrGatewayNearCapacity", NEAR_CAPACITY, severity="warning")]),
    ("GTM dropping the address fires", [gtm("1 1 0 0 0 0")],
     [fires("MeshdrGtmAddressUnavailable", "GTM dropped the gateway address of cn-hangzhou (127.0.1.1)",
            eval_time="3m", severity="critical", address="127.0.1.1",
            address_id="a1")]),
    ("an available address does not; nor another region's", [gtm("1x10"), gtm("0x10", region=OTHER)],
     [silent("MeshdrGtmAddressUnavailable")]),
]


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("rules") / "meshdr-ratelimit.rules.yml"
    path.write_text(render(), encoding="utf-8")
    return str(path)


def test_rules_parse_with_promtool(rules_file):
    result = subprocess.run([promtool(), "check", "rules", rules_file], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 7 rules found" in result.stdout


def test_every_alert_has_a_case_that_fires_and_one_that_does_not():
    alerts = {rule["alert"] for rule in yaml.safe_load(render())["groups"][0]["rules"] if "alert" in rule}
    firing = {t["alertname"] for case in CASES for t in case[2] if t["exp_alerts"]}
    quiet = {t["alertname"] for case in CASES for t in case[2] if not t["exp_alerts"]}
    assert alerts == firing == quiet


@pytest.mark.parametrize(("title", "series", "tests"), CASES, ids=[c[0] for c in CASES])
def test_alert_rule(tmp_path, rules_file, title, series, tests):
    shutil.copy(rules_file, tmp_path / "rules.yml")
    spec = {"rule_files": ["rules.yml"], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": tests}]}
    (tmp_path / "test.yml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = subprocess.run([promtool(), "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, f"{title}:\n{result.stdout}{result.stderr}"


def test_without_a_gtm_metric_there_is_no_gtm_alert():
    rules = yaml.safe_load(render(ratelimit_gtm_alert_metric=""))["groups"][0]["rules"]
    assert "MeshdrGtmAddressUnavailable" not in {r.get("alert") for r in rules}
