#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ml_jupyter_plan
short_description: JupyterLab's service on one host - where it comes from, what it binds, how it is guarded
version_added: 0.3.0
description:
  - The planning step of the role P(homelab.nvidia_gpu.ml_jupyter#role). From the role's variables (without their
    C(ml_jupyter_) prefix) it returns the source (Debian's C(jupyterlab) or pip), the apt packages, the pip
    arguments, the server's config (with the token and the password hash), the service unit, the kernel spec and
    the paths of each, and the URL the checks use.
  - A server without a token or a password hash, a short token, a password in place of a hash, Debian's source on
    a release without jupyterlab, or a shared environment without its python (outside check mode) fails the task
    with one sentence.
  - The plan holds the secrets - run it with C(no_log).
  - An action plugin - runs on the controller only, changes nothing. Pure rules in
    C(plugins/module_utils/_roles/_ml_jupyter.py).
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - homelab.nvidia_gpu.attributes.controller_action
options:
  source:
    description: V(auto) - Debian's C(jupyterlab) where the release has it, else V(pip).
    type: str
    choices: [auto, debian, pip]
    default: auto
  release:
    description: The Debian release (C(ansible_facts.distribution_release)).
    type: str
    default: ""
  env:
    description: The shared environment whose python runs the kernel.
    type: str
    default: /opt/ml/torch
  env_exists:
    description: Whether the shared environment's C(bin/python) exists (a task reads it first).
    type: bool
    default: true
  venv:
    description: JupyterLab's own environment (pip source).
    type: str
    default: /opt/jupyterlab
  pip_index_url:
    description: The index JupyterLab comes from (pip source); empty - PyPI.
    type: str
    default: ""
  pip_trusted_hosts:
    description: Hosts pip may reach over plain HTTP (pip source).
    type: list
    elements: str
    default: []
  user:
    description: The system user the server runs as.
    type: str
    default: jupyter
  root_dir:
    description: The notebooks' directory.
    type: str
    default: /srv/jupyter
  config_dir:
    description: The server's config directory.
    type: str
    default: /etc/homelab-jupyter
  address:
    description: The IP address the server binds.
    type: str
    default: 127.0.0.1
  port:
    description: The port the server listens on (1024 to 65535).
    type: int
    default: 8888
  token:
    description: The server's token (at least 24 URL-safe characters).
    type: str
    default: ""
  password_hash:
    description: A password hash as C(jupyter_server.auth.passwd()) prints it.
    type: str
    default: ""
  kernel_name:
    description: The kernel's name (its directory under C(/usr/local/share/jupyter/kernels)).
    type: str
    default: torch
  kernel_display_name:
    description: The kernel's name in JupyterLab's launcher.
    type: str
    default: Python (shared torch)
  service:
    description: The systemd unit's name.
    type: str
    default: homelab-jupyter
"""

EXAMPLES = r"""
- name: JupyterLab is planned
  homelab.nvidia_gpu.ml_jupyter_plan:
    release: "{{ ansible_facts['distribution_release'] }}"
    token: "{{ vault_jupyter_token }}"
  register: __ml_jupyter_plan
  no_log: true
"""

RETURN = r"""
plan:
  description: What the role's tasks act on (it holds the secrets).
  returned: success
  type: dict
  contains:
    source:
      description: C(debian) or C(pip).
      type: str
    apt:
      description: The Debian packages.
      type: list
      elements: str
    pip:
      description: Whether JupyterLab is installed with pip into its own environment (C(venv_argv), C(pip_args)).
      type: bool
    config:
      description: The server's config (token and password hash included); written to C(config_file).
      type: dict
    unit:
      description: The service unit's lines after its header; written to C(unit_file).
      type: str
    kernel_spec:
      description: The kernel's C(kernel.json), written into C(kernel_dir).
      type: dict
    url:
      description: Where the server answers, for the checks.
      type: str
    summary:
      description: Source, URL, reach, guard and kernel in one line (no secret).
      type: str
"""
