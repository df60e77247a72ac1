"""AWX/AAP configuration: the awx.awx playbook parses, the credential type injects exactly what the
modules read, and every survey variable is one the playbooks and roles actually take."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import sys

import jinja2.sandbox
import pytest
import yaml

from .conftest import ROOT, clean_env, run, tool, venv_collections

AWX = os.path.join(ROOT, "awx")
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


def load(name: str) -> dict:
    with open(os.path.join(AWX, name), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def common_args() -> dict:
    """The modules' shared argument spec, imported from the checkout."""
    collections = os.path.join(ROOT, ".build", "collections")
    link = os.path.join(collections, "ansible_collections", "meshdr", "alicloud")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)
    if collections not in sys.path:
        sys.path.insert(0, collections)
    from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import ALICLOUD_COMMON_ARGS

    return ALICLOUD_COMMON_ARGS


class TowerNamespace:
    """AWX's `tower` template namespace (`tower.filename`, `tower.filename.<id>`)."""


def render_injectors(credential_type: dict, inputs: dict, private_dir: str | None = None) -> dict:
    """Render a credential type's injectors as AWX does when it launches a job
    (awx/main/models/credential: CredentialType.inject_credential): a Jinja2
    ImmutableSandboxedEnvironment with its default Undefined, over a namespace holding only the
    inputs that are set (an empty one is undefined and renders as ""), plus `tower.filename` for
    the files of the `file` injector, which are rendered first. Returns env, extra_vars, files."""
    sandbox = jinja2.sandbox.ImmutableSandboxedEnvironment()
    tower = TowerNamespace()
    namespace = {"tower": tower}
    for field in credential_type["inputs"]["fields"]:
        value = inputs.get(field["id"], False if field["type"] == "boolean" else "")
        if isinstance(value, bool) or len(value):
            namespace[field["id"]] = value
    injectors = credential_type["injectors"]
    files = {}
    for label, template in injectors.get("file", {}).items():
        data = sandbox.from_string(template).render(**namespace)
        path = os.path.join(private_dir or "/runner/env", f"tmp-{label.replace('.', '-')}")
        if private_dir:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(data)
            os.chmod(path, 0o600)
        files[path] = data
        if "." not in label:
            tower.filename = path
        else:
            if not hasattr(tower, "filename"):
                tower.filename = TowerNamespace()
            setattr(tower.filename, label.split(".")[1], path)

    def build(node):
        if isinstance(node, dict):
            return {build(k): build(v) for k, v in node.items()}
        if isinstance(node, list):
            return [build(x) for x in node]
        return sandbox.from_string(node).render(**namespace)

    env = {k: sandbox.from_string(v).render(**namespace) for k, v in injectors.get("env", {}).items()}
    return {"env": env, "extra_vars": build(injectors.get("extra_vars", {})), "files": files}


def test_configuration_playbook_syntax(tmp_path):
    env = clean_env(str(tmp_path), venv_collections())
    run([tool("ansible-playbook"), "--syntax-check", "-i", "localhost,", os.path.join(AWX, "configure.yml")],
        cwd=str(tmp_path), env=env)


ENV_FIELDS = {"access_key_id", "access_key_secret", "security_token", "region_id"}
ROLE_FIELDS = {"role_arn": "role_arn", "role_session_name": "session_name", "role_external_id": "external_id"}


def production_vars(tmp: str, host: str, extra_vars: dict, names: list[str]) -> dict:
    """Variables of a production inventory host as a job with these extra vars sees them."""
    extra = os.path.join(tmp, "extra.json")
    with open(extra, "w", encoding="utf-8") as handle:
        json.dump(extra_vars, handle)
    env = clean_env(tmp, venv_collections())
    out = run([tool("ansible"), "-i", os.path.join(ROOT, "inventories", "production"), host, "-m",
               "ansible.builtin.debug", "-a", "msg={{ {" + ", ".join(f"'{n}': {n}" for n in names) + "} | to_json }}",
               "-e", "@" + extra, "-o"], cwd=tmp, env=env).stdout
    return json.loads(json.loads(out.split("=>", 1)[1])["msg"])


