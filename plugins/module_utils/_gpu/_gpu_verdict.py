# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Catalog lookup and the compatibility verdict: pure functions over the facts `_lspci` gathers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_catalog as catalog

BLOCKING = "blocking"
WARNING = "warning"
SEVERITY = {
    "pi5_proprietary_unsupported": BLOCKING,
    "pi5_16k_page_kernel": BLOCKING,
    "open_modules_unsupported": BLOCKING,
    "branch_too_new": BLOCKING,
    "nouveau_bound": BLOCKING,
    "no_gpu": BLOCKING,
    "pcie_link_degraded": WARNING,
    "unknown_gpu": WARNING,
}
PROBLEM_CODES = sorted(SEVERITY)
SELECTOR_KEYWORDS = ["all", BLOCKING, WARNING]
FLAVOURS = ["auto", "open", "proprietary"]
PI5_BRIDGE = "14e4:2712"
CUDA_13_MIN_CC = (7, 5)  # CUDA 13.0 dropped Maxwell, Pascal and Volta
CUDA_CEILING_PRE_TURING = "12.9"


# --- catalog -------------------------------------------------------------------------------------


def normalize_device_id(value) -> str | None:
    """`0x1BB3`, `1BB3`, `10de:1bb3`, 7091 -> `1bb3`; None if it is not a 16-bit id."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return f"{value:04x}" if 0 <= value <= 0xFFFF else None
    text = str(value or "").strip().lower()
    text = text.removeprefix("10de:").removeprefix("0x")
    return text if re.fullmatch(r"[0-9a-f]{4}", text) else None


def parse_supported_gpus(text: str, path: str) -> tuple[dict[str, dict], list[str]]:
    """supported-gpus.json -> {devid: entry}; errors are sentences, never exceptions."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        return {}, [f"{path} is not valid JSON ({exc}); using the built-in catalog"]
    chips = data.get("chips") if isinstance(data, dict) else None
    if not isinstance(chips, list):
        return {}, [f"{path} has no 'chips' list; using the built-in catalog"]
    entries: dict[str, dict] = {}
    for chip in chips:
        if not isinstance(chip, dict):
            continue
        devid = normalize_device_id(chip.get("devid"))
        if not devid:
            continue
        features = chip.get("features") if isinstance(chip.get("features"), list) else []
        legacy = re.match(r"\s*(\d+)", str(chip.get("legacybranch") or ""))
        entry = {
            "name": chip.get("name") if isinstance(chip.get("name"), str) else None,
            "open_modules": "kernelopen" in features,
            "last_branch": int(legacy.group(1)) if legacy else None,
            "subdevid": normalize_device_id(chip.get("subdevid")),
            "source": path,
        }
        # The plain entry (no subsystem id) is the one that speaks for the chip.
        if devid not in entries or (entries[devid]["subdevid"] and not entry["subdevid"]):
            entries[devid] = entry
    return entries, []


def load_supported_gpus(paths: Iterable[str]) -> tuple[dict[str, dict], list[str]]:
    """The first readable supported-gpus.json of `paths` (the driver's own list), else {}."""
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError:
            continue
        except UnicodeDecodeError as exc:  # the driver's file is JSON, so UTF-8; anything else is damaged
            return {}, [f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); using the built-in catalog"]
        return parse_supported_gpus(text, path)
    return {}, []


def lookup(device_id, supported: dict[str, dict] | None = None) -> dict:
    """Catalog entry for an NVIDIA device id: the catalog, else an id range; supported-gpus.json wins.

    `source` says where it came from: `catalog`, `catalog id range`, `unknown`, or the JSON file's path.
    """
    devid = normalize_device_id(device_id)
    entry: dict = {"name": None, "architecture": None, "compute_capability": None, "open_modules": None,
                   "last_branch": None, "source": "unknown"}
    if devid in catalog.CATALOG:
        entry.update(catalog.CATALOG[devid], source="catalog")
    elif devid:
        number = int(devid, 16)
        for span in catalog.ID_RANGES:
            if span["first"] <= number <= span["last"]:
                entry.update({k: span[k] for k in ("architecture", "compute_capability", "open_modules",
                                                   "last_branch")}, source="catalog id range")
                break
    driver = (supported or {}).get(devid or "")
    if driver:
        entry["name"] = driver["name"] or entry["name"]
        entry["open_modules"] = driver["open_modules"]
        # A driver's list names a legacy branch only for cards it dropped; else keep what the catalog knows.
        entry["last_branch"] = driver["last_branch"] if driver["last_branch"] is not None else entry["last_branch"]
        entry["source"] = driver["source"]
    return entry


