# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""llama.cpp on the cluster (pure): the build options per host, the build's key, the RPC workers, llama-bench's figures.

The build options come from the host's GPU plan (never a second verdict): CUDA for the plan's compute capabilities
where the GPU stack runs and the driver can work (CMAKE_CUDA_ARCHITECTURES 61 for a Tesla P10), the CPU elsewhere -
natively (GGML_NATIVE) by default, or for the board's CPU (GGML_CPU_ARM_ARCH) when the controller says that one
build must run on every Pi of a generation. Nothing here touches a host. Issue #17; the role that uses it is not
written yet. Measured 2026-12-04 for that role's lab: the CPU build of TARGETS from the llama.cpp vendored in
llama-cpp-python 0.3.36 (PyPI sdist, 77 MB) takes 249 s with -j2 in a bookworm amd64 lab container (GCC 12, the
options of build_options with native off; cmake, g++ and make from Debian in 10 s).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

# The CMake targets. The RPC worker's target is ggml-rpc-server in the llama.cpp that llama-cpp-python 0.3.36
# vendors (tools/rpc/CMakeLists.txt; its binary bin/ggml-rpc-server); older releases called it rpc-server.
TARGETS = ("llama-server", "ggml-rpc-server", "llama-bench")
# The boards' CPUs as GCC's -march names them: Pi 5 Cortex-A76 (ARMv8.2 with dot product and FP16), Pi 4
# Cortex-A72 and Pi 3 Cortex-A53 (ARMv8.0 with CRC).
BOARD_ARM_ARCH = {
    "raspberry_pi_5": "armv8.2-a+dotprod+fp16",
    "raspberry_pi_4": "armv8-a+crc",
    "raspberry_pi_3": "armv8-a+crc",
}
COMMON = {
    "CMAKE_BUILD_TYPE": "Release",
    "BUILD_SHARED_LIBS": "OFF",  # the binaries stand alone in their directory
    "GGML_RPC": "ON",  # rpc-server, and llama-server's --rpc
    "LLAMA_CURL": "OFF",  # models come by path (the role fetches and checks them), not by URL at run time
    "LLAMA_BUILD_TESTS": "OFF",
}


class LlamaCppError(ValueError):
    """A choice the build cannot honour: a compute capability llama.cpp has no kernels for, a bad worker address."""


def _cuda_arch(capability: Any) -> str:
    text = str(capability or "").strip()
    if not re.fullmatch(r"[0-9]+\.[0-9]", text):
        raise LlamaCppError(f"{capability!r} is not a compute capability such as 6.1")
    major, minor = (int(p) for p in text.split("."))
    if (major, minor) < (5, 0):
        raise LlamaCppError(f"compute capability {text} is older than llama.cpp's CUDA backend supports (5.0)")
    return f"{major}{minor}"


