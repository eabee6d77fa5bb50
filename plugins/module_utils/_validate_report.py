# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""validate.yml's GPU inventory report as Markdown (pure: hostvars in, text out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _get(mapping: Any, key: str, fallback: Any = None) -> Any:
    if isinstance(mapping, Mapping):
        value = mapping.get(key, fallback)
        return fallback if value is None and fallback is not None else value
    return fallback


def _link(link: Mapping) -> str:
    def part(key):
        value = link.get(key)
        return "?" if value is None else str(value)
    text = f"{part('current_speed')} GT/s x{part('current_width')} of {part('max_speed')} GT/s x{part('max_width')}"
    return text + (" (degraded)" if link.get("degraded") else "")


def _verdict_text(verdict: Mapping) -> str:
    problems = verdict.get("problems") or []
    blocking = [p["code"] for p in problems if p.get("severity") == "blocking"]
    warnings = [p["code"] for p in problems if p.get("severity") == "warning"]
    text = "can work" if verdict.get("can_work", True) else "CANNOT WORK: " + ", ".join(blocking)
    return text + (f" (warnings: {', '.join(warnings)})" if warnings else "")


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|")


def report(hostvars: Mapping[str, Any], hosts: Sequence[str], written: str) -> str:
    """The table (host, GPU, architecture, driver, CUDA, link, verdict), each GPU node's checks, and
    the verdict details. The verdict is the GPU plan's (`nvidia_gpu_plan`), else the facts'."""
    hosts = sorted(hosts)
    out = ["# GPU inventory", "", f"Written by `homelab.nvidia_gpu` validate.yml on {written}.", "",
           "| host | GPU | architecture | driver | CUDA | link | verdict |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    details = []
    for host in hosts:
        hv = hostvars.get(host) or {}
        facts = _get(hv, "ansible_facts", {})
        plan = _get(hv, "nvidia_gpu_plan", {})
        verdict = _get(plan, "verdict") or _get(_get(facts, "nvidia_gpu_host", {}), "verdict", {})
        node = _get(hv, "validate_node")
        if node is None:
            driver = "not checked in this run (validate.yml checks it)" if _get(plan, "gpu_node") else "not a GPU node"
            cuda = ""
        elif node.get("gpu_present"):
            driver, cuda = node.get("driver_version"), node.get("cuda_version")
        else:
            driver, cuda = f"{node.get('driver_version')}; no GPU present", "not measured"
        gpus = _get(facts, "nvidia_gpus", []) or []
        if not gpus:
            judged = "no GPU to judge" if verdict.get("can_work", True) else _verdict_text(verdict)
            out.append(f"| {host} | none | | {driver} | {cuda} | | {judged} |")
        simulated = " SIMULATED: lspci dump" if _get(plan, "gpu_simulated", False) else ""
        for gpu in gpus:
            catalog = gpu.get("catalog") or {}
            ceiling = (gpu.get("verdict") or {}).get("cuda_ceiling")
            out.append(
                f"| {host} | {catalog.get('name') or gpu.get('device_name')} ({gpu.get('address')}){simulated}"
                f" | {catalog.get('architecture') or 'unknown'} (compute {catalog.get('compute_capability') or '?'})"
                f" | {driver} | {cuda}{f' (ceiling {ceiling})' if ceiling else ''} | {_link(gpu.get('link') or {})}"
                f" | {_verdict_text(verdict)} |")
        details += [f"- {host} [{p.get('code')}, {p.get('severity')}] {p.get('message')}"
                    for p in (_get(_get(facts, "nvidia_gpu_host", {}), "verdict", {}) or {}).get("problems") or []]
    out += ["", "## Checks on GPU nodes", ""]
    for host in hosts:
        node = _get(hostvars.get(host) or {}, "validate_node")
        if node is None:
            continue
        if node.get("gpu_present"):
            out.append(f"### {host}: GPU present, driver {node.get('driver_version')}")
        else:
            out.append(f"### {host}: no GPU present ({node.get('why_no_gpu')})")
        out.append("")
        if not node.get("gpu_present") and not node.get("skipped"):
            out += ["No GPU is present, so nvidia-smi and the CUDA sample could not run; these checks ran instead.", ""]
        out += ["| result | check | detail |", "| --- | --- | --- |"]
        out += [f"| {c.get('result')} | {c.get('check')} | {_cell(c.get('detail'))} |"
                for c in node.get("checks") or []]
        out.append("")
    out += _inference(hostvars, hosts)
    if details:
        out += ["## Verdict details", "", *details]
    return "\n".join(out) + "\n"


def _rate(figures: Mapping[str, Mapping], kind: str) -> str:
    fig = figures.get(kind)
    return f"{fig.get('tokens_per_second')} ({fig.get('test')})" if fig else ""


def _inference(hostvars: Mapping[str, Any], hosts: Sequence[str]) -> list[str]:
    """llama-bench's figures per node (the fact llama_cpp_bench of inference.yml), where a node has them."""
    rows = []
    for host in hosts:
        bench = _get(hostvars.get(host) or {}, "llama_cpp_bench")
        if not isinstance(bench, Mapping):
            continue
        figures = {str(f.get("test", ""))[:2]: f for f in bench.get("figures") or [] if isinstance(f, Mapping)}
        backend = str(bench.get("backend") or "?")
        label = "CPU (no GPU used)" if backend == "cpu" else backend.upper()
        status = _get(hostvars.get(host) or {}, "llama_cpp_status", {}) or {}
        roles = ", ".join(r for r, on in (("server", status.get("server")), ("RPC worker", status.get("rpc_endpoint")))
                          if on) or "-"
        rows.append(f"| {host} | {roles} | {label} | {_cell(bench.get('model') or '')} | {_rate(figures, 'pp')}"
                    f" | {_rate(figures, 'tg')} | {_cell(bench.get('why_not') or '')} |")
    if not rows:
        return []
    return ["## Inference (llama.cpp)", "",
            "llama-bench on each node, alone, with its own backend: tokens per second for prompt processing (pp) and"
            " generation (tg).", "",
            "| host | runs | backend | model | pp t/s | tg t/s | note |", "| --- | --- | --- | --- | --- | --- | --- |",
            *rows, ""]
