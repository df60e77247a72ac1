#!/usr/bin/env bash
# ansible-test sanity on the collection as it ships (the Galaxy artefact's file set), with no ignore file.
# ansible-test needs the tree under ansible_collections/<namespace>/<name>; we copy the tracked files there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$ROOT/.venv/bin"
# A directory per run, so parallel runs (developers, CI) never share one.
WORK="$ROOT/.build/sanity-$$"
DEST="$WORK/ansible_collections/meshdr/alicloud"
trap 'rm -rf "$WORK"' EXIT
PYVER="$("$BIN/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

# ansible-test's sanity venvs bootstrap pip with a script downloaded from its CI host.  Where that
# host is unreachable, put our offline stand-in in its cache -- only after the download failed.
PIP_VERSION="$("$BIN/python" - <<'PY'
# The pip version ansible-test bootstraps into its sanity venvs.
from ansible_test._internal.python_requirements import get_venv_packages
from ansible_test._internal.host_configs import NativePythonConfig
import sys
print(get_venv_packages(NativePythonConfig(version="%d.%d" % sys.version_info[:2], path=sys.executable))["pip"])
PY
)"
if [ -n "$PIP_VERSION" ]; then
  CACHE="$HOME/.ansible/test/cache/get_pip_${PIP_VERSION//./_}.py"
  if [ ! -f "$CACHE" ]; then
    mkdir -p "$(dirname "$CACHE")"
    if ! "$BIN/python" - "$PIP_VERSION" "$CACHE" <<'PY' 2>/dev/null
import sys, urllib.request
version, cache = sys.argv[1], sys.argv[2]
url = "https://ci-files.testing.ansible.com/ansible-test/get-pip-%s.py" % version
data = urllib.request.urlopen(url, timeout=10).read()
open(cache, "wb").write(data)
PY
    then
      echo "sanity: get-pip download unreachable; using tests/sanity/get_pip_offline.py"
      cp "$ROOT/tests/sanity/get_pip_offline.py" "$CACHE"
    fi
  fi
fi

mkdir -p "$DEST"
cd "$ROOT"
# The file set of the collection: tracked and new files, minus what galaxy.yml's build_ignore leaves out
# of the artefact (the lab and benchmarks are tools of this repository, not collection content).
git ls-files -z --cached --others --exclude-standard \
  | grep -zv -E '^(lab/|benchmarks/|\.ci/|tests/lab/)' \
  | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | tar --null -T - -cf - | tar -xf - -C "$DEST"
cd "$DEST"
# ansible-test lists files with git when it finds a repository above; give the copy its own.
git init -q . && git add -A && git -c user.name=sanity -c user.email=sanity@localhost commit -qm sanity
export PATH="$BIN:$PATH"
"$BIN/ansible-test" sanity --venv --python "$PYVER" --color no "$@"