def test_credential_type_injects_what_modules_read():
    ctype = load("credential_type.yml")["meshdr_awx_credential_type"]
    spec = common_args()
    fields = {f["id"]: f for f in ctype["inputs"]["fields"]}
    assert set(fields) == ENV_FIELDS | set(ROLE_FIELDS)
    assert ctype["kind"] == "cloud"
    rendered = render_injectors(ctype, {k: f"value-of-{k}" for k in fields})
    for option in ENV_FIELDS:
        env_names = spec[option]["fallback"][1]
        # The injected name is the option's first (preferred) environment fallback.
        assert rendered["env"].get(env_names[0]) == f"value-of-{option}", f"{option}: modules read {env_names}"
        # Secrets stay secret on both sides.
        assert bool(fields[option].get("secret")) == bool(spec[option].get("no_log")), option
    assert len(rendered["env"]) == len(ENV_FIELDS), "injects a variable no module reads"
    role_options = spec["assume_role"]["options"]
    for field, option in ROLE_FIELDS.items():
        assert option in role_options, f"{field}: assume_role has no {option}"
        assert bool(fields[field].get("secret")) == bool(role_options[option].get("no_log")), field
    assert set(ctype["inputs"]["required"]) == {"access_key_id", "access_key_secret"}


def test_assume_role_inputs_reach_the_modules_through_the_inventory(tmp_path):
    """The assume-role inputs become extra vars; the production inventory turns them into the
    modules' assume_role option (module_defaults: dr_alicloud_auth), and into nothing when empty."""
    ctype = load("credential_type.yml")["meshdr_awx_credential_type"]
    keys = {"access_key_id": "LTAIexample", "access_key_secret": "s3cr3t"}
    plain = render_injectors(ctype, keys)["extra_vars"]
    assert production_vars(str(tmp_path), "localhost", plain, ["dr_alicloud_auth"]) == {"dr_alicloud_auth": {}}
    role = render_injectors(ctype, dict(keys, role_arn="acs:ram::123:role/meshdr", role_external_id="ext"))
    auth = production_vars(str(tmp_path), "localhost", role["extra_vars"], ["dr_alicloud_auth"])["dr_alicloud_auth"]
    assert auth == {"assume_role": {"role_arn": "acs:ram::123:role/meshdr", "session_name": "meshdr-alicloud",
                                    "external_id": "ext"}}
    # What the modules accept: every key an option of assume_role.
    assert set(auth["assume_role"]) <= set(common_args()["assume_role"]["options"])


def test_kubeconfig_credential_writes_files_the_inventory_uses(tmp_path):
    ctype = load("credential_type.yml")["meshdr_awx_kubeconfig_credential_type"]
    assert ctype["kind"] == "cloud"
    fields = {f["id"]: f for f in ctype["inputs"]["fields"]}
    for name in ("first_kubeconfig", "second_kubeconfig"):
        assert fields[name].get("secret") and fields[name].get("multiline"), name
    private = tmp_path / "env"
    private.mkdir()
    inputs = {"first_region": "cn-hangzhou", "first_kubeconfig": "apiVersion: v1\nkind: Config # hz\n",
              "second_region": "cn-shanghai", "second_kubeconfig": "apiVersion: v1\nkind: Config # sh\n"}
    rendered = render_injectors(ctype, inputs, str(private))
    mapping = rendered["extra_vars"]["dr_cluster_kubeconfig_files"]
    assert set(mapping) == {"cn-hangzhou", "cn-shanghai"}
    for region, short in (("cn-hangzhou", "hz"), ("cn-shanghai", "sh")):
        with open(mapping[region], encoding="utf-8") as handle:
            assert handle.read().endswith(f"# {short}\n")
        seen = production_vars(str(tmp_path), region, rendered["extra_vars"], ["dr_cluster_kubeconfig"])
        assert seen["dr_cluster_kubeconfig"] == mapping[region], region
    # Without the credential the inventory keeps its files under $MESHDR_KUBECONFIG_DIR.
    seen = production_vars(str(tmp_path), "cn-hangzhou", {}, ["dr_cluster_kubeconfig"])
    assert seen["dr_cluster_kubeconfig"].endswith("/bookinfo-hz.yaml")


