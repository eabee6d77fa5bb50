# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's stand-in nvcc (tests/lab/packages/cuda-toolkit/nvcc): what it checks, and that it says it is one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "lab" / "packages" / "cuda-toolkit" / "nvcc"


@pytest.fixture
def nvcc(tmp_path):
    path = tmp_path / "nvcc"
    path.write_text(SCRIPT.read_text().replace("@VERSION@", "12.9").replace("@PACKAGE@", "12-9"))
    path.chmod(0o755)
    (tmp_path / "src.cu").write_text("int main() { return 0; }\n")
    (tmp_path / "lib").mkdir()
    return path


def run(nvcc, *args):
    return subprocess.run([str(nvcc), *args], capture_output=True, text=True, check=False, cwd=nvcc.parent)


def test_version_names_the_release_and_the_stand_in(nvcc):
    out = run(nvcc, "--version")
    assert out.returncode == 0 and "Cuda compilation tools, release 12.9, V12.9.0" in out.stdout
    assert "LAB STAND-IN" in out.stdout


def test_build_records_the_arch_and_the_libraries_and_the_binary_says_what_it_is(nvcc, tmp_path):
    (tmp_path / "lib" / "libcudnn.so.9").write_text("")
    out = run(nvcc, "-gencode=arch=compute_61,code=sm_61", "src.cu", "-o", "prog", f"-L{tmp_path / 'lib'}", "-lcudnn")
    assert out.returncode == 0, out.stderr
    assert "for sm_61 (libraries: cudnn)" in out.stdout
    prog = subprocess.run([str(tmp_path / "prog")], capture_output=True, text=True, check=False)
    assert prog.returncode == 3 and "LAB STAND-IN binary" in prog.stderr and "sm_61" in prog.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["src.cu", "-o", "prog"], "no -gencode/-arch"),
    (["-arch=sm_86", "-o", "prog"], "No input files"),
    (["-arch=sm_86", "src.cu", "-o", "prog", "-lcudnn_not_there"], "cannot find -lcudnn_not_there"),
    (["-arch=sm_86", "src.cu"], "no -o given"),
])
def test_what_a_real_build_would_lack_fails(nvcc, args, message):
    out = run(nvcc, *args)
    assert out.returncode == 1 and message in out.stderr
