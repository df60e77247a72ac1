"""site.yml and drill.yml through ansible-runner, the way AWX runs a job template.

AWX writes a private data dir: project/ (the SCM checkout), inventory/, env/envvars (what the
job's credentials inject), env/extravars (survey answers), then runs `ansible-runner run` in the
execution environment, where the collection is installed. Here: the built Galaxy artefact
installed into an empty collections path plays the EE, a throw-away lab plays the cloud, and the
credential env comes from rendering awx/credential_type.yml's injectors with the lab's keys.
"""

from __future__ import annotations

import glob
import json
import os
import shutil

import pytest
import yaml

from .conftest import ROOT, clean_env, copy_tree, run, tool, venv_collections
from .test_awx import load, render_injectors, survey_questions

SITE = "playbooks/site.yml"
DRILL = "playbooks/drill.yml"


@pytest.fixture(scope="module")
def lab():
    if not os.path.exists(os.path.join(ROOT, SITE)):
        pytest.skip(f"{SITE} is not written yet")
    from drlab.testing import LabHandle

    # ASM's gateway resync off: the drill restores the gateway itself (dr_drill_restore: reapply), and
    # a 20 s resync would end the outage before GTM's health checks see it.
    handle = LabHandle(topology={"timing": {"gateway_resync": 0}}).up()
    yield handle
    handle.down()


def survey_defaults(name: str) -> dict:
    """The extra vars AWX sends for a survey answered with its defaults (blank optional questions are omitted)."""
    return {q["variable"]: q["default"] for q in survey_questions()[name] if "default" in q}


@pytest.fixture(scope="module")
def credential(lab) -> dict[str, str]:
    """The AWX credential's inputs: temporary (STS) keys issued by the lab, so every injector is
    exercised (the lab rejects a request whose token is missing or does not match the key)."""
    creds = lab.admin("sts", {})["Credentials"]
    return {"access_key_id": creds["AccessKeyId"], "access_key_secret": creds["AccessKeySecret"],
            "security_token": creds["SecurityToken"], "region_id": "cn-hangzhou"}


