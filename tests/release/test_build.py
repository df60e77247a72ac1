"""The Galaxy artefact: built from the checkout, installed into an empty path, documented.

Loops over what exists at test time, so new modules and roles are covered without editing here.
"""

from __future__ import annotations

import fnmatch
import glob
import json
import os
import re
import tarfile

import yaml

from .conftest import ROOT, run, tool


def checkout_modules() -> list[str]:
    return sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))
                  if not os.path.basename(p).startswith("_"))


def checkout_roles() -> list[str]:
    return sorted(os.path.basename(os.path.dirname(os.path.dirname(p)))
                  for p in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")))


def test_tarball_honours_build_ignore(tarball):
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        ignore = yaml.safe_load(handle)["build_ignore"]
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    for name in names:
        top = name.split("/")[0]
        for pattern in ignore:
            assert not (fnmatch.fnmatch(name, pattern) or top == pattern), f"{name} shipped despite {pattern!r}"
    # What the EE and the users need is in it.
    for needed in ("meta/runtime.yml", "meta/execution-environment.yml", "requirements.txt",
                   "bindep.txt", "plugins/module_utils/alicloud.py", "plugins/doc_fragments/alicloud.py"):
        assert needed in names, f"{needed} missing from the artefact"
    for module in checkout_modules():
        assert f"plugins/modules/{module}.py" in names
    assert manifest["collection_info"]["dependencies"].get("kubernetes.core")


def rendered_pages(installed, kind: str, names: list[str], marker: str) -> dict[str, str]:
    """One ansible-doc call for all names (one process: much faster), split into pages by name."""
    out = run([tool("ansible-doc"), "-t", kind, *[f"meshdr.alicloud.{n}" for n in names]],
              cwd=installed["tmp"], env=installed["env"]).stdout
    pages: dict[str, str] = {}
    for chunk in out.split(marker)[1:]:
        fqcn = chunk.split()[0].strip("*")  # ansible-doc marks names bold as *name* without colour
        pages[fqcn.split(".")[-1]] = chunk
    return pages


def test_every_module_renders_from_installed_artefact(installed):
    env = installed["env"]
    listed = json.loads(run([tool("ansible-doc"), "-t", "module", "-l", "-j", "meshdr.alicloud"],
                            cwd=installed["tmp"], env=env).stdout or "{}")
    names = sorted(k.split(".")[-1] for k in listed)
    assert names == checkout_modules(), "ansible-doc -l of the installed artefact differs from plugins/modules"
    if not names:
        return
    pages = rendered_pages(installed, "module", names, "> MODULE ")
    assert sorted(pages) == names, "some module pages did not render"
    for module, page in pages.items():
        # The rendered page must come from the installed copy, not the checkout.
        assert installed["path"] in page, f"{module}: rendered from somewhere else"
        for section in ("OPTIONS", "EXAMPLES", "RETURN VALUES"):
            assert section in page, f"{module}: {section} not rendered"


def test_every_role_argument_spec_renders(installed):
    env = installed["env"]
    roles = checkout_roles()
    if not roles:
        listed = run([tool("ansible-doc"), "-t", "role", "-l", "meshdr.alicloud"], cwd=installed["tmp"], env=env)
        assert "meshdr.alicloud." not in listed.stdout
        return
    pages = rendered_pages(installed, "role", roles, "> ROLE: ")
    assert sorted(pages) == roles, "some role argument specs did not render"
    for role, page in pages.items():
        assert installed["path"] in page, f"role {role}: rendered from somewhere else"
        assert re.search(r"ENTRY POINT: \*?main\*?", page), f"role {role}: no main entry point"
        with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
            options = yaml.safe_load(handle)["argument_specs"]["main"].get("options", {})
        for option in options:
            assert option in page, f"role {role}: option {option} not rendered"


def test_collection_list_sees_installed_copy(installed):
    out = run([tool("ansible-galaxy"), "collection", "list", "meshdr.alicloud", "--format", "json"],
              cwd=installed["tmp"], env=installed["env"]).stdout
    data = json.loads(out)
    assert installed["path"] + "/ansible_collections" in data
    assert "meshdr.alicloud" in data[installed["path"] + "/ansible_collections"]
