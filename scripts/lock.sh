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
servers=roles/quoteserver/files/servers.in
# in -> out (the lock each install uses)
locks=(
  "$servers":roles/quoteserver/files/servers.txt                # the WSGI servers under test (every app's venv)
  roles/quoteserver/files/requirements-build.in:roles/quoteserver/files/requirements-build.txt  # setuptools/wheel for the source builds
  app/requirements.in:app/requirements.txt                      # the quote server's own runtime (no servers)
  roles/locust/files/requirements.in:roles/locust/files/requirements.txt  # the clients' Locust venv
  report/requirements.in:report/requirements.txt                # whiskey-report on its own
  requirements/controller.in:requirements/controller.txt        # the controller's .venv (everything above)
)
# Every example app's lock (examples/<app>/requirements.in -> requirements.txt)
for in in examples/*/requirements.in; do
  [ -e "$in" ] && locks+=("$in:${in%.in}.txt")
done
# An app's lock is installed together with the servers' lock (one `pip install -r servers.txt -r <app lock>`):
# the servers' pins constrain every app lock, so a package in both gets the same version and pip never sees a
# conflict. (A lock of an app outside this repository should do the same: `pip-compile -c servers.in`.)
is_app_lock() { [[ $1 == app/requirements.in || $1 == examples/*/requirements.in ]]; }
for pair in "${locks[@]}"; do
  in=${pair%%:*} out=${pair#*:}
  constraint=()
  if is_app_lock "$in"; then constraint=(--constraint "$servers"); fi
  echo "lock: $in -> $out${constraint:+ (constrained by $servers)}"
  "$venv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
    --resolver=backtracking "${constraint[@]}" --output-file "$out" "$in"
done
