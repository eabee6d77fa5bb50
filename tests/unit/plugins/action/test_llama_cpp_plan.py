# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action llama_cpp_plan, checked against llama.cpp's own documentation, not against the planner's rules.

Each expectation quotes upstream llama.cpp as vendored in llama-cpp-python 0.3.36 (the source the role builds; the
lab's sdist, sha256 832db069...): tools/server/README.md, tools/rpc/README.md and rpc-server.cpp's usage,
tools/llama-bench/README.md, docs/build.md, ggml/CMakeLists.txt, tools/rpc/CMakeLists.txt. Where the sdist is on
this machine (make setup) the quoted lines are also read from it, so a quote that drifted fails here.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import tarfile
from pathlib import Path
from unittest.mock import MagicMock

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.action.llama_cpp_plan import ActionModule
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._role_plan import argument_spec

ROOT = Path(__file__).resolve().parents[4]
SDIST = ROOT / ".cache/lab/downloads/llama_cpp_python-0.3.36.tar.gz"
VENDOR = "llama_cpp_python-0.3.36/vendor/llama.cpp"

# tools/server/README.md, its options table (verbatim cells)
SERVER_DOC = {
    "--model": "| `-m, --model FNAME` | model path to load",
    "--host": "| `--host HOST` |",
    "--port": "| `--port PORT` | port to listen (default: 8080)",
    "--ctx-size": "| `-c, --ctx-size N` |",
    "--n-gpu-layers": "| `-ngl, --gpu-layers, --n-gpu-layers N` |",
    "--api-key-file": "| `--api-key-file FNAME` | path to file containing API keys, one per line",
    "--rpc": "| `--rpc SERVERS` | comma-separated list of RPC servers (host:port)",
    "--threads": "| `-t, --threads N` |",
}
# tools/rpc/rpc-server.cpp, print_usage
RPC_DOC = {"--host": "-H, --host HOST                  host to bind to",
           "--port": "-p, --port PORT                  port to bind to",
           "--threads": "-t, --threads N                  number of threads for the CPU device",
           "--cache": "-c, --cache                      enable local file cache"}
# tools/rpc/rpc-server.cpp: where --cache keeps its files (fs_get_cache_directory() / "rpc"), and ggml-rpc.cpp: which
# tensors go through the cache (a weight over 10 MiB)
RPC_CACHE_DOC = {"tools/rpc/rpc-server.cpp": 'common_get_path_from_env("LLAMA_CACHE")',
                 "tools/rpc/rpc-server.cpp ": 'fs_get_cache_directory() / "rpc"',
                 "ggml/src/ggml-rpc/ggml-rpc.cpp": "const size_t HASH_THRESHOLD = 10 * 1024 * 1024;"}
# tools/llama-bench/README.md, its usage
BENCH_DOC = {"--model": "-m, --model <filename>", "-p": "-p, --n-prompt <n>", "-n": "-n, --n-gen <n>",
             "-r": "-r, --repetitions <n>", "-ngl": "-ngl, --n-gpu-layers <n>",
             "-o": "-o, --output <csv|json|jsonl|md|sql>"}
# CMake: tools/rpc/README.md, docs/build.md, ggml/CMakeLists.txt, tools/rpc/CMakeLists.txt
CMAKE_DOC = {
    "tools/rpc/README.md": "add `-DGGML_RPC=ON` to the build options",
    "docs/build.md": 'cmake -B build -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="86;89"',
    "docs/build.md ": "- For static builds, add `-DBUILD_SHARED_LIBS=OFF`",
    "docs/build.md  ": "cmake -B build -DGGML_CUDA=ON -DCMAKE_CUDA_COMPILER=/opt/cuda-11.7/bin/nvcc",
    "ggml/CMakeLists.txt": 'option(GGML_CCACHE "ggml: use ccache if available"',
    "ggml/CMakeLists.txt ": 'option(GGML_NATIVE "ggml: optimize the build for the current system"',
    "tools/rpc/CMakeLists.txt": "set(TARGET ggml-rpc-server)",
    "ggml/CMakeLists.txt  ": 'set(GGML_CPU_ARM_ARCH        "" CACHE STRING "ggml: CPU architecture for ARM")',
    "ggml/src/ggml-cpu/CMakeLists.txt": "list(APPEND ARCH_FLAGS -march=${GGML_CPU_ARM_ARCH})",
}

SHA = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
CPU_PLAN = {"kind": "cpu", "gpu_present": False, "platform": "generic", "verdict": {"can_work": False}}
P10_PLAN = {"kind": "gpu_stack", "gpu_present": True, "platform": "generic", "gpu_names": ["Tesla P10"],
            "verdict": {"can_work": True}, "cuda": {"compute_capabilities": ["6.1"]}}
FACTS = {"distribution": "Debian", "distribution_major_version": "12", "architecture": "x86_64",
         "processor_vcpus": 2}
HOSTVARS = {"w1": {"llama_cpp_rpc_endpoint": "10.0.0.2:50052"}, "w2": {"llama_cpp_rpc_endpoint": "10.0.0.3:50052"},
            "srv": {"ansible_facts": {"default_ipv4": {"address": "10.0.0.9"}}}}
BASE = {"facts": FACTS, "source_url": "https://example.org/llama_cpp_python-0.3.36.tar.gz", "source_sha256": SHA,
        "source_subdir": f"{VENDOR}/", "workers": ["w1", "w2"], "servers": ["srv"],
        "model_url": "https://example.org/models/tiny.gguf", "model_sha256": "b" * 64}
SERVER = dict(BASE, gpu_plan=CPU_PLAN, serve=True, server_host="0.0.0.0", server_api_key="key-from-vault")


@functools.lru_cache(maxsize=1)
def _sdist() -> tuple[dict, tuple]:
    """The quoted files and every member's name, read once (the sdist is 77 MB)."""
    wanted = {f"{VENDOR}/{p}" for p in ("tools/server/README.md", "tools/rpc/rpc-server.cpp",
                                        "tools/llama-bench/README.md", "tools/rpc/README.md", "docs/build.md",
                                        "ggml/CMakeLists.txt", "tools/rpc/CMakeLists.txt",
                                        "ggml/src/ggml-cpu/CMakeLists.txt", "ggml/src/ggml-rpc/ggml-rpc.cpp")}
    files, names = {}, []
    with tarfile.open(SDIST) as tar:
        for member in tar:
            names.append(member.name)
            if member.name in wanted:
                files[member.name[len(VENDOR) + 1:]] = tar.extractfile(member).read().decode()
    return files, tuple(names)


def _upstream(path: str) -> str:
    if not SDIST.exists():
        pytest.skip(f"{SDIST} is not there (make setup downloads it)")
    return _sdist()[0][path]


def run(args, host="srv", slurp=None):
    task = MagicMock(args=args, async_val=0, check_mode=False, diff=False)
    action = ActionModule(task, MagicMock(), MagicMock(), MagicMock(), MagicMock(), MagicMock())
    action._execute_module = MagicMock(return_value=slurp or {"failed": True, "msg": "file not found"})
    result = action.run(task_vars={"hostvars": HOSTVARS, "inventory_hostname": host})
    return result, action._execute_module


def _options(argv):
    return [w for w in argv if w.startswith("-")]


def test_quotes_are_upstreams():
    assert all(line in _upstream("tools/server/README.md") for line in SERVER_DOC.values())
    assert all(line in _upstream("tools/rpc/rpc-server.cpp") for line in RPC_DOC.values())
    assert all(line in _upstream("tools/llama-bench/README.md") for line in BENCH_DOC.values())
    for path, line in {**CMAKE_DOC, **RPC_CACHE_DOC}.items():
        assert re.sub(r"\s+", " ", line) in re.sub(r"\s+", " ", _upstream(path.strip())), path


def test_spec_is_the_doc_stubs_options():
    spec = argument_spec(ActionModule.DOC, ActionModule.NO_LOG)
    assert spec["gpu_plan"] == {"type": "dict", "required": True}
    assert spec["server_api_key"]["no_log"] is True
    assert spec["server_port"] == {"type": "int", "default": 8080}  # server README: (default: 8080)
    assert spec["rpc_port"] == {"type": "int", "default": 50052}  # rpc README: endpoint 127.0.0.1:50052


def test_server_command_line_uses_only_documented_options():
    result, slurp = run(SERVER)
    assert not result.get("failed"), result.get("msg")
    serve = result["plan"]["serve"]
    argv = serve["argv"]
    assert argv[0] == "/opt/llama.cpp/current/bin/llama-server"
    assert set(_options(argv)) <= set(SERVER_DOC)
    words = dict(zip(argv[1::2], argv[2::2], strict=True))
    assert words["--model"] == "/var/lib/llama.cpp/models/tiny.gguf"
    assert words["--host"] == "0.0.0.0" and words["--port"] == "8080"
    assert words["--rpc"] == "10.0.0.2:50052,10.0.0.3:50052"  # "comma-separated list of RPC servers (host:port)"
    assert words["--api-key-file"] == serve["api_key_file"]  # the key in a file, never on the command line
    assert "key-from-vault" not in json.dumps(result)
    assert f"ExecStart={' '.join(argv)}" in serve["text"]
    assert serve["url"] == "http://127.0.0.1:8080"  # "### GET `/health`" is asked of loopback for 0.0.0.0
    assert result["plan"]["worker"]["enabled"] is False and result["plan"]["enabled"] == [serve]
    slurp.assert_not_called()  # a CPU build reads nothing on the host


def test_rpc_worker_command_line_and_firewall():
    result, _slurp = run(dict(BASE, gpu_plan=CPU_PLAN, work=True, rpc_host="10.0.0.2"), host="w1")
    worker = result["plan"]["worker"]
    assert worker["argv"] == ["/opt/llama.cpp/current/bin/ggml-rpc-server", "--host", "10.0.0.2", "--port", "50052",
                              "--cache"]
    assert set(_options(worker["argv"])) <= set(RPC_DOC)
    assert worker["endpoint"] == "10.0.0.2:50052"
    assert re.search(worker["listening"], "LISTEN 0 128 10.0.0.2:50052 0.0.0.0:*")
    assert not re.search(worker["listening"], "LISTEN 0 128 10.0.0.22:50052 0.0.0.0:*")
    assert worker["firewall"] == {"name": "llama_cpp_rpc", "port": 50052, "state": "present",
                                  "allow": ["10.0.0.9"], "exposes": worker["firewall"]["exposes"]}


def test_bench_command_line_uses_llama_bench_options():
    result, _slurp = run(dict(SERVER, bench_prompt=64, bench_gen=16, bench_repetitions=3))
    argv = result["plan"]["bench"]["argv"]
    assert argv[0].endswith("/bin/llama-bench") and set(_options(argv)) <= set(BENCH_DOC)
    assert dict(zip(argv[1::2], argv[2::2], strict=True)) == {
        "--model": "/var/lib/llama.cpp/models/tiny.gguf", "-p": "64", "-n": "16", "-r": "3", "-ngl": "0", "-o": "json"}


def test_cpu_build_is_static_with_rpc_and_its_source_layout():
    result, _slurp = run(dict(SERVER, native=False, ccache=True, ccache_dir="/var/cache/llama.cpp/ccache"))
    build = result["plan"]["build"]
    assert {"-DGGML_RPC=ON", "-DBUILD_SHARED_LIBS=OFF", "-DGGML_NATIVE=OFF", "-DGGML_CCACHE=ON"} <= set(
        build["configure"])
    assert not any(a.startswith("-DGGML_CUDA") for a in build["configure"])
    source = build["source"]
    assert build["configure"][:5] == ["cmake", "-S", source["dir"], "-B", source["tree"]]
    assert build["compile"] == ["cmake", "--build", source["tree"], "--target", "llama-server", "ggml-rpc-server",
                                "llama-bench", "-j", "2"]
    assert source["tarball"] == f"/var/cache/llama.cpp/{SHA}.tar.gz"
    assert source["dir"] == f"/var/cache/llama.cpp/src/{SHA[:16]}"
    assert source["tree"] == f"/var/cache/llama.cpp/build/{build['key']}"
    assert build["dest"] == f"/opt/llama.cpp/builds/{build['key']}"
    assert (source["subdir"], source["strip"]) == (VENDOR, 3)
    assert build["packages"] == ["cmake", "g++", "make", "ccache"]
    assert build["record"]["source_sha256"] == SHA and build["record"]["key"] == build["key"]


def test_strip_components_reach_the_vendored_cmakelists():
    """tar --strip-components=3 on the subdir gives the llama.cpp top level (its CMakeLists.txt) - the real sdist."""
    result, _slurp = run(SERVER)
    source = result["plan"]["build"]["source"]
    if not SDIST.exists():
        pytest.skip("no sdist")
    names = [n.split("/", source["strip"])[-1] for n in _sdist()[1] if n.startswith(source["subdir"] + "/")]
    assert "CMakeLists.txt" in names and "tools/rpc/CMakeLists.txt" in names


def test_cuda_build_for_a_p10_reads_its_toolkit_on_the_host():
    version = base64.b64encode(json.dumps({"cuda": {"version": "12.9.1"}}).encode()).decode()
    result, slurp = run(dict(SERVER, gpu_plan=P10_PLAN, cuda_toolkit_version="12.9"), slurp={"content": version})
    build = result["plan"]["build"]
    assert slurp.call_args.kwargs["module_args"] == {"src": "/usr/local/cuda-12.9/version.json"}
    assert {"-DGGML_CUDA=ON", "-DCMAKE_CUDA_ARCHITECTURES=61",
            "-DCMAKE_CUDA_COMPILER=/usr/local/cuda-12.9/bin/nvcc"} <= set(build["configure"])
    assert build["backend"] == "cuda" and "6.1" in build["reason"]
    assert result["plan"]["bench"]["argv"][-3] == "99"  # -ngl: the server's GPU layers on a CUDA build
    other, _slurp = run(dict(SERVER, gpu_plan=P10_PLAN, cuda_toolkit_version="12.9"),
                        slurp={"content": base64.b64encode(b'{"cuda": {"version": "13.0.0"}}').decode()})
    assert other["plan"]["build"]["key"] != build["key"]  # the toolkit is part of the key


@pytest.mark.parametrize(("change", "says"), [
    ({"server_api_key": ""}, "llama-server would listen on 0.0.0.0 without an API key"),
    ({"server_host": "127.0.0.1", "server_api_key": "",
      "server_extra_args": ["--flash-attn", "on", "--host", "0.0.0.0"]},
     "llama_cpp_server_extra_args[2] is '--host': --host is the role's to set (through llama_cpp_server_host)"),
    ({"server_extra_args": ["--api_key=secret"]}, "--api-key is the role's to set"),
    ({"model_sha256": ""}, "llama_cpp_model_url needs llama_cpp_model_sha256"),
    ({"model_url": "", "model_path": ""}, "a server (llama_cpp_serve) needs a model"),
    ({"model_url": "", "model_path": "/srv/m.gguf", "model_found": False}, "srv: the model /srv/m.gguf is not there"),
    ({"source_sha256": "abc"}, "the source's sha256 must be 64 hex digits"),
    ({"prefix": "opt/llama"}, "llama_cpp_prefix"),
    ({"server_api_key": "two\nkeys"}, "one key per line"),
    ({"gpu_plan": P10_PLAN}, "there is no CUDA toolkit in /usr/local/cuda (no readable version.json)"),
    ({"cuda": "true"}, "a CUDA build was asked for"),
])
def test_refusals_are_one_sentence(change, says):
    result, _slurp = run(dict(SERVER, **change))
    assert result["failed"] is True and says in result["msg"] and "Traceback" not in result["msg"]
    assert "plan" not in result


def test_one_host_builds_and_archives_the_others_copy():
    from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _llama_cpp as llama
    plans = {h: run(dict(SERVER, native=False), host=h)[0]["plan"] for h in ("srv", "w1")}
    hostvars = {h: {"__llama_cpp_plan": {"plan": p}} for h, p in plans.items()}
    assert llama.build_action(hostvars, ["srv", "w1"], "srv") == {
        "action": "build", "source": "srv", "key": plans["srv"]["build"]["key"], "archive": True, "cross": "",
        "cross_builds": [], "cross_cleanup": []}
    assert llama.build_action(hostvars, ["srv", "w1"], "w1")["action"] == "copy"
    native = {h: {"__llama_cpp_plan": {"plan": run(SERVER, host=h)[0]["plan"]}} for h in ("srv", "w1")}
    assert [llama.build_action(native, ["srv", "w1"], h)["action"] for h in ("srv", "w1")] == ["build", "build"]


def test_old_builds_and_sources_are_cleaned_up_keeping_two():
    found = [{"path": "/opt/llama.cpp/builds/0000000000000001", "mtime": 1},
             {"path": "/opt/llama.cpp/builds/0000000000000002", "mtime": 2},
             {"path": "/opt/llama.cpp/builds/not-a-build", "mtime": 3},
             {"path": f"/var/cache/llama.cpp/{'e' * 64}.tar.gz"}, {"path": f"/var/cache/llama.cpp/{SHA}.tar.gz"},
             {"path": "/var/cache/llama.cpp/src/0123456789abcdef"}]
    result, _slurp = run(dict(SERVER, found=found))
    assert result["plan"]["cleanup"] == [
        "/opt/llama.cpp/builds/0000000000000001", "/var/cache/llama.cpp/0000000000000001.tar.gz",
        "/var/cache/llama.cpp/build/0000000000000001", f"/var/cache/llama.cpp/{'e' * 64}.tar.gz",
        "/var/cache/llama.cpp/src/0123456789abcdef"]
    assert result["plan"]["build"]["installed"] is False


def test_the_worker_keeps_its_tensor_cache_in_a_folder_its_unit_lets_it_write():
    result, _slurp = run(dict(BASE, gpu_plan=CPU_PLAN, work=True, rpc_host="10.0.0.2"), host="w1")
    worker = result["plan"]["worker"]
    assert "--cache" in worker["argv"] and set(_options(worker["argv"])) <= set(RPC_DOC)
    lines = worker["text"].splitlines()
    # rpc-server reads LLAMA_CACHE (RPC_CACHE_DOC) and writes LLAMA_CACHE/rpc; ProtectSystem=strict leaves it that one
    assert "Environment=LLAMA_CACHE=/var/lib/llama.cpp/rpc-cache" in lines
    assert "ReadWritePaths=/var/lib/llama.cpp/rpc-cache" in lines and "ProtectSystem=strict" in lines
    assert {"path": "/var/lib/llama.cpp/rpc-cache", "group": "llama", "mode": "0770"} in \
        result["plan"]["folders_of_services"]
    off, _slurp = run(dict(BASE, gpu_plan=CPU_PLAN, work=True, rpc_host="10.0.0.2", rpc_cache=False), host="w1")
    assert "--cache" not in off["plan"]["worker"]["argv"]
    assert not [line for line in off["plan"]["worker"]["text"].splitlines() if line.startswith(("Environment=",
                                                                                                "ReadWritePaths="))]


def test_a_worker_without_its_firewall_is_warned_about():
    result, _slurp = run(dict(BASE, gpu_plan=CPU_PLAN, work=True, rpc_host="10.0.0.2", firewall=False), host="w1")
    assert result["plan"]["worker"]["firewall"]["state"] == "absent"
    assert any("llama_cpp_firewall is false" in w and "10.0.0.2:50052" in w for w in result["warnings"])


PI5_PLAN = dict(CPU_PLAN, platform="raspberry_pi_5")
PI4_PLAN = dict(CPU_PLAN, platform="raspberry_pi_4")
ARM64 = dict(FACTS, architecture="aarch64", processor_vcpus=4)
AMD64 = dict(FACTS, os_family="Debian")


def _cluster(**hosts):
    """Each host's registered plan, made by the action from (gpu_plan, facts, extra settings)."""
    plans = {}
    for host, (gpu_plan, facts, extra) in hosts.items():
        plans[host] = run(dict(BASE, gpu_plan=gpu_plan, facts=facts, native=False, work=True, rpc_host="10.0.0.2",
                               ccache=True, ccache_dir="/var/cache/llama.cpp/ccache", **extra), host=host)[0]["plan"]
    return {h: {"__llama_cpp_plan": {"plan": p}} for h, p in plans.items()}


def test_the_pis_builds_are_cross_compiled_once_per_cpu_target_on_an_amd64_host():
    from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _llama_cpp as llama
    hv = _cluster(x86=(CPU_PLAN, AMD64, {}), pi5a=(PI5_PLAN, ARM64, {}), pi5b=(PI5_PLAN, ARM64, {}),
                  pi4=(PI4_PLAN, ARM64, {}))
    hosts = ["pi5a", "pi5b", "pi4", "x86"]
    acts = {h: llama.build_action(hv, hosts, h) for h in hosts}
    keys = {h: hv[h]["__llama_cpp_plan"]["plan"]["build"]["key"] for h in hosts}
    assert keys["pi5a"] == keys["pi5b"] != keys["pi4"] != keys["x86"]  # the key is the target: arch and CPU
    assert [acts[h]["action"] for h in hosts] == ["copy", "copy", "copy", "build"]
    assert {acts[h]["source"] for h in ("pi5a", "pi5b", "pi4")} == {"controller"}
    assert {acts[h]["cross"] for h in ("pi5a", "pi5b", "pi4")} == {"x86"}
    made = {b["key"]: b for b in acts["x86"]["cross_builds"]}
    assert sorted(made) == sorted({keys["pi5a"], keys["pi4"]})  # one build per CPU target
    pi5 = made[keys["pi5a"]]
    words = dict(w[2:].split("=", 1) for w in pi5["configure"] if w.startswith("-D"))
    # ggml/CMakeLists.txt's GGML_CPU_ARM_ARCH becomes -march= (CMAKE_DOC); GCC's -mcpu=cortex-a76 is ARMv8.2-A with
    # the dot product and FP16 (GCC's AArch64 options), the Pi 4's Cortex-A72 ARMv8-A with CRC
    assert words["GGML_CPU_ARM_ARCH"] == "armv8.2-a+dotprod+fp16" and words["GGML_NATIVE"] == "OFF"
    assert (words["CMAKE_SYSTEM_NAME"], words["CMAKE_SYSTEM_PROCESSOR"]) == ("Linux", "aarch64")
    assert words["CMAKE_C_COMPILER"] == "aarch64-linux-gnu-gcc" and words["GGML_CCACHE"] == "ON"
    assert "=".join(["GGML_CPU_ARM_ARCH", "armv8-a+crc"]) in " ".join(made[keys["pi4"]]["configure"])
    assert "crossbuild-essential-arm64" in pi5["packages"]
    assert pi5["dest"] == f"/var/cache/llama.cpp/cross/{keys['pi5a']}"
    assert pi5["source"]["tree"] == f"/var/cache/llama.cpp/build/{keys['pi5a']}"
    assert pi5["source"]["archive"] == f"/var/cache/llama.cpp/{keys['pi5a']}.tar.gz"
    assert pi5["compile"][-2:] == ["-j", "2"] and "ggml-rpc-server" in pi5["compile"]
    assert pi5["record"]["key"] == keys["pi5a"] and "cross-compiled on x86" in pi5["record"]["made"]
    assert "x86_64" not in json.dumps(pi5["record"])  # the record is the Pi's build, not the builder's


def test_a_second_run_cross_compiles_nothing_and_no_amd64_host_means_a_native_build_on_a_pi():
    from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _llama_cpp as llama
    hv = _cluster(x86=(CPU_PLAN, AMD64, {}), pi5=(PI5_PLAN, ARM64, {}))
    key = hv["pi5"]["__llama_cpp_plan"]["plan"]["build"]["key"]
    hv["pi5"]["__llama_cpp_plan"]["plan"]["build"]["installed"] = True
    assert llama.build_action(hv, ["pi5", "x86"], "pi5")["action"] == "present"
    assert llama.build_action(hv, ["pi5", "x86"], "x86")["cross_builds"] == []
    hv["pi5"]["__llama_cpp_plan"]["plan"]["build"].update(installed=False, cached=True)  # the controller holds it
    assert llama.build_action(hv, ["pi5", "x86"], "pi5") | {"cross_cleanup": []} == {
        "action": "copy", "source": "controller", "key": key, "cross": "", "cross_builds": [], "archive": False,
        "cross_cleanup": []}
    alone = _cluster(pi5=(PI5_PLAN, ARM64, {}), pi5b=(PI5_PLAN, ARM64, {}))
    assert [llama.build_action(alone, ["pi5", "pi5b"], h)["action"] for h in ("pi5", "pi5b")] == ["build", "copy"]
    off = _cluster(x86=(CPU_PLAN, AMD64, {}), pi5=(PI5_PLAN, ARM64, {"cross_build": False}))
    assert llama.build_action(off, ["pi5", "x86"], "pi5")["action"] == "build"
    assert llama.build_action(off, ["pi5", "x86"], "x86")["cross_builds"] == []
    trixie = _cluster(x86=(CPU_PLAN, dict(AMD64, distribution_major_version="13"), {}), pi5=(PI5_PLAN, ARM64, {}))
    assert llama.build_action(trixie, ["pi5", "x86"], "pi5")["action"] == "build"  # another release's libraries


def test_the_builder_keeps_its_newest_cross_builds():
    from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _llama_cpp as llama
    found = [{"path": f"/var/cache/llama.cpp/cross/{k * 16}", "mtime": m} for k, m in (("a", 1), ("b", 2), ("c", 3))]
    hv = _cluster(x86=(CPU_PLAN, AMD64, {"found": found}), pi5=(PI5_PLAN, ARM64, {}))
    act = llama.build_action(hv, ["pi5", "x86"], "x86")
    assert len(act["cross_builds"]) == 1  # this run's stays, and the newest other (keep_builds 2)
    assert act["cross_cleanup"] == [f"/var/cache/llama.cpp/{k * 16}.tar.gz" for k in "ab"] + \
        [f"/var/cache/llama.cpp/build/{k * 16}" for k in "ab"] + [f"/var/cache/llama.cpp/cross/{k * 16}" for k in "ab"]


# tools/server/README.md: the option the split sets (its cell, verbatim)
SPLIT_DOC = "| `-ts, --tensor-split N0,N1,N2,...` | fraction of the model to offload to each GPU"


def test_the_split_sets_tensor_split_and_ngl_on_the_servers_command_line_and_a_refusal_stops_it():
    from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _llama_cpp as llama
    assert SPLIT_DOC in _upstream("tools/server/README.md")
    result, _slurp = run(SERVER)
    planned = {"fits": True, "refusal": "", "tensor_split": [2.0, 2.0], "tensor_split_arg": "2,2", "gpu_layers": 4}
    enabled = llama.with_split(result["plan"], planned)
    serve = next(p for p in enabled if p["unit"] == "llama-server")
    words = dict(zip(serve["argv"][1::2], serve["argv"][2::2], strict=False))
    assert words["--tensor-split"] == "2,2" and words["--n-gpu-layers"] == "4"
    assert f"ExecStart={' '.join(serve['argv'])}" in serve["text"]
    assert llama.with_split(result["plan"], {}) == result["plan"]["enabled"]  # no split: as planned
    assert result["plan"]["serve"]["rpc_workers"] == ["w1", "w2"]  # the split's devices: the --rpc list's workers
    alone, _slurp = run(dict(SERVER, server_rpc=False))
    assert alone["plan"]["serve"]["rpc_workers"] == [] and "--rpc" not in alone["plan"]["serve"]["argv"]
    with pytest.raises(llama.LlamaCppError, match=r"needs 21\.1 MiB"):
        llama.with_split(result["plan"], {"fits": False, "refusal": "the model needs 21.1 MiB, 9.1 MiB short."})
    refused, _slurp = run(dict(SERVER, server_extra_args=["-ts", "1,1"]))
    assert refused["failed"] and "'-ts': --tensor-split is the role's to set (through llama_cpp_split" in refused["msg"]


def test_the_split_knows_each_node_from_its_own_facts():
    from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _llama_cpp as llama
    # /proc/meminfo's first line as the kernel writes it (Documentation/filesystems/proc.rst: "MemTotal: ... kB")
    meminfo = "MemTotal:       16608368 kB\nMemFree:         9483060 kB\n"
    ram = 16608368 * 1024
    assert llama.node_memory(meminfo, "cpu") == {"device": "cpu", "memory_bytes": ram, "ram_bytes": ram}
    # nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits: MiB, one line per GPU
    assert llama.node_memory(meminfo, "cuda", "24576\n")["memory_bytes"] == 24576 << 20
    with pytest.raises(llama.LlamaCppError, match="MemTotal"):
        llama.node_memory("", "cpu")
    hv = {"w2": {"llama_cpp_node": {"device": "cpu", "memory_bytes": 8 << 30}},
          "w1": {"llama_cpp_node": {"device": "cpu", "memory_bytes": 16 << 30}},
          "srv": {"llama_cpp_node": {"device": "cuda", "memory_bytes": 24 << 30, "ram_bytes": 32 << 30}}}
    assert llama.split_nodes(hv, ["w2", "w1"], "srv") == [
        {"name": "w2", "role": "worker", "device": "cpu", "memory_bytes": 8 << 30},
        {"name": "w1", "role": "worker", "device": "cpu", "memory_bytes": 16 << 30},
        {"name": "srv", "role": "server", "device": "cuda", "memory_bytes": 24 << 30, "ram_bytes": 32 << 30}]
    with pytest.raises(llama.LlamaCppError, match="w3: its memory is not known"):
        llama.split_nodes(hv, ["w3"], "srv")
