# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nvidia_driver's runtime decisions after install: why a reboot is needed, why the module is not
loaded here, and what nvidia-smi said (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils import _shapes, _values

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
