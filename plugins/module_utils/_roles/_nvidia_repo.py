# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The repo map (pure): which NVIDIA CUDA tree serves which host, and with which key; and the role's apt files
(``files``: the sources and the pin, rendered whole, from checked variables).

The one place for it (sources: ../shared/reference/upstream-facts.md). Keys: distribution as Ansible
names it, then the release (Debian: major version; Ubuntu: YY.MM).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _apt_sources, _signing_keys

CUDA_RELEASES = {
    "Debian": {
        "12": {"tree": "debian12", "key_file": "3bf863cc.pub",
               "key_fingerprint": "EB693B3035CD5710E231E123A4B469963BF863CC"},
        "13": {"tree": "debian13", "key_file": "8793F200.pub",
               "key_fingerprint": "02182E60104FCDC26EAE1B8597A5D4CB8793F200"},
    },
    "Ubuntu": {
        "22.04": {"tree": "ubuntu2204", "key_file": "3bf863cc.pub",
                  "key_fingerprint": "EB693B3035CD5710E231E123A4B469963BF863CC"},
        "24.04": {"tree": "ubuntu2404", "key_file": "3bf863cc.pub",
                  "key_fingerprint": "EB693B3035CD5710E231E123A4B469963BF863CC"},
    },
}
# Machine (uname -m) -> CUDA tree arch. aarch64 is sbsa (discrete GPUs), never the Jetson "arm64" tree.
CUDA_ARCHES = {"x86_64": "x86_64", "aarch64": "sbsa"}
# Machine -> Debian architecture, for the Container Toolkit's $(ARCH) directories.
DEB_ARCHES = {"x86_64": "amd64", "aarch64": "arm64"}
# Raspberry Pi OS reports "Debian" on arm64; its 32-bit "Raspbian" is refused by the arch map anyway.
DISTRIBUTION_ALIASES = {"Raspbian": "Debian"}
ROOT_OWNED = {"owner": "root", "group": "root"}  # each written file, as homelab.nvidia_gpu.file_set takes it


def supported() -> str:
    """Every supported combination, as one sentence part."""
    arches = "/".join(CUDA_ARCHES)
    return "; ".join(
        f"{distro} {release} on {arches} ({', '.join(data['tree'] + '/' + arch for arch in CUDA_ARCHES.values())})"
        for distro, releases in CUDA_RELEASES.items() for release, data in releases.items())


def target(distribution: str, version: str, architecture: str, cuda: bool = True, toolkit: bool = True) -> dict:
    """The CUDA tree, its key and the Debian arch for a host; ``problem`` says why there is none ('' when fine)."""
    distro = DISTRIBUTION_ALIASES.get(str(distribution), str(distribution))
    version = str(version)
    key = version.split(".", maxsplit=1)[0] if distro == "Debian" else version
    release = CUDA_RELEASES.get(distro, {}).get(key, {})
    cuda_arch = CUDA_ARCHES.get(str(architecture), "")
    deb_arch = DEB_ARCHES.get(str(architecture), "")
    ok = (not cuda or (release and cuda_arch)) and (not toolkit or deb_arch)
    return {
        "tree": f"{release['tree']}/{cuda_arch}" if cuda and release and cuda_arch else "",
        "key_file": release.get("key_file", ""),
        "key_fingerprint": release.get("key_fingerprint", ""),
        "deb_arch": deb_arch,
        "problem": "" if ok else (
            f"NVIDIA's repos have no tree for {distribution} {version} on {architecture}. Supported: {supported()}. "
            "(arm64 hosts use the sbsa tree; the Jetson arm64 tree is not for discrete GPUs.)"),
    }


_KEY_FILE = r"[A-Za-z0-9][A-Za-z0-9._-]*"
PIN_PRIORITIES = {"nvidia": 600, "debian": 100}  # above Debian's 500: NVIDIA wins; below it: the distribution wins
SOURCES_DIR = "/etc/apt/sources.list.d"
PIN_FILE = "/etc/apt/preferences.d/nvidia-cuda.pref"


def _fingerprint(value: Any, default: str, name: str) -> str:
    text = _values.single_line(value, name, allow_empty=True) if value not in (None, "") else default
    try:
        return _signing_keys.normalise_fingerprint(text)
    except _signing_keys.BadFingerprint as exc:
        raise _values.ValueProblem(f"{name}: {exc}") from None


