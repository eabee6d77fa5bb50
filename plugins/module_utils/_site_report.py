# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""site.yml's decisions and sentences: a host's plan, its verdict lines, the closing summary (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

GPU_STACK = "gpu stack"
RUNTIME_ONLY = "runtime only"
RUNTIME_ONLY_VERDICT = "runtime only (GPU verdict)"
STOPPED = "stopped by its GPU verdict"


def site_plan(verdict: Mapping[str, Any], gpu_node: bool, skip_unworkable: bool = True) -> str:
    """The plan of one host: outside gpu_nodes the runtime only; a GPU node whose verdict says the driver
    cannot work gets the runtime only (skip_unworkable) or is stopped."""
    if not isinstance(verdict, Mapping) or "can_work" not in verdict:
        raise ValueError("the input must be ansible_facts.nvidia_gpu_host.verdict (with can_work)")
    if not gpu_node:
        return RUNTIME_ONLY
    if verdict["can_work"]:
        return GPU_STACK
    return RUNTIME_ONLY_VERDICT if skip_unworkable else STOPPED


def _or(value: Any, fallback: str) -> str:
    return str(value) if value not in (None, "") else fallback


def verdict_lines(gpus: Sequence[Mapping[str, Any]], verdict: Mapping[str, Any]) -> list[str]:
    """One line per GPU (name, architecture, link, flavour, branches, CUDA) and one per problem."""
    lines = []
    for gpu in gpus or []:
        catalog = gpu.get("catalog") or {}
        link = gpu.get("link") or {}
        gpu_verdict = gpu.get("verdict") or {}
        ceiling = gpu_verdict.get("cuda_ceiling")
        lines.append(
            f"{gpu.get('address')}: {catalog.get('name') or gpu.get('device_name')} "
            f"({catalog.get('architecture') or 'unknown architecture'}, compute "
            f"{catalog.get('compute_capability') or '?'}), link {_or(link.get('current_speed'), '?')} GT/s "
            f"x{_or(link.get('current_width'), '?')} of {_or(link.get('max_speed'), '?')} GT/s "
            f"x{_or(link.get('max_width'), '?')}; {gpu_verdict.get('module_flavour') or 'unknown'} kernel modules, "
            f"driver branches {gpu_verdict.get('allowed_branches')}, CUDA "
            f"{('<= ' + str(ceiling)) if ceiling else 'current'}")
    for problem in verdict.get("problems") or []:
        label = "CANNOT WORK" if problem.get("severity") == "blocking" else "warning"
        lines.append(f"{label} [{problem.get('code')}] {problem.get('message')}")
    return lines


def summary_lines(hostvars: Mapping[str, Any], hosts: Sequence[str], alive: Sequence[str]) -> list[str]:
    """One line per host that has a plan: plan (FAILED when it left the play), GPUs, verdict."""
    lines = []
    for host in sorted(hosts):
        facts = hostvars[host]
        if "site_plan" not in facts:
            continue
        gpus = list(facts["site_gpu_names"])
        verdict = facts["site_gpu_verdict"]
        if not gpus:
            judged = "no GPU to judge"
        elif verdict["can_work"]:
            judged = "can work"
        else:
            codes = [p["code"] for p in verdict.get("problems") or [] if p.get("severity") == "blocking"]
            judged = f"CANNOT WORK ({', '.join(codes)})"
        failed = "" if host in alive else " (FAILED, see above)"
        lines.append(f"{host}: {facts['site_plan']}{failed}; GPU: {', '.join(gpus) or 'none'}; verdict: {judged}")
    return lines
