# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a model's layers go before anything loads (pure): llama-server's --tensor-split and -ngl from a GGUF
header's summary (``_gguf.summary``) and each node's memory, or a refusal that names the numbers.

How llama-server places a model, read in the llama.cpp that llama-cpp-python 0.3.36 vendors:
- its devices are the RPC servers first, in the order of --rpc (one device per rpc-server: its GPU, or its CPU when
  it has none), then the server's own GPUs; the server's CPU is never one of them (src/llama.cpp,
  llama_model_load_from_file_impl: "add RPC servers at the front of the list");
- -ngl N puts the last N of the n_layer + 1 layers (the repeating ones and then the output layer) on the devices;
  the first n_layer + 1 - N repeating layers stay on the server's CPU, and so does the input layer (token_embd)
  always (src/llama-model.cpp, load_tensors: i_gpu_start, dev_input);
- --tensor-split gives the devices contiguous runs of those N layers in device order, each in proportion to its
  number (same place: the cumulative split and upper_bound): so the split here is the layer count of each device,
  and the last device's count includes the output layer; whole numbers summing to N split exactly as planned;
- each layer's KV cache lives on that layer's device (f16 unless told otherwise: 2 bytes per element); an explicit
  -ngl and --tensor-split turn llama.cpp's own --fit off (common/fit.cpp: "already set by user").

