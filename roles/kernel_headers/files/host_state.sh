#!/bin/sh
# What kernel_headers' plan needs from the host, one "<kind><TAB><value>" a line (read by observed() in
# plugins/module_utils/_roles/_kernel_headers.py). Reads only. Arguments: the running kernel's release, the
# device-tree model file, apt's lists' valid time in seconds.
running=$1 model=$2 valid=$3
tab=$(printf '\t')
# Where Raspberry Pi OS itself configures its archive: their presence marks Raspberry Pi OS.
for marker in /etc/apt/sources.list.d/raspi.list /etc/apt/sources.list.d/raspi.sources /etc/rpi-issue; do
  if [ -e "$marker" ]; then echo "marker$tab$marker"; fi
done
if [ -r "$model" ]; then echo "model$tab$(tr -d '\000\n' < "$model")"; fi
# Installed but not yet booted kernels: a module tree with a kernel image, newer than the running one.
for dir in /lib/modules/*/; do
  [ -d "$dir" ] || continue
  rel=${dir%/}; rel=${rel##*/}
  [ "$rel" = "$running" ] && continue
  if [ -e "/boot/vmlinuz-$rel" ] \
     || [ "$(dpkg-query -W -f='${db:Status-Status}' "linux-image-$rel" 2>/dev/null)" = installed ]; then
    if dpkg --compare-versions "$rel" gt "$running" 2>/dev/null; then echo "pending$tab$rel"; fi
  fi
done
# apt's lists (or its success stamp, where a hook writes one) modified within the valid time are fresh.
since=$(( $(date +%s) - valid ))
find /var/lib/apt/periodic/update-success-stamp /var/lib/apt/lists -maxdepth 0 -newermt "@$since" 2>/dev/null \
  | while IFS= read -r path; do echo "fresh$tab$path"; done
# Installed headers and kernel image packages: when every planned package is one of them, nothing is looked up.
dpkg-query -W -f='${db:Status-Status}\t${Package}\n' 'linux-headers-*' 'linux-image-*' 2>/dev/null \
  | while IFS="$tab" read -r status name; do [ "$status" != installed ] || echo "installed$tab$name"; done
for file in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$file" ] || continue
  while IFS= read -r line || [ -n "$line" ]; do echo "source$tab$file$tab$line"; done < "$file"
done
exit 0
