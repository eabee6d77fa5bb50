# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CUDA releases and per-architecture limits the GPU plan uses, against NVIDIA's own releases and compilers.

tests/unit/fixtures/pypi_cuda/refresh.py records (1) every CUDA 12 and 13 release NVIDIA publishes on PyPI (its
runtime wheels) and (2) which sm_ architectures the real ptxas of CUDA 11.7, 11.8, 12.6, 12.8 and 12.9 accepts (the
--gpu-name values its --help allows; the nvidia-cuda-nvcc-cu11/-cu12 wheels carry ptxas, not nvcc). CUDA 13's nvcc
itself is checked by the lab (tests/unit/lab).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_catalog, _gpu_plan, _gpu_verdict
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _ml_plan as ml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pypi_cuda"
RELEASES = json.loads((FIXTURES / "cuda-releases.json").read_text())["projects"]
PTXAS = json.loads((FIXTURES / "ptxas-gpu-names.json").read_text())["ptxas"]
PTXAS_BY_RELEASE = {found["release"]: set(found["sm"]) for found in PTXAS.values()}


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in version.split("."))


RELEASED = sorted({".".join(v.split(".")[:2]) for versions in RELEASES.values() for v in versions}, key=_key)
CATALOG_CCS = sorted({cc for _arch, cc in _gpu_catalog.CHIPS.values()}, key=_key)


def test_the_pre_turing_ceiling_is_the_last_cuda_12_release():
    cuda_12 = [v for v in RELEASED if v.startswith("12.")]
    assert _gpu_verdict.CUDA_CEILING_PRE_TURING == cuda_12[-1] == "12.9"
    assert next(v for v in RELEASED if v.startswith("13.")) == "13.0"


def test_every_toolkit_and_driver_cuda_the_plan_knows_was_released():
    known = set(ml.KNOWN_TOOLKITS) | set(_gpu_plan.DRIVER_CUDA_MAX.values())
    assert known <= set(RELEASED), sorted(known - set(RELEASED))
    assert "12.7" not in RELEASED  # so 12.6 and 12.8 below are neighbours


@pytest.mark.parametrize("cc", CATALOG_CCS)
def test_the_oldest_toolkit_for_a_compute_capability_is_the_first_ptxas_that_takes_it(cc):
    oldest = _gpu_plan.cuda_min(cc)
    sm = "sm_" + cc.replace(".", "")
    recorded = sorted(PTXAS_BY_RELEASE, key=_key)
    if oldest in PTXAS_BY_RELEASE:
        assert sm in PTXAS_BY_RELEASE[oldest], (cc, oldest)
        before = recorded[recorded.index(oldest) - 1] if recorded.index(oldest) else None
        # the recorded releases come in neighbour pairs (11.7/11.8, 12.6/12.8): the one before must refuse it
        if before in ("11.7", "12.6"):
            assert sm not in PTXAS_BY_RELEASE[before], (cc, before)
    else:
        assert _key(oldest) < _key(recorded[0]) and sm in PTXAS_BY_RELEASE[recorded[0]], (cc, oldest)


def test_the_checked_minimums_include_both_boundaries():
    """Not vacuous: Blackwell's 12.8 and Ada/Hopper's 11.8 are checked against the release before them."""
    assert {_gpu_plan.cuda_min(cc) for cc in CATALOG_CCS} >= {"12.8", "11.8"}
    assert "sm_120" not in PTXAS_BY_RELEASE["12.6"] and "sm_89" not in PTXAS_BY_RELEASE["11.7"]


def test_the_cuda_12_toolkit_a_pascal_or_volta_card_gets_compiles_for_it():
    """The plan gives pre-Turing cards CUDA 12.9 at most; NVIDIA's 12.9 ptxas takes every pre-Turing sm_ of the
    catalog, and the -gencode flags the plan writes for a Tesla P40 name one of them."""
    pre_turing = [cc for cc in CATALOG_CCS if _key(cc) < (7, 5)]
    assert pre_turing and all("sm_" + cc.replace(".", "") in PTXAS_BY_RELEASE["12.9"] for cc in pre_turing)
    gpus = [{"address": "0000:01:00.0", "device_id": "1b38", "driver": None, "link": {}}]
    host = {"platform": "generic", "page_size": 4096, "architecture": "x86_64", "simulated": False, "host_bridges": []}
    gpus, host = _gpu_verdict.judge(gpus, host)
    result = ml.ml_plan(_gpu_plan.host_plan(gpus, host, {"gpu_node": True, "branch": 580}, "node-1"))
    assert result["toolkit"]["version"] == "12.9"
    assert result["nvcc_flags"] == ["-gencode=arch=compute_61,code=sm_61"] and "sm_61" in PTXAS_BY_RELEASE["12.9"]
