#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: validate_node_result
short_description: The fact validate_node of one GPU node from its checks and registered command results
version_added: 0.3.0
description:
  - Used by C(playbooks/tasks/validate_gpu_node.yml) (validate.yml, upgrade_driver.yml). From the node's check plan
    (filter P(homelab.nvidia_gpu.validate_check_plan#filter)), the registered runs of its checks and of nvidia-smi
    and modinfo, sets the fact C(validate_node) - C(gpu_present), C(driver_version), C(cuda_version), C(why_no_gpu),
    C(checks) (C(check), C(result) V(passed), V(FAILED) or V(not run), C(detail)), C(headline), C(failures)
    (the name and detail of each failed check), C(failed_checks) (their names) and C(outcome) (how many passed and
    were not run).
  - An action plugin - runs on the controller only, changes nothing. Pure rules in
    C(plugins/module_utils/_roles/_validate_checks.py).
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - homelab.nvidia_gpu.attributes.controller_action
options:
  plan:
    description: The node's check plan.
    type: list
    elements: dict
    required: true
  runs:
    description: The registered results of the checks that ran (C(results) of the looped command).
    type: list
    elements: raw
    default: []
  gpu_present:
    description: Whether nvidia-smi answered for a GPU.
    type: bool
    required: true
  smi_query:
    description: The registered C(nvidia-smi --query-gpu) result.
    type: raw
  smi:
    description: The registered C(nvidia-smi) result (its CUDA version).
    type: raw
  modinfo:
    description: The registered C(modinfo) results of the target kernels.
    type: list
    elements: raw
    default: []
  smi_installed:
    description: Whether nvidia-smi is installed.
    type: bool
    default: true
  simulated:
    description: Whether the node's GPU is simulated (C(nvidia_gpu_plan.gpu_simulated)).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Results of this node are recorded (validate_node)
  homelab.nvidia_gpu.validate_node_result:
    plan: "{{ __validate_plan }}"
    runs: "{{ __validate_runs.results }}"
    gpu_present: "{{ __validate_gpu_present }}"
    smi_query: "{{ __validate_smi_query }}"
"""

RETURN = r"""
ansible_facts:
  description: C(validate_node).
  returned: success
  type: dict
"""
