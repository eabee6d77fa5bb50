# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nvidia_driver's runtime decisions after install: why a reboot is needed, why the module is not
loaded here, and what nvidia-smi said (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _shapes, _values

# Containers share the host's kernel: never load modules, reboot or run nvidia-smi there.
CONTAINER_TYPES = ("docker", "podman", "container", "containerd", "lxc", "systemd-nspawn", "openvz", "wsl")


def in_container(virtualization_role: str | None, virtualization_type: str | None) -> bool:
    return (virtualization_role or "") == "guest" and (virtualization_type or "") in CONTAINER_TYPES


def reboot_reasons(*, container: bool, gpu_present: bool, headers_reboot: bool, kernel: str,
                   kernels: Sequence[str], nouveau_loaded: bool, loaded_version: str | None,
                   installed_version: str) -> list[str]:
    """Why the running kernel cannot load the installed module (only judged with a GPU, never in a container)."""
    kernel = _shapes.text(kernel, "kernel")
    kernels = _values.string_list(kernels, "kernels")
    loaded_version = _shapes.text(loaded_version, "loaded_version")
    installed_version = _shapes.text(installed_version, "installed_version")
    if container or not gpu_present:
        return []
    reasons = []
    if headers_reboot:
        reasons.append("kernel_headers prepared a kernel or boot configuration that is not running yet")
    if kernel not in kernels:
        reasons.append(f"the running kernel {kernel} is not a target kernel of the module")
    if nouveau_loaded:
        reasons.append("nouveau is loaded")
    loaded = (loaded_version or "").strip()
    if loaded and installed_version and loaded != installed_version:
        reasons.append(f"nvidia {loaded} is loaded, {installed_version} is installed")
    return reasons


def runtime_skip(*, container: bool, virtualization_type: str | None, gpu_present: bool, simulated: bool,
                 reasons: Sequence[str], rebooted: bool, check_mode: bool, installed_version: str) -> str:
    """Why the module is not loaded and nvidia-smi not run here; '' when both should happen."""
    virtualization_type = _shapes.text(virtualization_type, "virtualization_type")
    reasons = [_shapes.text(r, f"reasons[{i}]") for i, r in enumerate(_shapes.sequence(reasons, "reasons"))]
    installed_version = _shapes.text(installed_version, "installed_version")
    if container:
        return f"this host is a container ({virtualization_type}), whose kernel belongs to its host"
    if not gpu_present:
        return "no NVIDIA GPU is enumerated"
    if simulated:
        return "the GPU is simulated (gpu_plan_fake_hardware replaced the live PCI bus with a dump)"
    if reasons and not rebooted:
        return f"a reboot is required first ({'; '.join(reasons)}); set nvidia_driver_reboot: true"
    if check_mode and not installed_version:
        return "check mode, and the driver is not installed yet"
    return ""


def smi_facts(query_lines: Sequence[str] | None, smi_stdout: str | None, skip_reason: str) -> dict:
    """`nvidia-smi --query-gpu=name,driver_version --format=csv,noheader` lines and the plain `nvidia-smi`
    output -> {ran, reason, gpu_names, driver_version, cuda_version}; not run -> the reason."""
    if query_lines is None:
        return {"ran": False, "reason": _shapes.text(skip_reason, "skip_reason"), "gpu_names": [],
                "driver_version": None, "cuda_version": None}
    query_lines = _shapes.lines(query_lines, "query_lines (nvidia-smi --query-gpu's stdout_lines)")
    smi_stdout = _shapes.text(smi_stdout, "smi_stdout")
    names = [line.rsplit(",", 1)[0].strip() for line in query_lines]
    driver = query_lines[0].split(",")[-1].strip() if query_lines else ""
    cuda = re.search(r"CUDA Version:\s*([0-9.]+)", smi_stdout or "")
    return {"ran": True, "reason": None, "gpu_names": names, "driver_version": driver,
            "cuda_version": cuda.group(1) if cuda else None}


_DKMS_INSTALLED = re.compile(r":\s*installed")


def dkms_missing(results: Sequence[Mapping] | None) -> list[str]:
    """The kernels whose registered `dkms status -k` result does not say installed (skipped results left out)."""
    return [_shapes.plain(r.get("item")) for r in _shapes.registered_list(results, "the dkms status results")
            if not r.get("skipped") and not _DKMS_INSTALLED.search(_shapes.plain(r.get("stdout") or ""))]


def dkms_failure(*, name: str, version: str, kernels: Sequence[str], missing: Sequence[str],
                 installs: Sequence[Mapping] | None = None, make_logs: Sequence[Mapping] | None = None) -> str:
    """Why the DKMS module is missing: each failed `dkms install` and the tail of each make.log, in words."""
    name, version = _shapes.text(name, "name"), _shapes.text(version, "version")
    kernels, missing = _values.string_list(kernels, "kernels"), _values.string_list(missing, "missing")
    lines = [f"DKMS has no installed {name}/{version} for {', '.join(missing)} (targets: {', '.join(kernels)})."]
    for run in _shapes.registered_list(installs, "installs (the dkms install results)"):
        if run.get("item") in missing:
            said = [line for key in ("stderr_lines", "stdout_lines")
                    for line in _shapes.lines(run.get(key), f"installs' {key}") if line]
            lines.append(f"dkms install -k {_shapes.plain(run.get('item'))} (rc {_shapes.plain(run.get('rc', '?'))}):"
                         f" {said[-1] if said else ''}")
    for log in _shapes.registered_list(make_logs, "make_logs (the make.log results)"):
        kernel = _shapes.plain(log.get("item"))
        lines.append(_shapes.plain(log.get("stdout") or "")
                     or f"(no make.log: were the headers of {kernel} installed? /lib/modules/{kernel}/build)")
    return "\n".join(lines)


# A DKMS build that failed inside apt: what dpkg and DKMS say, the host put back, the sentence for the operator.
# gcc's diagnostic (`file:line[:col]: [fatal ]error: text`), else kbuild's modpost `ERROR:` or make's `*** ... Error`.
_COMPILER_ERROR = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+)(?::\d+)?: (?:fatal )?error: .+$", re.M)
_OTHER_ERROR = re.compile(r"^(?:ERROR: .+|.*\*\*\* .*Error \d+.*)$", re.M)
# dkms 3.x: "DKMS (dkms-3.2.2) make.log for nvidia-current-open/550.163.01 for kernel 6.12.118+deb13-amd64 (x86_64)"
_MAKE_LOG_HEADER = re.compile(r"make\.log for (?P<module>\S+?)/(?P<version>\S+) for kernel (?P<kernel>\S+)")
# dpkg's current-state letter (2nd of db:Status-Abbrev): the package's files are on disk in these states.
_DPKG_PRESENT = "iUFHWt"
_DPKG_INSTALLED = "iWt"


