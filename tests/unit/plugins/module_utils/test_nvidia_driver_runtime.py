# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nvidia_driver's decisions after install (were Jinja programs in roles/nvidia_driver/vars/main.yml)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.filter.nvidia_driver_runtime import FilterModule
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _nvidia_driver_runtime as runtime

F = FilterModule().filters()
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
HOST = {"container": False, "gpu_present": True, "headers_reboot": False, "kernel": "6.1.0-26-amd64",
        "kernels": ["6.1.0-26-amd64"], "nouveau_loaded": False, "loaded_version": "", "installed_version": "580.95.05"}


def reasons(**changes):
    return F["nvidia_driver_reboot_reasons"](dict(HOST, **changes))


def test_no_reason_on_a_ready_host():
    assert reasons() == []
    assert reasons(loaded_version="580.95.05\n") == []


def test_every_reason_is_a_sentence():
    assert reasons(headers_reboot="true", kernel="6.1.0-25-amd64", nouveau_loaded=True,
                   loaded_version="570.195.03") == [
        "kernel_headers prepared a kernel or boot configuration that is not running yet",
        "the running kernel 6.1.0-25-amd64 is not a target kernel of the module",
        "nouveau is loaded",
        "nvidia 570.195.03 is loaded, 580.95.05 is installed"]


def test_never_judged_in_a_container_or_without_a_gpu():
    assert reasons(container=True, kernel="other") == []
    assert reasons(gpu_present=False, nouveau_loaded=True) == []


SKIP = {"container": False, "virtualization_type": "kvm", "gpu_present": True, "simulated": False, "reasons": [],
        "rebooted": False, "check_mode": False, "installed_version": "580.95.05"}


@pytest.mark.parametrize(("changes", "skip"), [
    ({}, ""),
    ({"container": True, "virtualization_type": "docker"}, "this host is a container (docker), whose kernel"),
    ({"gpu_present": False}, "no NVIDIA GPU is enumerated"),
    ({"simulated": True}, "the GPU is simulated (gpu_plan_fake_hardware"),
    ({"reasons": ["nouveau is loaded"]}, "a reboot is required first (nouveau is loaded); set nvidia_driver_reboot"),
    ({"reasons": ["nouveau is loaded"], "rebooted": True}, ""),
    ({"check_mode": True, "installed_version": ""}, "check mode, and the driver is not installed yet"),
])
def test_runtime_skip(changes, skip):
    result = F["nvidia_driver_runtime_skip"](dict(SKIP, **changes))
    assert result.startswith(skip) if skip else result == ""


def test_smi_facts():
    lines = ["Tesla P10, 580.95.05", "Tesla P40, 580.95.05"]
    smi = "| NVIDIA-SMI 580.95.05   Driver Version: 580.95.05   CUDA Version: 13.0 |"
    assert F["nvidia_driver_smi_facts"]({"query_lines": lines, "smi_stdout": smi, "skip_reason": ""}) == {
        "ran": True, "reason": None, "gpu_names": ["Tesla P10", "Tesla P40"], "driver_version": "580.95.05",
        "cuda_version": "13.0"}
    assert F["nvidia_driver_smi_facts"]({"query_lines": None, "smi_stdout": "", "skip_reason": "no GPU"}) == {
        "ran": False, "reason": "no GPU", "gpu_names": [], "driver_version": None, "cuda_version": None}
    no_cuda = F["nvidia_driver_smi_facts"]({"query_lines": ["X"], "smi_stdout": "", "skip_reason": ""})
    assert no_cuda["cuda_version"] is None


@pytest.mark.parametrize(("role", "kind", "inside"), [
    ("guest", "docker", True), ("guest", "lxc", True), ("guest", "kvm", False), ("host", "docker", False),
    ("", "", False)])
def test_in_container(role, kind, inside):
    assert F["nvidia_driver_in_container"]({"virtualization_role": role, "virtualization_type": kind}) is inside


def test_bad_input():
    with pytest.raises(AnsibleFilterError, match="must be a dict"):
        F["nvidia_driver_reboot_reasons"]("x")
    with pytest.raises(AnsibleFilterError, match="reboot_reasons"):
        F["nvidia_driver_reboot_reasons"]({"kernel": "x"})


def test_dkms_missing_reads_status_and_drops_skipped_results():
    missing = FilterModule().filters()["nvidia_driver_dkms_missing"]
    results = [{"item": "6.1.0-27-amd64", "stdout": "nvidia-current/535.216.01, 6.1.0-27-amd64, x86_64: installed"},
               {"item": "6.1.0-28-amd64", "stdout": "nvidia-current/535.216.01, 6.1.0-28-amd64, x86_64: built"},
               {"item": "6.1.0-29-amd64", "stdout": ""},
               {"item": "6.1.0-30-amd64", "skipped": True}]  # check mode: the recheck does not run
    assert missing(results) == ["6.1.0-28-amd64", "6.1.0-29-amd64"]
    assert missing(None) == [] and missing([]) == []


def test_dkms_failure_names_each_kernel_its_install_error_and_make_log():
    failure = FilterModule().filters()["nvidia_driver_dkms_failure"]
    text = failure({"name": "nvidia", "version": "580.95.05", "kernels": ["k1", "k2"], "missing": ["k2"],
                    "installs": [{"item": "k1", "rc": 0, "stdout_lines": ["ok"], "stderr_lines": []},
                                 {"item": "k2", "rc": 10, "stdout_lines": ["Building", ""],
                                  "stderr_lines": ["Error! Bad return status for module build"]}],
                    "make_logs": [{"item": "k2", "stdout": ""}]})
    lines = text.split("\n")
    assert lines[0] == "DKMS has no installed nvidia/580.95.05 for k2 (targets: k1, k2)."
    assert lines[1] == "dkms install -k k2 (rc 10): Building"
    assert lines[2] == "(no make.log: were the headers of k2 installed? /lib/modules/k2/build)"
    assert len(lines) == 3
    with pytest.raises(AnsibleFilterError, match="dkms_failure"):
        failure({"name": "nvidia"})


