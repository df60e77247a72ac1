"""Shared fixtures for the release checks (tests/release).

These tests check the artefacts users get: the Galaxy tarball, the EE build context, the AWX
configuration, the docs. They run the real tools (ansible-galaxy, ansible-doc, ansible-builder,
antsibull-*, ansible-lint, ansible-runner) as subprocesses, offline: no Galaxy, no container daemon.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def tool(name: str) -> str:
    """A console script from the same venv as the running Python."""
    path = os.path.join(BIN, name)
    if not os.path.exists(path):
        pytest.fail(f"{name} is not installed in {BIN}: run `make venv` (requirements-dev.txt)")
    return path


def run(args: list[str], cwd: str | None = None, env: dict[str, str] | None = None,
        timeout: float = 180, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(args)} -> rc={result.returncode}\n--- stdout\n{result.stdout[-6000:]}"
                    f"\n--- stderr\n{result.stderr[-6000:]}")
    return result


def venv_collections() -> str:
    """The site-packages dir holding the `ansible` package's collections (kubernetes.core, awx.awx)."""
    purelib = sysconfig.get_paths()["purelib"]
    if not os.path.isdir(os.path.join(purelib, "ansible_collections", "kubernetes", "core")):
        pytest.fail(f"kubernetes.core not found under {purelib}: install the `ansible` package (requirements-dev.txt)")
    return purelib


def clean_env(tmp: str, collections_path: str) -> dict[str, str]:
    """Environment for ansible-* commands that must NOT see this checkout as a collection.

    The Makefile exports ANSIBLE_CONFIG pointing at the repo's ansible.cfg, whose collections_path
    links to the checkout; an empty config and an explicit path keep the check honest.
    """
    cfg = os.path.join(tmp, "ansible.cfg")
    with open(cfg, "w", encoding="utf-8") as handle:
        handle.write("[defaults]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=cfg, ANSIBLE_COLLECTIONS_PATH=collections_path, ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=os.path.join(tmp, "ansible-tmp"), ANSIBLE_HOME=os.path.join(tmp, "ansible-home"))
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    return env


@pytest.fixture(scope="session")
def tarball(tmp_path_factory) -> str:
    """`ansible-galaxy collection build` of the checkout, honouring galaxy.yml's build_ignore."""
    out = tmp_path_factory.mktemp("dist")
    run([tool("ansible-galaxy"), "collection", "build", "--force", "--output-path", str(out), ROOT], cwd=ROOT)
    found = glob.glob(os.path.join(out, "meshdr-alicloud-*.tar.gz"))
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="session")
def installed(tarball, tmp_path_factory) -> dict[str, str]:
    """The tarball installed into an empty collections path; kubernetes.core comes from the venv."""
    tmp = str(tmp_path_factory.mktemp("install"))
    target = os.path.join(tmp, "collections")
    os.makedirs(target)
    env = clean_env(tmp, os.pathsep.join([target, venv_collections()]))
    run([tool("ansible-galaxy"), "collection", "install", "--offline", "-p", target, tarball], cwd=tmp, env=env)
    return {"path": target, "tmp": tmp, "env": env,
            "root": os.path.join(target, "ansible_collections", "meshdr", "alicloud")}


# Never copied: environments, lab state, build output, caches, and the lab package (not shipped).
COPY_IGNORE = shutil.ignore_patterns(".venv", ".lab", ".build", ".git", ".ansible", ".cache", ".ruff_cache",
                                     ".pytest_cache", "__pycache__", "tests/output", "*.tar.gz", ".molecule")


def copy_tree(dest: str) -> None:
    """Copy the working tree (what a checkout has, minus state and the unshipped lab) to dest."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        return set(COPY_IGNORE(directory, names)) | ({"lab", "benchmarks"} if directory == ROOT else set())

    shutil.copytree(ROOT, dest, symlinks=True, ignore=ignore)


@pytest.fixture(scope="session")
def tree_copy(tmp_path_factory) -> dict[str, str]:
    """The working tree copied under ansible_collections/meshdr/alicloud in a temp dir.

    Tools that write next to the project (ansible-lint's .ansible/, antsibull-changelog's release)
    run there, so the checkout is never touched.
    """
    base = str(tmp_path_factory.mktemp("tree"))
    dest = os.path.join(base, "ansible_collections", "meshdr", "alicloud")
    copy_tree(dest)
    env = clean_env(base, os.pathsep.join([base, venv_collections()]))
    return {"base": base, "root": dest, "env": env}
