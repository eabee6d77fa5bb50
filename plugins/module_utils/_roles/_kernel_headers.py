# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kernel_headers' decision: which kernels to prepare and which headers packages each needs (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _apt_sources, _signing_keys
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _lspci

# Raspberry Pi kernels: release suffix "+rpt-<flavour>" -> headers metapackage of that flavour. Flavours
# not listed fall back to linux-headers-<flavour>, the archive's naming rule.
RPI_FLAVOUR_PACKAGES = {
    "rpi-2712": "linux-headers-rpi-2712",  # Pi 5, 16K pages (the default kernel_2712.img)
    "rpi-v8": "linux-headers-rpi-v8",  # Pi 3/4/5, 4K pages (kernel8.img: what an NVIDIA GPU on a Pi 5 needs)
    "rpi-2712-rt": "linux-headers-rpi-2712-rt",
    "rpi-v8-rt": "linux-headers-rpi-v8-rt",
}
PI5_FLAVOUR = "rpi-v8"  # the flavour of the Pi 5's 4K-page kernel8.img
RPI_RELEASE = re.compile(r"^(?P<version>.+)\+rpt-(?P<flavour>rpi-[0-9a-z-]+)$")
# Debian/Ubuntu ABI releases: 6.1.0-26-amd64, 6.12.48+deb13-arm64, 6.8.0-45-generic -> flavour after the ABI.
DISTRO_RELEASE = re.compile(r"^[0-9]+\.[0-9]+(\.[0-9]+)?(-[0-9]+)?(\+deb[0-9]+)?-(?P<flavour>[a-z][0-9a-z-]*)$")
# The version part of a release, before its flavour: 6.1.0-26-amd64 -> amd64, 6.12.47+rpt-rpi-2712 -> rpi-2712.
VERSION_PREFIX = r"^[0-9][0-9.]*(-[0-9]+)?(\+deb[0-9]+)?(\+rpt)?-"


def flavour(release: str) -> str:
    return re.sub(VERSION_PREFIX, "", release, count=1)


def pi5_release(running: str) -> str:
    """The release of the Pi 5's 4K-page kernel next to the running Raspberry Pi OS kernel."""
    return re.sub(r"\+rpt-rpi-[0-9a-z-]+$", f"+rpt-{PI5_FLAVOUR}", running)


def packages(release: str, metapackage: bool = False) -> tuple[list[str], bool]:
    """Headers packages of one release, and whether they come from the Raspberry Pi archive."""
    rpi = RPI_RELEASE.match(release)
    if rpi:
        name = rpi.group("flavour")
        return [RPI_FLAVOUR_PACKAGES.get(name, f"linux-headers-{name}"), f"linux-headers-{release}"], True
    distro = DISTRO_RELEASE.match(release)
    extra = [f"linux-headers-{distro.group('flavour')}"] if metapackage and distro else []
    return [f"linux-headers-{release}", *extra], False


def headers_plan(running: str, kernels: Sequence[str] = (), include_running: bool = True,
                 installed_newer: Sequence[str] = (), pi5_active: bool = False, metapackage: bool = False,
                 repos: Mapping[str, str] | None = None) -> dict:
    """Targets: the named kernels, the running one, the installed-but-not-booted ones of the running
    flavour (a Pi 5 carries rpi-2712 and rpi-v8 kernels side by side) and, for a Pi 5 with a GPU, the
    4K-page kernel's release. Each target gets its packages and the archive they come from."""
    if not isinstance(running, str) or not running:
        raise ValueError("the running kernel release must be a non-empty string")
    same_flavour = re.compile(VERSION_PREFIX + re.escape(flavour(running)) + "$")
    pending = [r for r in installed_newer if same_flavour.search(r)]
    boot = pi5_release(running) if pi5_active else None
    targets = []
    for release in [*kernels, *([running] if include_running else []), *pending, *([boot] if boot else [])]:
        if release not in targets:
            targets.append(release)
    repos = repos or {}
    plan = []
    for release in targets:
        names, rpi = packages(release, metapackage)
        plan.append({"release": release, "packages": names, "repo": repos.get("raspberrypi" if rpi else "distro", "")})
    return {"pending": pending, "targets": targets, "plan": plan, "pi5_release": pi5_release(running)}


# ---- The role's whole plan (action homelab.nvidia_gpu.kernel_headers_plan) ----

PI5_BOOT_KERNEL = "kernel8.img"  # the Pi 5's 4K-page kernel on the boot partition
PI5_IMAGE_PACKAGE = "linux-image-rpi-v8"  # the package that puts it there
ARCHIVE_KEYRING = "raspberrypi-archive.gpg"
ARCHIVE_SOURCES = "/etc/apt/sources.list.d/raspberrypi-archive.sources"
ARCHIVE_KEY_FILE = "raspberrypi.gpg.key"
BOOT_MARKER = "# {mark} homelab.nvidia_gpu.kernel_headers: Pi 5 with an NVIDIA GPU"
_RELEASE_WORD = re.compile(r"^[0-9][^\s/]*$")


