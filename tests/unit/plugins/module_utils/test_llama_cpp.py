# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""llama.cpp's build options from the GPU plan, its build key, who builds and who copies, the RPC list, the services'
command lines and refusals, llama-bench's figures (the pure part of the role llama_cpp)."""

from __future__ import annotations

import json

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_catalog as catalog
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _llama_cpp as llama

SHA = "a" * 64


def _plan(capabilities, kind="gpu_stack", can_work=True, platform="generic", present=True):
    return {"kind": kind, "gpu_present": present, "verdict": {"can_work": can_work}, "platform": platform,
            "gpu_names": ["card"] if present else [], "cuda": {"compute_capabilities": capabilities}}


# Hand-written: NVIDIA's published compute capability of each card (developer.nvidia.com/cuda-gpus and
# cuda-legacy-gpus, tests/unit/fixtures/published/cuda_gpus_compute_capability.csv), written as CMake's
# CMAKE_CUDA_ARCHITECTURES wants it (the number without the dot: CMake's CUDA_ARCHITECTURES documentation).
@pytest.mark.parametrize(("device", "card", "architectures"), [
    ("17fd", "Tesla M40", "52"),
    ("1b38", "Tesla P40", "61"),
    ("1d81", "TITAN V", "70"),
    ("1eb0", "Quadro RTX 5000", "75"),
    ("20b7", "A30", "80"),
    ("2204", "GeForce RTX 3090", "86"),
    ("2684", "GeForce RTX 4090", "89"),
    ("2339", "H100", "90"),
    ("2901", "B200", "100"),
    ("2b85", "GeForce RTX 5090", "120"),
])
def test_a_card_gets_its_own_cuda_architecture(device, card, architectures):
    out = llama.build_options(_plan([catalog.CATALOG[device]["compute_capability"]]))
    assert out["backend"] == "cuda" and out["options"]["GGML_CUDA"] == "ON", card
    assert out["options"]["CMAKE_CUDA_ARCHITECTURES"] == architectures, card
    assert out["targets"] == ["llama-server", "ggml-rpc-server", "llama-bench"] and out["options"]["GGML_RPC"] == "ON"


def test_the_p10_builds_for_61_and_a_mixed_box_for_both():
    assert llama.build_options(_plan(["6.1"]))["cmake_args"][0:1] == ["-DBUILD_SHARED_LIBS=OFF"]
    both = llama.build_options(_plan(["8.6", "6.1"]))
    assert both["options"]["CMAKE_CUDA_ARCHITECTURES"] == "61;86" and "6.1, 8.6" in both["reason"]


@pytest.mark.parametrize(("plan", "why"), [
    (_plan(["6.1"], kind="runtime_only", can_work=False, platform="raspberry_pi_5"), "no GPU the driver can work"),
    (_plan([], present=False, kind="runtime_only"), "no GPU the driver can work"),
    (_plan(["6.1"], kind="stopped", can_work=False), "no GPU the driver can work"),
])
def test_where_the_plan_allows_no_gpu_the_build_is_cpu_only(plan, why):
    out = llama.build_options(plan)
    assert out["backend"] == "cpu" and "GGML_CUDA" not in out["options"] and why in out["reason"]
    with pytest.raises(llama.LlamaCppError, match="a CUDA build was asked for"):
        llama.build_options(plan, {"cuda": True})


@pytest.mark.parametrize(("board", "arch"), [("raspberry_pi_5", "armv8.2-a+dotprod+fp16"),
                                             ("raspberry_pi_4", "armv8-a+crc"), ("raspberry_pi_3", "armv8-a+crc")])
def test_pi_boards_build_natively_or_for_their_generation_when_the_controller_says_so(board, arch):
    plan = _plan([], present=False, kind="runtime_only", platform=board)
    assert llama.build_options(plan)["options"]["GGML_NATIVE"] == "ON"
    fixed = llama.build_options(plan, {"native": False})
    assert fixed["options"]["GGML_NATIVE"] == "OFF" and fixed["options"]["GGML_CPU_ARM_ARCH"] == arch
    assert fixed["cpu"] == arch
    generic = llama.build_options(_plan([], present=False, kind="runtime_only"), {"native": False})
    assert generic["cpu"] == "portable" and "GGML_CPU_ARM_ARCH" not in generic["options"]


