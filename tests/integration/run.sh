#!/usr/bin/env bash
# `make integration`: every integration target through ansible-test itself, on one shared lab.
#   bash tests/integration/run.sh [TARGET ...] [-- ANSIBLE-TEST OPTIONS]   (default: --local, all targets)
# ansible-test needs the collection under ansible_collections/<namespace>/<name>: the tracked
# files are copied there (as tests/sanity/run.sh does), with the Galaxy dependencies linked
# beside it so `--venv` finds them too. One throw-away lab (free ports, random 127.<octet>.N.1
# block) serves every target; setup_drlab's run-target.sh reuses it through drlab-reuse.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$ROOT/.venv/bin"
PY="$BIN/python"
WORK="$ROOT/.build/integration-$$"
BASE="$WORK/ansible_collections"
DEST="$BASE/meshdr/alicloud"
LAB=""
cleanup() {
  if [ -n "$LAB" ]; then "$PY" "$ROOT/tests/integration/targets/setup_drlab/lab.py" down "$LAB" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

TARGETS=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do TARGETS+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
OPTIONS=("$@")
[ ${#OPTIONS[@]} -gt 0 ] || OPTIONS=(--local --continue-on-error)
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(drlab/)

mkdir -p "$DEST"
cd "$ROOT"
git ls-files -z --cached --others --exclude-standard \
  | grep -zv -E '^(lab/|benchmarks/|\.ci/|tests/lab/)' \
  | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | tar --null -T - -cf - | tar -xf - -C "$DEST"

# The Galaxy dependencies (galaxy.yml), wherever this Python finds them (the `ansible` package
# or ~/.ansible/collections), linked next to the copy: ansible-test's collection path is $WORK.
"$PY" - "$BASE" <<'PY'
import os, sys, yaml
base = sys.argv[1]
deps = yaml.safe_load(open(os.path.join(base, "meshdr", "alicloud", "galaxy.yml")))["dependencies"]
roots = sys.path + [os.path.expanduser("~/.ansible/collections"), "/usr/share/ansible/collections"]
for fqcn in deps:
    ns, name = fqcn.split(".")
    for root in roots:
        src = os.path.join(root, "ansible_collections", ns, name)
        if os.path.isdir(src):
            os.makedirs(os.path.join(base, ns), exist_ok=True)
            os.symlink(src, os.path.join(base, ns, name))
            break
    else:
        sys.exit(f"integration: collection {fqcn} not found (make venv installs it)")
PY

LAB="$("$PY" -c 'import tempfile; print(tempfile.mkdtemp(prefix="drlab-it-"))')"
"$PY" - "$LAB" <<'PY'
import sys
from drlab.testing import LabHandle
LabHandle(directory=sys.argv[1]).up()
PY
echo "$LAB" >"$DEST/tests/integration/drlab-reuse"

cd "$DEST"
# ansible-test lists files with git when it finds a repository above; give the copy its own.
git init -q . && git add -A && git -c user.name=it -c user.email=it@localhost commit -qm integration
export PATH="$BIN:$PATH"
status=0
"$BIN/ansible-test" integration "${OPTIONS[@]}" --color no "${TARGETS[@]}" || status=$?
if [ $status -ne 0 ]; then
  tail -n 40 "$LAB/drlab.log" 2>/dev/null || true
fi
exit $status