def files(settings: Mapping[str, Any]) -> dict:
    """Everything the role writes, from its variables (``settings``: ``nvidia_repo_*`` as the role names them), each
    checked where it enters: the text of ``nvidia-cuda.sources``, ``nvidia-container-toolkit.sources`` and the pin
    file (empty when not written), the keys to fetch and check, the keyrings and the URIs apt will list.

    A URL that is not an http(s) URL on one line, a fingerprint that is not a full one, a pin selector that is not
    one line of apt_preferences(5), a key file name with a slash, a host without a CUDA tree: ``ValueProblem`` whose
    sentence names the variable. The deb822 text comes from ``_apt_sources`` and holds exactly the fields meant.
    """
    def get(key: str, default: Any = None) -> Any:
        return settings.get(f"nvidia_repo_{key}", default)

    cuda = _values.boolean(get("cuda_enabled", True), "nvidia_repo_cuda_enabled")
    toolkit = _values.boolean(get("toolkit_enabled", True), "nvidia_repo_toolkit_enabled")
    experimental = _values.boolean(get("toolkit_experimental", False), "nvidia_repo_toolkit_experimental")
    pin = _values.single_line(get("pin", "nvidia"), "nvidia_repo_pin")
    if pin not in (*PIN_PRIORITIES, "none"):
        raise _values.ValueProblem(f"nvidia_repo_pin must be nvidia, debian or none, not {pin!r}")
    keyring_dir = _values.absolute_path(get("keyring_dir", "/etc/apt/keyrings"), "nvidia_repo_keyring_dir")
    host = target(*(_values.single_line(get(key, ""), f"nvidia_repo_{key}", allow_empty=True)
                    for key in ("distribution", "distribution_version", "architecture")), cuda, toolkit)
    if host["problem"]:
        raise _values.ValueProblem(host["problem"])
    out: dict[str, Any] = {
        "cuda_keyring": f"{keyring_dir}/nvidia-cuda.gpg",
        "toolkit_keyring": f"{keyring_dir}/nvidia-container-toolkit.gpg",
        "cuda_sources": "", "toolkit_sources": "", "pin": "", "signing_keys": [], "cuda_uri": "", "toolkit_uri": "",
        "tree": host["tree"], "deb_arch": host["deb_arch"], "pin_file": PIN_FILE, "sources_dir": SOURCES_DIR,
    }
    if cuda:
        base = _values.url(get("cuda_base_url"), "nvidia_repo_cuda_base_url").rstrip("/")
        fpr = _fingerprint(get("cuda_key_fingerprint"), host["key_fingerprint"], "nvidia_repo_cuda_key_fingerprint")
        key_file = get("cuda_key_file") or host["key_file"]
        key_file = _values.word(key_file, "nvidia_repo_cuda_key_file", _KEY_FILE, "letters, digits and . _ -")
        out["cuda_uri"] = f"{base}/{host['tree']}"
        out["cuda_sources"] = _apt_sources.sources_file(
            {"Types": ["deb"], "URIs": [out["cuda_uri"] + "/"], "Suites": ["/"], "Signed-By": out["cuda_keyring"]},
            {"URIs": "nvidia_repo_cuda_base_url", "Signed-By": "nvidia_repo_keyring_dir"},
            [f"NVIDIA CUDA repository, tree {host['tree']}; trusted only with the key checked against", f"{fpr}."])
        out["signing_keys"].append({"name": "cuda", "url": f"{out['cuda_uri']}/{key_file}", "fingerprint": fpr,
                                    "keyring": out["cuda_keyring"]})
        if pin != "none":
            out["pin"] = _apt_sources.preferences_file(
                {"Package": "*", "Pin": get("pin_selector", "release l=NVIDIA CUDA"),
                 "Pin-Priority": PIN_PRIORITIES[pin]},
                {"Pin": "nvidia_repo_pin_selector", "Package": "the package of the CUDA pin"},
                [f"nvidia_repo_pin: {pin} ({'NVIDIA' if pin == 'nvidia' else 'the distribution'}'s packages win)"])
    if toolkit:
        base = _values.url(get("toolkit_base_url"), "nvidia_repo_toolkit_base_url").rstrip("/")
        fpr = _fingerprint(get("toolkit_key_fingerprint"), "", "nvidia_repo_toolkit_key_fingerprint")
        out["toolkit_uri"] = f"{base}/stable/deb/{host['deb_arch']}"
        channels = ["stable", "experimental"] if experimental else ["stable"]
        out["toolkit_sources"] = _apt_sources.sources_file(
            [{"Types": ["deb"], "URIs": [f"{base}/{channel}/deb/$(ARCH)"], "Suites": ["/"],
              "Signed-By": out["toolkit_keyring"]} for channel in channels],
            {"URIs": "nvidia_repo_toolkit_base_url", "Signed-By": "nvidia_repo_keyring_dir"},
            ["NVIDIA Container Toolkit repository; trusted only with the key checked against", f"{fpr}."])
        out["signing_keys"].append({"name": "toolkit", "url": f"{base}/gpgkey", "fingerprint": fpr,
                                    "keyring": out["toolkit_keyring"]})
    return out


