#!/usr/bin/env bash
# Build the lab's fixture mirror (stand-ins for NVIDIA's CUDA and Container Toolkit repos, the
# driver runfiles and Raspberry Pi's kernel packages), signed with lab keys, into
# <checkout>/.cache/lab/mirror. Keys live in <checkout>/.cache/lab/keys and survive rebuilds, so
# fingerprints stay put. Idempotent: a stamp keyed on the inputs' hash skips an unchanged build.
# Usage: build.sh (no arguments). LAB_MIRROR_FORCE=1 rebuilds anyway. See tests/lab/README.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
pkgsrc=$root/tests/lab/packages
lab=$root/.cache/lab
out=$lab/mirror
keys=$lab/keys
work=$lab/mirror.build
log() { printf '[mirror] %s\n' "$*"; }

# What the mirror carries (DESIGN.md, "Stand-in packages").
declare -A BRANCH_VERSION=([570]=570.195.03 [580]=580.95.05 [590]=590.48.01)
# Older versions of a branch, only as apt packages (no runfile, no pinning package of their own): the
# lab installs one first (an apt pin) so that upgrade_driver.yml has an in-branch upgrade to make.
declare -A BRANCH_OLDER=([580]=580.82.09)
BRANCHES=(570 580 590)
CUDA_DISTROS=(debian12 debian13 ubuntu2204 ubuntu2404)
declare -A CUDA_DEB_ARCH=([x86_64]=amd64 [sbsa]=arm64)
CUDA_TOOLKITS=(12.6 12.9 13.0)
# cuDNN 9.12.0.46: the first with a CUDA 13 wheel on PyPI; both packages carry it (tests/lab/mirror/real_parts.py).
CUDNN_VERSION=9.12.0.46-1
TOOLKIT_STABLE=(1.17.8-1 1.18.1-1)
TOOLKIT_EXPERIMENTAL=(1.17.8-1 1.18.1-1 1.19.0~rc.1-1)
PI_VERSION=1:6.12.47-1+rpt1~bookworm
PI_RELEASE=6.12.47+rpt
# llama.cpp's source for the inference lab: the copy PyPI's llama-cpp-python sdist vendors (the real file, checked), and
# the tiny GGUF model tests/lab/packages/models/tiny_gguf.py writes with PyPI's gguf (random weights, no hub download).
LLAMA_SDIST=llama_cpp_python-0.3.36.tar.gz
LLAMA_SDIST_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
MAINTAINER="homelab.nvidia_gpu test lab <lab@mirror.lab>"

for tool in gpg gpgv dpkg-deb dpkg-scanpackages apt-ftparchive sha256sum python3; do
  command -v "$tool" >/dev/null || { log "missing $tool (scripts/lab-host.sh installs it)"; exit 1; }
done

# --- keys -------------------------------------------------------------------------------------
export GNUPGHOME=$keys/gnupg
mkdir -p "$GNUPGHOME"
chmod 700 "$keys" "$GNUPGHOME"
trap 'gpgconf --kill gpg-agent >/dev/null 2>&1 || true' EXIT
declare -A FPR
key_email() { echo "lab-$1@mirror.lab"; }
for key in cuda toolkit raspberrypi; do
  email=$(key_email "$key")
  if ! gpg --batch --list-secret-keys "<$email>" >/dev/null 2>&1; then
    log "generating the lab $key signing key"
    gpg --batch --quiet --gen-key <<PARAMS
%no-protection
Key-Type: eddsa
Key-Curve: ed25519
Key-Usage: sign
Name-Real: homelab.nvidia_gpu LAB $key repository key (not NVIDIA, not Raspberry Pi)
Name-Email: $email
Expire-Date: 0
%commit
PARAMS
  fi
  FPR[$key]=$(gpg --batch --with-colons --list-secret-keys "<$email>" | awk -F: '/^fpr:/ {print $10; exit}')
  [[ ${FPR[$key]} =~ ^[0-9A-F]{40}$ ]] || { log "cannot read the $key key's fingerprint"; exit 1; }
done

