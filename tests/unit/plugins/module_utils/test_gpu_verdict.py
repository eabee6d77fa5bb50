# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_verdict as verdict

FULL_LINK = {"current_speed": 8.0, "current_width": 16, "max_speed": 8.0, "max_width": 16, "degraded": False}


def gpu(device_id: str, address: str = "0000:01:00.0", driver: str | None = None, link: dict | None = None) -> dict:
    return {"address": address, "vendor_id": "10de", "device_id": device_id, "device_name": f"Device [{device_id}]",
            "driver": driver, "link": link or FULL_LINK}


def host(platform: str = "generic", page_size: int = 4096) -> dict:
    return {"platform": platform, "page_size": page_size, "host_bridges": [], "nouveau": {}}


def judge(gpus, platform="generic", page_size=4096, **kwargs):
    return verdict.judge(gpus, host(platform, page_size), **kwargs)


def codes(problems):
    return [p["code"] for p in problems]


def test_tesla_p4_on_pi5_cannot_work():
    gpus, h = judge([gpu("1bb3")], "raspberry_pi_5")
    (problem,) = h["verdict"]["problems"]
    assert problem["code"] == "pi5_proprietary_unsupported"
    assert problem["severity"] == "blocking" and problem["gpu"] == "0000:01:00.0"
    for words in ("14e4:2712", "NVRM: Chipset not recognized", "Tesla P4 (Pascal)", "needs the proprietary",
                  "cannot work on this host", "x86_64 host", "Turing-or-newer", "open kernel modules",
                  "4K-page kernel"):
        assert words in problem["message"], words
    assert gpus[0]["verdict"]["problems"] == [problem]
    assert h["verdict"]["can_work"] is False
    assert (h["verdict"]["module_flavour"], h["verdict"]["max_branch"], h["verdict"]["allowed_branches"],
            h["verdict"]["cuda_ceiling"]) == ("proprietary", 580, "<=580", "12.9")


def test_tesla_p4_on_x86_can_work_with_proprietary_580():
    gpus, h = judge([gpu("1bb3")])
    assert h["verdict"] == {"module_flavour": "proprietary", "max_branch": 580, "allowed_branches": "<=580",
                            "cuda_ceiling": "12.9", "problems": [], "can_work": True}
    assert gpus[0]["catalog"]["name"] == "Tesla P4"


def test_turing_on_pi5_open_is_fine_proprietary_is_refused():
    _unused, h = judge([gpu("1e04")], "raspberry_pi_5")
    assert h["verdict"]["problems"] == [] and h["verdict"]["module_flavour"] == "open"
    _unused, h = judge([gpu("1e04")], "raspberry_pi_5", flavour="proprietary")
    (problem,) = h["verdict"]["problems"]
    assert problem["code"] == "pi5_proprietary_unsupported"
    assert "set kernel_module_flavour to open" in problem["message"]


def test_pi5_16k_page_kernel():
    _unused, h = judge([gpu("2484")], "raspberry_pi_5", page_size=16384)
    (problem,) = h["verdict"]["problems"]
    assert (problem["code"], problem["severity"], problem["gpu"]) == ("pi5_16k_page_kernel", "blocking", None)
    assert "16384" in problem["message"] and "kernel=kernel8.img" in problem["message"]
    assert "/boot/firmware/config.txt" in problem["message"]
    assert h["verdict"]["can_work"] is False


def test_pi5_16k_without_gpu_is_only_judged_when_a_gpu_is_required():
    _unused, h = judge([], "raspberry_pi_5", page_size=16384)
    assert h["verdict"]["problems"] == []
    _unused, h = judge([], "raspberry_pi_5", page_size=16384, require_gpu=True)
    assert codes(h["verdict"]["problems"]) == ["pi5_16k_page_kernel", "no_gpu"]


def test_16k_pages_off_a_pi5_are_not_a_problem():
    _unused, h = judge([gpu("2484")], "generic", page_size=16384)
    assert h["verdict"]["problems"] == []


def test_open_modules_requested_for_pascal():
    _unused, h = judge([gpu("1b39")], flavour="open")
    (problem,) = h["verdict"]["problems"]
    assert problem["code"] == "open_modules_unsupported"
    assert "Tesla P10 (Pascal)" in problem["message"] and "Turing or newer" in problem["message"]
    _unused, h = judge([gpu("2484")], flavour="open")
    assert h["verdict"]["problems"] == []


@pytest.mark.parametrize(("devid", "branch", "blocked"), [
    ("15f8", 590, True), ("15f8", 580, False), ("15f8", 470, False), ("1db4", 595, True), ("1eb8", 600, False),
])
def test_branch_too_new(devid, branch, blocked):
    _unused, h = judge([gpu(devid)], driver_branch=branch)
    assert codes(h["verdict"]["problems"]) == (["branch_too_new"] if blocked else [])
    if blocked:
        assert f"Driver branch {branch} does not support" in h["verdict"]["problems"][0]["message"]
        assert "Pin the driver to branch 580 or older" in h["verdict"]["problems"][0]["message"]


