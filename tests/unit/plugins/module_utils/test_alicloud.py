"""Unit tests for the shared module base: credentials, retries, error folding, secret scrubbing."""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from alibabacloud_servicemesh20200111 import models as sm_models
from alibabacloud_servicemesh20200111.client import Client as ServiceMeshClient
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
from alibabacloud_tea_util import models as util_models
from ansible.module_utils.testing import patch_module_args

from ansible_collections.meshdr.alicloud.plugins.module_utils import alicloud

SECRET = "s3cr3t-Value-Never-Shown"


# -- credential precedence --------------------------------------------------------

def _module(monkeypatch, args, env=None):
    for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALICLOUD_ACCESS_KEY",
                 "ALICLOUD_SECRET_KEY", "ALIBABA_CLOUD_PROFILE", "ALICLOUD_PROFILE", "ALIBABA_CLOUD_SECURITY_TOKEN",
                 "ALIBABA_CLOUD_CREDENTIALS_FILE", "MESHDR_SERVICEMESH_ENDPOINT", "MESHDR_ALICLOUD_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    with patch_module_args(args):
        return alicloud.AlibabaCloudModule(argument_spec={}, supports_check_mode=True)


def test_options_beat_environment(monkeypatch):
    module = _module(monkeypatch, {"access_key_id": "opt-id", "access_key_secret": "opt-secret"},
                     {"ALIBABA_CLOUD_ACCESS_KEY_ID": "env-id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "env-secret"})
    assert module.params["access_key_id"] == "opt-id"
    assert module.params["access_key_secret"] == "opt-secret"
    assert alicloud.resolve_credentials(module.params) == ("static", False)


def test_environment_used_and_new_names_beat_legacy(monkeypatch):
    module = _module(monkeypatch, {}, {"ALIBABA_CLOUD_ACCESS_KEY_ID": "new-id", "ALICLOUD_ACCESS_KEY": "old-id",
                                       "ALICLOUD_SECRET_KEY": "old-secret"})
    assert module.params["access_key_id"] == "new-id"
    assert module.params["access_key_secret"] == "old-secret"


def test_keys_beat_profile_and_profile_beats_default_chain(monkeypatch):
    keys = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret"}
    module = _module(monkeypatch, {"profile": "prod"}, keys)
    assert alicloud.resolve_credentials(module.params)[0] == "static"
    module = _module(monkeypatch, {}, {"ALIBABA_CLOUD_PROFILE": "prod"})
    assert alicloud.resolve_credentials(module.params)[0] == "profile"
    module = _module(monkeypatch, {})
    assert alicloud.resolve_credentials(module.params)[0] == "default"


def test_security_token_means_sts_and_half_a_key_pair_is_an_error(monkeypatch):
    module = _module(monkeypatch, {"access_key_id": "i", "access_key_secret": "s", "security_token": "t"})
    assert alicloud.resolve_credentials(module.params)[0] == "sts"
    with pytest.raises(ValueError, match="together"):
        alicloud.resolve_credentials({"access_key_id": "only-id"})


def test_assume_role_wraps_the_source(monkeypatch):
    module = _module(monkeypatch, {"access_key_id": "i", "access_key_secret": "s",
                                   "assume_role": {"role_arn": "acs:ram::1:role/x"}})
    kind, provider = alicloud.build_credential_provider(module.params)
    assert kind == "static"
    assert type(provider).__name__ == "RamRoleArnCredentialsProvider"


def test_secrets_are_no_log(monkeypatch):
    module = _module(monkeypatch, {"access_key_id": "i", "access_key_secret": SECRET})
    assert SECRET in module.no_log_values


def _failure(capsys, writes, **kwargs):
    with patch_module_args({"access_key_id": "i", "access_key_secret": SECRET}):
        module = alicloud.AlibabaCloudModule(argument_spec={})
        for what in writes:
            module.wrote(what)
        with pytest.raises(SystemExit):
            module.fail_json(**kwargs)
    return json.loads(capsys.readouterr().out)


def test_a_failure_before_any_write_keeps_changed_as_given(capsys):
    result = _failure(capsys, [], msg="bad input")
    assert not result.get("changed") and "writes" not in result


def test_a_failure_after_a_write_says_changed_and_lists_the_writes(capsys):
    """A module never answers changed=false once it wrote, whatever the failing branch passes."""
    result = _failure(capsys, ["CreateCloudGtmAddressPool", "patched IstioGateway istio-system/ingressgateway"],
                      msg="later step failed", changed=False)
    assert result["changed"] is True
    assert result["writes"] == ["CreateCloudGtmAddressPool", "patched IstioGateway istio-system/ingressgateway"]


# -- retry policy --------------------------------------------------------------------

def _failing(errors, result="ok"):
    calls = {"n": 0}

    def func():
        calls["n"] += 1
        if errors:
            raise errors.pop(0)
        return result

    return func, calls


@pytest.mark.parametrize("code,status", [
    ("Throttling.User", 400), ("Throttling", 400), ("ServiceUnavailable", 503), ("InternalError", 500),
    ("DnsGtmSystemBusyness", 400), ("SomethingNew", 502),
    # terraform-provider-alicloud errors.go NeedRetry, resource_alicloud_alidns_record.go/_domain.go
    ("Rejected.Throttling", 400), ("LastOperationNotFinished", 400), ("RecordForbidden.DNSChange", 400),
    ("DnsSystemBusyness", 400),
])
def test_retryable_answers_are_retried_until_success(code, status, fake_clock):
    clock = fake_clock
    exc_class = ServerException if status >= 500 else ClientException
    func, calls = _failing([exc_class(code=code, status_code=status, message="m") for i in range(3)])
    assert alicloud.call_with_retry(func, attempts=8, sleep=clock.sleep, clock=clock.clock) == "ok"
    assert calls["n"] == 4
    assert len(clock.sleeps) == 3


@pytest.mark.parametrize("code", ["InvalidParameter", "ServiceMesh.NotFound", "SignatureDoesNotMatch",
                                  "Forbidden.RAM", "OperationConflict", "ServiceBusy", "StillInitializing"])
def test_other_4xx_fail_at_once(code, fake_clock):
    clock = fake_clock
    func, calls = _failing([ClientException(code=code, status_code=400, message="bad")])
    with pytest.raises(alicloud.AlicloudError) as raised:
        alicloud.call_with_retry(func, attempts=8, sleep=clock.sleep, clock=clock.clock)
    assert calls["n"] == 1
    assert clock.sleeps == []
    assert raised.value.code == code


def test_attempts_are_bounded(fake_clock):
    clock = fake_clock
    func, calls = _failing([ClientException(code="Throttling.User", status_code=400, message="m")
                            for i in range(20)])
    with pytest.raises(alicloud.AlicloudError):
        alicloud.call_with_retry(func, attempts=5, sleep=clock.sleep, clock=clock.clock)
    assert calls["n"] == 5


def test_total_time_is_bounded(fake_clock):
    clock = fake_clock
    func, calls = _failing([ServerException(code="ServiceUnavailable", status_code=503, message="m")
                            for i in range(50)])
    with pytest.raises(alicloud.AlicloudError):
        alicloud.call_with_retry(func, attempts=50, max_time=12.0, sleep=clock.sleep, clock=clock.clock)
    assert clock.now <= 12.0
    assert calls["n"] < 50


def test_backoff_grows_with_full_jitter_and_is_capped():
    class Top:
        @staticmethod
        def uniform(low, high):
            return high

    assert list(alicloud.backoff_delays(7, base=0.5, cap=10.0, rng=Top)) == [0.5, 1, 2, 4, 8, 10, 10]


def test_a_resources_own_busy_code_is_retried_only_where_the_call_says_so(fake_clock):
    clock = fake_clock
    func, calls = _failing([ClientException(code="StillInitializing", status_code=400, message="busy")])
    assert alicloud.call_with_retry(func, sleep=clock.sleep, clock=clock.clock,
                                    retry_codes=("StillInitializing",)) == "ok"
    assert calls["n"] == 2


def test_adopt_turns_already_exists_into_the_existing_object(fake_clock):
    clock = fake_clock
    func, calls = _failing([ClientException(code="NameAlreadyExist", status_code=400, message="exists")])
    adopted = alicloud.call_with_retry(func, sleep=clock.sleep, clock=clock.clock,
                                       adopt=lambda: {"ServiceMeshId": "c1"})
    assert adopted == {"ServiceMeshId": "c1"}
    assert calls["n"] == 1


def test_adopt_finding_nothing_keeps_the_original_error():
    func, _calls = _failing([ClientException(code="InvalidParameter", status_code=400, message="bad")])
    with pytest.raises(alicloud.AlicloudError, match="InvalidParameter"):
        alicloud.call_with_retry(func, sleep=lambda s: None, adopt=lambda: None)


def test_network_errors_are_retryable():
    assert alicloud.fold_exception(ConnectionRefusedError("refused")).retryable
    assert alicloud.is_retryable("X", None, network_error=True)


# -- transport: the real SDK against a local server with the real error bodies -----------

class ErrorServer(BaseHTTPRequestHandler):
    script = []
    seen = []

    def _answer(self):
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        ErrorServer.seen.append(self.headers.get("x-acs-action"))
        status, body = ErrorServer.script.pop(0)
        if status is None:  # the service acted, then the reply was lost
            self.close_connection = True
            self.connection.shutdown(2)
            return
        headers = body.pop("__headers__", {}) if isinstance(body, dict) else {}
        payload = json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-type", "application/json;charset=utf-8")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def error_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ErrorServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ErrorServer.script = []
    ErrorServer.seen = []
    yield server
    server.shutdown()


def _error_body(code, message):
    return {"RequestId": "4C467B38-3910-447D-87BC-AC049166F216", "HostId": "servicemesh.aliyuncs.com",
            "Code": code, "Message": message,
            "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}&product=servicemesh"}


def _sdk_call(server):
    config = open_api_models.Config(access_key_id="LTAI-test", access_key_secret=SECRET,
                                    endpoint=f"127.0.0.1:{server.server_address[1]}", protocol="http")
    client = ServiceMeshClient(config)
    request = sm_models.DescribeServiceMeshDetailRequest(service_mesh_id="c0000")
    return lambda: client.describe_service_mesh_detail_with_options(request, util_models.RuntimeOptions())


def test_real_error_body_is_folded_with_code_request_id_and_status(error_server):
    ErrorServer.script = [(404, _error_body("ServiceMesh.NotFound", "The specified mesh does not exist."))]
    with pytest.raises(alicloud.AlicloudError) as raised:
        alicloud.call_with_retry(_sdk_call(error_server), action="DescribeServiceMeshDetail", sleep=lambda s: None)
    error = raised.value
    assert error.code == "ServiceMesh.NotFound"
    assert error.request_id == "4C467B38-3910-447D-87BC-AC049166F216"
    assert error.http_status == 404
    assert "does not exist" in error.message
    assert error.as_dict()["action"] == "DescribeServiceMeshDetail"
    assert SECRET not in json.dumps(error.as_dict())


def test_real_sdk_throttling_then_5xx_then_success(error_server):
    ErrorServer.script = [
        (400, _error_body("Throttling.User", "Request was denied due to user flow control.")),
        (503, _error_body("ServiceUnavailable", "The request has failed due to a temporary failure.")),
        (200, {"RequestId": "ok", "ServiceMesh": {"ServiceMeshInfo": {"ServiceMeshId": "c0000", "State": "running"}}}),
    ]
    response = alicloud.call_with_retry(_sdk_call(error_server), sleep=lambda s: None)
    assert response.body.service_mesh.service_mesh_info.state == "running"
    assert len(ErrorServer.seen) == 3


def _closed_server_client(server):
    """A client of a server that is gone: connection refused, the request never sent."""
    port = server.server_address[1]
    server.shutdown()
    server.server_close()
    config = open_api_models.Config(access_key_id="a", access_key_secret=SECRET, endpoint=f"127.0.0.1:{port}",
                                    protocol="http", connect_timeout=500, read_timeout=500)
    return ServiceMeshClient(config)


def test_connection_refused_is_retried_then_reported(error_server):
    client = _closed_server_client(error_server)
    request = sm_models.DescribeServiceMeshDetailRequest(service_mesh_id="c0000")
    sleeps = []
    with pytest.raises(alicloud.AlicloudError) as raised:
        alicloud.call_with_retry(lambda: client.describe_service_mesh_detail_with_options(
            request, util_models.RuntimeOptions()), attempts=3, sleep=sleeps.append)
    assert len(sleeps) == 2
    assert raised.value.retryable
    assert SECRET not in str(raised.value)


def _create_call(server):
    config = open_api_models.Config(access_key_id="LTAI-test", access_key_secret=SECRET,
                                    endpoint=f"127.0.0.1:{server.server_address[1]}", protocol="http",
                                    read_timeout=5000)
    client = ServiceMeshClient(config)
    request = sm_models.CreateServiceMeshRequest(name="dr-1", region_id="cn-hangzhou", vpc_id="vpc-1")
    return lambda: client.create_service_mesh_with_options(request, util_models.RuntimeOptions())


def test_lost_reply_of_a_create_is_adopted_not_repeated(error_server):
    ErrorServer.script = [(None, None)]
    adopted = alicloud.call_with_retry(_create_call(error_server), action="CreateServiceMesh", sleep=lambda s: None,
                                       adopt=lambda: {"ServiceMeshId": "c1"}, repeatable=False)
    assert adopted == {"ServiceMeshId": "c1"}
    assert ErrorServer.seen == ["CreateServiceMesh"]


def test_lost_reply_of_a_create_is_repeated_once_nothing_was_created(error_server):
    ErrorServer.script = [(None, None), (200, {"RequestId": "r", "ServiceMeshId": "c2"})]
    response = alicloud.call_with_retry(_create_call(error_server), sleep=lambda s: None,
                                        adopt=lambda: None, repeatable=False)
    assert response.body.service_mesh_id == "c2"
    assert ErrorServer.seen == ["CreateServiceMesh", "CreateServiceMesh"]


def test_lost_reply_of_a_create_without_a_way_to_find_it_is_not_repeated(error_server):
    ErrorServer.script = [(None, None), (200, {"RequestId": "r", "ServiceMeshId": "duplicate"})]
    with pytest.raises(alicloud.AlicloudError, match="not repeated blindly") as raised:
        alicloud.call_with_retry(_create_call(error_server), action="CreateServiceMesh", sleep=lambda s: None,
                                 repeatable=False)
    assert raised.value.outcome_unknown
    assert ErrorServer.seen == ["CreateServiceMesh"]


def test_a_create_that_never_reached_the_service_is_repeated(error_server):
    client = _closed_server_client(error_server)
    request = sm_models.CreateServiceMeshRequest(name="dr-1")
    sleeps = []
    with pytest.raises(alicloud.AlicloudError) as raised:
        alicloud.call_with_retry(lambda: client.create_service_mesh_with_options(request, util_models.RuntimeOptions()),
                                 attempts=3, sleep=sleeps.append, repeatable=False)
    assert not raised.value.outcome_unknown
    assert len(sleeps) == 2


def test_the_wait_the_service_asks_for_is_honoured(error_server):
    ErrorServer.script = [
        (400, dict(_error_body("Throttling.User", "flow control"), __headers__={"x-acs-retry-after": "3000"})),
        (200, {"RequestId": "ok", "ServiceMesh": {"ServiceMeshInfo": {"State": "running"}}}),
    ]
    sleeps = []
    alicloud.call_with_retry(_sdk_call(error_server), sleep=sleeps.append, rng=type("R", (), {
        "uniform": staticmethod(lambda low, high: 0.1)}))
    assert sleeps == [3.0]


# -- helpers ------------------------------------------------------------------------------

def test_scrub_masks_secrets():
    assert alicloud.scrub(f"key {SECRET} leaked", [SECRET, None]) == "key ******** leaked"


def test_compare_dicts_only_looks_at_what_the_user_set():
    current = {"a": 1, "b": {"c": 2, "d": 3}, "extra": "server default"}
    assert alicloud.compare_dicts({"a": 1, "b": {"c": 2}, "z": None}, current) == []
    assert alicloud.compare_dicts({"b": {"d": 4}}, current) == [("b.d", 3, 4)]


def test_wait_for_names_the_resource_and_last_state(fake_clock):
    clock = fake_clock
    with pytest.raises(alicloud.WaitTimeout, match=r"mesh dr-1 .*initial"):
        alicloud.wait_for(lambda: {"State": "initial"}, lambda v: v["State"] == "running", 10, "mesh dr-1",
                          delay=2, sleep=clock.sleep, clock=clock.clock, describe=lambda v: v["State"])


def test_snake_case_matches_sdk_method_names():
    assert alicloud.snake_case("DescribeServiceMeshDetail") == "describe_service_mesh_detail"
    assert alicloud.snake_case("CreateASMGateway") == "create_asmgateway"
    assert hasattr(ServiceMeshClient, "create_asmgateway_with_options")
    assert alicloud.snake_case("ListCloudGtmMonitorTemplates") == "list_cloud_gtm_monitor_templates"


def test_the_retry_documentation_names_exactly_the_codes_the_code_retries():
    """The doc fragment is what users read; it must not drift from RETRYABLE_CODES and the patterns."""
    import yaml

    from ansible_collections.meshdr.alicloud.plugins.doc_fragments.alicloud import ModuleDocFragment
    text = " ".join(yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]["api_retries"]["description"])
    named = set(re.findall(r"C\(([A-Za-z.]+)\)", text))
    for code in alicloud.RETRYABLE_CODES:
        assert code in named, code
    assert "Throttling" in named and "SystemBusyness" in named  # the two patterns
    retried = {c for c in named if alicloud.is_retryable(c) or c in ("SystemBusyness",)}
    assert named - retried <= {"x-acs-retry-after", "ClientToken"}, named - retried
