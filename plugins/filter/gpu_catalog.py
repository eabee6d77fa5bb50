# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: gpu_catalog_lookup
short_description: Look an NVIDIA PCI device id up in the collection's GPU catalog
version_added: 0.1.0
author:
  - homelab.nvidia_gpu maintainers (@homelab)
description:
  - Returns what the collection's GPU catalog knows about an NVIDIA PCI device id (vendor C(10de)),
    marketing name, architecture, compute capability, open kernel module support and last driver branch.
  - Ids missing from the catalog fall back to the catalog's device-id ranges (C(source) is
    V(catalog id range)); ids in no range give nulls and C(source) V(unknown).
  - This is the controller's copy of the catalog; the P(homelab.nvidia_gpu.lspci_gpu_facts#module) module
    also applies the driver's own C(supported-gpus.json) found on the managed host.
options:
  _input:
    description: A PCI device id such as V(1bb3), V(0x1BB3), V(10de:1bb3), or the integer 7091.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Tesla P4 needs the proprietary modules and branch 580 or older
  ansible.builtin.assert:
    that:
      - ('1bb3' | homelab.nvidia_gpu.gpu_catalog_lookup).open_modules is false
      - ('10de:1bb3' | homelab.nvidia_gpu.gpu_catalog_lookup).last_branch == 580

- name: Name every GPU the facts module found
  ansible.builtin.debug:
    msg: "{{ item.address }}: {{ (item.device_id | homelab.nvidia_gpu.gpu_catalog_lookup).name }}"
  loop: "{{ ansible_facts.nvidia_gpus }}"
"""

RETURN = r"""
_value:
  description: The catalog entry.
  type: dict
  contains:
    name:
      description: Marketing name, or null when the id is not in the catalog.
      type: str
    architecture:
      description: GPU architecture (V(Maxwell) to V(Blackwell)), or null when unknown.
      type: str
    compute_capability:
      description: CUDA compute capability such as V(6.1), or null when unknown.
      type: str
    open_modules:
      description: Whether the open kernel modules support the GPU (Turing and newer), or null when unknown.
      type: bool
    last_branch:
      description: Last driver branch that supports the GPU (V(580) for Maxwell, Pascal, Volta); null for current.
      type: int
    source:
      description: V(catalog), V(catalog id range) or V(unknown).
      type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _shapes
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_verdict, _lspci
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._filter_errors import safe_filter, safe_filters


@safe_filter
def gpu_catalog_lookup(device_id) -> dict:
    if _gpu_verdict.normalize_device_id(device_id) is None:
        raise AnsibleFilterError(
            f"gpu_catalog_lookup: {device_id!r} is not a PCI device id (expected 4 hex digits, e.g. '1bb3')"
        )
    return _gpu_verdict.lookup(device_id)


@safe_filter
def board_platform(model) -> str:
    """A device-tree model string -> raspberry_pi_5 (Compute Module 5 included), _4, _3 or generic: the same
    function lspci_gpu_facts uses, so kernel_headers and the GPU verdict never disagree about a board."""
    return _lspci.platform_from(_shapes.plain(model or ""), [])


class FilterModule:
    def filters(self):
        return safe_filters({"gpu_catalog_lookup": gpu_catalog_lookup, "board_platform": board_platform})
