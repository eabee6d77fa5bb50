# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the PCI bus the way the NVIDIA driver will see it: pure parsers and readers.

Every reader takes its root path (sysfs, procfs, device tree, modprobe.d) so that tests can point it
at a temporary tree. Parsers never raise on bad input: they return what they could read plus a list
of plain-language errors.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable

NVIDIA_VENDOR_ID = "10de"
PI5_HOST_BRIDGE = ("14e4", "2712")

# `-vmm` is the stable machine-readable form; `-nn` adds [ids], `-D` the PCI domain, `-k` driver/modules.
LSPCI_VMM_ARGS = ["-vmm", "-nn", "-D", "-k"]
# Only for link facts when sysfs has none (config-space dumps, or no sysfs entry).
LSPCI_VV_ARGS = ["-vv", "-nn", "-D"]

_ADDRESS_RE = re.compile(r"^(?:([0-9a-fA-F]{4,8}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$")
_NAME_ID_RE = re.compile(r"^(?P<name>.*?)\s*\[(?P<id>[0-9a-fA-F]{4})\]$")
_SPEED_RE = re.compile(r"(?a)(?<![-\d.])(\d{1,6}(?:\.\d{1,6})?)\s*GT/s")
_VV_HEADER_RE = re.compile(r"^(?P<address>(?:[0-9a-fA-F]{4,8}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])\s")
_VV_LINK_RE = re.compile(
    r"^\s+(?P<kind>LnkCap|LnkSta):.*?Speed (?P<speed>[^,\s]+)(?:\s*\([^)]*\))?,\s*Width x(?P<width>\d+)"
)
# PCIe links are x1 to x32 wide and run at 2.5 (gen 1) to 128 GT/s (gen 7); anything else is a misread.
MIN_WIDTH, MAX_WIDTH = 1, 32
MAX_SPEED = 128.0
# At most this many parse errors become warnings; the rest are counted.
MAX_ERRORS = 5
UNREADABLE = "lspci's output could not be read"


def lspci_command(lspci_path: str, dump: str | None = None, verbose_links: bool = False) -> list[str]:
    """The argv for lspci; `dump` reads a config-space dump (`lspci -F`) instead of the live bus."""
    argv = [lspci_path, *(LSPCI_VV_ARGS if verbose_links else LSPCI_VMM_ARGS)]
    if dump:
        argv += ["-F", dump]
    return argv


def normalize_address(raw: str) -> str | None:
    """`01:00.0` or `0000:01:00.0` -> `0000:01:00.0`; None if it is not a PCI address."""
    match = _ADDRESS_RE.match(raw.strip())
    if not match:
        return None
    domain, bus, dev, func = match.groups()
    return f"{(domain or '0000').lower()}:{bus.lower()}:{dev.lower()}.{func}"


def split_name_id(value: str) -> tuple[str | None, str | None]:
    """`NVIDIA Corporation [10de]` -> ('NVIDIA Corporation', '10de'); no id -> (value, None)."""
    value = value.strip()
    match = _NAME_ID_RE.match(value)
    if not match:
        return (value or None), None
    return (match.group("name") or None), match.group("id").lower()


def parse_vmm(text: str) -> tuple[list[dict], list[str]]:
    """Parse `lspci -vmm -nn -D -k` output into device records and a list of errors.

    A record is kept only if it has a valid Slot and vendor/device ids and a 4-digit class;
    anything else becomes an error sentence, never an exception.
    """
    devices: list[dict] = []
    errors: list[str] = []
    for number, block in enumerate(re.split(r"\n\s*\n", text or ""), start=1):
        fields: dict[str, list[str]] = {}
        for line in block.splitlines():
            if not line.strip():
                continue
            key, sep, value = line.partition(":")
            if not sep or not key.strip() or " " in key.strip():
                errors.append(f"lspci record {number}: unreadable line {line.strip()[:80]!r}")
                continue
            fields.setdefault(key.strip(), []).append(value.strip())
        if not fields:
            continue
        device = _vmm_record(fields)
        if isinstance(device, str):
            errors.append(f"lspci record {number}: {device}; record skipped")
        else:
            devices.append(device)
    return devices, errors


