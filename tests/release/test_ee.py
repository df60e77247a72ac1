"""Execution environment: the definition builds a context, and the installed collection's
meta/execution-environment.yml hands its Python and system needs to ansible-builder.

No container runtime here, so `ansible-builder create` (validate + write the build context) is
the strongest offline check; `ansible-builder introspect` is the very step the builder stage runs.
"""

from __future__ import annotations

import os
import shutil

import yaml

from .conftest import ROOT, run, tool


def requirement_names(path: str) -> list[str]:
    names = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                names.append(line)
    return names


def test_builder_create_produces_context(tarball, tmp_path):
    # A copy of the EE inputs next to the freshly built tarball, where the definition expects it.
    for name in ("execution-environment.yml", "requirements.yml", "requirements.txt", "bindep.txt"):
        shutil.copy(os.path.join(ROOT, name), tmp_path / name)
    dist = tmp_path / ".build" / "dist"
    dist.mkdir(parents=True)
    shutil.copy(tarball, dist)
    context = tmp_path / "context"
    run([tool("ansible-builder"), "create", "-f", "execution-environment.yml", "-c", str(context),
         "--output-filename", "Containerfile"], cwd=str(tmp_path))

    containerfile = (context / "Containerfile").read_text()
    definition = yaml.safe_load((tmp_path / "execution-environment.yml").read_text())
    assert definition["version"] == 3
    assert f'EE_BASE_IMAGE="{definition["images"]["base_image"]["name"]}"' in containerfile
    assert "ansible-core" in containerfile and "ansible-runner" in containerfile
    assert "/build/collections/meshdr-alicloud-" in containerfile
    build = context / "_build"
    assert (build / "collections" / os.path.basename(tarball)).exists(), "collection tarball not in the context"
    shipped = requirement_names(str(build / "requirements.txt"))
    assert shipped == requirement_names(os.path.join(ROOT, "requirements.txt"))
    assert (build / "bindep.txt").read_text() == open(os.path.join(ROOT, "bindep.txt"), encoding="utf-8").read()
    assert "kubernetes.core" in (build / "requirements.yml").read_text()


def test_collection_metadata_feeds_introspection(installed):
    meta = yaml.safe_load(open(os.path.join(installed["root"], "meta", "execution-environment.yml"), encoding="utf-8"))
    # Paths are relative to the collection root (ansible-builder#406) and must exist in the artefact.
    for kind in ("python", "system"):
        assert os.path.isfile(os.path.join(installed["root"], meta["dependencies"][kind])), kind
    out = run([tool("ansible-builder"), "introspect", installed["path"]], env=installed["env"]).stdout
    data = yaml.safe_load(out.split("\n", 1)[1])
    ours = [line for line in data["python"] if "from collection meshdr.alicloud" in line]
    # Every SDK the modules import reaches the EE (PyYAML is dropped by the builder: ansible-core brings it).
    for req in requirement_names(os.path.join(ROOT, "requirements.txt")):
        if req.lower().startswith("pyyaml"):
            continue
        assert any(line.startswith(req) for line in ours), f"{req} would be silently dropped from the EE"
    system = [line for line in data["system"] if "from collection meshdr.alicloud" in line]
    assert len(system) == len(requirement_names(os.path.join(ROOT, "bindep.txt")))
