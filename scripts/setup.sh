#!/usr/bin/env bash
# One-time setup of the controller (a Debian 12 / Ubuntu machine, as root or with sudo):
#   system packages (Docker engine, debootstrap, a JDK and Maven, wrk, Chromium, ...), the Docker engine started
#   if it does not answer, the pinned Python venv (.venv), Locust for the load-driver tests, the Elasticsearch
#   archive (.cache/elasticsearch) and the lab's base images.
# Safe to re-run: every step is skipped when its result is already there. One line per step with its time; when a
# prerequisite cannot be had, one message naming the cause and what to do (exit 1), not a traceback.
#
# Environment: WHISKEY_IMAGE_TAG (tag of the lab's images, default bookworm; CI builds its own),
#              WHISKEY_REBUILD_IMAGES=1 (build the images even if they exist), PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
LOG_DIR=$ROOT/.cache/setup
mkdir -p "$LOG_DIR"
setup_start=$(date +%s)

# The pinned versions live in the roles' defaults; setup reads them from there (one place per value).
pinned() { sed -n "s/^$1: *\"\{0,1\}\([0-9.]*\)\"\{0,1\}.*/\1/p" "$2" | head -1; }
ES_VERSION=$(pinned elasticsearch_version roles/elasticsearch/defaults/main.yml)
LOCUST_VERSION=$(pinned locust_version roles/locust/defaults/main.yml)
VEGETA_VERSION=$(pinned locust_vegeta_version roles/locust/defaults/main.yml)
GO_VERSION=$(pinned locust_vegeta_go_version roles/locust/defaults/main.yml)
# pin_map NAME KEY FILE: the value of KEY in the YAML mapping NAME (two-space indented, one level).
pin_map() { sed -n "/^$1:/,/^[^ ]/s/^  $2: *\"\{0,1\}\([0-9a-f]*\)\"\{0,1\}.*/\1/p" "$3" | head -1; }

step_name=""
step_start=0
step() { step_name=$1; step_start=$(date +%s); }
done_step() { printf 'setup: %-44s %4ss  %s\n' "$step_name" "$(( $(date +%s) - step_start ))" "$*"; }
# die CAUSE WHAT-TO-DO [LOG]: one message, then exit 1.
die() {
  printf '\nsetup: FAILED at "%s" after %ss\n  cause: %s\n  to do: %s\n' \
    "$step_name" "$(( $(date +%s) - step_start ))" "$1" "$2" >&2
  if [ -n "${3:-}" ] && [ -s "$3" ]; then
    printf '  last lines of %s:\n' "$3" >&2
    tail -n 15 "$3" | sed 's/^/    /' >&2
  fi
  exit 1
}
# pip_failed LOG: pip's install failed; say whether a file did not match its pinned hash or PyPI did not answer.
pip_failed() {
  if grep -q "DO NOT MATCH THE HASHES" "$1"; then
    die "a file PyPI served does not match the SHA-256 pinned in the lock (tampered, or re-uploaded)" \
      "do not work around it: read $1 (it names the package and both hashes); re-lock with make lock only if the change is expected" "$1"
  fi
  die "pip could not install the locked requirements (registry unreachable, or a pin that does not exist)" \
    "read $1; re-run when PyPI answers" "$1"
}

step "prerequisites"
command -v apt-get >/dev/null 2>&1 \
  || die "apt-get not found: setup needs a Debian or Ubuntu machine" "run it on Debian 12 / Ubuntu, or install by hand what scripts/setup.sh lists"
if [ -n "$SUDO" ] && ! sudo -n true 2>/dev/null; then
  die "not root and sudo asks for a password" "run as root, or run 'sudo -v' first"
fi
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
  || die "$PYTHON is missing or older than 3.11 (Locust and the venv need >= 3.11)" "install python3 >= 3.11 or set PYTHON=/path/to/python3.11"