def _vmm_record(fields: dict[str, list[str]]) -> dict | str:
    def first(key: str) -> str:
        return fields.get(key, [""])[0]

    address = normalize_address(first("Slot"))
    if not address:
        return f"no valid Slot (got {first('Slot')[:40]!r})"
    class_name, class_id = split_name_id(first("Class"))
    vendor_name, vendor_id = split_name_id(first("Vendor"))
    device_name, device_id = split_name_id(first("Device"))
    if not (class_id and vendor_id and device_id):
        return f"{address} lacks class, vendor or device id (run lspci with -nn)"
    subsystem_vendor_name, subsystem_vendor_id = split_name_id(first("SVendor"))
    subsystem_name, subsystem_device_id = split_name_id(first("SDevice"))
    return {
        "address": address,
        "class_id": class_id,
        "class_name": class_name,
        "vendor_id": vendor_id,
        "vendor_name": vendor_name,
        "device_id": device_id,
        "device_name": device_name,
        "subsystem_vendor_id": subsystem_vendor_id,
        "subsystem_vendor_name": subsystem_vendor_name,
        "subsystem_device_id": subsystem_device_id,
        "subsystem_name": subsystem_name,
        "revision": first("Rev") or None,
        "driver": first("Driver") or None,
        "kernel_modules": [m for value in fields.get("Module", []) for m in re.split(r"[,\s]+", value) if m],
    }


def parse_speed(value: str | None) -> float | None:
    """`8.0 GT/s PCIe`, `8 GT/s`, `8GT/s` -> 8.0; `Unknown`, junk or outside (0, 128] GT/s -> None."""
    match = _SPEED_RE.search(value or "")
    if not match:
        return None
    speed = float(match.group(1))
    return speed if 0 < speed <= MAX_SPEED else None


def parse_width(value: str | None) -> int | None:
    """`16` or `x16` -> 16; junk or outside x1..x32 (0 is a link that is down) -> None."""
    match = re.fullmatch(r"(?a)\s*x?(\d{1,6})\s*", value or "")
    if not match:
        return None
    width = int(match.group(1))
    return width if MIN_WIDTH <= width <= MAX_WIDTH else None


def _link_value(kind: str, raw: str | None, where: str, errors: list[str] | None) -> float | int | None:
    """Parse a link speed or width; a value that is there but out of range is reported, not trusted."""
    parsed = parse_speed(raw) if kind.endswith("speed") else parse_width(raw)
    text = (raw or "").strip()
    if parsed is None and text and text.lower() != "unknown" and errors is not None:
        bounds = f"x{MIN_WIDTH} to x{MAX_WIDTH}" if kind.endswith("width") else f"up to {MAX_SPEED:g} GT/s"
        errors.append(f"{where}: {kind} {text[:40]!r} is unreadable (a PCIe link is {bounds}); reported as unknown")
    return parsed


def link_facts(current_speed, current_width, max_speed, max_width) -> dict:
    """The link dict; degraded when either the speed or the width trained below its maximum."""
    degraded = any(
        cur is not None and top is not None and cur < top
        for cur, top in ((current_speed, max_speed), (current_width, max_width))
    )
    return {
        "current_speed": current_speed,
        "current_width": current_width,
        "max_speed": max_speed,
        "max_width": max_width,
        "degraded": degraded,
    }


def parse_vv_links(text: str, errors: list[str] | None = None) -> dict[str, dict]:
    """Link facts from `lspci -vv -D` (LnkCap = maximum, LnkSta = current), by address.

    Out-of-range speeds and widths become None, and a sentence in `errors` when it is given.
    """
    raw: dict[str, dict] = {}
    address = None
    for line in (text or "").splitlines():
        header = _VV_HEADER_RE.match(line)
        if header:
            address = normalize_address(header.group("address"))
            continue
        match = _VV_LINK_RE.match(line)
        if address and match:
            prefix = "max" if match.group("kind") == "LnkCap" else "current"
            entry = raw.setdefault(address, {})
            kind = match.group("kind")
            entry[f"{prefix}_speed"] = _link_value(f"{kind} speed", match.group("speed"), f"lspci {address}", errors)
            entry[f"{prefix}_width"] = _link_value(f"{kind} width", match.group("width"), f"lspci {address}", errors)
    return {
        addr: link_facts(v.get("current_speed"), v.get("current_width"), v.get("max_speed"), v.get("max_width"))
        for addr, v in raw.items()
    }


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def _link_basename(path: str) -> str | None:
    try:
        return os.path.basename(os.readlink(path)) or None
    except OSError:
        return None


