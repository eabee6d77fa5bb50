# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kernel_headers' decision: which kernels to prepare and which headers packages each needs (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

# Raspberry Pi kernels: release suffix "+rpt-<flavour>" -> headers metapackage of that flavour. Flavours
# not listed fall back to linux-headers-<flavour>, the archive's naming rule.
RPI_FLAVOUR_PACKAGES = {
    "rpi-2712": "linux-headers-rpi-2712",  # Pi 5, 16K pages (the default kernel_2712.img)
    "rpi-v8": "linux-headers-rpi-v8",  # Pi 3/4/5, 4K pages (kernel8.img: what an NVIDIA GPU on a Pi 5 needs)
    "rpi-2712-rt": "linux-headers-rpi-2712-rt",
    "rpi-v8-rt": "linux-headers-rpi-v8-rt",
}
PI5_FLAVOUR = "rpi-v8"  # the flavour of the Pi 5's 4K-page kernel8.img
RPI_RELEASE = re.compile(r"^(?P<version>.+)\+rpt-(?P<flavour>rpi-[0-9a-z-]+)$")
# Debian/Ubuntu ABI releases: 6.1.0-26-amd64, 6.12.48+deb13-arm64, 6.8.0-45-generic -> flavour after the ABI.
DISTRO_RELEASE = re.compile(r"^[0-9]+\.[0-9]+(\.[0-9]+)?(-[0-9]+)?(\+deb[0-9]+)?-(?P<flavour>[a-z][0-9a-z-]*)$")
# The version part of a release, before its flavour: 6.1.0-26-amd64 -> amd64, 6.12.47+rpt-rpi-2712 -> rpi-2712.
VERSION_PREFIX = r"^[0-9][0-9.]*(-[0-9]+)?(\+deb[0-9]+)?(\+rpt)?-"


def flavour(release: str) -> str:
    return re.sub(VERSION_PREFIX, "", release, count=1)


def pi5_release(running: str) -> str:
    """The release of the Pi 5's 4K-page kernel next to the running Raspberry Pi OS kernel."""
    return re.sub(r"\+rpt-rpi-[0-9a-z-]+$", f"+rpt-{PI5_FLAVOUR}", running)


def packages(release: str, metapackage: bool = False) -> tuple[list[str], bool]:
    """Headers packages of one release, and whether they come from the Raspberry Pi archive."""
    rpi = RPI_RELEASE.match(release)
    if rpi:
        name = rpi.group("flavour")
        return [RPI_FLAVOUR_PACKAGES.get(name, f"linux-headers-{name}"), f"linux-headers-{release}"], True
    distro = DISTRO_RELEASE.match(release)
    extra = [f"linux-headers-{distro.group('flavour')}"] if metapackage and distro else []
    return [f"linux-headers-{release}", *extra], False


def headers_plan(running: str, kernels: Sequence[str] = (), include_running: bool = True,
                 installed_newer: Sequence[str] = (), pi5_active: bool = False, metapackage: bool = False,
                 repos: Mapping[str, str] | None = None) -> dict:
    """Targets: the named kernels, the running one, the installed-but-not-booted ones of the running
    flavour (a Pi 5 carries rpi-2712 and rpi-v8 kernels side by side) and, for a Pi 5 with a GPU, the
    4K-page kernel's release. Each target gets its packages and the archive they come from."""
    if not isinstance(running, str) or not running:
        raise ValueError("the running kernel release must be a non-empty string")
    same_flavour = re.compile(VERSION_PREFIX + re.escape(flavour(running)) + "$")
    pending = [r for r in installed_newer if same_flavour.search(r)]
    boot = pi5_release(running) if pi5_active else None
    targets = []
    for release in [*kernels, *([running] if include_running else []), *pending, *([boot] if boot else [])]:
        if release not in targets:
            targets.append(release)
    repos = repos or {}
    plan = []
    for release in targets:
        names, rpi = packages(release, metapackage)
        plan.append({"release": release, "packages": names, "repo": repos.get("raspberrypi" if rpi else "distro", "")})
    return {"pending": pending, "targets": targets, "plan": plan, "pi5_release": pi5_release(running)}
