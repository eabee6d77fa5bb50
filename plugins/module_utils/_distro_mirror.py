# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The distribution's own apt sources from one mirror URL (pure): deb822, the distro's keyring as Signed-By.

Debian (and Raspberry Pi OS, whose arm64 archive is Debian's) and Ubuntu. The files it replaces are named so that
the caller can keep a copy and disable them instead of deleting them. Nothing here touches a host.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from typing import Any

DISTROS: dict[str, dict[str, Any]] = {
    "Debian": {
        "mirror": "http://deb.debian.org/debian",
        "security": "http://deb.debian.org/debian-security",
        "keyring": "/usr/share/keyrings/debian-archive-keyring.gpg",
        "suites": ("{r}", "{r}-updates"),
        "security_suites": ("{r}-security",),
        "components": ("main", "contrib", "non-free", "non-free-firmware"),
        "own": ("/etc/apt/sources.list", "/etc/apt/sources.list.d/debian.sources"),
    },
    "Ubuntu": {
        "mirror": "http://archive.ubuntu.com/ubuntu",
        "ports": "http://ports.ubuntu.com/ubuntu-ports",
        "security": "http://security.ubuntu.com/ubuntu",
        "keyring": "/usr/share/keyrings/ubuntu-archive-keyring.gpg",
        "suites": ("{r}", "{r}-updates", "{r}-backports"),
        "security_suites": ("{r}-security",),
        "components": ("main", "restricted", "universe", "multiverse"),
        "own": ("/etc/apt/sources.list", "/etc/apt/sources.list.d/ubuntu.sources"),
    },
}
SOURCES_PATH = "/etc/apt/sources.list.d/homelab-distro.sources"
DISABLED_DIR = "/etc/apt/homelab-disabled"  # outside sources.list.d: apt neither reads nor warns about it
STUB_MARK = "# homelab.nvidia_gpu.distro_mirror:"
_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~%/+-]*)?")


class DistroMirrorError(ValueError):
    """An unknown distribution, a release or URL apt would misread."""


def _url(value: Any, what: str) -> str:
    text = str(value or "").strip().rstrip("/")
    if not _URL.fullmatch(text):
        raise DistroMirrorError(f"{what} must be an http(s) URL such as http://mirror.example/debian, not {value!r}")
    return text


def distro_sources(facts: Mapping[str, Any], mirror: Any = "", security_mirror: Any = "",
                   components: Sequence[str] | None = None) -> dict:
    """The deb822 file for the host's distribution and release, and the files of its own it replaces.

    ``facts``: ``distribution`` (Debian, Ubuntu; Raspberry Pi OS reports Debian), ``release`` (the codename),
    ``architecture`` (x86_64, aarch64: Ubuntu's arm64 archive is ports.ubuntu.com). Empty mirrors mean the
    distribution's own servers.
    """
    name = str(facts.get("distribution", ""))
    if name not in DISTROS:
        raise DistroMirrorError(f"the distro mirror knows {', '.join(DISTROS)}, not {name or '(no distribution)'}")
    release = str(facts.get("release", ""))
    if not re.fullmatch(r"[a-z]+", release):
        raise DistroMirrorError(f"the release must be a codename such as bookworm or noble, not {release!r}")
    distro = DISTROS[name]
    arm = name == "Ubuntu" and str(facts.get("architecture", "")) not in ("x86_64", "amd64", "i386")
    default = distro["ports"] if arm else distro["mirror"]
    main = _url(mirror or default, "the distro mirror")
    security = _url(security_mirror or (main if arm else distro["security"]), "the security mirror")
    parts = list(components or distro["components"])
    if name == "Debian" and release in ("bullseye", "buster"):
        parts = [p for p in parts if p != "non-free-firmware"]  # a component from bookworm on
    bad = [p for p in parts if not re.fullmatch(r"[a-z][a-z0-9-]*", str(p))]
    if bad or not parts:
        raise DistroMirrorError(f"components must be names such as main, not {bad or 'none'}")

    def stanza(uri: str, suites: Sequence[str]) -> str:
        return (f"Types: deb\nURIs: {uri}\nSuites: {' '.join(s.format(r=release) for s in suites)}\n"
                f"Components: {' '.join(parts)}\nSigned-By: {distro['keyring']}\n")

    content = ("# Managed by homelab.nvidia_gpu.distro_mirror: the distribution's archive from one mirror (the files "
               f"it replaces are kept in {DISABLED_DIR})\n" + stanza(main, distro["suites"]) + "\n"
               + stanza(security, distro["security_suites"]))
    stub = (f"{STUB_MARK} the distribution's sources are in {SOURCES_PATH};\n"
            f"# the original of this file is kept in {DISABLED_DIR}/sources.list (distro_mirror_state: absent puts "
            "it back).\n")
    return {"path": SOURCES_PATH, "content": content, "mirror": main, "security_mirror": security,
            "keyring": distro["keyring"], "replaces": list(distro["own"]), "default_mirror": default,
            "disabled_dir": DISABLED_DIR, "stub": stub, "stub_mark": STUB_MARK}


def originals(slurped: Sequence[Mapping[str, Any]]) -> list[str]:
    """The distribution's own source files among ``slurp`` results (``item`` the path, ``content`` base64).

    A file that is missing, or is this role's own stub in place of sources.list, is not an original: a second run
    must not keep the stub as if it were the distribution's file.
    """
    out = []
    for result in slurped or []:
        if not isinstance(result, Mapping) or "content" not in result:
            continue
        try:
            text = base64.b64decode(str(result["content"])).decode("utf-8", "replace")
        except ValueError:  # not slurp's base64: kept as an original, the safe side
            text = ""
        if not text.startswith(STUB_MARK):
            out.append(str(result.get("item", "")))
    return out