def first_build_error(make_log: str | None) -> str:
    """The first compiler error of a DKMS make.log, its path relative to DKMS's build directory; else the first
    modpost or make error line; '' when the log names none."""
    text = _shapes.text(make_log, "make_log") or ""
    found = _COMPILER_ERROR.search(text) or _OTHER_ERROR.search(text)
    if not found:
        return ""
    line = found.group(0).strip()
    return re.sub(r"^/var/lib/dkms/[^/\s]+/[^/\s]+/build/", "", line)


def make_log_kernel(make_log: str | None) -> str:
    """The kernel a DKMS make.log was written for (its header line), '' when it does not say."""
    found = _MAKE_LOG_HEADER.search(_shapes.text(make_log, "make_log") or "")
    return found.group("kernel") if found else ""


def _dpkg_rows(lines: Sequence[str], what: str) -> dict[str, tuple[str, str]]:
    """`${db:Status-Abbrev}|${binary:Package}|${Version}` lines -> {package: (status, version)}."""
    rows = {}
    for line in _shapes.lines(lines, what):
        fields = line.split("|")
        if len(fields) != 3 or len(fields[0].strip()) < 2 or not fields[1]:
            continue
        rows[fields[1]] = (fields[0].strip(), fields[2])
    return rows


def install_rollback(before: Sequence[str], after: Sequence[str]) -> dict[str, list[str]]:
    """What puts dpkg back where it was before a failed apt install, from `dpkg-query -W
    -f='${db:Status-Abbrev}|${binary:Package}|${Version}\\n'` before and after: purge what was not on the host
    (not even as config files), remove what had only config files left, install again at its version what was
    installed and is gone (an upgrade the install pulled in stays: apt's own choice, never a downgrade); `broken`
    lists what dpkg leaves unconfigured now."""
    old = _dpkg_rows(before, "the dpkg lines before the install")
    new = _dpkg_rows(after, "the dpkg lines after the install")
    purge, remove, restore, broken = [], [], [], []
    for name, (status, _version) in sorted(new.items()):
        if status[1] not in _DPKG_PRESENT:
            continue
        if status[1] not in _DPKG_INSTALLED:
            broken.append(name)
        was = old.get(name)
        if was is None or was[0][1] in "n":
            purge.append(name)
        elif was[0][1] not in _DPKG_PRESENT:
            remove.append(name)
    for name, (status, version) in sorted(old.items()):
        if status[1] in _DPKG_INSTALLED:
            now = new.get(name)
            if now is None or now[0][1] not in _DPKG_PRESENT:
                restore.append(f"{name}={version}")
    return {"purge": purge, "remove": remove, "restore": restore, "broken": broken}


