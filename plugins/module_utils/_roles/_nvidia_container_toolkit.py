# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nvidia_container_toolkit's decision (pure): the pinned packages, the engines to register the runtime with,
the CDI spec and the /dev/char symlinks, and what the checks expect.

The action plugin `nvidia_container_toolkit_plan` validates its arguments against its doc stub's options and
calls `plan`; the role's tasks only act on what it returns. The GPU verdict is read from `nvidia_gpu_plan`, never made
again here.
"""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _apt_policy, _nvidia_ctk

# The four packages that must move together (the toolkit depends on "= V" of base and tools; unpinned installs
# skew, upstream #1091/#1100). The first one decides what "latest" means.
PACKAGES = ("nvidia-container-toolkit", "nvidia-container-toolkit-base", "libnvidia-container-tools",
            "libnvidia-container1")
TOML_PACKAGE = "python3-tomlkit"  # the nvidia_ctk module edits containerd's and cri-o's TOML with tomlkit
# Per engine, in restart order (containerd first: dockerd talks to it): its service, the binary that shows it is
# installed, and whether its config is TOML.
ENGINES = {
    "containerd": {"service": "containerd", "binary": "containerd", "toml": True},
    "docker": {"service": "docker", "binary": "dockerd", "toml": False},
    "crio": {"service": "crio", "binary": "crio", "toml": True},
}
# nvidia-container-toolkit-base 1.18 and later ship these units; they regenerate /var/run/cdi/nvidia.yaml.
REFRESH_UNITS_SINCE = (1, 18)
REFRESH_UNITS = [{"name": "nvidia-cdi-refresh.path", "state": "started"}, {"name": "nvidia-cdi-refresh.service"}]
CDI_OUTPUT_REFRESHED = "/var/run/cdi/nvidia.yaml"  # upstream's place, regenerated at boot and on driver changes
CDI_OUTPUT_STATIC = "/etc/cdi/nvidia.yaml"  # a persistent one where nothing regenerates it
# /dev/char symlinks: containers keep the GPU across `systemctl daemon-reload` with the systemd cgroup driver.
NVIDIA_CTK = "/usr/bin/nvidia-ctk"
DEV_CHAR_ARGS = ["system", "create-dev-char-symlinks", "--create-all"]
DEV_CHAR_UDEV_RULE = "/etc/udev/rules.d/71-nvidia-dev-char.rules"
DEV_CHAR_UNIT = "nvidia-dev-char-symlinks.service"
DPKG_FORMAT = "${db:Status-Abbrev}${Version}\\n"
_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+~:-]*-[0-9A-Za-z.+~]+$")
_MAJOR_MINOR = re.compile(r"^(\d+)\.(\d+)")


def target_version(version: str, policy_text: str, check_mode: bool) -> tuple[str, str]:
    """(the Debian version all four are pinned to, or '' when apt cannot say yet in check mode; a note)."""
    if version != "latest" and not _VERSION.match(version):
        raise ValueError(f"nvidia_container_toolkit_version is {version!r}: use 'latest' or a full Debian version "
                         "such as 1.18.1-1")
    known = _apt_policy.parse(policy_text, [PACKAGES[0]])[PACKAGES[0]]
    target = known["candidate"] if version == "latest" else version
    if target in known["versions"]:
        return target, ""
    if not check_mode:
        versions = ", ".join(known["versions"]) or "none"
        raise ValueError(f"apt has no {PACKAGES[0]} {version}. Known versions: {versions}. Is the NVIDIA "
                         "Container Toolkit repo set up (nvidia_container_toolkit_manage_repo, role "
                         "homelab.nvidia_gpu.nvidia_repo)?")
    return "", (f"Check mode: apt does not know the NVIDIA Container Toolkit repo yet (it would be added first), so "
                f"{', '.join(PACKAGES)} {version} would be installed and held.")


def ships_refresh_units(version: str) -> bool:
    match = _MAJOR_MINOR.match(_apt_policy.upstream_version(version))
    return bool(match) and (int(match.group(1)), int(match.group(2))) >= REFRESH_UNITS_SINCE


def engines(args: dict[str, Any], check_mode: bool) -> tuple[list[dict[str, Any]], str]:
    """The engines to register the runtime with (listed and installed), and a check-mode note on the others."""
    found = {b.rsplit("/", 1)[-1] for b in args["engines_found"]}
    listed = list(dict.fromkeys(args["runtimes"]))
    missing = [name for name in listed if ENGINES[name]["binary"] not in found]
    if missing:
        binaries = ", ".join(ENGINES[name]["binary"] for name in missing)
        if not check_mode:
            raise ValueError(f"nvidia_container_toolkit_runtimes lists {', '.join(missing)}, which is not installed "
                             f"(no {binaries} on PATH). Install it first (role homelab.nvidia_gpu.container_runtime) "
                             "or drop it from the list")
    note = (f"Check mode: {', '.join(missing)} not installed yet: their NVIDIA runtime entries are judged on a real "
            "run." if missing else "")
    chosen = []
    for name, engine in ENGINES.items():
        if name in listed and name not in missing:
            _nvidia_ctk.check_request(_nvidia_ctk.Request(
                runtime=name, runtime_name=args["runtime_name"],
                drop_in_path=args["containerd_drop_in"] if name == "containerd" else None))
            entry = {"runtime": name, "service": engine["service"], "toml": engine["toml"]}
            if name == "containerd":
                entry["drop_in_path"] = args["containerd_drop_in"]
            chosen.append(entry)
    return chosen, note


def gpu_note(gpu_plan: dict[str, Any]) -> str:
    if gpu_plan.get("gpu_simulated"):
        names = ", ".join(gpu_plan.get("gpu_names") or []) or "unknown GPU"
        why = (f"The NVIDIA GPU(s) of the GPU plan ({names}) are simulated (nvidia_gpu_host.simulated: read from an "
               "lspci dump, not found on the PCI bus), so they count as absent:")
    else:
        why = "No NVIDIA GPU found (nvidia_gpu_plan.gpu_present is false):"
    return (f"{why} CDI spec generation, the CDI refresh units and the /dev/char symlinks are skipped. Rerun the role "
            "once a GPU and its driver are in place.")


def plan(args: dict[str, Any], check_mode: bool = False) -> dict[str, Any]:
    """Everything the role's tasks act on; ValueError with one sentence for a request it refuses."""
    target, install_note = target_version(args["version"], args["apt_policy"], check_mode)
    registered, engines_note = engines(args, check_mode)
    gpu = args["gpu_plan"]
    # GPUs read from an lspci dump (the lab's test seam) are not on this bus: no device node or driver exists for
    # them, so the CDI spec and /dev/char links cannot be made.
    gpu_present = bool(gpu.get("gpu_present")) and not gpu.get("gpu_simulated")
    wants_gpu_steps = args["cdi_spec"] or args["dev_char_symlinks"]
    refresh = ships_refresh_units(target)
    cdi_output = args["cdi_output"] or (CDI_OUTPUT_REFRESHED if refresh else CDI_OUTPUT_STATIC)
    dev_char_state = ("present" if gpu_present else "skipped") if args["dev_char_symlinks"] else "absent"
    names = {entry["runtime"] for entry in registered}
    skipped = "" if gpu_present or not wants_gpu_steps else gpu_note(gpu)
    return {
        "version": target,
        "packages": [f"{name}={target}" for name in PACKAGES] if target else list(PACKAGES),
        "toml_packages": [TOML_PACKAGE] if any(ENGINES[name]["toml"] for name in args["runtimes"]) else [],
        "notes": [note for note in (install_note, engines_note, skipped) if note],
        "runtimes": registered,
        "runtime": {"name": args["runtime_name"], "set_as_default": args["set_as_default"], "cdi": args["cdi"]},
        "backup": args["backup"],
        "gpu_present": gpu_present,
        "cdi": {
            "generate": gpu_present and args["cdi_spec"],
            "output": cdi_output,
            "refresh_units": REFRESH_UNITS if refresh else [],
            "note": "" if refresh else (f"nvidia-container-toolkit {target} ships no nvidia-cdi-refresh units (1.18+): "
                                        "the CDI spec is regenerated only when this role runs."),
        },
        "dev_char": {
            "state": dev_char_state,
            "udev_rule": DEV_CHAR_UDEV_RULE,
            "unit": DEV_CHAR_UNIT,
            "unit_path": f"/etc/systemd/system/{DEV_CHAR_UNIT}",
            "ctk": NVIDIA_CTK,
            "command": " ".join([NVIDIA_CTK, *DEV_CHAR_ARGS]),
        },
        "verify": {
            "run": not check_mode,
            "dpkg_argv": ["dpkg-query", "--show", f"--showformat={DPKG_FORMAT}", "--", *PACKAGES],
            "dpkg_lines": [f"hi {target}"] * len(PACKAGES),
            "ctk_version": f"version {_apt_policy.upstream_version(target)}",
            "docker": "docker" in names,
            "docker_runtime": f'"{args["runtime_name"]}"',
            "docker_default": f" {args['runtime_name']}" if args["set_as_default"] else "",
            "containerd": "containerd" in names,
            "containerd_runtime": f".runtimes.{args['runtime_name']}]",
        },
    }