# --- stamp ------------------------------------------------------------------------------------
stamp=$(
  {
    cat "$here/build.sh" "$here/real_parts.py"
    find "$pkgsrc" -type f -print0 | sort -z | xargs -0 sha256sum
    echo "${FPR[cuda]} ${FPR[toolkit]} ${FPR[raspberrypi]}"
  } | sha256sum | cut -c1-32
)
if [ "${LAB_MIRROR_FORCE:-0}" != 1 ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ] &&
  [ -s "$out/fingerprints.yml" ]; then
  log "mirror is current (stamp $stamp): $out"
  exit 0
fi

t0=$(date +%s)
log "building the mirror (stamp $stamp)"
rm -rf "$work"
mkdir -p "$work/pool" "$work/src"

# --- package helpers --------------------------------------------------------------------------
# new_pkg NAME VERSION ARCH -> prints the staging root of a fresh package tree
new_pkg() {
  local dir="$work/src/$1_${2#*:}_$3"
  rm -rf "$dir"
  mkdir -p "$dir/DEBIAN" "$dir/usr/share/doc/$1"
  printf 'LAB STAND-IN for the package %s %s (%s) of the homelab.nvidia_gpu test lab.\nSee tests/lab/README.md in the collection for what it replaces and cannot prove.\n' \
    "$1" "$2" "$3" >"$dir/usr/share/doc/$1/README.lab"
  echo "$dir"
}
# control DIR NAME VERSION ARCH SUMMARY [Field: value]...
control() {
  local dir=$1 name=$2 version=$3 arch=$4 summary=$5
  shift 5
  {
    echo "Package: $name"
    echo "Version: $version"
    echo "Architecture: $arch"
    echo "Maintainer: $MAINTAINER"
    echo "Section: misc"
    echo "Priority: optional"
    echo "Installed-Size: $(du -sk --exclude=DEBIAN "$dir" | cut -f1)"
    local field
    for field in "$@"; do echo "$field"; done
    echo "Homepage: http://mirror.lab/"
    echo "Description: LAB STAND-IN: $summary"
    echo " Stand-in built by tests/lab/mirror/build.sh for the homelab.nvidia_gpu test lab."
    echo " It has the upstream package's name, version and relations, not its contents."
  } >"$dir/DEBIAN/control"
}
# fill FILE VERSION [FLAVOUR] [PACKAGE]: substitute the template markers in place
fill() {
  sed -i -e "s/@VERSION@/$2/g" -e "s/@FLAVOUR@/${3:-}/g" -e "s/@PACKAGE@/${4:-}/g" "$1"
}
# build_deb DIR -> the .deb lands in $work/pool
build_deb() {
  dpkg-deb --root-owner-group -Zgzip -z1 --build "$1" "$work/pool/$(basename "$1").deb" >/dev/null
}

# --- CUDA driver stand-ins --------------------------------------------------------------------
dkms_pkg() { # NAME FLAVOUR VERSION ARCH
  local name=$1 flavour=$2 version=$3 arch=$4 upstream=${3%-*} other d
  d=$(new_pkg "$name" "$version" "$arch")
  mkdir -p "$d/usr/src/nvidia-$upstream"
  for f in dkms.conf Makefile nvidia.c; do
    cp "$pkgsrc/nvidia-dkms/$f" "$d/usr/src/nvidia-$upstream/$f"
    fill "$d/usr/src/nvidia-$upstream/$f" "$upstream" "$flavour"
  done
  echo "$flavour" >"$d/usr/src/nvidia-$upstream/FLAVOUR"
  for f in postinst prerm; do
    install -m 0755 "$pkgsrc/nvidia-dkms/$f" "$d/DEBIAN/$f"
    fill "$d/DEBIAN/$f" "$upstream" "$flavour" "$name"
  done
  if [ "$flavour" = open ]; then other=nvidia-kernel-dkms; else other=nvidia-kernel-open-dkms; fi
  control "$d" "$name" "$version" "$arch" "NVIDIA kernel module DKMS source ($flavour flavour, $upstream)" \
    "Depends: dkms, make, gcc" "Provides: nvidia-kernel-$upstream" \
    "Conflicts: $other" "Replaces: $other"
  build_deb "$d"
}

