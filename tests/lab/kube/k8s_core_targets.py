"""Run kubernetes.core's own integration targets against a throw-away lab cluster.

The targets are read from a local mirror of github.com/ansible-collections/kubernetes.core at the
tag of the INSTALLED kubernetes.core (never copied into this tree): set ``K8S_CORE_MIRROR`` to the
mirror's git directory (default: /work/.mirror/ansible-collections+kubernetes.core/repo).  The tag's
tree is unpacked under a temporary ``ansible_collections/kubernetes/core`` (as ansible-test does, so
the targets' short module names resolve) and each target's ``runme.sh`` runs there with HOME a
temporary directory whose ``.kube/config`` is a copy of the lab cluster's kubeconfig (the default
path ansible-test's cloud setup writes; k8s_full moves it away and back): the real ~/.kube/config
is never read or written.

    python tests/lab/kube/k8s_core_targets.py [target ...]       # a lab of its own
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

MIRROR = os.environ.get("K8S_CORE_MIRROR", "/work/.mirror/ansible-collections+kubernetes.core/repo")
TARGETS_DIR = "tests/integration/targets"

# Targets that pass against the lab cluster: the harness test runs these.
SUPPORTED = [
    "k8s_access_review", "k8s_append_hash", "k8s_cluster_info", "k8s_crd", "k8s_delete", "k8s_diff",
    "k8s_generate_name", "k8s_hide_fields", "k8s_json_patch", "k8s_json_patch_hide_fields",
    "k8s_label_selectors", "k8s_lists", "k8s_merge_type", "k8s_patched", "k8s_scale",
    "k8s_template", "k8s_full", "k8s_gc", "lookup_k8s",
]
# Not passing yet, pick them with MESHDR_K8S_CORE_TARGETS.  k8s_info (~16 min): its wait part passes; its
# api-server-caching part deletes ~/.kube/config, copies it back, and the next task's client then finds no
# configuration at all ("Invalid kube-config file. No configuration found.", before any request reaches the
# lab): so far a harness question (the temporary HOME), not an API behaviour.
UNVERIFIED = ["k8s_info"]
# Excepted, and why (what a real cluster or the test's own setup has that the lab run does not).
EXCEPTED = {
    "k8s_exec": "needs a kubelet (pods/exec over a websocket into a running container)",
    "k8s_copy": "needs a kubelet (k8s_cp execs tar in a running container)",
    "k8s_log": "needs a kubelet (the output of a container that really ran its command)",
    "k8s_drain": "needs a kubelet (Pods evicted from real nodes, DaemonSet-managed and unmanaged Pods)",
    "k8s_taint": "needs a kubelet's Nodes (taints on several schedulable nodes)",
    "k8s_waiter": "needs a kubelet (a crashing container and an image that cannot be pulled must fail the wait)",
    "k8s_rollback": "needs a kubelet (a rollout to a nonexistent image must fail) and DaemonSet ControllerRevisions",
    "k8s_user_impersonation": "needs the token controller (service-account-token Secrets) and an RBAC authorizer; "
                              "the lab's credentials are cluster-admin",
    "k8s_check_mode": "installs two kubernetes client releases from PyPI into virtualenvs",
    "k8s_apply": "its server-side-apply matrix installs five kubernetes client releases from PyPI into virtualenvs",
    "k8s_validate": "installs kubernetes-validate into a virtualenv from PyPI",
    "k8s_manifest_url": "serves its manifests from a docker container (docker run nginx)",
    "lookup_kustomize": "downloads kustomize's installer from raw.githubusercontent.com (no network here)",
}
# helm* targets need the helm binary, chart repositories and registries from the network: not run.
HELM = ["helm", "helm_diff", "helm_kubeconfig", "helm_plain_http", "helm_plugin", "helm_pull", "helm_registry_auth",
        "helm_repository", "helm_set_values", "install_helm", "push_to_helm_registry", "setup_helm_registry"]


def installed_version() -> str:
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-galaxy"), "collection", "list",
                          "kubernetes.core", "--format", "json"], capture_output=True, text=True, check=True).stdout
    for collections in json.loads(out).values():
        if "kubernetes.core" in collections:
            return collections["kubernetes.core"]["version"]
    raise RuntimeError("kubernetes.core is not installed")


def extract(tag: str, dest: str) -> str:
    """The collection at ``tag`` from the mirror under dest/ansible_collections; returns the targets directory."""
    root = os.path.join(dest, "ansible_collections", "kubernetes", "core")
    os.makedirs(root)
    archive = subprocess.run(["git", "-C", MIRROR, "archive", tag], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", root], input=archive.stdout, check=True)
    return os.path.join(root, TARGETS_DIR)


def run_target(targets: str, target: str, kubeconfig: str, log_dir: str, timeout: float = 1800) -> tuple[bool, str]:
    home = os.path.join(log_dir, "home")
    os.makedirs(os.path.join(home, ".kube"), exist_ok=True)
    shutil.copyfile(kubeconfig, os.path.join(home, ".kube", "config"))
    os.chmod(os.path.join(home, ".kube", "config"), 0o600)
    env = dict(os.environ)
    for name in ("K8S_AUTH_KUBECONFIG", "KUBECONFIG", "K8S_AUTH_CONTEXT"):
        env.pop(name, None)  # the default path only, as ansible-test's kubeconfig setup (k8s_full moves it away)
    env.update(ANSIBLE_NOCOLOR="1", HOME=home,
               PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
               ANSIBLE_COLLECTIONS_PATH=targets.split(os.sep + "ansible_collections" + os.sep)[0],
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    log_path = os.path.join(log_dir, f"{target}.log")
    started = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as log:
        try:
            rc = subprocess.run(["bash", "runme.sh"], cwd=os.path.join(targets, target), env=env, stdout=log,
                                stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = -1
    return rc == 0, f"{target}: {'ok' if rc == 0 else f'FAILED rc={rc}'} ({time.monotonic() - started:.0f}s) {log_path}"


def main(argv: list[str]) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "..", "..", "lab"))
    from drlab.testing import LabHandle

    if not os.path.isdir(MIRROR):
        print(f"no kubernetes.core mirror at {MIRROR}: fetch github:ansible-collections/kubernetes.core first")
        return 2
    targets = argv or SUPPORTED
    work = tempfile.mkdtemp(prefix="k8s-core-")
    targets_dir = extract(installed_version(), work)
    lab = LabHandle(topology={"timing": {"gateway_resync": 0}}).up()
    failed = 0
    try:
        kubeconfig = os.path.join(lab.dir, "kubeconfig", "cluster-1.yaml")
        for target in targets:
            ok, line = run_target(targets_dir, target, kubeconfig, work)
            failed += not ok
            print(line, flush=True)
    finally:
        lab.down()
        shutil.rmtree(lab.dir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
