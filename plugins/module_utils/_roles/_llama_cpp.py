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

import functools
import hashlib
import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _llama_split

# The CMake targets. The RPC worker's target is ggml-rpc-server in the llama.cpp that llama-cpp-python 0.3.36
# vendors (tools/rpc/CMakeLists.txt; its binary bin/ggml-rpc-server); older releases called it rpc-server.
TARGETS = ("llama-server", "ggml-rpc-server", "llama-bench")
# The boards' CPUs as GCC's -march names them: Pi 5 Cortex-A76 (ARMv8.2 with dot product and FP16), Pi 4
# Cortex-A72 and Pi 3 Cortex-A53 (ARMv8.0 with CRC). GCC's -mcpu=cortex-a76 enables these and more (molecule/inference
# compares the predefined macros of both with Debian's aarch64-linux-gnu-gcc).
BOARD_ARM_ARCH = {
    "raspberry_pi_5": "armv8.2-a+dotprod+fp16",
    "raspberry_pi_4": "armv8-a+crc",
    "raspberry_pi_3": "armv8-a+crc",
}
# A CPU build for arm64 (the Pis) cross-compiled on an amd64 Debian host of the play (llama_cpp_cross_build): Debian's
# crossbuild-essential-arm64 (GCC for aarch64-linux-gnu, with its libgomp and libstdc++) and CMake told the target.
CROSS_TRIPLET = "aarch64-linux-gnu"
CROSS_PACKAGES = ("crossbuild-essential-arm64",)
CROSS_CMAKE = ("-DCMAKE_SYSTEM_NAME=Linux", "-DCMAKE_SYSTEM_PROCESSOR=aarch64",
               f"-DCMAKE_C_COMPILER={CROSS_TRIPLET}-gcc", f"-DCMAKE_CXX_COMPILER={CROSS_TRIPLET}-g++",
               f"-DCMAKE_FIND_ROOT_PATH=/usr/{CROSS_TRIPLET}", "-DCMAKE_FIND_ROOT_PATH_MODE_PROGRAM=NEVER",
               "-DCMAKE_FIND_ROOT_PATH_MODE_LIBRARY=ONLY", "-DCMAKE_FIND_ROOT_PATH_MODE_INCLUDE=ONLY")
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


class LlamaCppError(_values.ValueProblem):
    """A choice the build cannot honour: a compute capability llama.cpp has no kernels for, a bad worker address."""


def _refusing(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The shared checks' ValueProblem as this module's LlamaCppError (same sentence, naming the variable)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LlamaCppError:
            raise
        except _values.ValueProblem as exc:
            raise LlamaCppError(str(exc)) from None
    return wrapper


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


_GROUP = r"[A-Za-z_][A-Za-z0-9_]*"  # an Ansible group name (letters, digits, _)


@_refusing
def rpc_servers(hostvars: Mapping[str, Any], workers: Any, port: Any = 50052) -> str:
    """llama-server's --rpc list from the inventory: each worker's llama_cpp_rpc_endpoint (the fact the role sets
    where rpc-server runs: the address it is bound to), else its llama_cpp_rpc_address, else ansible_host.
    ``workers`` is a list of hosts: a group's name given as a string is refused, not read as one host per letter."""
    if not isinstance(hostvars, Mapping):
        raise LlamaCppError(f"hostvars must be a mapping of hosts, not {type(hostvars).__name__}")
    hosts = _values.string_list(workers, "the hosts of llama_cpp_workers_group")
    port = _values.port(port, "llama_cpp_rpc_port")
    out = []
    for host in hosts:
        hv = hostvars.get(host) or {}
        if not isinstance(hv, Mapping):
            raise LlamaCppError(f"{host}: its host variables are not a mapping")
        endpoint = hv.get("llama_cpp_rpc_endpoint") or ""
        if endpoint:
            text = _values.single_line(endpoint, f"{host}'s llama_cpp_rpc_endpoint")
            address, _sep, number = text.rpartition(":")
            number = _values.port(number, f"the port of {host}'s llama_cpp_rpc_endpoint {text!r}")
        else:
            address = hv.get("llama_cpp_rpc_address") or hv.get("ansible_host") or host
            own = hv.get("llama_cpp_rpc_port")
            number = _values.port(port if own is None else own, f"{host}'s llama_cpp_rpc_port")
        address = str(address) if isinstance(address, str) else ""
        if not _rpc_address(address):
            raise LlamaCppError(f"{host}: {address!r} is not an IPv4 address or host name, which is all llama.cpp's"
                                " RPC client can reach")
        out.append(f"{address}:{number}")
    return ",".join(out)


def _rpc_address(address: str) -> bool:
    """An IPv4 address or a host name (llama.cpp's RPC client splits HOST:PORT at the last ':' and takes no IPv6)."""
    try:
        return ":" not in _values.hostname(address, "address")
    except _values.ValueProblem:
        return False


@_refusing
def bench_figures(stdout: Any) -> list[dict]:
    """``llama-bench -o json`` -> one dict per test: prompt (pp) or generation (tg), tokens, tokens per second.
    A number that overflows, inf or nan, or a field of the wrong type is a sentence naming the run and the field."""
    if not isinstance(stdout, (str, bytes)) and stdout is not None:
        raise LlamaCppError(f"llama-bench's output must be text, not {type(stdout).__name__}")
    try:
        runs = json.loads(stdout or "")
    except (ValueError, RecursionError) as exc:
        raise LlamaCppError(f"llama-bench's output is not JSON ({str(exc)[:120]})") from None
    if not isinstance(runs, list):
        raise LlamaCppError("llama-bench's JSON output must be a list of runs")
    out = []
    for index, run in enumerate(runs):
        if not isinstance(run, Mapping):
            continue
        where = f"llama-bench's run {index}"
        prompt = _values.integer(run.get("n_prompt") or 0, f"{where}: n_prompt", 0, 10**9)
        gen = _values.integer(run.get("n_gen") or 0, f"{where}: n_gen", 0, 10**9)
        kind = "pp" if prompt and not gen else "tg" if gen and not prompt else "pp+tg"
        out.append({"test": f"{kind}{prompt or gen}",
                    "tokens_per_second": round(_values.finite(run.get("avg_ts") or 0, f"{where}: avg_ts", 0), 2),
                    "stddev": round(_values.finite(run.get("stddev_ts") or 0, f"{where}: stddev_ts", 0), 2),
                    "backends": _text(run.get("backends"), f"{where}: backends"),
                    "model": _text(run.get("model_type") or run.get("model_filename"), f"{where}: model_type"),
                    "gpu_layers": _values.integer(run.get("n_gpu_layers") or 0, f"{where}: n_gpu_layers", 0, 10**6)})
    return out


def _text(value: Any, name: str) -> str:
    """A label from llama-bench's JSON: one line (it goes into a Markdown report, which escapes it), or empty."""
    if value in (None, ""):
        return ""
    return _values.single_line(value, name, max_length=256)


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
    controller holds its archive); for cross-compiling, ``cross`` (this host's build may be cross-compiled: a
    shareable arm64 CPU build), ``can_cross`` (this host can cross-compile one: amd64 Debian) and ``release`` (the
    distribution and its major version: a cross-build links the builder's release's libraries). Per host the answer
    is ``action`` - ``present`` (nothing to do), ``build``, or ``copy`` - ``source``: the host whose build is copied
    (it archives it once and the controller keeps the archive), or ``controller`` for an archive the controller holds
    (or that ``cross``, the host that cross-compiles it, puts there in this run), and on a host that cross-compiles
    for others ``cross_builds``: the keys, each with ``for`` (the first host of that key). A shareable key is built
    once, by the first host of the play that needs it, when no host has it and the controller holds no archive - by
    the first amd64 host of the same release when every host of the key may be cross-compiled for; a native build
    is built where it runs."""
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
        builders = [h for h in hosts if states[h].get("can_cross")
                    and states[h].get("release") == states[members[0]].get("release")]
        if not holders and not cached and builders and all(states[h].get("cross") for h in members):
            out[builders[0]].setdefault("cross_builds", []).append({"key": key, "for": missing[0]})
            for host in missing:
                out[host] = dict(out[host], action="copy", source="controller", cross=builders[0])
            continue
        source = holders[0] if holders else "controller" if cached else missing[0]
        for host in missing:
            if host != source:
                out[host] = dict(out[host], action="copy", source=source)
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


@_refusing
def stale_builds(found: Any, current: str, keep: Any = 2) -> list[str]:
    """The builds to remove: ``found`` is what ansible.builtin.find says of builds/ (``path``, ``mtime``); the current
    build always stays, and so do the newest others up to ``keep`` builds in all (the previous one is a rollback
    away). Only directories named like a build key are candidates: nothing else in builds/ is the role's."""
    if not _KEY.fullmatch(str(current or "")):
        raise LlamaCppError(f"the current build's key must be 16 hex digits, not {current!r}")
    keep = _values.integer(keep, "llama_cpp_keep_builds", 1)
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