def observed(text: str) -> dict:
    """What ``files/host_state.sh`` printed, one ``<kind>\\t<value>`` a line: Raspberry Pi OS markers that exist, the
    board's device-tree model, installed kernels newer than the running one, whether apt's lists are fresh, the
    installed ``linux-headers-*``/``linux-image-*`` packages, and every line of the apt source files
    (``source\\t<path>\\t<line>``)."""
    out: dict = {"markers": [], "model": "", "pending": [], "fresh": False, "installed": [], "sources": {}}
    for line in re.split(r"\r?\n", str(text or "")):  # the script module over SSH has a tty: \r\n
        kind, _sep, value = line.partition("\t")
        if kind == "marker":
            out["markers"].append(value)
        elif kind == "model":
            out["model"] = value.replace("\x00", "").strip()
        elif kind == "pending" and value:
            out["pending"].append(value)
        elif kind == "fresh":
            out["fresh"] = True
        elif kind == "installed" and value:
            out["installed"].append(value)
        elif kind == "source":
            path, _sep, content = value.partition("\t")
            out["sources"].setdefault(path, []).append(content)
    return out


def _refuse(text: str) -> None:
    raise _values.ValueProblem(text)


def _archive(args: Mapping, release: str, managed: str) -> dict:
    """The Raspberry Pi archive's key, keyring and deb822 source, from checked values."""
    base = _values.url(args["raspberrypi_base_url"], "kernel_headers_raspberrypi_base_url").rstrip("/")
    try:
        fingerprint = _signing_keys.normalise_fingerprint(args["raspberrypi_key_fingerprint"] or "")
    except _signing_keys.BadFingerprint:
        fingerprint = ""
    if not re.fullmatch(r"[0-9A-F]{40}", fingerprint):
        _refuse(f"kernel_headers_raspberrypi_manage_repo is true but kernel_headers_raspberrypi_key_fingerprint is "
                f"'{args['raspberrypi_key_fingerprint']}': set the full 40-digit fingerprint of "
                f"{base}/{ARCHIVE_KEY_FILE}, checked out of band. Nothing is trusted without it.")
    keyring_dir = _values.absolute_path(args["raspberrypi_keyring_dir"], "kernel_headers_raspberrypi_keyring_dir")
    keyring = f"{keyring_dir.rstrip('/') or ''}/{ARCHIVE_KEYRING}"
    sources = _apt_sources.sources_file(
        [{"Types": ["deb"], "URIs": [args["raspberrypi_base_url"]], "Suites": [release], "Components": ["main"],
          "Signed-By": keyring}],
        {"URIs": "kernel_headers_raspberrypi_base_url", "Suites": "ansible_facts.distribution_release",
         "Signed-By": "kernel_headers_raspberrypi_keyring_dir"},
        [f"{managed} (homelab.nvidia_gpu.kernel_headers)",
         "Raspberry Pi archive (kernel headers); trusted only with the key checked against", f"{fingerprint}."])
    return {"base_url": base, "key_url": f"{base}/{ARCHIVE_KEY_FILE}", "fingerprint": fingerprint,
            "keyring_dir": keyring_dir, "keyring": keyring, "sources_path": ARCHIVE_SOURCES, "sources": sources}


def _names_archive(lines: Sequence[str], base: str) -> bool:
    """An active line (before any #) that names the archive's base URL, as apt would read it."""
    pattern = re.compile(r"^[^#\n]*" + re.escape(base) + r"/?(\s|$)")
    return any(pattern.search(line) for line in lines)


def boot_block(pciex1_gen: int) -> str:
    """The lines the role keeps at the end of a Pi 5's config.txt (under [all], so no board section swallows them)."""
    lines = ["[all]", f"kernel={PI5_BOOT_KERNEL}", "dtparam=pciex1"]
    if pciex1_gen > 0:
        lines.append(f"dtparam=pciex1_gen={pciex1_gen}")
    return "\n".join(lines) + "\n"


