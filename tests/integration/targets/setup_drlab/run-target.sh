#!/usr/bin/env bash
# Runs one integration target (the role in the calling directory) against a drlab lab, the way
# kubernetes.core's targets bring their cluster: each target's runme.sh execs this script.
#   ansible-test integration --local drlab/     # every target (group alias drlab)
#   ansible-test integration --venv --requirements asm_mesh
# The lab is the one tests/integration/run.sh started (tests/integration/drlab-reuse), or else
# a throw-away lab of this target's own (free ports, random 127.<octet>.N.1 block), stopped on exit.
set -euo pipefail
TARGET_DIR="$(pwd)"
TARGET="$(basename "$TARGET_DIR")"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The collection root. ansible-test runs a copy of tests/integration (under tests/output/.tmp), so
# ask the collection path it sets; run by hand, this script sits in the collection itself.
ROOT="$(cd "$HERE/../../../.." && pwd)"
IFS=: read -r -a _paths <<<"${ANSIBLE_COLLECTIONS_PATH:-}"
for _path in "${_paths[@]}"; do
  if [ -f "$_path/ansible_collections/meshdr/alicloud/galaxy.yml" ]; then
    ROOT="$(cd "$_path/ansible_collections/meshdr/alicloud" && pwd)"; break
  fi
done

# The lab needs drlab and its data plane (aiohttp, dnslib, envoy): a Python that has them, which
# is not necessarily the one ansible-test runs the modules with (--venv).
LAB_PYTHON=""
for candidate in "$(cat "$ROOT/tests/integration/drlab-python" 2>/dev/null || true)" \
                 "$ROOT/.venv/bin/python" "$(command -v python3 || true)"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    if PYTHONPATH="$ROOT/lab${PYTHONPATH:+:$PYTHONPATH}" "$candidate" -c 'import drlab.testing' 2>/dev/null; then
      LAB_PYTHON="$candidate"; break
    fi
  fi
done
if [ -z "$LAB_PYTHON" ]; then
  echo "setup_drlab: no Python with drlab found (make venv, or pip install -e lab)" >&2
  exit 1
fi
if [ -d "$ROOT/lab/drlab" ]; then
  export PYTHONPATH="$ROOT/lab${PYTHONPATH:+:$PYTHONPATH}"
fi

eval "$("$LAB_PYTHON" "$HERE/lab.py" up "$ROOT")"
if [ "$DRLAB_STOP" = 1 ]; then
  echo "setup_drlab: started a lab for ${TARGET} in ${DRLAB_DIR}"
  trap '"$LAB_PYTHON" "$HERE/lab.py" down "$DRLAB_DIR"' EXIT
else
  echo "setup_drlab: ${TARGET} reuses the lab in ${DRLAB_DIR}"
fi
# The modules and the lab's Python are separate processes: the modules must not import drlab.
unset PYTHONPATH

PLAYBOOK="$(mktemp "${OUTPUT_DIR:-/tmp}/${TARGET}-XXXXXX.yml")"
cat >"$PLAYBOOK" <<YAML
- name: Integration target ${TARGET}
  hosts: testhost
  gather_facts: false
  vars:
    drlab_dir: "${DRLAB_DIR}"
  # Every uri call of the targets goes to the lab's admin routes, which need the lab token; as
  # url_password (no_log in the uri module) it never shows in output.
  module_defaults:
    ansible.builtin.uri:
      url_username: drlab
      url_password: "{{ lookup('file', drlab_dir ~ '/admin-token') }}"
      force_basic_auth: true
  roles:
    - role: "${TARGET}"
YAML
if [ -z "${INVENTORY_PATH:-}" ]; then
  # Run by hand, outside ansible-test: the same one-host inventory ansible-test writes.
  INVENTORY_PATH="$(mktemp "${OUTPUT_DIR:-/tmp}/inventory-XXXXXX")"
  echo "testhost ansible_connection=local ansible_python_interpreter=$(command -v python3)" >"$INVENTORY_PATH"
fi
ANSIBLE_ROLES_PATH="$(dirname "$TARGET_DIR")" ansible-playbook -i "$INVENTORY_PATH" "$PLAYBOOK" "$@"
