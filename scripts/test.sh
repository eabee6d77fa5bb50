#!/usr/bin/env bash
# `make test`: every quality gate, one summary line per stage, non-zero if any stage fails or
# runs nothing. Usage: scripts/test.sh [stage ...]   (default: all stages in order)
# Stages: yamllint ansible-lint ruff argspecs build galaxy-importer docs-lint docs-site readme unit sanity molecule
# MOLECULE_SCENARIOS="a b" limits the molecule stage; SLOW=1 adds scenarios marked with a SLOW file;
# MOLECULE_JOBS=N runs N scenarios at a time (default 2; 1 for one after the other).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
export VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH"  # VIRTUAL_ENV: ansible-lint caches per checkout
export ANSIBLE_COLLECTIONS_PATH="$PWD/.cache/collections"
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 ANSIBLE_NOCOLOR=1
logdir=.cache/test-logs
mkdir -p "$logdir"

stages=("$@")
[ "${#stages[@]}" -gt 0 ] || stages=(yamllint ansible-lint ruff argspecs build galaxy-importer docs-lint docs-site readme unit sanity molecule)
summary=()
passed=0
failed=0

# run_stage NAME CHECK-FUNCTION: the function prints a one-line detail on stdout (last line) and
# returns non-zero on failure; its full output goes to .cache/test-logs/NAME.log.
run_stage() {
  local name=$1 fn=$2 start rc detail
  start=$(date +%s)
  echo "==> stage $name"
  "$fn" >"$logdir/$name.log" 2>&1
  rc=$?
  detail=$(grep '^DETAIL:' "$logdir/$name.log" | tail -n1 | cut -d: -f2-)
  local secs=$(( $(date +%s) - start ))
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1)); summary+=("stage $name: PASS in ${secs}s:$detail")
  else
    failed=$((failed + 1)); summary+=("stage $name: FAIL in ${secs}s:$detail (log: $logdir/$name.log)")
    tail -n 40 "$logdir/$name.log" | sed "s/^/  [$name] /"
  fi
  echo "${summary[-1]}"
}

tracked_files() { git ls-files --cached --others --exclude-standard "$@"; }

st_yamllint() {
  local n
  n=$(tracked_files '*.yml' '*.yaml' | grep -c .)
  [ "$n" -gt 0 ] || { echo "DETAIL: no YAML files"; return 1; }
  tracked_files -z '*.yml' '*.yaml' | xargs -0 yamllint -s -f parsable && echo "DETAIL: $n files clean"
}

st_ansible_lint() {
  local out rc
  out=$(ansible-lint --profile production --nocolor 2>&1); rc=$?
  echo "$out"
  local files
  files=$(echo "$out" | sed -n 's/.* in \([0-9]*\) files.*/\1/p' | tail -n1)
  [ "${files:-0}" -gt 0 ] || { echo "DETAIL: ansible-lint checked no files"; return 1; }
  [ $rc -eq 0 ] && echo "DETAIL: production profile, $files files"
  return $rc
}

st_ruff() {
  local n
  n=$(tracked_files '*.py' | grep -c .)
  [ "$n" -gt 0 ] || { echo "DETAIL: no Python files"; return 1; }
  ruff check . && echo "DETAIL: $n Python files clean"
}

st_argspecs() {
  python scripts/check-argspecs.py || return 1
  if [ -f scripts/gen-role-docs.py ]; then python scripts/gen-role-docs.py --check || return 1; fi
  if [ -f changelogs/config.yaml ]; then antsibull-changelog lint || return 1; fi  # fragments and changelog.yaml
  # Behaviour unchanged: no Molecule assertion of the start commit (tests/bench/baseline.rev) has gone.
  local base
  base=$(cat tests/bench/baseline.rev 2>/dev/null)
  if [ -n "$base" ] && git cat-file -e "$base^{commit}" 2>/dev/null; then
    python scripts/list-assertions.py --against "$base" || return 1
  else
    echo "start commit ${base:-?} not in this clone's history: assertions not compared"
  fi
}