The plan: each node's usable memory is its memory less a reserve for the OS, the process and llama.cpp's compute
buffers (RESERVE_BYTES, or the caller's); the layers go to the nodes in llama.cpp's order in proportion to the room
each has left for layers, never more than a node holds (its layers, their KV cache at ctx_size, and on the server
the input layer, on the last device the output layer); when the sum does not fit, a refusal says by how much.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _values

GIB = 1 << 30
MIB = 1 << 20
KV_BYTES = 2  # f16, llama.cpp's default --cache-type-k/-v
# The memory a node keeps for itself, by device: on a CPU node (a Pi's RAM, a CPU server) the OS, the rpc-server or
# llama-server process and its compute buffers (1.5 GiB); on a card the CUDA context and llama.cpp's compute buffers
# (1 GiB: llama.cpp's own margin per device for --fit, common/common.h fit_params_target).
RESERVE_BYTES = {"cpu": 3 * GIB // 2, "cuda": GIB}
ROLES = ("server", "worker")
DEVICES = ("cpu", "cuda")
_MODEL_KEYS = ("architecture", "block_count", "layer_bytes", "layer_kv_elements", "input_bytes", "output_bytes",
               "total_bytes")


class SplitProblem(_values.ValueProblem):
    """Input the planner cannot plan with: no nodes, a node without memory, a model summary that is not one."""


def size(count: int) -> str:
    """Bytes for a person: GiB with two decimals from 1 GiB, MiB with one below, KiB below that."""
    if count >= GIB:
        return f"{count / GIB:.2f} GiB"
    if count >= MIB:
        return f"{count / MIB:.1f} MiB"
    return f"{count / 1024:.1f} KiB"


def _model(model: Any) -> dict:
    if not isinstance(model, Mapping):
        raise SplitProblem(f"the model must be the summary of a GGUF header (gguf_info), not {type(model).__name__}")
    missing = [key for key in _MODEL_KEYS if key not in model]
    if missing:
        raise SplitProblem(f"the model summary lacks {', '.join(missing)}: it must come from gguf_info")
    layers = model["layer_bytes"]
    kv = model["layer_kv_elements"]
    if isinstance(layers, (str, bytes, Mapping)) or not isinstance(layers, Sequence) or not layers:
        raise SplitProblem(f"the model summary's layer_bytes must be a list of one byte count per layer, not"
                           f" {layers!r}")
    out = {
        "architecture": _values.single_line(model["architecture"], "the model summary's architecture"),
        "name": model.get("name") if isinstance(model.get("name"), str) else "",
        "layer_bytes": [_values.integer(v, f"the model summary's layer_bytes[{i}]", 0) for i, v in enumerate(layers)],
        "input_bytes": _values.integer(model["input_bytes"], "the model summary's input_bytes", 0),
        "output_bytes": _values.integer(model["output_bytes"], "the model summary's output_bytes", 0),
        "output_copy_bytes": _values.integer(model.get("output_copy_bytes", 0), "the model summary's output_copy_bytes",
                                             0),
        "total_bytes": _values.integer(model["total_bytes"], "the model summary's total_bytes", 0),
    }
    if isinstance(kv, (str, bytes, Mapping)) or not isinstance(kv, Sequence) or len(kv) != len(layers):
        raise SplitProblem(f"the model summary's layer_kv_elements must list one count per layer ({len(layers)}),"
                           f" not {kv!r}")
    out["layer_kv"] = [_values.integer(v, f"the model summary's layer_kv_elements[{i}]", 0) for i, v in enumerate(kv)]
    return out


def _nodes(nodes: Any, reserve_bytes: Any) -> list[dict]:
    if isinstance(nodes, (str, bytes, Mapping)) or not isinstance(nodes, Sequence) or not nodes:
        raise SplitProblem("the split needs at least one node (the server), as a list of {name, role, device,"
                           f" memory_bytes}}, not {nodes!r}")
    default = None if reserve_bytes is None else _values.integer(reserve_bytes, "reserve_bytes", 0)
    out: list[dict] = []
    for index, node in enumerate(nodes):
        where = f"nodes[{index}]"
        if not isinstance(node, Mapping):
            raise SplitProblem(f"{where} must be a mapping of name, role, device and memory_bytes, not {node!r}")
        name = _values.single_line(node.get("name"), f"{where}.name", max_length=255)
        where = f"node {name}"
        role = node.get("role")
        if role not in ROLES:
            raise SplitProblem(f"{where}: role must be server or worker, not {role!r}")
        device = node.get("device")
        if device not in DEVICES:
            raise SplitProblem(f"{where}: device must be cpu or cuda, not {device!r}")
        if node.get("memory_bytes") in (None, "", 0):
            raise SplitProblem(f"{where} has no memory: memory_bytes (its RAM for a CPU node, its card's VRAM for"
                               " cuda) must be given, in bytes")
        memory = _values.integer(node.get("memory_bytes"), f"{where}: memory_bytes", 1)
        own = node.get("reserve_bytes")
        reserve = (_values.integer(own, f"{where}: reserve_bytes", 0) if own is not None
                   else default if default is not None else RESERVE_BYTES[device])
        ram = node.get("ram_bytes")
        ram = None if ram in (None, "", 0) else _values.integer(ram, f"{where}: ram_bytes", 1)
        ram_reserve = RESERVE_BYTES["cpu"] if default is None else default  # a cuda server's RAM, for token_embd
        holds = _values.boolean(node.get("holds_layers", True), f"{where}: holds_layers")
        out.append({"name": name, "role": role, "device": device, "memory": memory, "reserve": reserve,
                    "usable": max(memory - reserve, 0), "ram": ram, "ram_reserve": ram_reserve, "holds": holds})
    names = [n["name"] for n in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SplitProblem(f"node names must be unique; {', '.join(twice)} is given more than once")
    servers = [n["name"] for n in out if n["role"] == "server"]
    if len(servers) != 1:
        raise SplitProblem(f"the split needs exactly one server (the host that runs llama-server), not {len(servers)}"
                           + (f" ({', '.join(servers)})" if servers else ""))
    return out


def card_memory_bytes(stdout: Any, index: int = 0) -> int:
    """A card's VRAM in bytes from ``nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits`` (one line
    of MiB per GPU, in nvidia-smi's order): the ``memory_bytes`` of a cuda node. Neither the GPU plan nor the GPU
    catalog holds a card's memory; the card says it."""
    text = stdout.decode("utf-8", "replace") if isinstance(stdout, bytes) else stdout
    if not isinstance(text, str):
        raise SplitProblem(f"nvidia-smi's memory.total output must be text, not {type(stdout).__name__}")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    number = _values.integer(index, "the GPU index", 0)
    if number >= len(lines):
        raise SplitProblem(f"nvidia-smi listed {len(lines)} GPU(s), so it gave no memory.total for GPU {number}")
    try:
        mib = _values.integer(lines[number], f"nvidia-smi's memory.total of GPU {number} (MiB)", 1)
    except _values.ValueProblem as exc:
        raise SplitProblem(str(exc)) from None
    return mib * MIB


def _fits_from(costs: Sequence[int], start: int, rooms: Sequence[int]) -> bool:
    """Whether layers start.. go, in order and whole, into nodes of the given rooms (filling each in turn is the
    most any order of whole runs can place, so it answers for every assignment)."""
    layer = start
    for room in rooms:
        used = 0
        while layer < len(costs) and used + costs[layer] <= room:
            used += costs[layer]
            layer += 1
    return layer == len(costs)


def _assign(costs: Sequence[int], rooms: Sequence[int]) -> list[int] | None:
    """Layers per node, contiguous in node order, each node's run ending as near as it can to its proportional share
    of the bytes (by room) while the rest still fits the nodes after it; None when no run of whole layers fits."""
    if not _fits_from(costs, 0, rooms):
        return None
    prefix = [0]
    for cost in costs:
        prefix.append(prefix[-1] + cost)
    weight = sum(rooms)
    counts, start, share = [], 0, 0
    for index, room in enumerate(rooms[:-1]):
        share += room
        goal = prefix[-1] * share / weight if weight else 0.0
        best = None
        for end in range(start, len(costs) + 1):
            if prefix[end] - prefix[start] > room:
                break
            if _fits_from(costs, end, rooms[index + 1:]) and (
                    best is None or abs(prefix[end] - goal) < abs(prefix[best] - goal)):
                best = end
        counts.append(best - start)
        start = best
    counts.append(len(costs) - start)
    return counts


def _span(first: int, count: int) -> str:
    if count == 0:
        return "no layers"
    return f"layer {first}" if count == 1 else f"layers {first}-{first + count - 1}"


def plan_split(model: Mapping, nodes: Sequence[Mapping], ctx_size: int = 4096, reserve_bytes: int | None = None
               ) -> dict:
    """The split of ``model`` (``_gguf.summary``) over ``nodes`` for llama-server: see the module's docstring.

    ``nodes``: the RPC workers in the order of llama-server's --rpc list and the server, each ``name``, ``role``
    (server or worker), ``device`` (cpu or cuda: the device its llama.cpp uses), ``memory_bytes`` (RAM for a CPU
    node, the card's VRAM for cuda) and optionally ``reserve_bytes`` (default: ``reserve_bytes`` when given, else
    RESERVE_BYTES by device), ``holds_layers`` (false: no repeating layer goes there, only what must: the input
    layer on the server, the output layer on the last device) and, on a cuda server, ``ram_bytes`` (its RAM, which
    holds the input layer; unchecked when absent). A cuda server takes every layer it is given on its card; a cpu
    server keeps its share on its CPU.
    ``ctx_size``: the context llama-server is started with (-c), for the KV cache.

    Returns ``fits``; ``refusal`` ("" or one sentence with the model's bytes, the KV cache, each node's usable bytes
    and the shortfall); ``tensor_split`` (one number per device, in llama-server's device order: the workers as
    given, then a cuda server's card) and ``tensor_split_arg`` (comma-joined, "" when there is no device);
    ``gpu_layers`` (-ngl); ``nodes`` (each ``name``, ``layers``, ``bytes`` held, ``usable_bytes``, ``first_layer``,
    in the order given); ``lines`` (one per node: what it holds and why); ``needed_bytes``, ``usable_bytes``,
    ``kv_bytes`` and ``ctx_size``. Raises SplitProblem (a ValueProblem) for input it cannot plan with."""
    try:
        return _plan_split(model, nodes, ctx_size, reserve_bytes)
    except SplitProblem:
        raise
    except _values.ValueProblem as exc:
        raise SplitProblem(str(exc)) from None


def _plan_split(model: Any, nodes: Any, ctx_size: Any, reserve_bytes: Any) -> dict:
    """plan_split without the conversion of the shared checks' errors."""
    info = _model(model)
    ctx = _values.integer(ctx_size, "ctx_size", 1, 1 << 24)
    given = _nodes(nodes, reserve_bytes)
    server = next(n for n in given if n["role"] == "server")
    workers = [n for n in given if n["role"] == "worker"]
    devices = workers + ([server] if server["device"] == "cuda" else [])
    holders = ([server] if server["device"] == "cpu" else []) + devices  # in layer order
    kv = [ctx * width * KV_BYTES for width in info["layer_kv"]]
    costs = [weights + cache for weights, cache in zip(info["layer_bytes"], kv, strict=True)]
    n_layer = len(costs)
    # The fixed parts: the input layer on the server (its RAM), the output layer on the last device (or the server's
    # CPU when there is none), llama.cpp's copy of token_embd there when the model ties them.
    output_holder = devices[-1] if devices else server
    output = info["output_bytes"] + (info["output_copy_bytes"] if devices else 0)
    fixed = {n["name"]: 0 for n in holders}
    fixed[output_holder["name"]] += output
    input_in_ram = server["device"] == "cuda"
    if not input_in_ram:
        fixed[server["name"]] += info["input_bytes"]
    rooms = [n["usable"] - fixed[n["name"]] for n in holders]
    layer_rooms = [max(room, 0) if n["holds"] else 0 for n, room in zip(holders, rooms, strict=True)]
    kv_total = sum(kv)
    needed = sum(costs) + output + (0 if input_in_ram else info["input_bytes"])
    usable = sum(n["usable"] for n in holders if n["holds"]) + sum(
        min(n["usable"], fixed[n["name"]]) for n in holders if not n["holds"])
    label = f"{info['name'] or 'the model'} ({info['architecture']}, {n_layer} layers)"
    weights = needed - kv_total
    head = (f"{label} needs {size(needed)} on these nodes ({size(weights)} of weights + {size(kv_total)} of KV cache"
            f" at ctx {ctx})")
    usable_list = ", ".join(f"{n['name']} {size(n['usable'])}" + ("" if n["holds"] else " (holds no layer)")
                            for n in holders)
    refusal = ""
    counts = None
    if needed > usable:
        refusal = (f"{head}, but the nodes have {size(usable)} usable ({usable_list}, after reserves): "
                   f"{size(needed - usable)} short.")
    elif any(room < 0 for room in rooms):
        short = next(n for n, room in zip(holders, rooms, strict=True) if room < 0)
        what = "the output layer" if short is output_holder else "the input layer"
        refusal = (f"{head}; {short['name']} must hold {what} ({size(fixed[short['name']])}) but has"
                   f" {size(short['usable'])} usable.")
    else:
        counts = _assign(costs, layer_rooms)
        if counts is None:
            refusal = (f"{head}; the nodes have {size(usable)} usable ({usable_list}) but no run of whole layers"
                       f" (up to {size(max(costs))} each with its KV cache) fits them in llama.cpp's order.")
    if server["device"] == "cuda" and server["ram"] is not None and not refusal:
        ram_room = server["ram"] - server["ram_reserve"]
        if info["input_bytes"] > ram_room:
            refusal = (f"{head}; the server {server['name']} keeps the input layer ({size(info['input_bytes'])}) in"
                       f" its RAM, which has {size(max(ram_room, 0))} usable.")
            counts = None
    if refusal:
        return {"fits": False, "refusal": refusal, "tensor_split": [], "tensor_split_arg": "", "gpu_layers": 0,
                "nodes": [{"name": n["name"], "layers": 0, "bytes": 0, "usable_bytes": n["usable"], "first_layer": None}
                          for n in given],
                "lines": [f"{n['name']}: holds nothing ({size(n['usable'])} usable of {size(n['memory'])}): the model"
                          " does not fit the nodes given" for n in given],
                "needed_bytes": needed, "usable_bytes": usable, "kv_bytes": kv_total, "ctx_size": ctx}

    placed: dict[str, dict] = {}
    first = 0
    for holder, count in zip(holders, counts, strict=True):
        held = sum(costs[first:first + count]) + fixed[holder["name"]]
        placed[holder["name"]] = {"layers": count, "first": first, "bytes": held}
        first += count
    on_server_cpu = placed[server["name"]]["layers"] if server["device"] == "cpu" else 0
    gpu_layers = n_layer - on_server_cpu + 1 if devices else 0
    split = [placed[d["name"]]["layers"] + (1 if d is devices[-1] else 0) for d in devices]
    if server["device"] == "cuda":
        placed[server["name"]]["ram_bytes"] = info["input_bytes"]
    lines = [_line(n, placed[n["name"]], n is output_holder, output, info["input_bytes"], gpu_layers, n_layer, kv)
             for n in given]
    return {
        "fits": True,
        "refusal": "",
        "tensor_split": [float(count) for count in split],
        "tensor_split_arg": ",".join(str(count) for count in split),
        "gpu_layers": gpu_layers,
        "nodes": [{"name": n["name"], "layers": placed[n["name"]]["layers"], "bytes": placed[n["name"]]["bytes"],
                   "usable_bytes": n["usable"], "first_layer": placed[n["name"]]["first"] if placed[n["name"]]["layers"]
                   else None} for n in given],
        "lines": lines,
        "needed_bytes": needed,
        "usable_bytes": usable,
        "kv_bytes": kv_total,
        "ctx_size": ctx,
    }


def _line(node: Mapping, held: Mapping, has_output: bool, output: int, input_bytes: int, gpu_layers: int,
          n_layer: int, kv: Sequence[int]) -> str:
    count, first = held["layers"], held["first"]
    where = {"cuda": "its card", "cpu": "its RAM"}[node["device"]]
    memory = f"{size(node['memory'])} {'VRAM' if node['device'] == 'cuda' else 'RAM'} less {size(node['reserve'])}"
    parts = []
    if count:
        cache = sum(kv[first:first + count])
        parts.append(f"{_span(first, count)} with {'its' if count == 1 else 'their'} KV cache ({size(cache)})")
    if has_output:
        parts.append(f"the output layer ({size(output)})")
    if node["role"] == "server" and node["device"] == "cpu":
        parts.append(f"the input layer ({size(input_bytes)})")
    what = " and ".join(parts) if parts else "nothing"
    if node["role"] == "worker":
        why = (f"{what} over RPC in {where}, a share in proportion to its room ({memory} reserve)"
               if count or has_output else "nothing: holds_layers is false" if not node["holds"] else
               f"nothing: its share of the room ({memory} reserve) rounds to no whole layer")
    elif node["device"] == "cuda":
        why = (f"{what} on {where} ({memory} reserve), the last of llama-server's devices (after the RPC workers);"
               f" the input layer ({size(input_bytes)}) stays in its RAM, as llama.cpp keeps it on the CPU")
    else:
        kept = "no repeating layer" if not count else "layer 0" if count == 1 else f"layers 0-{count - 1}"
        why = f"{what} on its CPU (-ngl {gpu_layers} of {n_layer + 1} leaves {kept} there; {memory} reserve)"
    return f"{node['name']}: holds {count} layer{'s' if count != 1 else ''} ({size(held['bytes'])} of" \
           f" {size(node['usable'])} usable): {why}"
