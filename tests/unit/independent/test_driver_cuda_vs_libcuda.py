# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The newest CUDA each driver branch runs, against NVIDIA's driver library itself.

tests/unit/fixtures/nvidia_driver_data/libcuda-driver-versions.json records what NVIDIA's libcuda.so (Debian's
libcuda1 535.309.01, 550.163.01 and 555.58.02) answered when refresh.py loaded it: cuDriverGetVersion, the CUDA
version the driver supports (1000 * major + 10 * minor), and cuInit(0) = 100 (CUDA_ERROR_NO_DEVICE) with no GPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_plan, _gpu_verdict
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _ml_plan as ml

MEASURED = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "nvidia_driver_data"
                       / "libcuda-driver-versions.json").read_text())["measured"]


def _cuda(version: int) -> str:
    return f"{version // 1000}.{version % 1000 // 10}"


def test_the_recording_is_of_real_drivers_without_a_gpu():
    assert len(MEASURED) >= 3
    assert all(m["cuInit"] == 100 and "sha256:" in m["package"] for m in MEASURED.values())


@pytest.mark.parametrize("release", sorted(MEASURED))
def test_the_branch_runs_the_cuda_its_driver_library_reports(release):
    branch = int(release.split(".")[0])
    assert _gpu_plan.driver_cuda_max(branch) == _cuda(MEASURED[release]["cuDriverGetVersion"])


@pytest.mark.parametrize("release", sorted(MEASURED))
def test_an_ampere_card_on_that_branch_gets_that_toolkit_at_most(release):
    """GeForce RTX 3090 (10de:2204): no card limit below CUDA 13, so the driver's CUDA is the toolkit's ceiling."""
    branch = int(release.split(".")[0])
    gpus = [{"address": "0000:01:00.0", "device_id": "2204", "driver": None, "link": {}}]
    host = {"platform": "generic", "page_size": 4096, "architecture": "x86_64", "simulated": False, "host_bridges": []}
    gpus, host = _gpu_verdict.judge(gpus, host)
    plan = _gpu_plan.host_plan(gpus, host, {"gpu_node": True, "branch": branch}, "node-1")
    toolkit = ml.ml_plan(plan)["toolkit"]
    assert toolkit["version"] == _cuda(MEASURED[release]["cuDriverGetVersion"]), toolkit