def read_sysfs_device(sysfs_root: str, address: str, errors: list[str] | None = None) -> dict:
    """What sysfs knows and lspci does not say: link, NUMA node, IOMMU group, bound driver.

    Missing files give None (and `present: False` when the device has no sysfs entry at all); out-of-range
    link values give None and a sentence in `errors` when it is given.
    """
    base = os.path.join(sysfs_root, "bus", "pci", "devices", address)

    def value(name: str) -> str | None:
        text = _read_text(os.path.join(base, name))
        return text.strip() if text is not None else None

    numa = value("numa_node")
    # The kernel allows at most 1024 NUMA nodes; ASCII digits only (int() takes other scripts' digits).
    numa_node = int(numa) if numa and re.fullmatch(r"(?a)\d{1,4}", numa) and int(numa) < 1024 else None
    group = _link_basename(os.path.join(base, "iommu_group"))
    has_link = value("max_link_speed") is not None or value("current_link_speed") is not None
    where = f"sysfs {address}"
    return {
        "present": os.path.isdir(base),
        "link": link_facts(
            *(_link_value(name, value(name), where, errors)
              for name in ("current_link_speed", "current_link_width", "max_link_speed", "max_link_width"))
        )
        if has_link
        else None,
        "numa_node": numa_node,
        "iommu_group": int(group) if group and re.fullmatch(r"(?a)\d{1,9}", group) else None,
        "driver": _link_basename(os.path.join(base, "driver")),
    }


def read_device_tree_model(device_tree_root: str) -> str | None:
    """`/proc/device-tree/model` without its trailing NUL; None where there is no device tree."""
    text = _read_text(os.path.join(device_tree_root, "model"))
    if text is None:
        return None
    return text.replace("\x00", "").strip() or None


def platform_from(model: str | None, host_bridges: Iterable[dict]) -> str:
    """`raspberry_pi_5` (device-tree model or the BCM2712 PCIe bridge), `raspberry_pi_4`, `_3` or `generic`."""
    model = model or ""
    if re.match(r"Raspberry Pi (5|Compute Module 5)\b", model) or any(
        (b.get("vendor_id"), b.get("device_id")) == PI5_HOST_BRIDGE for b in host_bridges
    ):
        return "raspberry_pi_5"
    if re.match(r"Raspberry Pi (4|400|Compute Module 4)\b", model):
        return "raspberry_pi_4"
    if re.match(r"Raspberry Pi (3|Compute Module 3)\b", model):
        return "raspberry_pi_3"
    return "generic"


def host_bridges(devices: list[dict]) -> list[dict]:
    """Host bridges (class 0600); on SoCs without one, the root ports on bus 00 (the Pi 5's 14e4:2712)."""
    hosts = [d for d in devices if d["class_id"] == "0600"]
    domains = {d["address"].split(":")[0] for d in hosts}
    roots = [
        d
        for d in devices
        if d["class_id"] == "0604" and d["address"].split(":")[1] == "00" and d["address"].split(":")[0] not in domains
    ]
    return [
        {"address": d["address"], "vendor_id": d["vendor_id"], "device_id": d["device_id"], "name": d["device_name"]}
        for d in sorted(hosts + roots, key=lambda d: d["address"])
    ]


def nvidia_gpus(devices: list[dict]) -> list[dict]:
    """NVIDIA functions of display class (03xx): VGA 0300, 3D 0302 (not their audio/USB functions)."""
    return [d for d in devices if d["vendor_id"] == NVIDIA_VENDOR_ID and d["class_id"].startswith("03")]


def nouveau_state(proc_root: str, sysfs_root: str, modprobe_dir: str, drivers: Iterable[str | None]) -> dict:
    """Is nouveau loaded, bound to an NVIDIA GPU, blacklisted (modprobe.d or kernel command line)?"""
    modules = _read_text(os.path.join(proc_root, "modules")) or ""
    loaded = any(line.split()[:1] == ["nouveau"] for line in modules.splitlines()) or os.path.isdir(
        os.path.join(sysfs_root, "module", "nouveau")
    )
    blacklisted = False
    try:
        names = sorted(os.listdir(modprobe_dir))
    except OSError:
        names = []
    for name in names:
        if not name.endswith(".conf"):
            continue
        for line in (_read_text(os.path.join(modprobe_dir, name)) or "").splitlines():
            words = line.split("#", 1)[0].split()
            if words[:2] == ["blacklist", "nouveau"] or words[:2] == ["install", "nouveau"]:
                blacklisted = True
    cmdline = _read_text(os.path.join(proc_root, "cmdline")) or ""
    for word in cmdline.split():
        key, _sep, value = word.partition("=")
        if key in ("modprobe.blacklist", "module_blacklist") and "nouveau" in value.split(","):
            blacklisted = True
    return {"loaded": loaded, "bound": any(d == "nouveau" for d in drivers), "blacklisted": blacklisted}


