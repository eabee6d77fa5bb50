#!/bin/sh
# What distro_mirror's plan needs from the host (read by observed() in plugins/module_utils/_roles/_distro_mirror.py):
# the first line of each distribution's own source file that exists (the role's stub says so there), and which
# archive keyrings exist. The paths are _distro_mirror.DISTROS' own files and keyrings. Reads only.
tab=$(printf '\t')
for file in /etc/apt/sources.list /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/ubuntu.sources; do
  if [ -f "$file" ]; then echo "own$tab$file$tab$(head -n 1 "$file" | tr -d '\000\r')"; fi
done
for keyring in /usr/share/keyrings/debian-archive-keyring.gpg /usr/share/keyrings/ubuntu-archive-keyring.gpg; do
  if [ -f "$keyring" ]; then echo "keyring$tab$keyring"; fi
done
exit 0
