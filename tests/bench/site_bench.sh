#!/usr/bin/env bash
# Benchmark of playbooks/site.yml on the lab (not a test), every figure as a ratio against a floor
# measured in the same run:
#   floor        one bare task round trip to the same host: (41 ping tasks - 1 ping task) / 40
#   no-op ratio  no-op site.yml time / (its task count x floor): what a task costs beyond a bare trip
#   1 vs 4       fresh converge of 4 hosts / fresh converge of 1 host (forks 5: ideal is 1.0)
# and the floor of ansible-core's linear strategy beside mitogen's (the lab's default). Prints a
# Markdown table (docs/runs.yml keeps the runs, with the date and machine it prints).
# BENCH_STRATEGY=linear runs site.yml without mitogen.
# The hosts are throwaway amd64 bookworm containers nvgpu-bench-<n> with the lab's group_vars (fixture
# mirror, branch 580), all GPU nodes without a GPU, so each gets the whole stack. arm64 is left out:
# under qemu it would measure the emulator. Preparation (systemd, apt lists, kernel ABI) is not
# timed. Debian packages come from the real archive, so the network is part of the figures.
# BENCH_KEEP=1 keeps the containers afterwards. BENCH_FOUR=0 leaves out the 4-host runs.
# The no-op run is also measured for the commit in tests/bench/baseline.rev (BENCH_BASELINE=<rev> to pick
# another, BENCH_BASELINE= to skip): a git worktree of it converges a host of its own (nvgpu-bench-base-1), then the
# two no-op runs take turns, BENCH_NOOP_RUNS times each (default 3), in the same run on the same machine, so the table
# prints now/start ratios of task results and of the median seconds (turns: a drift of the machine's speed hits both).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
export PATH="$root/.venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$root/.cache/collections"
export MOLECULE_PROJECT_DIRECTORY="$root" ANSIBLE_INTERPRETER_PYTHON=/usr/bin/python3
export ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1
export USER="${USER:-$(id -un)}"  # ssh_access's connecting user over the docker connection (no ansible_user)
export ANSIBLE_STRATEGY_PLUGINS="$root/tests/lab/strategy_plugins" ANSIBLE_STRATEGY="${BENCH_STRATEGY:-mitogen_linear}"
image=nvgpu-lab/debian:bookworm-amd64
work=$(mktemp -d /tmp/site-bench.XXXXXX)
logs=$root/.cache/bench
mkdir -p "$logs"

log() { printf '[bench] %s\n' "$*" >&2; }

cleanup() {
  if [ "${BENCH_KEEP:-0}" != 1 ]; then
    for n in 1 2 3 4 base-1; do docker rm -f "nvgpu-bench-$n" >/dev/null 2>&1 || true; done
  fi
  [ ! -d "$work/base" ] || git worktree remove --force "$work/base" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

[ -e tests/lab/mirror/READY ] || { log "fixture mirror not built: run make setup"; exit 1; }
[ "$(docker inspect --format '{{.State.Running}}' nvgpu-lab-mirror 2>/dev/null)" = true ] || tests/lab/mirror/serve.sh

# inventory NAME COUNT [TREE] [PREFIX]: a lab-like inventory of COUNT GPU nodes, containers nvgpu-bench-PREFIXn,
# reusing TREE's inventories/lab/group_vars
inventory() {
  local dir=$work/$1 n prefix=${4:-}
  mkdir -p "$dir"
  ln -sfn "${3:-$root}/inventories/lab/group_vars" "$dir/group_vars"
  {
    echo "all:"
    echo "  vars: {ansible_connection: docker}"
    echo "  children:"
    for g in lab gpu_nodes docker_hosts k8s_nodes x86; do
      echo "    $g:"
      echo "      hosts:"
      for n in $(seq 1 "$2"); do echo "        bench-$n: {ansible_host: nvgpu-bench-$prefix$n}"; done
    done
  } >"$dir/hosts.yml"
  echo "$dir"
}

# fresh_containers COUNT [PREFIX]: new containers nvgpu-bench-PREFIX1..COUNT (hostnames bench-N)
fresh_containers() {
  local n
  for n in $(seq 1 "$1"); do
    docker rm -f "nvgpu-bench-${2:-}$n" >/dev/null 2>&1 || true
    docker run -d --name "nvgpu-bench-${2:-}$n" --hostname "bench-$n" --platform linux/amd64 \
      --cap-add SYS_ADMIN --cap-add NET_ADMIN --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
      --tmpfs /run:exec --tmpfs /run/lock --tmpfs /tmp:exec,mode=1777 --network nvgpu-lab "$image" >/dev/null
  done
}

# timed LOGNAME INVENTORY PLAYBOOK [DECIMALS]: run it, print seconds; the log keeps the recap
timed() {
  local t0 t1
  t0=$(date +%s.%N)
  # site_ssh_access=false: host access proves key logins over SSH from the controller; the bench's containers are
  # reached with docker exec, so every run (the start commit's too) leaves host_access.yml out.
  ansible-playbook -i "$2" -e site_ssh_access=false "$3" >"$logs/$1.log" 2>&1 || { log "$3 failed, see $logs/$1.log"; tail -n 30 "$logs/$1.log" >&2; exit 1; }
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.${4:-0}f}')"
}