# --- the services' command lines ----------------------------------------------------------------------------------
#
# The options the role owns, from llama.cpp's own argument table: common/arg.cpp of the llama.cpp that
# llama-cpp-python 0.3.36 vendors (llama_cpp_python-0.3.36/vendor/llama.cpp/common/arg.cpp in the source tarball the
# role builds, sha256 832db069..., the lab mirror's sources/llama_cpp_python-0.3.36.tar.gz), each with every alias its
# common_arg lists ({"-m", "--model"} line 3035, {"--host"} 3314, {"--port"} 3330, {"--reuse-port"} 3337,
# {"--api-key"} 3492, {"--api-key-file"} 3503, {"--rpc"} 2680, {"-c", "--ctx-size"} 1639, {"-ngl", "--gpu-layers",
# "--n-gpu-layers"} 2789, {"-t", "--threads"} 1517, {"-a", "--alias"} 3011, {"-lv", "--verbosity", "--log-verbosity"}
# 3939, the model's other sources -mu/-dr/-hf/-hff 3044-3070, the router's --models-dir/--models-preset 3642-3649;
# tests/unit/hostile/test_llama_cpp_hostile.py reads the tarball and checks that no alias is missing).
# llama.cpp's parser (parse_cli_args, line 816) turns '_' into '-' in an argument starting with '--' and then looks
# the whole word up, so '--api_key' is '--api-key'; it does not split '--name=value' (that word is an invalid argument
# there), but a later release might, so an extra argument is compared by the part before '=' as well. --host takes
# comma-separated addresses and UNIX socket paths (line 3316): the role's own is one host name or address. Each owned
# option names the variable that sets it. The unit sets no Environment=, so llama.cpp's LLAMA_ARG_* variables are
# the service manager's only.
SERVER_OWNED: tuple[tuple[tuple[str, ...], str], ...] = (
    (("-m", "--model"), "llama_cpp_model_path or llama_cpp_model_url"),
    (("-mu", "--model-url"), "llama_cpp_model_url (fetched once and checked against llama_cpp_model_sha256)"),
    (("-dr", "--docker-repo"), "llama_cpp_model_url (the role fetches and checks the model)"),
    (("-hf", "-hfr", "--hf-repo"), "llama_cpp_model_url (the role fetches and checks the model)"),
    (("-hff", "--hf-file"), "llama_cpp_model_url (the role fetches and checks the model)"),
    (("--models-dir",), "llama_cpp_model_path (the role serves one checked model)"),
    (("--models-preset",), "llama_cpp_model_path (the role serves one checked model)"),
    (("--host",), "llama_cpp_server_host"),
    (("--port",), "llama_cpp_server_port"),
    (("--reuse-port",), "llama_cpp_server_port (another process could bind the same port)"),
    (("--api-key",), "llama_cpp_server_api_key (from vault: the role writes it to a file only the service reads; on"
                     " the command line it would be in the world-readable unit and in ps)"),
    (("--api-key-file",), "llama_cpp_server_api_key (the role's key file)"),
    (("--rpc",), "llama_cpp_server_rpc and the hosts of llama_cpp_workers_group"),
    (("-c", "--ctx-size"), "llama_cpp_server_ctx_size"),
    (("-ngl", "--gpu-layers", "--n-gpu-layers"), "llama_cpp_server_gpu_layers (or, with llama_cpp_split, the split)"),
    (("-ts", "--tensor-split"), "llama_cpp_split (planned from the model's GGUF header and each node's memory)"),
    (("-t", "--threads"), "llama_cpp_server_threads"),
    (("-a", "--alias"), "llama_cpp_server_alias"),
    (("-lv", "--verbosity", "--log-verbosity"), "llama_cpp_server_log_verbosity"),
)
# rpc-server's own parser (tools/rpc/rpc-server.cpp, rpc_server_params_parse): every word of its command line is the
# role's (-H/--host, -p/--port, -t/--threads, -c/--cache); it has no extra arguments.
RPC_OWNED: tuple[tuple[tuple[str, ...], str], ...] = (
    (("-H", "--host"), "llama_cpp_rpc_host"),
    (("-p", "--port"), "llama_cpp_rpc_port"),
    (("-t", "--threads"), "llama_cpp_rpc_threads"),
    (("-c", "--cache"), "llama_cpp_rpc_cache"),
)


def option_name(word: str) -> str:
    """The option a command-line word names as llama.cpp's parser reads it: '--api_key=X' -> '--api-key'."""
    if not word.startswith("-"):
        return ""
    name = word.split("=", 1)[0]
    return name.replace("_", "-") if name.startswith("--") else name


def _owner(name: str, table: Sequence[tuple[tuple[str, ...], str]]) -> tuple[str, str] | None:
    for names, variable in table:
        if name in names:
            return names[-1], variable
    return None


def final_options(argv: Sequence[str], table: Sequence[tuple[tuple[str, ...], str]]) -> dict[str, str]:
    """The owned options of a whole command line, by their long name, as the program reads them: the last one given
    wins, and '--name=value' counts as '--name value'."""
    out: dict[str, str] = {}
    index = 1
    while index < len(argv):
        word = argv[index]
        owner = _owner(option_name(word), table)
        if owner is not None:
            if "=" in word:
                out[owner[0]] = word.split("=", 1)[1]
            elif index + 1 < len(argv):
                out[owner[0]] = argv[index + 1]
                index += 1
            else:
                out[owner[0]] = ""
        index += 1
    return out