def test_bad_choices_are_refused():
    with pytest.raises(llama.LlamaCppError, match="older than"):
        llama.build_options(_plan(["3.7"]))
    with pytest.raises(llama.LlamaCppError, match="not a compute capability"):
        llama.build_options(_plan(["sm_61"]))
    with pytest.raises(llama.LlamaCppError, match="auto, true or false"):
        llama.build_options(_plan(["6.1"]), {"cuda": "maybe"})
    assert llama.build_options(_plan(["6.1"]), {"cuda": False})["reason"] == "CPU: llama_cpp_cuda is false"


def test_extra_cmake_options_join_the_options_and_the_key_and_may_override_the_build_type():
    cpu = _plan([], present=False, kind="runtime_only")
    plain = llama.host_build(cpu, {"native": False}, SHA, "p")
    extra = {"CMAKE_BUILD_TYPE": "Release", "CMAKE_CXX_FLAGS_RELEASE": "-O1 -DNDEBUG", "GGML_BLAS": True,
             "GGML_SCHED_MAX_COPIES": 2, "LLAMA_BUILD_TESTS": False}
    tuned = llama.host_build(cpu, {"native": False, "cmake_options": extra}, SHA, "p")
    assert "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -DNDEBUG" in tuned["cmake_args"]
    assert tuned["options"]["GGML_BLAS"] == "ON" and tuned["options"]["LLAMA_BUILD_TESTS"] == "OFF"
    assert tuned["options"]["GGML_SCHED_MAX_COPIES"] == "2" and tuned["key"] != plain["key"] and tuned["shareable"]
    # the plan's choices still hold beside them
    assert tuned["options"]["GGML_NATIVE"] == "OFF" and tuned["options"]["GGML_RPC"] == "ON"
    gpu = llama.build_options(_plan(["6.1"]), {"cmake_options": {"GGML_CUDA_FORCE_MMQ": "ON"}})
    assert gpu["options"]["GGML_CUDA_FORCE_MMQ"] == "ON" and gpu["options"]["CMAKE_CUDA_ARCHITECTURES"] == "61"
    assert llama.host_build(cpu, {"native": False, "cmake_options": {}}, SHA, "p")["key"] == plain["key"]
    assert llama.host_build(cpu, {"native": False, "cmake_options": None}, SHA, "p")["key"] == plain["key"]


@pytest.mark.parametrize(("extra", "says"), [
    ({"GGML_CUDA": "ON"}, "GGML_CUDA is decided by the GPU plan"),
    ({"CMAKE_CUDA_ARCHITECTURES": "86"}, "CMAKE_CUDA_ARCHITECTURES is decided"),
    ({"GGML_NATIVE": "ON"}, "GGML_NATIVE is decided"),
    ({"GGML_CPU_ARM_ARCH": "armv9-a"}, "GGML_CPU_ARM_ARCH is decided"),
    ({"GGML_RPC": False}, "GGML_RPC is decided"),
    ({"BUILD_SHARED_LIBS": "ON"}, "BUILD_SHARED_LIBS is decided"),
    ({"GGML_CCACHE": "ON"}, "GGML_CCACHE is decided"),
    ({"-DGGML_CUDA": "ON"}, "not a CMake cache name"),
    ({"A=B": "1"}, "not a CMake cache name"),
    ({7: "1"}, "not a CMake cache name"),
    ({"GGML_BLAS_VENDOR": ["OpenBLAS"]}, "string, number or boolean, not list"),
    ({"CMAKE_C_FLAGS": "-O2\n-DX"}, "control character"),
    (["GGML_BLAS=ON"], "mapping of CMake cache names"),
    ("GGML_BLAS=ON", "mapping of CMake cache names"),
])
def test_bad_extra_cmake_options_are_refused(extra, says):
    with pytest.raises(llama.LlamaCppError, match=says):
        llama.build_options(_plan(["6.1"]), {"cmake_options": extra})