driver_pkgs() { # BRANCH UPSTREAM ARCH: the DKMS sources, nvidia-driver-cuda and the metapackages of one version
  local br=$1 up=$2 arch=$3 v=$2-1 d
  dkms_pkg nvidia-kernel-dkms proprietary "$v" "$arch"
  dkms_pkg nvidia-kernel-open-dkms open "$v" "$arch"

  d=$(new_pkg nvidia-driver-cuda "$v" "$arch")
  install -D -m 0755 "$pkgsrc/bin/nvidia-smi" "$d/usr/bin/nvidia-smi"
  fill "$d/usr/bin/nvidia-smi" "$up" "" nvidia-driver-cuda
  control "$d" nvidia-driver-cuda "$v" "$arch" "NVIDIA driver compute components ($up; nvidia-smi that reports no driver)" \
    "Depends: nvidia-kernel-dkms (= $v) | nvidia-kernel-open-dkms (= $v)"
  build_deb "$d"

  # Per flavour, a branch metapackage with >= dependencies only, like upstream (cuda-drivers-580 can pull
  # 590 unpinned), and the unversioned metapackage that depends on it exactly.
  local spec meta vendor dkms flavour
  for spec in "cuda-drivers CUDA nvidia-kernel-dkms proprietary" "nvidia-open NVIDIA nvidia-kernel-open-dkms open"; do
    read -r meta vendor dkms flavour <<<"$spec"
    d=$(new_pkg "$meta-$br" "$v" "$arch")
    control "$d" "$meta-$br" "$v" "$arch" "$vendor driver metapackage, branch $br ($flavour modules)" \
      "Depends: nvidia-driver-cuda (>= $v), $dkms (>= $v)"
    build_deb "$d"
    d=$(new_pkg "$meta" "$v" "$arch")
    control "$d" "$meta" "$v" "$arch" "$vendor driver metapackage ($flavour modules)" "Depends: $meta-$br (= $v)"
    build_deb "$d"
  done
}

for tree_arch in x86_64 sbsa; do
  arch=${CUDA_DEB_ARCH[$tree_arch]}
  for br in "${BRANCHES[@]}"; do
    up=${BRANCH_VERSION[$br]}
    v=$up-1
    for older in ${BRANCH_OLDER[$br]:-}; do driver_pkgs "$br" "$older" "$arch"; done
    driver_pkgs "$br" "$up" "$arch"

    if [ "$tree_arch" = x86_64 ]; then  # Architecture: all, built once
      d=$(new_pkg "nvidia-driver-pinning-$br" "$v" all)
      mkdir -p "$d/etc/apt/preferences.d"
      cat >"$d/etc/apt/preferences.d/nvidia-driver-pinning-$br" <<PIN
# LAB STAND-IN of nvidia-driver-pinning-$br: keep the NVIDIA driver packages on branch $br.
Package: nvidia-kernel-dkms nvidia-kernel-open-dkms nvidia-driver-cuda nvidia-open nvidia-open-* cuda-drivers cuda-drivers-*
Pin: version $br.*
Pin-Priority: 1000

Package: nvidia-kernel-dkms nvidia-kernel-open-dkms nvidia-driver-cuda nvidia-open nvidia-open-* cuda-drivers cuda-drivers-*
Pin: version *
Pin-Priority: -1
PIN
      echo "/etc/apt/preferences.d/nvidia-driver-pinning-$br" >"$d/DEBIAN/conffiles"
      control "$d" "nvidia-driver-pinning-$br" "$v" all "apt pinning of the NVIDIA driver packages to branch $br" \
        "Provides: nvidia-driver-pinning" "Conflicts: nvidia-driver-pinning"
      build_deb "$d"
    fi
  done
done

