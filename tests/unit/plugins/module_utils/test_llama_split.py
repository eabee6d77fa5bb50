# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The split planner on the mission's cluster: three Raspberry Pi 5 16 GB (CPU, RPC workers) and the x86 box with a
Tesla P10 24 GB (the server, CUDA), with Llama 3.1 8B, 70B and 405B quantized like Q4_K_M.

The models are GGUF headers written by gguf-py's GGUFWriter from Meta's published shapes (test_gguf.py says how),
read by ``_gguf.summary``. Two independent checks:
- the arithmetic of the published file sizes (4.92 GB, 42.5 GB, 245.7 GB; test_gguf.py names the pages) plus the
  KV cache from the published attention shape (2 x layers x ctx x 8 KV heads x 128 x 2 bytes) against the nodes'
  memory less the reserves: a model fits when that sum does, and a refusal states those numbers;
- llama.cpp's own placement rule, transcribed below from src/llama-model.cpp (load_tensors: the cumulative split in
  C floats, i_gpu_start, upper_bound) and src/llama.cpp (RPC devices first): fed the plan's --tensor-split and -ngl,
  it must put every layer where the plan says.
Memory: the Pis' and the card's nominal sizes (16 and 24 GiB); on real hosts the role passes MemTotal and the card's
nvidia-smi memory.total, a little less.
"""

from __future__ import annotations

import bisect
import re

import numpy as np
import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _gguf
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _llama_split as split
from test_gguf import LLAMA_31, PUBLISHED_Q4_K_M_BYTES, write_llama_header

GIB = 1 << 30
PI_RESERVE, CARD_RESERVE = 1.5 * GIB, 1.0 * GIB  # the documented defaults the cluster is planned with
CLUSTER = [
    {"name": "pi-1", "role": "worker", "device": "cpu", "memory_bytes": 16 * GIB},
    {"name": "pi-2", "role": "worker", "device": "cpu", "memory_bytes": 16 * GIB},
    {"name": "pi-3", "role": "worker", "device": "cpu", "memory_bytes": 16 * GIB},
    {"name": "x86-p10", "role": "server", "device": "cuda", "memory_bytes": 24 * GIB},
]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("models")
    out = {}
    for size in LLAMA_31:
        write_llama_header(folder / f"{size}.gguf", size, vocabulary=False)
        out[size] = _gguf.summary_of_path(str(folder / f"{size}.gguf"))
    return out


def published_need(size: str, ctx: int) -> float:
    """Bytes the published Q4_K_M file and its f16 KV cache at ctx take, from the published figures alone."""
    layers, hidden, _ffn, heads, kv_heads, _vocab, _max = LLAMA_31[size]
    return PUBLISHED_Q4_K_M_BYTES[size] + layers * 2 * ctx * kv_heads * (hidden // heads) * 2


def llama_cpp_devices(n_layer: int, gpu_layers: int, tensor_split: list[float], n_devices: int) -> list[int | None]:
    """The device index llama.cpp gives each of the n_layer + 1 layers (the last is the output layer); None for the
    server's CPU. src/llama-model.cpp, llama_model_base::load_tensors, in C's float arithmetic."""
    splits = np.zeros(n_devices, dtype=np.float32)
    total = np.float32(0)
    for i in range(n_devices):
        total = np.float32(total + np.float32(tensor_split[i]))
        splits[i] = total
    splits = [np.float32(s / total) for s in splits]
    i_gpu_start = max(n_layer + 1 - gpu_layers, 0)
    act = min(gpu_layers, n_layer + 1) if n_devices else 0
    out = []
    for il in range(n_layer + 1):
        if il < i_gpu_start or il - i_gpu_start >= act:
            out.append(None)
        else:
            out.append(bisect.bisect_right(splits, np.float32(np.float32(il - i_gpu_start) / np.float32(act))))
    return out


def device_order(nodes: list[dict]) -> list[str]:
    """llama-server's devices (src/llama.cpp): the RPC servers first in --rpc order, then its own GPU."""
    return [n["name"] for n in nodes if n["role"] == "worker"] + [
        n["name"] for n in nodes if n["role"] == "server" and n["device"] == "cuda"]


def check_against_llama_cpp(plan: dict, nodes: list[dict], n_layer: int) -> None:
    """Fed the plan's -ngl and --tensor-split, llama.cpp puts each layer where the plan's nodes say."""
    order = device_order(nodes)
    assert len(plan["tensor_split"]) == len(order)
    assert [float(x) for x in plan["tensor_split_arg"].split(",")] == plan["tensor_split"] if order else True
    placed = llama_cpp_devices(n_layer, plan["gpu_layers"], plan["tensor_split"], len(order))
    server = next(n["name"] for n in nodes if n["role"] == "server")
    where = [server if d is None else order[d] for d in placed]
    for node in plan["nodes"]:
        mine = [i for i, name in enumerate(where[:n_layer]) if name == node["name"]]
        assert len(mine) == node["layers"], (node, where)
        if mine:
            assert mine == list(range(node["first_layer"], node["first_layer"] + node["layers"]))
    # the output layer: on the last device
    assert where[n_layer] == (order[-1] if order else server)


