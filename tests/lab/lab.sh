#!/usr/bin/env bash
# `make lab`: a container lab standing in for the home cluster, driven by inventories/lab.
#   tests/lab/lab.sh up      start (or reuse) nvgpu-lab-<host> containers, prepare them (with Debian's sshd on
#                            port 22 and the lab's bootstrap key), run playbooks/site.yml then
#                            playbooks/validate.yml against them over SSH, as a user reaches a cluster
#   tests/lab/lab.sh down    remove the lab's containers (`make lab-down`)
#   tests/lab/lab.sh status  show them (`make lab-status`)
# No GPU is present in the lab: the Tesla P4 (on the arm64 "Pi 5") and the Tesla P10 (on the amd64
# host) are config-space dumps read through lspci_gpu_facts' test seams, for the verdict only.
# LAB_ANSIBLE_ARGS="..." is passed to every ansible-playbook call (for example "-v" or "--limit x86-p10").
# LAB_STRATEGY=linear runs without mitogen (ansible-core's own linear strategy).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
export PATH="$root/.venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$root/.cache/collections"
export MOLECULE_PROJECT_DIRECTORY="$root"  # the shared lab group_vars find the checkout with it
export ANSIBLE_CALLBACK_RESULT_FORMAT=yaml ANSIBLE_INTERPRETER_PYTHON=/usr/bin/python3
# mitogen: one interpreter per host for the whole run (docs/LAB.md); LAB_STRATEGY=linear goes without
export ANSIBLE_STRATEGY_PLUGINS="$root/tests/lab/strategy_plugins" ANSIBLE_STRATEGY="${LAB_STRATEGY:-mitogen_linear}"
inventory=inventories/lab
# site.yml and validate.yml reach the hosts over SSH at their address on the lab network (this inventory, written by
# `up`, added to inventories/lab); prepare reaches them over docker (a fresh host has only the bootstrap sshd).
ssh_inventory=.cache/lab/ssh-inventory.yml
network=nvgpu-lab
read -r -a extra_args <<<"${LAB_ANSIBLE_ARGS:-}"

log() { printf '[lab] %s\n' "$*"; }
die() { printf '[lab] ERROR: %s\n' "$*" >&2; exit 1; }

# host container image platform, one line per lab host, from the inventory (one source of truth);
# lab_hosts ssh: only the hosts with host access (site_ssh_access not false), reached over SSH
lab_hosts() {
  ansible-inventory -i "$inventory" --list | python3 -c '
import json, sys
inv = json.load(sys.stdin)
hostvars = inv.get("_meta", {}).get("hostvars", {})
for host in sorted(hostvars):
    v = hostvars[host]
    if sys.argv[1:] == ["ssh"] and str(v.get("site_ssh_access", True)).lower() == "false":
        continue
    print(host, v["ansible_host"], v["lab_image"], v["lab_platform"])
' "$@"
}

# container_field NAME GO-TEMPLATE: the field, or "absent" when there is no such container
container_field() {
  docker container inspect "$1" >/dev/null 2>&1 || { echo absent; return; }
  docker container inspect --format "$2" "$1"
}

start_host() {
  local host=$1 name=$2 image=$3 platform=$4 state want have
  want=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null) || die "image $image is missing: run make setup"
  state=$(container_field "$name" '{{.State.Status}}')
  if [ "$state" != absent ]; then
    have=$(docker inspect --format '{{.Image}}' "$name")
    if [ "$have" != "$want" ]; then
      log "$name was made from an older $image: recreating it"
      docker rm -f "$name" >/dev/null
      state=absent
    fi
  fi
  case $state in
    running) log "$name is running (reused)" ;;
    absent)
      fresh+=("$host")
      log "$name: starting from $image ($platform)"
      docker run -d --name "$name" --hostname "$host" --platform "$platform" \
        --label nvgpu-lab.host="$host" \
        --cap-add SYS_ADMIN --cap-add NET_ADMIN --cgroupns host \
        -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
        --tmpfs /run:exec --tmpfs /run/lock --tmpfs /tmp:exec,mode=1777 \
        --network "$network" "$image" >/dev/null ;;
    *)
      log "$name is $state: starting it again"
      docker start "$name" >/dev/null ;;
  esac
}

# playbook [--ssh] PLAYBOOK ARGS...: --ssh adds the SSH inventory (the hosts over SSH, as lab with the lab's key)
playbook() {
  local t0=$SECONDS inventories=(-i "$inventory")
  if [ "$1" = --ssh ]; then inventories+=(-i "$ssh_inventory"); shift; fi
  log "ansible-playbook ${inventories[*]} $*"
  ansible-playbook "${inventories[@]}" "${extra_args[@]}" "$@"
  log "$1 finished in $((SECONDS - t0))s"
}