def test_empty_optional_inputs_mean_static_keys():
    """AWX renders an unset security_token as '' : the modules must then use plain AccessKey auth."""
    common_args()
    from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import resolve_credentials

    ctype = load("credential_type.yml")["meshdr_awx_credential_type"]
    rendered = render_injectors(ctype, {"access_key_id": "LTAIexample", "access_key_secret": "s3cr3t"})["env"]
    params = {"access_key_id": rendered["ALIBABA_CLOUD_ACCESS_KEY_ID"],
              "access_key_secret": rendered["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
              "security_token": rendered["ALIBABA_CLOUD_SECURITY_TOKEN"]}
    assert resolve_credentials(params) == ("static", False)
    params["security_token"] = "sts-token"
    assert resolve_credentials(params) == ("sts", False)


def survey_questions():
    data = load("job_templates.yml")
    return {"site": data["meshdr_awx_site_survey"]["spec"], "drill": data["meshdr_awx_drill_survey"]["spec"]}


@pytest.mark.parametrize("name", ["site", "drill"])
def test_survey_specs_are_valid(name):
    questions = survey_questions()[name]
    variables = [q["variable"] for q in questions]
    assert len(variables) == len(set(variables))
    for q in questions:
        assert q["type"] in SURVEY_TYPES and q["question_name"] and isinstance(q["required"], bool), q
        assert "default" in q or not q["required"], f"{q['variable']}: required without a default"
        if "default" not in q:
            continue
        if q["type"] in ("integer", "float"):
            assert q["min"] <= q["default"] <= q["max"], q
        if q["type"] == "text":
            assert q["min"] <= len(q["default"]) <= q["max"], q
        if q["type"] == "multiplechoice":
            assert q["default"] in q["choices"], q


def variables_taken(playbook: str, role: str | None) -> set[str] | None:
    """Variables a survey may set: role argument spec options and names used in the inventories'
    group_vars; None when neither the playbook nor the role exists yet."""
    names: set[str] = set()
    spec = os.path.join(ROOT, "roles", role or "-", "meta", "argument_specs.yml")
    if role and os.path.exists(spec):
        for entry in yaml.safe_load(open(spec, encoding="utf-8"))["argument_specs"].values():
            names.update(entry.get("options", {}))
    for inventory in ("lab", "production"):
        base = os.path.join(ROOT, "inventories", inventory, "group_vars")
        for dirpath, _dirs, files in os.walk(base):
            for file in files:
                names.update(yaml.safe_load(open(os.path.join(dirpath, file), encoding="utf-8")) or {})
    if not os.path.exists(os.path.join(ROOT, playbook)):
        return None
    return names


SURVEY_KINDS = {"integer": ("int", "float"), "float": ("float",), "multiplechoice": ("str",), "text": ("str",)}


def role_options_fed_by(variable: str) -> list[tuple[str, str, dict]]:
    """(role, option, spec) for every role option whose default is exactly "{{ variable }}"."""
    found = []
    for defaults in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "defaults", "main.yml"))):
        role = defaults.split(os.sep)[-3]
        values = yaml.safe_load(open(defaults, encoding="utf-8")) or {}
        spec_path = os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")
        options = yaml.safe_load(open(spec_path, encoding="utf-8"))["argument_specs"]["main"]["options"]
        for option, value in values.items():
            if isinstance(value, str) and re.fullmatch(r"\{\{\s*" + re.escape(variable) + r"\s*\}\}", value):
                found.append((role, option, options[option]))
    return found


def test_site_survey_variables_feed_role_options():
    """Each site survey answer is an extra var that a role's option defaults to: that option (in the
    role's argument spec, which the site's preflight validates) must take the survey's type."""
    for q in survey_questions()["site"]:
        fed = role_options_fed_by(q["variable"])
        assert fed, f"site survey sets {q['variable']}, which no role option defaults to"
        for role, option, spec in fed:
            assert spec.get("type", "str") in SURVEY_KINDS[q["type"]], f"{role}.{option}: {spec} vs survey {q['type']}"
            if "choices" in spec:
                assert q["type"] == "multiplechoice" and sorted(q["choices"]) == sorted(spec["choices"]), option