def build_options(plan: Mapping[str, Any], choices: Mapping[str, Any] | None = None) -> dict:
    """The CMake cache entries and the backend for one host.

    ``plan``: the fact nvidia_gpu_plan (``kind``, ``gpu_present``, ``verdict.can_work``, ``platform``,
    ``architecture``, ``cuda.compute_capabilities``). ``choices``: ``native`` (build for this host's CPU, true),
    ``cuda`` (auto: where the plan allows; false: never), ``toolkit`` (the CUDA toolkit's version, for the key).
    """
    choices = dict(choices or {})
    verdict = plan.get("verdict") or {}
    capabilities = sorted(set((plan.get("cuda") or {}).get("compute_capabilities") or []))
    wants_cuda = str(choices.get("cuda", "auto")).lower()
    if wants_cuda not in ("auto", "false", "true"):
        raise LlamaCppError(f"cuda must be auto, true or false, not {choices.get('cuda')!r}")
    can_cuda = (plan.get("kind") == "gpu_stack" and bool(plan.get("gpu_present"))
                and bool(verdict.get("can_work", True)) and bool(capabilities))
    if wants_cuda == "true" and not can_cuda:
        raise LlamaCppError("a CUDA build was asked for, but this host's GPU plan has no GPU the driver can work with"
                            f" (kind {plan.get('kind')}, GPUs {', '.join(plan.get('gpu_names') or []) or 'none'})")
    use_cuda = can_cuda and wants_cuda != "false"
    options = dict(COMMON)
    native = bool(choices.get("native", True))
    platform = str(plan.get("platform") or "generic")
    if native:
        options["GGML_NATIVE"] = "ON"
        cpu = "native"
    elif platform in BOARD_ARM_ARCH:
        options.update(GGML_NATIVE="OFF", GGML_CPU_ARM_ARCH=BOARD_ARM_ARCH[platform])
        cpu = BOARD_ARM_ARCH[platform]
    else:
        options["GGML_NATIVE"] = "OFF"  # ggml's portable default for the architecture
        cpu = "portable"
    if use_cuda:
        options.update(GGML_CUDA="ON", CMAKE_CUDA_ARCHITECTURES=";".join(_cuda_arch(c) for c in capabilities))
    backend = "cuda" if use_cuda else "cpu"
    why = (f"CUDA for compute capability {', '.join(capabilities)}" if use_cuda
           else "CPU: " + ("no GPU the driver can work with in this host's plan" if not can_cuda
                           else "llama_cpp_cuda is false"))
    return {"backend": backend, "cpu": cpu, "options": options, "targets": list(TARGETS), "reason": why,
            "cmake_args": [f"-D{k}={v}" for k, v in sorted(options.items())]}


def build_key(source_sha256: str, options: Mapping[str, Any], toolkit: str = "") -> str:
    """What a build depends on, hashed: the source tarball, the CMake options, the CUDA toolkit (a new key rebuilds)."""
    if not re.fullmatch(r"[0-9a-f]{64}", str(source_sha256 or "")):
        raise LlamaCppError(f"the source's sha256 must be 64 hex digits, not {source_sha256!r}")
    payload = json.dumps({"source": source_sha256, "options": dict(options), "toolkit": str(toolkit or "")},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def rpc_servers(hostvars: Mapping[str, Any], workers: Sequence[str], port: int = 50052) -> str:
    """llama-server's --rpc list from the inventory: each worker's llama_cpp_rpc_address, else ansible_host."""
    out = []
    for host in workers:
        hv = hostvars.get(host) or {}
        address = str(hv.get("llama_cpp_rpc_address") or hv.get("ansible_host") or host)
        if not re.fullmatch(r"[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:]+\]", address):
            raise LlamaCppError(f"{host}: {address!r} is not an address llama-server can reach an rpc-server at")
        out.append(f"{address}:{int(hv.get('llama_cpp_rpc_port') or port)}")
    return ",".join(out)


def bench_figures(stdout: Any) -> list[dict]:
    """``llama-bench -o json`` -> one dict per test: prompt (pp) or generation (tg), tokens, tokens per second."""
    try:
        runs = json.loads(str(stdout or ""))
    except ValueError as exc:
        raise LlamaCppError(f"llama-bench's output is not JSON ({exc})") from exc
    if not isinstance(runs, list):
        raise LlamaCppError("llama-bench's JSON output must be a list of runs")
    out = []
    for run in runs:
        if not isinstance(run, Mapping):
            continue
        prompt, gen = int(run.get("n_prompt") or 0), int(run.get("n_gen") or 0)
        kind = "pp" if prompt and not gen else "tg" if gen and not prompt else "pp+tg"
        out.append({"test": f"{kind}{prompt or gen}", "tokens_per_second": round(float(run.get("avg_ts") or 0), 2),
                    "stddev": round(float(run.get("stddev_ts") or 0), 2), "backends": str(run.get("backends") or ""),
                    "model": str(run.get("model_type") or run.get("model_filename") or ""),
                    "gpu_layers": int(run.get("n_gpu_layers") or 0)})
    return out
