# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""llama.cpp's build options from the GPU plan, its build key, the RPC list, llama-bench's figures (issue #17's
pure part; no role uses it yet)."""

from __future__ import annotations

import json

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils import _gpu_catalog as catalog
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils import _llama_cpp as llama

SHA = "a" * 64


def _plan(capabilities, kind="gpu_stack", can_work=True, platform="generic", present=True):
    return {"kind": kind, "gpu_present": present, "verdict": {"can_work": can_work}, "platform": platform,
            "gpu_names": ["card"] if present else [], "cuda": {"compute_capabilities": capabilities}}


@pytest.mark.parametrize("device", sorted(catalog.CATALOG))
def test_every_catalog_card_gets_its_own_cuda_architecture(device):
    card = catalog.CATALOG[device]
    out = llama.build_options(_plan([card["compute_capability"]]))
    assert out["backend"] == "cuda" and out["options"]["GGML_CUDA"] == "ON"
    assert out["options"]["CMAKE_CUDA_ARCHITECTURES"] == card["compute_capability"].replace(".", "")
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


def test_the_build_key_changes_with_the_source_the_options_or_the_toolkit_only():
    options = llama.build_options(_plan(["6.1"]))["options"]
    key = llama.build_key(SHA, options, "12.9")
    assert key == llama.build_key(SHA, dict(reversed(list(options.items()))), "12.9")  # order does not matter
    assert len({key, llama.build_key("b" * 64, options, "12.9"), llama.build_key(SHA, options, "12.8"),
                llama.build_key(SHA, dict(options, GGML_NATIVE="OFF"), "12.9")}) == 4
    with pytest.raises(llama.LlamaCppError, match="64 hex digits"):
        llama.build_key("abc", options)


def test_the_rpc_list_comes_from_the_inventory():
    hostvars = {"pi5-02": {"ansible_host": "192.168.50.12"},
                "pi5-03": {"llama_cpp_rpc_address": "10.0.0.3", "llama_cpp_rpc_port": 50053},
                "lab-w": {}}
    assert llama.rpc_servers(hostvars, ["pi5-02", "pi5-03", "lab-w"]) == \
        "192.168.50.12:50052,10.0.0.3:50053,lab-w:50052"
    with pytest.raises(llama.LlamaCppError, match="is not an address"):
        llama.rpc_servers({"x": {"ansible_host": "a,b"}}, ["x"])


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
