# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nvidia_driver_plan action over real inputs: the catalog's cards judged by the real verdict code, turned into
the GPU plan as the gpu_plan role makes it, then the driver plan. Expected values are independent facts (NVIDIA's
support matrix: Pascal's last branch is 580 and it needs the proprietary modules; Turing takes the open ones; the
package names of NVIDIA's CUDA repo and Debian's archive; DKMS's and dpkg's output formats), not the code's rules."""

from __future__ import annotations

import json
from unittest.mock import MagicMock

import pytest
from ansible.playbook.task import Task
from ansible_collections.homelab.nvidia_gpu.plugins.action import nvidia_driver_plan as action
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_plan, _gpu_verdict

TESLA_P10 = "1b39"  # Pascal, GP102
RTX_2080_TI = "1e04"  # Turing, TU102
KERNEL = "6.1.0-26-amd64"
DIGEST = "sha256:" + "ab" * 32
RUNFILE = "https://download.nvidia.com/XFree86/Linux-x86_64/580.95.05/NVIDIA-Linux-x86_64-580.95.05.run"


def gpu_plan(device_ids, **choices):
    gpus = [{"address": f"0000:0{i + 1}:00.0", "device_id": d, "driver": None, "link": {}}
            for i, d in enumerate(device_ids)]
    host = {"platform": "generic", "page_size": 4096, "architecture": "x86_64", "simulated": False, "host_bridges": []}
    gpus, host = _gpu_verdict.judge(gpus, host)
    return _gpu_plan.host_plan(gpus, host, dict({"gpu_node": True, "require_gpu": False}, **choices), "node-1")


def run(args, check_mode=False):
    task = Task()
    task.args = args
    task.check_mode = check_mode
    plugin = action.ActionModule(task, MagicMock(), MagicMock(), loader=None, templar=None, shared_loader_obj=None)
    return plugin.run(task_vars={})


def first(gpus, source="cuda_repo", **args):
    choices = {"source": source}
    if "branch" in args:
        choices["branch"] = args["branch"]
    if "default_branch" in args:
        choices["default_branch"] = args.pop("default_branch")
    if source == "runfile":
        choices["runfile_url"] = args.setdefault("runfile_url", RUNFILE)
    base = {"gpu_plan": gpu_plan(gpus, **choices), "source": source, "kernel": KERNEL, "kernels": [KERNEL],
            "os_family": "Debian", "distribution": "Debian", "distribution_release": "bookworm",
            "runfile_checksum": DIGEST}
    base.update(args)
    return run(base)


POLICY_580 = """nvidia-driver-pinning-580:
  Installed: (none)
  Candidate: 580.95.05-1
nvidia-driver-cuda:
  Installed: (none)
  Candidate: 590.44.01-1
nvidia-kernel-dkms:
  Installed: (none)
  Candidate: 590.44.01-1
"""


def test_pascal_gets_branch_580_and_nvidias_proprietary_dkms_package():
    result = first([TESLA_P10], default_branch=590)
    plan = result["plan"]
    assert result["changed"] is False
    assert (plan["flavour"], plan["branch"]) == ("proprietary", 580)
    assert plan["packages"] == ["nvidia-driver-cuda", "nvidia-kernel-dkms"]
    assert plan["pinning_package"] == "nvidia-driver-pinning-580"
    assert plan["dkms_name"] == "nvidia"


def test_turing_gets_open_modules():
    plan = first([RTX_2080_TI])["plan"]
    assert plan["flavour"] == "open" and "nvidia-kernel-open-dkms" in plan["packages"]


