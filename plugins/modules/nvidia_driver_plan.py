#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Documentation only: the action plugin plugins/action/nvidia_driver_plan.py runs on the controller.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nvidia_driver_plan
short_description: The nvidia_driver role's plan - packages, branch, runfile, DKMS, reboot, refusals - decided once
version_added: 0.3.0
description:
  - The one planning step of the P(homelab.nvidia_gpu.nvidia_driver#role) role, run on the controller. It reads the
    GPU plan (C(nvidia_gpu_plan)), the role's variables and the host's facts, and returns everything the role's tasks
    act on. Rules in C(plugins/module_utils/_roles/_nvidia_driver_runtime.py).
  - Five stages. V(plan) needs nothing from the host and refuses what cannot work (a non-Debian host, an untrustworthy
    runfile, the GPU plan's refusals). V(observed) adds what the host has (dpkg, apt's candidates, the runfile's
    installer and marker, a recorded build failure) and says what to install, Debian's branch and what to refuse.
    V(installed) adds what the install left (package versions, DKMS, the loaded module) and says which kernels lack
    the module, whether to reboot and whether to load the module. V(checked) turns nvidia-smi's answers into the fact
    C(nvidia_driver_smi) and sets the facts C(nvidia_driver_installed) and C(nvidia_driver_smi) on the host.
    V(failed_install) words a failed Debian install.
  - A refusal fails the task with one sentence saying what is wrong and what is supported.
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - homelab.nvidia_gpu.attributes.controller_action
attributes:
  check_mode:
    support: full
    details: Plans only; in check mode it plans for packages that apt cannot see yet.
options:
  stage:
    description: Which step of the plan, see the description.
    type: str
    choices: [plan, observed, installed, checked, failed_install]
    default: plan
  gpu_plan:
    description: The GPU plan, C(nvidia_gpu_plan). Required with O(stage=plan).
    type: dict
  source:
    description: C(nvidia_driver_source). Required with O(stage=plan).
    type: str
    choices: [cuda_repo, debian, runfile]
  package_set:
    description: C(nvidia_driver_package_set).
    type: str
    choices: [compute, full]
    default: compute
  branch:
    description: C(nvidia_driver_branch), V(auto) or a number.
    type: raw
    default: auto
  pin:
    description: C(nvidia_driver_pin).
    type: bool
    default: true
  kernels:
    description:
      - C(nvidia_driver_kernels), with O(stage=plan) or O(stage=observed). Give it to the observed stage, after the
        kernel_headers role has named its targets (C(kernel_headers_targets)).
    type: list
    elements: str
  kernel:
    description: The running kernel release. Required with O(stage=plan).
    type: str
  os_family:
    description: The host's OS family. Required with O(stage=plan).
    type: str
  distribution:
    description: The host's distribution.
    type: str
    default: ""
  distribution_release:
    description: The host's release code name.
    type: str
    default: ""
  virtualization_role:
    description: The host's virtualization role (guest in a container).
    type: str
    default: ""
  virtualization_type:
    description: The host's virtualization type.
    type: str
    default: ""
  runfile_url:
    description: C(nvidia_driver_runfile_url).
    type: str
    default: ""
  runfile_checksum:
    description: C(nvidia_driver_runfile_checksum).
    type: str
    default: ""
  runfile_allow_http:
    description: C(nvidia_driver_runfile_allow_http).
    type: bool
    default: false
  runfile_dir:
    description: C(nvidia_driver_runfile_dir).
    type: str
    default: /var/cache/nvidia-driver
  debian_manage_components:
    description: C(nvidia_driver_debian_manage_components).
    type: bool
    default: true
  blacklist_nouveau:
    description: C(nvidia_driver_blacklist_nouveau).
    type: bool
    default: true
  module_options:
    description: C(nvidia_driver_module_options).
    type: dict
    default: {}
  persistence_mode:
    description: C(nvidia_driver_persistence_mode).
    type: bool
    default: false
  reboot:
    description: C(nvidia_driver_reboot).
    type: bool
    default: false
  plan:
    description: The plan of the stage before. Required with every stage but V(plan).
    type: dict
  dpkg:
    description: O(stage=observed) - the output of the plan's C(dpkg_argv).
    type: str
  policy:
    description: O(stage=observed) - the output of the plan's C(policy_argv) (C(apt-cache policy)).
    type: str
  runfile_installer:
    description: O(stage=observed) - the output of C(nvidia-installer --version).
    type: str
  runfile_marker:
    description: O(stage=observed) - the runfile marker this role wrote (JSON).
    type: str
  failure_record:
    description: O(stage=observed) - the recorded DKMS build failure (JSON).
    type: str
  debian_sources_exists:
    description: O(stage=observed) - whether this role's Debian components file exists.
    type: bool
    default: false
  package_versions:
    description: O(stage=installed) - the installed versions, as M(homelab.nvidia_gpu.apt_packages) returns them.
    type: dict
    default: {}
  dkms_status:
    description: O(stage=installed) - the output of C(dkms status -m NAME -v VERSION); null when dkms is not there.
    type: str
  loaded_version:
    description: O(stage=installed) - C(/sys/module/nvidia/version); null when no module is loaded.
    type: str
  nouveau_loaded:
    description: O(stage=installed) - whether nouveau is loaded.
    type: bool
    default: false
  headers_reboot:
    description: O(stage=installed) - whether kernel_headers prepared a kernel that is not running yet.
    type: bool
    default: false
  smi_query:
    description: O(stage=checked) - the lines of C(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader).
    type: list
    elements: str
  smi:
    description: O(stage=checked) - the output of plain C(nvidia-smi).
    type: str
  rollback:
    description: O(stage=failed_install) - what the roll-back did (purge, remove, restore, broken).
    type: dict
    default: {}
  make_log:
    description: O(stage=failed_install) - DKMS's make.log of the failed build.
    type: str
  log_path:
    description: O(stage=failed_install) - where the make.log is kept; empty when there was none.
    type: str
    default: ""
  left:
    description: O(stage=failed_install) - what the roll-back could not put back.
    type: str
    default: ""
  platform:
    description: O(stage=failed_install) - the host's platform (C(nvidia_gpu_host.platform)).
    type: str
    default: ""
  apt_error:
    description: O(stage=failed_install) - apt's error message.
    type: str
    default: ""
seealso:
  - module: homelab.nvidia_gpu.apt_packages
"""

EXAMPLES = r"""
- name: Driver plan is made
  homelab.nvidia_gpu.nvidia_driver_plan:
    gpu_plan: "{{ nvidia_gpu_plan }}"
    source: cuda_repo
    branch: auto
    kernels: ["{{ ansible_facts['kernel'] }}"]
    kernel: "{{ ansible_facts['kernel'] }}"
    os_family: "{{ ansible_facts['os_family'] }}"
  register: __nvidia_driver_plan
"""

RETURN = r"""
plan:
  description:
    - What the role's tasks act on. Always - C(source), C(flavour), C(branch) (None for Debian's until observed),
      C(packages), C(dkms_package), C(dkms_name), C(pinning_package), C(kernels), C(runfile) (C(path), C(argv),
      C(marker), C(prereqs)), C(debian), C(paths), C(dpkg_argv), C(policy_argv), C(persistence), C(container).
    - V(observed) adds C(specs), C(hold), C(missing), C(apt_blind), C(stale_pinning), C(pinning_specs), C(install)
      and C(candidate) (Debian), C(runfile.install).
    - V(installed) adds C(installed_version), C(dkms_checkable), C(dkms_missing), C(dkms_install_argv),
      C(reboot_reasons), C(reboot), C(runtime_skip), C(load), C(installed) (the fact C(nvidia_driver_installed)),
      C(local_fact).
    - V(checked) adds C(smi) (the fact C(nvidia_driver_smi)).
    - V(failed_install) adds C(build_failed), C(failure) and C(failure_message).
  returned: success
  type: dict
ansible_facts:
  description: O(stage=checked) - the role's public facts C(nvidia_driver_installed) and C(nvidia_driver_smi), set on
    the host by this step.
  returned: O(stage=checked)
  type: dict
"""
