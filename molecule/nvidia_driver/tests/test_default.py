# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""State after the nvidia_driver scenario: CUDA-repo stand-ins on branch 580 (pinned, 590 offered), DKMS build."""

from __future__ import annotations

import json
import re

import pytest

VERSION = "580.95.05"
DEB_VERSION = f"{VERSION}-1"
NEWER = "590.48.01-1"


@pytest.fixture(scope="module")
def kernel(host):
    return json.loads(host.file("/etc/ansible/facts.d/lab.fact").content_string)["kernel_release"]


def test_dkms_status_shows_the_module_installed_for_the_target_kernel(host, kernel):
    out = host.check_output(f"dkms status -m nvidia -v {VERSION}")
    assert re.search(rf"^nvidia/{re.escape(VERSION)}, {re.escape(kernel)}, [^:]+: installed", out, re.M), out


def test_module_is_on_disk_and_says_what_it_is(host, kernel):
    ko = f"/lib/modules/{kernel}/updates/dkms/nvidia.ko"
    assert host.file(ko).exists
    cmd = host.run(f"modinfo -k {kernel} -F version nvidia")
    target = "nvidia" if cmd.rc == 0 and cmd.stdout.strip() else ko  # -k needs depmod data for the kernel
    assert host.check_output(f"modinfo -k {kernel} -F version {target}") == VERSION
    assert host.check_output(f"modinfo -k {kernel} -F flavour {target}") == "open"
    assert host.check_output(f"modinfo -k {kernel} -F vermagic {target}").startswith(kernel + " ")


def test_open_flavour_packages_of_branch_580(host):
    assert host.package("nvidia-kernel-open-dkms").version == DEB_VERSION
    assert host.package("nvidia-driver-cuda").version == DEB_VERSION
    assert host.package("nvidia-driver-pinning-580").is_installed
    assert not host.package("nvidia-kernel-dkms").is_installed


def test_pinned_branch_holds_while_the_mirror_offers_590(host):
    policy = host.check_output("apt-cache policy nvidia-kernel-open-dkms")
    assert f"Candidate: {DEB_VERSION}" in policy
    assert NEWER in policy  # the newer branch is there, and not chosen
    simulated = host.check_output("apt-get -s -o Debug::NoLocking=1 dist-upgrade")
    assert not re.search(r"^Inst (nvidia|cuda)", simulated, re.M), simulated


def test_pinning_is_the_package_not_holds(host):
    holds = host.check_output("apt-mark showhold")
    assert "nvidia" not in holds


def test_nouveau_blacklist_present_once(host):
    f = host.file("/etc/modprobe.d/blacklist-nouveau.conf")
    assert f.exists and f.mode == 0o644
    lines = host.check_output("grep -rhs '^blacklist nouveau' /etc/modprobe.d /usr/lib/modprobe.d || true").splitlines()
    assert lines == ["blacklist nouveau"]
    assert "options nouveau modeset=0" in f.content_string


def test_no_module_options_file_without_options(host):
    assert not host.file("/etc/modprobe.d/nvidia-options.conf").exists


def test_standin_nvidia_smi_reports_no_driver_honestly(host):
    cmd = host.run("nvidia-smi")
    assert cmd.rc != 0
    assert "couldn't communicate with the NVIDIA driver" in cmd.stdout
