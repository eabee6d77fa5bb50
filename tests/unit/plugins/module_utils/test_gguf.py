# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The GGUF header reader against files written by an independent writer and read by an independent reader.

Writer: PyPI's ``gguf`` (GGUFWriter, from ggml's own repository; requirements.txt pins it for the lab's tiny model).
Its byte sizes come from its own table (``gguf.GGML_QUANT_SIZES``), not from ours. The model shapes are Meta's
published Llama 3.1 configurations (the config.json of meta-llama/Llama-3.1-8B, -70B and -405B: layers, hidden size,
FFN size, heads, KV heads, vocabulary 128256), quantized the way llama.cpp's Q4_K_M does (src/llama-quant.cpp,
llama_tensor_get_type_impl: Q4_K by default, Q6_K for output.weight, Q6_K for attn_v and ffn_down in the layers
use_more_bits picks, Q5_K for the other attn_v of a 70B, F32 for the 1-D norms). The files are headers only: no
weights are written, and the reader must not need them.

Published sizes the totals are checked against: bartowski/Meta-Llama-3.1-8B-Instruct-GGUF on Hugging Face lists
Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf at 4.92 GB and bartowski/Meta-Llama-3.1-70B-Instruct-GGUF lists
Meta-Llama-3.1-70B-Instruct-Q4_K_M.gguf at 42.5 GB; bullerwins/Meta-Llama-3.1-405B-Instruct-GGUF lists its Q4_K_M in
six parts of 44.5, 44.9, 44.5, 44.6, 45 and 22.2 GB (245.7 GB). The files also hold a few MB of vocabulary.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _gguf

ROOT = Path(__file__).resolve().parents[4]
Q = gguf.GGMLQuantizationType

# Meta's published Llama 3.1 configurations: (layers, hidden, FFN, heads, KV heads, vocabulary, context).
LLAMA_31 = {
    "8B": (32, 4096, 14336, 32, 8, 128256, 131072),
    "70B": (80, 8192, 28672, 64, 8, 128256, 131072),
    "405B": (126, 16384, 53248, 128, 8, 128256, 131072),
}
PUBLISHED_Q4_K_M_BYTES = {"8B": 4.92e9, "70B": 42.5e9, "405B": 245.7e9}


