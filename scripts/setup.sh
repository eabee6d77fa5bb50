#!/usr/bin/env bash
# `make setup`: everything `make test` and `make lab` need, on a fresh Debian machine.
# Idempotent and quick on a set-up machine: each step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
log() { printf '[setup] %s\n' "$*"; }
t0=$(date +%s)

# 1. Python virtualenv with the pinned dependencies (rebuilt only when requirements.txt changes).
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  log "installing python3-venv"
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "creating .venv from requirements.txt"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements.txt
  echo "$want" >"$stamp"
else
  log ".venv is current"
fi

# 1b. The ecosystem's own checks (galaxy-importer, antsibull-docs, Sphinx) in a venv of their own: their pins are
#     older than .venv's (attrs<24, docutils<0.23). Rebuilt only when requirements-ecosystem.txt changes.
eco=.cache/ecosystem-venv
stamp=$eco/.requirements.sha256
want=$(sha256sum requirements-ecosystem.txt | cut -d' ' -f1)
if [ ! -x $eco/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "creating $eco from requirements-ecosystem.txt"
  python3 -m venv $eco
  $eco/bin/pip install -q --upgrade pip
  $eco/bin/pip install -q -r requirements-ecosystem.txt
  echo "$want" >"$stamp"
else
  log "$eco is current"
fi

# 2. The checkout as an installed collection, for ansible, molecule and pytest.
mkdir -p .cache/collections/ansible_collections/homelab
ln -sfn ../../../.. .cache/collections/ansible_collections/homelab/nvidia_gpu

# 3. ansible-test's pip bootstrap, pre-placed: its download host is unreachable here, and it
#    drops pip's CA settings. The stand-in uses ensurepip, then pip with the configured CA file.
scripts/place-get-pip.sh

# 4. Host side of the lab: Docker engine, qemu-user binfmt, the lab network.
scripts/lab-host.sh

# 5. Base images (debootstrap + docker import; rebuilt only when their recipe changes).
tests/lab/images/build.sh

# 6. The signed fixture mirror standing in for NVIDIA's and Raspberry Pi's servers, and its server.
if [ -x tests/lab/mirror/build.sh ]; then
  tests/lab/mirror/build.sh
  tests/lab/mirror/serve.sh
fi

log "ready in $(( $(date +%s) - t0 ))s (root: $root)"
