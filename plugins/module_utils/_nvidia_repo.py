# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The repo map (pure): which NVIDIA CUDA tree serves which host, and with which key.

The one place for it (sources: ../shared/reference/upstream-facts.md). Keys: distribution as Ansible
names it, then the release (Debian: major version; Ubuntu: YY.MM).
"""

from __future__ import annotations

CUDA_RELEASES = {
    "Debian": {
        "12": {"tree": "debian12", "key_file": "3bf863cc.pub",
               "key_fingerprint": "EB693B3035CD5710E231E123A4B469963BF863CC"},
        "13": {"tree": "debian13", "key_file": "8793F200.pub",
               "key_fingerprint": "02182E60104FCDC26EAE1B8597A5D4CB8793F200"},
    },
    "Ubuntu": {
        "22.04": {"tree": "ubuntu2204", "key_file": "3bf863cc.pub",
                  "key_fingerprint": "EB693B3035CD5710E231E123A4B469963BF863CC"},
        "24.04": {"tree": "ubuntu2404", "key_file": "3bf863cc.pub",
                  "key_fingerprint": "EB693B3035CD5710E231E123A4B469963BF863CC"},
    },
}
# Machine (uname -m) -> CUDA tree arch. aarch64 is sbsa (discrete GPUs), never the Jetson "arm64" tree.
CUDA_ARCHES = {"x86_64": "x86_64", "aarch64": "sbsa"}
# Machine -> Debian architecture, for the Container Toolkit's $(ARCH) directories.
DEB_ARCHES = {"x86_64": "amd64", "aarch64": "arm64"}
# Raspberry Pi OS reports "Debian" on arm64; its 32-bit "Raspbian" is refused by the arch map anyway.
DISTRIBUTION_ALIASES = {"Raspbian": "Debian"}


def supported() -> str:
    """Every supported combination, as one sentence part."""
    arches = "/".join(CUDA_ARCHES)
    return "; ".join(
        f"{distro} {release} on {arches} ({', '.join(data['tree'] + '/' + arch for arch in CUDA_ARCHES.values())})"
        for distro, releases in CUDA_RELEASES.items() for release, data in releases.items())


def target(distribution: str, version: str, architecture: str, cuda: bool = True, toolkit: bool = True) -> dict:
    """The CUDA tree, its key and the Debian arch for a host; ``problem`` says why there is none ('' when fine)."""
    distro = DISTRIBUTION_ALIASES.get(str(distribution), str(distribution))
    version = str(version)
    key = version.split(".", maxsplit=1)[0] if distro == "Debian" else version
    release = CUDA_RELEASES.get(distro, {}).get(key, {})
    cuda_arch = CUDA_ARCHES.get(str(architecture), "")
    deb_arch = DEB_ARCHES.get(str(architecture), "")
    ok = (not cuda or (release and cuda_arch)) and (not toolkit or deb_arch)
    return {
        "tree": f"{release['tree']}/{cuda_arch}" if cuda and release and cuda_arch else "",
        "key_file": release.get("key_file", ""),
        "key_fingerprint": release.get("key_fingerprint", ""),
        "deb_arch": deb_arch,
        "problem": "" if ok else (
            f"NVIDIA's repos have no tree for {distribution} {version} on {architecture}. Supported: {supported()}. "
            "(arm64 hosts use the sbsa tree; the Jetson arm64 tree is not for discrete GPUs.)"),
    }