def cuda_ceiling(compute_capability: str | None) -> str | None:
    """Newest CUDA release for a compute capability: "12.9" below 7.5, None (current) otherwise or unknown."""
    match = re.match(r"(\d+)\.(\d+)", compute_capability or "")
    if not match:
        return None
    return CUDA_CEILING_PRE_TURING if (int(match.group(1)), int(match.group(2))) < CUDA_13_MIN_CC else None


def allowed_branches(max_branch: int | None) -> str:
    return f"<={max_branch}" if max_branch is not None else "any"


# --- verdict -------------------------------------------------------------------------------------


def problem(code: str, message: str, gpu: str | None = None) -> dict:
    return {"code": code, "severity": SEVERITY[code], "gpu": gpu, "message": message}


def _card(gpu: dict) -> str:
    cat = gpu.get("catalog") or {}
    name = cat.get("name") or gpu.get("device_name") or f"GPU 10de:{gpu.get('device_id')}"
    arch = f" ({cat['architecture']})" if cat.get("architecture") else ""
    return f"{name}{arch} at {gpu.get('address')}"


def _speed(value) -> str:
    return "?" if value is None else f"{value:g} GT/s"


def _width(value) -> str:
    return "?" if value is None else f"x{value}"


def gpu_verdict(
    gpu: dict, platform: str = "generic", flavour: str = "auto", driver_branch: int | None = None
) -> dict:
    """Verdict for one GPU (with its `catalog` entry): flavour, branches, CUDA ceiling, problems."""
    cat = gpu.get("catalog") or {}
    address = gpu.get("address")
    card = _card(gpu)
    open_ok = cat.get("open_modules")
    last = cat.get("last_branch")
    problems = []
    if cat.get("source") in ("catalog id range", "unknown"):
        ident = f"10de:{gpu.get('device_id')} at {address}"
        if cat.get("architecture"):
            problems.append(problem("unknown_gpu", (
                f"The GPU {ident} is not in the catalog; judging it as {cat['architecture']} (compute capability"
                f" {cat['compute_capability']}) from its id range. Install NVIDIA's supported-gpus.json"
                " (package nvidia-driver-assistant) or add the id to the collection's catalog."), address))
        else:
            problems.append(problem("unknown_gpu", (
                f"The GPU {ident} is not in the catalog and its id is in no known range: the kernel-module flavour,"
                " driver branch and CUDA limits are unknown. Install NVIDIA's supported-gpus.json (package"
                " nvidia-driver-assistant) or add the id to the collection's catalog."), address))
    if platform == "raspberry_pi_5":
        if open_ok is False:
            problems.append(problem("pi5_proprietary_unsupported", (
                "The proprietary NVIDIA driver refuses the Raspberry Pi 5's Broadcom PCIe host bridge"
                f" ({PI5_BRIDGE}, \"NVRM: Chipset not recognized\"), and the {card} needs the proprietary kernel"
                " modules, so it cannot work on this host. Move it to an x86_64 host, or use a Turing-or-newer"
                " card with the open kernel modules on a 4K-page kernel."), address))
        elif flavour == "proprietary":
            problems.append(problem("pi5_proprietary_unsupported", (
                "The proprietary NVIDIA driver refuses the Raspberry Pi 5's Broadcom PCIe host bridge"
                f" ({PI5_BRIDGE}, \"NVRM: Chipset not recognized\"). The {card} supports the open kernel modules:"
                " set kernel_module_flavour to open (or auto) and use a 4K-page kernel."), address))
    if flavour == "open" and open_ok is False:
        problems.append(problem("open_modules_unsupported", (
            f"The open NVIDIA kernel modules do not support the {card}: they need a Turing or newer GPU."
            " Use the proprietary modules (kernel_module_flavour: proprietary or auto)."), address))
    if driver_branch is not None and last is not None and driver_branch > last:
        problems.append(problem("branch_too_new", (
            f"Driver branch {driver_branch} does not support the {card}: its last branch is {last}."
            f" Pin the driver to branch {last} or older."), address))
    if gpu.get("driver") == "nouveau":
        problems.append(problem("nouveau_bound", (
            f"The nouveau driver is bound to the {card}, so the NVIDIA driver cannot take it. Blacklist nouveau"
            " ('blacklist nouveau' and 'options nouveau modeset=0' in /etc/modprobe.d/), rebuild the initramfs"
            " and reboot."), address))
    link = gpu.get("link") or {}
    if link.get("degraded"):
        problems.append(problem("pcie_link_degraded", (
            f"The {card} trained its PCIe link at {_speed(link.get('current_speed'))}"
            f" {_width(link.get('current_width'))}, below its maximum of {_speed(link.get('max_speed'))}"
            f" {_width(link.get('max_width'))}. A narrower width means a narrower slot, riser or adapter (expected"
            " on a Raspberry Pi 5's x1 connector); a GPU lowers its speed when idle, so check the speed under"
            " load."), address))
    return {
        "module_flavour": None if open_ok is None else ("open" if open_ok else "proprietary"),
        "max_branch": last,
        "allowed_branches": allowed_branches(last),
        "cuda_ceiling": cuda_ceiling(cat.get("compute_capability")),
        "problems": problems,
    }