def test_drill_survey_variables_exist():
    spec_path = os.path.join(ROOT, "roles", "dr_drill", "meta", "argument_specs.yml")
    if not os.path.exists(spec_path):
        pytest.skip("roles/dr_drill is not written yet: survey variable names cannot be checked")
    taken = variables_taken("playbooks/drill.yml", "dr_drill")
    if taken is None:
        pytest.skip("playbooks/drill.yml is not written yet")
    with open(spec_path, encoding="utf-8") as handle:
        options = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
    for q in survey_questions()["drill"]:
        assert q["variable"] in taken, f"drill survey sets {q['variable']}, not an option of role dr_drill"
        option = options[q["variable"]]
        kinds = {"integer": ("int", "float"), "float": ("float",), "multiplechoice": ("str",), "text": ("str",)}
        assert option.get("type", "str") in kinds[q["type"]], f"{q['variable']}: survey {q['type']} vs {option}"
        if q["type"] == "multiplechoice":
            assert sorted(q["choices"]) == sorted(option["choices"]), q["variable"]
        if not q["required"]:
            # Left blank, AWX passes nothing: the role must then have a way to derive it.
            assert option.get("required") is not True, q["variable"]


def test_job_templates_and_workflow():
    data = load("job_templates.yml")
    templates = {t["name"]: t for t in data["meshdr_awx_job_templates"]}
    playbooks = {"playbooks/site.yml", "playbooks/readiness.yml", "playbooks/drill.yml", "playbooks/teardown.yml"}
    assert {t["playbook"] for t in templates.values()} == playbooks
    nodes = {n["identifier"]: n for n in data["meshdr_awx_workflow"]["nodes"]}
    for node in nodes.values():
        assert node["unified_job_template"]["name"] in templates
        for edge in node.get("related", {}).get("success_nodes", []):
            assert edge["identifier"] in nodes
    assert nodes["site"]["related"]["success_nodes"] == [{"identifier": "drill"}]
    assert templates[nodes["drill"]["unified_job_template"]["name"]]["playbook"] == "playbooks/drill.yml"
    for schedule in data["meshdr_awx_schedules"]:
        assert schedule["unified_job_template"] in set(templates) | {data["meshdr_awx_workflow"]["name"]}
        assert re.fullmatch(r"DTSTART:\d{8}T\d{6}Z RRULE:FREQ=(DAILY|WEEKLY);INTERVAL=\d+(;BYDAY=[A-Z,]+)?",
                            schedule["rrule"]), schedule["rrule"]
    workflow = data["meshdr_awx_workflow"]["name"]
    drill = [s for s in data["meshdr_awx_schedules"] if s["unified_job_template"] == workflow]
    assert drill and drill[0]["enabled"] == "{{ meshdr_awx_drill_schedule_enabled }}"


def test_configuration_is_idempotent_by_construction():
    """No task that AWX would apply anew on every run: secrets re-sent only when asked, workflow
    nodes matched by identifier instead of destroyed and recreated."""
    with open(os.path.join(AWX, "configure.yml"), encoding="utf-8") as handle:
        play = yaml.safe_load(handle)[0]
    assert play["vars"]["meshdr_awx_update_secrets"] is False
    for task in play["tasks"]:
        args = next((v for k, v in task.items() if k.startswith("awx.awx.")), None)
        if args is None:
            continue
        assert args.get("state") == "present", task["name"]
        assert "destroy_current_nodes" not in args, task["name"]
        if "update_secrets" in args:
            assert args["update_secrets"] == "{{ meshdr_awx_update_secrets }}", task["name"]


