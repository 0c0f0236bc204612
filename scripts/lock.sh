#!/usr/bin/env bash
# Re-lock every pip install whiskey makes: each requirements.in (the pins people edit) becomes a
# requirements.txt with every transitive dependency pinned and the SHA-256 of every file PyPI has for that
# version (all platforms, sdist included), so `pip install --require-hashes` refuses anything else.
# Run after changing a .in file: `make lock`. Needs PyPI; uses a throwaway venv with pip-tools.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
PIP_TOOLS_VERSION=7.6.2
venv=.cache/lock-venv
if ! "$venv/bin/pip-compile" --version 2>/dev/null | grep -q "$PIP_TOOLS_VERSION"; then
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/pip" install -q "pip-tools==$PIP_TOOLS_VERSION"
fi
export CUSTOM_COMPILE_COMMAND="make lock"
# in -> out (the lock each install uses)
locks=(
  app/requirements.in:app/requirements.txt                      # the server's app venv (roles/quoteserver)
  app/requirements-build.in:app/requirements-build.txt          # setuptools/wheel for the source builds
  roles/locust/files/requirements.in:roles/locust/files/requirements.txt  # the clients' Locust venv
  report/requirements.in:report/requirements.txt                # whiskey-report on its own
  requirements/controller.in:requirements/controller.txt        # the controller's .venv (everything above)
)
for pair in "${locks[@]}"; do
  in=${pair%%:*} out=${pair#*:}
  echo "lock: $in -> $out"
  "$venv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
    --resolver=backtracking --output-file "$out" "$in"
done
