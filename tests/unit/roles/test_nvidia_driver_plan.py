# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nvidia_driver role's plan: flavour and branch from the verdict of lspci_gpu_facts, and its refusals.

The verdicts are made by the real verdict code (module_utils._gpu_verdict.judge), so these tests also
pin the sentences the role shows when it refuses a combination.
"""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.filter.nvidia_driver import FilterModule
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils import _gpu_verdict

PLAN = FilterModule().filters()["nvidia_driver_plan"]

TESLA_P4 = "1bb3"
TESLA_P10 = "1b39"
RTX_2080_TI = "1e04"
PI5_BRIDGE = {"address": "0000:00:00.0", "vendor_id": "14e4", "device_id": "2712", "name": "BCM2712 PCIe Bridge"}


def host(device_ids, platform="generic", flavour="auto", branch=None, require_gpu=False):
    """Host facts as lspci_gpu_facts returns them, judged for the planned flavour and branch."""
    gpus = [{"address": f"0000:0{i + 1}:00.0", "device_id": d, "driver": None, "link": {}}
            for i, d in enumerate(device_ids)]
    facts = {"platform": platform, "page_size": 4096,
             "host_bridges": [PI5_BRIDGE] if platform == "raspberry_pi_5" else []}
    gpus, facts = _gpu_verdict.judge(gpus, facts, None, flavour, branch, require_gpu)
    return facts, len(gpus)


def plan(device_ids, platform="generic", flavour="auto", branch="auto", **kwargs):
    facts, count = host(device_ids, platform, flavour, None if branch == "auto" else int(branch))
    return PLAN(facts, count, flavour=flavour, branch=branch, **kwargs)


def test_registered_under_its_documented_name():
    assert set(FilterModule().filters()) == {"nvidia_driver_plan"}


# --- choices -------------------------------------------------------------------------------------


def test_pascal_gets_proprietary_modules_and_branch_capped_at_580():
    result = plan([TESLA_P4], default_branch=590)
    assert (result["flavour"], result["branch"], result["gpu_present"]) == ("proprietary", 580, True)
    assert "capped" in result["branch_reason"]
    assert "proprietary" in result["flavour_reason"]


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


def test_no_gpu_uses_the_variables_and_says_what_will_be_skipped():
    result = plan([], default_branch=580)
    assert (result["flavour"], result["branch"], result["gpu_present"]) == ("open", 580, False)
    assert "GPU-dependent steps" in result["message"] and "skipped" in result["message"]
    pinned = plan([], flavour="proprietary", branch=570)
    assert (pinned["flavour"], pinned["branch"]) == ("proprietary", 570)
    assert plan([], fallback_flavour="proprietary")["flavour"] == "proprietary"


def test_unknown_architecture_asks_for_a_pin():
    facts, count = host(["0fff"])
    with pytest.raises(AnsibleFilterError, match="set nvidia_driver_module_flavour"):
        PLAN(facts, count)
    assert PLAN(facts, count, flavour="open")["flavour"] == "open"


# --- refusals (the verdict's sentence) ------------------------------------------------------------


def test_refuses_pascal_on_a_pi5_host_bridge():
    with pytest.raises(AnsibleFilterError) as err:
        plan([TESLA_P4], platform="raspberry_pi_5")
    msg = str(err.value)
    assert msg.startswith("[pi5_proprietary_unsupported] The proprietary NVIDIA driver refuses the Raspberry Pi 5")
    assert "14e4:2712" in msg and "Tesla P4 (Pascal)" in msg and "cannot work on this host" in msg


def test_refuses_proprietary_on_a_pi5_even_for_a_turing_card():
    with pytest.raises(AnsibleFilterError, match=r"^\[pi5_proprietary_unsupported\].*supports the open kernel"):
        plan([RTX_2080_TI], platform="raspberry_pi_5", flavour="proprietary")
    assert plan([RTX_2080_TI], platform="raspberry_pi_5")["flavour"] == "open"


def test_refuses_open_modules_on_pascal():
    with pytest.raises(AnsibleFilterError) as err:
        plan([TESLA_P10], flavour="open")
    assert str(err.value) == (
        "[open_modules_unsupported] The open NVIDIA kernel modules do not support the Tesla P10 (Pascal) at"
        " 0000:01:00.0: they need a Turing or newer GPU. Use the proprietary modules (kernel_module_flavour:"
        " proprietary or auto).")


def test_refuses_branch_590_on_pascal():
    with pytest.raises(AnsibleFilterError) as err:
        plan([TESLA_P10], branch=590)
    assert str(err.value) == (
        "[branch_too_new] Driver branch 590 does not support the Tesla P10 (Pascal) at 0000:01:00.0: its last"
        " branch is 580. Pin the driver to branch 580 or older.")


def test_refuses_a_pinned_branch_above_the_cap_even_without_the_verdict_problem():
    facts, count = host([TESLA_P10])  # judged without a branch: no branch_too_new problem in the verdict
    with pytest.raises(AnsibleFilterError, match=r"^\[branch_too_new\] Driver branch 590 is above .* \(580\)"):
        PLAN(facts, count, branch=590)


def test_refuses_no_gpu_when_required_with_the_power_on_order():
    facts, count = _gpu_verdict.judge([], {"platform": "generic"}, None, "auto", None, True)[1], 0
    with pytest.raises(AnsibleFilterError, match=r"^\[no_gpu\] .*power on its PSU and the GPU first"):
        PLAN(facts, count)


def test_all_refusals_are_reported_together():
    facts, count = host([TESLA_P4], platform="raspberry_pi_5", flavour="open", branch=590)
    with pytest.raises(AnsibleFilterError) as err:
        PLAN(facts, count, flavour="open", branch=590)
    codes = [c for c in ("pi5_proprietary_unsupported", "open_modules_unsupported", "branch_too_new")
             if f"[{c}]" in str(err.value)]
    assert codes == ["pi5_proprietary_unsupported", "open_modules_unsupported", "branch_too_new"]


def test_refuse_on_limits_the_refusals_and_warnings_never_refuse():
    facts, count = host([TESLA_P10], flavour="open")
    assert PLAN(facts, count, flavour="open", refuse_on=["branch_too_new"])["flavour"] == "open"
    facts["verdict"]["problems"].append({"code": "pcie_link_degraded", "severity": "warning", "gpu": None,
                                         "message": "x1"})
    assert PLAN(facts, count, flavour="open", refuse_on=["pcie_link_degraded", "branch_too_new"])["branch"] == 580


# --- input errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("branch", ["latest", "0", True, "-1"])
def test_bad_branch(branch):
    facts, count = host([])
    with pytest.raises(AnsibleFilterError, match="branch"):
        PLAN(facts, count, branch=branch)


def test_bad_flavour_and_input():
    facts, count = host([])
    with pytest.raises(AnsibleFilterError, match="flavour must be"):
        PLAN(facts, count, flavour="closed")
    with pytest.raises(AnsibleFilterError, match="nvidia_gpu_host"):
        PLAN({}, 0)
