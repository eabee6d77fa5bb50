# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The torch check the role ml_python runs (roles/ml_python/files/torch_check.py), run as the role runs it (a python
that imports `torch`, one JSON line out), against a fake torch on sys.path whose tensors are numpy arrays.

The fake behaves as PyTorch's builds do on the hosts the role meets: a CUDA build whose driver does not answer
(an eGPU powered off: torch.cuda.is_available() False, and a tensor asked for on cuda raises PyTorch's "Found no
NVIDIA driver" error), a CPU build, a working GPU, a card that computes a wrong product, a card without kernels for
the build (PyTorch's "no kernel image is available" error) and a torch that does not import. The fake logs where
each tensor was made and each product computed, so the tests see where the matmul really ran; "right" is checked
against products the fake computes with numpy (or corrupts on purpose), not against the check's own rule.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CHECK = ROOT / "roles/ml_python/files/torch_check.py"
CPU_ONLY = "torch reports CUDA unavailable: the matmul ran on the CPU; the GPU was not checked"

FAKE_TORCH = '''
import os
from types import SimpleNamespace

MODE = os.environ["FAKE_TORCH_MODE"]
LOG = os.environ["FAKE_TORCH_LOG"]
if MODE == "import-error":
    raise ImportError("libcudart.so.12: cannot open shared object file: No such file or directory")
import numpy as np

__version__ = "2.6.0+cpu" if MODE == "cpu-build" else "2.8.0+cu126"
version = SimpleNamespace(cuda=None if MODE == "cpu-build" else "12.6")
float32 = np.float32
HOMELAB_LAB_STAND_IN = "a marker the old check obeyed; a torch may carry any attribute"


def _log(line):
    with open(LOG, "a", encoding="utf-8") as out:
        out.write(line + "\\n")


def _available():
    return MODE in ("gpu", "gpu-wrong", "gpu-no-kernel")


def _device(device):
    device = str(device)
    if device == "cuda" and not _available():
        raise RuntimeError("Found no NVIDIA driver on your system.")
    return device


class Tensor:
    def __init__(self, array, device):
        self.array, self.device = array, device

    def __matmul__(self, other):
        assert self.device == other.device, "tensors on different devices"
        _log("matmul " + self.device)
        if self.device == "cuda" and MODE == "gpu-no-kernel":
            raise RuntimeError("CUDA error: no kernel image is available for execution on the device")
        product = self.array @ other.array
        if self.device == "cuda" and MODE == "gpu-wrong":
            product[3, 5] += 1.0
        return Tensor(product, self.device)

    def __eq__(self, other):
        return Tensor(self.array == (other.array if isinstance(other, Tensor) else other), self.device)

    def all(self):
        return Tensor(np.array(self.array.all()), self.device)

    def item(self):
        return self.array.item()

    def reshape(self, *shape):
        return Tensor(self.array.reshape(*shape), self.device)


def _made(array, device):
    device = _device(device)
    _log("tensor " + device)
    return Tensor(array.astype(np.float32), device)


def ones(shape, device="cpu"):
    return _made(np.ones(shape), device)


def full(shape, value, device="cpu"):
    return _made(np.full(shape, value), device)


def arange(n, dtype=None, device="cpu"):
    return _made(np.arange(n), device)


def eye(n, device="cpu"):
    return _made(np.eye(n), device)


def _device_name(index):
    if not _available():
        raise RuntimeError("Found no NVIDIA driver on your system.")
    return "NVIDIA GeForce RTX 3070"


def _synchronize():
    _log("synchronize")


cuda = SimpleNamespace(is_available=_available, get_device_name=_device_name, synchronize=_synchronize)
'''


@pytest.fixture
def check(tmp_path):
    """Runs torch_check.py with the fake torch in a given mode; returns its JSON and the fake's log."""
    (tmp_path / "site/torch").mkdir(parents=True)
    (tmp_path / "site/torch/__init__.py").write_text(FAKE_TORCH, encoding="utf-8")
    log = tmp_path / "torch.log"

    def run(mode):
        log.write_text("", encoding="utf-8")
        env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"), FAKE_TORCH_MODE=mode, FAKE_TORCH_LOG=str(log),
                   HOMELAB_LAB_STAND_IN="set in the environment too")
        done = subprocess.run([sys.executable, str(CHECK)], env=env, capture_output=True, text=True, timeout=60,
                              check=False)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert len(lines) == 1, done.stdout  # one JSON line: the role reads it with from_json
        return json.loads(lines[0]), log.read_text(encoding="utf-8").splitlines()

    return run


def test_a_cuda_build_whose_gpu_does_not_answer_multiplies_on_the_cpu_and_says_the_gpu_was_not_checked(check):
    """An eGPU powered off (or the lab): the CUDA build imports, CUDA is unavailable; the product is still checked."""
    out, log = check("no-driver")
    assert out["error"] is None
    assert (out["version"], out["cuda"], out["available"], out["device"]) == ("2.8.0+cu126", "12.6", False, "cpu")
    assert out["matmul"]["ran"] is True and out["matmul"]["device"] == "cpu" and out["matmul"]["right"] is True
    assert out["gpu_checked"] is False and out["gpu"] == CPU_ONLY
    assert "matmul cpu" in log and "tensor cuda" not in log and "matmul cuda" not in log
    assert "synchronize" not in log


def test_a_cpu_build_multiplies_on_the_cpu(check):
    out, log = check("cpu-build")
    assert (out["version"], out["cuda"], out["available"]) == ("2.6.0+cpu", None, False)
    assert out["matmul"]["ran"] and out["matmul"]["right"] and out["matmul"]["device"] == "cpu"
    assert out["gpu_checked"] is False and out["gpu"] == CPU_ONLY
    assert set(log) == {"tensor cpu", "matmul cpu"}


def test_a_gpu_that_answers_does_the_matmul_and_is_checked(check):
    out, log = check("gpu")
    assert out["available"] is True and out["device"] == "NVIDIA GeForce RTX 3070"
    assert out["matmul"]["ran"] and out["matmul"]["right"] and out["matmul"]["device"] == "cuda"
    assert out["gpu_checked"] is True
    assert out["gpu"] == "the matmul ran on the GPU (NVIDIA GeForce RTX 3070) and was right"
    assert "matmul cuda" in log and "synchronize" in log
    assert "tensor cpu" not in log and "matmul cpu" not in log  # nothing fell back to the CPU


def test_a_wrong_product_on_the_gpu_is_reported_wrong(check):
    out, log = check("gpu-wrong")
    assert out["matmul"]["ran"] is True and out["matmul"]["right"] is False and out["matmul"]["device"] == "cuda"
    assert out["gpu"] == "the matmul ran on the GPU (NVIDIA GeForce RTX 3070) and was WRONG"
    assert "matmul cpu" not in log  # a wrong card is not covered up by the CPU


def test_a_card_without_kernels_for_the_build_fails_the_matmul_and_says_why(check):
    out, log = check("gpu-no-kernel")
    assert out["available"] is True
    assert out["matmul"]["ran"] is False and out["matmul"]["device"] == "cuda"
    assert "no kernel image is available for execution on the device" in out["matmul"]["why"]
    assert out["gpu_checked"] is False
    assert "no kernel image is available" in out["gpu"]
    assert "matmul cpu" not in log


def test_a_torch_that_does_not_import_is_the_answer(check):
    out, log = check("import-error")
    assert out["error"] == ("import torch failed: ImportError: libcudart.so.12: cannot open shared object file:"
                            " No such file or directory")
    assert out["version"] is None and out["matmul"] is None and out["gpu_checked"] is False
    assert log == []
