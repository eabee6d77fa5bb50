# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-in wheels for the lab's fixture mirror (tests/lab/mirror/build.sh), standard library only.

Writes, under OUT:
  whl/<variant>/torch/torch-<version>+<variant>-py3-none-any.whl   for cpu, cu126, cu128, cu130
  pypi/simple/homelab-ml-probe/homelab_ml_probe-<version>-py3-none-any.whl
The mirror's http.server lists each directory, which pip reads as a simple index (PEP 503 layout):
--index-url http://mirror.lab/whl/cu126 finds torch there as it would on download.pytorch.org.

The torch stand-in is NOT PyTorch's build: a package named torch, labelled 2.8.0+<variant>, whose
import loads Debian's real python3-torch (a CPU build: 1.13 on bookworm, 2.6 on trixie) from
/usr/lib/python3/dist-packages into itself and then reports the variant's label as its __version__
and torch.version.cuda, as PyTorch's <variant> build does. It behaves like that build on a host
without a working GPU: torch.cuda.is_available() is False and tensors are real, on the CPU. It
proves which index pip resolved torch from (the local label +cu126 exists only on that index) and
that the role's check multiplies for real on the CPU; never that a CUDA build runs on a card.
A host that installs it needs Debian's python3-torch (a lab fixture, installed by the scenario's
prepare); without it the import fails and names the package. The probe is a real, empty package
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

# The stand-in's torch/__init__.py, filled by str.format: {version} the variant's label, {cuda} its CUDA.
TORCH_INIT = """\
\"\"\"LAB STAND-IN of torch {version} (homelab.nvidia_gpu fixture mirror): Debian's python3-torch under this label.

Not PyTorch's {version} build. Importing it loads Debian's real python3-torch (a CPU build) from
/usr/lib/python3/dist-packages into this module, then labels it {version} with torch.version.cuda
{cuda!r}, as PyTorch's build reports itself. Like that build on a host without a working GPU,
torch.cuda.is_available() is False and its tensors are real, on the CPU. Debian's site-packages join
the end of sys.path for torch's own dependencies (numpy, typing_extensions, ...).
\"\"\"
import os as _os
import sys as _sys

_DEBIAN = "/usr/lib/python3/dist-packages"
_REAL = _os.path.join(_DEBIAN, "torch", "__init__.py")
if not _os.path.isfile(_REAL):
    raise ImportError("the lab's stand-in torch {version} loads Debian's python3-torch, which is not installed "
                      "(no " + _REAL + "): apt-get install python3-torch")
if _DEBIAN not in _sys.path:
    _sys.path.append(_DEBIAN)
_STAND_IN = __doc__
__path__[:] = [_os.path.dirname(_REAL)]  # torch's submodules are Debian's (the list is also __spec__'s)
__file__ = _REAL
with open(_REAL, encoding="utf-8") as _source:
    exec(compile(_source.read(), _REAL, "exec"))  # noqa: S102 - Debian's torch, run as this module
from torch import version as _version  # noqa: E402 - Debian's torch.version, relabelled

_version.__version__ = "{version}"
_version.cuda = {cuda!r}
__version__ = type(__version__)("{version}")  # torch.torch_version.TorchVersion, as PyTorch's
__doc__ = _STAND_IN  # help(torch) says what this is
del _os, _sys, _DEBIAN, _REAL, _STAND_IN, _source, _version
"""


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
        init = TORCH_INIT.format(version=version, cuda=cuda)
        files = {"torch/__init__.py": init}
        path = out / "whl" / variant / "torch" / f"torch-{version}-py3-none-any.whl"
        wheel(path, "torch", version, files,
              f"LAB STAND-IN of torch {version}: Debian's python3-torch (CPU) under this label")
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
