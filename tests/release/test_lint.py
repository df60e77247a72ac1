"""Lint gates of a Galaxy release: ansible-lint (production profile), antsibull-docs, antsibull-changelog."""

from __future__ import annotations

import glob
import os
import re

import yaml

from .conftest import ROOT, clean_env, copy_tree, run, tool, venv_collections

# What ansible-lint checks: the content users run, plus the collection and EE metadata (the `galaxy`
# rule wants changelogs/changelog.yaml). Missing paths (not written yet) are skipped.
LINT_PATHS = ("roles", "playbooks", "awx", "site.yml", "teardown.yml", "drill.yml",
              "galaxy.yml", "meta", "execution-environment.yml", "requirements.yml")


def test_ansible_lint_production_profile(tree_copy):
    paths = [p for p in LINT_PATHS if os.path.exists(os.path.join(tree_copy["root"], p))]
    assert "awx" in paths
    result = run([tool("ansible-lint"), "--nocolor", "-q", *paths], cwd=tree_copy["root"], env=tree_copy["env"],
                 timeout=240, check=False)
    assert result.returncode == 0, f"ansible-lint findings:\n{result.stdout[-8000:]}\n{result.stderr[-4000:]}"
    with open(os.path.join(ROOT, ".ansible-lint"), encoding="utf-8") as handle:
        assert yaml.safe_load(handle)["profile"] == "production"


def test_antsibull_docs_lint(tree_copy):
    result = run([tool("antsibull-docs"), "lint-collection-docs", "--plugin-docs", "."], cwd=tree_copy["root"],
                 env=tree_copy["env"], check=False)
    assert result.returncode == 0, f"antsibull-docs:\n{result.stdout[-8000:]}\n{result.stderr[-4000:]}"


def test_changelog_fragments_lint():
    fragments = glob.glob(os.path.join(ROOT, "changelogs", "fragments", "*.yml"))
    assert fragments, "no changelog fragment"
    result = run([tool("antsibull-changelog"), "lint", *fragments], cwd=ROOT, check=False)
    assert result.returncode == 0 and not result.stdout.strip(), f"antsibull-changelog lint:\n{result.stdout}"


def test_changelog_release_in_copy(tmp_path):
    # Its own copy: a release rewrites changelogs/ and consumes the fragments.
    base = str(tmp_path)
    root = os.path.join(base, "ansible_collections", "meshdr", "alicloud")
    copy_tree(root)
    env = clean_env(base, os.pathsep.join([base, venv_collections()]))
    version = yaml.safe_load(open(os.path.join(root, "galaxy.yml"), encoding="utf-8"))["version"]
    entries = []
    for path in glob.glob(os.path.join(root, "changelogs", "fragments", "*.yml")):
        for section in (yaml.safe_load(open(path, encoding="utf-8")) or {}).values():
            entries.extend(section if isinstance(section, list) else [section])
    run([tool("antsibull-changelog"), "release", "--version", version, "--date", "2026-01-01"], cwd=root, env=env)
    changelog = open(os.path.join(root, "CHANGELOG.rst"), encoding="utf-8").read()
    assert f"v{version}" in changelog
    flat = re.sub(r"\s+", " ", changelog)
    for entry in entries:
        assert re.sub(r"\s+", " ", entry.strip()) in flat, f"fragment entry missing from the release: {entry[:80]}"
    modules = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(root, "plugins", "modules", "*.py")))
    for module in modules:
        assert f"meshdr.alicloud.{module}" in changelog, f"new module {module} not announced"
    # The release consumed the fragments (keep_fragments: false) and recorded them.
    assert not glob.glob(os.path.join(root, "changelogs", "fragments", "*.yml"))
    with open(os.path.join(root, "changelogs", "changelog.yaml"), encoding="utf-8") as handle:
        assert version in yaml.safe_load(handle)["releases"]
