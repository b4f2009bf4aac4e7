#!/usr/bin/env bash
# The Helm chart's offline test (deploy/helm/test/chart_test.py): lint, render, strict
# Kubernetes validation, golden diff and the negative cases, with no helm binary and no
# cluster. Its Python tools go into a virtualenv under target/ (pip, from PyPI, pinned in
# deploy/helm/test/requirements.txt), made once.
#
#   scripts/chart-test.sh [--vfed BIN] [--update-golden]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=${CHART_VENV:-target/chart-venv}
requirements=deploy/helm/test/requirements.txt
stamp=$venv/.requirements
if [[ ! -x $venv/bin/python ]] || ! cmp -s "$requirements" "$stamp"; then
  if ! /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null; then
    echo "chart-test.sh: python3-venv is missing: run scripts/install-deps.sh test" >&2
    exit 1
  fi
  echo "chart-test.sh: installing the chart test's tools into $venv (pip, $requirements)"
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements"
  cp "$requirements" "$stamp"
fi
exec "$venv/bin/python" deploy/helm/test/chart_test.py "$@"