# Lines of the make.log that DKMS 3.2.2 wrote on Debian trixie (2026-12-07) when contrib's nvidia-open-kernel-dkms
# 550.163.01-2 failed to build for 6.12.118+deb13-amd64, as DKMS wrote them (its long compiler command lines and most
# conftest output left out). What the role must find in it is what gcc and make said there, read by eye.
MAKE_LOG = (FIXTURES / "dkms" / "nvidia-current-open-550.163.01-6.12.118+deb13-amd64.make.log").read_text()


def test_first_build_error_is_gccs_first_error_line_relative_to_the_build_directory():
    assert runtime.first_build_error(MAKE_LOG) == (
        "nvidia/nv-pci.c:237:9: error: too few arguments to function 'pci_resize_resource'")
    assert runtime.make_log_kernel(MAKE_LOG) == "6.12.118+deb13-amd64"


def test_without_a_compiler_error_make_or_modpost_says_it():
    assert runtime.first_build_error("x\nERROR: modpost: \"foo\" [nvidia.ko] undefined!\n") == (
        'ERROR: modpost: "foo" [nvidia.ko] undefined!')
    assert runtime.first_build_error("make: *** [Makefile:140: modules] Error 2\n") == (
        "make: *** [Makefile:140: modules] Error 2")
    assert runtime.first_build_error(" CONFTEST: dma_fence_set_error\n") == ""
    assert runtime.first_build_error(None) == "" and runtime.make_log_kernel("no header") == ""


# dpkg-query -W -f='${db:Status-Abbrev}|${binary:Package}|${Version}\n' lines in the states dpkg showed on that trixie
# host after `apt-get install nvidia-open-kernel-dkms nvidia-smi libcuda1` failed (the DKMS package iF, the rest ii);
# an earlier proprietary driver, config files left by a removed package and a pulled-in upgrade added.
BEFORE = ["ii |dkms|3.2.2-1", "ii |nvidia-kernel-common|20240109+1", "un |nvidia-smi|",
          "rc |glx-diversions|1.2.2", "ii |nvidia-kernel-dkms|550.163.01-2", "ii |libc6:amd64|2.41-12"]
AFTER = ["ii |dkms|3.2.2-1", "ii |nvidia-kernel-common|20240109+1", "ii |nvidia-smi|550.163.01-2",
         "ii |glx-diversions|1.2.2", "iF |nvidia-open-kernel-dkms|550.163.01-2", "ii |libcuda1:amd64|550.163.01-2",
         "ii |libc6:amd64|2.41-12+deb13u5"]


def test_roll_back_purges_what_was_new_removes_what_had_config_files_and_restores_what_went():
    assert runtime.install_rollback(BEFORE, AFTER) == {
        "purge": ["libcuda1:amd64", "nvidia-open-kernel-dkms", "nvidia-smi"],
        "remove": ["glx-diversions"],
        "restore": ["nvidia-kernel-dkms=550.163.01-2"],  # libc6's upgrade stays: never a downgrade
        "broken": ["nvidia-open-kernel-dkms"]}
    assert runtime.install_rollback(BEFORE, BEFORE) == {"purge": [], "remove": [], "restore": [], "broken": []}


def test_build_failure_names_the_kernel_the_first_error_and_the_ways_out():
    failure = F["nvidia_driver_build_failure"]({
        "package": "nvidia-open-kernel-dkms", "version": "550.163.01-2", "flavour": "open", "source": "debian",
        "dkms_name": "nvidia-current-open", "kernels": ["6.12.118+deb13-amd64"], "make_log": MAKE_LOG,
        "log_path": "/var/log/nvidia_driver/nvidia-current-open-550.163.01-make.log",
        "rollback": runtime.install_rollback(BEFORE, AFTER), "left": ""})
    assert failure["message"].startswith(
        "NVIDIA's open kernel module (nvidia-open-kernel-dkms 550.163.01-2, DKMS module nvidia-current-open) does not"
        " build for kernel 6.12.118+deb13-amd64: nvidia/nv-pci.c:237:9: error: too few arguments to function"
        " 'pci_resize_resource' (the first error in DKMS's make.log, kept at /var/log/nvidia_driver/")
    assert "Way out: the proprietary flavour (nvidia_driver_module_flavour: proprietary)" in failure["message"]
    assert "nvidia_driver_source: cuda_repo" in failure["message"]
    assert "or the previous kernel" in failure["message"]
    assert failure["message"].endswith(
        "The host's packages are as before the install (purged libcuda1:amd64, nvidia-open-kernel-dkms, nvidia-smi;"
        " removed glx-diversions; installed again nvidia-kernel-dkms=550.163.01-2).")
    assert failure["rolled_back_fully"] and failure["kernel"] == "6.12.118+deb13-amd64"


def test_build_failure_says_what_the_roll_back_left_and_no_proprietary_way_out_on_a_pi5():
    failure = runtime.build_failure(
        package="nvidia-open-kernel-dkms", version="550.163.01-2", flavour="open", source="debian",
        dkms_name="nvidia-current-open", kernels=["6.12.47+rpt-rpi-2712"], make_log=None, log_path="",
        platform="raspberry_pi_5", left=" The following packages are only half configured\n x ")
    assert "does not build for kernel 6.12.47+rpt-rpi-2712: DKMS left no make.log" in failure["message"]
    assert "proprietary" not in failure["message"]
    assert failure["message"].endswith("The roll-back left: The following packages are only half configured x")
    assert not failure["rolled_back_fully"]
