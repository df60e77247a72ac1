"""AWX/AAP configuration: the awx.awx playbook parses, the credential type injects exactly what the
modules read, and every survey variable is one the playbooks and roles actually take."""

from __future__ import annotations

import json
import os
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


def render_injectors(credential_type: dict, inputs: dict) -> dict[str, str]:
    """Render the env injectors as AWX does (sandboxed Jinja over the credential's inputs)."""
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    fields = {f["id"]: inputs.get(f["id"], "") for f in credential_type["inputs"]["fields"]}
    return {k: env.from_string(v).render(**fields) for k, v in credential_type["injectors"]["env"].items()}


def test_configuration_playbook_syntax(tmp_path):
    env = clean_env(str(tmp_path), venv_collections())
    run([tool("ansible-playbook"), "--syntax-check", "-i", "localhost,", os.path.join(AWX, "configure.yml")],
        cwd=str(tmp_path), env=env)


def test_credential_type_injects_what_modules_read():
    ctype = load("credential_type.yml")["meshdr_awx_credential_type"]
    spec = common_args()
    fields = {f["id"]: f for f in ctype["inputs"]["fields"]}
    assert set(fields) == {"access_key_id", "access_key_secret", "security_token", "region_id"}
    assert ctype["kind"] == "cloud"
    rendered = render_injectors(ctype, {k: f"value-of-{k}" for k in fields})
    for option, field in fields.items():
        env_names = spec[option]["fallback"][1]
        # The injected name is the option's first (preferred) environment fallback.
        assert rendered.get(env_names[0]) == f"value-of-{option}", f"{option}: modules read {env_names}"
        # Secrets stay secret on both sides.
        assert bool(field.get("secret")) == bool(spec[option].get("no_log")), option
    assert len(rendered) == len(fields), "injects a variable no module reads"
    assert set(ctype["inputs"]["required"]) == {"access_key_id", "access_key_secret"}


def test_empty_optional_inputs_mean_static_keys():
    """AWX renders an unset security_token as '' : the modules must then use plain AccessKey auth."""
    common_args()
    from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import resolve_credentials

    ctype = load("credential_type.yml")["meshdr_awx_credential_type"]
    rendered = render_injectors(ctype, {"access_key_id": "LTAIexample", "access_key_secret": "s3cr3t"})
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


def test_site_survey_variables_exist():
    taken = variables_taken("playbooks/site.yml", None)
    if taken is None:
        pytest.skip("playbooks/site.yml is not written yet")
    for q in survey_questions()["site"]:
        assert q["variable"] in taken, f"site survey sets {q['variable']}, which nothing reads"


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
    playbooks = {"playbooks/site.yml", "playbooks/drill.yml", "playbooks/teardown.yml"}
    assert {t["playbook"] for t in templates.values()} == playbooks
    nodes = {n["identifier"]: n for n in data["meshdr_awx_workflow"]["nodes"]}
    for node in nodes.values():
        assert node["unified_job_template"]["name"] in templates
        for edge in node.get("related", {}).get("success_nodes", []):
            assert edge["identifier"] in nodes
    assert nodes["site"]["related"]["success_nodes"] == [{"identifier": "drill"}]
    assert templates[nodes["drill"]["unified_job_template"]["name"]]["playbook"] == "playbooks/drill.yml"


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