# --- CUDA toolkit and cuDNN ----------------------------------------------------------------------
# cuda-toolkit-13-0 carries NVIDIA's real CUDA 13.0 compiler tree and cudnn9-cuda-12/13 NVIDIA's real cuDNN headers
# and libcudnn.so.9, from NVIDIA's PyPI wheels (pinned, cached in /var/cache/nvgpu-lab/wheels: real_parts.py), where
# NVIDIA's repo puts them. cuda-toolkit-12-6/12-9 keep a stand-in nvcc (no CUDA 12 nvcc on PyPI) that reads options
# like the real one and compiles nothing. Like NVIDIA's cuda-nvcc-X-Y, every toolkit depends on build-essential
# (nvcc runs the host's gcc/g++).
real_parts=$here/real_parts.py
# real_control DIR NAME VERSION ARCH SUMMARY DETAIL [Field: value]...: control() with a Description saying what is real
real_control() {
  local dir=$1 summary=$5 detail=$6
  control "$1" "$2" "$3" "$4" "$summary" "${@:7}"
  sed -i -e '/^Description: /,$d' "$dir/DEBIAN/control"
  { echo "Description: $summary"; echo "$detail" | fold -s -w 76 | sed 's/^/ /'; } >>"$dir/DEBIAN/control"
}
python3 "$real_parts" fetch  # every pinned wheel, once per machine (the unit tests read the CUDA 12 ptxas ones too)
cudnn_left_out=$(python3 "$real_parts" left-out)
for tree_arch in x86_64 sbsa; do
  arch=${CUDA_DEB_ARCH[$tree_arch]}
  triplet=$([ "$arch" = amd64 ] && echo x86_64-linux-gnu || echo aarch64-linux-gnu)
  for cv in "${CUDA_TOOLKITS[@]}"; do
    name=cuda-toolkit-${cv/./-}
    d=$(new_pkg "$name" "$cv.1-1" "$arch")
    if [ "$cv" = 13.0 ]; then
      python3 "$real_parts" toolkit "$d" "$tree_arch"
      printf 'NVIDIA CUDA %s compiler tree from NVIDIA PyPI wheels (nvidia-cuda-nvcc, -crt, -runtime, -cccl, nvidia-nvvm),
laid out as NVIDIA CUDA repo lays it out, for the homelab.nvidia_gpu test lab. Not the whole toolkit: no
CUDA libraries (cuBLAS, cuFFT, ...), no tools beyond the compiler. See tests/lab/README.md.
' \
        "$cv.1" >"$d/usr/share/doc/$name/README.lab"
      real_control "$d" "$name" "$cv.1-1" "$arch" "CUDA Toolkit $cv.1: NVIDIA's real nvcc, headers, cudart and libnvvm (lab package)" \
        "NVIDIA's CUDA $cv.1 compiler (nvcc, ptxas, nvlink, fatbinary, cudafe++, cicc, libnvvm, crt, CCCL, cudart and its headers) from NVIDIA's PyPI wheels, under /usr/local/cuda-$cv as NVIDIA's repo installs it. Built by tests/lab/mirror/build.sh for the homelab.nvidia_gpu test lab: the CUDA libraries and tools beyond the compiler are left out." \
        "Depends: build-essential"
    else
      install -D -m 0755 "$pkgsrc/cuda-toolkit/nvcc" "$d/usr/local/cuda-$cv/bin/nvcc"
      fill "$d/usr/local/cuda-$cv/bin/nvcc" "$cv" "" "${cv/./-}"
      mkdir -p "$d/usr/local/cuda-$cv/lib64" "$d/usr/local/cuda-$cv/include"
      printf '{"cuda": {"name": "CUDA SDK (LAB STAND-IN)", "version": "%s.1"}}\n' "$cv" >"$d/usr/local/cuda-$cv/version.json"
      control "$d" "$name" "$cv.1-1" "$arch" "CUDA Toolkit $cv (stand-in nvcc: reads nvcc's options, compiles nothing)" \
        "Depends: build-essential"
    fi
    build_deb "$d"
  done
  for major in 12 13; do
    d=$(new_pkg "cudnn9-cuda-$major" "$CUDNN_VERSION" "$arch")
    python3 "$real_parts" cudnn "$d" "$tree_arch" "$major" "${CUDNN_VERSION%-*}"
    printf 'NVIDIA cuDNN %s for CUDA %s: the real headers, libcudnn.so.9 and libcudnn_graph.so.9 from NVIDIA PyPI wheel