st_build() {
  local out=.cache/build
  rm -rf "$out" && mkdir -p "$out/collections"
  ansible-galaxy collection build --force --output-path "$out" . || return 1
  local tarball
  tarball=$(ls "$out"/homelab-nvidia_gpu-*.tar.gz)
  # --no-deps: this stage checks the docs; galaxy.yml has no dependencies (the readme stage proves it, offline).
  ansible-galaxy collection install --force --no-deps -p "$out/collections" "$tarball" || return 1
  # What users read must render from the installed tarball, not from the checkout.
  local n=0 m r
  for m in plugins/modules/*.py; do
    [ -e "$m" ] || continue
    m=$(basename "$m" .py)
    ANSIBLE_COLLECTIONS_PATH="$PWD/$out/collections" ansible-doc "homelab.nvidia_gpu.$m" >/dev/null || { echo "ansible-doc failed for $m"; return 1; }
    n=$((n + 1))
  done
  for r in roles/*/; do
    [ -d "$r" ] || continue
    r=$(basename "$r")
    ANSIBLE_COLLECTIONS_PATH="$PWD/$out/collections" ansible-doc -t role "homelab.nvidia_gpu.$r" >/dev/null || { echo "ansible-doc -t role failed for $r"; return 1; }
    n=$((n + 1))
  done
  [ "$n" -gt 0 ] || { echo "DETAIL: nothing to document"; return 1; }
  echo "DETAIL: $(basename "$tarball") installs; ansible-doc renders $n modules/roles"
}

# The ecosystem's own checks run from their own venv (requirements-ecosystem.txt; make setup creates it): their
# pins (attrs<24 for galaxy-importer, docutils<0.23 for Sphinx) are older than what .venv's tools carry.
eco=.cache/ecosystem-venv
eco_env() {
  if [ ! -x "$eco/bin/antsibull-docs" ] || ! "$eco/bin/python" -c 'import galaxy_importer' 2>/dev/null; then
    echo "DETAIL: $eco is missing or incomplete: run make setup"; return 1
  fi
  export PATH="$PWD/$eco/bin:$PATH" VIRTUAL_ENV="$PWD/$eco"
}

# The built tarball, imported as Galaxy imports it (galaxy-importer's own checks of galaxy.yml, the layout, the
# changelog, ansible-doc on every plugin and role); settings in tests/ecosystem/galaxy-importer.cfg (no ansible-lint:
# the ansible-lint stage runs it). A warning fails the stage too.
st_galaxy_importer() (  # a subshell: eco_env's PATH must not reach the later stages
  eco_env || return 1
  local out=.cache/ecosystem tarball log rc
  rm -rf "$out" && mkdir -p "$out"
  ansible-galaxy collection build --force --output-path "$out" . >/dev/null || return 1
  tarball=$(ls "$PWD/$out"/homelab-nvidia_gpu-*.tar.gz)
  log=$(cd "$out" && GALAXY_IMPORTER_CONFIG="$OLDPWD/tests/ecosystem/galaxy-importer.cfg" \
        python -m galaxy_importer.main "$tarball" 2>&1); rc=$?
  echo "$log"
  local warnings
  warnings=$(echo "$log" | grep -cE '^(WARNING|ERROR)')
  echo "$log" | grep -q 'Importer processing completed successfully' || { echo "DETAIL: the import failed"; return 1; }
  if [ "$rc" -ne 0 ] || [ "$warnings" -ne 0 ]; then echo "DETAIL: rc $rc, $warnings warnings"; return 1; fi
  echo "DETAIL: $(basename "$tarball") imports with no warning ($(echo "$log" | grep -c '^Loading ') contents)"
)

# antsibull-docs' linter over the plugins' and roles' documentation (markup, references, schema).
st_docs_lint() (  # a subshell: eco_env's PATH must not reach the later stages
  eco_env || return 1
  local log rc
  log=$(antsibull-docs lint-collection-docs --plugin-docs --validate-collection-refs self . 2>&1); rc=$?
  echo "$log"
  [ $rc -eq 0 ] || { echo "DETAIL: $(echo "$log" | grep -cE '^[a-zA-Z./_-]+:[0-9]+:[0-9]+: ') findings"; return 1; }
  echo "DETAIL: antsibull-docs lint-collection-docs --plugin-docs: clean"
)

