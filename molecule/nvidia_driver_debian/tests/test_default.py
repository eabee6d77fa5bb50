# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""State after the nvidia_driver_debian scenario: Debian's real nvidia-kernel-dkms built for the target kernel."""

from __future__ import annotations

import json
import re

import pytest


@pytest.fixture(scope="module")
def kernel(host):
    return json.loads(host.file("/etc/ansible/facts.d/lab.fact").content_string)["kernel_release"]


@pytest.fixture(scope="module")
def version(host):
    return host.package("nvidia-kernel-dkms").version.split("-")[0]


def test_debian_package_of_branch_535_is_installed_and_held(host, version):
    assert version.startswith("535.")
    assert host.package("nvidia-kernel-dkms").is_installed
    holds = host.check_output("apt-mark showhold").split()
    assert {"nvidia-kernel-dkms", "nvidia-smi", "libcuda1"} <= set(holds)


def test_real_nvidia_module_built_and_installed_for_the_target_kernel(host, kernel, version):
    out = host.check_output(f"dkms status -m nvidia-current -v {version}")
    assert re.search(rf"^nvidia-current/{re.escape(version)}, {re.escape(kernel)}, [^:]+: installed", out, re.M), out
    ko = f"/lib/modules/{kernel}/updates/dkms/nvidia-current.ko"
    assert host.file(ko).exists
    assert host.check_output(f"modinfo -F version {ko}") == version
    assert host.check_output(f"modinfo -F vermagic {ko}").startswith(kernel + " ")
    assert host.check_output(f"modinfo -F license {ko}") == "NVIDIA"  # the proprietary flavour


def test_non_free_components_enabled_by_the_role(host):
    sources = host.file("/etc/apt/sources.list.d/nvidia-driver-debian-non-free.sources").content_string
    assert "Components: contrib non-free non-free-firmware" in sources