nvidia-cudnn-cu%s, for the homelab.nvidia_gpu test lab. Left out: %s.
' \
      "${CUDNN_VERSION%-*}" "$major" "$major" "$cudnn_left_out" >"$d/usr/share/doc/cudnn9-cuda-$major/README.lab"
    real_control "$d" "cudnn9-cuda-$major" "$CUDNN_VERSION" "$arch" "cuDNN ${CUDNN_VERSION%-*} for CUDA $major: real headers and libcudnn.so.9 (lab package)" \
      "NVIDIA's cuDNN headers (/usr/include/$triplet/cudnn*_v9.h, linked from /usr/include/cudnn*.h), libcudnn.so.9 and libcudnn_graph.so.9 from NVIDIA's PyPI wheel nvidia-cudnn-cu$major ${CUDNN_VERSION%-*}: a program links -lcudnn and cudnnGetVersion() answers. Left out (no cuDNN operation can run): $cudnn_left_out. Built by tests/lab/mirror/build.sh for the homelab.nvidia_gpu test lab."
    build_deb "$d"
  done
done

# --- runfile stand-ins ------------------------------------------------------------------------
payload=$work/src/runfile-payload
mkdir -p "$payload"
cp "$pkgsrc/nvidia-dkms/dkms.conf" "$pkgsrc/nvidia-dkms/Makefile" "$pkgsrc/nvidia-dkms/nvidia.c" \
  "$pkgsrc/bin/nvidia-smi" "$payload/"
payload_b64=$(tar --sort=name --owner=0 --group=0 --mtime=@0 -C "$payload" -czf - . | base64 -w 76)
for run_arch in x86_64 aarch64; do
  for br in "${BRANCHES[@]}"; do
    up=${BRANCH_VERSION[$br]}
    dir=$work/mirror/XFree86/Linux-$run_arch/$up
    run=NVIDIA-Linux-$run_arch-$up.run
    mkdir -p "$dir"
    {
      sed -e "s/@VERSION@/$up/g" -e "s/@ARCH@/$run_arch/g" "$pkgsrc/runfile/installer.sh"
      echo "__LAB_PAYLOAD__"
      echo "$payload_b64"
    } >"$dir/$run"
    chmod 0755 "$dir/$run"
    (cd "$dir" && sha256sum "$run" >"$run.sha256sum")
  done
done

# --- Container Toolkit stand-ins --------------------------------------------------------------
for arch in amd64 arm64; do
  for v in "${TOOLKIT_EXPERIMENTAL[@]}"; do
    up=${v%-*}
    d=$(new_pkg libnvidia-container1 "$v" "$arch")
    control "$d" libnvidia-container1 "$v" "$arch" "NVIDIA container runtime library ($up; no library inside)"
    build_deb "$d"

    d=$(new_pkg libnvidia-container-tools "$v" "$arch")
    install -D -m 0755 "$pkgsrc/bin/nvidia-container-cli" "$d/usr/bin/nvidia-container-cli"
    fill "$d/usr/bin/nvidia-container-cli" "$up"
    control "$d" libnvidia-container-tools "$v" "$arch" "NVIDIA container runtime library, CLI ($up)" \
      "Depends: libnvidia-container1 (>= $v)"
    build_deb "$d"

    d=$(new_pkg nvidia-container-toolkit-base "$v" "$arch")
    for b in nvidia-ctk nvidia-container-runtime; do
      install -D -m 0755 "$pkgsrc/bin/$b" "$d/usr/bin/$b"
      fill "$d/usr/bin/$b" "$up"
    done
    if dpkg --compare-versions "$v" ge 1.18; then
      install -D -m 0644 "$pkgsrc/systemd/nvidia-cdi-refresh.service" "$d/lib/systemd/system/nvidia-cdi-refresh.service"
      install -D -m 0644 "$pkgsrc/systemd/nvidia-cdi-refresh.path" "$d/lib/systemd/system/nvidia-cdi-refresh.path"
    fi
    control "$d" nvidia-container-toolkit-base "$v" "$arch" "NVIDIA Container Toolkit base ($up; runtime execs runc, nvidia-ctk without a driver)" \
      "Breaks: nvidia-container-toolkit (<< $v)" "Replaces: nvidia-container-toolkit (<< $v)"
    build_deb "$d"

    d=$(new_pkg nvidia-container-toolkit "$v" "$arch")
    control "$d" nvidia-container-toolkit "$v" "$arch" "NVIDIA Container Toolkit ($up)" \
      "Depends: nvidia-container-toolkit-base (= $v), libnvidia-container-tools (= $v)"
    build_deb "$d"
  done
