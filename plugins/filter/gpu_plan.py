# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: gpu_plan
short_description: The host's GPU plan from the facts of lspci_gpu_facts and the user's choices
version_added: 0.1.0
author:
  - homelab.nvidia_gpu maintainers (@homelab)
description:
  - Turns C(ansible_facts.nvidia_gpus) and C(ansible_facts.nvidia_gpu_host) (from
    P(homelab.nvidia_gpu.lspci_gpu_facts#module)) and the choices into the plan every role and playbook of
    the collection reads (the fact C(nvidia_gpu_plan), set once per run by P(homelab.nvidia_gpu.gpu_plan#role)).
  - The verdict is judged again for the chosen flavour and branch. Blocking problems that the GPU stack fixes
    itself (C(nouveau_bound), C(pi5_16k_page_kernel)) are reported and do not refuse the stack; the others are
    RV(_value.refusals).
  - The same plugin file has C(gpu_plan_summary_lines) (one line per host, for the end of site.yml) and
    C(site_address_problems) (site.yml's inventory check - every C(ansible_host) a valid address, inside
    C(site_network_cidr) when set, and no two hosts on one address).
  - All of it is pure Python in C(plugins/module_utils/_gpu/_gpu_plan.py), unit-tested.
options:
  _input:
    description: C(ansible_facts.nvidia_gpus).
    type: list
    elements: dict
    required: true
  host:
    description: C(ansible_facts.nvidia_gpu_host).
    type: dict
    required: true
  choices:
    description:
      - The user's choices, all optional - C(gpu_node), C(skip_unworkable), C(flavour) (auto, open,
        proprietary), C(branch) (auto or a number), C(branch_from) (why a pinned branch, a sentence),
        C(default_branch), C(fallback_flavour), C(require_gpu), C(source) (cuda_repo, debian, runfile),
        C(package_set) (compute, full), C(runfile_url), C(fake_hardware) (recorded only).
    type: dict
    default: {}
  name:
    description: The host's name, for the headline.
    type: str
    default: this host
"""

EXAMPLES = r"""
- name: The plan of this host
  ansible.builtin.set_fact:
    nvidia_gpu_plan: >-
      {{ ansible_facts.nvidia_gpus | homelab.nvidia_gpu.gpu_plan(ansible_facts.nvidia_gpu_host,
           {'gpu_node': 'gpu_nodes' in group_names, 'branch': 'auto'}, inventory_hostname) }}

- name: One line per host
  ansible.builtin.debug:
    msg: "{{ hostvars | homelab.nvidia_gpu.gpu_plan_summary_lines(ansible_play_hosts_all, ansible_play_hosts) }}"

- name: Inventory addresses are checked
  ansible.builtin.assert:
    that: __problems.bad == [] and __problems.duplicates == []
  vars:
    __problems: "{{ hostvars | homelab.nvidia_gpu.site_address_problems(groups['all'], '192.168.1.0/24') }}"
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    kind:
      description: V(gpu_stack), V(runtime_only) or V(stopped).
      type: str
    reason:
      description: Why this kind, one sentence.
      type: str
    flavour:
      description: V(open) or V(proprietary); null when no flavour can be chosen (a refusal says why).
      type: str
    branch:
      description: The driver branch, for example V(580).
      type: int
    driver:
      description: C(source), C(package_set), C(packages), C(dkms_package), C(dkms_name), C(pinning_package).
      type: dict
    cuda:
      description: >-
        C(min), C(max) (the lower of what the GPUs and the driver branch allow), C(gpu_max), C(driver_max),
        C(reason).
      type: dict
    refusals:
      description: Blocking problems the stack cannot fix (code, severity, gpu, message).
      type: list
    lines:
      description: Headline, one line per GPU and problem, and the consequence - what site.yml prints.
      type: list
    message:
      description: The driver's choice as one sentence.
      type: str
"""

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _inventory_addresses, _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_plan
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._filter_errors import safe_filter, safe_filters


@safe_filter
def gpu_plan(gpus, host, choices=None, name="this host"):
    return _gpu_plan.host_plan(gpus, host, choices, name)


@safe_filter
def gpu_plan_summary_lines(hostvars, hosts, alive):
    return _gpu_plan.summary_lines(hostvars, hosts, alive)


@safe_filter
def site_address_problems(hostvars, hosts, cidr="", require_ip=True):
    return _inventory_addresses.address_problems(hostvars, hosts, cidr or "",
                                                 _values.boolean(require_ip, "site_address_problems' require_ip"))


class FilterModule:
    def filters(self):
        return safe_filters({"gpu_plan": gpu_plan, "gpu_plan_summary_lines": gpu_plan_summary_lines,
                             "site_address_problems": site_address_problems})