@_refusing
def extra_args(value: Any, name: str = "llama_cpp_server_extra_args") -> list[str]:
    """The operator's extra llama-server arguments: a list of one-line words, none of them an option the role owns
    (in any of its aliases, with '_' for '-', or as '--name=value'): each is refused with the variable to set."""
    words = _values.string_list(value, name, lambda v, n: _values.single_line(v, n, allow_empty=True))
    for index, word in enumerate(words):
        owner = _owner(option_name(word), SERVER_OWNED)
        if owner is not None:
            raise LlamaCppError(f"{name}[{index}] is {word!r}: {owner[0]} is the role's to set (through {owner[1]});"
                                " it cannot be given as an extra argument")
    return words


@_refusing
def server_argv(settings: Mapping[str, Any]) -> list[str]:
    """llama-server's command line. ``settings``: ``binary``, ``model`` (an absolute path), ``host``, ``port``,
    ``ctx_size``, ``gpu_layers``, ``tensor_split`` (the split's --tensor-split, empty: none), ``threads`` (0:
    llama.cpp's choice), ``alias``, ``log_verbosity`` (4 logs where
    each layer went, the RPC workers' buffers included; empty: llama.cpp's 3), ``api_key_file`` (empty: none),
    ``rpc`` (the --rpc list, empty: none), ``extra_args`` (a list, appended as given once none of its words is an
    option the role owns)."""
    model = settings.get("model") or ""
    if not isinstance(model, str) or not model.startswith("/"):
        raise LlamaCppError(f"the model must be an absolute path to a GGUF file, not {model!r}")
    model = _values.absolute_path(model, "the model (llama_cpp_model_path or llama_cpp_model_url)")
    argv = [_binary(settings.get("binary") or "llama-server"), "--model", model,
            "--host", _values.hostname(settings.get("host"), "llama_cpp_server_host"),
            "--port", str(_values.port(settings.get("port"), "llama_cpp_server_port")),
            "--ctx-size", str(_values.integer(settings.get("ctx_size"), "llama_cpp_server_ctx_size", 1)),
            "--n-gpu-layers", str(_values.integer(settings.get("gpu_layers"), "llama_cpp_server_gpu_layers", 0))]
    if settings.get("tensor_split"):
        split = _values.single_line(settings["tensor_split"], "the --tensor-split list")
        if not all(re.fullmatch(r"[0-9]+(\.[0-9]+)?", part) for part in split.split(",")):
            raise LlamaCppError(f"the --tensor-split list must be numbers separated by commas, not {split!r}")
        argv += ["--tensor-split", split]
    threads = _values.integer(settings.get("threads") or 0, "llama_cpp_server_threads", 0)
    if threads:
        argv += ["--threads", str(threads)]
    if settings.get("alias"):
        argv += ["--alias", _values.single_line(settings["alias"], "llama_cpp_server_alias", max_length=256)]
    if settings.get("log_verbosity") not in (None, ""):
        argv += ["--log-verbosity", str(_values.integer(settings["log_verbosity"], "llama_cpp_server_log_verbosity",
                                                        0, 10))]
    if settings.get("api_key_file"):
        argv += ["--api-key-file", _values.absolute_path(settings["api_key_file"], "the API key file")]
    if settings.get("rpc"):
        rpc = _values.single_line(settings["rpc"], "the --rpc list")
        for endpoint in rpc.split(","):
            address, _sep, number = endpoint.rpartition(":")
            if not _rpc_address(address) or not number.isdigit():
                raise LlamaCppError(f"the --rpc list holds {endpoint!r}, not an IPv4 address or host name with a port")
            _values.port(number, f"the port of {endpoint!r} in the --rpc list")
        argv += ["--rpc", rpc]
    return argv + extra_args(settings.get("extra_args") or [])


def _binary(value: Any) -> str:
    text = _values.single_line(value, "the program")
    if "/" in text:
        text = _values.absolute_path(text, "the program")
    return text


@_refusing
def rpc_argv(settings: Mapping[str, Any]) -> list[str]:
    """rpc-server's command line: ``binary``, ``host``, ``port``, ``threads`` (0: llama.cpp's choice), ``cache``
    (-c/--cache: the worker keeps each weight tensor over 10 MiB it receives in $LLAMA_CACHE/rpc and a server's next
    load sends only its hash; the unit sets LLAMA_CACHE, see services)."""
    host = settings.get("host")
    try:
        host = _values.ip_address(host, "llama_cpp_rpc_host", version=4)
    except _values.ValueProblem:
        raise LlamaCppError("rpc-server binds an IPv4 address only (it takes no names and no IPv6); llama_cpp_rpc_host"
                            f" is {host!r}") from None
    argv = [_binary(settings.get("binary") or "ggml-rpc-server"), "--host", host,
            "--port", str(_values.port(settings.get("port"), "llama_cpp_rpc_port"))]
    threads = _values.integer(settings.get("threads") or 0, "llama_cpp_rpc_threads", 0)
    if threads:
        argv += ["--threads", str(threads)]
    return argv + (["--cache"] if settings.get("cache") else [])


@_refusing
def systemd_exec(argv: Sequence[str], name: str = "ExecStart") -> str:
    """A command line as systemd's ExecStart= reads it (``_values.systemd_exec``): each word one argument, quoted
    where it needs to be, % and $ made literal; a line break is refused."""
    return _values.systemd_exec(argv, name)


@_refusing
def exposure_problems(settings: Mapping[str, Any]) -> list[str]:
    """Sentences for a service that would listen where it should not: llama-server beyond loopback without an API
    key, rpc-server (no authentication at all) on every address. ``settings``: ``serve``, ``server_host``,
    ``api_key_set``, ``work``, ``rpc_host``, ``allow_open`` (the operator's explicit yes). The role's check reads
    these from the final command lines (``services``), extra arguments included."""
    if not isinstance(settings, Mapping):
        raise LlamaCppError(f"the exposure check needs a mapping of settings, not {type(settings).__name__}")
    if _values.boolean(settings.get("allow_open") or False, "llama_cpp_allow_open"):
        return []
    out = []
    server_host = str(settings.get("server_host") or "").strip()
    if _values.boolean(settings.get("serve") or False, "llama_cpp_serve") and not _values.is_loopback(server_host) \
            and not settings.get("api_key_set"):
        out.append(f"llama-server would listen on {settings.get('server_host')} without an API key: set"
                   " llama_cpp_server_api_key (from vault), bind llama_cpp_server_host to 127.0.0.1, or say"
                   " llama_cpp_allow_open: true")
    rpc_host = str(settings.get("rpc_host") or "").strip().strip("[]")
    if _values.boolean(settings.get("work") or False, "llama_cpp_work") and _values.is_wildcard(rpc_host):
        out.append("rpc-server has no authentication and would listen on every address: set llama_cpp_rpc_host to"
                   " this host's address on the cluster network (llama_cpp_rpc_address), or say llama_cpp_allow_open:"
                   " true")
    return out


# --- the units ----------------------------------------------------------------------------------------------------

_USER = r"[a-z_][a-z0-9_-]{0,31}"
_HEADER = "# Ansible managed (homelab.nvidia_gpu.llama_cpp)"
_HARDENING = ("ProtectSystem=strict", "ProtectHome=true", "PrivateTmp=true", "NoNewPrivileges=true",
              "PrivateDevices=true", "ProtectKernelTunables=true", "ProtectKernelModules=true",
              "ProtectControlGroups=true", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
              "RestrictNamespaces=true", "RestrictSUIDSGID=true", "LockPersonality=true", "CapabilityBoundingSet=",
              "SystemCallArchitectures=native")