done

# --- Raspberry Pi kernel stand-ins ------------------------------------------------------------
for flavour in rpi-2712 rpi-v8; do
  rel=$PI_RELEASE-$flavour
  d=$(new_pkg "linux-headers-$rel" "$PI_VERSION" arm64)
  mkdir -p "$d/usr/src/linux-headers-$rel" "$d/lib/modules/$rel"
  cat >"$d/usr/src/linux-headers-$rel/Makefile" <<MAKEFILE
# LAB STAND-IN for the Raspberry Pi kernel headers of $rel: no kernel tree, builds nothing.
%:
	@echo "LAB STAND-IN: linux-headers-$rel cannot build modules (no kernel tree)" >&2; exit 2
MAKEFILE
  printf '# LAB STAND-IN .config for %s\nCONFIG_ARM64=y\nCONFIG_LOCALVERSION="-%s"\n' "$rel" "$flavour" \
    >"$d/usr/src/linux-headers-$rel/.config"
  ln -s "/usr/src/linux-headers-$rel" "$d/lib/modules/$rel/build"
  control "$d" "linux-headers-$rel" "$PI_VERSION" arm64 "Header files for Linux $rel (Makefile and .config stubs)"
  build_deb "$d"

  d=$(new_pkg "linux-headers-$flavour" "$PI_VERSION" arm64)
  control "$d" "linux-headers-$flavour" "$PI_VERSION" arm64 "Header files for Linux $flavour configuration (meta-package)" \
    "Depends: linux-headers-$rel (= $PI_VERSION)"
  build_deb "$d"
done
rel=$PI_RELEASE-rpi-v8
d=$(new_pkg "linux-image-$rel" "$PI_VERSION" arm64)
mkdir -p "$d/boot/firmware" "$d/lib/modules/$rel"
printf 'LAB STAND-IN kernel8.img placeholder for %s: boots nothing\n' "$rel" >"$d/boot/firmware/kernel8.img"
: >"$d/lib/modules/$rel/modules.dep"
control "$d" "linux-image-$rel" "$PI_VERSION" arm64 "Linux $rel for Raspberry Pi 4K-page kernels (placeholder; boots nothing)"
build_deb "$d"
d=$(new_pkg linux-image-rpi-v8 "$PI_VERSION" arm64)
control "$d" linux-image-rpi-v8 "$PI_VERSION" arm64 "Linux for Raspberry Pi v8 (meta-package)" \
  "Depends: linux-image-$rel (= $PI_VERSION)"
build_deb "$d"

