#!/usr/bin/env bash
# Integration targets (tests/integration/targets/<name>/tasks/main.yml), each run with ansible-playbook
# against a fresh lab, in the ansible-test layout so `ansible-test integration` can run them too.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
exec "$ROOT/.venv/bin/python" "$ROOT/tests/integration/runner.py" "$@"