# The hosts over SSH at their address on the lab network, as lab with the key of molecule/shared/ssh_bootstrap.yml
# (prepare), becoming root with sudo; the port is the inventory's (ansible_port, 2222: ssh_access moves sshd there on
# the first run and falls back to 22 while 2222 does not answer). Host variables, so that they win over the docker
# connection of inventories/lab/hosts.yml. The hosts without host access (the arm64 ones: under qemu-user sudo
# cannot become root; inventories/lab/host_vars) are not in it: they stay on docker.
write_ssh_inventory() {
  local host name image platform address
  {
    echo "# Written by tests/lab/lab.sh up: the lab's hosts over SSH (ansible-playbook -i $inventory -i $ssh_inventory ...)"
    echo "all:"
    echo "  hosts:"
    while read -r host name image platform; do
      address=$(docker container inspect --format "{{(index .NetworkSettings.Networks \"$network\").IPAddress}}" "$name")
      [ -n "$address" ] || die "$name has no address on the network $network"
      echo "    $host:"
      echo "      ansible_host: $address"
      echo "      ansible_connection: ssh"
      echo "      ansible_user: lab"
      echo "      ansible_become: true"
      echo "      ansible_ssh_private_key_file: $root/.cache/lab/ssh-access-ed25519"
      echo "      ansible_ssh_common_args: -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR"
    done < <(lab_hosts ssh)
  } >"$ssh_inventory"
}

up() {
  local t0=$SECONDS host name image platform
  [ -x .venv/bin/ansible-playbook ] || die "no .venv: run make setup first"
  docker network inspect "$network" >/dev/null 2>&1 || die "docker network $network is missing: run make setup first"
  [ -e tests/lab/mirror/READY ] || die "the fixture mirror is not built (tests/lab/mirror/READY is missing): run make setup"
  if [ "$(container_field nvgpu-lab-mirror '{{.State.Running}}')" != true ]; then
    [ -x tests/lab/mirror/serve.sh ] || die "the mirror container nvgpu-lab-mirror is not running"
    log "starting the fixture mirror"
    tests/lab/mirror/serve.sh
  fi
  fresh=()
  local ssh_hosts
  ssh_hosts=" $(lab_hosts ssh | cut -d' ' -f1 | tr '\n' ' ')"
  while read -r host name image platform; do
    start_host "$host" "$name" "$image" "$platform"
    # a container of an older lab, reached over docker only, has no sshd yet: it is prepared again
    if [[ " ${fresh[*]} " != *" $host "* && $ssh_hosts == *" $host "* ]] && ! docker exec "$name" test -x /usr/sbin/sshd; then
      log "$name has no sshd yet: preparing it again"
      fresh+=("$host")
    fi
  done < <(lab_hosts)
  # Only new containers need the prepare step (systemd wait, apt lists, kernel ABI, lab fixtures, the bootstrap sshd).
  if [ "${#fresh[@]}" -gt 0 ]; then
    playbook molecule/site/prepare.yml --limit "$(IFS=,; echo "${fresh[*]}")"
  else
    log "all containers reused: prepare skipped (tests/lab/lab.sh down, then up, for a fresh lab)"
  fi
  write_ssh_inventory
  playbook --ssh playbooks/site.yml
  playbook --ssh playbooks/validate.yml
  log "lab is up in $((SECONDS - t0))s; GPU inventory report: .cache/lab/gpu-inventory.md"
  log "no GPU is present in the lab: the Tesla P4 and P10 above are simulated (lspci dumps) for the verdict only"
  log "run it again:  make lab   (reuses the containers; site.yml should then change nothing)"
  log "by hand, over SSH as above:  ansible-playbook -i $inventory -i $ssh_inventory playbooks/site.yml"
  log "tear it down:  make lab-down   (or tests/lab/lab.sh down)"
}

down() {
  local host name image platform
  while read -r host name image platform; do
    if [ "$(container_field "$name" '{{.Name}}')" != absent ]; then
      docker rm -f "$name" >/dev/null
      log "$name removed"
    fi
  done < <(lab_hosts)
  log "the fixture mirror (nvgpu-lab-mirror) and the base images are kept"
}

status() {
  local host name image platform state
  while read -r host name image platform; do
    state=$(container_field "$name" '{{.State.Status}} since {{.State.StartedAt}}')
    printf '%-10s %-22s %-34s %s\n' "$host" "$name" "$image" "$state"
  done < <(lab_hosts)
  printf '%-10s %-22s %-34s %s\n' mirror nvgpu-lab-mirror "" \
    "$(container_field nvgpu-lab-mirror '{{.State.Status}}')"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
