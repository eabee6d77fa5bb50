#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ml_python_plan
short_description: The shared Python environment of one host and the torch build it gets
version_added: 0.3.0
description:
  - The planning step of the role P(homelab.nvidia_gpu.ml_python#role). From the host's GPU plan (the fact
    C(nvidia_gpu_plan)) and the role's variables (without their C(ml_python_) prefix) it returns the torch wheel
    variant and its index, the environment's path, the apt packages, the venv command, the environment's pip.conf,
    the pip commands that install torch (and first remove a torch of another build), and what the torch check
    records. The compute capabilities and CUDA range come from the GPU plan; they are not judged again.
  - A choice the host cannot run (a torch build without kernels for the card, a CUDA newer than the driver's,
    Debian's CPU-only torch for a GPU variant) or a user the host does not have fails the task with one sentence.
  - Sets the fact C(ml_python_plan) (the same plan, read by P(homelab.nvidia_gpu.ml_workstation_summary#filter)).
  - An action plugin - runs on the controller only, changes nothing. Pure rules in
    C(plugins/module_utils/_roles/_ml_plan.py).
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - homelab.nvidia_gpu.attributes.controller_action
options:
  gpu_plan:
    description: The fact C(nvidia_gpu_plan) (P(homelab.nvidia_gpu.gpu_plan#role)).
    type: dict
    required: true
  root:
    description: The environments' root directory (an absolute path other than C(/)).
    type: str
    default: /opt/ml
  env_name:
    description: The environment's directory under O(root).
    type: str
    default: torch
  group:
    description: The group that shares the environment.
    type: str
    default: ml
  users:
    description: The accounts added to O(group); each must be in O(accounts).
    type: list
    elements: str
    default: []
  accounts:
    description: The host's account names (C(getent passwd)); omitted - not checked.
    type: list
    elements: str
  torch:
    description: Whether torch is installed.
    type: bool
    default: true
  torch_source:
    description: V(pip) (the variant's index) or V(debian) (Debian's CPU-only C(python3-torch)).
    type: str
    choices: [pip, debian]
    default: pip
  torch_variant:
    description: V(auto), V(cpu) or a CUDA build such as V(cu126).
    type: str
    default: auto
  torch_version:
    description: The torch release to pin; empty - the newest.
    type: str
    default: ""
  torch_index:
    description: The wheel index; the variant's is C(<torch_index>/<variant>).
    type: str
    default: https://download.pytorch.org/whl
  pip_index_url:
    description: The index every other package comes from (the environment's pip.conf); empty - PyPI.
    type: str
    default: ""
  pip_trusted_hosts:
    description: Hosts pip may reach over plain HTTP.
    type: list
    elements: str
    default: []
  check:
    description: Whether the torch check runs (an import and a matmul).
    type: bool
    default: true
  release:
    description: The Debian release (C(ansible_facts.distribution_release)).
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: The environment and its torch build are planned from the GPU plan
  homelab.nvidia_gpu.ml_python_plan:
    gpu_plan: "{{ nvidia_gpu_plan }}"
    root: "{{ ml_python_root }}"
    torch_variant: "{{ ml_python_torch_variant }}"
    release: "{{ ansible_facts['distribution_release'] }}"
  register: __ml_python_plan

- name: Torch is installed from the variant's index
  ansible.builtin.command:
    argv: "{{ __ml_python_plan.plan.torch_install_argv }}"
"""

RETURN = r"""
plan:
  description: What the role's tasks act on.
  returned: success
  type: dict
  contains:
    env:
      description: The environment's path; C(python) its interpreter.
      type: str
      sample: /opt/ml/torch
    apt:
      description: The Debian packages (venv, ACL tools, Debian's torch where it is the source).
      type: list
      elements: str
    venv_argv:
      description: The command that makes the environment; C(system_site_line) its pyvenv.cfg setting.
      type: list
      elements: str
    pip_conf:
      description: The lines of the environment's pip.conf after its header.
      type: str
    pip_torch:
      description: Whether torch comes from pip; then C(torch_install_argv) and C(torch_uninstall_argv) are used.
      type: bool
    torch:
      description: The wheel variant (C(variant), C(index_url), C(cuda), C(reason)); C(torch_install) how it is
        installed.
      type: dict
    check:
      description: Whether the torch check runs.
      type: bool
    record:
      description: The plan's part of the fact C(ml_python_installed); C(unchecked) what stands for the check's
        report when it did not run.
      type: dict
    torch_summary:
      description: The choice and why, in one line.
      type: str
"""