# --- repositories -----------------------------------------------------------------------------
m=$work/mirror
# sign_release DIR KEY: InRelease + Release.gpg next to DIR/Release
sign_release() {
  local fpr=${FPR[$2]}
  gpg --batch --yes --quiet --local-user "$fpr" --digest-algo SHA512 --clearsign -o "$1/InRelease" "$1/Release"
  gpg --batch --yes --quiet --local-user "$fpr" --digest-algo SHA512 --armor --detach-sign -o "$1/Release.gpg" "$1/Release"
}
# flat_repo DIR KEY ORIGIN LABEL SUITE DEBS...: a flat repository like NVIDIA's (deb URL /)
flat_repo() {
  local dir=$1 key=$2 origin=$3 label=$4 suite=$5
  shift 5
  mkdir -p "$dir"
  ln "$@" "$dir/"
  (
    cd "$dir"
    dpkg-scanpackages --multiversion . /dev/null 2>/dev/null >Packages
    gzip -9nc Packages >Packages.gz
    apt-ftparchive -o APT::FTPArchive::Release::Origin="$origin" -o APT::FTPArchive::Release::Label="$label" \
      -o APT::FTPArchive::Release::Suite="$suite" -o APT::FTPArchive::Release::Codename="$suite" \
      -o APT::FTPArchive::Release::Description="LAB STAND-IN of $label (homelab.nvidia_gpu test lab)" \
      release . >"$work/Release.tmp"
    mv "$work/Release.tmp" Release
  )
  sign_release "$dir" "$key"
}

gpg --batch --armor --export "${FPR[cuda]}" >"$work/cuda.pub"
for distro in "${CUDA_DISTROS[@]}"; do
  for tree_arch in x86_64 sbsa; do
    arch=${CUDA_DEB_ARCH[$tree_arch]}
    dir=$m/compute/cuda/repos/$distro/$tree_arch
    mapfile -t debs < <(ls "$work"/pool/{nvidia-kernel-dkms,nvidia-kernel-open-dkms,nvidia-driver-cuda,cuda-drivers,cuda-drivers-*,nvidia-open,nvidia-open-*,cuda-toolkit-*,cudnn9-cuda-*}_*_"$arch".deb \
      "$work"/pool/nvidia-driver-pinning-*_all.deb)
    flat_repo "$dir" cuda NVIDIA "NVIDIA CUDA" "$distro-$tree_arch" "${debs[@]}"
    cp "$work/cuda.pub" "$dir/3bf863cc.pub"
    if [ "$distro" = debian13 ]; then cp "$work/cuda.pub" "$dir/8793F200.pub"; fi
  done
done

mkdir -p "$m/libnvidia-container"
gpg --batch --armor --export "${FPR[toolkit]}" >"$m/libnvidia-container/gpgkey"
for channel in stable experimental; do
  if [ "$channel" = stable ]; then versions=("${TOOLKIT_STABLE[@]}"); else versions=("${TOOLKIT_EXPERIMENTAL[@]}"); fi
  for arch in amd64 arm64; do
    debs=()
    for v in "${versions[@]}"; do
      for p in libnvidia-container1 libnvidia-container-tools nvidia-container-toolkit-base nvidia-container-toolkit; do
        debs+=("$work/pool/${p}_${v}_$arch.deb")
      done
    done
    flat_repo "$m/libnvidia-container/$channel/deb/$arch" toolkit "NVIDIA CORPORATION" "NVIDIA Container Toolkit" "$channel" "${debs[@]}"
  done
  echo "deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] http://mirror.lab/libnvidia-container/$channel/deb/\$(ARCH) /" \
    >"$m/libnvidia-container/$channel/deb/nvidia-container-toolkit.list"
done

pi=$m/raspberrypi/debian
mkdir -p "$pi/pool/main/l/linux" "$pi/dists/bookworm/main/binary-arm64"
ln "$work"/pool/linux-*_arm64.deb "$pi/pool/main/l/linux/"
(
  cd "$pi"
  apt-ftparchive packages pool/main >dists/bookworm/main/binary-arm64/Packages
  gzip -9nc dists/bookworm/main/binary-arm64/Packages >dists/bookworm/main/binary-arm64/Packages.gz
  cd dists/bookworm
  apt-ftparchive -o APT::FTPArchive::Release::Origin="Raspberry Pi Foundation" \
    -o APT::FTPArchive::Release::Label="Raspberry Pi Foundation" -o APT::FTPArchive::Release::Suite=stable \
    -o APT::FTPArchive::Release::Codename=bookworm -o APT::FTPArchive::Release::Architectures=arm64 \
    -o APT::FTPArchive::Release::Components=main \
    -o APT::FTPArchive::Release::Description="LAB STAND-IN of the Raspberry Pi archive (homelab.nvidia_gpu test lab)" \
    release . >"$work/Release.tmp"
  mv "$work/Release.tmp" Release
)
sign_release "$pi/dists/bookworm" raspberrypi
gpg --batch --armor --export "${FPR[raspberrypi]}" >"$pi/raspberrypi.gpg.key"
gpg --batch --armor --export "${FPR[raspberrypi]}" >"$m/raspberrypi/raspberrypi.gpg.key"