def _unit(description: str, documentation: str, user: str, exec_start: str, data_dir: str, backend: str,
          comment: str = "", writes: str = "") -> str:
    hardening = [line for line in _HARDENING if backend == "cpu" or line != "PrivateDevices=true"]
    if writes:  # the one folder it writes (ProtectSystem=strict makes the rest read-only)
        path = _values.systemd_value(_values.absolute_path(writes, "the folder the service writes"), "a folder")
        if any(c.isspace() or c in "\"'\\" for c in path):
            raise LlamaCppError(f"the folder a service writes must have no space or quote in its path, not {writes!r}")
        comment = "\n".join(filter(None, [comment, f"Environment=LLAMA_CACHE={path}"]))
        hardening = [*hardening, f"ReadWritePaths={path}"]
    lines = [_HEADER, "[Unit]", f"Description={_values.systemd_value(description, 'Description')}",
             f"Documentation={documentation}", "Wants=network-online.target", "After=network-online.target", "",
             "[Service]", f"User={user}", f"Group={user}", f"ExecStart={exec_start}", "Restart=on-failure",
             "RestartSec=5"] + ([comment] if comment else []) + \
        [f"WorkingDirectory={_values.systemd_value(data_dir, 'llama_cpp_data_dir')}"] + hardening + \
        ["", "[Install]", "WantedBy=multi-user.target"]
    return "\n".join(lines) + "\n"


@_refusing
def services(settings: Mapping[str, Any]) -> dict:
    """Both services of a host, planned from the role's variables: their command lines (``server_argv``,
    ``rpc_argv``), their units (``server_unit``, ``rpc_unit``: every line rendered here from checked values, nothing
    interpolated raw), and ``problems``: the exposure check run on the FINAL command lines - the host and the API key
    llama-server will read (the last --host, --api-key-file), the address rpc-server will bind.

    ``settings``: ``serve``, ``work``, ``allow_open``, ``user``, ``data_dir``, ``backend`` (cpu or cuda: a CPU
    build's services see no devices), ``server`` (server_argv's settings) and ``rpc`` (rpc_argv's)."""
    if not isinstance(settings, Mapping):
        raise LlamaCppError(f"the services' settings must be a mapping, not {type(settings).__name__}")
    serve = _values.boolean(settings.get("serve") or False, "llama_cpp_serve")
    work = _values.boolean(settings.get("work") or False, "llama_cpp_work")
    allow_open = _values.boolean(settings.get("allow_open") or False, "llama_cpp_allow_open")
    backend = settings.get("backend")
    if backend not in ("cpu", "cuda"):
        raise LlamaCppError(f"the build's backend must be cpu or cuda, not {backend!r}")
    server_allow = settings.get("server_allow")
    if server_allow is not None:
        server_allow = _values.address_list(server_allow, "llama_cpp_server_allow")
    out = {"server_argv": [], "rpc_argv": [], "server_unit": "", "rpc_unit": "", "problems": [],
           "server_allow": server_allow, "server_exposes": SERVER_EXPOSES}
    if not (serve or work):
        return out
    user = _values.word(settings.get("user"), "llama_cpp_user", _USER,
                        "a user name (lower-case letters, digits, _ and -, starting with a letter or _)")
    data_dir = _values.absolute_path(settings.get("data_dir"), "llama_cpp_data_dir")
    exposure: dict[str, Any] = {"serve": serve, "work": work, "allow_open": allow_open}
    if serve:
        argv = server_argv(settings.get("server") or {})
        final = final_options(argv, SERVER_OWNED)
        exposure.update(server_host=final.get("--host", ""),
                        api_key_set=bool(final.get("--api-key-file") or final.get("--api-key")))
        where = _values.host_port(final.get("--host", ""), int(final.get("--port", "0")))
        out.update(server_argv=argv, server_unit=_unit(
            f"llama.cpp's llama-server (OpenAI-compatible API) on {where}",
            "https://github.com/ggml-org/llama.cpp/tree/master/tools/server", user,
            systemd_exec(argv, "llama-server's command line"), data_dir, backend,
            "# Reads the build and the model, writes nothing; the API key file is root's, readable by the group."))
    if work:
        argv = rpc_argv(settings.get("rpc") or {})
        final = final_options(argv, RPC_OWNED)
        exposure["rpc_host"] = final.get("--host", "")
        out.update(rpc_argv=argv, rpc_unit=_unit(
            f"llama.cpp's RPC worker on {_values.host_port(final['--host'], int(final['--port']))} (no authentication:"
            " cluster network only)", "https://github.com/ggml-org/llama.cpp/tree/master/tools/rpc", user,
            systemd_exec(argv, "rpc-server's command line"), data_dir, backend,
            "# Its tensor cache (--cache) is LLAMA_CACHE/rpc, the one folder it writes." if "--cache" in argv else "",
            (settings.get("rpc") or {}).get("cache_dir") or "" if "--cache" in argv else ""))
    out["problems"] = exposure_problems(exposure)
    return out


# --- a shared build's archive and its digest ----------------------------------------------------------------------

@_refusing
def archive_digest(text: Any, key: str) -> str:
    """The sha256 a sidecar (``KEY.tar.gz.sha256``, sha256sum's format: ``HEX  KEY.tar.gz``) records for the archive
    of build ``key``; anything else is refused - a missing or altered sidecar never lets an archive through."""
    if not _KEY.fullmatch(str(key or "")):
        raise LlamaCppError(f"the build's key must be 16 hex digits, not {key!r}")
    line = _values.single_line(str(text or "").rstrip("\n"), f"the digest of build {key}'s archive", allow_empty=True)
    match = re.fullmatch(r"([0-9a-f]{64}) [ *]" + re.escape(f"{key}.tar.gz"), line)
    if not match:
        raise LlamaCppError(f"the digest of build {key}'s archive must read '<64 hex digits>  {key}.tar.gz', not"
                            f" {line[:90]!r}: the archive is not unpacked")
    return match.group(1)


@_refusing
def archive_check(expected: Any, actual: Any, key: str, where: str) -> list[str]:
    """Sentences (none when it is the same) for an archive whose sha256 on the receiving host differs from the one
    its builder recorded."""
    want = str(expected or "")
    if not re.fullmatch(r"[0-9a-f]{64}", want):
        return [f"{where}: build {key}'s archive has no recorded sha256 ({want[:70]!r}); it is not unpacked"]
    if str(actual or "") != want:
        return [f"{where}: build {key}'s archive has sha256 {str(actual or 'none')[:64]}, but its builder recorded"
                f" {want}: it was altered or damaged on the way (the controller's cache?), and is not unpacked; remove"
                " it from llama_cpp_controller_cache and run again to rebuild or fetch it anew"]
    return []


# --- who may reach the RPC workers --------------------------------------------------------------------------------

SERVER_EXPOSES = "llama-server's OpenAI-compatible API (behind llama_cpp_server_api_key where one is set)"
RPC_EXPOSES = ("llama.cpp's RPC worker (no authentication: whoever reaches the port can load tensors into it, run"
               " computations and read its memory)")


