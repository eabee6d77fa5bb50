# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""validate.yml's GPU inventory report as Markdown (pure: hostvars in, text out)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _shapes, _values


def _get(mapping: Any, key: str, fallback: Any = None) -> Any:
    if isinstance(mapping, Mapping):
        value = mapping.get(key, fallback)
        return fallback if value is None and fallback is not None else value
    return fallback


def _link(link: Any) -> str:
    link = link if isinstance(link, Mapping) else {}

    def part(key):
        value = link.get(key)
        return "?" if value is None else _shapes.plain(value)
    text = f"{part('current_speed')} GT/s x{part('current_width')} of {part('max_speed')} GT/s x{part('max_width')}"
    return text + (" (degraded)" if link.get("degraded") else "")


def _problems(verdict: Mapping, name: str) -> list[Mapping]:
    return [p for p in _shapes.mappings(verdict.get("problems"), f"{name}.problems", "a problem (code, severity,"
                                        " message)") if p]


def _can_work(verdict: Mapping, name: str) -> bool:
    return _values.boolean(verdict.get("can_work", True), f"{name}.can_work")


def _verdict_text(verdict: Mapping, name: str) -> str:
    problems = _problems(verdict, name)
    blocking = [_shapes.plain(p.get("code")) for p in problems if p.get("severity") == "blocking"]
    warnings = [_shapes.plain(p.get("code")) for p in problems if p.get("severity") == "warning"]
    text = "can work" if _can_work(verdict, name) else "CANNOT WORK: " + ", ".join(blocking)
    return text + (f" (warnings: {', '.join(warnings)})" if warnings else "")


def _cell(value: Any) -> str:
    """One table cell: _values.markdown_cell (no | can add a column, no line break a row), with an underscore
    between two letters or digits left as it is (CommonMark never reads one there as emphasis: pi5_16k_page_kernel
    stays greppable)."""
    return re.sub(r"(?<=[A-Za-z0-9])\\_(?=[A-Za-z0-9])", "_", _values.markdown_cell(_shapes.plain(value)))


