# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A GGUF model file's header (pure, standard library): its metadata, its tensors and the bytes each one takes.

Reads the front of the file only - the header, the key-value metadata and the tensor infos, GGUF versions 2 and 3,
little-endian, as ggml's ``docs/gguf.md`` lays them out - and never the weights after them, so a 40 GB model is
summed up in the time it takes to read its vocabulary. The bytes of a tensor follow from its type and shape through
ggml's type table (block size and bytes per block, ``ggml/src/ggml.c`` ``type_traits`` in the llama.cpp that
llama-cpp-python 0.3.36 vendors). ``summary`` is what the split planner (``_llama_split``) and the module
``gguf_info`` use. A file that is not GGUF, a header cut short, a type this table does not know: ``GgufProblem``,
one sentence that says what was found where.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Mapping
from typing import Any, BinaryIO

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _values

MAGIC = b"GGUF"
VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32  # gguf.h GGUF_DEFAULT_ALIGNMENT, when general.alignment is absent
MAX_DIMS = 4  # ggml.h GGML_MAX_DIMS
MAX_STRING = 1 << 24  # a key or a string value longer than 16 MiB is a damaged header, not a model
MAX_COUNT = 1 << 24  # tensors or metadata keys
KEEP_ARRAY = 4096  # metadata arrays up to this long are kept (per-layer figures); longer ones (the vocabulary) are not

# ggml_type id -> (name, elements per block, bytes per block); ids 4, 5 and 31-33, 36-38 were removed from ggml.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
    42: ("Q2_0", 64, 18),
}

# llama.h llama_ftype (general.file_type): what the file as a whole was quantized to.
FILE_TYPES: dict[int, str] = {
    0: "ALL_F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
    12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS",
    20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M",
    28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE",
    39: "NVFP4", 40: "Q1_0", 41: "Q2_0",
}

# gguf_type (metadata value types) -> struct format of one value; 8 string and 9 array are read apart.
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_LAYER = re.compile(r"blk\.([0-9]+)\.")
# The input layer's tensors (src/llama-arch.cpp LLM_TENSOR_LAYER_INPUT): always on the CPU of llama-server's host.
_INPUT = ("token_embd.", "token_types.", "position_embd.", "per_layer_token_embd.")


class GgufProblem(_values.ValueProblem):
    """A file that is not a GGUF model this reader can sum up; the message says what was found, and where."""