def _server_addresses(host: str, hv: Mapping[str, Any]) -> list[str]:
    """The addresses a server reaches its workers from: its llama_cpp_rpc_address, else the IPv4 addresses its
    facts list, else its ansible_host if that is an address."""
    if hv.get("llama_cpp_rpc_address"):
        return [_values.ip_address(hv["llama_cpp_rpc_address"], f"{host}'s llama_cpp_rpc_address")]
    facts = hv.get("ansible_facts") or {}
    found = list((facts.get("all_ipv4_addresses") or []) if isinstance(facts, Mapping) else [])
    default = (facts.get("default_ipv4") or {}).get("address") if isinstance(facts, Mapping) else None
    if default:
        found.insert(0, default)
    if not found and hv.get("ansible_host"):
        try:
            found = [_values.ip_address(hv["ansible_host"], f"{host}'s ansible_host")]
        except _values.ValueProblem:
            found = []
    if not found:
        raise LlamaCppError(f"{host}: no address is known for this server (no facts, no llama_cpp_rpc_address, no"
                            " ansible_host that is an address), so the RPC workers' firewall cannot admit it: run the"
                            " play on the servers too, or set llama_cpp_rpc_allow")
    return [_values.ip_address(address, f"{host}'s address") for address in found]


@_refusing
def rpc_allow(hostvars: Mapping[str, Any], servers: Any, override: Any = None) -> dict:
    """Who may reach an RPC worker's port: the addresses of the hosts of llama_cpp_servers_group (``servers``, a
    list: a group name given as a string is refused), or ``override`` (llama_cpp_rpc_allow, addresses or networks)
    when it is a list. ``warning`` says what an allow list that admits more than the servers exposes."""
    if not isinstance(hostvars, Mapping):
        raise LlamaCppError(f"hostvars must be a mapping of hosts, not {type(hostvars).__name__}")
    derived: list[str] = []
    for host in _values.string_list(servers, "the hosts of llama_cpp_servers_group"):
        hv = hostvars.get(host) or {}
        for address in _server_addresses(host, hv if isinstance(hv, Mapping) else {}):
            if not _values.is_loopback(address) and address not in derived:
                derived.append(address)
    if override is None:
        return {"allow": derived, "derived": derived, "warning": "", "exposes": RPC_EXPOSES}
    allow = _values.address_list(override, "llama_cpp_rpc_allow")
    servers_set = {ipaddress.ip_network(a) for a in derived}
    wider = [a for a in allow if ipaddress.ip_network(a) not in servers_set
             and not ipaddress.ip_network(a).network_address.is_loopback]
    warning = ""
    if wider:
        everyone = [a for a in wider if a in ("0.0.0.0/0", "::/0")]
        warning = (f"llama_cpp_rpc_allow admits {', '.join(wider)} beyond the servers of llama_cpp_servers_group"
                   f" ({', '.join(derived) or 'none'}){' - that is every address' if everyone else ''}: every host"
                   f" there reaches {RPC_EXPOSES}")
    return {"allow": allow, "derived": derived, "warning": warning, "exposes": RPC_EXPOSES}


def api_key_problem(key: Any) -> str:
    """A sentence (never showing the key) when llama_cpp_server_api_key cannot be written as the key file's one line:
    a line break would add a second key (llama.cpp reads one per line), a leading '#' would make it a comment."""
    if key is None or key == "":
        return ""
    if not isinstance(key, str):
        return f"llama_cpp_server_api_key must be a string (from vault), not {type(key).__name__}"
    try:
        _values.single_line(key, "llama_cpp_server_api_key")
    except _values.ValueProblem:
        return ("llama_cpp_server_api_key must be one line of printable text: it holds a line break or a control"
                " character (not shown), and llama-server reads one key per line of its key file")
    if key.strip() != key or key.startswith("#"):
        return ("llama_cpp_server_api_key must not start or end with a space or start with '#' (not shown):"
                " llama-server would read another key, or none")
    return ""


# --- the role's one plan ------------------------------------------------------------------------------------------

UNITS = {"server": "llama-server", "rpc": "llama-rpc-server"}
CONFIG_DIR = "/etc/llama.cpp"
API_KEY_FILE = f"{CONFIG_DIR}/api-keys"
RUN_PACKAGES = ("libgomp1", "curl", "iproute2")  # the binaries' OpenMP runtime; curl and ss for the checks
BUILD_PACKAGES = ("cmake", "g++", "make")


def _absolute(settings: Mapping[str, Any], name: str) -> str:
    return _values.absolute_path(settings.get(name), f"llama_cpp_{name}").rstrip("/") or "/"


def source_layout(url: Any, sha256: Any, subdir: Any, build_root: str, key: str = "") -> dict:
    """Where a source tarball and its build live under llama_cpp_build_root: the tarball (SHA256.tar.gz), the
    unpacked llama.cpp (src/SHA256[:16]: the subdir's contents, tar's --strip-components), the tree (build/KEY) and
    the archive of a shared build (KEY.tar.gz). The one place this layout is spelled out."""
    _check_source_sha256(sha256)
    text = _values.single_line(url, "llama_cpp_source_url")
    if not re.match(r"(https?|file)://", text):
        raise LlamaCppError(f"llama_cpp_source_url must be an http, https or file URL, not {text[:80]!r}")
    parts = [p for p in str(subdir or "").split("/") if p]
    if str(subdir or "").startswith("/") or ".." in parts:
        raise LlamaCppError(f"llama_cpp_source_subdir must be a path inside the tarball, not {subdir!r}")
    out = {"url": text, "sha256": sha256, "tarball": f"{build_root}/{sha256}.tar.gz",
           "dir": f"{build_root}/src/{sha256[:16]}", "subdir": "/".join(parts), "strip": len(parts) or 1}
    if key:
        out.update(tree=f"{build_root}/build/{key}", archive=f"{build_root}/{key}.tar.gz")
    return out


def _cuda_toolkit(settings: Mapping[str, Any], read: Callable[[str], Any]) -> tuple[str, str]:
    """The CUDA toolkit a CUDA build compiles with: its home and its version (version.json, read on the host)."""
    home = str(settings.get("cuda_home") or "")
    installed = str(settings.get("cuda_toolkit_version") or "")
    home = home or (f"/usr/local/cuda-{installed}" if installed else "/usr/local/cuda")
    home = _values.absolute_path(home, "llama_cpp_cuda_home")
    text = read(f"{home}/version.json")
    try:
        version = str(json.loads(text)["cuda"]["version"]) if text else ""
    except (ValueError, KeyError, TypeError):
        version = ""
    if not version:
        raise LlamaCppError("the plan gives this host a CUDA build of llama.cpp, but there is no CUDA toolkit in"
                            f" {home} (no readable version.json). Run playbooks/ml.yml"
                            " (homelab.nvidia_gpu.cuda_toolkit) first, set llama_cpp_cuda_home, or build for the CPU"
                            " with llama_cpp_cuda: false.")
    return home, version


def _under(found: Sequence[Mapping], folder: str) -> list[Mapping]:
    return [e for e in found if str(e.get("path") or "").rstrip("/").rpartition("/")[0] == folder]


