#!/bin/sh
# LAB STAND-IN for NVIDIA-Linux-@ARCH@-@VERSION@.run (homelab.nvidia_gpu test lab).
# Like the real makeself installer it carries its payload (the stand-in module source and
# nvidia-smi) after a marker line. It honours exactly these flags: --silent --dkms --no-questions
# --ui=none --no-x-check --kernel-module-type=open|proprietary --kernel-name=<release> --uninstall
# (plus --version and --help); any other flag is an error, as with the real installer.
set -eu
version=@VERSION@
arch=@ARCH@
log=/var/log/nvidia-installer.log
self=$0
silent=0 dkms=0 uninstall=0 flavour=open kernel=$(uname -r)
[ "$(basename "$0")" = nvidia-uninstall ] && uninstall=1  # installed as /usr/bin/nvidia-uninstall

usage() {
  echo "LAB STAND-IN nvidia-installer $version: supported flags: --silent --dkms --no-questions --ui=none --no-x-check --kernel-module-type=open|proprietary --kernel-name=<release> --uninstall --version --help"
}
die() {
  echo "ERROR: $*" >&2
  [ -w "$(dirname "$log")" ] && echo "ERROR: $*" >>"$log"
  exit 1
}
say() {
  [ "$silent" = 1 ] || echo "$*"
  echo "$*" >>"$log"
}

for arg in "$@"; do
  case $arg in
    --silent|-s) silent=1 ;;
    --dkms) dkms=1 ;;
    --no-questions|-q|--no-x-check|--ui=none) ;;
    --kernel-module-type=open|--kernel-module-type=proprietary) flavour=${arg#--kernel-module-type=} ;;
    --kernel-module-type=*) echo "ERROR: Invalid argument for --kernel-module-type: '${arg#*=}' (open or proprietary)" >&2; exit 1 ;;
    --kernel-name=?*) kernel=${arg#--kernel-name=} ;;
    --uninstall) uninstall=1 ;;
    --version|-v) echo "nvidia-installer:  version $version (LAB STAND-IN)"; exit 0 ;;
    --help|-h) usage; exit 0 ;;
    *) echo "ERROR: Unrecognized option: '$arg'" >&2; usage >&2; exit 1 ;;
  esac
done

[ "$(id -u)" = 0 ] || { echo "ERROR: nvidia-installer must be run as root" >&2; exit 1; }
mkdir -p "$(dirname "$log")"
[ "$uninstall" = 1 ] && log=/var/log/nvidia-uninstall.log
{
  echo "nvidia-installer log file '$log'"
  echo "creation time: $(date)"
  echo "installer version: $version (LAB STAND-IN, $arch)"
  echo "command line: $self $*"
} >"$log"

src=/usr/src/nvidia-$version
state=/var/lib/nvidia-lab-runfile
if [ "$uninstall" = 1 ]; then
  [ -e "$state/version" ] || die "No NVIDIA driver installed by nvidia-installer was found."
  installed=$(cat "$state/version")
  say "Uninstalling NVIDIA Accelerated Graphics Driver for Linux-$arch ($installed)"
  if command -v dkms >/dev/null 2>&1 && dkms status -m nvidia -v "$installed" | grep -q .; then
    dkms remove -m nvidia -v "$installed" --all >>"$log" 2>&1
  fi
  while read -r path; do
    rm -f "$path"
  done <"$state/files"
  rm -rf "/usr/src/nvidia-$installed" "$state"
  depmod -a >/dev/null 2>&1 || true
  say "Uninstallation of existing driver: NVIDIA Accelerated Graphics Driver for Linux-$arch ($installed) is complete."
  exit 0
fi

if [ -e "$state/version" ]; then  # like the real installer: replace the existing driver
  say "Uninstalling the existing driver ($(cat "$state/version")) first"
  sh "$self" --uninstall --silent || die "could not uninstall the existing driver"
fi
[ -d "/lib/modules/$kernel/build" ] || die "Unable to find the kernel source tree for the kernel '$kernel' (/lib/modules/$kernel/build)."
if [ "$dkms" = 1 ]; then command -v dkms >/dev/null 2>&1 || die "--dkms given but dkms is not installed"; fi

say "Installing NVIDIA Accelerated Graphics Driver for Linux-$arch ($version), $flavour kernel modules, kernel $kernel"
rm -rf "$src"
mkdir -p "$src" "$state"
line=$(awk '/^__LAB_PAYLOAD__$/ {print NR + 1; exit}' "$self")
tail -n +"$line" "$self" | base64 -d | tar -xzf - -C "$src"
for f in "$src"/*; do
  # [N]/[R]: keep build.sh's own substitution from rewriting these patterns
  sed -i -e "s/@VERSIO[N]@/$version/g" -e "s/@FLAVOU[R]@/$flavour/g" "$f"
done
echo "$flavour" >"$src/FLAVOUR"
install -m 0755 "$src/nvidia-smi" /usr/bin/nvidia-smi
install -m 0755 "$self" /usr/bin/nvidia-installer
ln -sf nvidia-installer /usr/bin/nvidia-uninstall
rm -f "$src/nvidia-smi"
printf '%s\n' /usr/bin/nvidia-smi /usr/bin/nvidia-installer /usr/bin/nvidia-uninstall >"$state/files"
echo "$version" >"$state/version"  # from here on, --uninstall can clean up even a failed install
echo "$flavour" >"$state/flavour"

if [ "$dkms" = 1 ]; then
  say "Registering the kernel modules with DKMS and building them for $kernel"
  dkms add -m nvidia -v "$version" >>"$log" 2>&1 || die "dkms add failed (see $log)"
  dkms install -m nvidia -v "$version" -k "$kernel" >>"$log" 2>&1 || die "dkms install failed for $kernel (see $log)"
else
  say "Building the kernel module for $kernel"
  make -C "/lib/modules/$kernel/build" M="$src" modules >>"$log" 2>&1 || die "kernel module build failed (see $log)"
  install -D -m 0644 "$src/nvidia.ko" "/lib/modules/$kernel/kernel/drivers/video/nvidia.ko"
  echo "/lib/modules/$kernel/kernel/drivers/video/nvidia.ko" >>"$state/files"
  make -C "/lib/modules/$kernel/build" M="$src" clean >>"$log" 2>&1 || true
  depmod -a "$kernel" 2>/dev/null
fi
say "Installation of the NVIDIA Accelerated Graphics Driver for Linux-$arch (version: $version) is now complete."
exit 0
