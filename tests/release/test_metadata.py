"""Metadata true to the project: galaxy.yml links, action groups, role metadata against
requires_ansible, changelog fragments in antsibull's style, one source for the version."""

from __future__ import annotations

import glob
import os
import re

import yaml

from .conftest import ROOT


def load(path: str):
    with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def modules() -> dict[str, str]:
    out = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))):
        with open(path, encoding="utf-8") as handle:
            out[os.path.basename(path)[:-3]] = handle.read()
    return out


def test_galaxy_links_are_real_or_absent():
    galaxy = load("galaxy.yml")
    for key in ("repository", "documentation", "homepage", "issues"):
        value = galaxy.get(key)
        if value is not None:
            assert value.startswith("https://") and "example" not in value, f"galaxy.yml {key}: {value}"
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        assert "example.invalid" not in handle.read()


def test_action_groups_follow_the_credentials():
    """group/meshdr.alicloud.alicloud holds every module that takes the shared credential options
    (the alicloud doc fragment), the drill group every other one: module_defaults for one group
    never hands credentials to a module that would refuse them."""
    groups = load("meta/runtime.yml")["action_groups"]
    takes_credentials = sorted(name for name, text in modules().items()
                               if re.search(r"^\s+- meshdr\.alicloud\.alicloud\s*$", text, re.M))
    others = sorted(set(modules()) - set(takes_credentials))
    assert sorted(groups["alicloud"]) == takes_credentials
    assert sorted(groups["drill"]) == others
    assert "dr_verify" in groups["drill"]


def test_roles_min_ansible_version_matches_requires_ansible():
    floor = re.match(r">=\s*(\d+\.\d+)", load("meta/runtime.yml")["requires_ansible"]).group(1)
    for path in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "meta", "main.yml"))):
        with open(path, encoding="utf-8") as handle:
            meta = yaml.safe_load(handle)
        assert str(meta["galaxy_info"]["min_ansible_version"]) == floor, path


def test_fragments_do_not_repeat_what_antsibull_generates():
    """antsibull-changelog lists new modules (and roles) itself from version_added; a fragment
    saying "new module" would show it twice in the release notes."""
    config = load("changelogs/config.yaml")
    sections = {name for name, _title in config["sections"]} | {config["prelude_section_name"], "trivial"}
    for path in sorted(glob.glob(os.path.join(ROOT, "changelogs", "fragments", "*.yml"))):
        with open(path, encoding="utf-8") as handle:
            fragment = yaml.safe_load(handle)
        assert set(fragment) <= sections, f"{path}: unknown sections {set(fragment) - sections}"
        for section, entries in fragment.items():
            for entry in entries if isinstance(entries, list) else [entries]:
                assert not re.search(r"\bnew (module|plugin|callback)\b", entry), f"{path}: {entry[:60]}"
                # antsibull style: "<thing> - <what changed>." one sentence block per entry.
                if section != config["prelude_section_name"]:
                    assert " - " in entry and entry.rstrip().endswith((".", ")", "``")), f"{path}: {entry[:60]}"


def test_collection_version_has_one_source():
    """The version lives in galaxy.yml; the drill report gets it from there (community.general's
    collection_version lookup reads galaxy.yml in a checkout, MANIFEST.json when installed)."""
    version = load("galaxy.yml")["version"]
    for path in ("roles/dr_drill/tasks/report.yml", "roles/dr_drill/tasks/restore_mode.yml"):
        with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
            text = handle.read()
        assert "lookup('community.general.collection_version', 'meshdr.alicloud')" in text, path
    # No other file of the collection hard-codes it (docs may quote it).
    copies = []
    for base in ("plugins", "roles", "playbooks", "meta", "awx"):
        for dirpath, _dirs, files in os.walk(os.path.join(ROOT, base)):
            for name in files:
                if name.endswith((".py", ".yml", ".yaml")):
                    with open(os.path.join(dirpath, name), encoding="utf-8") as handle:
                        for line in handle:
                            if re.search(r"""(VERSION|version)\s*[=:]\s*['"]?""" + re.escape(version) + r"\b", line) \
                                    and "version_added" not in line:
                                copies.append(f"{os.path.relpath(os.path.join(dirpath, name), ROOT)}: {line.strip()}")
    known = ["plugins/module_utils/drill/__init__.py: COLLECTION_VERSION = '0.1.0'"]
    # The drill package's fallback constant belongs to issue 15's files; it goes when they land.
    assert [c for c in copies if c not in known] == [], copies


def requirement_lines(path: str) -> list[str]:
    with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
        return [line.split("#", 1)[0].strip() for line in handle if line.split("#", 1)[0].strip()]


def test_integration_requirements_match_requirements_txt():
    assert requirement_lines("tests/integration/requirements.txt") == requirement_lines("requirements.txt")


def test_ee_galaxy_dependencies_match_galaxy_yml():
    """requirements.yml (the EE's and Galaxy users' install list) = galaxy.yml's dependencies."""
    listed = {c["name"]: c.get("version", "*") for c in load("requirements.yml")["collections"]}
    assert listed == load("galaxy.yml")["dependencies"]
    assert load("execution-environment.yml")["dependencies"]["galaxy"] == "requirements.yml"
