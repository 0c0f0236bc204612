#!/usr/bin/env bash
# Build a minimal Debian base image from zero with debootstrap and import it into Docker.
# Usage: build-base-image.sh IMAGE:TAG SUITE MIRROR [CA_DIR]
# Used where no registry can be pulled from (the lab's default); see roles/lab_images.
set -euo pipefail
image=${1:?image:tag}
suite=${2:?suite, e.g. bookworm}
mirror=${3:?debian mirror URL}
ca_dir=${4:-/usr/local/share/ca-certificates}

rootfs=$(mktemp -d /var/tmp/whiskey-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

debootstrap --variant=minbase \
  --include=python3,python3-apt,sudo,ca-certificates,iproute2,procps,curl,gnupg \
  "$suite" "$rootfs" "$mirror"

cat > "$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb ${mirror%/debian}/debian-security $suite-security main
SOURCES

# HTTPS to package registries may be intercepted by a local CA: trust the same CAs as this host.
if compgen -G "$ca_dir/*.crt" >/dev/null; then
  cp "$ca_dir"/*.crt "$rootfs/usr/local/share/ca-certificates/"
  chroot "$rootfs" update-ca-certificates >/dev/null
fi

chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/*
# An empty apt cache with a fresh mtime makes Ansible's cache_valid_time skip the update.
touch -d @0 "$rootfs/var/lib/apt/lists"

tar -C "$rootfs" -c . | docker import -c 'CMD ["/bin/bash"]' - "$image"
