#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gguf_info
short_description: What a GGUF model file holds, from its header alone - layers, tensor bytes, attention shape
version_added: 0.3.0
description:
  - Reads the header of a GGUF model file (GGUF versions 2 and 3, little-endian) on the host that holds it - the
    metadata and the tensor infos, never the weights after them - and returns what a split over several nodes
    needs to know - the architecture, the layer count, the bytes of each layer and of the tensors outside them,
    the attention figures the KV cache follows from.
  - Each tensor's bytes follow from its ggml type and shape through ggml's type table (F32, F16, BF16, the Q4_0 to
    Q8_1 and Q2_K to Q8_K quants, the IQ, TQ, MXFP4, NVFP4, Q1_0 and Q2_0 types); a type that table does not hold
    fails the module with its number.
  - The split planner (C(plan_split) in C(plugins/module_utils/_roles/_llama_split.py)) takes the returned RV(gguf)
    as its model.
  - Reads only; C(changed) is always false.
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  path:
    description:
      - The GGUF file, an absolute path on the managed host. A missing file, a directory or a file that is not
        GGUF fails the module with one sentence.
    type: path
    required: true
notes:
  - A file that holds the header but not every tensor's data (a download cut short, a header-only test fixture)
    is still read; C(complete) in RV(gguf) is then false.
seealso:
  - name: The GGUF file format
    description: ggml's specification of the header, the metadata types and the tensor infos.
    link: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
"""

EXAMPLES = r"""
- name: The model's layers and sizes are known
  homelab.nvidia_gpu.gguf_info:
    path: /var/lib/llama-cpp/models/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf
  register: __llama_cpp_gguf

- name: Show them
  ansible.builtin.debug:
    msg: >-
      {{ __llama_cpp_gguf.gguf.architecture }}, {{ __llama_cpp_gguf.gguf.block_count }} layers,
      {{ (__llama_cpp_gguf.gguf.total_bytes / 1073741824) | round(2) }} GiB of tensors
"""

RETURN = r"""
gguf:
  description:
    - The header's summary. C(architecture), C(name) (general.name), C(file_type) (llama.cpp's name of
      general.file_type, for example V(Q4_K_M)), C(block_count), C(context_length), C(embedding_length),
      C(head_count), C(head_count_kv), C(key_length) and C(value_length) (per head).
    - C(layer_kv_elements) - per layer, the K and V elements one token of context takes.
    - C(layer_bytes) - per layer, the bytes of its tensors (C(blk.N.*)); C(input_bytes) - the input layer
      (token_embd), which llama.cpp keeps on the server's CPU; C(output_bytes) - the other tensors outside the
      layers (output, output_norm); C(tied_embeddings) and C(output_copy_bytes) - a model without output.weight,
      whose token_embd llama.cpp copies to the output layer's device; C(non_layer_bytes), C(total_bytes),
      C(largest_tensor) and C(largest_tensor_bytes), C(tensor_count), C(tensor_types) (type name to count).
    - C(version) (GGUF), C(data_offset) (where the weights begin), C(file_bytes) and C(complete) (the file is
      long enough for every tensor).
  returned: success
  type: dict
  sample:
    architecture: llama
    name: homelab lab tiny llama (random weights)
    file_type: ALL_F32
    block_count: 4
    context_length: 512
    embedding_length: 64
    head_count: 4
    head_count_kv: 2
    key_length: 16
    value_length: 16
    layer_kv_elements: [64, 64, 64, 64]
    layer_bytes: [147968, 147968, 147968, 147968]
    input_bytes: 75776
    output_bytes: 76032
    tied_embeddings: false
    output_copy_bytes: 0
    non_layer_bytes: 151808
    total_bytes: 743680
    largest_tensor_bytes: 75776
    largest_tensor: token_embd.weight
    tensor_count: 39
    tensor_types: {F32: 39}
    version: 3
    data_offset: 9504
    file_bytes: 753184
    complete: true
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _gguf


def main() -> None:
    module = AnsibleModule(argument_spec={"path": {"type": "path", "required": True}}, supports_check_mode=True)
    path = module.params["path"]
    if "\x00" in path or not path.startswith("/"):
        module.fail_json(msg=f"path must be an absolute path to a GGUF file, not {path!r}.")
    try:
        summary = _gguf.summary_of_path(path)
    except _gguf.GgufProblem as exc:
        module.fail_json(msg=f"{exc}.")
    module.exit_json(changed=False, gguf=summary)


if __name__ == "__main__":
    main()