def test_the_build_key_changes_with_the_source_the_options_or_the_toolkit_only():
    options = llama.build_options(_plan(["6.1"]))["options"]
    key = llama.build_key(SHA, options, "12.9")
    assert key == llama.build_key(SHA, dict(reversed(list(options.items()))), "12.9")  # order does not matter
    assert len({key, llama.build_key("b" * 64, options, "12.9"), llama.build_key(SHA, options, "12.8"),
                llama.build_key(SHA, dict(options, GGML_NATIVE="OFF"), "12.9")}) == 4
    with pytest.raises(llama.LlamaCppError, match="64 hex digits"):
        llama.build_key("abc", options)
    assert llama.build_key(SHA, options, "12.9", "Debian-12-x86_64") != llama.build_key(SHA, options, "12.9",
                                                                                        "Debian-13-x86_64")


def test_a_host_build_is_shareable_only_when_not_native_and_ignores_the_toolkit_on_the_cpu():
    cpu = _plan([], present=False, kind="runtime_only")
    native = llama.host_build(cpu, {"native": True, "toolkit": "12.9"}, SHA, "Debian-12-x86_64")
    portable = llama.host_build(cpu, {"native": False, "toolkit": "12.9"}, SHA, "Debian-12-x86_64")
    assert not native["shareable"] and portable["shareable"] and native["key"] != portable["key"]
    assert portable["key"] == llama.host_build(cpu, {"native": False}, SHA, "Debian-12-x86_64")["key"]
    gpu = _plan(["6.1"])
    assert llama.host_build(gpu, {"toolkit": "12.9"}, SHA, "p")["key"] != llama.host_build(gpu, {"toolkit": "12.8"},
                                                                                           SHA, "p")["key"]
    pi = llama.host_build(_plan([], present=False, kind="runtime_only", platform="raspberry_pi_5"), {"native": False},
                          SHA, "Debian-12-aarch64")
    assert pi["shareable"] and pi["options"]["GGML_CPU_ARM_ARCH"] == "armv8.2-a+dotprod+fp16"


def _states(**hosts):
    return {h: {"__llama_cpp_build_state": dict(zip(("key", "shareable", "present", "cached"), v, strict=True))}
            for h, v in hosts.items()}


def test_a_shareable_build_is_made_once_and_copied_through_the_controller():
    hv = _states(w1=("k", True, False, False), w2=("k", True, False, False), s=("k", True, False, False))
    out = llama.build_plan(hv, ["w1", "w2", "s"])
    assert out["w1"] == {"action": "build", "source": "w1", "key": "k"}
    assert out["w2"]["action"] == out["s"]["action"] == "copy" and out["s"]["source"] == "w1"
    # a host that has it is the source; the controller's archive comes before any build
    hv = _states(w1=("k", True, True, False), w2=("k", True, False, False))
    assert llama.build_plan(hv, ["w1", "w2"]) == {"w1": {"action": "present", "source": "w1", "key": "k"},
                                                  "w2": {"action": "copy", "source": "w1", "key": "k"}}
    hv = _states(a=("k", True, False, True), b=("k", True, False, False))
    assert {h: o["action"] for h, o in llama.build_plan(hv, ["a", "b"]).items()} == {"a": "copy", "b": "copy"}
    assert llama.build_plan(hv, ["a", "b"])["a"]["source"] == "controller"


def test_native_builds_and_other_keys_are_never_copied():
    hv = _states(a=("k1", False, False, False), b=("k1", False, False, True), c=("k2", True, False, False),
                 d=("k3", True, True, False))
    out = llama.build_plan(hv, ["a", "b", "c", "d"])
    assert [out[h]["action"] for h in "abcd"] == ["build", "build", "build", "present"]
    with pytest.raises(llama.LlamaCppError, match="no build decided"):
        llama.build_plan({"a": {}}, ["a"])