class _Skipped:
    """A metadata array too long to keep (the vocabulary, the merges): only its length is known."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __repr__(self) -> str:
        return f"<array of {self.length}>"


def type_name(type_id: int) -> str:
    entry = GGML_TYPES.get(type_id)
    return entry[0] if entry else f"unknown ggml type {type_id}"


def tensor_bytes(type_id: Any, shape: Any, name: str = "a tensor") -> int:
    """The bytes a tensor of ggml type ``type_id`` and ``shape`` (ggml order: ne[0] first, the row length) takes."""
    if isinstance(type_id, bool) or not isinstance(type_id, int) or type_id not in GGML_TYPES:
        known = ", ".join(entry[0] for entry in GGML_TYPES.values())
        raise GgufProblem(f"{name} has ggml type {type_id!r}, which this reader does not know (it knows {known});"
                          " a newer llama.cpp may have added it")
    label, block, size = GGML_TYPES[type_id]
    dims = list(shape)
    if not dims or any(isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in dims):
        raise GgufProblem(f"{name} has the shape {dims!r}, not a list of whole numbers of 0 or more")
    if dims[0] % block:
        raise GgufProblem(f"{name} is {label} with rows of {dims[0]} elements, not a multiple of {label}'s block of"
                          f" {block}")
    elements = 1
    for dim in dims:
        elements *= dim
    return elements // block * size


class _Reader:
    """Little-endian reads from the front of a binary file, with the offset for the messages."""

    def __init__(self, fh: BinaryIO, size: int | None) -> None:
        self.fh, self.size, self.pos = fh, size, 0

    def take(self, count: int, what: str) -> bytes:
        if self.size is not None and self.pos + count > self.size:
            raise GgufProblem(f"the GGUF header is cut short: {what} at byte {self.pos} needs {count} bytes, the file"
                              f" has {max(self.size - self.pos, 0)} left")
        data = self.fh.read(count)
        if len(data) != count:
            raise GgufProblem(f"the GGUF header is cut short: {what} at byte {self.pos} needs {count} bytes, the file"
                              f" ends after {len(data)}")
        self.pos += count
        return data

    def skip(self, count: int, what: str) -> None:
        if self.size is not None and self.fh.seekable():
            if self.pos + count > self.size:
                raise GgufProblem(f"the GGUF header is cut short: {what} at byte {self.pos} needs {count} bytes,"
                                  f" the file has {max(self.size - self.pos, 0)} left")
            self.fh.seek(count, os.SEEK_CUR)
            self.pos += count
        else:
            while count:
                step = min(count, 1 << 20)
                self.take(step, what)
                count -= step

    def number(self, fmt: str, what: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]

    def count(self, what: str, limit: int) -> int:
        value = self.number("<Q", what)
        if value > limit:
            raise GgufProblem(f"{what} at byte {self.pos - 8} is {value}, more than a GGUF model holds (at most"
                              f" {limit}): the file is damaged")
        return value

    def string(self, what: str) -> str:
        length = self.count(f"the length of {what}", MAX_STRING)
        data = self.take(length, what)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("utf-8", "replace")


def _value(reader: _Reader, kind: int, key: str, depth: int = 0) -> Any:
    if kind in _SCALARS:
        return reader.number(_SCALARS[kind], f"the value of {key}")
    if kind == _STRING:
        return reader.string(f"the value of {key}")
    if kind == _ARRAY and depth < 3:
        item = reader.number("<I", f"the element type of {key}")
        length = reader.count(f"the length of {key}", 1 << 40)
        if item in _SCALARS:
            size = struct.calcsize(_SCALARS[item])
            if length > KEEP_ARRAY:
                reader.skip(length * size, f"the {length} values of {key}")
                return _Skipped(length)
            data = reader.take(length * size, f"the values of {key}")
            return list(struct.unpack(f"<{length}{_SCALARS[item][1]}", data))
        if item == _STRING:
            values = [reader.string(f"element {index} of {key}") for index in range(length)]
            return values if length <= KEEP_ARRAY else _Skipped(length)
        if item == _ARRAY:
            values = [_value(reader, _ARRAY, key, depth + 1) for _index in range(length)]
            return values if length <= KEEP_ARRAY else _Skipped(length)
        raise GgufProblem(f"the metadata key {key} is an array of value type {item}, which GGUF does not define")
    raise GgufProblem(f"the metadata key {key} has value type {kind}, which GGUF does not define (the file is damaged"
                      " or newer than this reader)")


def _file_size(fh: BinaryIO) -> int | None:
    try:
        return os.fstat(fh.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        pass
    try:
        if fh.seekable():
            here = fh.tell()
            end = fh.seek(0, os.SEEK_END)
            fh.seek(here)
            return end
    except (AttributeError, OSError, ValueError):
        pass
    return None


def read_header(fh: BinaryIO) -> dict:
    """The header of the GGUF file open for binary reading at its start: ``version``, ``metadata`` (key -> value;
    arrays over ``KEEP_ARRAY`` long as a placeholder with their length), ``tensors`` (each ``name``, ``shape``,
    ``type`` (the ggml type id), ``type_name``, ``offset`` (into the data section) and ``bytes``), ``alignment``,
    ``data_offset`` (where the weights begin) and ``file_bytes`` (None where the size cannot be known). Reads
    nothing past the tensor infos."""
    reader = _Reader(fh, _file_size(fh))
    magic = reader.take(4, "the magic number") if reader.size is None or reader.size >= 4 else b""
    if magic != MAGIC:
        raise GgufProblem(f"this is not a GGUF file: it starts with {magic!r}, not {MAGIC!r}")
    version = reader.number("<I", "the version")
    if version not in VERSIONS:
        swapped = struct.unpack(">I", struct.pack("<I", version))[0]
        if swapped in VERSIONS:
            raise GgufProblem(f"this is a big-endian GGUF file (version {swapped}); only little-endian files, the"
                              " ones llama.cpp loads on amd64 and arm64, are read")
        raise GgufProblem(f"this GGUF file has version {version}; GGUF versions 2 and 3 are read (version 1 is"
                          " llama.cpp's format of 2023 and no longer loads)")
    n_tensors = reader.count("the tensor count", MAX_COUNT)
    n_kv = reader.count("the metadata count", MAX_COUNT)
    metadata: dict[str, Any] = {}
    for index in range(n_kv):
        key = reader.string(f"the name of metadata key {index}")
        kind = reader.number("<I", f"the value type of {key}")
        metadata[key] = _value(reader, kind, key)
    tensors = []
    for index in range(n_tensors):
        name = reader.string(f"the name of tensor {index}")
        n_dims = reader.number("<I", f"the dimension count of {name}")
        if not 1 <= n_dims <= MAX_DIMS:
            raise GgufProblem(f"tensor {name} has {n_dims} dimensions; ggml tensors have 1 to {MAX_DIMS}")
        shape = list(struct.unpack(f"<{n_dims}Q", reader.take(8 * n_dims, f"the shape of {name}")))
        type_id = reader.number("<I", f"the type of {name}")
        offset = reader.number("<Q", f"the data offset of {name}")
        tensors.append({"name": name, "shape": shape, "type": type_id, "type_name": type_name(type_id),
                        "offset": offset, "bytes": tensor_bytes(type_id, shape, f"tensor {name}")})
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if isinstance(alignment, bool) or not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise GgufProblem(f"general.alignment is {alignment!r}, not a power of two")
    data_offset = -(-reader.pos // alignment) * alignment
    return {"version": version, "metadata": metadata, "tensors": tensors, "alignment": alignment,
            "data_offset": data_offset, "file_bytes": reader.size}


def _whole(metadata: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """A metadata figure that must be a whole number of 1 or more, or a per-layer list of them."""
    if key not in metadata:
        return default
    value = metadata[key]
    values = value if isinstance(value, list) else [value]
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in values):
        raise GgufProblem(f"the metadata key {key} is {value!r}, not a whole number (or one per layer)")
    return value


def _per_layer(value: Any, layers: int, key: str) -> list[int]:
    if isinstance(value, list):
        if len(value) != layers:
            raise GgufProblem(f"the metadata key {key} lists {len(value)} values for {layers} layers")
        return list(value)
    return [value] * layers


def summary(fh: BinaryIO) -> dict:
    """What a split needs to know of a GGUF model, from its header alone.

    ``architecture``, ``name``, ``file_type`` (llama.cpp's name for general.file_type, "" if absent), ``block_count``
    (``<arch>.block_count``), ``context_length``, ``embedding_length``, ``head_count``, ``head_count_kv`` (the
    largest where the file gives one per layer), ``key_length`` and ``value_length`` (per head),
    ``layer_kv_elements`` (per layer: the K and V elements one token of context takes, head_count_kv x (key_length +
    value_length)), ``layer_bytes`` (per layer, the tensors named ``blk.N.*``), ``input_bytes`` (the token embedding
    and what llama.cpp keeps with it on the server's CPU), ``output_bytes`` (the other tensors outside the layers:
    output, output_norm, rope_freqs...), ``tied_embeddings`` (no output.weight: llama.cpp uses token_embd as the
    output too), ``output_copy_bytes`` (what llama.cpp then copies to the device of the output layer: token_embd's
    bytes when tied, else 0), ``non_layer_bytes`` (the file's tensors outside the layers: input + output),
    ``total_bytes`` (every tensor), ``largest_tensor_bytes``, ``largest_tensor``, ``tensor_count``,
    ``tensor_types`` (type name -> count), ``version``, ``data_offset``, ``file_bytes`` and ``complete`` (the file is
    long enough to hold every tensor; False for a header alone or a download cut short)."""
    header = read_header(fh)
    meta, tensors = header["metadata"], header["tensors"]
    arch = meta.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise GgufProblem("the GGUF file has no general.architecture, so it is not a model llama.cpp can load")
    blocks = _whole(meta, f"{arch}.block_count")
    if blocks is None or isinstance(blocks, list):
        raise GgufProblem(f"the GGUF file has no {arch}.block_count (a whole number), so its layers are unknown")
    indices = [int(m.group(1)) for m in (_LAYER.match(t["name"]) for t in tensors) if m]
    layers = max([blocks, *(i + 1 for i in indices)])
    embedding = _whole(meta, f"{arch}.embedding_length", 0)
    heads = _whole(meta, f"{arch}.attention.head_count", 0)
    heads_kv = _whole(meta, f"{arch}.attention.head_count_kv", heads)
    head_list = _per_layer(heads, layers, f"{arch}.attention.head_count")
    kv_list = _per_layer(heads_kv, layers, f"{arch}.attention.head_count_kv")
    widest = max(head_list, default=0)
    key_length = _whole(meta, f"{arch}.attention.key_length", embedding // widest if widest else 0)
    value_length = _whole(meta, f"{arch}.attention.value_length", key_length)
    if isinstance(key_length, list) or isinstance(value_length, list):
        raise GgufProblem(f"{arch}.attention.key_length and value_length must be one whole number each")
    layer_bytes = [0] * layers
    input_bytes = output_bytes = 0
    types: dict[str, int] = {}
    names = set()
    for tensor in tensors:
        names.add(tensor["name"])
        types[tensor["type_name"]] = types.get(tensor["type_name"], 0) + 1
        match = _LAYER.match(tensor["name"])
        if match:
            layer_bytes[int(match.group(1))] += tensor["bytes"]
        elif tensor["name"].startswith(_INPUT):
            input_bytes += tensor["bytes"]
        else:
            output_bytes += tensor["bytes"]
    tied = "output.weight" not in names and "token_embd.weight" in names
    copy = next(t["bytes"] for t in tensors if t["name"] == "token_embd.weight") if tied else 0
    total = sum(t["bytes"] for t in tensors)
    largest = max(tensors, key=lambda t: t["bytes"], default={"name": "", "bytes": 0})
    end = max((header["data_offset"] + t["offset"] + t["bytes"] for t in tensors), default=header["data_offset"])
    file_type = meta.get("general.file_type")
    return {
        "architecture": arch,
        "name": meta.get("general.name") if isinstance(meta.get("general.name"), str) else "",
        "file_type": FILE_TYPES.get(file_type, f"type {file_type}") if isinstance(file_type, int) else "",
        "block_count": blocks,
        "context_length": _whole(meta, f"{arch}.context_length", 0),
        "embedding_length": embedding,
        "head_count": widest,
        "head_count_kv": max(kv_list, default=0),
        "key_length": key_length,
        "value_length": value_length,
        "layer_kv_elements": [kv * (key_length + value_length) for kv in kv_list],
        "layer_bytes": layer_bytes,
        "input_bytes": input_bytes,
        "output_bytes": output_bytes,
        "tied_embeddings": tied,
        "output_copy_bytes": copy,
        "non_layer_bytes": total - sum(layer_bytes),
        "total_bytes": total,
        "largest_tensor_bytes": largest["bytes"],
        "largest_tensor": largest["name"],
        "tensor_count": len(tensors),
        "tensor_types": dict(sorted(types.items())),
        "version": header["version"],
        "data_offset": header["data_offset"],
        "file_bytes": header["file_bytes"],
        "complete": header["file_bytes"] is not None and header["file_bytes"] >= end,
    }


def summary_of_path(path: str) -> dict:
    """``summary`` of the file at ``path``; a missing or unreadable file is a GgufProblem that names it."""
    try:
        with open(path, "rb") as fh:
            return summary(fh)
    except GgufProblem as exc:
        raise GgufProblem(f"{path}: {exc}") from None
    except FileNotFoundError:
        raise GgufProblem(f"{path} does not exist") from None
    except IsADirectoryError:
        raise GgufProblem(f"{path} is a directory, not a GGUF file") from None
    except OSError as exc:
        raise GgufProblem(f"{path} cannot be read: {exc.strerror or exc}") from None