free_gb=$(df -Pk "$ROOT" | awk 'NR==2 {print int($4 / 1048576)}')
docker_root=/var/lib/docker; [ -d "$docker_root" ] || docker_root=/var/lib
docker_free_gb=$(df -Pk "$docker_root" | awk 'NR==2 {print int($4 / 1048576)}')
[ "$free_gb" -ge 6 ] \
  || die "only ${free_gb} GB free under $ROOT (the venv, the caches and results need about 6 GB)" "free disk space, then re-run"
[ "$docker_free_gb" -ge 6 ] \
  || die "only ${docker_free_gb} GB free under $docker_root (images and lab containers need about 6 GB)" "free disk space (docker system prune), then re-run"
done_step "ok: $("$PYTHON" --version 2>&1), ${free_gb} GB free"

step "system packages (apt)"
need=()
for pkg in docker.io debootstrap openjdk-17-jdk-headless maven fortunes fortunes-min chromium fonts-liberation \
           python3-venv python3-psutil wrk openssh-client curl unzip; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -qq >"$LOG_DIR/apt.log" 2>&1 \
    || die "apt-get update failed (no network to the Debian mirror, or a broken sources.list)" "check the mirror is reachable, then re-run" "$LOG_DIR/apt.log"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >>"$LOG_DIR/apt.log" 2>&1 \
    || die "apt-get install of ${need[*]} failed" "read $LOG_DIR/apt.log, fix the package source, re-run" "$LOG_DIR/apt.log"
  # Debian starts these where systemd runs; the benchmark's nginx lives in the lab, not on the controller.
  ($SUDO systemctl disable --now nginx 2>/dev/null || true) >/dev/null
fi
done_step "ok: ${#need[@]} installed${need:+ (${need[*]})}"

step "docker engine"
# A newer docker CLI may be installed outside Debian's packages (without buildx): whiskey needs only the engine.
if ! docker info >/dev/null 2>&1; then
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    $SUDO systemctl start docker >"$LOG_DIR/dockerd.log" 2>&1 || true
  else
    command -v dockerd >/dev/null || die "dockerd not found although docker.io is installed" "reinstall: apt-get install --reinstall docker.io"
    $SUDO setsid nohup dockerd >"$LOG_DIR/dockerd.log" 2>&1 </dev/null &
  fi
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 \
    || die "the Docker engine did not answer within 60 s" "read $LOG_DIR/dockerd.log (or journalctl -u docker); start dockerd by hand, re-run" "$LOG_DIR/dockerd.log"
fi
done_step "ok: $(docker info --format 'engine {{.ServerVersion}}, {{.Driver}}, cgroup v{{.CgroupVersion}}')"

# Every later step (molecule calls ansible-config) finds the venv's tools first.
export PATH="$ROOT/.venv/bin:$PATH"
step "python venv (.venv)"
# requirements/controller.txt is the lock of the whole venv (the controller's tools, the app and its tests, the
# report): every transitive pin with the SHA-256 of each file, so pip refuses a file that is not the pinned one.
# Build tools first (hash-checked), then everything without build isolation: uWSGI compiles from its sdist with
# those, and no unchecked build dependency is fetched. `make lock` re-locks after a .in file changes.
if [ ! -x .venv/bin/python ] || ! cat requirements/controller.txt roles/quoteserver/files/requirements-build.txt | cmp -s - .venv/.requirements 2>/dev/null; then
  rm -rf .venv
  "$PYTHON" -m venv .venv
  { .venv/bin/pip install -q --require-hashes -r roles/quoteserver/files/requirements-build.txt \
    && .venv/bin/pip install -q --require-hashes --no-build-isolation -r requirements/controller.txt; } >"$LOG_DIR/pip.log" 2>&1 \
    || pip_failed "$LOG_DIR/pip.log"
  .venv/bin/pip install -q --no-deps --no-build-isolation -e app -e report >>"$LOG_DIR/pip.log" 2>&1 \
    || die "pip could not install the app and report packages" "read $LOG_DIR/pip.log" "$LOG_DIR/pip.log"
  cat requirements/controller.txt roles/quoteserver/files/requirements-build.txt > .venv/.requirements