def _lowest_version(versions: Iterable[str]) -> str | None:
    found = [v for v in versions if v]
    return min(found, key=lambda v: tuple(int(p) for p in v.split("."))) if found else None


def host_verdict(
    gpus: list[dict],
    platform: str = "generic",
    page_size: int | None = 4096,
    require_gpu: bool = False,
) -> dict:
    """Verdict for the host from its GPUs' verdicts (each GPU carries `verdict`)."""
    verdicts = [g["verdict"] for g in gpus]
    problems = [p for v in verdicts for p in v["problems"]]
    if not gpus and require_gpu:
        problems.append(problem("no_gpu", (
            "No NVIDIA GPU is enumerated on the PCI bus. For an external GPU, power on its PSU and the GPU first,"
            " then boot the host (or rescan the bus: echo 1 > /sys/bus/pci/rescan). Check the riser cable or"
            " adapter, and on a Raspberry Pi 5 set dtparam=pciex1 in /boot/firmware/config.txt.")))
    if platform == "raspberry_pi_5" and (gpus or require_gpu) and page_size and page_size != 4096:
        problems.insert(0, problem("pi5_16k_page_kernel", (
            f"This Raspberry Pi 5 runs a kernel with {page_size}-byte pages; the NVIDIA driver needs 4K pages"
            " (it fails with \"memmgrDeterminePageSize failed\"). Set kernel=kernel8.img in"
            " /boot/firmware/config.txt, install linux-headers-rpi-v8 and reboot.")))
    flavours = {v["module_flavour"] for v in verdicts}
    if "proprietary" in flavours:
        flavour = "proprietary"  # one pre-Turing card decides for the host: both flavours cannot be loaded
    elif flavours == {"open"}:
        flavour = "open"
    else:
        flavour = None
    branches = [v["max_branch"] for v in verdicts if v["max_branch"] is not None]
    max_branch = min(branches) if branches else None
    return {
        "module_flavour": flavour,
        "max_branch": max_branch,
        "allowed_branches": allowed_branches(max_branch),
        "cuda_ceiling": _lowest_version(v["cuda_ceiling"] for v in verdicts),
        "problems": problems,
        "can_work": not any(p["severity"] == BLOCKING for p in problems),
    }


def judge(
    gpus: list[dict],
    host: dict,
    supported: dict[str, dict] | None = None,
    flavour: str = "auto",
    driver_branch: int | None = None,
    require_gpu: bool = False,
) -> tuple[list[dict], dict]:
    """Add `catalog` and `verdict` to each GPU and `verdict` to the host; inputs are not modified."""
    platform = host.get("platform", "generic")
    judged = []
    for gpu in gpus:
        gpu = dict(gpu, catalog=lookup(gpu.get("device_id"), supported))
        gpu["verdict"] = gpu_verdict(gpu, platform, flavour, driver_branch)
        judged.append(gpu)
    host = dict(host, verdict=host_verdict(judged, platform, host.get("page_size"), require_gpu))
    return judged, host


def select(problems: Iterable[dict], selectors: Iterable[str]) -> list[dict]:
    """Problems matched by codes or the keywords `all`, `blocking`, `warning`."""
    wanted = set(selectors)
    return [
        p for p in problems
        if "all" in wanted or p["code"] in wanted or p["severity"] in wanted
    ]
