#!/usr/bin/env python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NVIDIA's real CUDA 13 compiler and cuDNN for the lab's fixture mirror, from NVIDIA's PyPI wheels.

The wheels are pinned here by file name and PyPI's published sha256 (written down once), downloaded once per
machine into a cache outside the checkout (/var/cache/nvgpu-lab/wheels, or $NVGPU_LAB_WHEEL_CACHE) and checked
on every download and every use. Only what a package needs is taken out of a wheel, laid out where NVIDIA's
CUDA repo puts it:

  toolkit ROOT TREE_ARCH      NVIDIA's nvcc tree of CUDA 13.0 under ROOT/usr/local/cuda-13.0 (bin/, nvvm/,
                              targets/<x86_64|sbsa>-linux/{include,lib}, include and lib64 links, version.json)
  left-out                    print the cuDNN run-time libraries the packages leave out
  cudnn ROOT TREE_ARCH MAJOR VERSION
                              cuDNN's headers (/usr/include/<triplet>/cudnn*_v9.h and the /usr/include/cudnn*.h
                              links of NVIDIA's libcudnn9-dev package) and libcudnn.so.9 and libcudnn_graph.so.9
                              (+ .so links) under ROOT; VERSION (the deb's upstream version) must be the wheel's
  fetch                       download every pinned wheel (make setup)
  path NAME TREE_ARCH         print the cached wheel's path (downloading it first)

TREE_ARCH is the CUDA repo's tree: x86_64 or sbsa. Used by tests/lab/mirror/build.sh and the unit tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import sys
import urllib.request
import zipfile
from pathlib import Path
from urllib.parse import urljoin

PYPI = "https://pypi.org/pypi"
CACHE = Path(os.environ.get("NVGPU_LAB_WHEEL_CACHE", "/var/cache/nvgpu-lab/wheels"))

# CUDA 13.0 Update 1 (all uploaded to PyPI on 2025-09-04): nvcc, crt, runtime and nvvm 13.0.88, cccl 13.0.85.
CUDA_RELEASE = "13.0.1"
# cuDNN 9.12.0.46: the first cuDNN with a CUDA 13 wheel (nvidia-cudnn-cu13 starts there), so both packages
# carry one version. They carry libcudnn.so.9 and libcudnn_graph.so.9 (which cudnnGetVersion() loads); the other
# run-time sub-libraries (the kernels, 0.3-0.4 GB) stay out: CUDNN_LEFT_OUT.
CUDNN_RELEASE = "9.12.0.46"
CUDNN_LEFT_OUT = ("libcudnn_adv", "libcudnn_cnn", "libcudnn_engines_precompiled", "libcudnn_engines_runtime_compiled",
                  "libcudnn_heuristic", "libcudnn_ops")
CUDNN_CARRIED = ("libcudnn", "libcudnn_graph")

# name -> (project, version, {tree arch: (file name, size, sha256 as PyPI publishes it)})
WHEELS: dict[str, tuple[str, str, dict[str, tuple[str, int, str]]]] = {
    "nvcc": ("nvidia-cuda-nvcc", "13.0.88", {
        "x86_64": ("nvidia_cuda_nvcc-13.0.88-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl", 37384532,
                   "56fe502eb77625a12f25172caa3cdddb4e4c8ba2c8c17dba44b164761b380f03"),
        "sbsa": ("nvidia_cuda_nvcc-13.0.88-py3-none-manylinux2014_aarch64.manylinux_2_17_aarch64.whl", 32455430,
                 "c7ff28f86a24effdc6c034fa15230c549a273e4771b10a7fec14996f8cf3307f"),
    }),
    "crt": ("nvidia-cuda-crt", "13.0.88", {
        "x86_64": ("nvidia_cuda_crt-13.0.88-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl", 134086,
                   "2c8043c7c9e02492716426e9919fc78d2c5b3b2a7a768a88e952676b08aa55a4"),
        "sbsa": ("nvidia_cuda_crt-13.0.88-py3-none-manylinux2014_aarch64.manylinux_2_17_aarch64.whl", 134086,
                 "ee2ea2a97073e02ee62bb27841f437332be2c248e3eac013df07997ada39c003"),
    }),
    "runtime": ("nvidia-cuda-runtime", "13.0.88", {
        "x86_64": ("nvidia_cuda_runtime-13.0.88-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl", 2243181,
                   "422a38f7c739ecbdd3a4b6ec7ed0a1d74db43d8e9bc26685f3d845638922b178"),
        "sbsa": ("nvidia_cuda_runtime-13.0.88-py3-none-manylinux2014_aarch64.manylinux_2_17_aarch64.whl", 2259852,
                 "8ba16a33998ee3ee2bf11c8f13e36e3ff86a1d6ad165ffeee863d6eabd0b5f67"),
    }),
    "cccl": ("nvidia-cuda-cccl", "13.0.85", {
        "x86_64": ("nvidia_cuda_cccl-13.0.85-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl", 3120526,
                   "e0da7ad981f3a8aff08241b5bfc1af868742a63e2762f53a5171c492ef242649"),
        "sbsa": ("nvidia_cuda_cccl-13.0.85-py3-none-manylinux2014_aarch64.manylinux_2_17_aarch64.whl", 3120528,
                 "6f0203e29fed809ee2b7fe9b1344df66ecab990c37d6a2e0e189b26d6c97ed7c"),
    }),
    "nvvm": ("nvidia-nvvm", "13.0.88", {
        "x86_64": ("nvidia_nvvm-13.0.88-py3-none-manylinux2010_x86_64.manylinux_2_12_x86_64.whl", 61601415,
                   "c5f41ffeb6466944a026dfa5317d7d85355c119bbec279205d22f1869d1054e0"),
        "sbsa": ("nvidia_nvvm-13.0.88-py3-none-manylinux2014_aarch64.manylinux_2_17_aarch64.whl", 59234185,
                 "c4376a291d72d22a315d9d2f69bdae8f8cd83a627f75bad395cee49a0fe65dc1"),
    }),
    "cudnn12": ("nvidia-cudnn-cu12", CUDNN_RELEASE, {
        "x86_64": ("nvidia_cudnn_cu12-9.12.0.46-py3-none-manylinux_2_27_x86_64.whl", 571674872,
                   "73471a185656232b383693294431882edb14584ee47f41c0abd81556b92ef2ac"),
        "sbsa": ("nvidia_cudnn_cu12-9.12.0.46-py3-none-manylinux_2_27_aarch64.whl", 570817182,
                 "af016cfc6c5a3e210bcd6a01aef96978a4dd834a0fdcd398898be9da652c9132"),
    }),
    "cudnn13": ("nvidia-cudnn-cu13", CUDNN_RELEASE, {
        "x86_64": ("nvidia_cudnn_cu13-9.12.0.46-py3-none-manylinux_2_27_x86_64.whl", 313738868,
                   "f3befad533e234069eb61ae0d12cb7aa8af0ccf36f28c1d4273cc0005d990de0"),
        "sbsa": ("nvidia_cudnn_cu13-9.12.0.46-py3-none-manylinux_2_27_aarch64.whl", 377656898,
                 "62e8441f9693547fe72108b1974fb82fde9a89d6dcb7b7d117ce8969d08e08e3"),
    }),
    # CUDA 12.6 Update 1 and 12.9 Update 1 (the lab's cuda-toolkit-12-6 and -12-9): no nvcc inside, only ptxas and
    # libnvvm. Not packaged: the tests read ptxas' list of GPU names to check the stand-in nvcc's architectures.
    "ptxas12.6": ("nvidia-cuda-nvcc-cu12", "12.6.68", {
        "x86_64": ("nvidia_cuda_nvcc_cu12-12.6.68-py3-none-manylinux2014_x86_64.whl", 21147787,
                   "3999aa4a42ac8723c09a8aafd06bc4a6ec1a0b05c53bc96c8d6cf195e84f6935"),
    }),
    "ptxas12.9": ("nvidia-cuda-nvcc-cu12", "12.9.86", {
        "x86_64": ("nvidia_cuda_nvcc_cu12-12.9.86-py3-none-manylinux2010_x86_64.manylinux_2_12_x86_64.whl", 40546229,
                   "5d6a0d32fdc7ea39917c20065614ae93add6f577d840233237ff08e9a38f58f0"),
    }),
}
TOOLKIT_WHEELS = ("nvcc", "crt", "runtime", "cccl", "nvvm")
TRIPLET = {"x86_64": "x86_64-linux-gnu", "sbsa": "aarch64-linux-gnu"}
TARGET = {"x86_64": "x86_64-linux", "sbsa": "sbsa-linux"}
# version.json's component names, as NVIDIA's toolkit writes them.
COMPONENTS = {"nvcc": ("cuda_nvcc", "CUDA NVCC"), "crt": ("cuda_crt", "CUDA CRT"),
              "runtime": ("cuda_cudart", "CUDA Runtime (cudart)"),
              "cccl": ("cuda_cccl", "CUDA C++ Core Compute Libraries"), "nvvm": ("libnvvm", "CUDA NVVM")}


class RealPartsError(RuntimeError):
    """A download or a wheel that is not what the pin says."""


def log(text: str) -> None:
    print(f"[real_parts] {text}", file=sys.stderr)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _url(project: str, version: str, filename: str) -> str:
    """The file's URL from PyPI's JSON API (its file URLs may be relative: joined to the JSON's own URL)."""
    api = f"{PYPI}/{project}/json"
    with urllib.request.urlopen(api, timeout=60) as answer:
        data = json.load(answer)
    for entry in data.get("releases", {}).get(version, []):
        if entry.get("filename") == filename:
            return urljoin(api, entry["url"])
    raise RealPartsError(f"PyPI lists no {filename} for {project} {version}")


def wheel(name: str, tree_arch: str) -> Path:
    """The cached wheel, downloaded first if missing; its size and sha256 are checked every time."""
    project, version, files = WHEELS[name]
    filename, size, sha256 = files[tree_arch]
    path = CACHE / filename
    if not path.is_file() or path.stat().st_size != size:
        CACHE.mkdir(parents=True, exist_ok=True)
        url = _url(project, version, filename)
        log(f"downloading {filename} ({size / 1e6:.0f} MB) from {url}")
        part = path.with_name(path.name + ".part")
        with urllib.request.urlopen(url, timeout=120) as answer, part.open("wb") as out:
            shutil.copyfileobj(answer, out, 1 << 20)
        part.replace(path)
    got = _sha256(path)
    if got != sha256:
        path.unlink()
        raise RealPartsError(f"{filename}: sha256 {got}, pinned {sha256} (the bad download was removed)")
    return path


def _extract(zf: zipfile.ZipFile, member: str, dest: Path) -> None:
    info = zf.getinfo(member)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zf.open(info) as src, dest.open("wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    mode = (info.external_attr >> 16) & 0o777
    dest.chmod(0o755 if mode & stat.S_IXUSR else 0o644)


def _extract_tree(zf: zipfile.ZipFile, prefix: str, dest: Path) -> int:
    """Every file under prefix (a folder in the wheel) into dest, keeping the folders below it."""
    count = 0
    for member in zf.namelist():
        if member.startswith(prefix) and not member.endswith("/"):
            _extract(zf, member, dest / member[len(prefix):])
            count += 1
    if not count:
        raise RealPartsError(f"{zf.filename}: nothing under {prefix}")
    return count


def toolkit(root: Path, tree_arch: str) -> None:
    """NVIDIA's CUDA 13.0 compiler tree, as the cuda-nvcc/cuda-crt/cuda-cudart(-dev)/cuda-cccl/libnvvm debs lay it."""
    home = root / "usr" / "local" / "cuda-13.0"
    target = home / "targets" / TARGET[tree_arch]
    base = "nvidia/cu13/"
    with zipfile.ZipFile(wheel("nvcc", tree_arch)) as zf:
        _extract_tree(zf, base + "bin/", home / "bin")
        _extract_tree(zf, base + "include/", target / "include")
    with zipfile.ZipFile(wheel("crt", tree_arch)) as zf:
        _extract_tree(zf, base + "include/", target / "include")
    with zipfile.ZipFile(wheel("cccl", tree_arch)) as zf:
        _extract_tree(zf, base + "include/", target / "include")
        _extract_tree(zf, base + "lib/", target / "lib")
    with zipfile.ZipFile(wheel("runtime", tree_arch)) as zf:
        _extract_tree(zf, base + "include/", target / "include")
        _extract_tree(zf, base + "lib/", target / "lib")
    with zipfile.ZipFile(wheel("nvvm", tree_arch)) as zf:
        _extract_tree(zf, base + "nvvm/", home / "nvvm")
        _extract_tree(zf, base + "include/", home / "nvvm" / "include")
        _extract_tree(zf, base + "lib/", home / "nvvm" / "lib64")
    # The links NVIDIA's debs carry: libcudart.so for -lcudart, libnvvm.so, and the toolkit's include and lib64.
    version = WHEELS["runtime"][1]
    (target / "lib" / "libcudart.so.13").rename(target / "lib" / f"libcudart.so.{version}")
    (target / "lib" / "libcudart.so.13").symlink_to(f"libcudart.so.{version}")
    (target / "lib" / "libcudart.so").symlink_to("libcudart.so.13")
    (home / "nvvm" / "lib64" / "libnvvm.so").symlink_to("libnvvm.so.4")
    (home / "include").symlink_to(f"targets/{TARGET[tree_arch]}/include")
    (home / "lib64").symlink_to(f"targets/{TARGET[tree_arch]}/lib")
    components = {"cuda": {"name": "CUDA SDK", "version": CUDA_RELEASE}}
    for name, (key, title) in COMPONENTS.items():
        components[key] = {"name": title, "version": WHEELS[name][1]}
    (home / "version.json").write_text(json.dumps(components, indent=3) + "\n", encoding="utf-8")


def cudnn(root: Path, tree_arch: str, major: str, version: str) -> None:
    """cuDNN's headers, libcudnn.so.9 and libcudnn_graph.so.9 where NVIDIA's libcudnn9(-dev)-cuda-N debs put them."""
    name = f"cudnn{major}"
    if name not in WHEELS:
        raise RealPartsError(f"no cuDNN wheel for CUDA {major}")
    if version != WHEELS[name][1]:
        raise RealPartsError(f"the cuDNN deb says {version}, the wheel is {WHEELS[name][1]}")
    triplet = TRIPLET[tree_arch]
    include, lib = root / "usr" / "include" / triplet, root / "usr" / "lib" / triplet
    base = "nvidia/cudnn/"
    with zipfile.ZipFile(wheel(name, tree_arch)) as zf:
        names = zf.namelist()
        # The wheel has each header twice (cudnn.h and cudnn_v9.h, equal): NVIDIA's deb ships the _v9 names.
        headers = sorted(m for m in names if m.startswith(base + "include/") and m.endswith("_v9.h"))
        if not headers:
            raise RealPartsError(f"{zf.filename}: no headers")
        for member in headers:
            _extract(zf, member, include / Path(member).name)
            link = root / "usr" / "include" / Path(member).name.replace("_v9.h", ".h")
            link.symlink_to(f"{triplet}/{Path(member).name}")
        libs = {Path(m).name.split(".so")[0] for m in names if m.startswith(base + "lib/") and ".so" in m}
        if libs != {*CUDNN_CARRIED, *CUDNN_LEFT_OUT}:
            raise RealPartsError(f"{zf.filename}: libraries {sorted(libs)}, expected {CUDNN_CARRIED + CUDNN_LEFT_OUT}")
        for stem in CUDNN_CARRIED:  # libcudnn.so.9.12.0 with its .so.9 and .so links, as NVIDIA's debs name them
            real = f"{stem}.so." + ".".join(version.split(".")[:3])
            _extract(zf, f"{base}lib/{stem}.so.9", lib / real)
            (lib / f"{stem}.so.9").symlink_to(real)
            (lib / f"{stem}.so").symlink_to(f"{stem}.so.9")


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["fetch"] and len(argv) == 1:
            for name, (_project, _version, files) in WHEELS.items():
                for tree_arch in files:
                    wheel(name, tree_arch)
        elif argv[:1] == ["toolkit"] and len(argv) == 3:
            toolkit(Path(argv[1]), argv[2])
        elif argv[:1] == ["cudnn"] and len(argv) == 5:
            cudnn(Path(argv[1]), argv[2], argv[3], argv[4])
        elif argv == ["left-out"]:
            print(" ".join(f"{name}.so.9" for name in CUDNN_LEFT_OUT))
        elif argv[:1] == ["path"] and len(argv) == 3:
            print(wheel(argv[1], argv[2]))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (RealPartsError, OSError, KeyError, zipfile.BadZipFile) as err:
        log(f"error: {err}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
