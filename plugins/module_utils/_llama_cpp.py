# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""llama.cpp on the cluster (pure): the build options per host, the build's key, the RPC workers, llama-bench's figures.

The build options come from the host's GPU plan (never a second verdict): CUDA for the plan's compute capabilities
where the GPU stack runs and the driver can work (CMAKE_CUDA_ARCHITECTURES 61 for a Tesla P10), the CPU elsewhere -
natively (GGML_NATIVE) by default, or for the board's CPU (GGML_CPU_ARM_ARCH) when the controller says that one
build must run on every Pi of a generation. Nothing here touches a host. The role llama_cpp uses it (filters in
plugins/filter/llama_cpp.py). Measured 2026-12-04 for its lab: the CPU build of TARGETS from the llama.cpp vendored in
llama-cpp-python 0.3.36 (PyPI sdist, 77 MB) takes 249 s with -j2 in a bookworm amd64 lab container (GCC 12, the
options of build_options with native off; cmake, g++ and make from Debian in 10 s).
"""

from __future__ import annotations

import hashlib
import ipaddress
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


# What the plan and the role decide: an operator's extra CMake option may not set these (the backend and its CUDA
# architectures, the CPU target and so whether a build may be shared, the RPC backend that --rpc needs, and the
# static binaries that builds/KEY/bin holds alone, and ccache, which llama_cpp_ccache turns on or off).
DECIDED = ("BUILD_SHARED_LIBS", "GGML_CCACHE", "GGML_CPU_ARM_ARCH", "GGML_CUDA", "GGML_NATIVE", "GGML_RPC")


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


def extra_options(extra: Any) -> dict:
    """The operator's extra CMake cache entries (llama_cpp_cmake_options), checked: a CMake name each, a string,
    number or boolean (ON/OFF) value on one line, and none of the options the plan and the role decide."""
    if extra is None or extra == "":
        return {}
    if not isinstance(extra, Mapping):
        raise LlamaCppError("cmake_options must be a mapping of CMake cache names to values,"
                            f" not {type(extra).__name__}")
    out = {}
    for name, value in extra.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise LlamaCppError(f"cmake_options: {name!r} is not a CMake cache name (letters, digits, _)")
        if name in DECIDED or name.startswith("CMAKE_CUDA"):
            raise LlamaCppError(f"cmake_options: {name} is decided by the GPU plan and the role (llama_cpp_native,"
                                " llama_cpp_cuda, llama_cpp_ccache); it cannot be set here")
        if isinstance(value, bool):
            value = "ON" if value else "OFF"
        elif isinstance(value, (int, float)):
            value = str(value)
        elif not isinstance(value, str):
            raise LlamaCppError(f"cmake_options: {name} must be a string, number or boolean,"
                                f" not {type(value).__name__}")
        if re.search(r"[\x00-\x1f]", value):
            raise LlamaCppError(f"cmake_options: {name}'s value holds a control character (a newline?): {value!r}")
        out[name] = value
    return out


def build_options(plan: Mapping[str, Any], choices: Mapping[str, Any] | None = None) -> dict:
    """The CMake cache entries and the backend for one host.

    ``plan``: the fact nvidia_gpu_plan (``kind``, ``gpu_present``, ``verdict.can_work``, ``platform``,
    ``architecture``, ``cuda.compute_capabilities``). ``choices``: ``native`` (build for this host's CPU, true),
    ``cuda`` (auto: where the plan allows; false: never), ``toolkit`` (the CUDA toolkit's version, for the key),
    ``cmake_options`` (the operator's extra cache entries, see extra_options: they override COMMON's, such as
    CMAKE_BUILD_TYPE, and are part of the options, so of the key).
    """
    choices = dict(choices or {})
    extra = extra_options(choices.get("cmake_options"))
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
    options = dict(COMMON, **extra)
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


def _check_source_sha256(source_sha256: Any) -> None:
    if not re.fullmatch(r"[0-9a-f]{64}", str(source_sha256 or "")):
        raise LlamaCppError(f"the source's sha256 must be 64 hex digits, not {source_sha256!r}")


def build_key(source_sha256: str, options: Mapping[str, Any], toolkit: str = "", platform: str = "") -> str:
    """What a build depends on, hashed: the source tarball, the CMake options, the CUDA toolkit, and the platform it
    runs on (distribution release and architecture: the libraries it links) - a new key rebuilds."""
    _check_source_sha256(source_sha256)
    payload = json.dumps({"source": source_sha256, "options": dict(options), "toolkit": str(toolkit or ""),
                          "platform": str(platform or "")}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def rpc_servers(hostvars: Mapping[str, Any], workers: Sequence[str], port: int = 50052) -> str:
    """llama-server's --rpc list from the inventory: each worker's llama_cpp_rpc_endpoint (the fact the role sets
    where rpc-server runs: the address it is bound to), else its llama_cpp_rpc_address, else ansible_host."""
    out = []
    for host in workers:
        hv = hostvars.get(host) or {}
        endpoint = str(hv.get("llama_cpp_rpc_endpoint") or "")
        if not endpoint:
            address = str(hv.get("llama_cpp_rpc_address") or hv.get("ansible_host") or host)
            endpoint = f"{address}:{int(hv.get('llama_cpp_rpc_port') or port)}"
        address, _sep, number = endpoint.rpartition(":")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", address) or not number.isdigit():
            raise LlamaCppError(f"{host}: {endpoint!r} is not an IPv4 address or host name with a port, which is"
                                " all llama.cpp's RPC client can reach")
        out.append(endpoint)
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


def host_build(plan: Mapping[str, Any], choices: Mapping[str, Any] | None, source_sha256: str,
               platform: str) -> dict:
    """build_options plus the key and whether other hosts may run this build: only a non-native build is shareable
    (a native one is tuned to this host's CPU), and only between hosts of the same key (same platform)."""
    choices = dict(choices or {})
    out = build_options(plan, choices)
    out["key"] = build_key(source_sha256, out["options"], str(choices.get("toolkit") or "") if out["backend"] == "cuda"
                           else "", platform)
    out["shareable"] = out["cpu"] != "native"
    out["platform"] = str(platform)
    return out


def build_plan(hostvars: Mapping[str, Any], hosts: Sequence[str], fact: str = "__llama_cpp_build_state") -> dict:
    """Who builds and who copies, over the hosts of a play (in play order).

    Each host's ``fact``: ``key``, ``shareable``, ``present`` (the build is installed there) and ``cached`` (the
    controller holds its archive). Per host the answer is ``action`` - ``present`` (nothing to do), ``build``, or
    ``copy`` - and ``source``: the host whose build is copied (it archives it once and the controller keeps the
    archive), or ``controller`` for an archive the controller already holds. A shareable key is built once, by the
    first host of the play that needs it, when no host has it and the controller holds no archive; a native build is
    built where it runs."""
    states: dict[str, Mapping] = {}
    for host in hosts:
        state = (hostvars.get(host) or {}).get(fact)
        if not isinstance(state, Mapping) or not state.get("key"):
            raise LlamaCppError(f"{host}: no build decided (the role's preflight runs on every host of the play)")
        states[host] = state
    out = {h: {"action": "present" if s.get("present") else "build", "source": h, "key": str(s["key"])}
           for h, s in states.items()}
    by_key: dict[str, list[str]] = {}
    for host, state in states.items():
        if state.get("shareable"):
            by_key.setdefault(str(state["key"]), []).append(host)
    for key, members in by_key.items():
        missing = [h for h in members if not states[h].get("present")]
        holders = [h for h in members if states[h].get("present")]
        if not missing:
            continue
        cached = any(states[h].get("cached") for h in members)
        source = holders[0] if holders else "controller" if cached else missing[0]
        for host in missing:
            if host != source:
                out[host] = {"action": "copy", "source": source, "key": key}
    return out


_KEY = re.compile(r"[0-9a-f]{16}")


def _found_files(found: Any) -> list[Mapping]:
    """ansible.builtin.find's ``files``, checked: a list of mappings."""
    if not isinstance(found, Sequence) or isinstance(found, (str, bytes)):
        raise LlamaCppError(f"found must be a list of find's files, not {type(found).__name__}")
    for entry in found:
        if not isinstance(entry, Mapping):
            raise LlamaCppError(f"found must be a list of find's files, not one with {entry!r}")
    return list(found)


def stale_builds(found: Any, current: str, keep: Any = 2) -> list[str]:
    """The builds to remove: ``found`` is what ansible.builtin.find says of builds/ (``path``, ``mtime``); the current
    build always stays, and so do the newest others up to ``keep`` builds in all (the previous one is a rollback
    away). Only directories named like a build key are candidates: nothing else in builds/ is the role's."""
    if not _KEY.fullmatch(str(current or "")):
        raise LlamaCppError(f"the current build's key must be 16 hex digits, not {current!r}")
    keep = _count(keep, "llama_cpp_keep_builds", 1)
    others = []
    for entry in _found_files(found):
        key = str(entry.get("path") or "").rstrip("/").rsplit("/", 1)[-1]
        if key == current or not _KEY.fullmatch(key):
            continue
        try:
            mtime = float(entry.get("mtime") or 0)
        except (TypeError, ValueError):
            mtime = 0.0
        others.append((mtime, key))
    others.sort(reverse=True)
    return sorted(key for _mtime, key in others[keep - 1:])


def stale_sources(found: Any, source_sha256: str) -> list[str]:
    """The source tarballs (``SHA256.tar.gz``) and unpacked sources (``src/SHA256[:16]``) that are not the current
    source's, from ansible.builtin.find's files; a name of another shape is not the role's and stays."""
    _check_source_sha256(source_sha256)
    out = []
    for entry in _found_files(found):
        path = str(entry.get("path") or "").rstrip("/")
        head, _sep, name = path.rpartition("/")
        ours = (re.fullmatch(r"[0-9a-f]{64}\.tar\.gz", name) or
                (_KEY.fullmatch(name) and head.rpartition("/")[2] == "src"))
        if ours and name not in (f"{source_sha256}.tar.gz", source_sha256[:16]):
            out.append(path)
    return sorted(out)


_ADDRESS = re.compile(r"[A-Za-z0-9_.:-]+|\[[0-9A-Fa-f:]+\]")
_LOOPBACK = ("127.0.0.1", "::1", "localhost", "[::1]")
_ANY = ("0.0.0.0", "::", "[::]", "")


def _port(value: Any, what: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if not 0 < port < 65536:
        raise LlamaCppError(f"{what} must be a port between 1 and 65535, not {value!r}")
    return port


def _count(value: Any, what: str, minimum: int = 0) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = minimum - 1
    if number < minimum:
        raise LlamaCppError(f"{what} must be a whole number of {minimum} or more, not {value!r}")
    return number


def _address(value: Any, what: str) -> str:
    text = str(value if value is not None else "").strip()
    if not _ADDRESS.fullmatch(text):
        raise LlamaCppError(f"{what} must be an address or a host name, not {value!r}")
    return text


def exposure_problems(settings: Mapping[str, Any]) -> list[str]:
    """Sentences for a service that would listen where it should not: llama-server beyond loopback without an API
    key, rpc-server (no authentication at all) on every address. ``settings``: ``serve``, ``server_host``,
    ``api_key_set``, ``work``, ``rpc_host``, ``allow_open`` (the operator's explicit yes)."""
    if settings.get("allow_open"):
        return []
    out = []
    if settings.get("serve") and str(settings.get("server_host")) not in _LOOPBACK and not settings.get("api_key_set"):
        out.append(f"llama-server would listen on {settings.get('server_host')} without an API key: set"
                   " llama_cpp_server_api_key (from vault), bind llama_cpp_server_host to 127.0.0.1, or say"
                   " llama_cpp_allow_open: true")
    if settings.get("work") and str(settings.get("rpc_host") or "").strip() in _ANY:
        out.append("rpc-server has no authentication and would listen on every address: set llama_cpp_rpc_host to"
                   " this host's address on the cluster network (llama_cpp_rpc_address), or say llama_cpp_allow_open:"
                   " true")
    return out


def server_argv(settings: Mapping[str, Any]) -> list[str]:
    """llama-server's command line. ``settings``: ``binary``, ``model`` (an absolute path), ``host``, ``port``,
    ``ctx_size``, ``gpu_layers``, ``threads`` (0: llama.cpp's choice), ``alias``, ``log_verbosity`` (4 logs where
    each layer went, the RPC workers' buffers included; empty: llama.cpp's 3), ``api_key_file`` (empty: none),
    ``rpc`` (the --rpc list, empty: none), ``extra_args`` (a list, appended as given)."""
    model = str(settings.get("model") or "")
    if not model.startswith("/"):
        raise LlamaCppError(f"the model must be an absolute path to a GGUF file, not {model!r}")
    argv = [str(settings.get("binary") or "llama-server"), "--model", model,
            "--host", _address(settings.get("host"), "the server's host"),
            "--port", str(_port(settings.get("port"), "the server's port")),
            "--ctx-size", str(_count(settings.get("ctx_size"), "the context size", 1)),
            "--n-gpu-layers", str(_count(settings.get("gpu_layers"), "the GPU layers"))]
    threads = _count(settings.get("threads") or 0, "the threads")
    if threads:
        argv += ["--threads", str(threads)]
    if settings.get("alias"):
        argv += ["--alias", str(settings["alias"])]
    if settings.get("log_verbosity") not in (None, ""):
        argv += ["--log-verbosity", str(_count(settings["log_verbosity"], "the log verbosity"))]
    if settings.get("api_key_file"):
        argv += ["--api-key-file", str(settings["api_key_file"])]
    if settings.get("rpc"):
        argv += ["--rpc", str(settings["rpc"])]
    extra = settings.get("extra_args") or []
    if isinstance(extra, (str, bytes)) or not isinstance(extra, Sequence):
        raise LlamaCppError("the extra arguments must be a list of strings")
    return argv + [str(a) for a in extra]


def rpc_argv(settings: Mapping[str, Any]) -> list[str]:
    """rpc-server's command line: ``binary``, ``host``, ``port``, ``threads`` (0: llama.cpp's choice), ``cache``
    (a local tensor cache; needs LLAMA_CACHE)."""
    host = str(settings.get("host") or "").strip()
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise LlamaCppError(f"rpc-server binds an IPv4 address only (it takes no names and no IPv6), not {host!r}"
                            ) from None
    argv = [str(settings.get("binary") or "ggml-rpc-server"), "--host", host,
            "--port", str(_port(settings.get("port"), "rpc-server's port"))]
    threads = _count(settings.get("threads") or 0, "the threads")
    if threads:
        argv += ["--threads", str(threads)]
    return argv + (["--cache"] if settings.get("cache") else [])


def systemd_exec(argv: Sequence[str]) -> str:
    """A command line as systemd's ExecStart= reads it: each word double-quoted where it needs to be, with \\ and \"
    escaped, and % and $ doubled (systemd's specifiers and variables)."""
    words = []
    for word in argv:
        text = str(word)
        if any(c in text for c in "\n\r\0"):
            raise LlamaCppError(f"a command-line word cannot hold a line break or NUL: {text!r}")
        text = text.replace("%", "%%").replace("$", "$$")
        if not text or re.search(r"[\s\"'\\;]", text):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        words.append(text)
    return " ".join(words)
