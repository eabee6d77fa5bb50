# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: site_plan
short_description: The plan of one host in site.yml, and the sentences site.yml prints about it
version_added: 0.1.0
author:
  - homelab.nvidia_gpu maintainers (@homelab)
description:
  - C(site_plan) turns a host's GPU verdict (C(ansible_facts.nvidia_gpu_host.verdict)) and whether it is in
    C(gpu_nodes) into its plan - V(gpu stack), V(runtime only), V(runtime only (GPU verdict)) or
    V(stopped by its GPU verdict).
  - The same plugin file has C(site_verdict_lines) (one line per GPU and per problem of the verdict) and
    C(site_summary_lines) (one line per host at the end of site.yml); all three are pure and unit-tested.
options:
  _input:
    description: The host verdict, C(ansible_facts.nvidia_gpu_host.verdict) (C(can_work), C(problems)).
    type: dict
    required: true
  gpu_node:
    description: Whether the host is in C(gpu_nodes).
    type: bool
    required: true
  skip_unworkable:
    description: C(site_skip_unworkable_gpu_nodes) - an unworkable GPU node gets the runtime only instead of stopping.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: The plan follows the groups and the verdict
  ansible.builtin.set_fact:
    site_plan: >-
      {{ ansible_facts.nvidia_gpu_host.verdict | homelab.nvidia_gpu.site_plan(gpu_node='gpu_nodes' in group_names) }}
"""

RETURN = r"""
_value:
  description: >-
    The plan, one of V(gpu stack), V(runtime only), V(runtime only (GPU verdict)),
    V(stopped by its GPU verdict).
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils import _site_report as report


def _wrap(function):
    def call(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (TypeError, ValueError, KeyError) as exc:
            raise AnsibleFilterError(f"{function.__name__}: {exc}") from exc
    return call


class FilterModule:
    def filters(self):
        return {
            "site_plan": _wrap(report.site_plan),
            "site_verdict_lines": _wrap(report.verdict_lines),
            "site_summary_lines": _wrap(report.summary_lines),
        }
