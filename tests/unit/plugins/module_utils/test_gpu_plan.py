# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host's GPU plan (module_utils._gpu_plan and the gpu_plan filter): kind, flavour, branch,
packages, CUDA range and refusals, over facts judged by the real verdict code, so these tests also pin
the sentences the roles show when they refuse a combination."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.filter.gpu_plan import FilterModule
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_plan, _gpu_verdict

FILTERS = FilterModule().filters()
TESLA_P4 = "1bb3"
TESLA_P10 = "1b39"
RTX_2080_TI = "1e04"
PI5_BRIDGE = {"address": "0000:00:00.0", "vendor_id": "14e4", "device_id": "2712", "name": "BCM2712 PCIe Bridge"}


def facts(device_ids, platform="generic", page_size=4096, driver=None, link=None, simulated=False):
    """ansible_facts.nvidia_gpus and nvidia_gpu_host as lspci_gpu_facts returns them (judged for auto)."""
    gpus = [{"address": f"0000:0{i + 1}:00.0", "device_id": d, "driver": driver, "link": link or {}}
            for i, d in enumerate(device_ids)]
    host = {"platform": platform, "page_size": page_size, "architecture": "x86_64", "simulated": simulated,
            "host_bridges": [PI5_BRIDGE] if platform == "raspberry_pi_5" else []}
    return _gpu_verdict.judge(gpus, host)


def plan(device_ids, platform="generic", page_size=4096, driver=None, **choices):
    gpus, host = facts(device_ids, platform, page_size, driver)
    return FILTERS["gpu_plan"](gpus, host, choices, "node-1")


def refusal_text(result):
    return result["refused"]


def test_registered_under_its_documented_names():
    assert set(FILTERS) == {"gpu_plan", "gpu_plan_summary_lines", "site_address_problems"}


# --- flavour and branch ----------------------------------------------------------------------------


def test_pascal_gets_proprietary_modules_and_branch_capped_at_580():
    result = plan([TESLA_P4], default_branch=590, gpu_node=True)
    assert (result["kind"], result["flavour"], result["branch"], result["gpu_present"]) == (
        "gpu_stack", "proprietary", 580, True)
    assert "capped" in result["branch_reason"] and "proprietary" in result["flavour_reason"]
    assert result["refusals"] == []


def test_cap_does_not_raise_a_lower_default():
    assert plan([TESLA_P10], default_branch=570)["branch"] == 570


def test_turing_gets_open_modules_and_the_default_branch():
    result = plan([RTX_2080_TI], default_branch=590)
    assert (result["flavour"], result["branch"]) == ("open", 590)
    assert "Turing or newer" in result["flavour_reason"]


def test_oldest_card_decides_for_mixed_hosts():
    result = plan([RTX_2080_TI, TESLA_P4], default_branch=590)
    assert (result["flavour"], result["branch"]) == ("proprietary", 580)


def test_pins_win_when_they_can_work():
    result = plan([TESLA_P4], flavour="proprietary", branch="570")
    assert (result["flavour"], result["branch"]) == ("proprietary", 570)
    assert result["branch_reason"] == "pinned by nvidia_driver_branch"
    assert plan([RTX_2080_TI], flavour="proprietary", branch=590)["flavour"] == "proprietary"
    debian = plan([TESLA_P10], source="debian", source_branch=535)
    assert (debian["branch"], debian["branch_reason"]) == (535, "the branch of Debian's packages")
    assert plan([TESLA_P10], source="cuda_repo", source_branch=535)["branch"] == 580  # only Debian ships one
    assert plan([TESLA_P10], source="debian", source_branch=535, branch=580)["branch"] == 580


def test_the_runfile_names_the_branch():
    result = plan([TESLA_P10], source="runfile", runfile_url="https://mirror/x/NVIDIA-Linux-x86_64-570.195.03.run")
    assert (result["branch"], result["branch_reason"]) == (570, "the runfile's version 570.195.03")
    assert plan([TESLA_P10], source="runfile", runfile_url="https://mirror/x/driver.run")["branch"] == 580
    refused = plan([TESLA_P10], source="runfile", runfile_url="/srv/NVIDIA-Linux-aarch64-590.48.01.run")
    assert [p["code"] for p in refused["refusals"]] == ["branch_too_new"]


