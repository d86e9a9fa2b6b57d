#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs what it needs, then checks style,
# types and every test (unit, real Docker engines and registries, TUI). Run as root.
# Arguments go to pytest (both runs).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

echo "== ruff check"; .venv/bin/ruff check .
echo "== ruff format --check"; .venv/bin/ruff format --check .
echo "== mypy"; .venv/bin/mypy
# The suite in two runs that together are all of it: first what needs neither root nor Docker,
# with no Docker or registry program on PATH and no daemon allowed to start (a test that needs
# one must be marked integration: tests/conftest.py), then the integration tests.
bare=$(mktemp -d)
trap 'rm -rf "$bare"' EXIT
.venv/bin/python scripts/bare_path.py "$bare" >/dev/null
pytest_allowing_none() {  # exit 5: the arguments selected no test of this kind
  local code=0
  "$@" || code=$?
  if [ "$code" -ne 0 ] && [ "$code" -ne 5 ]; then return "$code"; fi
}
echo "== pytest -m 'not integration' (no Docker, no registry)"
pytest_allowing_none env PATH="$bare" AIRGAP_TUI_NO_SERVICES=1 \
  .venv/bin/python -m pytest -m "not integration" "$@"
echo "== pytest -m integration"
pytest_allowing_none .venv/bin/python -m pytest -m integration "$@"
