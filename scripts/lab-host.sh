#!/usr/bin/env bash
# Host side of the test lab: a Docker engine that answers, and qemu-user for arm64 containers.
# Idempotent: on a set-up machine it checks and changes nothing.
set -euo pipefail

log() { printf '[lab-host] %s\n' "$*"; }
need_apt=()

command -v debootstrap >/dev/null || need_apt+=(debootstrap)
[ -e /usr/lib/binfmt.d/qemu-aarch64.conf ] || need_apt+=(qemu-user-static)
command -v gpg >/dev/null || need_apt+=(gnupg)
command -v dpkg-scanpackages >/dev/null || need_apt+=(dpkg-dev)
command -v apt-ftparchive >/dev/null || need_apt+=(apt-utils)
command -v lspci >/dev/null || need_apt+=(pciutils)
command -v make >/dev/null || need_apt+=(make)
command -v shellcheck >/dev/null || need_apt+=(shellcheck)  # ansible-test sanity runs it on our scripts
command -v nft >/dev/null || need_apt+=(nftables)  # the firewall's unit tests load its tables with the real nft
command -v systemd-analyze >/dev/null || need_apt+=(systemd)  # _values' tests have systemd read a quoted ExecStart=
if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  command -v dockerd >/dev/null || need_apt+=(docker.io)
fi

[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)  # ssh_access's unit tests have the real sshd -t/-T read its drop-ins

if [ "${#need_apt[@]}" -gt 0 ]; then
  log "installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # No service of these packages is started here (policy-rc.d 101): sshd is only a parser for the unit tests.
  policy_made=0
  [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; policy_made=1; }
  apt-get install -y -q --no-install-recommends "${need_apt[@]}"
  [ "$policy_made" = 0 ] || rm -f /usr/sbin/policy-rc.d
fi
mkdir -p /run/sshd  # sshd -t wants its privilege separation directory

if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  log "no Docker engine answers: starting dockerd"
  if [ -d /run/systemd/system ]; then
    systemctl start docker
  else
    setsid nohup dockerd >>/var/log/dockerd.log 2>&1 </dev/null &  # its own session: outlives the caller's process group
  fi
  for _ in $(seq 1 60); do
    docker version --format '{{.Server.Version}}' >/dev/null 2>&1 && break
    sleep 1
  done
  docker version --format 'dockerd {{.Server.Version}} answers' || { log "dockerd did not start (see /var/log/dockerd.log)"; exit 1; }
fi

# arm64 containers run under qemu-user: binfmt_misc with the fix-binary (F) flag, so the
# interpreter works inside containers and debootstrap's chroot.
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  log "registering qemu-aarch64 with binfmt_misc"
  grep -v '^#' /usr/lib/binfmt.d/qemu-aarch64.conf | head -n1 >/proc/sys/fs/binfmt_misc/register
fi
grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 || { log "qemu-aarch64 binfmt is not enabled"; exit 1; }

docker network inspect nvgpu-lab >/dev/null 2>&1 || docker network create nvgpu-lab >/dev/null
log "ready: docker engine, binfmt qemu-aarch64, network nvgpu-lab"