def test_no_gpu_uses_the_variables_and_says_what_will_be_skipped():
    result = plan([], default_branch=580, gpu_node=True)
    assert (result["kind"], result["flavour"], result["branch"], result["gpu_present"]) == (
        "gpu_stack", "open", 580, False)
    assert "GPU-dependent steps" in result["message"] and "skipped" in result["message"]
    assert "powered (PSU, then GPU)" in result["reason"]
    pinned = plan([], flavour="proprietary", branch=570)
    assert (pinned["flavour"], pinned["branch"]) == ("proprietary", 570)
    assert plan([], fallback_flavour="proprietary")["flavour"] == "proprietary"


def test_unknown_architecture_is_a_refusal_that_asks_for_a_pin():
    result = plan(["0fff"], gpu_node=True, skip_unworkable=False)
    assert result["flavour"] is None and result["kind"] == "stopped"
    assert result["refusals"][-1]["code"] == "flavour_unknown"
    assert "set nvidia_driver_module_flavour" in refusal_text(result)
    assert plan(["0fff"], flavour="open")["flavour"] == "open"


# --- packages and CUDA ---------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "package_set", "device", "packages", "dkms", "pinning"), [
    ("cuda_repo", "compute", TESLA_P10, ["nvidia-driver-cuda", "nvidia-kernel-dkms"], "nvidia",
     "nvidia-driver-pinning-580"),
    ("cuda_repo", "compute", RTX_2080_TI, ["nvidia-driver-cuda", "nvidia-kernel-open-dkms"], "nvidia",
     "nvidia-driver-pinning-580"),
    ("cuda_repo", "full", TESLA_P10, ["cuda-drivers-580", "nvidia-driver-cuda", "nvidia-kernel-dkms"], "nvidia",
     "nvidia-driver-pinning-580"),
    ("cuda_repo", "full", RTX_2080_TI, ["nvidia-open-580", "nvidia-driver-cuda", "nvidia-kernel-open-dkms"], "nvidia",
     "nvidia-driver-pinning-580"),
    ("debian", "compute", TESLA_P10, ["nvidia-kernel-dkms", "nvidia-smi", "libcuda1"], "nvidia-current", None),
    ("debian", "full", RTX_2080_TI, ["nvidia-open-kernel-dkms", "nvidia-driver"], "nvidia-current-open", None),
    ("runfile", "compute", TESLA_P10, [], "nvidia", None),
])
def test_driver_packages(source, package_set, device, packages, dkms, pinning):
    driver = plan([device], source=source, package_set=package_set)["driver"]
    assert (driver["packages"], driver["dkms_name"], driver["pinning_package"]) == (packages, dkms, pinning)
    assert (driver["source"], driver["package_set"]) == (source, package_set)


def test_cuda_range_is_the_lower_of_card_and_driver():
    pascal = plan([TESLA_P10])["cuda"]
    assert (pascal["min"], pascal["max"], pascal["gpu_max"], pascal["driver_max"]) == ("8.0", "12.9", "12.9", "13.0")
    assert pascal["compute_capabilities"] == ["6.1"]
    assert "the GPUs allow CUDA 12.9" in pascal["reason"]
    turing = plan([RTX_2080_TI], branch=570)["cuda"]
    assert (turing["min"], turing["max"]) == ("10.0", "12.8")
    assert turing["reason"] == "driver branch 570 runs CUDA 12.8 at most"
    assert plan([RTX_2080_TI], branch=590)["cuda"]["max"] == "13.1"
    assert plan([], branch=520)["cuda"]["max"] is None  # older than the table: unknown, not a guess


def test_mixed_host_takes_the_newest_minimum_and_the_oldest_ceiling():
    cuda = plan([RTX_2080_TI, TESLA_P4])["cuda"]
    assert (cuda["min"], cuda["max"]) == ("10.0", "12.9")


@pytest.mark.parametrize(("branch", "cuda"), [(535, "12.2"), (536, "12.2"), (565, "12.6"), (580, "13.0"),
                                              (595, "13.1"), (470, None), (None, None)])
def test_driver_cuda_max(branch, cuda):
    assert _gpu_plan.driver_cuda_max(branch) == cuda


# --- kind and refusals (the verdict's sentence) ----------------------------------------------------


def test_refuses_pascal_on_a_pi5_host_bridge():
    result = plan([TESLA_P4], platform="raspberry_pi_5", gpu_node=True)
    msg = refusal_text(result)
    assert msg.startswith("[pi5_proprietary_unsupported] The proprietary NVIDIA driver refuses the Raspberry Pi 5")
    assert "14e4:2712" in msg and "Tesla P4 (Pascal)" in msg and "cannot work on this host" in msg
    assert result["kind"] == "runtime_only" and "site_skip_unworkable_gpu_nodes is true" in result["reason"]
    assert plan([TESLA_P4], platform="raspberry_pi_5", gpu_node=True, skip_unworkable=False)["kind"] == "stopped"
    assert not result["verdict"]["can_work"]