# A docs site from the plugins' and roles' own documentation (antsibull-docs sphinx-init + collection, Sphinx),
# offline: no intersphinx (tests/ecosystem/offline_refs.py links docs.ansible.com's labels instead), -W.
st_docs_site() (  # a subshell: eco_env's PATH must not reach the later stages
  eco_env || return 1
  local site=.cache/docs-site
  rm -rf "$site" && mkdir -p "$site"
  antsibull-docs sphinx-init --use-current --squash-hierarchy --fail-on-error --dest-dir "$site" \
    --project homelab.nvidia_gpu --title "homelab.nvidia_gpu" homelab.nvidia_gpu || return 1
  cp tests/ecosystem/offline_refs.py "$site/"
  python - "$site/conf.py" <<'PY' || return 1
import re, sys
path = sys.argv[1]
conf = open(path).read()
conf = conf.replace("'sphinx.ext.intersphinx', ", "")
conf = re.sub(r"intersphinx_mapping = \{.*?\n\}\n", "intersphinx_mapping = {}\n", conf, flags=re.S)
conf = conf.replace("extensions = [", "import os, sys\nsys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))\n"
                    "extensions = ['offline_refs', ", 1)
assert "sphinx.ext.intersphinx" not in conf and "intersphinx_mapping = {}" in conf, "intersphinx is still on"
open(path, "w").write(conf)
PY
  mkdir -p "$site/rst" && chmod og-w "$site/rst"
  (cd "$site" && antsibull-docs --config-file antsibull-docs.cfg collection --cleanup everything --fail-on-error \
     --use-current --squash-hierarchy --dest-dir rst homelab.nvidia_gpu) || return 1
  sphinx-build -M html "$site/rst" "$site/build" -c "$site" -W --keep-going -q || return 1
  echo "DETAIL: $(find "$site/build/html" -name '*.html' | wc -l) pages in $site/build/html (offline, -W)"
)

# Every command line of README.md, docs/*.md and tests/lab/README.md, run, dry-run or syntax-checked (tests/readme/test_readme_commands.py says which).
st_readme() {
  local out rc
  out=$(pytest -q -p no:cacheprovider -s tests/readme 2>&1); rc=$?
  echo "$out"
  local n last
  n=$(echo "$out" | grep -cE '^(README|docs/[^:]*|tests/lab/README)\.md:[0-9]+: ')
  last=$(echo "$out" | grep -E '[0-9]+ (passed|failed)' | tail -n1)
  [ "$n" -gt 0 ] || { echo "DETAIL: no README command checked ($last)"; return 1; }
  [ $rc -eq 0 ] && echo "DETAIL: $n command lines of README.md and docs/ ($(echo "$out" | grep -c ': executed') executed); $last"
  return $rc
}

st_unit() {
  local out rc
  out=$(pytest -q -p no:cacheprovider 2>&1); rc=$?
  echo "$out"
  local last
  last=$(echo "$out" | grep -E '[0-9]+ (passed|failed)' | tail -n1)
  echo "$last" | grep -qE '[1-9][0-9]* passed' || { echo "DETAIL: no test passed ($last)"; return 1; }
  echo "DETAIL: $last"
  return $rc
}

st_sanity() {
  local dest=.cache/sanity/ansible_collections/homelab/nvidia_gpu
  rm -rf .cache/sanity && mkdir -p "$dest"
  # ansible-test wants the collection at its real path (it resolves symlinks): copy the tree.
  tracked_files -z | grep -zv '^\.cache/' | xargs -0 cp --parents -t "$dest" 2>/dev/null || true
  scripts/place-get-pip.sh
  local out rc
  out=$(cd "$dest" && git init -q . && git add -A >/dev/null 2>&1 && \
        ansible-test sanity --python "$(python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')" \
          --requirements --color no 2>&1); rc=$?
  echo "$out"
  local n
  n=$(echo "$out" | grep -c '^Running sanity test ')
  [ "$n" -gt 0 ] || { echo "DETAIL: no sanity test ran"; return 1; }
  [ $rc -eq 0 ] && echo "DETAIL: $n sanity tests"
  return $rc
}

# One scenario, its whole output in .cache/test-logs/molecule-<scenario>.log, its result in a .result file.
molecule_one() {
  local s=$1 t result
  t=$(date +%s)
  if molecule test -s "$s" >"$logdir/molecule-$s.log" 2>&1; then result=PASS; else result=FAIL; fi
  echo "$s $result $(( $(date +%s) - t ))s" >"$logdir/molecule-$s.result"
}

