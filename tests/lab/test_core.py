"""The lab's process model: up, status, env, down, restart, and where it binds."""

import json
import os
import stat
import subprocess

import pytest

from drlab.testing import LabHandle


@pytest.fixture(scope="module")
def lab():
    handle = LabHandle().up()
    yield handle
    handle.down()


def test_status_tells_what_runs_where(lab):
    status = lab.status()
    assert status["emulator"].startswith("drlab")
    assert status["cloud_endpoint"] == lab.endpoint
    assert [r["id"] for r in status["regions"]] == ["cn-hangzhou", "ap-southeast-1"]
    octet = lab.topology["region_address"].split(".")[1]
    assert [r["address"] for r in status["regions"]] == [f"127.{octet}.1.1", f"127.{octet}.2.1"]
    clusters = [c["id"] for r in status["regions"] for c in r["clusters"]]
    assert len(set(clusters)) == 2 and all(c.startswith("c") and len(c) == 33 for c in clusters)


def test_cli_status_json_masks_the_secret_unless_asked(lab):
    shown = json.loads(lab.cli("status", "--json").stdout)
    assert shown["running"] is True
    assert shown["access_key_secret"] == "********"
    full = json.loads(lab.cli("status", "--json", "--show-secrets").stdout)
    assert full["access_key_secret"] == lab.credentials["access_key_secret"]


def test_credentials_file_is_private(lab):
    mode = stat.S_IMODE(os.stat(lab.labdir.credentials_file).st_mode)
    assert mode == 0o600


def test_admin_routes_need_the_private_lab_token(lab):
    import urllib.error
    import urllib.request

    assert stat.S_IMODE(os.stat(lab.labdir.admin_token_file).st_mode) == 0o600 and len(lab.admin_token) >= 32
    for path in ("status", "faults", "calls", "events", "kube/servers"):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"http://{lab.endpoint}/__drlab/{path}", timeout=10)  # noqa: S310 - loopback
        assert info.value.code == 401, path
        assert "access_key_secret" not in info.value.read().decode()
    assert lab.status()["emulator"].startswith("drlab")  # the CLI and LabHandle read DIR/admin-token
    assert json.loads(lab.cli("status", "--json").stdout)["running"] is True


def test_env_prints_exports_for_clients(lab):
    lines = lab.cli("env").stdout.splitlines()
    exported = dict(line[len("export "):].split("=", 1) for line in lines)
    assert exported["MESHDR_SERVICEMESH_ENDPOINT"] == f"'{lab.endpoint}'"
    assert exported["ALIBABA_CLOUD_ACCESS_KEY_ID"] == f"'{lab.credentials['access_key_id']}'"


def test_binds_only_specific_loopback_addresses(lab):
    pid = lab.pid()
    out = subprocess.run(["ss", "-Hltnup"], capture_output=True, text=True, check=False).stdout
    mine = [line for line in out.splitlines() if f"pid={pid}," in line]
    assert mine, out
    for line in mine:
        local = line.split()[4]
        assert local.startswith("127."), line


def test_restart_keeps_identity_and_topology(lab):
    before = (lab.credentials, lab.topology)
    lab.restart()
    assert (lab.credentials, lab.topology) == before
    assert lab.status()["access_key_id"] == before[0]["access_key_id"]


def test_second_up_is_a_no_op_and_down_stops(lab):
    pid = lab.pid()
    assert "already running" in lab.cli("up").stdout
    assert lab.pid() == pid


def test_refuses_wildcard_bind(tmp_path):
    handle = LabHandle(directory=str(tmp_path / "lab"), topology={"host": "0.0.0.0"})
    with pytest.raises(RuntimeError, match="wildcard"):
        handle.up()
