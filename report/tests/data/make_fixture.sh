#!/usr/bin/env bash
# Re-make the report's test data (report/tests/data/runs/): ~5 minutes of real Locust runs on loopback.
# Needs nginx on PATH (Debian: apt-get install -y nginx-light) and Python >= 3.11.
# The load tools go into a throwaway venv ($WHISKEY_FIXTURE_VENV, default /tmp/whiskey-fixture-venv).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${WHISKEY_FIXTURE_VENV:-/tmp/whiskey-fixture-venv}"
if [ ! -x "$venv/bin/locust" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet locust==2.47.0 gunicorn==27.0.1 waitress==3.0.2 psutil==7.2.2
fi
exec "$venv/bin/python" "$here/make_fixture.py" "$@"