# recap LOGNAME FIELD: the sum of FIELD (ok, changed, skipped) over the PLAY RECAP lines
recap() {
  sed -n '/PLAY RECAP/,$p' "$logs/$1.log" | grep -o "$2=[0-9]*" | cut -d= -f2 | awk '{s += $1} END {print s + 0}'
}

# pings N: a play of N separate ping tasks (not a loop: each task is a round trip of its own)
pings() {
  local f=$work/pings-$1.yml i
  { echo "- name: Bare round trips"; echo "  hosts: all"; echo "  gather_facts: false"; echo "  tasks:"
    for i in $(seq 1 "$1"); do echo "    - name: Ping $i"; echo "      ansible.builtin.ping:"; done; } >"$f"
  echo "$f"
}

# floor STRATEGY: seconds per bare task round trip to bench-1 with that strategy (3 decimals)
floor() {
  local a b
  a=$(ANSIBLE_STRATEGY=$1 timed "floor-$1-1" "$inv1" "$(pings 1)" 3)
  b=$(ANSIBLE_STRATEGY=$1 timed "floor-$1-41" "$inv1" "$(pings 41)" 3)
  python3 -c "print(f'{($b - $a) / 40:.3f}')"
}

ratio() { python3 -c "print(f'{$1 / ($2):.2f}')"; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
inv1=$(inventory one 1)
inv4=$(inventory four 4)

log "1 host: fresh containers, prepare (untimed)"
fresh_containers 1
ansible-playbook -i "$inv1" molecule/site/prepare.yml >"$logs/prepare-1.log" 2>&1
log "1 host: floor (bare round trips), mitogen and linear"
floor_linear=$(floor linear)
floor_mitogen=$(floor mitogen_linear)
if [ "$ANSIBLE_STRATEGY" = linear ]; then floor_strategy=$floor_linear; else floor_strategy=$floor_mitogen; fi
log "1 host: fresh converge"
fresh1=$(timed site-fresh-1 "$inv1" playbooks/site.yml)
log "1 host: no-op re-run"
noop1=$(timed site-noop-1 "$inv1" playbooks/site.yml 1)
noop_ok=$(recap site-noop-1 ok)
noop_changed=$(recap site-noop-1 changed)
noop_skipped=$(recap site-noop-1 skipped)
noop_tasks=$((noop_ok + noop_changed + noop_skipped))

base_rev=${BENCH_BASELINE-$(cat tests/bench/baseline.rev)}
if [ -n "$base_rev" ]; then
  log "1 host, start commit $base_rev: fresh container, prepare and converge (untimed), no-op re-run"
  git worktree add --detach "$work/base" "$base_rev" >/dev/null 2>&1
  mkdir -p "$work/base-collections/ansible_collections/homelab"
  ln -sfn "$work/base" "$work/base-collections/ansible_collections/homelab/nvidia_gpu"
  inv_base=$(inventory base-inventory 1 "$work/base" base-)
  fresh_containers 1 base-
  ansible-playbook -i "$inv_base" molecule/site/prepare.yml >"$logs/prepare-base.log" 2>&1
  (cd "$work/base" && ANSIBLE_COLLECTIONS_PATH="$work/base-collections" timed base-fresh-1 "$inv_base" playbooks/site.yml >/dev/null)
  base_noop_runs=() now_noop_runs=()
  for turn in $(seq 1 "${BENCH_NOOP_RUNS:-3}"); do
    log "no-op turn $turn: the start commit, then now"
    base_noop_runs+=("$(cd "$work/base" && ANSIBLE_COLLECTIONS_PATH="$work/base-collections" timed "base-noop-$turn" "$inv_base" playbooks/site.yml 1)")
    now_noop_runs+=("$(timed "site-noop-turn-$turn" "$inv1" playbooks/site.yml 1)")
  done
  base_noop=$(median "${base_noop_runs[@]}")
  now_noop=$(median "${now_noop_runs[@]}")
  base_tasks=$(( $(recap base-noop-1 ok) + $(recap base-noop-1 changed) + $(recap base-noop-1 skipped) ))
fi

fresh4=- noop4=- noop4_changed=-
if [ "${BENCH_FOUR:-1}" != 0 ]; then
  log "4 hosts: fresh containers, prepare (untimed)"
  fresh_containers 4
  ansible-playbook -i "$inv4" molecule/site/prepare.yml >"$logs/prepare-4.log" 2>&1
  log "4 hosts: fresh converge"
  fresh4=$(timed site-fresh-4 "$inv4" playbooks/site.yml)
  log "4 hosts: no-op re-run"
  noop4=$(timed site-noop-4 "$inv4" playbooks/site.yml)
  noop4_changed=$(recap site-noop-4 changed)
fi

cpu=$(sed -n 's/^model name\s*:\s*//p' /proc/cpuinfo | head -n1)
mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
cat <<EOF

site.yml on the lab, $(date -u +%Y-%m-%d), $(nproc) CPUs ($cpu), $mem RAM, Docker $(docker version --format '{{.Server.Version}}'), $(ansible --version | sed -n 1p), strategy $ANSIBLE_STRATEGY, forks 5.
Load average at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine slows every figure).
Hosts: amd64 bookworm containers, GPU nodes without a GPU (whole stack: headers, repos, driver via DKMS, runtime, toolkit).

