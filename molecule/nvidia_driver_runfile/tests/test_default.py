# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""State after the nvidia_driver_runfile scenario: stand-in runfile 580.95.05, proprietary, DKMS build."""

from __future__ import annotations

import json
import re

import pytest

VERSION = "580.95.05"
RUNFILE = f"/var/cache/nvidia-driver/NVIDIA-Linux-x86_64-{VERSION}.run"


@pytest.fixture(scope="module")
def kernel(host):
    return json.loads(host.file("/etc/ansible/facts.d/lab.fact").content_string)["kernel_release"]


def test_runfile_kept_with_its_checksum(host):
    f = host.file(RUNFILE)
    assert f.exists and f.mode == 0o755
    expected = host.check_output(f"curl -fsS http://mirror.lab/XFree86/Linux-x86_64/{VERSION}/"
                                 f"NVIDIA-Linux-x86_64-{VERSION}.run.sha256sum").split()[0]
    assert f.sha256sum == expected


def test_installer_got_exactly_the_role_flags(host, kernel):
    log = host.file("/var/log/nvidia-installer.log").content_string
    line = next(line for line in log.splitlines() if line.startswith("command line: "))
    assert line.split()[3:] == ["--silent", "--dkms", "--no-questions", "--ui=none", "--no-x-check",
                                "--kernel-module-type=proprietary", f"--kernel-name={kernel}"]


def test_installer_ran_once(host):
    # idempotence: the log is rewritten by each run, and only the first run installs
    assert host.file("/var/lib/nvidia-lab-runfile/version").content_string.strip() == VERSION
    assert host.check_output("/usr/bin/nvidia-installer --version").startswith(f"nvidia-installer:  version {VERSION}")


def test_dkms_built_the_proprietary_module_for_the_target_kernel(host, kernel):
    out = host.check_output(f"dkms status -m nvidia -v {VERSION}")
    assert re.search(rf"^nvidia/{re.escape(VERSION)}, {re.escape(kernel)}, [^:]+: installed", out, re.M), out
    ko = f"/lib/modules/{kernel}/updates/dkms/nvidia.ko"
    assert host.check_output(f"modinfo -F flavour {ko}") == "proprietary"
    assert host.check_output(f"modinfo -F version {ko}") == VERSION


def test_role_marker_records_version_and_flavour(host):
    marker = json.loads(host.file("/var/cache/nvidia-driver/installed.json").content_string)
    assert marker["version"] == VERSION and marker["flavour"] == "proprietary"


def test_no_apt_driver_packages(host):
    for pkg in ("nvidia-kernel-dkms", "nvidia-kernel-open-dkms", "nvidia-driver-cuda"):
        assert not host.package(pkg).is_installed


def test_nouveau_blacklisted(host):
    assert "blacklist nouveau" in host.file("/etc/modprobe.d/blacklist-nouveau.conf").content_string