def build_way_out(flavour: str, source: str, platform: str = "") -> list[str]:
    """The ways out of a driver module that does not build for a kernel, for this flavour and source."""
    flavour, source = _shapes.text(flavour, "flavour"), _shapes.text(source, "source")
    ways = []
    if flavour == "open" and (_shapes.text(platform, "platform") or "") != "raspberry_pi_5":
        ways.append("the proprietary flavour (nvidia_driver_module_flavour: proprietary) where the card allows it"
                    " (Maxwell to Ada Lovelace; Blackwell needs the open modules)")
    if source == "debian":
        ways.append("another source or branch (nvidia_driver_source: cuda_repo, NVIDIA's repository, or runfile)")
    elif source == "cuda_repo":
        ways.append("another branch (nvidia_driver_branch) or source (nvidia_driver_source: debian or runfile)")
    else:
        ways.append("another runfile (nvidia_driver_runfile_url) or source (nvidia_driver_source: cuda_repo)")
    ways.append("or the previous kernel: keep booting one the module builds for, and leave the new kernel out of"
                " nvidia_driver_kernels (kernel_headers_kernels) until a fixed package arrives")
    return ways


def build_failure(*, package: str, version: str, flavour: str, source: str, dkms_name: str,
                  kernels: Sequence[str], make_log: str | None, log_path: str, platform: str = "",
                  rollback: Mapping | None = None, left: str | None = "") -> dict[str, Any]:
    """What the role records and says when apt's DKMS build of the driver failed: the kernel (from make.log, else
    the targets), the first compiler error, the ways out, what was put back (the roll-back) and what is not back
    (`left`: dpkg --audit's output, a re-install that failed; empty when nothing), and one message."""
    package, version = _shapes.text(package, "package"), _shapes.text(version, "version")
    dkms_name, log_path = _shapes.text(dkms_name, "dkms_name"), _shapes.text(log_path, "log_path")
    kernels = _values.string_list(kernels, "kernels")
    kernel = make_log_kernel(make_log) or ", ".join(kernels)
    error = first_build_error(make_log)
    ways = build_way_out(flavour, source, platform)
    rollback = _shapes.mapping(rollback or {}, "rollback")
    put_back = [f"{verb} {', '.join(_values.string_list(rollback[key], f'rollback.{key}'))}" for key, verb in
                (("purge", "purged"), ("remove", "removed"), ("restore", "installed again"))
                if rollback.get(key)]
    said = (f"NVIDIA's {flavour} kernel module ({package} {version}, DKMS module {dkms_name}) does not build for"
            f" kernel {kernel}: " + (f"{error} (the first error in DKMS's make.log, kept at {log_path})." if error
                                     else f"DKMS's make.log names no error; read {log_path}." if make_log
                                     else "DKMS left no make.log (are the kernel's headers installed?)."))
    left = " ".join((_shapes.text(left, "left") or "").split())
    done = f" ({'; '.join(put_back)})" if put_back else ""
    state = (f"The host's packages are as before the install{done}." if not left
             else f"The roll-back{done} left: {left}")
    message = f"{said} Way out: {'; '.join(ways)}. {state}"
    return {"package": package, "version": version, "flavour": _shapes.text(flavour, "flavour"),
            "source": _shapes.text(source, "source"), "dkms_name": dkms_name, "kernels": kernels, "kernel": kernel,
            "first_error": error, "make_log": log_path, "way_out": ways, "rolled_back": put_back,
            "rolled_back_fully": not left, "host_state": state, "message": message}
