# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: nvidia_repo_target
short_description: The NVIDIA CUDA tree, its signing key and the Debian architecture for a host (the repo map)
version_added: 0.1.0
author:
  - homelab.nvidia_gpu maintainers (@homelab)
description:
  - Debian 12/13 and Ubuntu 22.04/24.04 on C(x86_64) or C(aarch64); C(aarch64) always gets the C(sbsa) tree (discrete
    GPUs), never the Jetson C(arm64) one; Raspberry Pi OS's C(Raspbian) counts as Debian. Returns C(tree) (for example
    V(debian12/sbsa), empty when the CUDA repo is off or unknown), C(key_file), C(key_fingerprint), C(deb_arch) and
    C(problem), the sentence that names the host and every supported combination when there is no tree.
  - The map lives only in C(plugins/module_utils/_roles/_nvidia_repo.py).
  - One more filter in this file - C(nvidia_repo_files) (the role's variables, a dict of C(nvidia_repo_*) -> the text
    of C(nvidia-cuda.sources), C(nvidia-container-toolkit.sources) and the pin file, C(signing_keys) to fetch and check
    (C(name), C(url), C(fingerprint), C(keyring)), C(cuda_keyring), C(toolkit_keyring), C(cuda_uri), C(toolkit_uri),
    C(tree), C(deb_arch), C(pin_file), C(sources_dir)). Each value is checked where it enters (URLs, fingerprints,
    the pin selector, the keyring directory, booleans) and the files are rendered whole in Python, so no inventory
    value can add a field such as C(Trusted) set to C(yes) or a second C(Pin-Priority); a bad value is an error whose
    sentence names the variable.
options:
  _input:
    description: The distribution as Ansible names it (C(ansible_facts.distribution)).
    type: str
    required: true
  version:
    description: C(ansible_facts.distribution_version).
    type: str
    required: true
  architecture:
    description: C(ansible_facts.architecture).
    type: str
    required: true
  cuda:
    description: The CUDA repo is wanted (a missing tree is a problem).
    type: bool
    default: true
  toolkit:
    description: The Container Toolkit repo is wanted (a missing Debian arch is a problem).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: CUDA tree of this host
  ansible.builtin.debug:
    msg: >-
      {{ (ansible_facts.distribution | homelab.nvidia_gpu.nvidia_repo_target(ansible_facts.distribution_version,
          ansible_facts.architecture)).tree }}
"""

RETURN = r"""
_value:
  description: C(tree), C(key_file), C(key_fingerprint), C(deb_arch), C(problem).
  type: dict
"""

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _nvidia_repo
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._filter_errors import safe_filters


def nvidia_repo_target(distribution, version, architecture, cuda=True, toolkit=True) -> dict:
    return _nvidia_repo.target(_values.single_line(distribution, "nvidia_repo_distribution", allow_empty=True),
                               _values.single_line(version, "nvidia_repo_distribution_version", allow_empty=True),
                               _values.single_line(architecture, "nvidia_repo_architecture", allow_empty=True),
                               _values.boolean(cuda, "nvidia_repo_cuda_enabled"),
                               _values.boolean(toolkit, "nvidia_repo_toolkit_enabled"))


def nvidia_repo_files(settings) -> dict:
    if not isinstance(settings, dict):
        raise TypeError("the input must be a dict of the role's nvidia_repo_* variables")
    return _nvidia_repo.files(settings)


class FilterModule:
    def filters(self):
        return safe_filters({"nvidia_repo_target": nvidia_repo_target, "nvidia_repo_files": nvidia_repo_files})
