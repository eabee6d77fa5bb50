#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upgrade_driver_summary
short_description: The driver upgrade's summary over every GPU node of the play
version_added: 0.3.0
description:
  - From each host's fact C(upgrade_driver_result) (C(result) V(upgraded), V(unchanged), V(skipped) or V(failed),
    C(from), C(to), C(reason)), one line per host (a host without one was not reached) under a head line that counts
    them; when a branch or version was asked for and no node could take it, C(refused) is true unless
    O(allow_skips).
  - An action plugin - runs on the controller only, changes nothing; reads the play's hostvars. Pure rules in
    C(plugins/module_utils/_roles/_upgrade_driver.py), as the filter
    P(homelab.nvidia_gpu.upgrade_driver_summary#filter)'s.
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - homelab.nvidia_gpu.attributes.controller_action
options:
  hosts:
    description: The hosts to summarize; by default every host of the play (C(ansible_play_hosts_all)).
    type: list
    elements: str
  branch:
    description: The branch the user asked for (C(upgrade_driver_branch)), empty when none.
    type: str
    default: ""
  version:
    description: The version the user asked for (C(upgrade_driver_version)), empty when none.
    type: str
    default: ""
  allow_skips:
    description: A run where no node could take what was asked is not refused (C(upgrade_driver_allow_skips)).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Every GPU node's outcome is known
  homelab.nvidia_gpu.upgrade_driver_summary:
    branch: "{{ upgrade_driver_branch | default('') }}"
  register: __upgrade_summary
  run_once: true
"""

RETURN = r"""
lines:
  description: The head line, then one line per host.
  returned: success
  type: list
  elements: str
counts:
  description: Hosts per result (and V(not reached)).
  returned: success
  type: dict
node_failed:
  description: Whether a node failed (the task itself does not fail for it).
  returned: success
  type: bool
refused:
  description: Whether what was asked could be taken by no node (and skips are not allowed).
  returned: success
  type: bool
"""