def _model(settings: Mapping[str, Any], data_dir: str) -> dict:
    url = str(settings.get("model_url") or "")
    path = str(settings.get("model_path") or "")
    serve = bool(settings.get("serve"))
    if url:
        if not re.fullmatch(r"[0-9a-f]{64}", str(settings.get("model_sha256") or "")):
            raise LlamaCppError("llama_cpp_model_url needs llama_cpp_model_sha256 (64 hex digits), not"
                                f" {str(settings.get('model_sha256'))[:70]!r}")
        name = _values.single_line(urlsplit(url).path.rpartition("/")[2], "the file name of llama_cpp_model_url")
        path = f"{data_dir}/models/{name}"
    elif path:
        path = _values.absolute_path(path, "llama_cpp_model_path")
        if serve and settings.get("model_found") is False:
            raise LlamaCppError(f"{settings.get('host')}: the model {path} is not there; put the GGUF file there or set"
                                " llama_cpp_model_url and llama_cpp_model_sha256 so that the role fetches it")
    elif serve:
        raise LlamaCppError("a server (llama_cpp_serve) needs a model: llama_cpp_model_url with llama_cpp_model_sha256,"
                            " or an absolute llama_cpp_model_path")
    fetch = bool(url) and (serve or bool(settings.get("model_on_workers")))
    return {"path": path, "url": url, "sha256": str(settings.get("model_sha256") or ""), "fetch": fetch}


def _server_url(host: str, port: int) -> str:
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


