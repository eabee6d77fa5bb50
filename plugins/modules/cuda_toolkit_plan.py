#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cuda_toolkit_plan
short_description: The CUDA toolkit and cuDNN of one host, and how the role cuda_toolkit installs and checks them
version_added: 0.3.0
description:
  - The planning step of the role P(homelab.nvidia_gpu.cuda_toolkit#role). From the host's GPU plan (the fact
    C(nvidia_gpu_plan)) and the role's variables (without their C(cuda_toolkit_) prefix) it returns the toolkit and
    cuDNN packages, the toolkit's home and nvcc, the login-shell and linker files, and the check program's nvcc
    command line (one C(-gencode) per card, C(-lcudnn) with cuDNN). The CUDA range comes from the GPU plan; it is
    not judged again.
  - A choice the host cannot run (a pin outside the cards' or the driver's CUDA range, a toolkit apt does not offer,
    Debian's cuDNN) fails the task with one sentence that names it and what is supported.
  - Sets the fact C(cuda_toolkit_plan) (the same plan, read by P(homelab.nvidia_gpu.ml_workstation_summary#filter)).
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
  source:
    description: V(cuda_repo) - NVIDIA's C(cuda-toolkit-X-Y) under C(/usr/local/cuda-X.Y); V(debian) - Debian's
      C(nvidia-cuda-toolkit) in C(/usr).
    type: str
    choices: [cuda_repo, debian]
    default: cuda_repo
  version:
    description: V(auto) (the newest the host allows) or a CUDA version such as V(12.9).
    type: str
    default: auto
  cudnn:
    description: Whether cuDNN 9 for the toolkit's major version is installed.
    type: bool
    default: true
  check_build:
    description: Whether the check program is built and run.
    type: bool
    default: true
  check_dir:
    description: The check program's directory (an absolute path).
    type: str
    default: /var/lib/homelab-cuda-check
  profile_script:
    description: The login-shell file that puts nvcc on C(PATH).
    type: str
    default: /etc/profile.d/homelab-cuda.sh
  ld_conf:
    description: The dynamic linker's file for the toolkit's libraries.
    type: str
    default: /etc/ld.so.conf.d/homelab-cuda.conf
  release:
    description: The Debian release (C(ansible_facts.distribution_release)).
    type: str
    default: ""
  apt_names:
    description: The lines of C(apt-cache pkgnames cuda-toolkit-) (the toolkits apt offers); omitted or empty in
      check mode - the collection's known releases.
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: The toolkit and cuDNN are planned from the GPU plan
  homelab.nvidia_gpu.cuda_toolkit_plan:
    gpu_plan: "{{ nvidia_gpu_plan }}"
    source: "{{ cuda_toolkit_source }}"
    version: "{{ cuda_toolkit_version }}"
    release: "{{ ansible_facts['distribution_release'] }}"
    apt_names: "{{ __cuda_toolkit_names.stdout_lines }}"
  register: __cuda_toolkit_plan

- name: The CUDA toolkit and cuDNN are installed
  homelab.nvidia_gpu.apt_packages:
    packages: "{{ __cuda_toolkit_plan.plan.packages }}"
"""

RETURN = r"""
plan:
  description: What the role's tasks act on.
  returned: success
  type: dict
  contains:
    install:
      description: Whether a toolkit is installed (false where the host gets no GPU stack).
      type: bool
    version:
      description: The CUDA version, such as C(12.9); null when none.
      type: str
    packages:
      description: The toolkit's and cuDNN's package specs.
      type: list
      elements: str
      sample: [cuda-toolkit-12-9, cudnn9-cuda-12]
    home:
      description: The toolkit's home, C(/usr/local/cuda-X.Y) (NVIDIA's) or C(/usr) (Debian's).
      type: str
    nvcc:
      description: The path of nvcc; C(nvcc_release) is what its C(--version) must print.
      type: str
    shell_files:
      description: The templates (C(src), C(dest)) for login shells and the linker; C(stale_files) the ones removed.
      type: list
      elements: dict
    check:
      description: The check program - C(build) (whether it is built), C(dir), C(source), C(binary) and C(argv)
        (nvcc's command line).
      type: dict
    installed:
      description: The fact C(cuda_toolkit_installed) but for the check run - C(version), C(source), C(packages),
        C(nvcc) and C(build) (the command line, or why nothing was built).
      type: dict
    toolkit:
      description: The toolkit's choice (C(version), C(packages), C(reason), C(refused)); C(cudnn) likewise.
      type: dict
    nvcc_flags:
      description: One C(-gencode) per card's compute capability.
      type: list
      elements: str
      sample: ["-gencode=arch=compute_61,code=sm_61"]
    toolkit_summary:
      description: The choice and why, in one line.
      type: str
"""