def use_more_bits(i_layer: int, n_layers: int) -> bool:
    """llama.cpp's src/llama-quant.cpp use_more_bits: the layers a Q4_K_M file gives Q6_K for attn_v and ffn_down."""
    return i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8 or (i_layer - n_layers // 8) % 3 == 2


def q4_k_m_tensors(size: str) -> list[tuple[str, tuple[int, ...], Q]]:
    """(name, shape in numpy order (rows, columns), type) of a Llama 3.1 model quantized like llama.cpp's Q4_K_M."""
    layers, hidden, ffn, heads, kv_heads, vocab, _ctx = LLAMA_31[size]
    head_dim = hidden // heads
    kv = head_dim * kv_heads
    out = [("token_embd.weight", (vocab, hidden), Q.Q4_K), ("rope_freqs.weight", (head_dim // 2,), Q.F32)]
    for i in range(layers):
        more = use_more_bits(i, layers)
        v_type = Q.Q6_K if more else (Q.Q5_K if size == "70B" else Q.Q4_K)
        out += [
            (f"blk.{i}.attn_norm.weight", (hidden,), Q.F32),
            (f"blk.{i}.attn_q.weight", (hidden, hidden), Q.Q4_K),
            (f"blk.{i}.attn_k.weight", (kv, hidden), Q.Q4_K),
            (f"blk.{i}.attn_v.weight", (kv, hidden), v_type),
            (f"blk.{i}.attn_output.weight", (hidden, hidden), Q.Q4_K),
            (f"blk.{i}.ffn_norm.weight", (hidden,), Q.F32),
            (f"blk.{i}.ffn_gate.weight", (ffn, hidden), Q.Q4_K),
            (f"blk.{i}.ffn_up.weight", (ffn, hidden), Q.Q4_K),
            (f"blk.{i}.ffn_down.weight", (hidden, ffn), Q.Q6_K if more else Q.Q4_K),
        ]
    return [*out, ("output_norm.weight", (hidden,), Q.F32), ("output.weight", (vocab, hidden), Q.Q6_K)]


def gguf_nbytes(shape: tuple[int, ...], qtype: Q) -> int:
    """The bytes of a tensor by gguf-py's own table (the writer's side, not the reader's)."""
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    return int(np.prod(shape)) // block * size


def write_llama_header(path: Path, size: str, vocabulary: bool = True,
                       tensors: list[tuple[str, tuple[int, ...], int]] | None = None,
                       endianess: gguf.GGUFEndian = gguf.GGUFEndian.LITTLE) -> dict[str, int]:
    """A header-only GGUF file of a Llama 3.1 model by gguf's GGUFWriter; returns each tensor's bytes as gguf-py
    counts them."""
    layers, hidden, ffn, heads, kv_heads, vocab, ctx = LLAMA_31[size]
    writer = gguf.GGUFWriter(str(path), "llama", endianess=endianess)
    writer.add_name(f"Llama 3.1 {size} (header only, test fixture)")
    writer.add_context_length(ctx)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(hidden // heads)
    writer.add_rope_freq_base(500000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_M)
    writer.add_vocab_size(vocab)
    if vocabulary:  # a real file's vocabulary: the reader must skip 128256 strings, not keep them
        writer.add_tokenizer_model("gpt2")
        writer.add_token_list([f"tok{i}".encode() for i in range(vocab)])
        writer.add_token_types([1] * vocab)
    sizes = {}
    for name, shape, qtype in tensors if tensors is not None else q4_k_m_tensors(size):
        nbytes = gguf_nbytes(shape, qtype) if qtype in gguf.GGML_QUANT_SIZES else 4
        writer.add_tensor_info(name, shape, np.dtype(np.float32), nbytes, raw_dtype=qtype)
        sizes[name] = nbytes
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    return sizes


@pytest.fixture(scope="module")
def headers(tmp_path_factory) -> dict[str, tuple[Path, dict[str, int]]]:
    folder = tmp_path_factory.mktemp("gguf")
    return {size: (folder / f"llama-3.1-{size}.gguf", write_llama_header(folder / f"llama-3.1-{size}.gguf", size))
            for size in LLAMA_31}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """The lab's real tiny model (weights included), written by its own script."""
    path = tmp_path_factory.mktemp("tiny") / "tiny.gguf"
    subprocess.run([sys.executable, str(ROOT / "tests/lab/packages/models/tiny_gguf.py"), str(path)], check=True)
    return path


def test_the_type_table_agrees_with_gguf_py():
    # Q8_1 is the one disagreement: ggml's block_q8_1 is two halves and 32 bytes (ggml-common.h static_assert: 36),
    # gguf-py 0.19 says 40. Neither is ever in a model file (Q8_1 is only an intermediate of the dot products).
    theirs = {int(t): (t.name, block, size) for t, (block, size) in gguf.GGML_QUANT_SIZES.items() if t != Q.Q8_1}
    ours = {t: entry for t, entry in _gguf.GGML_TYPES.items() if t in theirs}
    assert ours == theirs
    assert set(theirs) <= set(_gguf.GGML_TYPES)


@pytest.mark.parametrize("size", list(LLAMA_31))
def test_each_tensor_is_read_with_the_writers_bytes(headers, size):
    path, sizes = headers[size]
    with open(path, "rb") as fh:
        header = _gguf.read_header(fh)
    assert {t["name"]: t["bytes"] for t in header["tensors"]} == sizes
    # gguf's writer lays the tensors out back to back, each padded to the alignment: offsets agree with our bytes
    offsets = [t["offset"] for t in header["tensors"]]
    padded = [-(-t["bytes"] // header["alignment"]) * header["alignment"] for t in header["tensors"]]
    assert offsets == [sum(padded[:i]) for i in range(len(padded))]
    assert header["metadata"]["llama.block_count"] == LLAMA_31[size][0]
    assert header["metadata"]["tokenizer.ggml.tokens"].length == 128256
    assert header["data_offset"] == os.path.getsize(path) + (-os.path.getsize(path)) % header["alignment"]


@pytest.mark.parametrize("size", list(LLAMA_31))
def test_summary_of_published_llama_shapes(headers, size):
    path, sizes = headers[size]
    layers, hidden, _ffn, heads, kv_heads, _vocab, ctx = LLAMA_31[size]
    with open(path, "rb") as fh:
        info = _gguf.summary(fh)
    assert (info["architecture"], info["block_count"], info["embedding_length"], info["head_count"],
            info["head_count_kv"], info["context_length"]) == ("llama", layers, hidden, heads, kv_heads, ctx)
    assert info["file_type"] == "Q4_K_M"
    assert info["key_length"] == info["value_length"] == hidden // heads
    assert info["layer_kv_elements"] == [kv_heads * 2 * (hidden // heads)] * layers
    assert info["tensor_count"] == len(sizes) == 9 * layers + 4
    assert info["total_bytes"] == sum(sizes.values())
    for i in range(layers):
        assert info["layer_bytes"][i] == sum(b for name, b in sizes.items() if name.startswith(f"blk.{i}."))
    assert info["input_bytes"] == sizes["token_embd.weight"]
    assert info["output_bytes"] == sizes["output.weight"] + sizes["output_norm.weight"] + sizes["rope_freqs.weight"]
    assert info["non_layer_bytes"] == info["input_bytes"] + info["output_bytes"]
    assert info["largest_tensor_bytes"] == max(sizes.values())
    assert not info["tied_embeddings"] and info["output_copy_bytes"] == 0
    # headers only: the reader read them all and says the weights are not there
    assert info["complete"] is False and info["file_bytes"] == os.path.getsize(path)
    # against the published file sizes: 8B and 70B within 0.5 %; the 405B upload within 2 %
    tolerance = 0.02 if size == "405B" else 0.005
    assert abs(info["total_bytes"] - PUBLISHED_Q4_K_M_BYTES[size]) <= tolerance * PUBLISHED_Q4_K_M_BYTES[size]


def test_the_lab_model_reads_as_gguf_py_reads_it(tiny):
    # read by gguf-py's GGUFReader too
    path = tiny
    theirs = gguf.GGUFReader(str(path))
    with open(path, "rb") as fh:
        header = _gguf.read_header(fh)
    with open(path, "rb") as fh:
        info = _gguf.summary(fh)
    assert [(t["name"], t["bytes"], t["type"]) for t in header["tensors"]] == [
        (t.name, int(t.n_bytes), int(t.tensor_type)) for t in theirs.tensors]
    assert header["data_offset"] == theirs.data_offset
    assert [t["shape"] for t in header["tensors"]] == [[int(d) for d in t.shape] for t in theirs.tensors]
    field = theirs.fields["llama.block_count"]
    assert info["block_count"] == int(field.parts[field.data[0]][0])
    assert info["complete"] is True and info["total_bytes"] == sum(int(t.n_bytes) for t in theirs.tensors)
    assert info["layer_bytes"] == [sum(int(t.n_bytes) for t in theirs.tensors if t.name.startswith(f"blk.{i}."))
                                   for i in range(info["block_count"])]


class CountingFile(io.FileIO):
    """A file that remembers how far into it anything was read."""

    furthest = 0

    def read(self, size=-1):
        data = super().read(size)
        self.furthest = max(self.furthest, self.tell())
        return data

    def readinto(self, buffer):
        count = super().readinto(buffer)
        self.furthest = max(self.furthest, self.tell())
        return count


def test_the_weights_are_never_read(tiny):
    path = tiny
    with CountingFile(path, "rb") as fh:
        info = _gguf.summary(fh)
        assert 0 < fh.furthest <= info["data_offset"] < os.path.getsize(path)


def test_a_tied_embedding_is_copied_to_the_output_layer(tmp_path):
    tensors = [t for t in q4_k_m_tensors("8B") if t[0] != "output.weight"]
    sizes = write_llama_header(tmp_path / "tied.gguf", "8B", vocabulary=False, tensors=tensors)
    info = _gguf.summary_of_path(str(tmp_path / "tied.gguf"))
    assert info["tied_embeddings"] is True
    assert info["output_copy_bytes"] == sizes["token_embd.weight"]


def test_per_layer_kv_heads(tmp_path):
    path = tmp_path / "varying.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(3)
    writer.add_embedding_length(256)
    writer.add_head_count(8)
    writer.add_head_count_kv([2, 4, 8])
    for i in range(3):
        writer.add_tensor_info(f"blk.{i}.attn_q.weight", (256, 256), np.dtype(np.float32), 256 * 256 * 4)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    info = _gguf.summary_of_path(str(path))
    assert info["head_count_kv"] == 8
    assert info["layer_kv_elements"] == [2 * 64, 4 * 64, 8 * 64]


# --- files that are not what a split can use -----------------------------------------------------------------------

def test_a_file_that_is_not_gguf(tmp_path):
    path = tmp_path / "model.zip"
    path.write_bytes(b"PK\x03\x04" + bytes(60))
    with pytest.raises(_gguf.GgufProblem, match=r"model.zip: this is not a GGUF file: it starts with b'PK\\x03\\x04'"):
        _gguf.summary_of_path(str(path))


def test_an_empty_file_and_a_missing_one(tmp_path):
    (tmp_path / "empty.gguf").write_bytes(b"")
    with pytest.raises(_gguf.GgufProblem, match="not a GGUF file"):
        _gguf.summary_of_path(str(tmp_path / "empty.gguf"))
    with pytest.raises(_gguf.GgufProblem, match=r"missing\.gguf does not exist"):
        _gguf.summary_of_path(str(tmp_path / "missing.gguf"))
    with pytest.raises(_gguf.GgufProblem, match="is a directory"):
        _gguf.summary_of_path(str(tmp_path))


@pytest.mark.parametrize("keep", [6, 20, 5000, -200, -9])
def test_a_truncated_header(headers, tmp_path, keep):
    whole = headers["8B"][0].read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(whole[:keep])  # from the start, or all but the last -keep bytes
    with pytest.raises(_gguf.GgufProblem, match=r"the GGUF header is cut short: .* at byte [0-9]+ needs [0-9]+ bytes"):
        _gguf.summary_of_path(str(cut))


class Pipe:
    """A stream with no size and no seeking (a pipe): only its short read tells that it ended."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)

    def seekable(self) -> bool:
        return False


def test_a_truncated_stream_without_a_size():
    data = Pipe(b"GGUF" + struct.pack("<IQQ", 3, 1, 1) + struct.pack("<Q", 100) + b"general.")
    with pytest.raises(_gguf.GgufProblem, match="cut short: the name of metadata key 0 at byte 32 needs 100 bytes, the"
                                                " file ends after 8"):
        _gguf.read_header(data)


def test_an_unknown_ggml_type(tmp_path):
    tensors = [("token_embd.weight", (128256, 4096), Q.Q4_K), ("blk.0.attn_q.weight", (4096, 4096), 99)]
    write_llama_header(tmp_path / "new.gguf", "8B", vocabulary=False, tensors=tensors)
    with pytest.raises(_gguf.GgufProblem, match=r"tensor blk\.0\.attn_q\.weight has ggml type 99, which this"
                                                r" reader does not know"):
        _gguf.summary_of_path(str(tmp_path / "new.gguf"))


def test_a_big_endian_file_and_an_old_version(tmp_path):
    write_llama_header(tmp_path / "big.gguf", "8B", vocabulary=False, endianess=gguf.GGUFEndian.BIG,
                       tensors=[("token_embd.weight", (128256, 4096), Q.Q4_K)])
    with pytest.raises(_gguf.GgufProblem, match="big-endian GGUF file"):
        _gguf.summary_of_path(str(tmp_path / "big.gguf"))
    (tmp_path / "v1.gguf").write_bytes(b"GGUF" + struct.pack("<III", 1, 0, 0))
    with pytest.raises(_gguf.GgufProblem, match="version 1; GGUF versions 2 and 3 are read"):
        _gguf.summary_of_path(str(tmp_path / "v1.gguf"))


def test_a_damaged_count_and_a_row_that_does_not_fill_a_block(tmp_path):
    (tmp_path / "huge.gguf").write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1 << 40, 0))
    with pytest.raises(_gguf.GgufProblem, match="the tensor count at byte 8 is 1099511627776, more than"):
        _gguf.summary_of_path(str(tmp_path / "huge.gguf"))
    with pytest.raises(_gguf.GgufProblem, match="rows of 100 elements, not a multiple of Q4_K's block of 256"):
        _gguf.tensor_bytes(int(Q.Q4_K), [100, 2], "tensor blk.0.x.weight")


def test_a_gguf_without_an_architecture(tmp_path):
    path = tmp_path / "vocab-only.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 0))
    with pytest.raises(_gguf.GgufProblem, match=r"has no general\.architecture"):
        _gguf.summary_of_path(str(path))