def gib(text: str, before: str) -> float:
    """The GiB figure that comes right before ``before`` in a sentence."""
    match = re.search(r"([0-9]+\.[0-9]+) GiB " + re.escape(before), text)
    assert match, (before, text)
    return float(match.group(1))


# --- the mission's cluster -----------------------------------------------------------------------------------------

def test_8b_q4_fits_and_every_node_says_what_it_holds(models):
    plan = split.plan_split(models["8B"], CLUSTER, ctx_size=4096)
    usable = 3 * (16 * GIB - PI_RESERVE) + 24 * GIB - CARD_RESERVE
    assert published_need("8B", 4096) < usable  # 5.4 GB of 71.4 GB: it fits by the published arithmetic
    assert plan["fits"] is True and plan["refusal"] == ""
    # where the layers go: the 32 layers over the three Pis and the card in proportion to the room each has (the
    # card's room less the output layer), the output layer on the card (the last device), token_embd in the x86 RAM
    by_name = {n["name"]: n for n in plan["nodes"]}
    assert sum(n["layers"] for n in plan["nodes"]) == 32
    assert {by_name[f"pi-{i}"]["layers"] for i in (1, 2, 3)} <= {7, 8}  # equal Pis, equal shares within a layer
    assert by_name["x86-p10"]["layers"] > by_name["pi-1"]["layers"]  # 23 GiB of room against 14.5
    assert plan["gpu_layers"] == 33  # every layer and the output layer offloaded: nothing left on the x86 CPU
    check_against_llama_cpp(plan, CLUSTER, 32)
    for node in plan["nodes"]:
        assert node["bytes"] <= node["usable_bytes"]
    assert [line.split(":")[0] for line in plan["lines"]] == ["pi-1", "pi-2", "pi-3", "x86-p10"]
    assert "over RPC" in plan["lines"][0] and "the output layer" in plan["lines"][3]
    assert "stays in its RAM" in plan["lines"][3]


def test_70b_q4_fits_across_the_four(models):
    plan = split.plan_split(models["70B"], CLUSTER, ctx_size=4096)
    usable = 3 * (16 * GIB - PI_RESERVE) + 24 * GIB - CARD_RESERVE
    assert published_need("70B", 4096) < usable  # 43.8 GB against 71.4 GB
    assert plan["fits"] is True
    assert sum(n["layers"] for n in plan["nodes"]) == 80 and plan["gpu_layers"] == 81
    check_against_llama_cpp(plan, CLUSTER, 80)
    for node in plan["nodes"]:
        assert node["bytes"] <= node["usable_bytes"]
        assert node["layers"] > 0
    # no Pi alone could take it, so every Pi holds some of it
    assert published_need("70B", 4096) > 16 * GIB


@pytest.mark.parametrize("ctx", [4096, 16384])
def test_70b_q4_on_the_three_pis_alone_fits_only_with_a_short_context(models, ctx):
    # the x86 box without a working card: one Pi serves (its CPU keeps the first layers), two are workers
    nodes = [dict(CLUSTER[0], role="server"), CLUSTER[1], CLUSTER[2]]
    usable = 3 * (16 * GIB - PI_RESERVE)
    expected = published_need("70B", ctx) <= usable  # 43.8 GB <= 46.7 GB at 4096; 48.9 GB > 46.7 GB at 16384
    plan = split.plan_split(models["70B"], nodes, ctx_size=ctx)
    assert plan["fits"] is expected
    if expected:
        check_against_llama_cpp(plan, nodes, 80)
        server = plan["nodes"][0]
        assert server["first_layer"] == 0 and plan["gpu_layers"] == 80 - server["layers"] + 1
        assert "on its CPU" in plan["lines"][0] and "the input layer" in plan["lines"][0]
    else:
        short = gib(plan["refusal"], "short")
        assert short == pytest.approx((published_need("70B", ctx) - usable) / GIB, rel=0.2)
        assert plan["tensor_split"] == [] and plan["gpu_layers"] == 0


