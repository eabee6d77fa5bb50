# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.filter.site_report import FilterModule
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils import _site_report as report

WORKS = {"can_work": True, "problems": []}
PI5_P4 = {"can_work": False, "problems": [
    {"code": "pi5_proprietary_unsupported", "severity": "blocking", "message": "The proprietary driver refuses it."},
    {"code": "pcie_link_degraded", "severity": "warning", "message": "x1 of x16."}]}
P4 = {"address": "0000:01:00.0", "device_name": "GP104GL [Tesla P4]",
      "catalog": {"name": "Tesla P4", "architecture": "Pascal", "compute_capability": "6.1"},
      "link": {"current_speed": 5.0, "current_width": 1, "max_speed": 8.0, "max_width": 16},
      "verdict": {"module_flavour": "proprietary", "allowed_branches": "<=580", "cuda_ceiling": "12.9"}}


@pytest.mark.parametrize(("verdict", "gpu_node", "skip", "plan"), [
    (WORKS, True, True, "gpu stack"),
    (WORKS, False, True, "runtime only"),
    (PI5_P4, False, False, "runtime only"),  # not a GPU node: its verdict decides nothing
    (PI5_P4, True, True, "runtime only (GPU verdict)"),
    (PI5_P4, True, False, "stopped by its GPU verdict"),
])
def test_plan(verdict, gpu_node, skip, plan):
    assert report.site_plan(verdict, gpu_node, skip) == plan


def test_plan_needs_a_verdict():
    with pytest.raises(AnsibleFilterError, match=r"site_plan: the input must be ansible_facts\.nvidia_gpu_host"):
        FilterModule().filters()["site_plan"]({}, gpu_node=True)


def test_verdict_lines():
    assert report.verdict_lines([P4], PI5_P4) == [
        "0000:01:00.0: Tesla P4 (Pascal, compute 6.1), link 5.0 GT/s x1 of 8.0 GT/s x16; proprietary kernel modules, "
        "driver branches <=580, CUDA <= 12.9",
        "CANNOT WORK [pi5_proprietary_unsupported] The proprietary driver refuses it.",
        "warning [pcie_link_degraded] x1 of x16.",
    ]


def test_verdict_lines_of_an_unknown_card_with_an_unreadable_link():
    gpu = {"address": "0000:02:00.0", "device_name": "Device [2bb1]", "catalog": {"name": None}, "link": {},
           "verdict": {"module_flavour": None, "allowed_branches": "any", "cuda_ceiling": None}}
    assert report.verdict_lines([gpu], WORKS) == [
        "0000:02:00.0: Device [2bb1] (unknown architecture, compute ?), link ? GT/s x? of ? GT/s x?; unknown kernel "
        "modules, driver branches any, CUDA current"]
    assert report.verdict_lines([], WORKS) == []


def test_summary_lines():
    hostvars = {
        "x86-p10": {"site_plan": "gpu stack", "site_gpu_names": ["Tesla P10"], "site_gpu_verdict": WORKS},
        "pi5-01": {"site_plan": "runtime only (GPU verdict)", "site_gpu_names": ["Tesla P4"],
                   "site_gpu_verdict": PI5_P4},
        "pi4-01": {"site_plan": "runtime only", "site_gpu_names": [], "site_gpu_verdict": WORKS},
        "unreachable": {},
    }
    assert report.summary_lines(hostvars, list(hostvars), ["x86-p10", "pi4-01"]) == [
        "pi4-01: runtime only; GPU: none; verdict: no GPU to judge",
        "pi5-01: runtime only (GPU verdict) (FAILED, see above); GPU: Tesla P4; verdict: CANNOT WORK "
        "(pi5_proprietary_unsupported)",
        "x86-p10: gpu stack; GPU: Tesla P10; verdict: can work",
    ]
