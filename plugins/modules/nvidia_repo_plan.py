#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nvidia_repo_plan
short_description: Everything the nvidia_repo role writes and removes, decided once on the controller
version_added: 0.3.0
description:
  - The planning step of the role homelab.nvidia_gpu.nvidia_repo. It runs on the controller (an action plugin,
    nothing is sent to the host) over the repo map in C(plugins/module_utils/_roles/_nvidia_repo.py).
  - Picks the CUDA tree for the host (C(debian12/x86_64), C(debian13/sbsa), ...), the keys to fetch and check, the
    keyrings, the whole text of C(nvidia-cuda.sources), C(nvidia-container-toolkit.sources) and the pin file, the
    files a disabled repo leaves behind, and what marks an older NVIDIA source as stale.
  - Refuses with one sentence that names the variable - a host without a CUDA tree (with every supported
    combination), a URL that is not an http(s) URL on one line, a fingerprint that is not a full one, a pin
    selector of more than one line, a key file name with a slash.
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - homelab.nvidia_gpu.attributes.controller_action
options:
  cuda_enabled:
    description: Whether the CUDA repository is managed, C(nvidia_repo_cuda_enabled).
    type: bool
    default: true
  cuda_base_url:
    description: Base URL of the CUDA repositories, C(nvidia_repo_cuda_base_url).
    type: str
    default: https://developer.download.nvidia.com/compute/cuda/repos
  cuda_key_fingerprint:
    description: The CUDA key's pinned fingerprint, empty NVIDIA's for the tree, C(nvidia_repo_cuda_key_fingerprint).
    type: str
    default: ""
  cuda_key_file:
    description: The CUDA key's file name in the tree; empty is NVIDIA's, C(nvidia_repo_cuda_key_file).
    type: str
    default: ""
  toolkit_enabled:
    description: Whether the Container Toolkit repository is managed, C(nvidia_repo_toolkit_enabled).
    type: bool
    default: true
  toolkit_base_url:
    description: Base URL of the Container Toolkit repository, C(nvidia_repo_toolkit_base_url).
    type: str
    default: https://nvidia.github.io/libnvidia-container
  toolkit_key_fingerprint:
    description: Pinned fingerprint of the Container Toolkit key, C(nvidia_repo_toolkit_key_fingerprint).
    type: str
    default: C95B321B61E88C1809C4F759DDCAE044F796ECB0
  toolkit_experimental:
    description: Whether the toolkit's experimental channel is added, C(nvidia_repo_toolkit_experimental).
    type: bool
    default: false
  pin:
    description: The CUDA origin's pinning - V(nvidia), V(debian) or V(none), C(nvidia_repo_pin).
    type: str
    default: nvidia
  pin_selector:
    description: The C(Pin:) line that selects NVIDIA's CUDA repository, C(nvidia_repo_pin_selector).
    type: str
    default: release l=NVIDIA CUDA
  keyring_dir:
    description: Directory of the keyrings the sources point at, C(nvidia_repo_keyring_dir).
    type: str
    default: /etc/apt/keyrings
  remove_stale:
    description: Whether older NVIDIA sources of the same trees are removed, C(nvidia_repo_remove_stale).
    type: bool
    default: true
  distribution:
    description: The distribution as Ansible names it, C(nvidia_repo_distribution).
    type: str
    required: true
  distribution_version:
    description: The distribution's version, C(nvidia_repo_distribution_version).
    type: str
    required: true
  architecture:
    description: The machine, C(x86_64) or C(aarch64), C(nvidia_repo_architecture).
    type: str
    required: true
notes:
  - The role's own argument spec (C(roles/nvidia_repo/meta/argument_specs.yml)) documents what each variable means.
seealso:
  - module: homelab.nvidia_gpu.apt_signing_key
"""

EXAMPLES = r"""
- name: Nvidia_repo plan is made
  homelab.nvidia_gpu.nvidia_repo_plan:
    distribution: "{{ ansible_facts.distribution }}"
    distribution_version: "{{ ansible_facts.distribution_version }}"
    architecture: "{{ ansible_facts.architecture }}"
  register: __nvidia_repo_plan
"""

RETURN = r"""
ansible_facts:
  description: The fact C(nvidia_repo_cuda_tree) (the role's public fact), the CUDA tree or empty.
  returned: success
  type: dict
  sample: {"nvidia_repo_cuda_tree": "debian12/x86_64"}
plan:
  description: What the role's tasks act on.
  returned: success
  type: dict
  contains:
    tree:
      description: The CUDA tree, empty when the CUDA repository is not managed.
      type: str
      sample: debian12/x86_64
    signing_keys:
      description: The keys to fetch and check - C(name), C(url), C(fingerprint), C(keyring).
      type: list
      elements: dict
    keyrings:
      description: The same keys as the O(homelab.nvidia_gpu.apt_signing_key#module:keyrings) of one
        M(homelab.nvidia_gpu.apt_signing_key) step - C(url), C(fingerprints), C(dest), C(name), C(hint).
      type: list
      elements: dict
    cuda_keyring:
      description: The CUDA repository's keyring.
      type: str
    toolkit_keyring:
      description: The Container Toolkit repository's keyring.
      type: str
    write:
      description: The files to write (sources and pin file), each C(path), its whole C(content), C(owner) and
        C(group) - the O(homelab.nvidia_gpu.file_set#module:files) of one M(homelab.nvidia_gpu.file_set) step.
      type: list
      elements: dict
    absent:
      description: The files a disabled repository or pin leaves behind, removed.
      type: list
      elements: str
    stale:
      description: Whether to look for stale sources (C(find)), file C(patterns), the role's C(excludes), the C(regex).
      type: dict
    uris:
      description: The repository URIs apt must list after the run.
      type: list
      elements: str
    cuda_uri:
      description: The CUDA tree's URI, empty when not managed.
      type: str
    toolkit_uri:
      description: The toolkit's stable URI for the host's Debian architecture, empty when not managed.
      type: str
"""