fi
done_step "ok: $(.venv/bin/ansible --version 2>/dev/null | sed -n 1p), $(NO_COLOR=1 .venv/bin/molecule --version 2>/dev/null | sed -n 1p | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-40)"

step "Locust $LOCUST_VERSION (.cache/locust-venv)"
# The same Locust as the clients get (roles/locust), for the load drivers' tests on the controller.
if ! .cache/locust-venv/bin/locust --version 2>/dev/null | grep -q "$LOCUST_VERSION" \
   || ! cmp -s roles/locust/files/requirements.txt .cache/locust-venv/.requirements; then
  rm -rf .cache/locust-venv
  "$PYTHON" -m venv .cache/locust-venv
  .cache/locust-venv/bin/pip install -q --require-hashes --only-binary :all: -r roles/locust/files/requirements.txt \
    >"$LOG_DIR/pip-locust.log" 2>&1 || pip_failed "$LOG_DIR/pip-locust.log"
  cp roles/locust/files/requirements.txt .cache/locust-venv/.requirements
fi
done_step "ok: $(.cache/locust-venv/bin/locust --version 2>&1 | head -1)"

step "vegeta $VEGETA_VERSION (.cache/vegeta)"
# The capacity profile's driver. A static binary built here and copied to the clients (roles/locust): Go
# $GO_VERSION comes from the Go module proxy as a module zip (its SHA-256 pinned), vegeta's module through the
# proxy with go.sum checked, and the binary's own SHA-256 is pinned too (the build is reproducible).
arch=$(dpkg --print-architecture 2>/dev/null || uname -m); arch=${arch/x86_64/amd64}; arch=${arch/aarch64/arm64}
vegeta_bin=.cache/vegeta/vegeta-$VEGETA_VERSION-linux-$arch
want=$(pin_map locust_vegeta_sha256 "$arch" roles/locust/defaults/main.yml)
[ -n "$want" ] || die "no locust_vegeta_sha256 pin for $arch in roles/locust/defaults/main.yml" "build once, then pin the binary's sha256 for $arch"
if [ "$(sha256sum "$vegeta_bin" 2>/dev/null | cut -c1-64)" != "$want" ]; then
  go_sha=$(pin_map locust_vegeta_go_sha256 "$arch" roles/locust/defaults/main.yml)
  go_zip=.cache/go/go$GO_VERSION.linux-$arch.zip
  go_root=.cache/go/golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-$arch
  mkdir -p .cache/go .cache/vegeta
  if [ "$(sha256sum "$go_zip" 2>/dev/null | cut -c1-64)" != "$go_sha" ]; then
    curl -fsSL --retry 3 -o "$go_zip.part" "${GOPROXY_URL:-https://proxy.golang.org}/golang.org/toolchain/@v/v0.0.1-go$GO_VERSION.linux-$arch.zip" \
      2>"$LOG_DIR/go.log" || die "could not download Go $GO_VERSION from the Go module proxy" "read $LOG_DIR/go.log; re-run when the proxy answers" "$LOG_DIR/go.log"
    got=$(sha256sum "$go_zip.part" | cut -c1-64)
    [ "$got" = "$go_sha" ] || { rm -f "$go_zip.part"; die "Go $GO_VERSION's archive has SHA-256 $got, not the pinned $go_sha" "do not work around it: re-run to fetch it again"; }
    mv "$go_zip.part" "$go_zip"
    rm -rf "$go_root"
  fi
  [ -x "$go_root/bin/go" ] || (cd .cache/go && unzip -q -o "go$GO_VERSION.linux-$arch.zip" >/dev/null)
  rm -rf .cache/gopath/bin
  env GOENV=off GOTOOLCHAIN=local GOFLAGS=-buildvcs=false GOPATH="$ROOT/.cache/gopath" GOCACHE="$ROOT/.cache/gocache" \
    CGO_ENABLED=0 GOOS=linux GOARCH="$arch" "$go_root/bin/go" install -trimpath \
    -ldflags "-s -w -X main.Version=v$VEGETA_VERSION" "github.com/tsenart/vegeta/v12@v$VEGETA_VERSION" >"$LOG_DIR/vegeta.log" 2>&1 \
    || die "building vegeta $VEGETA_VERSION failed" "read $LOG_DIR/vegeta.log (its module comes through the Go module proxy)" "$LOG_DIR/vegeta.log"
  got=$(sha256sum .cache/gopath/bin/vegeta | cut -c1-64)
  [ "$got" = "$want" ] || die "the vegeta built has SHA-256 $got, not the pinned $want" "a different toolchain or module than pinned: check $LOG_DIR/vegeta.log"
  install -m 0755 .cache/gopath/bin/vegeta "$vegeta_bin"
  chmod -R u+w .cache/gopath 2>/dev/null || true