@pytest.mark.parametrize(("settings", "says"), [
    ({"serve": True, "server_host": "0.0.0.0", "api_key_set": False}, "without an API key"),
    ({"serve": True, "server_host": "192.168.50.40", "api_key_set": False}, "without an API key"),
    ({"work": True, "rpc_host": "0.0.0.0"}, "no authentication"),
    ({"work": True, "rpc_host": ""}, "no authentication"),
])
def test_services_that_would_listen_where_they_should_not_are_refused(settings, says):
    problems = llama.exposure_problems(settings)
    assert len(problems) == 1 and says in problems[0]
    assert llama.exposure_problems(dict(settings, allow_open=True)) == []


def test_safe_listeners_pass():
    assert llama.exposure_problems({"serve": True, "server_host": "127.0.0.1", "api_key_set": False}) == []
    assert llama.exposure_problems({"serve": True, "server_host": "0.0.0.0", "api_key_set": True,
                                    "work": True, "rpc_host": "192.168.50.11"}) == []
    assert llama.exposure_problems({"serve": False, "server_host": "0.0.0.0", "work": False, "rpc_host": ""}) == []


def test_the_server_command_line():
    argv = llama.server_argv({"binary": "/opt/llama.cpp/current/bin/llama-server", "model": "/m/tiny model.gguf",
                              "host": "0.0.0.0", "port": 8080, "ctx_size": 4096, "gpu_layers": 99, "threads": 0,
                              "api_key_file": "/etc/llama.cpp/api-keys", "rpc": "10.0.0.2:50052,10.0.0.3:50052",
                              "log_verbosity": "4", "extra_args": ["--flash-attn", "on"]})
    assert argv == ["/opt/llama.cpp/current/bin/llama-server", "--model", "/m/tiny model.gguf", "--host", "0.0.0.0",
                    "--port", "8080", "--ctx-size", "4096", "--n-gpu-layers", "99", "--log-verbosity", "4",
                    "--api-key-file", "/etc/llama.cpp/api-keys", "--rpc", "10.0.0.2:50052,10.0.0.3:50052",
                    "--flash-attn", "on"]
    assert "--api-key-file" not in llama.server_argv({"model": "/m", "host": "::1", "port": 1, "ctx_size": 1,
                                                      "gpu_layers": 0})


@pytest.mark.parametrize(("change", "says"), [
    ({"model": "tiny.gguf"}, "absolute path"), ({"port": 0}, "llama_cpp_server_port must be a port between"),
    ({"port": "http"}, "llama_cpp_server_port must be a port between"),
    ({"ctx_size": 0}, "llama_cpp_server_ctx_size must be a whole number of 1"),
    ({"gpu_layers": -1}, "llama_cpp_server_gpu_layers"), ({"host": "a b"}, "llama_cpp_server_host must be a host name"),
    ({"extra_args": "--flash-attn on"}, r"llama_cpp_server_extra_args must be a list.*single string"),
    ({"threads": "many"}, "llama_cpp_server_threads"),
])
def test_bad_server_settings_are_refused(change, says):
    good = {"model": "/m.gguf", "host": "127.0.0.1", "port": 8080, "ctx_size": 512, "gpu_layers": 0}
    with pytest.raises(llama.LlamaCppError, match=says):
        llama.server_argv(dict(good, **change))


def test_the_rpc_worker_binds_an_ipv4_address_only():
    assert llama.rpc_argv({"binary": "b", "host": "192.168.50.11", "port": 50052, "threads": 4}) == \
        ["b", "--host", "192.168.50.11", "--port", "50052", "--threads", "4"]
    for host in ("pi5-02", "fd00::2", ""):
        with pytest.raises(llama.LlamaCppError, match="IPv4 address only"):
            llama.rpc_argv({"host": host, "port": 50052})