def private_data_dir(tmp: str, lab, credential: dict, installed, extravars: dict) -> str:
    pdd = os.path.join(tmp, "pdd")
    copy_tree(os.path.join(pdd, "project"))
    shutil.copytree(os.path.join(ROOT, "inventories", "lab"), os.path.join(pdd, "inventory"))
    ctype = load("credential_type.yml")["meshdr_awx_credential_type"]
    injected = render_injectors(ctype, credential)
    envvars = injected["env"]
    lab_env = lab.env()
    envvars.update({
        # Where "the cloud" is: the lab's endpoints (production uses the official ones).
        "MESHDR_SERVICEMESH_ENDPOINT": lab_env["MESHDR_SERVICEMESH_ENDPOINT"],
        "MESHDR_ALIDNS_ENDPOINT": lab_env["MESHDR_ALIDNS_ENDPOINT"],
        "MESHDR_ALICLOUD_PROTOCOL": "http",
        "DRLAB_DIR": lab.dir,
        "DRLAB_DNS": lab_env["DRLAB_DNS"],
        # The "execution environment": the built artefact, kubernetes.core from the `ansible` package.
        "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join([installed["path"], venv_collections()]),
    })
    os.makedirs(os.path.join(pdd, "env"))
    with open(os.path.join(pdd, "env", "envvars"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(envvars, handle)
    with open(os.path.join(pdd, "env", "extravars"), "w", encoding="utf-8") as handle:
        # Keys only from the injected env, as in AWX: no credential in the inventory's auth dict.
        yaml.safe_dump({**injected["extra_vars"], "dr_alicloud_auth": {}, **extravars}, handle)
    with open(os.path.join(pdd, "env", "settings"), "w", encoding="utf-8") as handle:
        yaml.safe_dump({"job_timeout": 600, "suppress_ansible_output": True}, handle)
    return pdd


def runner(pdd: str, playbook: str, ident: str, tmp: str) -> dict:
    env = clean_env(tmp, "")
    del env["ANSIBLE_CONFIG"], env["ANSIBLE_COLLECTIONS_PATH"]  # the project's ansible.cfg applies, as in AWX
    result = run([tool("ansible-runner"), "run", pdd, "-p", playbook, "--ident", ident], env=env, timeout=600,
                 check=False)
    artifacts = os.path.join(pdd, "artifacts", ident)
    stdout = open(os.path.join(artifacts, "stdout"), encoding="utf-8", errors="replace").read()
    status = open(os.path.join(artifacts, "status"), encoding="utf-8").read().strip()
    assert status == "successful" and result.returncode == 0, f"{playbook}: {status}\n{stdout[-8000:]}"
    events = [json.load(open(p, encoding="utf-8")) for p in glob.glob(os.path.join(artifacts, "job_events", "*.json"))]
    stats = [e for e in events if e.get("event") == "playbook_on_stats"]
    assert len(stats) == 1
    return {"artifacts": artifacts, "stdout": stdout, "stats": stats[0]["event_data"]}


def assert_no_secret(artifacts: str, credential: dict) -> None:
    """No secret in what AWX keeps of a job: stdout and the job events.

    ansible-runner's own ``command`` file records the launch environment (injected credentials
    included); AWX does not keep it (it stores a redacted job_env) and deletes the private data dir.
    """
    secrets = (credential["access_key_secret"], credential["security_token"])
    for dirpath, _dirs, files in os.walk(artifacts):
        for name in files:
            if dirpath == artifacts and name == "command":
                continue
            with open(os.path.join(dirpath, name), encoding="utf-8", errors="replace") as handle:
                text = handle.read()
            assert not any(secret in text for secret in secrets), f"a credential secret leaked into {name}"


def find_verdict(data):
    """The overall verdict (PASS/FAIL) anywhere under a key named like *verdict*."""
    if isinstance(data, dict):
        for key, value in data.items():
            if "verdict" in key.lower():
                if isinstance(value, str) and value.upper() in ("PASS", "FAIL"):
                    return value.upper()
                if isinstance(value, dict) and str(value.get("overall", "")).upper() in ("PASS", "FAIL"):
                    return value["overall"].upper()
            found = find_verdict(value)
            if found:
                return found
    return None


def test_set_stats_verdict_reaches_runner_artifacts(tmp_path):
    """The plumbing the drill relies on: set_stats (per_host: false) ends up in the stats event's
    artifact_data, which is what AWX shows as job artifacts and passes to later workflow nodes."""
    pdd = tmp_path / "pdd"
    (pdd / "project").mkdir(parents=True)
    (pdd / "inventory").mkdir()
    (pdd / "inventory" / "hosts").write_text("localhost ansible_connection=local\n")
    (pdd / "project" / "verdict.yml").write_text(yaml.safe_dump([{
        "name": "Verdict", "hosts": "localhost", "gather_facts": False,
        "tasks": [{"name": "Report", "ansible.builtin.set_stats": {
            "data": {"dr_drill": {"verdict": {"overall": "FAIL", "passed": False}}}, "per_host": False}}]}]))
    result = runner(str(pdd), "verdict.yml", "verdict", str(tmp_path))
    assert find_verdict(result["stats"]["artifact_data"]) == "FAIL"
    assert find_verdict({"dr_drill_verdict": "PASS"}) == "PASS"
    assert find_verdict({"summary": {"ok": True}}) is None


def test_site_then_drill_through_ansible_runner(lab, credential, installed, tmp_path):
    extravars = dict(survey_defaults("site"), dr_ttl=5)
    # The lab's short health checks make a one-minute drill meaningful (docs/drill.md).
    drill_vars = dict(survey_defaults("drill"), dr_drill_duration=60,
                      dr_drill_report_dir=str(tmp_path / "reports"))
    pdd = private_data_dir(str(tmp_path), lab, credential, installed, {**extravars, **drill_vars})
    site = runner(pdd, SITE, "site", str(tmp_path))
    assert not site["stats"].get("failures") and not site["stats"].get("dark"), site["stats"]
    assert_no_secret(site["artifacts"], credential)

    if not os.path.exists(os.path.join(ROOT, DRILL)):
        pytest.skip(f"{DRILL} is not written yet: site.yml ran through ansible-runner; the drill part waits for it")
    drill = runner(pdd, DRILL, "drill", str(tmp_path))
    artifact_data = drill["stats"].get("artifact_data") or {}
    verdict = find_verdict(artifact_data)
    assert verdict is not None, f"no set_stats verdict in the runner artifacts: {artifact_data}"
    assert verdict == "PASS", f"drill verdict {verdict}: {json.dumps(artifact_data)[:2000]}"
    # The report files the verdict points at exist (in the job's report dir, not in the project).
    for path in artifact_data["dr_drill"]["paths"].values():
        assert os.path.isfile(path) and path.startswith(str(tmp_path / "reports")), path
    assert_no_secret(drill["artifacts"], credential)
