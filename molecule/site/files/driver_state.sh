#!/usr/bin/env bash
# A node's driver state as one JSON object (molecule/site side_effect): packages {name: version} (installed
# ones), pinning (installed nvidia-driver-pinning-* packages), pin_files (the pin files of such packages left in
# /etc/apt/preferences.d, removed packages' included), dkms (dkms status lines of nvidia), candidate
# (apt's candidate for nvidia-kernel-dkms, bounded by the pin), installed_at (epoch when dpkg last installed
# nvidia-kernel-dkms 580.95.05-1, 0 if never), job {running, started, finished} (epochs, 0 when unknown) of
# the container lab-gpu-job.
set -euo pipefail
packages=$(dpkg-query -W -f '${db:Status-Abbrev} ${Package} ${Version}\n' nvidia-driver-cuda nvidia-kernel-dkms 2>/dev/null \
  | awk '$1 ~ /^.i/ {printf "%s\"%s\": \"%s\"", sep, $2, $3; sep=", "}' || true)
pinning=$(dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' 'nvidia-driver-pinning-*' 2>/dev/null \
  | awk '$1 ~ /^.i/ {printf "%s\"%s\"", sep, $2; sep=", "}' || true)
pin_files="" sep=""
for f in /etc/apt/preferences.d/nvidia-driver-pinning-*; do
  [ -e "$f" ] || continue
  pin_files="$pin_files$sep\"${f##*/}\"" sep=", "
done
dkms=$(dkms status -m nvidia 2>/dev/null | awk '{gsub(/"/, ""); printf "%s\"%s\"", sep, $0; sep=", "}' || true)
candidate=$(apt-cache policy nvidia-kernel-dkms | awk '/Candidate:/ {print $2}')
when=$(grep ' status installed nvidia-kernel-dkms:[a-z0-9]* 580.95.05-1$' /var/log/dpkg.log | tail -n1 | cut -d' ' -f1,2 || true)
installed_at=0
[ -z "$when" ] || installed_at=$(date -d "$when" +%s)
epoch() { case "$1" in 0001-* | "") echo 0 ;; *) date -d "$1" +%s ;; esac; }
job=$(docker inspect -f '{{.State.Running}} {{.State.StartedAt}} {{.State.FinishedAt}}' lab-gpu-job 2>/dev/null || echo "false")
read -r running started finished <<<"$job" || true
printf '{"packages": {%s}, "pinning": [%s], "pin_files": [%s], "dkms": [%s], "candidate": "%s", "installed_at": %s, ' \
  "$packages" "$pinning" "$pin_files" "$dkms" "$candidate" "$installed_at"
printf '"job": {"running": %s, "started": %s, "finished": %s}}\n' "$running" "$(epoch "${started:-}")" "$(epoch "${finished:-}")"
