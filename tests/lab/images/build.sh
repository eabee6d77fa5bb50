#!/usr/bin/env bash
# Build the lab's base images without a registry: debootstrap, then a FROM-scratch build.
# Each image carries a label with the hash of its recipe (this script + suite + arch) and is
# rebuilt only when that hash changes. Usage: build.sh [suite-arch ...] (default: all three).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
mirror=${LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=python3,python3-apt,systemd,systemd-sysv,dbus,sudo,ca-certificates,gnupg,iproute2,procps,kmod,pciutils,curl,less
images=("$@")
[ "${#images[@]}" -gt 0 ] || images=(bookworm-amd64 bookworm-arm64 trixie-amd64)

recipe_hash() {
  { cat "$here/build.sh"; echo "$1"; } | sha256sum | cut -c1-16
}

for image in "${images[@]}"; do
  suite=${image%-*}
  arch=${image##*-}
  tag="nvgpu-lab/debian:$image"
  want=$(recipe_hash "$image")
  have=$(docker image inspect "$tag" --format '{{ index .Config.Labels "nvgpu-lab.recipe" }}' 2>/dev/null || true)
  if [ "$have" = "$want" ]; then
    echo "[images] $tag is current (recipe $want)"
    continue
  fi
  echo "[images] building $tag (recipe $want) from $mirror"
  start=$(date +%s)
  root=$(mktemp -d "/var/tmp/nvgpu-lab-$image.XXXXXX")
  trap 'rm -rf "$root" "$root.ctx"' EXIT
  debootstrap --variant=minbase --arch="$arch" --include="$packages" "$suite" "$root" "$mirror" \
    >"/var/tmp/nvgpu-lab-$image.log" 2>&1 || { tail -n 30 "/var/tmp/nvgpu-lab-$image.log"; exit 1; }
  # A container image, not a machine: no getty on a console, a clean apt cache, systemd as PID 1.
  chroot "$root" systemctl mask getty@tty1.service serial-getty@.service console-getty.service \
    systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket >/dev/null 2>&1 || true
  echo 'APT::Install-Recommends "false";' >"$root/etc/apt/apt.conf.d/90nvgpu-lab-no-recommends"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  : >"$root/etc/machine-id"
  # docker import cannot record a foreign architecture without an experimental daemon; a
  # FROM-scratch build with --platform can, so arm64 images say arm64.
  mkdir "$root.ctx"
  tar -C "$root" -cf "$root.ctx/rootfs.tar" .
  cat >"$root.ctx/Dockerfile" <<DOCKERFILE
FROM scratch
ADD rootfs.tar /
LABEL nvgpu-lab.recipe=$want
ENV container=docker
STOPSIGNAL SIGRTMIN+3
CMD ["/lib/systemd/systemd"]
DOCKERFILE
  docker build -q --platform "linux/$arch" -t "$tag" "$root.ctx" >/dev/null
  rm -rf "$root.ctx"
  rm -rf "$root"
  trap - EXIT
  echo "[images] $tag built in $(( $(date +%s) - start ))s"
done
