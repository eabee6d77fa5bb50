#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nvidia_container_toolkit_plan
short_description: Decide once what the nvidia_container_toolkit role installs, registers and checks
version_added: 0.3.0
description:
  - The one planning step of P(homelab.nvidia_gpu.nvidia_container_toolkit#role). It runs on the controller (an
    action plugin, no round trip to the host) and returns RV(plan), which the role's tasks only act on.
  - The target version of C(nvidia-container-toolkit), C(nvidia-container-toolkit-base), C(libnvidia-container-tools)
    and C(libnvidia-container1) (all four pinned to one version; V(latest) is apt's candidate), the engines to
    register the runtime with, the CDI spec's place and refresh units (toolkit 1.18+), the C(/dev/char) symlink
    step, and what the checks expect.
  - Whether a GPU is present is read from the GPU plan (P(homelab.nvidia_gpu.gpu_plan#role)); a simulated GPU
    counts as absent.
  - Refuses, with one sentence, a version that is not V(latest) or a full Debian version, a version apt does not
    know (outside check mode), a listed engine that is not installed (outside check mode) and a runtime name or
    drop-in path that M(homelab.nvidia_gpu.nvidia_ctk) would refuse.
  - Pure rules in C(plugins/module_utils/_roles/_nvidia_container_toolkit.py).
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - homelab.nvidia_gpu.attributes.controller_action
attributes:
  check_mode:
    support: full
    details: >-
      Changes nothing in any mode. In check mode a version apt does not know yet and an engine not installed yet
      are reported in RV(plan.notes) instead of refused.
  platform:
    platforms: posix
options:
  version:
    description: Debian version of all four packages, for example C(1.18.1-1), or V(latest) (apt's candidate).
    type: str
    default: latest
  runtimes:
    description: Engines to register the NVIDIA runtime with.
    type: list
    elements: str
    choices: [docker, containerd, crio]
    default: [docker]
  runtime_name:
    description: Name of the runtime entry.
    type: str
    default: nvidia
  set_as_default:
    description: Whether the NVIDIA runtime becomes each engine's default.
    type: bool
    default: false
  cdi:
    description: Whether to enable CDI in the engines.
    type: bool
    default: false
  cdi_spec:
    description: With a GPU present, generate the CDI spec and enable the refresh units where the toolkit ships them.
    type: bool
    default: true
  cdi_output:
    description:
      - Where the CDI spec is written. Empty means C(/var/run/cdi/nvidia.yaml) for toolkit 1.18 and later (which
        ship the refresh units), else C(/etc/cdi/nvidia.yaml).
    type: str
    default: ""
  dev_char_symlinks:
    description: With a GPU present, create the C(/dev/char) symlinks and the rule and unit that recreate them.
    type: bool
    default: true
  containerd_drop_in:
    description: Empty - the runtime goes into containerd's C(config.toml); a path - a drop-in there.
    type: str
    default: ""
  backup:
    description: Keep a timestamped copy of each runtime config file before changing it.
    type: bool
    default: false
  gpu_plan:
    description: The host's GPU plan, the fact C(nvidia_gpu_plan) (its C(gpu_present), C(gpu_simulated), C(gpu_names)).
    type: dict
    required: true
  apt_policy:
    description: What C(apt-cache policy -- nvidia-container-toolkit) prints on the host.
    type: str
    default: ""
  engines_found:
    description: The engine binaries on the host's E(PATH) (C(dockerd), C(containerd), C(crio); names or paths).
    type: list
    elements: str
    default: []
seealso:
  - module: homelab.nvidia_gpu.apt_packages
  - module: homelab.nvidia_gpu.nvidia_ctk
"""

EXAMPLES = r"""
- name: Toolkit plan is made
  homelab.nvidia_gpu.nvidia_container_toolkit_plan:
    version: 1.18.1-1
    runtimes: [docker, containerd]
    gpu_plan: "{{ nvidia_gpu_plan }}"
    apt_policy: "{{ __policy.stdout }}"
    engines_found: "{{ __engines.stdout_lines }}"
  register: __nvidia_container_toolkit_plan

- name: All four toolkit packages are at the target version and held
  homelab.nvidia_gpu.apt_packages:
    packages: "{{ __nvidia_container_toolkit_plan.plan.packages }}"
    hold: true
    allow_downgrade: true
    allow_change_held_packages: true
"""

RETURN = r"""
plan:
  description: Everything the role's tasks act on.
  returned: success
  type: dict
  contains:
    version:
      description: The Debian version all four packages are pinned to; empty in check mode when apt cannot say yet.
      type: str
      sample: 1.18.1-1
    packages:
      description: The four package specs, C(name=version) (plain names when the version is not known yet).
      type: list
      elements: str
      sample: [nvidia-container-toolkit=1.18.1-1, nvidia-container-toolkit-base=1.18.1-1,
               libnvidia-container-tools=1.18.1-1, libnvidia-container1=1.18.1-1]
    toml_packages:
      description: C(python3-tomlkit) when containerd or cri-o is listed, else empty.
      type: list
      elements: str
    notes:
      description: What check mode cannot judge yet, and why the GPU-only steps are skipped (no GPU or a simulated one).
      type: list
      elements: str
    runtimes:
      description:
        - The engines to register the runtime with, in restart order (containerd, docker, crio) - C(runtime),
          C(service), C(toml) and, for containerd, C(drop_in_path).
      type: list
      elements: dict
    runtime:
      description: C(name), C(set_as_default) and C(cdi) for M(homelab.nvidia_gpu.nvidia_ctk).
      type: dict
    backup:
      description: Whether the config modules keep a backup.
      type: bool
    gpu_present:
      description: Whether a real (not simulated) NVIDIA GPU is present.
      type: bool
    cdi:
      description: C(generate), C(output), C(refresh_units) (C(name), optional C(state)) and C(note).
      type: dict
    dev_char:
      description:
        - C(state) (V(present), V(absent) or V(skipped) without a GPU), C(udev_rule), C(unit), C(unit_path), C(ctk)
          (the nvidia-ctk binary) and C(command) (what the rule and the unit run).
      type: dict
    verify:
      description: C(run) (false in check mode) and what the checks expect.
      type: dict
"""
