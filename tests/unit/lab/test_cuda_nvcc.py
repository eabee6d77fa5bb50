# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NVIDIA's real nvcc 13 and cuDNN (the lab mirror's, from PyPI) against the collection, and the CUDA 12 stand-in nvcc.

Sources, none of them the collection's own rule:
- NVIDIA's nvcc 13.0.88 and cuDNN 9.12.0.46 from NVIDIA's PyPI wheels, laid out by tests/lab/mirror/real_parts.py
  from the wheel cache (/var/cache/nvgpu-lab/wheels, filled by `make setup`): its --list-gpu-code, its answers to
  command lines, and a real compile of roles/cuda_toolkit/files/cuda_check.cu linked with the real libcudnn.
- The ptxas of NVIDIA's CUDA 12.6.68 and 12.9.86 wheels (nvidia-cuda-nvcc-cu12, which carry no nvcc): the GPU
  names each release accepts, for the stand-in nvcc of the mirror's cuda-toolkit-12-6/12-9.
Skipped, with the reason, where the wheel cache is absent (run `make setup` or tests/lab/mirror/build.sh).
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_catalog, _gpu_verdict
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _ml_plan as ml

ROOT = Path(__file__).resolve().parents[3]
CHECK_SOURCE = ROOT / "roles" / "cuda_toolkit" / "files" / "cuda_check.cu"
STAND_IN = ROOT / "tests" / "lab" / "packages" / "cuda-toolkit" / "nvcc"
_spec = importlib.util.spec_from_file_location("real_parts", ROOT / "tests" / "lab" / "mirror" / "real_parts.py")
real_parts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(real_parts)

TREE = "x86_64"


def _cached(name: str) -> Path | None:
    """The cached wheel (size as pinned; real_parts checks its sha256 when it opens it), or None."""
    filename, size, _sha256 = real_parts.WHEELS[name][2][TREE]
    path = real_parts.CACHE / filename
    return path if path.is_file() and path.stat().st_size == size else None


def _need(*names: str) -> None:
    if platform.machine() != "x86_64":
        pytest.skip(f"the wheels' binaries are x86_64; this machine is {platform.machine()}")
    missing = [real_parts.WHEELS[n][2][TREE][0] for n in names if _cached(n) is None]
    if missing:
        pytest.skip(f"the wheel cache {real_parts.CACHE} lacks {', '.join(missing)}: run `make setup` "
                    "(tests/lab/mirror/build.sh, real_parts.py fetch)")


@pytest.fixture(scope="module")
def cuda(tmp_path_factory) -> Path:
    """NVIDIA's CUDA 13.0 tree (usr/local/cuda-13.0) and cuDNN for CUDA 13 under one root, as the mirror's debs."""
    _need(*real_parts.TOOLKIT_WHEELS, "cudnn13")
    root = tmp_path_factory.mktemp("cuda13")
    real_parts.toolkit(root, TREE)
    real_parts.cudnn(root, TREE, "13", real_parts.CUDNN_RELEASE)
    return root


def nvcc13(cuda: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(cuda / "usr/local/cuda-13.0/bin/nvcc"), *args], capture_output=True, text=True,
                          check=False, cwd=cwd, timeout=300)


def _cc(code: str) -> str:
    """sm_86 -> 8.6, sm_100 -> 10.0, sm_121 -> 12.1"""
    digits = code.split("_", 1)[1]
    return f"{digits[:-1]}.{digits[-1]}"


def test_the_catalog_says_cuda_13_builds_for_exactly_what_the_real_nvcc_13_builds_for(cuda):
    """Each compute capability of the GPU catalog: CUDA 13 allowed (no 12.9 ceiling) iff nvcc 13 lists its sm_."""
    out = nvcc13(cuda, "--list-gpu-code")
    assert out.returncode == 0, out.stderr
    real = {_cc(code) for code in out.stdout.split()}
    assert "7.5" in real and "6.1" not in real, out.stdout  # the tool answered what it answers
    catalog = {cc for _arch, cc in _gpu_catalog.CHIPS.values()} | {
        entry["compute_capability"] for entry in [*_gpu_catalog.CATALOG.values(), *_gpu_catalog.ID_RANGES]}
    claims = {cc: _gpu_verdict.cuda_ceiling(cc) is None for cc in catalog}
    assert claims == {cc: cc in real for cc in catalog}


@pytest.mark.parametrize(("cc", "accepted"), [("6.1", False), ("7.0", False), ("7.5", True), ("8.6", True),
                                              ("12.0", True)])
def test_the_flags_ml_plan_writes_are_nvcc_13_syntax_and_pascal_is_refused(cuda, tmp_path, cc, accepted):
    """ml_plan's -gencode for a card, given to the real nvcc 13 (--dryrun: options checked, nothing compiled)."""
    flags = ml.nvcc_arch_flags({"cuda": {"compute_capabilities": [cc]}})
    out = nvcc13(cuda, *flags, "--dryrun", str(CHECK_SOURCE), "-o", str(tmp_path / "x"))
    code = cc.replace(".", "")
    if accepted:
        assert out.returncode == 0, out.stderr
    else:
        refusal = f"nvcc fatal   : Unsupported gpu architecture 'compute_{code}'"
        assert (out.returncode, out.stderr.strip()) == (1, refusal)


