"""Fast checks on the built fixture mirror (.cache/lab/mirror, tests/lab/mirror/build.sh)."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
MIRROR = ROOT / ".cache" / "lab" / "mirror"
CUDA = MIRROR / "compute" / "cuda" / "repos"
TOOLKIT = MIRROR / "libnvidia-container"
PI = MIRROR / "raspberrypi" / "debian"

pytestmark = [
    pytest.mark.skipif(
        not (MIRROR / "fingerprints.yml").is_file(),
        reason="no built mirror: run tests/lab/mirror/build.sh",
    ),
    pytest.mark.skipif(not shutil.which("gpg") or not shutil.which("gpgv"), reason="gpg/gpgv not installed"),
]

BRANCHES = {"570": "570.195.03-1", "580": "580.95.05-1", "590": "590.48.01-1"}
# An older version of a branch (apt packages only, no pinning package): what upgrade_driver.yml upgrades from.
OLDER = {"580": ["580.82.09-1"]}
CUDA_ARCH = {"x86_64": "amd64", "sbsa": "arm64"}
TOOLKIT_PACKAGES = (
    "nvidia-container-toolkit",
    "nvidia-container-toolkit-base",
    "libnvidia-container-tools",
    "libnvidia-container1",
)
TOOLKIT_VERSIONS = {"stable": ["1.17.8-1", "1.18.1-1"], "experimental": ["1.17.8-1", "1.18.1-1", "1.19.0~rc.1-1"]}
PI_VERSION = "1:6.12.47-1+rpt1~bookworm"
PI_PACKAGES = (
    "linux-headers-rpi-2712",
    "linux-headers-rpi-v8",
    "linux-image-rpi-v8",
    "linux-headers-6.12.47+rpt-rpi-2712",
    "linux-headers-6.12.47+rpt-rpi-v8",
    "linux-image-6.12.47+rpt-rpi-v8",
)
KEY_FILES = {
    "cuda": CUDA / "debian12" / "x86_64" / "3bf863cc.pub",
    "toolkit": TOOLKIT / "gpgkey",
    "raspberrypi": PI / "raspberrypi.gpg.key",
}


def _fingerprints() -> dict[str, str]:
    text = (MIRROR / "fingerprints.yml").read_text(encoding="utf-8")
    return dict(re.findall(r"^lab_(\w+)_key_fingerprint:\s*(\S+)\s*$", text, re.MULTILINE))


@pytest.fixture(scope="module")
def keyrings(tmp_path_factory) -> dict[str, Path]:
    """Binary keyrings (for gpgv) made from the exported armored keys."""
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    rings = {}
    for name, path in KEY_FILES.items():
        ring = home / f"{name}.gpg"
        subprocess.run(
            ["gpg", "--homedir", str(home), "--batch", "--yes", "--dearmor", "-o", str(ring), str(path)], check=True
        )
        rings[name] = ring
    return rings


def _key_fingerprints(path: Path, home: Path) -> list[str]:
    out = subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--show-keys", "--with-colons", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:")]


def _releases() -> list[tuple[Path, str]]:
    found = []
    for release in sorted(MIRROR.rglob("Release")):
        if CUDA in release.parents:
            key = "cuda"
        elif TOOLKIT in release.parents:
            key = "toolkit"
        else:
            key = "raspberrypi"
        found.append((release, key))
    return found


def _gpgv(ring: Path, *files: Path) -> subprocess.CompletedProcess:
    command = ["gpgv", "--keyring", str(ring), *map(str, files)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _packages(index: Path) -> set[tuple[str, str, str]]:
    found = set()
    for stanza in index.read_text(encoding="utf-8").split("\n\n"):
        fields = dict(re.findall(r"^(Package|Version|Architecture): (.+)$", stanza, re.MULTILINE))
        if fields:
            found.add((fields["Package"], fields["Version"], fields["Architecture"]))
    return found


def test_fingerprints_match_the_exported_keys(tmp_path):
    tmp_path.chmod(0o700)
    fprs = _fingerprints()
    assert set(fprs) == {"cuda", "toolkit", "raspberrypi"}
    assert all(re.fullmatch(r"[0-9A-F]{40}", f) for f in fprs.values()), fprs
    assert len(set(fprs.values())) == 3
    for name, path in KEY_FILES.items():
        assert _key_fingerprints(path, tmp_path) == [fprs[name]], path
    for pub in [*CUDA.glob("*/*/3bf863cc.pub"), *CUDA.glob("debian13/*/8793F200.pub")]:
        assert _key_fingerprints(pub, tmp_path) == [fprs["cuda"]], pub


def test_every_release_is_signed_by_its_lab_key(keyrings):
    releases = _releases()
    assert len(releases) == 4 * 2 + 2 * 2 + 1  # CUDA trees, toolkit channels x arches, Pi bookworm
    for release, key in releases:
        inrelease, detached = release.with_name("InRelease"), release.with_name("Release.gpg")
        assert _gpgv(keyrings[key], inrelease).returncode == 0, inrelease
        assert _gpgv(keyrings[key], detached, release).returncode == 0, detached
        for other in set(keyrings) - {key}:
            assert _gpgv(keyrings[other], inrelease).returncode != 0, f"{inrelease} verifies with the {other} key"


def test_release_hashes_cover_the_indexes():
    for release, _key in _releases():
        text = release.read_text(encoding="utf-8")
        sha256 = text.split("SHA256:\n", 1)[1]
        entries = re.findall(r"^ ([0-9a-f]{64})\s+(\d+) (\S+)$", sha256, re.MULTILINE)
        assert any(name.endswith("Packages") for _h, _s, name in entries), release
        for digest, size, name in entries:
            data = (release.parent / name).read_bytes()
            assert (hashlib.sha256(data).hexdigest(), len(data)) == (digest, int(size)), name


@pytest.mark.parametrize("distro", ["debian12", "debian13", "ubuntu2204", "ubuntu2404"])
@pytest.mark.parametrize("tree", sorted(CUDA_ARCH))
def test_cuda_tree_packages(distro, tree):
    arch = CUDA_ARCH[tree]
    want = set()
    for branch, version in BRANCHES.items():
        for each in [*OLDER.get(branch, []), version]:
            for name in (
                "nvidia-kernel-dkms",
                "nvidia-kernel-open-dkms",
                "nvidia-driver-cuda",
                "cuda-drivers",
                "nvidia-open",
            ):
                want.add((name, each, arch))
            want |= {(f"cuda-drivers-{branch}", each, arch), (f"nvidia-open-{branch}", each, arch)}
        want.add((f"nvidia-driver-pinning-{branch}", version, "all"))
    want |= {(f"cuda-toolkit-{cuda.replace('.', '-')}", f"{cuda}.1-1", arch) for cuda in ("12.6", "12.9", "13.0")}
    want |= {(f"cudnn9-cuda-{major}", "9.12.0.46-1", arch) for major in ("12", "13")}
    assert _packages(CUDA / distro / tree / "Packages") == want


@pytest.mark.parametrize("channel", sorted(TOOLKIT_VERSIONS))
@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_toolkit_packages(channel, arch):
    want = {(p, v, arch) for p in TOOLKIT_PACKAGES for v in TOOLKIT_VERSIONS[channel]}
    assert _packages(TOOLKIT / channel / "deb" / arch / "Packages") == want


def test_raspberrypi_packages():
    index = PI / "dists" / "bookworm" / "main" / "binary-arm64" / "Packages"
    assert _packages(index) == {(p, PI_VERSION, "arm64") for p in PI_PACKAGES}


def test_cuda_toolkit_and_cudnn_live_where_nvidia_puts_them():
    """NVIDIA's toolkit under /usr/local/cuda-X.Y (13.0: the real tree, targets/<arch>-linux with the include and
    lib64 links); cuDNN's headers and library where NVIDIA's debs put them (the wheel's files: real_parts.py)."""
    expected = {
        ("x86_64", "cuda-toolkit-12-9_12.9.1-1_amd64.deb"): [
            "./usr/local/cuda-12.9/bin/nvcc", "./usr/local/cuda-12.9/version.json"],
        ("x86_64", "cuda-toolkit-13-0_13.0.1-1_amd64.deb"): [
            "./usr/local/cuda-13.0/bin/nvcc", "./usr/local/cuda-13.0/bin/ptxas", "./usr/local/cuda-13.0/nvvm/bin/cicc",
            "./usr/local/cuda-13.0/targets/x86_64-linux/include/cuda_runtime.h",
            "./usr/local/cuda-13.0/targets/x86_64-linux/include/crt/host_config.h",
            "./usr/local/cuda-13.0/targets/x86_64-linux/lib/libcudart_static.a",
            "./usr/local/cuda-13.0/include -> targets/x86_64-linux/include",
            "./usr/local/cuda-13.0/lib64 -> targets/x86_64-linux/lib", "./usr/local/cuda-13.0/version.json"],
        ("sbsa", "cuda-toolkit-13-0_13.0.1-1_arm64.deb"): [
            "./usr/local/cuda-13.0/bin/nvcc", "./usr/local/cuda-13.0/targets/sbsa-linux/include/cuda_runtime.h",
            "./usr/local/cuda-13.0/lib64 -> targets/sbsa-linux/lib"],
        ("x86_64", "cudnn9-cuda-12_9.12.0.46-1_amd64.deb"): [
            "./usr/lib/x86_64-linux-gnu/libcudnn.so.9.12.0",
            "./usr/lib/x86_64-linux-gnu/libcudnn.so.9 -> libcudnn.so.9.12.0",
            "./usr/lib/x86_64-linux-gnu/libcudnn.so -> libcudnn.so.9",
            "./usr/include/x86_64-linux-gnu/cudnn_v9.h", "./usr/include/cudnn.h -> x86_64-linux-gnu/cudnn_v9.h"],
        ("sbsa", "cudnn9-cuda-13_9.12.0.46-1_arm64.deb"): [
            "./usr/lib/aarch64-linux-gnu/libcudnn.so.9.12.0", "./usr/include/aarch64-linux-gnu/cudnn_version_v9.h"],
    }
    for (tree, deb), paths in expected.items():
        listing = subprocess.run(["dpkg-deb", "-c", str(CUDA / "debian12" / tree / deb)], capture_output=True,
                                 text=True, check=True).stdout
        for path in paths:
            assert path in listing, (deb, path)
        if deb.startswith("cudnn9"):  # the run-time sub-libraries are left out, and the description says so
            assert "libcudnn_ops" not in listing and "libcudnn_engines" not in listing, deb
            fields = subprocess.run(["dpkg-deb", "-f", str(CUDA / "debian12" / tree / deb), "Description"],
                                    capture_output=True, text=True, check=True).stdout
            assert "Left out" in fields and "libcudnn_ops.so.9" in fields, fields


def test_every_cuda_toolkit_depends_on_build_essential_like_nvidias_cuda_nvcc():
    text = (CUDA / "debian12" / "x86_64" / "Packages").read_text(encoding="utf-8")
    for block in text.split("\n\n"):
        if block.startswith("Package: cuda-toolkit-"):
            assert "\nDepends: build-essential\n" in block, block


def test_toolkit_depends_like_upstream():
    text = (TOOLKIT / "stable" / "deb" / "amd64" / "Packages").read_text(encoding="utf-8")
    stanza = next(s for s in text.split("\n\n") if "Package: nvidia-container-toolkit\n" in s and "1.18.1-1" in s)
    assert "Depends: nvidia-container-toolkit-base (= 1.18.1-1), libnvidia-container-tools (= 1.18.1-1)" in stanza


def test_runfiles_match_their_checksums():
    runs = sorted(MIRROR.glob("XFree86/Linux-*/*/NVIDIA-Linux-*.run"))
    assert len(runs) == 2 * len(BRANCHES)
    for run in runs:
        digest, name = run.with_name(run.name + ".sha256sum").read_text(encoding="utf-8").split()
        assert name == run.name
        assert hashlib.sha256(run.read_bytes()).hexdigest() == digest


def test_torch_stand_in_wheels_per_variant_index():
    """whl/<variant>/torch/ holds one wheel labelled +<variant>: a stand-in that says so in its metadata and
    docstring, carries no binaries of its own, and labels Debian's python3-torch with the variant's CUDA."""
    import zipfile

    cuda = {"cpu": "None", "cu126": "'12.6'", "cu128": "'12.8'", "cu130": "'13.0'"}
    for variant, build in cuda.items():
        wheels = sorted((MIRROR / "whl" / variant / "torch").glob("*.whl"))
        assert [w.name for w in wheels] == [f"torch-2.8.0+{variant}-py3-none-any.whl"], variant
        info = f"torch-2.8.0+{variant}.dist-info"
        with zipfile.ZipFile(wheels[0]) as archive:
            names = set(archive.namelist())
            init = archive.read("torch/__init__.py").decode()
            metadata = archive.read(f"{info}/METADATA").decode()
            assert archive.testzip() is None
        assert f"{info}/RECORD" in names
        assert f"Summary: LAB STAND-IN of torch 2.8.0+{variant}: Debian's python3-torch (CPU)" in metadata
        assert init.startswith(f'"""LAB STAND-IN of torch 2.8.0+{variant}')
        assert "/usr/lib/python3/dist-packages" in init
        assert f"_version.cuda = {build}" in init and f'_version.__version__ = "2.8.0+{variant}"' in init
        assert not any(n.endswith((".so", ".pyd")) for n in names)  # the tensors are Debian's, on the CPU


@pytest.mark.skipif(Path("/usr/lib/python3/dist-packages/torch").exists(), reason="Debian's python3-torch is here")
def test_torch_stand_in_without_debians_torch_fails_to_import_and_names_the_package(tmp_path):
    """Where Debian's python3-torch is missing, the stand-in does not pretend: import torch fails, naming it."""
    import sys
    import zipfile

    with zipfile.ZipFile(MIRROR / "whl/cu126/torch/torch-2.8.0+cu126-py3-none-any.whl") as archive:
        archive.extractall(tmp_path)
    done = subprocess.run([sys.executable, "-c", "import torch"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 1
    assert ("ImportError: the lab's stand-in torch 2.8.0+cu126 loads Debian's python3-torch, which is not installed"
            in done.stderr)
    assert "apt-get install python3-torch" in done.stderr


def test_probe_package_in_the_pypi_stand_in():
    wheels = sorted((MIRROR / "pypi" / "simple" / "homelab-ml-probe").glob("*.whl"))
    assert [w.name for w in wheels] == ["homelab_ml_probe-1.0-py3-none-any.whl"]


def test_the_inference_files_are_there_and_their_checksums_are_the_ones_the_lab_reads():
    text = (MIRROR / "fingerprints.yml").read_text(encoding="utf-8")
    values = dict(re.findall(r"^lab_llama_cpp_(\w+):\s*(\S+)\s*$", text, re.MULTILINE))
    for kind in ("source", "model"):
        path = MIRROR / values[f"{kind}_url"].removeprefix("http://mirror.lab/")
        assert hashlib.sha256(path.read_bytes()).hexdigest() == values[f"{kind}_sha256"], kind
    # the role's default and the lab's source are the same file (PyPI's llama-cpp-python sdist)
    defaults = (ROOT / "roles" / "llama_cpp" / "defaults" / "main.yml").read_text(encoding="utf-8")
    assert f"llama_cpp_source_sha256: {values['source_sha256']}" in defaults


def test_the_tiny_model_is_a_llama_gguf_with_layers_to_split_and_a_byte_vocabulary():
    gguf = pytest.importorskip("gguf")
    reader = gguf.GGUFReader(MIRROR / "models" / "tiny-llama.gguf")

    def field(name):
        part = reader.fields[name]
        return part.parts[part.data[0]]

    assert bytes(field("general.architecture")).decode() == "llama"
    assert int(field("llama.block_count")[0]) == 4  # layers for two RPC workers and the server
    assert len(reader.fields["tokenizer.ggml.tokens"].data) == 41472  # bytes and more: an output over 10 MiB
    names = {t.name for t in reader.tensors}
    assert {"token_embd.weight", "output.weight", "blk.3.ffn_down.weight"} <= names and len(names) == 3 + 4 * 9
    # llama.cpp's RPC worker caches only tensors over 10 MiB (rpc-server --cache): the output matrix is one
    output = next(t for t in reader.tensors if t.name == "output.weight")
    assert int(output.n_bytes) > 10 * 1024 * 1024
