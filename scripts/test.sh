#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs the third-party runners (act, gitlab-ci-local),
# type-checks the package (mypy --strict), runs the fast suite (emulator, real git repos, real runners), then the end-to-end tier against
# a real Sentry server that the e2e fixtures start on 127.0.0.1 (or reuse via SENTRY_E2E_*).
#
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh --fast     # skip the end-to-end tier
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-}
if [[ -z "$PYTHON" ]]; then
    if [[ -n "${VIRTUAL_ENV:-}" ]]; then PYTHON="$VIRTUAL_ENV/bin/python"
    elif [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python
    else PYTHON=python3
    fi
fi
export PATH="$(dirname "$("$PYTHON" -c 'import sys; print(sys.executable)')"):$PATH"

VENV="$("$PYTHON" -c 'import sys; print(sys.prefix)')" bash scripts/install-runners.sh

start=$(date +%s)
"$PYTHON" -m mypy        # strict, for sentry_release/ (pyproject.toml [tool.mypy])
echo "type check: $(( $(date +%s) - start )) s"

start=$(date +%s)
"$PYTHON" -m pytest
echo "fast suite: $(( $(date +%s) - start )) s"

if [[ "${1:-}" != "--fast" ]]; then
    start=$(date +%s)
    "$PYTHON" -m pytest -m e2e tests/e2e
    echo "end-to-end tier: $(( $(date +%s) - start )) s"
fi