def role_plan(args: Mapping, facts: Mapping, host: Mapping, check_mode: bool = False,
              managed: str = "Ansible managed") -> dict:
    """Everything the kernel_headers role does, decided once.

    ``args``: the role's variables without the ``kernel_headers_`` prefix (types already checked by the argument
    spec); ``facts``: ``distribution``, ``distribution_release``; ``host``: ``observed()`` of the host. The
    refusals are ``ValueProblem`` sentences that name the variable and what is supported.
    """
    kernels = list(args.get("kernels") or [])
    bad = [k for k in kernels if not isinstance(k, str) or not _RELEASE_WORD.match(k)]
    gen = args.get("pciex1_gen", 0)
    if bad or gen not in (0, 1, 2, 3):
        _refuse(f"kernel_headers_kernels must be a list of kernel releases such as 6.1.0-26-amd64 (got {kernels}), "
                f"kernel_headers_pciex1_gen 0 (unset), 1, 2 or 3 (got {gen}).")
    running = _values.word(args.get("running_release"), "kernel_headers_running_release")
    release = _values.word(facts.get("distribution_release"), "ansible_facts.distribution_release")
    distribution = _values.single_line(facts.get("distribution"), "ansible_facts.distribution")
    manage = bool(args.get("raspberrypi_manage_repo"))
    is_pi_os = "+rpt-rpi-" in running or bool(host.get("markers"))
    platform = _lspci.platform_from(str(host.get("model", "")), [])
    pi5 = bool(args.get("pi5_gpu")) and platform == "raspberry_pi_5"
    warnings = []
    if args.get("pi5_gpu") and not pi5:
        path = args.get("device_tree_model_path", "/proc/device-tree/model")
        warnings.append(f"kernel_headers_pi5_gpu is true but {path} says '{host.get('model') or 'nothing'}', not a "
                        "Raspberry Pi 5 or Compute Module 5: the boot configuration is left alone.")
    if pi5 and "+rpt-rpi-" not in running:
        _refuse(f"This Pi 5 runs kernel {running}, not a Raspberry Pi OS kernel (+rpt-rpi-*): the 4K-page switch to "
                f"{PI5_BOOT_KERNEL} is only known to work with Raspberry Pi OS kernels.")
    archive = None
    in_place = True
    if is_pi_os and manage:
        archive = _archive(args, release, managed)
        others = sorted(path for path, lines in (host.get("sources") or {}).items()
                        if path != ARCHIVE_SOURCES and path.endswith((".list", ".sources"))
                        and _names_archive(lines, archive["base_url"]))
        if others:
            _refuse(f"{', '.join(others)} already configure {args['raspberrypi_base_url']}; a second source for it "
                    "with another Signed-By would break apt. Leave kernel_headers_raspberrypi_manage_repo false (the "
                    "default on Raspberry Pi OS) or remove those files.")
        in_place = (host.get("sources") or {}).get(ARCHIVE_SOURCES) == archive["sources"].split("\n")[:-1]
    repos = {
        "distro": f"the {distribution} archive ({release} main, or {release}-updates/-security for a newer ABI)",
        "raspberrypi": "the Raspberry Pi archive ({}, {} main)".format(
            args["raspberrypi_base_url"] if manage
            else "as configured in /etc/apt/sources.list.d/raspi.list or raspi.sources", release),
    }
    layout = headers_plan(running, kernels, bool(args.get("include_running", True)),
                          list(host.get("pending") or []) if args.get("include_pending", True) else [],
                          pi5, bool(args.get("metapackage")), repos)
    if not layout["targets"]:
        _refuse("No target kernel: kernel_headers_include_running is false, kernel_headers_kernels is empty and no "
                "newer kernel is installed. Name the releases in kernel_headers_kernels.")
    headers = list(dict.fromkeys(name for target in layout["plan"] for name in target["packages"]))
    boot_config = _values.absolute_path(args.get("boot_config_path", "/boot/firmware/config.txt"),
                                        "kernel_headers_boot_config_path")
    installed = set(host.get("installed") or [])
    missing = [name for name in headers + ([PI5_IMAGE_PACKAGE] if pi5 else []) if name not in installed]
    reboot_into = list(dict.fromkeys(layout["pending"] + ([layout["pi5_release"]] if pi5 else [])))
    return {
        "targets": layout["plan"],
        "releases": layout["targets"],
        "headers": headers,
        "packages": headers + ([PI5_IMAGE_PACKAGE] if pi5 else []),
        "raspberrypi_archive": archive is not None,
        "archive": archive or {},
        # the planned packages dpkg lacks: with none, apt's lists are neither refreshed nor read
        "missing": missing,
        # lists older than the valid time, or an archive whose source this run writes, are refreshed
        "refresh_lists": bool(missing) and (not host.get("fresh") or not in_place),
        # in check mode an archive this run only pretends to add has no packages to look up
        "resolvable": bool(missing) and not (check_mode and not in_place),
        "pi5_boot": pi5,
        "boot": {"config_path": boot_config, "kernel": PI5_BOOT_KERNEL,
                 "kernel_path": f"{boot_config.rsplit('/', 1)[0] or ''}/{PI5_BOOT_KERNEL}",
                 "image_package": PI5_IMAGE_PACKAGE, "marker": BOOT_MARKER, "block": boot_block(gen)},
        "reboot_required": bool(layout["pending"]) or (pi5 and layout["pi5_release"] != running),
        "reboot_into": reboot_into,
        "warnings": warnings,
    }