def test_observed_cuda_repo_pins_with_the_pinning_package_and_purges_other_branches():
    plan = first([TESLA_P10])["plan"]
    dpkg = "ii \tnvidia-driver-pinning-575\t575.57.08-1\nrc \tnvidia-driver-pinning-570\t570.1-1\nun \tnvidia-smi\t\n"
    result = run({"stage": "observed", "plan": plan, "dpkg": dpkg, "policy": POLICY_580})
    plan = result["plan"]
    assert plan["specs"] == ["nvidia-driver-pinning-580", "nvidia-driver-cuda=580.*", "nvidia-kernel-dkms=580.*"]
    assert plan["hold"] is None  # the pinning package keeps the branch: holds are left as they are
    assert plan["stale_pinning"] == ["nvidia-driver-pinning-570", "nvidia-driver-pinning-575"]


def test_pascal_refuses_branch_590_with_the_verdicts_sentence():
    result = first([TESLA_P10], branch=590)
    assert result["failed"] and result["msg"].startswith("[branch_too_new] Driver branch 590")


def test_open_modules_on_pascal_are_refused():
    args = {"gpu_plan": gpu_plan([TESLA_P10], flavour="open"), "source": "cuda_repo", "kernel": KERNEL,
            "os_family": "Debian"}
    result = run(args)
    assert result["failed"] and result["msg"].startswith("[open_modules_unsupported]")


@pytest.mark.parametrize(("checksum", "url", "said"), [
    ("md5:" + "0" * 32, RUNFILE, "uses md5"),
    ("", RUNFILE, "nvidia_driver_runfile_checksum is empty"),
    (DIGEST, RUNFILE.replace("https", "http"), "is http: use https"),
    (DIGEST, "https://example.org/driver.run", "does not end in NVIDIA-Linux-"),
])
def test_untrustworthy_runfiles_are_refused(checksum, url, said):
    result = first([TESLA_P10], source="runfile", runfile_url=url, runfile_checksum=checksum)
    assert result["failed"] and result["msg"].startswith("Refusing the runfile: ") and said in result["msg"]


def test_runfile_names_its_branch_and_installer_argv():
    plan = first([TESLA_P10], source="runfile", runfile_dir="/var/cache/nvidia-driver")["plan"]
    assert plan["branch"] == 580 and plan["runfile"]["version"] == "580.95.05"
    assert plan["runfile"]["argv"] == [
        "/var/cache/nvidia-driver/NVIDIA-Linux-x86_64-580.95.05.run", "--silent", "--dkms", "--no-questions",
        "--ui=none", "--no-x-check", "--kernel-module-type=proprietary", f"--kernel-name={KERNEL}"]
    observed = run({"stage": "observed", "plan": plan, "dpkg": "ii \tdkms\t3.0.10-8\n",
                    "runfile_installer": "nvidia-installer:  version 580.95.05 (buildmeister@builder)",
                    "runfile_marker": '{"version": "580.95.05", "flavour": "proprietary"}'})["plan"]
    assert observed["runfile"]["install"] is False
    # The targets are known after kernel_headers ran: the observed plan builds for the first of them.
    later = run({"stage": "observed", "plan": plan, "dpkg": "", "kernels": ["6.1.0-27-amd64", KERNEL]})["plan"]
    assert later["runfile"]["argv"][-1] == "--kernel-name=6.1.0-27-amd64" and later["kernels"][0] == "6.1.0-27-amd64"


def test_runfile_refuses_a_host_whose_apt_owns_the_module():
    plan = first([TESLA_P10], source="runfile")["plan"]
    result = run({"stage": "observed", "plan": plan, "dpkg": "ii \tnvidia-kernel-dkms\t580.95.05-1\n"})
    assert result["failed"] and "installed from apt" in result["msg"]


def test_runfile_of_another_branch_than_the_pin_is_refused():
    result = first([TESLA_P10], source="runfile", branch=570)
    assert result["failed"] and "version 580.95.05" in result["msg"]


DEBIAN_POLICY = """nvidia-kernel-dkms:
  Installed: (none)
  Candidate: 535.247.01-1~deb12u1
nvidia-smi:
  Installed: (none)
  Candidate: 535.247.01-1~deb12u1
libcuda1:
  Installed: (none)
  Candidate: 535.247.01-1~deb12u1
"""


