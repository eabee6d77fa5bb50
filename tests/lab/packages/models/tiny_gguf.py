# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write the lab's tiny GGUF model: llama architecture, random weights, a byte-level vocabulary (no hub download).

Usage: tiny_gguf.py OUT.gguf. Deterministic (a fixed seed, fixed metadata), so the mirror's sha256 is stable.
Four layers, so that llama-server --rpc has layers to spread over two workers; 64-wide. The vocabulary is padded to
N_VOCAB pieces so that the output matrix (output.weight, F32, on the last RPC worker with the last layer) is just over
10 MiB: the one kind of tensor rpc-server's --cache keeps (ggml-rpc.cpp's HASH_THRESHOLD, 10 MiB) - and it is
multiplied once per generated token only, which keeps an arm64 worker under qemu quick (a wider FFN would be
multiplied for every prompt token in every layer). About 22 MB in all. It answers gibberish quickly: the lab proves
the plumbing (load, split, cache, serve, bench), not a model's quality.
Needs PyPI's gguf (requirements.txt).
"""

from __future__ import annotations

import sys

import gguf
import numpy as np

N_EMBD, N_LAYER, N_HEAD, N_HEAD_KV, N_FF, N_CTX = 64, 4, 4, 2, 128, 512
N_VOCAB = 41_472  # x 64 x 4 bytes = 10.1 MiB for output.weight: over rpc-server's 10 MiB cache threshold
WORDS = ("the", "cluster", "gpu", "pi", "node", "token", "model", "serve", "lab", "homelab")


def vocabulary() -> tuple[list[bytes], list[float], list[int]]:
    tokens, scores, types = [b"<unk>", b"<s>", b"</s>"], [0.0, 0.0, 0.0], [
        gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    for byte in range(256):  # SentencePiece byte fallback: every text tokenizes
        tokens.append(f"<0x{byte:02X}>".encode())
        scores.append(0.0)
        types.append(gguf.TokenType.BYTE)
    pieces = [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["\u2581" + w for w in WORDS] + ["\u2581"]
    pieces += [f"\u2581w{n}" for n in range(N_VOCAB - len(tokens) - len(pieces))]  # padding: rare word pieces
    for rank, piece in enumerate(pieces):
        tokens.append(piece.encode())
        scores.append(-float(rank + 1))
        types.append(gguf.TokenType.NORMAL)
    return tokens, scores, [int(t) for t in types]


def write(path: str) -> None:
    rng = np.random.default_rng(17)
    tokens, scores, types = vocabulary()
    n_vocab, head_dim = len(tokens), N_EMBD // N_HEAD

    def weights(*shape: int) -> np.ndarray:  # numpy order: (rows, columns) = ggml's {columns, rows}
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name("homelab lab tiny llama (random weights)")
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_tensor("token_embd.weight", weights(n_vocab, N_EMBD))
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    writer.add_tensor("output.weight", weights(n_vocab, N_EMBD))
    for i in range(N_LAYER):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.attn_q.weight", weights(N_EMBD, N_EMBD))
        writer.add_tensor(f"blk.{i}.attn_k.weight", weights(head_dim * N_HEAD_KV, N_EMBD))
        writer.add_tensor(f"blk.{i}.attn_v.weight", weights(head_dim * N_HEAD_KV, N_EMBD))
        writer.add_tensor(f"blk.{i}.attn_output.weight", weights(N_EMBD, N_EMBD))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weights(N_FF, N_EMBD))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weights(N_FF, N_EMBD))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weights(N_EMBD, N_FF))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: tiny_gguf.py OUT.gguf")
    write(sys.argv[1])