fi
done_step "ok: $("$vegeta_bin" -version 2>&1 | head -1 | cut -c1-40), sha256 ${want:0:12}… matches the pin"

step "Elasticsearch $ES_VERSION archive"
mkdir -p .cache/elasticsearch
archive=.cache/elasticsearch/elasticsearch-$ES_VERSION.zip
if [ ! -s "$archive" ]; then
  # Maven's local repository inside the clone: a fresh clone fetches it again, nothing from ~/.m2 is trusted.
  mvn -q -B -Dmaven.repo.local="$ROOT/.cache/m2" dependency:copy \
    -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip" \
    -DoutputDirectory="$ROOT/.cache/elasticsearch" -Dmdep.overWriteReleases=false >"$LOG_DIR/maven.log" 2>&1 \
    || die "Maven could not fetch org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION" "read $LOG_DIR/maven.log; re-run when Maven Central answers" "$LOG_DIR/maven.log"
fi
# The archive is not a signed package: its SHA-256 is pinned beside the version (the role checks it again).
want=$(sed -n 's/^elasticsearch_archive_sha256: *"\{0,1\}\([0-9a-f]*\)"\{0,1\}.*/\1/p' roles/elasticsearch/defaults/main.yml | head -1)
got=$(sha256sum "$archive" | cut -c1-64)
if [ -n "$want" ] && [ "$want" != "$got" ]; then
  rm -f "$archive"
  die "$archive has SHA-256 $got, not the pinned elasticsearch_archive_sha256 $want" "re-run to fetch it again (the file was removed); if the version changed, pin its checksum"
fi
checked="sha256 ${got:0:12}… ${want:+matches the pin}"
done_step "ok: $(du -h "$archive" | cut -f1), $checked"

step "lab base images (${WHISKEY_IMAGE_TAG:-bookworm})"
extra=()
[ "${WHISKEY_REBUILD_IMAGES:-0}" = 1 ] && extra=(-e lab_images_rebuild=true)
ANSIBLE_CONFIG="$ROOT/ansible.cfg" .venv/bin/ansible-playbook playbooks/images.yml "${extra[@]}" >"$LOG_DIR/images.log" 2>&1 \
  || die "building the lab's images failed" "read $LOG_DIR/images.log (debootstrap needs Debian's mirror)" "$LOG_DIR/images.log"
tag=${WHISKEY_IMAGE_TAG:-bookworm}
how=present
if grep -Eq 'localhost +: .*changed=[1-9]' "$LOG_DIR/images.log"; then
  how="built ($(grep -E '^lab_images : Build the (base image with debootstrap|systemd image)' "$LOG_DIR/images.log" \
    | sed -E 's/^lab_images : Build the (base image with debootstrap|systemd image).* ([0-9.]+s)$/\1 \2/' | paste -sd, -))"
fi
done_step "$how: $(docker image inspect -f '{{index .RepoTags 0}} {{.Size}}' "whiskey-base:$tag" "whiskey-systemd:$tag" \
  | awk '{printf "%s%s (%d MB)", (NR>1?", ":""), $1, $2/1e6}')"

printf 'setup: %-44s %4ss\n' "done" "$(( $(date +%s) - setup_start ))"
