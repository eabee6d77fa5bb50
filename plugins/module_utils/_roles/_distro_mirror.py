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

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _apt_sources

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
# The role's variables, named in the sentence of a refusal.
NAMES = {"mirror": "distro_mirror_url", "security_mirror": "distro_mirror_security_url",
         "components": "distro_mirror_components", "release": "the release (ansible_facts.distribution_release)"}


class DistroMirrorError(_values.ValueProblem):
    """An unknown distribution, a release or URL apt would misread; the sentence names the variable."""


def _url(value: Any, name: str) -> str:
    """An http(s) URL (``_values.url``) without a trailing slash; one deb822 value."""
    try:
        text = _values.url(value, name).rstrip("/")
        return _values.deb822_value(text, name)
    except _values.ValueProblem as exc:
        raise DistroMirrorError(f"{exc} (an http(s) URL such as http://mirror.example/debian)") from None


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
    release = facts.get("release", "")
    if not isinstance(release, str) or not re.fullmatch(r"[a-z]+", release):
        raise DistroMirrorError(f"{NAMES['release']} must be a codename such as bookworm or noble, not {release!r}")
    distro = DISTROS[name]
    arm = name == "Ubuntu" and str(facts.get("architecture", "")) not in ("x86_64", "amd64", "i386")
    default = distro["ports"] if arm else distro["mirror"]
    main = _url(mirror or default, NAMES["mirror"])
    security = _url(security_mirror or (main if arm else distro["security"]), NAMES["security_mirror"])
    if components is None or (isinstance(components, (list, tuple)) and not components):
        parts = list(distro["components"])
    else:
        try:  # a string is refused, never read letter by letter (Components: m a i n)
            parts = _values.string_list(components, NAMES["components"],
                                        lambda v, n: _values.word(v, n, r"[a-z][a-z0-9-]*",
                                                                  "lower-case letters, digits and -"))
        except _values.ValueProblem as exc:
            raise DistroMirrorError(str(exc)) from None
    if name == "Debian" and release in ("bullseye", "buster"):
        parts = [p for p in parts if p != "non-free-firmware"]  # a component from bookworm on
    if not parts:
        raise DistroMirrorError(f"{NAMES['components']} must name at least one component such as main")

    def stanza(uri: str, suites: Sequence[str]) -> dict:
        return {"Types": ["deb"], "URIs": [uri], "Suites": [s.format(r=release) for s in suites],
                "Components": parts, "Signed-By": distro["keyring"]}

    names = {"URIs": f"{NAMES['mirror']} or {NAMES['security_mirror']}", "Suites": NAMES["release"],
             "Components": NAMES["components"]}
    try:
        content = _apt_sources.sources_file(
            [stanza(main, distro["suites"]), stanza(security, distro["security_suites"])], names,
            [f"Managed by homelab.nvidia_gpu.distro_mirror: the distribution's archive from one mirror (the files it "
             f"replaces are kept in {DISABLED_DIR})"])
    except _values.ValueProblem as exc:
        raise DistroMirrorError(str(exc)) from None
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


# ---- The role's whole plan (action homelab.nvidia_gpu.distro_mirror_plan) ----


def observed(text: str) -> dict:
    """What ``roles/distro_mirror/files/host_state.sh`` printed: ``own<TAB><path><TAB><first line>`` for each of the
    distributions' own source files that exists, ``keyring<TAB><path>`` for each archive keyring that exists."""
    out: dict = {"own": {}, "keyrings": []}
    for line in re.split(r"\r?\n", str(text or "")):  # the script module over SSH has a tty: \r\n
        kind, _sep, value = line.partition("\t")
        if kind == "own":
            path, _sep, first = value.partition("\t")
            out["own"][path] = first
        elif kind == "keyring":
            out["keyrings"].append(value)
    return out


def role_plan(args: Mapping[str, Any], facts: Mapping[str, Any], host: Mapping[str, Any], hostname: str = "") -> dict:
    """Everything the distro_mirror role does, decided once. ``args``: ``url``, ``security_url``, ``components``,
    ``state`` (the role's variables without ``distro_mirror_``); ``facts``: ``distribution``, ``release``,
    ``architecture``; ``host``: ``observed()``. Nothing to do (``active`` false) while the URL is empty and the
    state present. A refusal is ``DistroMirrorError`` naming the variable, or the missing keyring."""
    state = str(args.get("state", "present"))
    if state not in ("present", "absent"):
        raise DistroMirrorError(f"distro_mirror_state must be present or absent, not {state!r}")
    active = bool(args.get("url")) or state == "absent"
    if not active:
        return {"active": False, "configure": False, "restore": False}
    plan = distro_sources(facts, args.get("url") or "", args.get("security_url") or "", args.get("components"))
    if plan["keyring"] not in host.get("keyrings", []):
        package = plan["keyring"].rsplit("/", 1)[-1].removesuffix(".gpg")
        raise DistroMirrorError(f"{hostname}: {plan['keyring']} is missing (package {package}): apt could not check "
                                "the mirror's signatures. Nothing was changed.")
    own = host.get("own", {})
    originals = [path for path in plan["replaces"] if path in own and not own[path].startswith(STUB_MARK)]
    present = state == "present"
    return {
        **plan,
        "active": True, "configure": present, "restore": not present,
        "originals": originals,
        "keep": [{"src": path, "dest": f"{DISABLED_DIR}/{path.rsplit('/', 1)[-1]}"} for path in originals],
        "stub_sources_list": "/etc/apt/sources.list" in originals,
        "disable": [path for path in originals if path != "/etc/apt/sources.list"],
        "kept_names": [path.rsplit("/", 1)[-1] for path in plan["replaces"]],
        "kept_to_original": {path.rsplit("/", 1)[-1]: path for path in plan["replaces"]},
        "status": {"state": state, "mirror": plan["mirror"] if present else None, "path": plan["path"],
                   "kept_in": DISABLED_DIR if present else None},
    }
