#!/usr/bin/env bash
# One-time setup of the controller (a Debian 12 / Ubuntu machine, as root or with sudo):
#   Docker engine (started if it does not answer), debootstrap, a JDK and Maven (to fetch Elasticsearch),
#   the pinned Python venv (.venv), the Elasticsearch archive (.cache/elasticsearch), and the lab's base images.
# Safe to re-run: every step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ES_VERSION=$(sed -n 's/^elasticsearch_version: *"\{0,1\}\([0-9.]*\)"\{0,1\}.*/\1/p' roles/elasticsearch/defaults/main.yml 2>/dev/null | head -1)
ES_VERSION=${ES_VERSION:-8.19.7}
# The same Locust as the clients get (roles/locust), for the load drivers' tests on the controller.
LOCUST_VERSION=$(sed -n 's/^locust_version: *"\{0,1\}\([0-9.]*\)"\{0,1\}.*/\1/p' roles/locust/defaults/main.yml 2>/dev/null | head -1)
LOCUST_VERSION=${LOCUST_VERSION:-2.47.0}
PYTHON=${PYTHON:-python3}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

step() { printf '\n== %s\n' "$*"; }

step "system packages"
need=()
for pkg in docker.io debootstrap openjdk-17-jdk-headless maven fortunes fortunes-min chromium fonts-liberation python3-psutil wrk openssh-client; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
# A newer docker CLI may already be installed outside Debian's packages: docker.io is still needed for dockerd.
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian starts these where systemd runs; the benchmark's nginx lives in the lab, not on the controller.
  ($SUDO systemctl disable --now nginx 2>/dev/null || true) >/dev/null
fi
echo "ok: ${#need[@]} installed"

step "docker engine"
if ! docker info >/dev/null 2>&1; then
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    $SUDO systemctl start docker
  else
    $SUDO mkdir -p /var/log
    $SUDO setsid nohup dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
  fi
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
fi
docker info --format 'ok: docker {{.ServerVersion}} ({{.Driver}})'

step "python venv (.venv)"
if [ ! -x .venv/bin/python ] || ! cmp -s requirements/controller.txt .venv/.requirements 2>/dev/null \
   || ! cat app/requirements*.txt report/requirements*.txt 2>/dev/null | cmp -s - .venv/.requirements-packages; then
  "$PYTHON" -m venv .venv
  # One resolver run over every pinned set: the controller's tools, the app (its tests run here; uWSGI compiles
  # once, ~40 s) and the report.
  .venv/bin/pip install -q -r requirements/controller.txt \
    -r app/requirements.txt -r app/requirements-dev.txt -r report/requirements.txt
  .venv/bin/pip install -q --no-deps -e app -e report
  cp requirements/controller.txt .venv/.requirements
  cat app/requirements*.txt report/requirements*.txt 2>/dev/null > .venv/.requirements-packages || true
fi
.venv/bin/ansible --version | sed -n 1p

step "Locust for the load-driver tests (.cache/locust-venv)"
if [ ! -x .cache/locust-venv/bin/locust ]; then
  "$PYTHON" -m venv .cache/locust-venv
  .cache/locust-venv/bin/pip install -q "locust==$LOCUST_VERSION"
fi
.cache/locust-venv/bin/locust --version

step "Elasticsearch $ES_VERSION archive (Maven Central)"
mkdir -p .cache/elasticsearch
archive=.cache/elasticsearch/elasticsearch-$ES_VERSION.zip
if [ ! -s "$archive" ]; then
  mvn -q -B dependency:copy \
    -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip" \
    -DoutputDirectory="$ROOT/.cache/elasticsearch" -Dmdep.overWriteReleases=false
fi
ls -l "$archive"

step "lab base images"
PATH="$ROOT/.venv/bin:$PATH" ansible-playbook playbooks/images.yml
