# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kernel_headers' targets and packages (were Jinja loops in roles/kernel_headers/tasks/preflight.yml)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.filter.kernel_headers import FilterModule

PLAN = FilterModule().filters()["kernel_headers_plan"]
REPOS = {"distro": "the Debian archive", "raspberrypi": "the Raspberry Pi archive"}


def test_debian_running_and_pending_of_the_same_flavour():
    result = PLAN("6.1.0-26-amd64", installed_newer=["6.1.0-27-amd64", "6.1.0-27-rt-amd64", "6.1.0-28-cloud-amd64"],
                  repos=REPOS)
    assert result["pending"] == ["6.1.0-27-amd64"]
    assert result["targets"] == ["6.1.0-26-amd64", "6.1.0-27-amd64"]
    assert result["plan"][0] == {"release": "6.1.0-26-amd64", "packages": ["linux-headers-6.1.0-26-amd64"],
                                 "repo": "the Debian archive"}


def test_named_kernels_come_first_and_duplicates_go():
    result = PLAN("6.12.48+deb13-arm64", kernels=["6.12.48+deb13-arm64", "6.12.41+deb13-arm64"])
    assert result["targets"] == ["6.12.48+deb13-arm64", "6.12.41+deb13-arm64"]
    assert PLAN("6.1.0-26-amd64", kernels=["6.1.0-25-amd64"], include_running=False)["targets"] == ["6.1.0-25-amd64"]
    assert PLAN("6.1.0-26-amd64", include_running=False)["targets"] == []


def test_metapackage_of_the_flavour_when_asked():
    assert PLAN("6.8.0-45-generic", metapackage=True)["plan"][0]["packages"] == [
        "linux-headers-6.8.0-45-generic", "linux-headers-generic"]
    assert PLAN("6.12.48+deb13-arm64", metapackage=True)["plan"][0]["packages"] == [
        "linux-headers-6.12.48+deb13-arm64", "linux-headers-arm64"]


def test_raspberry_pi_kernels_get_their_flavour_package_and_the_pi_archive():
    result = PLAN("6.12.47+rpt-rpi-2712", repos=REPOS)
    assert result["plan"] == [{"release": "6.12.47+rpt-rpi-2712", "repo": "the Raspberry Pi archive",
                               "packages": ["linux-headers-rpi-2712", "linux-headers-6.12.47+rpt-rpi-2712"]}]
    assert PLAN("6.12.47+rpt-rpi-new")["plan"][0]["packages"][0] == "linux-headers-rpi-new"  # the naming rule


def test_pi5_with_a_gpu_also_prepares_the_4k_page_kernel():
    """Regression: validate and upgrade used to drop this release; the driver's local fact now keeps it."""
    newer = ["6.12.50+rpt-rpi-2712", "6.12.50+rpt-rpi-v8"]
    result = PLAN("6.12.47+rpt-rpi-2712", pi5_active=True, installed_newer=newer)
    assert result["pi5_release"] == "6.12.47+rpt-rpi-v8"
    assert result["pending"] == ["6.12.50+rpt-rpi-2712"]  # a Pi 5 carries both flavours: only the running one's
    assert result["targets"] == ["6.12.47+rpt-rpi-2712", "6.12.50+rpt-rpi-2712", "6.12.47+rpt-rpi-v8"]
    assert result["plan"][-1]["packages"] == ["linux-headers-rpi-v8", "linux-headers-6.12.47+rpt-rpi-v8"]
    assert PLAN("6.12.47+rpt-rpi-2712")["targets"] == ["6.12.47+rpt-rpi-2712"]


@pytest.mark.parametrize("running", ["", None, 5])
def test_bad_running_release(running):
    with pytest.raises(AnsibleFilterError, match="kernel_headers_plan"):
        PLAN(running)