# MOLECULE_JOBS scenarios at a time (default 2): scenario names are distinct, so their containers are too, and
# the arm64 ones spend most of their time in one single-threaded qemu process. The longest scenarios start first,
# so that none of them ends up running alone at the tail. "Longest" is measured, never hand-kept: this machine's
# last result of the scenario (.cache/test-logs/molecule-<s>.result), else molecule/scenario-times.txt (each
# scenario's last passing time, written by MOLECULE_RECORD_TIMES=1), else 0.
scenario_seconds() {
  local s=$1 line
  line=$(grep -hE "^$s [A-Z]+ [0-9]+s$" "$logdir/molecule-$s.result" molecule/scenario-times.txt 2>/dev/null | head -n1 || true)
  line=${line##* }
  echo "${line%s}" | grep -E '^[0-9]+$' || echo 0
}

st_molecule() {
  local scenarios=() s timings=() failed_s=() jobs=${MOLECULE_JOBS:-2}
  if [ -n "${MOLECULE_SCENARIOS:-}" ]; then
    read -r -a scenarios <<<"$MOLECULE_SCENARIOS"
  else
    for s in molecule/*/molecule.yml; do
      s=$(basename "$(dirname "$s")")
      if [ -e "molecule/$s/SLOW" ] && [ "${SLOW:-0}" != 1 ]; then continue; fi
      scenarios+=("$s")
    done
  fi
  [ "${#scenarios[@]}" -gt 0 ] || { echo "DETAIL: no scenario"; return 1; }
  local ordered=()
  read -r -a ordered <<<"$(for s in "${scenarios[@]}"; do echo "$(scenario_seconds "$s") $s"; done | sort -k1,1nr -k2 | cut -d' ' -f2 | tr '\n' ' ')"
  echo "--- order (longest first, measured): ${ordered[*]}"
  for s in "${ordered[@]}"; do
    rm -f "$logdir/molecule-$s.result"
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
    echo "--- $(date +%T) start: molecule test -s $s (log: $logdir/molecule-$s.log)"
    molecule_one "$s" &
  done
  wait
  local line
  for s in "${scenarios[@]}"; do
    line=$(cat "$logdir/molecule-$s.result" 2>/dev/null || echo "$s FAIL 0s")
    timings+=("$line")
    echo "--- $line"
    if [ "$(echo "$line" | cut -d' ' -f2)" != PASS ]; then
      failed_s+=("$s")
      tail -n 60 "$logdir/molecule-$s.log" | sed "s/^/  [$s] /"
    fi
  done
  printf 'TIMING: %s\n' "${timings[@]}"
  # Passing scenarios of this run replace their lines; every other scenario keeps its last measured line.
  if [ "${MOLECULE_RECORD_TIMES:-0}" = 1 ]; then
    local times=molecule/scenario-times.txt name rest
    { echo "# molecule test times, each scenario's last passing run (scripts/test.sh molecule, MOLECULE_RECORD_TIMES=1),"
      echo "# last written $(date -u +%F), $(nproc) CPUs, $jobs at a time: the stage starts the longest first. Not a test, an order."
      printf '%s\n' "${timings[@]}" | grep -E '^[^ ]+ PASS [0-9]+s$' || true
      grep -E '^[^ ]+ [A-Z]+ [0-9]+s$' "$times" 2>/dev/null | while read -r name rest; do
        printf '%s\n' "${timings[@]}" | grep -qE "^$name PASS " || echo "$name $rest"
      done; } >"$times.new"
    mv "$times.new" "$times"
  fi
  # Where the time went (profile_tasks recaps): the stage log keeps each scenario's steps and slowest tasks.
  local logs=()
  for s in "${scenarios[@]}"; do logs+=("$logdir/molecule-$s.log"); done
  python scripts/molecule-profile.py --top 10 "${logs[@]}" 2>&1 | sed 's/^/PROFILE: /' || true
  local joined
  joined=$(printf '%s, ' "${timings[@]}"); joined=${joined%, }
  if [ "${#failed_s[@]}" -gt 0 ]; then echo "DETAIL: ${#scenarios[@]} scenarios ($joined); failed: ${failed_s[*]}"; return 1; fi
  echo "DETAIL: ${#scenarios[@]} scenarios, $jobs at a time ($joined)"
}

for stage in "${stages[@]}"; do
  fn="st_${stage//-/_}"
  if ! declare -F "$fn" >/dev/null; then echo "unknown stage: $stage"; exit 2; fi
  run_stage "$stage" "$fn"
done

echo
echo "==> summary"
printf '%s\n' "${summary[@]}"
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