def test_refuses_proprietary_on_a_pi5_even_for_a_turing_card():
    result = plan([RTX_2080_TI], platform="raspberry_pi_5", flavour="proprietary")
    assert refusal_text(result).startswith("[pi5_proprietary_unsupported]")
    assert "supports the open kernel" in refusal_text(result)
    assert plan([RTX_2080_TI], platform="raspberry_pi_5")["flavour"] == "open"


def test_refuses_open_modules_on_pascal():
    assert refusal_text(plan([TESLA_P10], flavour="open")) == (
        "[open_modules_unsupported] The open NVIDIA kernel modules do not support the Tesla P10 (Pascal) at"
        " 0000:01:00.0: they need a Turing or newer GPU. Use the proprietary modules (kernel_module_flavour:"
        " proprietary or auto).")


def test_refuses_branch_590_on_pascal_though_the_facts_were_judged_without_a_branch():
    gpus, host = facts([TESLA_P10])
    assert host["verdict"]["can_work"]  # lspci_gpu_facts judged it for auto
    assert refusal_text(FILTERS["gpu_plan"](gpus, host, {"branch": 590})) == (
        "[branch_too_new] Driver branch 590 does not support the Tesla P10 (Pascal) at 0000:01:00.0: its last"
        " branch is 580. Pin the driver to branch 580 or older.")


def test_refuses_no_gpu_when_required_with_the_power_on_order():
    result = plan([], require_gpu=True, gpu_node=True)
    assert refusal_text(result).startswith("[no_gpu] No NVIDIA GPU is enumerated")
    assert "power on its PSU and the GPU first" in refusal_text(result)
    assert result["kind"] == "runtime_only"


def test_all_refusals_are_reported_together():
    codes = [p["code"] for p in plan([TESLA_P4], platform="raspberry_pi_5", flavour="open", branch=590)["refusals"]]
    assert codes == ["pi5_proprietary_unsupported", "open_modules_unsupported", "branch_too_new"]


def test_not_a_gpu_node_gets_the_runtime_whatever_its_verdict():
    result = plan([TESLA_P4], platform="raspberry_pi_5", gpu_node=False, skip_unworkable=False)
    assert result["kind"] == "runtime_only" and result["reason"].startswith("Not in gpu_nodes")
    assert result["refusals"]  # still reported: the driver role alone would refuse


def test_problems_the_stack_fixes_do_not_refuse_it():
    """Regression: a fresh Debian host has nouveau bound to the card, and site.yml used to give it the
    runtime only; the driver role blacklists nouveau, and kernel_headers boots a Pi 5 into kernel8.img."""
    nouveau = plan([TESLA_P10], driver="nouveau", gpu_node=True)
    assert [p["code"] for p in nouveau["problems"]] == ["nouveau_bound"]
    assert (nouveau["kind"], nouveau["refusals"], nouveau["verdict"]["can_work"]) == ("gpu_stack", [], True)
    assert "fixes nouveau_bound" in nouveau["reason"]
    assert any(line.startswith("FIXED BY THE STACK [nouveau_bound]") for line in nouveau["lines"])
    pi5 = plan([RTX_2080_TI], platform="raspberry_pi_5", page_size=16384, gpu_node=True)
    assert [p["code"] for p in pi5["problems"]][:1] == ["pi5_16k_page_kernel"]
    assert (pi5["kind"], pi5["flavour"]) == ("gpu_stack", "open")


def test_warnings_never_refuse():
    gpus, host = facts([TESLA_P10], link=None)
    gpus[0]["link"] = {"degraded": True, "current_speed": 2.5, "current_width": 1, "max_speed": 8.0, "max_width": 16}
    result = FILTERS["gpu_plan"](gpus, host, {"gpu_node": True})
    assert [p["code"] for p in result["problems"]] == ["pcie_link_degraded"]
    assert result["kind"] == "gpu_stack" and result["refusals"] == []