Runner = Callable[[list[str]], tuple[int, str, str]]
OUTPUT_STATES = ("ok", "partial", "unreadable")


class LspciError(Exception):
    """lspci could not be run or failed; the message says what to do."""


def _excerpt(text: str, limit: int = 80) -> str:
    """A short quoted excerpt, control characters escaped, so junk cannot garble the message."""
    text = " ".join(text.split())
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def output_state(
    argv: list[str], out: str, err: str, devices: list[dict], errors: list[str], dump: str | None = None
) -> tuple[str, list[str]]:
    """How well lspci's rc-0 output read: (`ok` | `partial` | `unreadable`, warnings to give).

    `unreadable` means no device record could be read, so nothing can be said about a GPU; `partial`
    means some records were skipped (the GPU may have been one of them). Errors are capped at MAX_ERRORS.
    """
    command = " ".join(argv)
    unknown = "whether an NVIDIA GPU is present is unknown"
    if not (out or "").strip():
        if (err or "").strip():
            return "unreadable", [f"{UNREADABLE}: {command} printed no device record (rc 0) and said on stderr"
                                  f" {_excerpt(err)}; {unknown}."]
        if dump:
            return "unreadable", [f"{UNREADABLE}: {command} printed nothing, so the dump {dump} holds no device"
                                  f" in lspci -xxx format; {unknown}."]
        return "ok", []  # a bus with no PCI device at all (no PCIe on this board)
    if not devices:
        lines = len(out.splitlines())
        return "unreadable", [f"{UNREADABLE}: no PCI device record in its {lines} line(s), which start"
                              f" {_excerpt(out)}; {unknown}. Run '{command}' on the host and check what it prints."]
    if errors:
        shown = [f"{UNREADABLE} in full: {len(errors)} line(s) or record(s) were skipped, so a GPU may be"
                 " missing from these facts.", *errors[:MAX_ERRORS]]
        if len(errors) > MAX_ERRORS:
            shown.append(f"... and {len(errors) - MAX_ERRORS} more unreadable lspci lines or records")
        return "partial", shown
    return "ok", []


def collect(
    run: Runner,
    lspci_path: str,
    dump: str | None = None,
    sysfs_root: str = "/sys",
    proc_root: str = "/proc",
    device_tree_root: str = "/proc/device-tree",
    modprobe_dir: str = "/etc/modprobe.d",
) -> tuple[list[dict], dict, list[str]]:
    """Raw facts: (NVIDIA GPUs, host facts without verdict, parse errors). Raises LspciError.

    The host facts carry `lspci_output` (see output_state). `run` may raise (a timeout): it is not caught here.
    """
    argv = lspci_command(lspci_path, dump)
    rc, out, err = run(argv)
    if rc != 0:
        raise LspciError(f"{' '.join(argv)} failed (rc={rc}): {(err or out).strip()[:500]}")
    devices, parse_errors = parse_vmm(out)
    state, errors = output_state(argv, out, err, devices, parse_errors, dump)
    gpus = []
    for device in nvidia_gpus(devices):
        sysfs = read_sysfs_device(sysfs_root, device["address"], errors)
        gpu = {k: v for k, v in device.items() if k != "revision"}
        gpu.update(
            driver=device["driver"] or sysfs["driver"],
            numa_node=sysfs["numa_node"],
            iommu_group=sysfs["iommu_group"],
            link=sysfs["link"],
        )
        gpus.append(gpu)
    if any(g["link"] is None for g in gpus):
        rc, out, _err = run(lspci_command(lspci_path, dump, verbose_links=True))
        vv_errors: list[str] = []
        links = parse_vv_links(out, vv_errors) if rc == 0 else {}
        wanted = tuple(f"lspci {g['address']}:" for g in gpus if g["link"] is None)
        errors += [e for e in vv_errors if e.startswith(wanted)]  # other devices' links are not ours to judge
        for gpu in gpus:
            if gpu["link"] is None:
                gpu["link"] = links.get(gpu["address"]) or link_facts(None, None, None, None)
    bridges = host_bridges(devices)
    model = read_device_tree_model(device_tree_root)
    host = {
        "lspci_output": state,
        "platform": platform_from(model, bridges),
        "model": model,
        "host_bridges": bridges,
        "nouveau": nouveau_state(proc_root, sysfs_root, modprobe_dir, (g["driver"] for g in gpus)),
    }
    return gpus, host, errors