def test_systemd_exec_lines_quote_what_systemd_would_split_or_expand():
    assert llama.systemd_exec(["/b", "--model", "/m/a b.gguf", "--alias", "100%", "$HOME", 'say "hi"', "x\\y"]) == \
        '/b --model "/m/a b.gguf" --alias 100%% $$HOME "say \\"hi\\"" "x\\\\y"'
    with pytest.raises(llama.LlamaCppError, match=r"single line of text; it holds the character U\+000A"):
        llama.systemd_exec(["/b", "a\nExecStartPre=/bin/evil"])


def test_the_rpc_list_comes_from_the_inventory():
    hostvars = {"pi5-02": {"ansible_host": "192.168.50.12"},
                "pi5-03": {"llama_cpp_rpc_address": "10.0.0.3", "llama_cpp_rpc_port": 50053},
                "lab-w": {}}
    assert llama.rpc_servers(hostvars, ["pi5-02", "pi5-03", "lab-w"]) == \
        "192.168.50.12:50052,10.0.0.3:50053,lab-w:50052"
    with pytest.raises(llama.LlamaCppError, match="is not an IPv4 address or host name"):
        llama.rpc_servers({"x": {"ansible_host": "a,b"}}, ["x"])
    # the endpoint a worker published (the address it binds) wins over the inventory's guesses
    assert llama.rpc_servers({"w": {"ansible_host": "w", "llama_cpp_rpc_endpoint": "172.18.0.5:50052"}}, ["w"]) == \
        "172.18.0.5:50052"
    with pytest.raises(llama.LlamaCppError, match="IPv4"):
        llama.rpc_servers({"w": {"llama_cpp_rpc_endpoint": "[fd00::5]:50052"}}, ["w"])


def test_llama_bench_json_gives_prompt_and_generation_rates():
    runs = [{"backends": "CPU", "model_type": "llama 7B Q4_0", "n_gpu_layers": 0, "n_prompt": 512, "n_gen": 0,
             "avg_ts": 7100.002165, "stddev_ts": 140.34152},
            {"backends": "CPU,RPC", "model_type": "llama 7B Q4_0", "n_gpu_layers": 99, "n_prompt": 0, "n_gen": 128,
             "avg_ts": 0.2049, "stddev_ts": 0.01}]
    figures = llama.bench_figures(json.dumps(runs))
    assert [(f["test"], f["tokens_per_second"]) for f in figures] == [("pp512", 7100.0), ("tg128", 0.2)]
    assert figures[1]["backends"] == "CPU,RPC" and figures[1]["gpu_layers"] == 99
    with pytest.raises(llama.LlamaCppError, match="not JSON"):
        llama.bench_figures("| model | size |")
    with pytest.raises(llama.LlamaCppError, match="list of runs"):
        llama.bench_figures("{}")


def _found(*ages, base=1_700_000_000):
    """find's files for builds/: (name, age in days), newest first or not."""
    return [{"path": f"/opt/llama.cpp/builds/{name}", "mtime": base - age * 86400, "isdir": True} for name, age in ages]


CURRENT = "c" * 16


def test_stale_builds_keep_the_current_one_and_the_newest_others_up_to_keep():
    found = _found(("1" * 16, 30), (CURRENT, 40), ("2" * 16, 1), ("3" * 16, 10))
    # the current build stays even where it is the oldest; then the newest others
    assert llama.stale_builds(found, CURRENT, 2) == ["1" * 16, "3" * 16]
    assert llama.stale_builds(found, CURRENT, 3) == ["1" * 16]
    assert llama.stale_builds(found, CURRENT, 1) == ["1" * 16, "2" * 16, "3" * 16]
    assert llama.stale_builds(found, CURRENT, 4) == [] and llama.stale_builds(found, CURRENT, "9") == []
    # one run later nothing more goes: removing the stale ones is idempotent
    kept = [f for f in found if f["path"].rsplit("/", 1)[1] not in llama.stale_builds(found, CURRENT, 2)]
    assert llama.stale_builds(kept, CURRENT, 2) == []