# ---- The role's whole plan (action homelab.nvidia_gpu.nvidia_repo_plan) ----

CUDA_SOURCES = "nvidia-cuda.sources"  # not cuda-*.list nor nvidia-container-toolkit.list: those are stale files
TOOLKIT_SOURCES = "nvidia-container-toolkit.sources"
# Stale NVIDIA sources: only files named like NVIDIA's own instructions name them, and only when an active line
# points at a tree this role manages (apt refuses two Signed-By values for one URI).
STALE_PATTERNS = ["cuda*.list", "cuda*.sources", "nvidia*.list", "nvidia*.sources", "libnvidia*.list",
                  "libnvidia*.sources"]
_URI_TAIL = r"/?(\s|$)"
_TOOLKIT_LEGACY = r"nvidia\.github\.io/(nvidia-docker|nvidia-container-runtime|libnvidia-container)"


def _stale_regex(tree: str, toolkit_base: str) -> str:
    """find's ``contains`` pattern: an active line (before any #) naming the CUDA tree or a toolkit repo, old or new."""
    parts = ([f"/{re.escape(tree)}{_URI_TAIL}"] if tree else []) + (
        [_TOOLKIT_LEGACY, re.escape(toolkit_base) + "/"] if toolkit_base else [])
    return f"(?m)^[^#\n]*({'|'.join(parts)})" if parts else ""


def role_plan(args: Mapping[str, Any], managed: str = "Ansible managed") -> dict:
    """Everything the nvidia_repo role does, decided once: ``files()`` over the role's variables (``args`` without
    the ``nvidia_repo_`` prefix), plus the files to write (their whole text, the managed comment first) and to
    remove, and what makes an older NVIDIA source stale. A refusal is ``ValueProblem`` naming the variable."""
    out = files({f"nvidia_repo_{key}": value for key, value in args.items()})
    remove_stale = _values.boolean(args.get("remove_stale", True), "nvidia_repo_remove_stale")
    head = "".join(line + "\n" for line in _apt_sources.comment_lines([f"{managed} (homelab.nvidia_gpu.nvidia_repo)"]))
    cuda_path, toolkit_path = f"{SOURCES_DIR}/{CUDA_SOURCES}", f"{SOURCES_DIR}/{TOOLKIT_SOURCES}"
    write, absent = [], []
    for text, path, keyring in ((out["cuda_sources"], cuda_path, out["cuda_keyring"]),
                                (out["toolkit_sources"], toolkit_path, out["toolkit_keyring"])):
        if text:
            write.append({"path": path, "content": head + text, **ROOT_OWNED})
        else:
            absent += [path, keyring]
    if out["pin"]:
        write.append({"path": PIN_FILE, "content": head + out["pin"], **ROOT_OWNED})
    else:
        absent.append(PIN_FILE)
    toolkit_base = _values.url(args.get("toolkit_base_url"), "nvidia_repo_toolkit_base_url").rstrip("/") \
        if out["toolkit_uri"] else ""
    regex = _stale_regex(out["tree"] if out["cuda_uri"] else "", toolkit_base)
    return {
        **out,
        "write": write,
        "absent": absent,
        "stale": {"find": bool(remove_stale and out["signing_keys"]), "patterns": STALE_PATTERNS,
                  "excludes": [CUDA_SOURCES, TOOLKIT_SOURCES], "regex": regex},
        "uris": [uri for uri in (out["cuda_uri"], out["toolkit_uri"]) if uri],
        # homelab.nvidia_gpu.apt_signing_key's keyrings: every key checked before the first keyring is written
        "keyrings": [{"url": key["url"], "fingerprints": [key["fingerprint"]], "dest": key["keyring"],
                      "name": f"{key['name']} key",
                      "hint": "No apt source was written. If NVIDIA rotated the key, check the new one out of band "
                              f"and set nvidia_repo_{key['name']}_key_fingerprint."}
                     for key in out["signing_keys"]],
    }