# Stand-in wheel indexes: PyTorch's per-variant indexes (whl/<variant>/torch/) and a PyPI-like index with a
# probe package (pypi/simple/homelab-ml-probe/), read by pip through http.server's directory listings.
python3 "$pkgsrc/wheels/build_wheels.py" "$m" >/dev/null

# llama.cpp's source (downloaded once into .cache/lab/downloads, which rebuilds keep) and the tiny model.
downloads=$lab/downloads
mkdir -p "$downloads" "$m/sources" "$m/models"
if ! echo "$LLAMA_SDIST_SHA256  $downloads/$LLAMA_SDIST" | sha256sum -c --quiet - 2>/dev/null; then
  log "downloading $LLAMA_SDIST from PyPI (77 MB, once)"
  rm -f "$downloads/$LLAMA_SDIST"
  "$root/.venv/bin/pip" download --quiet --no-deps --no-binary :all: --dest "$downloads" "llama-cpp-python==0.3.36"
  echo "$LLAMA_SDIST_SHA256  $downloads/$LLAMA_SDIST" | sha256sum -c --quiet - || { log "$LLAMA_SDIST: sha256 differs"; exit 1; }
fi
ln "$downloads/$LLAMA_SDIST" "$m/sources/$LLAMA_SDIST" 2>/dev/null || cp "$downloads/$LLAMA_SDIST" "$m/sources/$LLAMA_SDIST"
"$root/.venv/bin/python" "$pkgsrc/models/tiny_gguf.py" "$m/models/tiny-llama.gguf"
model_sha256=$(sha256sum "$m/models/tiny-llama.gguf" | cut -d' ' -f1)

cat >"$m/fingerprints.yml" <<YAML
---
# Lab signing keys of the fixture mirror (tests/lab/mirror/build.sh); NOT NVIDIA's or Raspberry Pi's.
lab_cuda_key_fingerprint: ${FPR[cuda]}
lab_toolkit_key_fingerprint: ${FPR[toolkit]}
lab_raspberrypi_key_fingerprint: ${FPR[raspberrypi]}
# Not keys: the checksums of the inference lab's files (llama.cpp's source, the tiny model).
lab_llama_cpp_source_url: http://mirror.lab/sources/$LLAMA_SDIST
lab_llama_cpp_source_sha256: $LLAMA_SDIST_SHA256
lab_llama_cpp_model_url: http://mirror.lab/models/tiny-llama.gguf
lab_llama_cpp_model_sha256: $model_sha256
YAML
cat >"$m/index.html" <<'HTML'
<!doctype html><title>mirror.lab</title>
<p>LAB STAND-IN mirror of the homelab.nvidia_gpu test lab: <a href="compute/cuda/repos/">CUDA</a>,
<a href="libnvidia-container/">Container Toolkit</a>, <a href="raspberrypi/debian/">Raspberry Pi</a>,
<a href="XFree86/">runfiles</a>, <a href="whl/">torch stand-in wheels</a>,
<a href="pypi/simple/">a probe package</a>, <a href="sources/">llama.cpp's source</a>,
<a href="models/">a tiny GGUF model</a>. Signed with lab keys (fingerprints.yml).</p>
HTML

# --- publish in place (the served directory keeps its inode, so a running server sees it) ------
mkdir -p "$out"
find "$out" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
mv "$m"/* "$out/"
echo "$stamp" >"$out/.stamp"
rm -rf "$work"
log "mirror built in $(( $(date +%s) - t0 ))s: $out (cuda ${FPR[cuda]}, toolkit ${FPR[toolkit]}, raspberrypi ${FPR[raspberrypi]})"
