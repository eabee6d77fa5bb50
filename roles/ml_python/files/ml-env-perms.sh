#!/usr/bin/env bash
# Shared environment permissions (homelab.nvidia_gpu.ml_python): every directory belongs to GROUP, is
# group-writable and setgid, and has a default ACL that gives the group rwx on what is created inside
# whatever the creator's umask (pip of one member, removal by another). Files only need the group.
# Usage: ml-env-perms.sh check|fix DIR GROUP. check prints one line per path that is wrong (nothing: all
# right) and exits 0; fix repairs everything and prints what it changed.
set -euo pipefail
mode=${1:?check or fix}
dir=${2:?directory}
group=${3:?group}
[ -d "$dir" ] || { echo "no such directory: $dir" >&2; exit 2; }
getent group "$group" >/dev/null || { echo "no such group: $group" >&2; exit 2; }

wrong() {
  find "$dir" \( -type d \( ! -group "$group" -o ! -perm -2070 \) \) -o \( ! -type d ! -type l ! -group "$group" \)
  # One getfacl for every directory: each must have the group's default entry, and no mask that narrows the group.
  find "$dir" -type d -print0 | xargs -0 getfacl --absolute-names 2>/dev/null | awk '
    function done_block() { if (file != "" && !deflt) print file " (default ACL)"; if (file != "" && narrow) print file " (ACL mask)" }
    /^# file: / { done_block(); file = substr($0, 9); deflt = 0; narrow = 0; next }
    $0 == "default:group::rwx" { deflt = 1 }
    /^mask::/ && $0 != "mask::rwx" { narrow = 1 }
    END { done_block() }'
}

case $mode in
  check) wrong || true ;;  # what it printed is the answer
  fix)
    found=$(wrong | head -n 20 || true)  # head may close the pipe early
    [ -n "$found" ] || exit 0
    printf '%s\n' "$found"
    chgrp -R --no-dereference "$group" "$dir"
    find "$dir" -type d -exec chmod g+rwxs {} +  # also widens an ACL mask to the group bits
    find "$dir" -type d -exec setfacl -d -m u::rwx,g::rwx,o::rx {} +
    ;;
  *) echo "usage: $0 check|fix DIR GROUP" >&2; exit 2 ;;
esac
