# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PyTorch wheel variant each card gets, against PyTorch's published CUDA support matrix.

The matrix (tests/unit/fixtures/published/pytorch_cuda_arch_matrix.csv) is transcribed from pytorch/pytorch's
RELEASE.md and issue #172352. Its CUDA 13 row is checked against a real wheel: the cubins NVIDIA's cuobjdump finds in
PyPI's torch 2.15.0 (a CUDA 13.2 build), recorded by tests/unit/fixtures/pytorch_wheel/refresh.py.
A build runs on a card when it carries code for the card's major compute capability at the same or a lower minor
(NVIDIA's binary compatibility rule, CUDA C++ Programming Guide: "a cubin generated for compute capability X.y will
only execute on devices of compute capability X.z where z >= y"). The expected variants below are written out by
hand from those two sources; the test also checks each against the matrix.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_catalog, _gpu_plan, _gpu_verdict
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _ml_plan as ml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MATRIX_FILE = FIXTURES / "published" / "pytorch_cuda_arch_matrix.csv"
WHEEL = json.loads((FIXTURES / "pytorch_wheel" / "torch-2.15.0-pypi-x86_64.json").read_text())


def _matrix() -> dict[str, set[str]]:
    """variant -> compute capabilities of its newest published row."""
    rows = csv.DictReader(line for line in MATRIX_FILE.read_text().splitlines() if not line.startswith("#"))
    newest: dict[str, tuple] = {}
    for row in rows:
        release = tuple(int(n) for n in row["from_release"].split("."))
        if row["variant"] not in newest or release > newest[row["variant"]][0]:
            newest[row["variant"]] = (release, set(row["compute_capabilities"].split()))
    return {variant: arches for variant, (_release, arches) in newest.items()}


PUBLISHED = _matrix()


def _runs_on(arches: set[str], cc: str) -> bool:
    major, minor = cc.split(".")
    return any(a.split(".")[0] == major and int(a.split(".")[1]) <= int(minor) for a in arches)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in text.split("."))


def _plan(device_id: str, branch: int):
    gpus = [{"address": "0000:01:00.0", "device_id": device_id, "driver": None, "link": {}}]
    host = {"platform": "generic", "page_size": 4096, "architecture": "x86_64", "simulated": False, "host_bridges": []}
    gpus, host = _gpu_verdict.judge(gpus, host)
    return _gpu_plan.host_plan(gpus, host, {"gpu_node": True, "branch": branch}, "node-1")


# Cards NVIDIA's compute capability table names (tests/unit/fixtures/published/cuda_gpus_compute_capability.csv),
# one per compute capability the catalog holds, with the variant the published matrix gives them:
# on branch 580 (runs CUDA 13.0) and on branch 570 (runs CUDA 12.8 at most: cu130 is too new for it).
CARDS = [
    # device, product, compute capability, variant on 580, variant on 570
    ("13bc", "Quadro K1200", "5.0", "cu126", "cu126"),        # only cu126 has 5.0
    ("17fd", "Tesla M40", "5.2", "cu126", "cu126"),           # sm_50 code runs on 5.2
    ("15f0", "Quadro GP100", "6.0", "cu126", "cu126"),
    ("1b38", "Tesla P40", "6.1", "cu126", "cu126"),           # sm_60 code runs on 6.1; cu128 dropped Pascal
    ("1bb3", "Tesla P4", "6.1", "cu126", "cu126"),
    ("1d81", "NVIDIA TITAN V", "7.0", "cu126", "cu126"),      # cu128 dropped 7.0 in 2.11 (#172352)
    ("1eb0", "Quadro RTX 5000", "7.5", "cu130", "cu128"),
    ("20b7", "NVIDIA A30", "8.0", "cu130", "cu128"),
    ("2204", "GeForce RTX 3090", "8.6", "cu130", "cu128"),
    ("2684", "GeForce RTX 4090", "8.9", "cu130", "cu128"),    # no 8.9 in the matrix: sm_86 code runs on it
    ("2339", "NVIDIA H100", "9.0", "cu130", "cu128"),
    ("2901", "NVIDIA B200", "10.0", "cu130", "cu128"),
    ("2b85", "GeForce RTX 5090", "12.0", "cu130", "cu128"),
]
CUDA = {"cu126": "12.6", "cu128": "12.8", "cu130": "13.0"}


def test_the_hand_written_expectations_agree_with_the_published_matrix():
    assert set(PUBLISHED) == {"cu126", "cu128", "cu130"}
    for devid, product, cc, on_580, on_570 in CARDS:
        assert _gpu_catalog.CATALOG[devid]["compute_capability"] == cc, product
        for variant, driver_max in ((on_580, "13.0"), (on_570, "12.8")):
            serving = [v for v in PUBLISHED if _runs_on(PUBLISHED[v], cc) and _version(CUDA[v]) <= _version(driver_max)]
            assert variant == max(serving, key=lambda v: _version(CUDA[v])), (product, driver_max, serving)
    assert {cc for _d, _p, cc, _a, _b in CARDS} == {cc for _arch, cc in _gpu_catalog.CHIPS.values()}


@pytest.mark.parametrize(("devid", "product", "cc", "on_580", "on_570"), CARDS, ids=[c[1] for c in CARDS])
def test_each_card_gets_the_newest_wheel_the_matrix_gives_it(devid, product, cc, on_580, on_570):
    for branch, variant in ((580, on_580), (570, on_570)):
        torch = ml.ml_plan(_plan(devid, branch))["torch"]
        assert torch["variant"] == variant, (product, branch, torch)
        assert _runs_on(PUBLISHED[torch["variant"]], cc), (product, torch["variant"])
        assert torch["index_url"] == f"https://download.pytorch.org/whl/{variant}"


@pytest.mark.parametrize("variant", [
    "cu126", "cu128", "cu130",
])
def test_the_catalogs_arch_list_is_the_published_one(variant):
    wheel = next(w for w in _gpu_catalog.TORCH_WHEELS if w["variant"] == variant)
    assert set(wheel["arches"]) == PUBLISHED[variant]
    assert wheel["cuda"] == CUDA[variant]


def _wheel_arches() -> set[str]:
    """The architectures every kernel file of the real wheel is built for (sm_86 -> 8.6; sm_90a-style extras,
    built for a few kernels only, are not the wheel's arch list)."""
    counts = WHEEL["cubins_per_arch"]
    full = max(counts.values())
    return {f"{a[3:-1]}.{a[-1]}" for a, n in counts.items() if n == full and a[-1].isdigit()}


def test_the_published_cuda_13_row_is_what_the_real_cuda_13_wheel_carries():
    assert "==13." in WHEEL["source"]["cuda"] and WHEEL["cubins"] > 1000
    assert _wheel_arches() == PUBLISHED["cu130"]


def test_the_catalogs_cuda_13_arch_list_is_what_the_real_wheel_carries():
    wheel = next(w for w in _gpu_catalog.TORCH_WHEELS if w["variant"] == "cu130")
    assert set(wheel["arches"]) == _wheel_arches()


def test_a_variant_the_card_has_no_kernels_in_is_refused_naming_what_it_has():
    """Asked for cu128 on a Tesla P40: the published matrix has no 6.x in cu128 (from 2.8 on)."""
    result = ml.ml_plan(_plan("1b38", 580), {"torch_variant": "cu128"})
    assert result["torch"]["variant"] is None
    assert "no kernels for compute capability 6.1" in result["torch"]["refused"]