def test_stale_builds_touch_only_what_is_named_like_a_build_key():
    found = _found(("current", 99), ("models", 99), ("1" * 15, 99), ("G" * 16, 99), ("1" * 17, 99), (CURRENT, 0),
                   ("2" * 16, 5))
    found += [{"path": "/opt/llama.cpp/builds/" + "4" * 16 + "/", "mtime": "junk"}, {"path": None}]
    assert llama.stale_builds(found, CURRENT, 1) == ["2" * 16, "4" * 16]
    assert llama.stale_builds([], CURRENT) == []


def test_stale_sources_are_the_tarballs_and_unpacked_sources_of_other_releases():
    old, new = "e" * 64, "a" * 64
    root = "/var/cache/llama.cpp"
    found = [{"path": p} for p in (f"{root}/{old}.tar.gz", f"{root}/{new}.tar.gz", f"{root}/src/{old[:16]}",
                                   f"{root}/src/{new[:16]}/", f"{root}/{old[:16]}", f"{root}/build/{old[:16]}",
                                   f"{root}/{old}.tar.gz.part", f"{root}/src/notes")]
    assert llama.stale_sources(found, new) == [f"{root}/{old}.tar.gz", f"{root}/src/{old[:16]}"]
    assert llama.stale_sources(found, old) == [f"{root}/{new}.tar.gz", f"{root}/src/{new[:16]}"]
    assert llama.stale_sources([f for f in found if "e" * 16 not in f["path"]], new) == []
    with pytest.raises(llama.LlamaCppError, match="64 hex digits"):
        llama.stale_sources(found, new[:16])
    with pytest.raises(llama.LlamaCppError, match="list of find's files"):
        llama.stale_sources([f"{root}/{old}.tar.gz"], new)


@pytest.mark.parametrize(("args", "says"), [
    (([], "C" * 16), "16 hex digits"),
    (([], ""), "16 hex digits"),
    (([], CURRENT, 0), "llama_cpp_keep_builds must be a whole number of 1 or more"),
    (([], CURRENT, "two"), "llama_cpp_keep_builds must be a whole number"),
    (({"path": "x"}, CURRENT), "list of find's files"),
    ((["x"], CURRENT), "list of find's files"),
])
def test_bad_input_to_stale_builds_is_refused(args, says):
    with pytest.raises(llama.LlamaCppError, match=says):
        llama.stale_builds(*args)


@pytest.mark.parametrize(("name", "args"), [
    ("llama_cpp_host_build", ({"kind": "gpu_stack", "gpu_present": True, "cuda": {"compute_capabilities": ["x"]}},
                              {}, SHA, "p")),
    ("llama_cpp_host_build", ({}, {}, "not-a-sha", "p")),
    ("llama_cpp_host_build", ({}, {"cmake_options": {"GGML_CUDA": "ON"}}, SHA, "p")),
    ("llama_cpp_build_plan", ({"a": {"__llama_cpp_build_state": "built"}}, ["a"])),
    ("llama_cpp_rpc_servers", ({"w": {"ansible_host": "a b"}}, ["w"])),
    ("llama_cpp_rpc_servers", ({"w": {}}, ["w"], "port")),
    ("llama_cpp_server_exec", ({"model": "/m", "host": "h", "port": 99999, "ctx_size": 1, "gpu_layers": 0},)),
    ("llama_cpp_rpc_exec", ({"host": "0.0.0.0; rm -rf /", "port": 1},)),
    ("llama_cpp_bench_figures", ("not json",)),
    ("llama_cpp_exposure_problems", (None,)),
    ("llama_cpp_stale_builds", ([], "current")),
    ("llama_cpp_stale_builds", ([], "0" * 16, 0)),
    ("llama_cpp_stale_builds", ("builds", "0" * 16)),
    ("llama_cpp_stale_sources", ([], "0" * 16)),
    ("llama_cpp_stale_sources", ({"path": "/x"}, SHA)),
])
def test_bad_input_to_every_filter_is_a_filter_error_not_a_traceback(name, args):
    from ansible.errors import AnsibleFilterError
    from ansible_collections.homelab.nvidia_gpu.plugins.filter.llama_cpp import FilterModule

    with pytest.raises(AnsibleFilterError, match=name):
        FilterModule().filters()[name](*args)