def test_nouveau_bound_blocks():
    _unused, h = judge([gpu("2484", driver="nouveau")])
    (problem,) = h["verdict"]["problems"]
    assert problem["code"] == "nouveau_bound" and problem["severity"] == "blocking"
    assert "blacklist nouveau" in problem["message"] and "reboot" in problem["message"]
    _unused, h = judge([gpu("2484", driver="nvidia")])
    assert h["verdict"]["problems"] == []


def test_degraded_link_is_a_warning():
    link = {"current_speed": 2.5, "current_width": 4, "max_speed": 16.0, "max_width": 16, "degraded": True}
    _unused, h = judge([gpu("2484", link=link)])
    (problem,) = h["verdict"]["problems"]
    assert (problem["code"], problem["severity"]) == ("pcie_link_degraded", "warning")
    assert "2.5 GT/s x4, below its maximum of 16 GT/s x16" in problem["message"]
    assert h["verdict"]["can_work"] is True


def test_unknown_gpu_in_a_range_and_outside_all_ranges():
    gpus, h = judge([gpu("2fff"), gpu("0fff", "0000:02:00.0")])
    first, second = h["verdict"]["problems"]
    assert (first["code"], first["severity"], first["gpu"]) == ("unknown_gpu", "warning", "0000:01:00.0")
    assert "10de:2fff" in first["message"] and "Blackwell" in first["message"]
    assert "in no known range" in second["message"]
    assert gpus[0]["verdict"]["module_flavour"] == "open" and gpus[1]["verdict"]["module_flavour"] is None
    assert h["verdict"]["module_flavour"] is None  # one card unknown: no recommendation
    assert h["verdict"]["can_work"] is True


def test_no_gpu_only_with_require_gpu():
    _unused, h = judge([])
    assert h["verdict"] == {"module_flavour": None, "max_branch": None, "allowed_branches": "any",
                            "cuda_ceiling": None, "problems": [], "can_work": True}
    _unused, h = judge([], require_gpu=True)
    (problem,) = h["verdict"]["problems"]
    assert problem["code"] == "no_gpu" and problem["severity"] == "blocking"
    for words in ("No NVIDIA GPU is enumerated", "power on its PSU and the GPU first", "then boot the host",
                  "rescan", "cable", "dtparam=pciex1"):
        assert words in problem["message"], words
    assert h["verdict"]["can_work"] is False


def test_mixed_host_takes_the_oldest_card():
    gpus, h = judge([gpu("1bb3"), gpu("2484", "0000:02:00.0")])
    assert [g["verdict"]["module_flavour"] for g in gpus] == ["proprietary", "open"]
    assert (h["verdict"]["module_flavour"], h["verdict"]["max_branch"], h["verdict"]["cuda_ceiling"]) == (
        "proprietary", 580, "12.9")


def test_all_modern_host():
    _unused, h = judge([gpu("26b9"), gpu("2330", "0000:02:00.0")])
    assert (h["verdict"]["module_flavour"], h["verdict"]["max_branch"], h["verdict"]["allowed_branches"],
            h["verdict"]["cuda_ceiling"]) == ("open", None, "any", None)


def test_judge_does_not_modify_its_input():
    card = gpu("1bb3")
    facts = host("raspberry_pi_5")
    verdict.judge([card], facts)
    assert "catalog" not in card and "verdict" not in facts


@pytest.mark.parametrize(("cc", "ceiling"), [
    ("5.0", "12.9"), ("6.1", "12.9"), ("7.0", "12.9"), ("7.5", None), ("8.9", None), ("12.0", None), (None, None),
    ("junk", None),
])
def test_cuda_ceiling(cc, ceiling):
    assert verdict.cuda_ceiling(cc) == ceiling


def test_select():
    problems = [verdict.problem("nouveau_bound", "a"), verdict.problem("pcie_link_degraded", "b")]
    assert codes(verdict.select(problems, ["all"])) == ["nouveau_bound", "pcie_link_degraded"]
    assert codes(verdict.select(problems, ["blocking"])) == ["nouveau_bound"]
    assert codes(verdict.select(problems, ["warning"])) == ["pcie_link_degraded"]
    assert codes(verdict.select(problems, ["pcie_link_degraded", "no_gpu"])) == ["pcie_link_degraded"]
    assert verdict.select(problems, []) == []


def test_every_code_has_a_severity():
    assert sorted([
        "pi5_proprietary_unsupported", "pi5_16k_page_kernel", "open_modules_unsupported", "branch_too_new",
        "nouveau_bound", "pcie_link_degraded", "unknown_gpu", "no_gpu"]) == verdict.PROBLEM_CODES
    assert set(verdict.SEVERITY.values()) == {"blocking", "warning"}
