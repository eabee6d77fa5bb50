# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nvidia_driver's decisions after install (were Jinja programs in roles/nvidia_driver/vars/main.yml)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.filter.nvidia_driver_runtime import FilterModule

F = FilterModule().filters()
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
