#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: bench_record
short_description: The benchmark record of inference.yml's validate step, compared with the previous one
version_added: 0.1.0
description:
  - Used by C(playbooks/tasks/bench_record.yml) (inference.yml's validate step), once for the play. From each node's
    figures and what produced them (O(nodes)), makes this run's record - per node the llama-bench figures under the
    node's bench fingerprint (llama.cpp source sha256, build key and options, CPU model, the GPU the build uses, the
    model's sha256, llama-bench's settings) and, on a server, the served completion's generation rate under the served
    fingerprint (the same, plus the server's command line, the split - C(--tensor-split), C(--rpc) and the split
    planner's C(tensor_split_arg) - the workers' bench fingerprints and the request).
  - Reads the previous record at O(path) on the controller and compares each figure with the previous one of the same
    node and test where both fingerprints are equal and complete - a fall beyond O(drop_percent) is a DROP, returned as
    a sentence in C(drops) and as an Ansible warning; a changed fingerprint is V(not comparable) and says which fields
    changed. The record keeps the previous runs in C(history) (O(keep) at most).
  - A previous record that is not JSON or not of this format fails the task with a sentence (nothing is written over
    it). The record is not written here - the playbook writes C(record) as an output (C(changed_when) false).
  - An action plugin - runs on the controller only, changes nothing. Pure rules in
    C(plugins/module_utils/_roles/_bench_record.py).
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - homelab.nvidia_gpu.attributes.controller_action
options:
  path:
    description: The record's file on the controller (JSON); its current content is the previous record.
    type: path
    required: true
  nodes:
    description:
      - Per host - C(bench) (the fact C(llama_cpp_bench)), C(bench_argv) (llama-bench's command line), C(build)
        (the text of the current build's C(build.json)), C(lscpu) (C(LC_ALL=C lscpu)'s output), C(model_sha256),
        C(gpus) (C(ansible_facts.nvidia_gpus)), C(simulated_gpu), C(server_argv) (llama-server's command line, empty
        on a worker), C(workers) (the server's RPC workers), C(planned_split) (the plan's split), C(completion) (the
        chat completion's JSON answer), C(elapsed) (its seconds) and C(request) (prompt and max_tokens).
    type: dict
    required: true
  written:
    description: When this run's record was made, such as V(2026-12-08 01:00 UTC).
    type: str
    required: true
  drop_percent:
    description: A fall of a figure beyond this percentage (same fingerprint) is a DROP.
    type: float
    default: 20
  keep:
    description: How many earlier runs the record keeps in C(history).
    type: int
    default: 5
"""

EXAMPLES = r"""
- name: The benchmark record is made and compared with the previous one
  homelab.nvidia_gpu.bench_record:
    path: "{{ inference_bench_record_path }}"
    nodes: "{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, 'bench_inputs'))) }}"
    written: "{{ now(utc=true, fmt='%Y-%m-%d %H:%M UTC') }}"
  run_once: true
  register: inference_bench_record
"""

RETURN = r"""
record:
  description:
    - This run's record - C(format), C(written), C(drop_percent), C(nodes), C(comparison), C(drops), C(history).
  returned: success
  type: dict
drops:
  description: One sentence per figure that fell beyond O(drop_percent) with the same fingerprint.
  returned: success
  type: list
  elements: str
report_lines:
  description:
    - The Markdown section of the GPU inventory report - the drops, every figure and its verdict, the fingerprints.
  returned: success
  type: list
  elements: str
previous:
  description: When the previous record was written, or an empty string where there was none.
  returned: success
  type: str
"""