def test_405b_q4_is_refused_with_the_numbers(models):
    plan = split.plan_split(models["405B"], CLUSTER, ctx_size=4096)
    assert plan["fits"] is False
    refusal = plan["refusal"]
    usable = 3 * (16 * GIB - PI_RESERVE) + 24 * GIB - CARD_RESERVE
    assert gib(refusal, "usable") == pytest.approx(usable / GIB, abs=0.01)
    # what it needs: the published 245.7 GB upload and its KV cache (the input layer stays in the x86 RAM)
    need = gib(refusal, "on these nodes")
    assert need == pytest.approx(published_need("405B", 4096) / GIB, rel=0.03)
    assert gib(refusal, "of KV cache") == pytest.approx(126 * 2 * 4096 * 8 * 128 * 2 / GIB, abs=0.01)
    assert gib(refusal, "short") == pytest.approx(need - usable / GIB, abs=0.02)
    for name in ("pi-1 14.50 GiB", "pi-2 14.50 GiB", "pi-3 14.50 GiB", "x86-p10 23.00 GiB"):
        assert name in refusal
    assert refusal.count(".") >= 1 and refusal.endswith("short.") and "\n" not in refusal
    assert len(plan["lines"]) == 4 and all("holds nothing" in line for line in plan["lines"])


# --- the rules -----------------------------------------------------------------------------------------------------

def test_more_memory_takes_more_layers_and_no_node_takes_more_than_it_holds(models):
    nodes = [
        {"name": "pi4-4gb", "role": "worker", "device": "cpu", "memory_bytes": 4 * GIB},
        {"name": "pi5-8gb", "role": "worker", "device": "cpu", "memory_bytes": 8 * GIB},
        {"name": "pi5-16gb", "role": "worker", "device": "cpu", "memory_bytes": 16 * GIB},
        {"name": "x86", "role": "server", "device": "cpu", "memory_bytes": 32 * GIB},
    ]
    plan = split.plan_split(models["70B"], nodes, ctx_size=4096)
    assert plan["fits"] is True
    check_against_llama_cpp(plan, nodes, 80)
    layers = [n["layers"] for n in plan["nodes"]]
    assert layers[0] < layers[1] < layers[2] < layers[3]
    for node in plan["nodes"]:
        assert node["bytes"] <= node["usable_bytes"]


def test_a_node_too_small_for_its_share_is_filled_and_the_rest_go_elsewhere(models):
    # the 8B's layers are about 140 MiB each: a worker with 300 MiB of room takes at most two
    nodes = [{"name": "tiny", "role": "worker", "device": "cpu", "memory_bytes": 300 * 2**20, "reserve_bytes": 0},
             {"name": "x86-p10", "role": "server", "device": "cuda", "memory_bytes": 24 * GIB}]
    plan = split.plan_split(models["8B"], nodes)
    assert plan["fits"] is True
    check_against_llama_cpp(plan, nodes, 32)
    tiny = plan["nodes"][0]
    assert tiny["bytes"] <= 300 * 2**20 and tiny["layers"] <= 2


def test_the_reserves(models):
    default = split.plan_split(models["8B"], CLUSTER)
    assert [n["usable_bytes"] for n in default["nodes"]] == [16 * GIB - PI_RESERVE] * 3 + [24 * GIB - CARD_RESERVE]
    none = split.plan_split(models["8B"], CLUSTER, reserve_bytes=0)
    assert [n["usable_bytes"] for n in none["nodes"]] == [16 * GIB] * 3 + [24 * GIB]
    own = split.plan_split(models["8B"], [dict(CLUSTER[0], reserve_bytes=2 * GIB), *CLUSTER[1:]], reserve_bytes=0)
    assert own["nodes"][0]["usable_bytes"] == 14 * GIB and own["nodes"][1]["usable_bytes"] == 16 * GIB


def test_the_output_layer_must_fit_the_last_device(models):
    # the 8B's output layer is 411 MiB (Q6_K 4096 x 128256): a card with 300 MiB usable cannot be the last device
    nodes = [*CLUSTER[:3], dict(CLUSTER[3], memory_bytes=300 * 2**20, reserve_bytes=0)]
    plan = split.plan_split(models["8B"], nodes)
    assert plan["fits"] is False
    assert "x86-p10 must hold the output layer" in plan["refusal"] and "300.0 MiB usable" in plan["refusal"]


def test_the_server_ram_holds_the_input_layer_when_given(models):
    small = dict(CLUSTER[3], ram_bytes=2 * GIB)  # 0.5 GiB usable after the CPU reserve; token_embd of 70B: 564 MiB
    plan = split.plan_split(models["70B"], [*CLUSTER[:3], small])
    assert plan["fits"] is False and "keeps the input layer" in plan["refusal"]
    assert split.plan_split(models["70B"], [*CLUSTER[:3], dict(small, ram_bytes=8 * GIB)])["fits"] is True