def test_debian_branch_is_the_archives_and_a_different_pin_is_refused():
    plan = first([TESLA_P10], source="debian")["plan"]
    assert plan["branch"] is None and plan["dkms_name"] == "nvidia-current"
    observed = run({"stage": "observed", "plan": plan, "dpkg": "", "policy": DEBIAN_POLICY})["plan"]
    assert observed["branch"] == 535 and observed["install"] is True and observed["hold"] is True
    pinned = first([TESLA_P10], source="debian", branch=580)["plan"]
    result = run({"stage": "observed", "plan": pinned, "dpkg": "", "policy": DEBIAN_POLICY})
    assert result["failed"] and "ships branch 535" in result["msg"]


def test_debian_enables_its_components_once_then_names_what_is_still_missing():
    plan = first([TESLA_P10], source="debian")["plan"]
    fresh = run({"stage": "observed", "plan": plan, "dpkg": "", "policy": ""})["plan"]
    assert fresh["debian"]["write_sources"] is True
    result = run({"stage": "observed", "plan": plan, "dpkg": "", "policy": "", "debian_sources_exists": True})
    assert result["failed"] and result["msg"].startswith("The apt sources have no nvidia-kernel-dkms, nvidia-smi")


def test_debian_does_not_build_a_recorded_failure_again():
    plan = first([TESLA_P10], source="debian")["plan"]
    record = json.dumps({"package": "nvidia-kernel-dkms", "version": "535.247.01-1~deb12u1", "kernels": [KERNEL],
                         "message": "It failed."})
    result = run({"stage": "observed", "plan": plan, "dpkg": "", "policy": DEBIAN_POLICY, "failure_record": record})
    assert result["failed"] and result["msg"].startswith("It failed. Not built again")


def test_installed_names_the_kernels_dkms_lacks():
    plan = run({"stage": "observed", "plan": first([TESLA_P10])["plan"], "dpkg": "", "policy": POLICY_580})["plan"]
    status = f"nvidia/580.95.05, {KERNEL}, x86_64: installed\nnvidia/580.95.05, 6.1.0-27-amd64, x86_64: built\n"
    plan = dict(plan, kernels=[KERNEL, "6.1.0-27-amd64"])
    result = run({"stage": "installed", "plan": plan, "package_versions": {"nvidia-kernel-dkms": "580.95.05-1"},
                  "dkms_status": status})["plan"]
    assert result["dkms_missing"] == ["6.1.0-27-amd64"]
    assert result["dkms_install_argv"] == ["dkms", "install", "-m", "nvidia", "-v", "580.95.05", "-k"]
    assert result["installed"]["version"] == "580.95.05" and result["installed"]["branch"] == 580


def test_a_loaded_older_module_needs_a_reboot():
    plan = run({"stage": "observed", "plan": first([TESLA_P10], reboot=True)["plan"], "dpkg": "",
                "policy": POLICY_580})["plan"]
    result = run({"stage": "installed", "plan": plan, "package_versions": {"nvidia-kernel-dkms": "580.95.05-1"},
                  "loaded_version": "575.57.08"})["plan"]
    assert result["reboot"] is True and "nvidia 575.57.08 is loaded" in result["reboot_reasons"][0]
    answer = run({"stage": "checked", "plan": result, "smi_query": ["Tesla P10, 580.95.05"],
                  "smi": "| NVIDIA-SMI 580.95.05   Driver Version: 580.95.05   CUDA Version: 13.0 |"})
    checked = answer["plan"]
    assert checked["smi"]["gpu_names"] == ["Tesla P10"] and checked["smi"]["cuda_version"] == "13.0"
    # the step sets the role's public facts itself (no set_fact after it)
    facts = {"nvidia_driver_installed": checked["installed"], "nvidia_driver_smi": checked["smi"]}
    assert answer["ansible_facts"] == facts


def test_bad_arguments_fail_with_a_sentence_not_a_traceback():
    result = run({"stage": "plan", "source": "cuda_repo"})
    assert result["failed"] and "gpu_plan" in result["msg"]
