# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-in wheels for the lab's fixture mirror (tests/lab/mirror/build.sh), standard library only.

Writes, under OUT:
  whl/<variant>/torch/torch-<version>+<variant>-py3-none-any.whl   for cpu, cu126, cu128, cu130
  pypi/simple/homelab-ml-probe/homelab_ml_probe-<version>-py3-none-any.whl
The mirror's http.server lists each directory, which pip reads as a simple index (PEP 503 layout):
--index-url http://mirror.lab/whl/cu126 finds torch there as it would on download.pytorch.org.

The torch stand-in is NOT PyTorch: a package named torch with __version__, version.cuda and
HOMELAB_LAB_STAND_IN, and no tensors. It proves which index pip resolved torch from (the local
label +cu126 exists only on that index), never that torch runs. The probe is a real, empty package
that group members install into the shared environment. Usage: build_wheels.py OUT
"""

from __future__ import annotations

import base64
import hashlib
import sys
import zipfile
from pathlib import Path

TORCH_VERSION = "2.8.0"
TORCH_VARIANTS = {"cpu": None, "cu126": "12.6", "cu128": "12.8", "cu130": "13.0"}
PROBE_VERSION = "1.0"
EPOCH = (2026, 1, 1, 0, 0, 0)  # fixed timestamps: the same inputs give the same bytes


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def wheel(path: Path, dist: str, version: str, files: dict[str, str], summary: str) -> None:
    """A pure-Python wheel: the given files, METADATA, WHEEL and RECORD."""
    info = f"{dist}-{version}.dist-info"
    members = dict(files)
    members[f"{info}/METADATA"] = (f"Metadata-Version: 2.1\nName: {dist.replace('_', '-')}\nVersion: {version}\n"
                                   f"Summary: {summary}\n")
    members[f"{info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: homelab-lab\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = [_record_line(name, text.encode()) for name, text in members.items()] + [f"{info}/RECORD,,"]
    members[f"{info}/RECORD"] = "\n".join(record) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            entry = zipfile.ZipInfo(name, EPOCH)
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, text)


def build(out: Path) -> list[Path]:
    written = []
    for variant, cuda in TORCH_VARIANTS.items():
        version = f"{TORCH_VERSION}+{variant}"
        init = (f'"""LAB STAND-IN of torch {version} (homelab.nvidia_gpu fixture mirror): no tensors."""\n'
                f'__version__ = "{version}"\n'
                'HOMELAB_LAB_STAND_IN = "the fixture mirror\'s stand-in torch: it proves the index, '
                'not that torch runs"\n'
                "from torch import version  # noqa: E402\n")
        files = {"torch/__init__.py": init, "torch/version.py": f"__version__ = \"{version}\"\ncuda = {cuda!r}\n"}
        path = out / "whl" / variant / "torch" / f"torch-{version}-py3-none-any.whl"
        wheel(path, "torch", version, files, f"LAB STAND-IN of torch {version}")
        written.append(path)
    probe = out / "pypi" / "simple" / "homelab-ml-probe" / f"homelab_ml_probe-{PROBE_VERSION}-py3-none-any.whl"
    wheel(probe, "homelab_ml_probe", PROBE_VERSION, {"homelab_ml_probe/__init__.py": f'VERSION = "{PROBE_VERSION}"\n'},
          "An empty package the lab installs into shared environments")
    written.append(probe)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: build_wheels.py OUT")
    for built in build(Path(sys.argv[1])):
        print(built)