def _row(*cells: Any) -> str:
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def report(hostvars: Mapping[str, Any], hosts: Sequence[str], written: str) -> str:
    """The table (host, GPU, architecture, driver, CUDA, link, verdict), each GPU node's checks, and
    the verdict details. The verdict is the GPU plan's (`nvidia_gpu_plan`), else the facts'."""
    hostvars = _shapes.mapping(hostvars, "hostvars", "hostvars (a dict of hosts)")
    hosts = sorted(_values.string_list(hosts, "the report's hosts"))
    written = _values.single_line(written, "the report's time")
    out = ["# GPU inventory", "", f"Written by `homelab.nvidia_gpu` validate.yml on {written}.", "",
           "| host | GPU | architecture | driver | CUDA | link | verdict |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    details = []
    for host in hosts:
        hv = _shapes.mapping(hostvars.get(host), f"hostvars[{host!r}]")
        facts = _shapes.mapping(hv.get("ansible_facts"), f"hostvars[{host!r}].ansible_facts")
        plan = _shapes.mapping(hv.get("nvidia_gpu_plan"), f"{host}'s nvidia_gpu_plan")
        gpu_host = _shapes.mapping(facts.get("nvidia_gpu_host"), f"{host}'s nvidia_gpu_host")
        name = f"{host}'s nvidia_gpu_plan.verdict" if plan.get("verdict") else f"{host}'s nvidia_gpu_host.verdict"
        verdict = _shapes.mapping(plan.get("verdict") or gpu_host.get("verdict"), name)
        node = hv.get("validate_node")
        if node is None:
            driver = "not checked in this run (validate.yml checks it)" if _get(plan, "gpu_node") else "not a GPU node"
            cuda = ""
        else:
            node = _shapes.mapping(node, f"{host}'s validate_node")
            if _values.boolean(node.get("gpu_present", False), f"{host}'s validate_node.gpu_present"):
                driver, cuda = node.get("driver_version"), node.get("cuda_version")
            else:
                driver, cuda = f"{_shapes.plain(node.get('driver_version'))}; no GPU present", "not measured"
        gpus = _shapes.mappings(facts.get("nvidia_gpus"), f"{host}'s nvidia_gpus", "a GPU (a dict)")
        if not gpus:
            judged = "no GPU to judge" if _can_work(verdict, name) else _verdict_text(verdict, name)
            out.append(f"| {_cell(host)} | none | | {_cell(driver)} | {_cell(cuda)} | | {_cell(judged)} |")
        simulated = " SIMULATED: lspci dump" if _get(plan, "gpu_simulated", False) else ""
        for index, gpu in enumerate(gpus):
            catalog = _shapes.mapping(gpu.get("catalog"), f"{host}'s nvidia_gpus[{index}].catalog")
            gpu_verdict = _shapes.mapping(gpu.get("verdict"), f"{host}'s nvidia_gpus[{index}].verdict")
            ceiling = _shapes.plain(gpu_verdict.get("cuda_ceiling") or "")
            gpu_name = _shapes.plain(catalog.get("name") or gpu.get("device_name"))
            out.append(_row(
                host, f"{gpu_name} ({_shapes.plain(gpu.get('address'))}){simulated}",
                f"{_shapes.plain(catalog.get('architecture') or 'unknown')}"
                f" (compute {_shapes.plain(catalog.get('compute_capability') or '?')})",
                driver, f"{_shapes.plain(cuda)}{f' (ceiling {ceiling})' if ceiling else ''}", _link(gpu.get("link")),
                _verdict_text(verdict, name)))
        host_verdict = _shapes.mapping(gpu_host.get("verdict"), f"{host}'s nvidia_gpu_host.verdict")
        details += [f"- {_cell(host)} [{_cell(p.get('code'))}, {_cell(p.get('severity'))}] {_cell(p.get('message'))}"
                    for p in _problems(host_verdict, f"{host}'s nvidia_gpu_host.verdict")]
    out += ["", "## Checks on GPU nodes", ""]
    for host in hosts:
        node = _get(hostvars.get(host) or {}, "validate_node")
        if node is None:
            continue
        present = _values.boolean(node.get("gpu_present", False), f"{host}'s validate_node.gpu_present")
        if present:
            out.append(f"### {_cell(host)}: GPU present, driver {_cell(node.get('driver_version'))}")
        else:
            out.append(f"### {_cell(host)}: no GPU present ({_cell(node.get('why_no_gpu'))})")
        out.append("")
        if not present and not node.get("skipped"):
            out += ["No GPU is present, so nvidia-smi and the CUDA sample could not run; these checks ran instead.", ""]
        out += ["| result | check | detail |", "| --- | --- | --- |"]
        out += [_row(c.get("result"), c.get("check"), c.get("detail"))
                for c in _shapes.mappings(node.get("checks"), f"{host}'s validate_node.checks", "a check result")]
        out.append("")
    out += _inference(hostvars, hosts)
    if details:
        out += ["## Verdict details", "", *details]
    return "\n".join(out) + "\n"


def _rate(figures: Mapping[str, Mapping], kind: str) -> str:
    fig = figures.get(kind)
    return f"{_shapes.plain(fig.get('tokens_per_second'))} ({_shapes.plain(fig.get('test'))})" if fig else ""


def _inference(hostvars: Mapping[str, Any], hosts: Sequence[str]) -> list[str]:
    """llama-bench's figures per node (the fact llama_cpp_bench of inference.yml), where a node has them."""
    rows = []
    for host in hosts:
        bench = _get(hostvars.get(host) or {}, "llama_cpp_bench")
        if not isinstance(bench, Mapping):
            continue
        figures = {_shapes.plain(f.get("test", ""))[:2]: f
                   for f in _shapes.sequence(bench.get("figures"), f"{host}'s llama_cpp_bench.figures")
                   if isinstance(f, Mapping)}
        backend = _shapes.plain(bench.get("backend") or "?")
        label = "CPU (no GPU used)" if backend == "cpu" else backend.upper()
        status = _shapes.mapping(_get(hostvars.get(host) or {}, "llama_cpp_status", {}), f"{host}'s llama_cpp_status")
        roles = ", ".join(r for r, on in (("server", status.get("server")), ("RPC worker", status.get("rpc_endpoint")))
                          if on) or "-"
        rows.append(_row(host, roles, label, bench.get("model") or "", _rate(figures, "pp"), _rate(figures, "tg"),
                         bench.get("why_not") or ""))
    if not rows:
        return []
    return ["## Inference (llama.cpp)", "",
            "llama-bench on each node, alone, with its own backend: tokens per second for prompt processing (pp) and"
            " generation (tg).", "",
            "| host | runs | backend | model | pp t/s | tg t/s | note |", "| --- | --- | --- | --- | --- | --- | --- |",
            *rows, ""]