def configured_values(tmp_path, playbooks: list[str], extra: dict) -> dict:
    """configure.yml's computed settings (templates to create, credentials to attach, schedules
    kept) for a checkout holding these playbooks, evaluated by ansible-playbook without a controller."""
    checkout = tmp_path / "checkout"
    shutil.copytree(AWX, checkout / "awx")
    (checkout / "playbooks").mkdir()
    for name in playbooks:
        (checkout / name).write_text("---\n[]\n")
    with open(os.path.join(AWX, "configure.yml"), encoding="utf-8") as handle:
        play = yaml.safe_load(handle)[0]
    schedules_when = next(t["when"] for t in play["tasks"] if "awx.awx.schedule" in t)
    # Evaluate the schedule guard per item, exactly as the task's `when` is written.
    play["tasks"] = [
        {"name": "Kept schedules", "ansible.builtin.set_fact": {"kept": "{{ kept | default([]) + [item.name] }}"},
         "loop": "{{ meshdr_awx_schedules }}", "when": schedules_when},
        {"name": "Computed", "ansible.builtin.copy": {
            "dest": str(tmp_path / "out.json"), "mode": "0600",
            "content": "{{ {'templates': meshdr_awx_templates | map(attribute='name') | list,"
                       " 'credentials': meshdr_awx_credentials, 'schedules': kept | default([])} | to_json }}"}},
    ]
    play["vars"]["ansible_python_interpreter"] = "{{ ansible_playbook_python }}"
    with open(checkout / "awx" / "computed.yml", "w", encoding="utf-8") as handle:
        yaml.safe_dump([play], handle)
    env = clean_env(str(tmp_path), venv_collections())
    run([tool("ansible-playbook"), "-i", "localhost,", str(checkout / "awx" / "computed.yml"),
         "-e", json.dumps(extra)], cwd=str(tmp_path), env=env)
    return json.loads((tmp_path / "out.json").read_text())


def test_readiness_template_waits_for_its_playbook(tmp_path):
    now = configured_values(tmp_path / "a", ["playbooks/site.yml", "playbooks/drill.yml", "playbooks/teardown.yml"], {})
    assert now["templates"] == ["meshdr - site", "meshdr - drill", "meshdr - teardown"]
    assert now["schedules"] == ["meshdr - weekly drill"]
    assert now["credentials"] == ["meshdr - Alibaba Cloud"]
    later = configured_values(tmp_path / "b", ["playbooks/site.yml", "playbooks/readiness.yml", "playbooks/drill.yml",
                                               "playbooks/teardown.yml"],
                              {"meshdr_awx_kubeconfigs": {"cn-hangzhou": "/k/hz", "cn-shanghai": "/k/sh"}})
    assert "meshdr - readiness" in later["templates"]
    assert later["schedules"] == ["meshdr - weekly drill", "meshdr - daily readiness"]
    assert later["credentials"] == ["meshdr - Alibaba Cloud", "meshdr - kubeconfigs"]


def test_configuration_passes_ansible_lint(tmp_path):
    base = tmp_path / "lint"
    shutil.copytree(AWX, base / "awx")
    env = clean_env(str(tmp_path), venv_collections())
    result = run([tool("ansible-lint"), "--offline", "--profile", "production", "awx/configure.yml"],
                 cwd=str(base), env=env, check=False, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


@pytest.mark.parametrize("playbook", ["playbooks/site.yml", "playbooks/drill.yml", "playbooks/teardown.yml"])
def test_job_template_playbooks_parse(playbook, tmp_path):
    path = os.path.join(ROOT, playbook)
    if not os.path.exists(path):
        pytest.skip(f"{playbook} is not written yet")
    env = clean_env(str(tmp_path), os.pathsep.join([os.path.join(ROOT, ".build", "collections"), venv_collections()]))
    for inventory in ("lab", "production"):
        run([tool("ansible-playbook"), "--syntax-check", "-i", os.path.join(ROOT, "inventories", inventory), path],
            cwd=ROOT, env=env)


def test_configuration_playbook_uses_documented_options(tmp_path):
    """--syntax-check does not look at module arguments: compare every awx.awx task's arguments with
    the module's documented options (and static values with their choices)."""
    with open(os.path.join(AWX, "configure.yml"), encoding="utf-8") as handle:
        tasks = yaml.safe_load(handle)[0]["tasks"]
    calls = [(name, args) for task in tasks for name, args in task.items() if name.startswith("awx.awx.")]
    assert calls
    env = clean_env(str(tmp_path), venv_collections())
    docs = json.loads(run([tool("ansible-doc"), "-j", *sorted({call[0] for call in calls})],
                          cwd=str(tmp_path), env=env).stdout)
    for name, args in calls:
        options = docs[name]["doc"]["options"]
        aliases = {alias: opt for opt, spec in options.items() for alias in spec.get("aliases", [])}
        for key, value in args.items():
            option = key if key in options else aliases.get(key)
            assert option, f"{name}: unknown option {key}"
            choices = options[option].get("choices")
            if choices and isinstance(value, str) and "{{" not in value:
                assert value in choices, f"{name}: {key}={value} not in {choices}"