@_refusing
def plan(settings: Mapping[str, Any], gpu_plan: Mapping[str, Any], facts: Mapping[str, Any], found: Any,
         hostvars: Mapping[str, Any], read_host_file: Callable[[str], Any] | None = None,
         controller_has: Callable[[str], bool] | None = None) -> dict:
    """Everything the role llama_cpp does on one host, decided once (the action homelab.nvidia_gpu.llama_cpp_plan).

    ``settings``: the role's variables without their llama_cpp_ prefix, plus ``host`` (inventory_hostname),
    ``workers`` and ``servers`` (the hosts of the two groups) and ``cuda_toolkit_version``. ``gpu_plan``: the fact
    nvidia_gpu_plan (read, never re-derived). ``facts``: ansible_facts (distribution, its major version, architecture,
    processor_vcpus). ``found``: ansible.builtin.find's files under the prefix's builds/ and the build root (depth 2:
    build keys, their build.json, sources). ``hostvars``: the workers' llama_cpp_rpc_endpoint and the servers'
    addresses. ``read_host_file``: reads a file on the host (a CUDA build's toolkit version.json), None if absent.
    ``controller_has``: whether a file exists on the controller (a shared build's archive and its sha256)."""
    s = dict(settings)
    read_host_file = read_host_file or (lambda _path: None)
    controller_has = controller_has or (lambda _path: False)
    host = str(s.get("host") or "")
    prefix, build_root, data_dir = (_absolute(s, n) for n in ("prefix", "build_root", "data_dir"))
    jobs = _values.integer(s.get("build_jobs") or 0, "llama_cpp_build_jobs", 0)
    serve, work = bool(s.get("serve")), bool(s.get("work"))
    model = _model(s, data_dir)
    platform = "-".join(str(facts.get(k) or "") for k in ("distribution", "distribution_major_version",
                                                          "architecture"))
    choices = {"native": bool(s.get("native", True)), "cuda": str(s.get("cuda", "auto")).lower(),
               "cmake_options": s.get("cmake_options") or {}}
    backend = build_options(gpu_plan, choices)["backend"]
    cuda_home, toolkit = _cuda_toolkit(s, read_host_file) if backend == "cuda" else ("", "")
    build = host_build(gpu_plan, dict(choices, toolkit=toolkit), s.get("source_sha256"), platform)
    key = build["key"]
    builds, current = f"{prefix}/builds", f"{prefix}/current"
    source = source_layout(s.get("source_url"), s.get("source_sha256"), s.get("source_subdir"), build_root, key)
    entries = _found_files(found or [])
    ccache = bool(s.get("ccache"))
    cache = str(s.get("controller_cache") or "").rstrip("/")
    build.update(
        installed=any(str(e.get("path")) == f"{builds}/{key}/build.json" for e in entries),
        cached=bool(build["shareable"] and cache and controller_has(f"{cache}/{key}.tar.gz")
                    and controller_has(f"{cache}/{key}.tar.gz.sha256")),
        source=source, dest=f"{builds}/{key}", packages=list(BUILD_PACKAGES) + (["ccache"] if ccache else []),
        ccache_dir=str(s.get("ccache_dir") or "") if ccache else "",
        configure=["cmake", "-S", source["dir"], "-B", source["tree"]] + build["cmake_args"]
        + ([f"-DCMAKE_CUDA_COMPILER={cuda_home}/bin/nvcc"] if backend == "cuda" else [])
        + [f"-DGGML_CCACHE={'ON' if ccache else 'OFF'}"],
        compile=["cmake", "--build", source["tree"], "--target", *build["targets"], "-j",
                 str(jobs or _values.integer(facts.get("processor_vcpus") or 2, "processor_vcpus", 1))],
        environment={"CCACHE_DIR": s.get("ccache_dir"), "CCACHE_BASEDIR": build_root} if ccache else {},
        record=dict(build, source_url=source["url"], source_sha256=source["sha256"]))
    arch = str(facts.get("architecture") or "")
    release = f"{facts.get('distribution') or ''}-{facts.get('distribution_major_version') or ''}"
    build.update(arch=arch, release=release,
                 cross=bool(_values.boolean(s.get("cross_build", True), "llama_cpp_cross_build") and arch == "aarch64"
                            and backend == "cpu" and build["shareable"]),
                 can_cross=arch == "x86_64" and str(facts.get("os_family") or "") == "Debian")
    stale = stale_builds(_under(entries, builds), key, s.get("keep_builds", 2))
    cleanup = sorted(p for k in stale for p in (f"{builds}/{k}", f"{build_root}/build/{k}", f"{build_root}/{k}.tar.gz"))
    cleanup += stale_sources(_under(entries, build_root) + _under(entries, f"{build_root}/src"), source["sha256"])

    problem = api_key_problem(s.get("server_api_key")) if serve else ""
    if problem:
        raise LlamaCppError(f"{host}: {problem}")
    api_key = bool(s.get("server_api_key"))
    workers = [w for w in _values.string_list(s.get("workers") or [], "the hosts of llama_cpp_workers_group")
               if w != host]
    rpc_list = rpc_servers(hostvars, workers, s.get("rpc_port")) if serve and s.get("server_rpc") else ""
    server = {"binary": f"{current}/bin/llama-server", "model": model["path"], "host": s.get("server_host"),
              "port": s.get("server_port"), "ctx_size": s.get("server_ctx_size"),
              "gpu_layers": s.get("server_gpu_layers"), "threads": s.get("server_threads"),
              "alias": s.get("server_alias"), "log_verbosity": s.get("server_log_verbosity"),
              "api_key_file": API_KEY_FILE if api_key else "", "rpc": rpc_list,
              "extra_args": s.get("server_extra_args") or []}
    rpc_cache = _values.boolean(s.get("rpc_cache", True), "llama_cpp_rpc_cache")
    rpc_cache_dir = _values.absolute_path(s.get("rpc_cache_dir") or f"{data_dir}/rpc-cache", "llama_cpp_rpc_cache_dir")
    rpc = {"binary": f"{current}/bin/{TARGETS[1]}", "host": s.get("rpc_host"), "port": s.get("rpc_port"),
           "threads": s.get("rpc_threads"), "cache": rpc_cache, "cache_dir": rpc_cache_dir if rpc_cache else ""}
    services_settings = {"serve": serve, "work": work, "allow_open": s.get("allow_open"), "user": s.get("user"),
                         "data_dir": data_dir, "backend": backend, "server": server, "rpc": rpc,
                         "server_allow": s.get("server_allow")}
    svc = services(services_settings)
    if svc["problems"]:
        raise LlamaCppError(f"{host}: {' '.join(svc['problems'])}")
    firewall = bool(s.get("firewall", True))
    rpc_fw = rpc_allow(hostvars, s.get("servers") or [], s.get("rpc_allow")) if work and firewall else \
        {"allow": [], "warning": "", "exposes": ""}
    if work and not firewall:
        rpc_fw["warning"] = (f"{host}: llama_cpp_firewall is false, so no table guards rpc-server's port"
                             f" {s.get('rpc_host')}:{s.get('rpc_port')}: every host that reaches it reaches"
                             f" {RPC_EXPOSES}")
    server_port = _values.port(s.get("server_port"), "llama_cpp_server_port")
    rpc_port = _values.port(s.get("rpc_port"), "llama_cpp_rpc_port")
    timeout = _values.integer(s.get("server_start_timeout") or 0, "llama_cpp_server_start_timeout", 0)
    endpoint = f"{s.get('rpc_host')}:{rpc_port}" if work else ""
    gpu_layers = s.get("server_gpu_layers") if backend == "cuda" else 0
    url = _server_url(str(s.get("server_host") or ""), server_port) if serve else ""
    listens = f"llama-server on {s.get('server_host')}:{server_port}" if serve else "no llama-server"
    summary = (f"{host}: llama.cpp {backend} build {key} ({build['reason']}; CPU {build['cpu']};"
               f" {'installed' if build['installed'] else 'not installed yet'});"
               f" {listens}{' with RPC workers ' + rpc_list if serve and rpc_list else ''};"
               f" {'rpc-server on ' + endpoint if work else 'no rpc-server'}"
               f"{' (tensor cache ' + rpc['cache_dir'] + ')' if work and rpc_cache else ''}")
    serve_plan = {"enabled": serve, "unit": UNITS["server"], "text": svc["server_unit"], "argv": svc["server_argv"],
                  "restart": "llama_cpp server restart", "url": url, "model": model["path"] if serve else "",
                  "api_key_file": API_KEY_FILE, "api_key": api_key, "rpc": rpc_list,
                  "workers": workers if serve else [], "health_retries": -(-timeout // 3),
                  "rpc_workers": workers if serve and rpc_list else [],  # the split's devices, in --rpc order
                  "firewall": {"name": "llama_cpp_server", "port": server_port,
                               "state": "present" if firewall and svc["server_allow"] is not None else "absent",
                               "allow": svc["server_allow"] or [], "exposes": svc["server_exposes"]}}
    worker_plan = {"enabled": work, "unit": UNITS["rpc"], "text": svc["rpc_unit"], "argv": svc["rpc_argv"],
                   "restart": "llama_cpp rpc restart", "endpoint": endpoint, "port": rpc_port,
                   "cache_dir": rpc["cache_dir"] if work else "",
                   "listening": r"(^|\s)" + re.escape(endpoint) + r"\s",
                   "firewall": {"name": "llama_cpp_rpc", "port": rpc_port, "state": "present" if firewall else "absent",
                                "allow": rpc_fw["allow"], "exposes": rpc_fw["exposes"]}}
    enabled = [p for p in (worker_plan, serve_plan) if p["enabled"]]  # the worker first: it restarts first
    return {
        "build": build,
        "packages": list(RUN_PACKAGES),
        "builds": builds, "current": current, "build_root": build_root,
        "keep_builds": _values.integer(s.get("keep_builds", 2), "llama_cpp_keep_builds", 1),
        "cross_found": [{"key": str(e.get("path")).rpartition("/")[2], "mtime": e.get("mtime")}
                        for e in _under(entries, f"{build_root}/cross")],
        "folders": [builds, build_root, f"{build_root}/src", f"{build_root}/build"] + (
            [build["ccache_dir"]] if build["ccache_dir"] else []),
        "cleanup": cleanup,
        "services": serve or work,
        "enabled": enabled,
        "services_settings": services_settings,
        "user": s.get("user"),
        "folders_of_services": [{"path": data_dir, "group": "root", "mode": "0755"},
                                {"path": f"{data_dir}/models", "group": "root", "mode": "0755"},
                                {"path": CONFIG_DIR, "group": s.get("user"), "mode": "0750"}]
        + ([{"path": rpc["cache_dir"], "group": s.get("user"), "mode": "0770"}] if work and rpc_cache else []),
        "data_dir": data_dir,
        "model": model,
        "serve": serve_plan,
        "worker": worker_plan,
        "bench": {"argv": [f"{current}/bin/llama-bench", "--model", model["path"],
                           "-p", str(_values.integer(s.get("bench_prompt"), "llama_cpp_bench_prompt", 0)),
                           "-n", str(_values.integer(s.get("bench_gen"), "llama_cpp_bench_gen", 0)),
                           "-r", str(_values.integer(s.get("bench_repetitions"), "llama_cpp_bench_repetitions", 1)),
                           "-ngl", str(gpu_layers), "-o", "json"],
                  "model": model["path"]},
        "summary": summary,
        "warnings": [rpc_fw["warning"]] if rpc_fw["warning"] else [],
    }


# --- across the play's hosts (after every host made its plan) -----------------------------------------------------

def _plan_of(hostvars: Mapping[str, Any], host: str) -> Mapping[str, Any]:
    registered = (hostvars.get(host) or {}).get("__llama_cpp_plan") or {}
    return (registered.get("plan") or {}) if isinstance(registered, Mapping) else {}


@_refusing
def build_action(hostvars: Mapping[str, Any], hosts: Any, host: str) -> dict:
    """This host's part in build_plan over the play's hosts, read from each host's registered plan
    (``__llama_cpp_plan.plan.build``: key, shareable, installed, cached, cross, can_cross, release), with ``archive``:
    whether this host archives its build for the controller (it builds a shareable key, or another host copies from
    it), ``cross``: the host that cross-compiles this host's build in this run (empty: none), ``cross_builds``: the
    builds this host cross-compiles for others (cross_build's plans), and ``cross_cleanup``: its older
    cross-compiled builds to remove (it keeps llama_cpp_keep_builds of them, this run's included)."""
    names = _values.string_list(hosts, "the play's hosts")
    fields = ("key", "shareable", "cached", "cross", "can_cross", "release")
    states = {h: dict({f: b.get(f) for f in fields}, present=b.get("installed"))
              for h in names for b in [_plan_of(hostvars, h).get("build") or {}]}
    actions = build_plan({h: {"state": s} for h, s in states.items()}, names, "state")
    mine = dict({"cross": "", "cross_builds": []}, **actions[host])
    shareable = bool(states[host].get("shareable"))
    mine["archive"] = (mine["action"] == "build" and shareable) or any(
        a["action"] == "copy" and a["source"] == host for a in actions.values())
    own = _plan_of(hostvars, host)
    mine["cross_builds"] = [cross_build(_plan_of(hostvars, job["for"]).get("build") or {}, own, host)
                            for job in mine["cross_builds"]]
    mine["cross_cleanup"] = stale_cross(own, [job["key"] for job in mine["cross_builds"]])
    return mine


@_refusing
def cross_build(target: Mapping[str, Any], builder: Mapping[str, Any], builder_host: str) -> dict:
    """The build of ``target`` (another host's plan's ``build``: an arm64 CPU build, its key and CMake options) made
    on ``builder`` (this host's plan: its build root, ccache, jobs) by cross-compiling for aarch64-linux-gnu. Same
    shape as a plan's build for build.yml: the tree is build/KEY and the archive KEY.tar.gz under the builder's build
    root, and the build is installed into cross/KEY there (never into the builder's own builds)."""
    key = str(target.get("key") or "")
    if not _KEY.fullmatch(key) or not target.get("cross"):
        raise LlamaCppError(f"{builder_host}: build {key!r} is not one this host may cross-compile (an arm64 CPU build"
                            " that may be shared)")
    own = builder.get("build") or {}
    root = _values.absolute_path(builder.get("build_root"), "llama_cpp_build_root")
    given = target.get("source") or {}
    source = source_layout(given.get("url"), given.get("sha256"), given.get("subdir"), root, key)
    ccache = bool(own.get("ccache_dir"))
    made = f"cross-compiled on {builder_host} ({CROSS_TRIPLET}, Debian's crossbuild-essential-arm64)"
    return {"key": key, "backend": target.get("backend"), "cpu": target.get("cpu"),
            "targets": list(target.get("targets") or TARGETS), "source": source, "dest": f"{root}/cross/{key}",
            "packages": list(own.get("packages") or BUILD_PACKAGES) + list(CROSS_PACKAGES),
            "ccache_dir": own.get("ccache_dir") or "",
            "configure": ["cmake", "-S", source["dir"], "-B", source["tree"], *(target.get("cmake_args") or []),
                          *CROSS_CMAKE, f"-DGGML_CCACHE={'ON' if ccache else 'OFF'}"],
            "compile": ["cmake", "--build", source["tree"], "--target", *(target.get("targets") or TARGETS), "-j",
                        str((own.get("compile") or ["2"])[-1])],
            "environment": dict(own.get("environment") or {}),
            "record": dict(target.get("record") or {}, made=made), "made": made}


def stale_cross(builder: Mapping[str, Any], current: Sequence[str]) -> list[str]:
    """The cross-compiled builds under a builder's build root (cross/KEY, with build/KEY and KEY.tar.gz) to remove:
    this run's stay, and the newest others up to llama_cpp_keep_builds in all."""
    root = str(builder.get("build_root") or "")
    keep = _values.integer(builder.get("keep_builds") or 2, "llama_cpp_keep_builds", 1)
    found = sorted(((float(e.get("mtime") or 0), str(e.get("key"))) for e in builder.get("cross_found") or []
                    if _KEY.fullmatch(str(e.get("key") or "")) and e.get("key") not in current), reverse=True)
    stale = sorted(key for _mtime, key in found[max(keep - len(current), 0):])
    return sorted(p for k in stale for p in (f"{root}/cross/{k}", f"{root}/build/{k}", f"{root}/{k}.tar.gz"))


def restarting(hostvars: Mapping[str, Any], workers: Any) -> list[str]:
    """The workers (of a server's plan) that said in this run that their rpc-server restarts."""
    return [w for w in _values.string_list(workers or [], "the workers")
            if str((hostvars.get(w) or {}).get("__llama_cpp_rpc_restarts")).lower() == "true"]


# --- the split: llama-server's --tensor-split and -ngl from the model and the nodes (the planner: _llama_split) ----

@_refusing
def node_memory(meminfo: Any, backend: Any, vram: Any = "") -> dict:
    """This node as the servers' split sees it (the fact llama_cpp_node): ``device`` (its build's backend: cpu, or
    cuda - rpc-server and llama-server then use its card), ``memory_bytes`` (RAM from /proc/meminfo's MemTotal, or the
    first card's VRAM from ``nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits``) and ``ram_bytes``."""
    match = re.search(r"^MemTotal:\s+([0-9]+) kB$", str(meminfo or ""), re.M)
    if not match:
        raise LlamaCppError("/proc/meminfo has no 'MemTotal: N kB' line, so this node's memory is unknown")
    ram = int(match.group(1)) * 1024
    if backend == "cuda":
        return {"device": "cuda", "memory_bytes": _llama_split.card_memory_bytes(vram), "ram_bytes": ram}
    if backend != "cpu":
        raise LlamaCppError(f"the build's backend must be cpu or cuda, not {backend!r}")
    return {"device": "cpu", "memory_bytes": ram, "ram_bytes": ram}


@_refusing
def split_nodes(hostvars: Mapping[str, Any], workers: Any, server: str) -> list[dict]:
    """The planner's nodes for a server: its RPC workers in the order of its --rpc list, then itself, each from the
    fact llama_cpp_node the role sets on every host of the play."""
    out = []
    for host, role in [(w, "worker") for w in _values.string_list(workers, "the workers")] + [(server, "server")]:
        node = (hostvars.get(host) or {}).get("llama_cpp_node")
        if not isinstance(node, Mapping) or not node.get("memory_bytes"):
            raise LlamaCppError(f"{host}: its memory is not known (the fact llama_cpp_node), so {server} cannot plan"
                                " the split: run the role on the servers and their workers in one play, or set"
                                " llama_cpp_split: false")
        entry = {"name": host, "role": role, "device": node.get("device"), "memory_bytes": node.get("memory_bytes")}
        if role == "server" and node.get("device") == "cuda" and node.get("ram_bytes"):
            entry["ram_bytes"] = node["ram_bytes"]
        out.append(entry)
    return out


@_refusing
def split(model: Any, nodes: Any, ctx_size: Any, reserve_bytes: Any = None) -> dict:
    """_llama_split.plan_split (the model's GGUF summary from gguf_info, split_nodes, llama-server's context)."""
    return _llama_split.plan_split(model, nodes, ctx_size, reserve_bytes)


@_refusing
def with_split(plan_out: Mapping[str, Any], planned: Mapping[str, Any]) -> list[dict]:
    """The plan's ``enabled`` services with llama-server's command line and unit made again for a split that fits
    (its -ngl and --tensor-split); a split that does not fit is refused with the planner's sentence; no split (empty:
    llama_cpp_split false, or check mode before the model is there) leaves them as planned."""
    if not planned:
        return list(plan_out.get("enabled") or [])
    if not isinstance(planned, Mapping) or not planned.get("fits"):
        raise LlamaCppError(str((planned or {}).get("refusal") or "the model does not fit the nodes"))
    settings = dict(plan_out.get("services_settings") or {})
    settings["server"] = dict(settings.get("server") or {}, gpu_layers=planned.get("gpu_layers"),
                              tensor_split=planned.get("tensor_split_arg") or "")
    svc = services(settings)
    if svc["problems"]:
        raise LlamaCppError(" ".join(svc["problems"]))
    return [dict(p, argv=svc["server_argv"], text=svc["server_unit"]) if p.get("unit") == UNITS["server"] else p
            for p in plan_out.get("enabled") or []]