| measure | 1 host | 4 hosts |
| --- | --- | --- |
| fresh converge | ${fresh1} s | ${fresh4} s |
| no-op re-run | ${noop1} s | ${noop4} s |
| no-op re-run: tasks ok / changed / skipped | ${noop_ok} / ${noop_changed} / ${noop_skipped} | changed ${noop4_changed} |

| ratio | value |
| --- | --- |
| floor: one bare task round trip ($ANSIBLE_STRATEGY) | ${floor_strategy} s |
| floor linear / floor mitogen | $(ratio "$floor_linear" "$floor_mitogen") (${floor_linear} s / ${floor_mitogen} s) |
| no-op / (tasks x floor), 1 host | $(ratio "$noop1" "$noop_tasks * $floor_strategy") (${noop1} s / ${noop_tasks} tasks x ${floor_strategy} s) |
| fresh converge 4 hosts / 1 host | $(if [ "$fresh4" = - ]; then echo -; else ratio "$fresh4" "$fresh1"; fi) |
EOF
if [ -n "$base_rev" ]; then
  cat <<EOF
| no-op task results, now / start commit $base_rev | $(ratio "$noop_tasks" "$base_tasks") (${noop_tasks} / ${base_tasks}) |
| no-op seconds (medians of ${BENCH_NOOP_RUNS:-3} turns), now / start commit $base_rev | $(ratio "$now_noop" "$base_noop") (${now_noop} s / ${base_noop} s; now ${now_noop_runs[*]}, start ${base_noop_runs[*]}) |
EOF
fi
log "logs: $logs/"