def test_lines_headline_verdict_and_consequence():
    result = plan([TESLA_P4], platform="raspberry_pi_5", gpu_node=True)
    assert result["lines"][0] == (
        "node-1 (raspberry_pi_5, x86_64): 1 NVIDIA GPU(s), THE NVIDIA DRIVER CANNOT WORK ON THIS HOST")
    assert result["lines"][1].startswith("0000:01:00.0: Tesla P4 (Pascal, compute 6.1), link ? GT/s x? of ? GT/s x?;"
                                         " proprietary kernel modules, driver branches <=580, CUDA <= 12.9")
    assert result["lines"][2].startswith("CANNOT WORK [pi5_proprietary_unsupported]")
    assert result["lines"][-1] == result["reason"]


def test_simulated_gpus_are_marked():
    gpus, host = facts([TESLA_P10], simulated=True)
    assert FILTERS["gpu_plan"](gpus, host, {})["gpu_simulated"]
    gpus, host = facts([], simulated=True)
    assert not FILTERS["gpu_plan"](gpus, host, {})["gpu_simulated"]


def test_the_facts_are_not_modified():
    gpus, host = facts([TESLA_P10])
    before = repr((gpus, host))
    FILTERS["gpu_plan"](gpus, host, {"branch": 590, "flavour": "open"})
    assert repr((gpus, host)) == before


def test_summary_lines():
    p10 = plan([TESLA_P10], gpu_node=True)
    pi5 = plan([TESLA_P4], platform="raspberry_pi_5", gpu_node=True)
    pi4 = plan([], gpu_node=False)
    hostvars = {"x86-p10": {"nvidia_gpu_plan": p10}, "pi5-01": {"nvidia_gpu_plan": pi5},
                "pi4-01": {"nvidia_gpu_plan": pi4}, "unreachable": {}}
    assert FILTERS["gpu_plan_summary_lines"](hostvars, list(hostvars), ["x86-p10", "pi4-01"]) == [
        "pi4-01: runtime only; GPU: none; verdict: no GPU to judge",
        "pi5-01: runtime only (GPU verdict) (FAILED, see above); GPU: Tesla P4; verdict: CANNOT WORK "
        "(pi5_proprietary_unsupported)",
        "x86-p10: gpu stack; GPU: Tesla P10; verdict: can work",
    ]


# --- input errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("branch", ["latest", "0", True, "-1", "5.8"])
def test_bad_branch(branch):
    with pytest.raises(AnsibleFilterError, match="gpu_plan: branch must be"):
        plan([], branch=branch)


@pytest.mark.parametrize(("choices", "match"), [
    ({"flavour": "closed"}, "flavour must be one of"),
    ({"source": "ppa"}, "source must be one of"),
    ({"package_set": "all"}, "package_set must be one of"),
    ({"default_branch": "auto"}, "default_branch must be a branch number"),
    ({"gpu_node": "maybe"}, "gpu_node must be true or false"),
    ({"fake_hardware": "x"}, "fake_hardware must be a mapping"),
    ({"brnach": 580}, "unknown choices brnach"),
    ({"fake_hardware": {"lspci_dmup": "/x"}}, "gpu_plan_fake_hardware has lspci_dmup"),
])
def test_bad_choices(choices, match):
    with pytest.raises(AnsibleFilterError, match=match):
        plan([], **choices)


def test_bad_input():
    with pytest.raises(AnsibleFilterError, match=r"run homelab\.nvidia_gpu\.lspci_gpu_facts first"):
        FILTERS["gpu_plan"]("nope", {}, {})
    with pytest.raises(AnsibleFilterError, match="must be a mapping"):
        FILTERS["gpu_plan"]([1], {}, {})
    with pytest.raises(AnsibleFilterError, match="choices must be a mapping"):
        FILTERS["gpu_plan"]([], {}, ["x"])


def test_the_role_passes_every_fake_hardware_key_to_lspci_gpu_facts():
    """gpu_plan_fake_hardware is validated against FAKE_HARDWARE_KEYS; the role must forward exactly those."""
    tasks = yaml.safe_load((Path(__file__).resolve().parents[4] / "roles/gpu_plan/tasks/decide.yml").read_text())
    call = next(t["homelab.nvidia_gpu.lspci_gpu_facts"] for t in tasks if "homelab.nvidia_gpu.lspci_gpu_facts" in t)
    forwarded = {k for k, v in call.items() if "gpu_plan_fake_hardware." + k in str(v)}
    assert forwarded == set(_gpu_plan.FAKE_HARDWARE_KEYS)
    assert set(call) - forwarded == {"require_gpu", "warn_on"}