def test_the_lab_shape_a_cpu_server_and_two_workers(tmp_path):
    # molecule/inference: an amd64 server, an amd64 worker and an arm64 worker, all CPU, the lab's tiny model
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[4]
    subprocess.run([sys.executable, str(root / "tests/lab/packages/models/tiny_gguf.py"), str(tmp_path / "t.gguf")],
                   check=True)
    model = _gguf.summary_of_path(str(tmp_path / "t.gguf"))
    nodes = [{"name": "lm-server", "role": "server", "device": "cpu", "memory_bytes": 2 * GIB},
             {"name": "lm-worker-amd64", "role": "worker", "device": "cpu", "memory_bytes": 2 * GIB},
             {"name": "lm-worker-arm64", "role": "worker", "device": "cpu", "memory_bytes": 2 * GIB}]
    plan = split.plan_split(model, nodes, ctx_size=512)
    assert plan["fits"] is True
    check_against_llama_cpp(plan, nodes, model["block_count"])
    assert sum(n["layers"] for n in plan["nodes"]) == model["block_count"]
    assert all(n["layers"] >= 1 for n in plan["nodes"])  # equal room: each of the three holds some of it
    # the server keeping no layer: every layer on the two workers, -ngl all of them and the output layer
    plan = split.plan_split(model, [dict(nodes[0], holds_layers=False), *nodes[1:]], ctx_size=512)
    assert plan["fits"] is True and plan["nodes"][0]["layers"] == 0
    assert plan["gpu_layers"] == model["block_count"] + 1
    check_against_llama_cpp(plan, nodes, model["block_count"])
    assert "leaves no repeating layer there" in plan["lines"][0]


# --- input it cannot plan with ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("nodes", "message"), [
    ([], "at least one node"),
    (None, "at least one node"),
    ("pi-1", "at least one node"),
    ([{"name": "pi-1", "role": "worker", "device": "cpu", "memory_bytes": 16 * GIB}], "exactly one server"),
    ([dict(CLUSTER[3]), dict(CLUSTER[3], name="b")], r"exactly one server \(.*\), not 2 \(x86-p10, b\)"),
    ([dict(CLUSTER[3], memory_bytes=0)], "node x86-p10 has no memory"),
    ([dict(CLUSTER[3], memory_bytes=None)], "node x86-p10 has no memory"),
    ([dict(CLUSTER[3], memory_bytes=-5)], "memory_bytes must be a whole number of 1 or more"),
    ([dict(CLUSTER[3], memory_bytes="lots")], "memory_bytes must be a whole number"),
    ([dict(CLUSTER[3], device="rocm")], "device must be cpu or cuda, not 'rocm'"),
    ([dict(CLUSTER[3], role="boss")], "role must be server or worker"),
    ([dict(CLUSTER[3], name="")], r"nodes\[0\]\.name must not be empty"),
    ([CLUSTER[0], CLUSTER[0], CLUSTER[3]], "pi-1 is given more than once"),
    ([dict(CLUSTER[3], reserve_bytes=-1)], "reserve_bytes must be a whole number of 0 or more"),
    (["x86"], r"nodes\[0\] must be a mapping"),
    ([dict(CLUSTER[3], holds_layers="maybe")], "holds_layers must be true or false"),
])
def test_bad_nodes(models, nodes, message):
    with pytest.raises(split.SplitProblem, match=message):
        split.plan_split(models["8B"], nodes)


def test_bad_model_and_context(models):
    with pytest.raises(split.SplitProblem, match="lacks layer_bytes"):
        split.plan_split({k: v for k, v in models["8B"].items() if k != "layer_bytes"}, CLUSTER)
    with pytest.raises(split.SplitProblem, match="must be the summary of a GGUF header"):
        split.plan_split("llama.gguf", CLUSTER)
    with pytest.raises(split.SplitProblem, match="layer_kv_elements must list one count per layer"):
        split.plan_split(dict(models["8B"], layer_kv_elements=[1]), CLUSTER)
    with pytest.raises(split.SplitProblem, match="ctx_size must be a whole number of 1 or more"):
        split.plan_split(models["8B"], CLUSTER, ctx_size=0)
    with pytest.raises(split.SplitProblem, match="reserve_bytes must be a whole number"):
        split.plan_split(models["8B"], CLUSTER, reserve_bytes="some")


def test_the_card_memory_from_nvidia_smi():
    # nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits prints MiB, one GPU a line
    assert split.card_memory_bytes("24576\n") == 24 * GIB
    assert split.card_memory_bytes(b"24576\n8192\n", index=1) == 8 * GIB
    with pytest.raises(split.SplitProblem, match=r"listed 0 GPU\(s\), so it gave no memory.total for GPU 0"):
        split.card_memory_bytes("")
    with pytest.raises(split.SplitProblem, match=r"memory.total of GPU 0 \(MiB\) must be a whole number"):
        split.card_memory_bytes("[N/A]\n")


def test_a_split_problem_is_a_value_problem():
    from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _values
    assert issubclass(split.SplitProblem, _values.ValueProblem)
    assert issubclass(_gguf.GgufProblem, _values.ValueProblem)
