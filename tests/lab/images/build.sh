#!/usr/bin/env bash
# Build the lab's base images without a registry: debootstrap, then a FROM-scratch build.
# Each image carries a label with the hash of its recipe (the lines between the recipe markers below,
# plus suite and arch) and is rebuilt only when that hash changes. The images build side by side
# (downloads and the arm64 emulation overlap); each one logs to /var/tmp/nvgpu-lab-<image>.log.
# Usage: build.sh [suite-arch ...] (default: all three).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
mirror=${LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
images=("$@")
[ "${#images[@]}" -gt 0 ] || images=(bookworm-amd64 bookworm-arm64 trixie-amd64)

# --- recipe: what ends up in an image (a change here rebuilds every image)
packages=python3,python3-apt,systemd,systemd-sysv,dbus,sudo,ca-certificates,gnupg,iproute2,procps,kmod,pciutils,curl,less
rootfs() {  # rootfs SUITE ARCH ROOT LOG
  debootstrap --variant=minbase --arch="$2" --include="$packages" "$1" "$3" "$mirror" >"$4" 2>&1 || return 1
  # A container image, not a machine: no getty on a console, a clean apt cache, systemd as PID 1.
  chroot "$3" systemctl mask getty@tty1.service serial-getty@.service console-getty.service \
    systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket >/dev/null 2>&1 || true
  echo 'APT::Install-Recommends "false";' >"$3/etc/apt/apt.conf.d/90nvgpu-lab-no-recommends"
  rm -rf "$3"/var/cache/apt/archives/*.deb "$3"/var/lib/apt/lists/*
  : >"$3/etc/machine-id"
}
dockerfile() {  # dockerfile RECIPE_HASH
  cat <<DOCKERFILE
FROM scratch
ADD rootfs.tar /
LABEL nvgpu-lab.recipe=$1
ENV container=docker
STOPSIGNAL SIGRTMIN+3
CMD ["/lib/systemd/systemd"]
DOCKERFILE
}
# --- end recipe

recipe_hash() {
  { sed -n '/^# --- recipe/,/^# --- end recipe/p' "$here/build.sh"; echo "$1"; } | sha256sum | cut -c1-16
}

# build_one IMAGE, in a subshell of its own: root is global there, so that the EXIT trap still sees it.
build_one() {
  local image=$1 suite=${1%-*} arch=${1##*-} want start
  local tag="nvgpu-lab/debian:$image" log="/var/tmp/nvgpu-lab-$image.log"
  want=$(recipe_hash "$image")
  start=$(date +%s)
  root=$(mktemp -d "/var/tmp/nvgpu-lab-$image.XXXXXX")
  trap 'rm -rf "$root" "$root.ctx"' EXIT
  rootfs "$suite" "$arch" "$root" "$log" || { echo "[images] $tag: debootstrap failed:"; tail -n 30 "$log"; return 1; }
  # docker import cannot record a foreign architecture without an experimental daemon; a
  # FROM-scratch build with --platform can, so arm64 images say arm64.
  mkdir "$root.ctx"
  tar -C "$root" -cf "$root.ctx/rootfs.tar" .
  dockerfile "$want" >"$root.ctx/Dockerfile"
  docker build -q --platform "linux/$arch" -t "$tag" "$root.ctx" >/dev/null
  rm -rf "$root" "$root.ctx"
  trap - EXIT
  echo "[images] $tag built in $(( $(date +%s) - start ))s"
}

pids=() names=()
for image in "${images[@]}"; do
  tag="nvgpu-lab/debian:$image"
  want=$(recipe_hash "$image")
  have=$(docker image inspect "$tag" --format '{{ index .Config.Labels "nvgpu-lab.recipe" }}' 2>/dev/null || true)
  if [ "$have" = "$want" ]; then
    echo "[images] $tag is current (recipe $want)"
    continue
  fi
  echo "[images] building $tag (recipe $want) from $mirror"
  ( build_one "$image" ) &
  pids+=("$!") names+=("$image")
done
failed=()
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed+=("${names[$i]}")
done
[ "${#failed[@]}" -eq 0 ] || { echo "[images] failed: ${failed[*]}"; exit 1; }
