# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collection says Debian ships, against Debian's archive.

tests/unit/fixtures/debian_packages/packages.json records the newest version of each package the collection takes
from Debian, per release, from deb.debian.org's Packages indexes (refresh.py beside it names the indexes and dates).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_plan
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import (
    _ml_jupyter,
    _ml_plan,
    _nvidia_driver_runtime,
)

ROOT = Path(__file__).resolve().parents[3]
ARCHIVE = json.loads((ROOT / "tests/unit/fixtures/debian_packages/packages.json").read_text())["releases"]


def _major_minor(package: str, release: str) -> str | None:
    """Upstream major.minor of a Debian version: 11.8 of '11.8.89~11.8.0-5~deb12u1', 2.6 of '2.6.0+dfsg-7'."""
    entry = ARCHIVE[release].get(package)
    return re.match(r"(?:\d+:)?(\d+\.\d+)", entry["version"]).group(1) if entry else None


@pytest.mark.parametrize(("table", "package"), [
    (_ml_plan.DEBIAN_TOOLKIT, "nvidia-cuda-toolkit"),
    (_ml_plan.DEBIAN_TORCH, "python3-torch"),
    (_ml_jupyter.DEBIAN_JUPYTERLAB, "jupyterlab"),
], ids=["DEBIAN_TOOLKIT", "DEBIAN_TORCH", "DEBIAN_JUPYTERLAB"])
def test_the_version_the_collection_expects_is_the_one_debian_ships(table, package):
    shipped = {release: _major_minor(package, release) for release in ARCHIVE}
    assert table == {release: v for release, v in shipped.items() if v}, f"Debian ships {package}: {shipped}"


@pytest.mark.parametrize("release", sorted(ARCHIVE))
def test_every_package_of_the_debian_driver_path_is_in_a_component_the_role_enables(release):
    enabled = {"main", *_nvidia_driver_runtime.DEBIAN_COMPONENTS}  # what the role's components file enables
    wanted = {p for flavour in ("open", "proprietary") for package_set in ("compute", "full")
              for p in _gpu_plan.driver_packages("debian", package_set, flavour, None)["packages"]}
    assert wanted >= {"nvidia-kernel-dkms", "nvidia-open-kernel-dkms", "nvidia-smi", "libcuda1", "nvidia-driver"}
    missing = sorted(wanted - set(ARCHIVE[release]))
    assert not missing, f"Debian {release} has no {missing}"
    where = {p: (ARCHIVE[release][p]["suite"], ARCHIVE[release][p]["component"]) for p in wanted}
    assert all(component in enabled and suite in (release, f"{release}-security")
               for suite, component in where.values()), where