def test_the_role_check_program_compiles_links_cudnn_and_says_no_device(cuda, tmp_path):
    """What the role runs on a Turing/Ampere host, with the real nvcc, the host's g++ and the real libcudnn."""
    if not shutil.which("g++"):
        pytest.skip("no g++ on this machine (nvcc needs the host compiler)")
    lib = cuda / "usr" / "lib" / "x86_64-linux-gnu"
    flags = ml.nvcc_arch_flags({"cuda": {"compute_capabilities": ["7.5", "8.6"]}})
    build = nvcc13(cuda, *flags, "-DWITH_CUDNN", f"-I{cuda / 'usr' / 'include'}", str(CHECK_SOURCE), "-o",
                   str(tmp_path / "cuda_check"), f"-L{lib}", "-lcudnn")
    assert build.returncode == 0, build.stderr
    if Path("/dev/nvidia0").exists():
        pytest.skip("this machine has an NVIDIA device: the no-GPU answer cannot be seen here")
    env = {**os.environ, "LD_LIBRARY_PATH": str(lib)}
    run = subprocess.run([str(tmp_path / "cuda_check")], capture_output=True, text=True, check=False, env=env)
    lines = run.stdout.splitlines()
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert lines[0] == "cuDNN 91200 (built with cudnn.h 91200)"  # cuDNN 9.12.0 answers, no GPU needed
    assert lines[1].startswith("no CUDA device: ")


def test_the_cudnn_package_tree_is_what_nvidias_debs_name(cuda):
    include, lib = cuda / "usr" / "include", cuda / "usr" / "lib" / "x86_64-linux-gnu"
    assert (include / "cudnn.h").resolve() == include / "x86_64-linux-gnu" / "cudnn_v9.h"
    assert (lib / "libcudnn.so").resolve() == lib / "libcudnn.so.9.12.0"
    version = (include / "cudnn_version.h").read_text()
    assert re.search(r"#define CUDNN_MAJOR 9\b", version) and re.search(r"#define CUDNN_MINOR 12\b", version)
    assert not list(lib.glob("libcudnn_ops*")) and not list(lib.glob("libcudnn_engines*"))  # left out, named so


# --- the stand-in nvcc of cuda-toolkit-12-6 / 12-9 ------------------------------------------------------------------


def stand_in(tmp_path: Path, version: str) -> Path:
    path = tmp_path / f"nvcc-{version}"
    path.write_text(STAND_IN.read_text().replace("@VERSION@", version).replace("@PACKAGE@", version.replace(".", "-")))
    path.chmod(0o755)
    return path


def run(path: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(path), *args], capture_output=True, text=True, check=False, cwd=cwd)


@pytest.mark.parametrize("version", ["12.6", "12.9"])
def test_the_stand_in_builds_for_what_the_same_release_ptxas_accepts(tmp_path, version):
    """The stand-in's --list-gpu-arch against the GPU names of the same CUDA release's real ptxas (its wheel)."""
    name = f"ptxas{version}"
    _need(name)
    with zipfile.ZipFile(real_parts.wheel(name, TREE)) as zf:
        (tmp_path / "ptxas").write_bytes(zf.read("nvidia/cuda_nvcc/bin/ptxas"))
    (tmp_path / "ptxas").chmod(0o755)
    help_text = subprocess.run([str(tmp_path / "ptxas"), "--help"], capture_output=True, text=True, check=True).stdout
    allowed = help_text.split("--gpu-name", 1)[1].split("Allowed values for this option:", 1)[1].split("\n-", 1)[0]
    real = set(re.findall(r"'(compute_\d+)'", allowed))  # no a/f variants: nvcc lists base ones
    out = run(stand_in(tmp_path, version), "--list-gpu-arch", cwd=tmp_path)
    assert out.returncode == 0
    assert set(out.stdout.split()) == real


# Command lines both nvccs must refuse alike (every architecture named here exists in CUDA 12.9 and 13.0).
BAD = [
    ["--bogus", "a.cu"],
    ["-arch=sm_86", "-bogus", "a.cu"],
    ["-gencode=arch=compute_86", "a.cu"],
    ["-gencode=foo", "a.cu"],
    ["-gencode=arch=sm_86,code=sm_86", "a.cu"],
    ["-gencode", "arch=compute_99,code=sm_99", "a.cu"],
    ["-arch=sm_86", "a.xyz"],
    ["-arch=sm_86", "-o", "x"],
    ["-arch"],
]


@pytest.mark.parametrize("args", BAD, ids=" ".join)
def test_the_stand_in_refuses_a_bad_command_line_as_the_real_nvcc_does(cuda, tmp_path, args):
    (tmp_path / "a.cu").write_text("int main() { return 0; }\n")
    (tmp_path / "a.xyz").write_text("")
    real = nvcc13(cuda, *args, cwd=tmp_path)
    fake = run(stand_in(tmp_path, "12.9"), *args, cwd=tmp_path)
    real_fatal = [line for line in real.stderr.splitlines() if line.startswith("nvcc fatal")]
    assert real.returncode == 1 and real_fatal, real.stderr
    assert (fake.returncode, fake.stderr.splitlines()) == (1, real_fatal)


def test_the_stand_in_accepts_pascal_but_compiles_nothing(tmp_path):
    """CUDA 12.9 builds for sm_61 (no refusal), but the stand-in has no compiler: it says so, fails, writes nothing."""
    (tmp_path / "a.cu").write_text("int main() { return 0; }\n")
    out = run(stand_in(tmp_path, "12.9"), "-gencode=arch=compute_61,code=sm_61", "-DWITH_CUDNN", "a.cu", "-o", "prog",
              "-lcudnn", cwd=tmp_path)
    assert out.returncode == 1 and not (tmp_path / "prog").exists()
    assert out.stderr.startswith("nvcc fatal   : LAB STAND-IN: cuda-toolkit-12-9 carries no CUDA 12.9 compiler")
    version = run(stand_in(tmp_path, "12.9"), "--version", cwd=tmp_path)
    assert "Cuda compilation tools, release 12.9, V12.9.86" in version.stdout and "LAB STAND-IN" in version.stdout
