#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upgrade_driver_decision
short_description: What upgrade_driver.yml does on one GPU node, decided before the node is touched
version_added: 0.3.0
description:
  - From C(apt-cache policy) of the GPU plan's driver packages, the plan's C(driver) and C(branch) for the target, the
    driver's source and an asked version, what upgrading the node does - V(upgrade) (with the packages' exact
    versions and the C(apt-get install) command line), V(unchanged) or V(skip), with the reason in words.
  - The target is the newest version of the branch that apt's sources know (not apt's candidate - the pinning
    package of the old branch still bounds that one), or exactly O(version).
  - An action plugin - runs on the controller only, changes nothing. Pure rules in
    C(plugins/module_utils/_roles/_upgrade_driver.py), as the filter
    P(homelab.nvidia_gpu.upgrade_driver_decision#filter)'s.
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - homelab.nvidia_gpu.attributes.controller_action
options:
  policy:
    description: The output of C(apt-cache policy) for the plan's driver packages (empty for a runfile install).
    type: str
    default: ""
  driver:
    description: The GPU plan's C(driver) (C(nvidia_gpu_plan.driver)) for the target branch.
    type: dict
    required: true
  source:
    description: Where the driver comes from (C(nvidia_driver_source)).
    type: str
    default: cuda_repo
  branch:
    description: The target branch (C(nvidia_gpu_plan.branch)).
    type: str
    required: true
  version:
    description: An exact upstream version to install, such as C(580.95.05); empty - the branch's newest.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: What the upgrade does on this node is decided (nothing is touched yet)
  homelab.nvidia_gpu.upgrade_driver_decision:
    policy: "{{ __upgrade_policy.stdout | default('') }}"
    driver: "{{ nvidia_gpu_plan.driver }}"
    branch: "{{ nvidia_gpu_plan.branch }}"
  register: __upgrade_decision
"""

RETURN = r"""
action:
  description: V(upgrade), V(unchanged) or V(skip).
  returned: success
  type: str
from:
  description: The installed upstream version (empty when none).
  returned: success
  type: str
to:
  description: The target upstream version (empty for a skip).
  returned: success
  type: str
specs:
  description: C(name=version) of every driver package for an upgrade, else empty.
  returned: success
  type: list
  elements: str
argv:
  description: The C(apt-get install) command line of an upgrade (a version on it overrides the pinning package's
    pin), else empty.
  returned: success
  type: list
  elements: str
reason:
  description: Why, in words.
  returned: success
  type: str
record:
  description: The node's C(upgrade_driver_result) when the decision touches nothing (unchanged or skipped).
  returned: success
  type: dict
"""
