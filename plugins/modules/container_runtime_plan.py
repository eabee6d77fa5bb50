#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: container_runtime_plan
short_description: Decide once what the container_runtime role installs, writes, configures and restarts
version_added: 0.3.0
description:
  - The one planning step of P(homelab.nvidia_gpu.container_runtime#role). It runs on the controller (an action
    plugin, no round trip to the host) and returns RV(plan), which the role's tasks only act on.
  - The packages of the chosen source (Debian's C(docker.io) and C(containerd), or Docker's C(docker-ce),
    C(docker-ce-cli), C(containerd.io) and C(docker-buildx-plugin)), Debian's separate C(docker-cli) where apt knows
    it, and C(python3-tomlkit) for the containerd config module.
  - Docker's apt repository - its key URL, the pinned fingerprint and the whole deb822 source, rendered by
    C(plugins/module_utils/_files/_apt_sources.py) (every field checked, no value can add one).
  - Refuses, with one sentence, a request with neither engine, a host other than Debian or Ubuntu on x86_64 or
    aarch64, and a key fingerprint that is not 40 hexadecimal digits.
  - Pure rules in C(plugins/module_utils/_roles/_container_runtime.py).
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - homelab.nvidia_gpu.attributes.controller_action
attributes:
  check_mode:
    support: full
    details: Changes nothing in any mode; in check mode C(run) of RV(plan.verify) is false.
  platform:
    platforms: posix
options:
  docker:
    description: Whether to install and configure the Docker engine (C(container_runtime_docker)).
    type: bool
    default: true
  containerd:
    description: Whether to configure containerd for Kubernetes (C(container_runtime_containerd)).
    type: bool
    default: true
  install:
    description: Whether to install the engines' packages and Docker's repo (C(container_runtime_install)).
    type: bool
    default: true
  docker_source:
    description: Where Docker comes from, Debian's archive or Docker's repository (C(container_runtime_docker_source)).
    type: str
    choices: [debian, docker]
    default: debian
  docker_repo_base_url:
    description: Base URL of Docker's repository; C(/debian) or C(/ubuntu) is appended.
    type: str
    default: https://download.docker.com/linux
  docker_repo_key_url:
    description: URL of Docker's signing key. Empty means C(<base>/<debian|ubuntu>/gpg).
    type: str
    default: ""
  docker_repo_key_fingerprint:
    description: Pinned 40-digit fingerprint of Docker's signing key (spaces allowed, any case).
    type: str
    default: 9DC858229FC7DD38854AE2D88D81803C0EBFCD88
  docker_repo_channel:
    description: Component of Docker's repository.
    type: str
    choices: [stable, test, nightly]
    default: stable
  keyring_dir:
    description: Directory of the binary keyring C(docker.gpg) the source points at.
    type: path
    default: /etc/apt/keyrings
  docker_daemon_options:
    description: Keys merged into C(daemon.json). Empty leaves the file alone (RV(plan.docker_daemon) is null).
    type: dict
    default: {}
  docker_daemon_config_path:
    description: Path of docker's C(daemon.json).
    type: path
    default: /etc/docker/daemon.json
  containerd_config_path:
    description: Path of containerd's C(config.toml).
    type: path
    default: /etc/containerd/config.toml
  containerd_systemd_cgroup:
    description: C(SystemdCgroup) of the runc-shim runtimes.
    type: bool
    default: true
  containerd_cri:
    description: Whether to take the CRI plugin out of C(disabled_plugins).
    type: bool
    default: true
  containerd_sandbox_image:
    description: The sandbox (pause) image; empty leaves containerd's own.
    type: str
    default: ""
  containerd_settings:
    description: More dotted keys for C(config.toml), applied over the settings above.
    type: dict
    default: {}
  backup:
    description: Keep a timestamped copy of C(daemon.json) and C(config.toml) before changing them.
    type: bool
    default: false
  distribution:
    description: The distribution as Ansible names it (C(Debian) or C(Ubuntu)).
    type: str
    required: true
  distribution_release:
    description: The release code name, the suite of Docker's repository. Needed with O(docker_source=docker).
    type: str
    default: ""
  architecture:
    description: The machine architecture as Ansible names it (C(x86_64) or C(aarch64)).
    type: str
    required: true
  apt_knows_docker_cli:
    description:
      - Whether apt knows Debian's C(docker-cli) package (Debian 13 split the CLI out of C(docker.io)), as
        C(apt-cache show docker-cli) answers on the host.
    type: bool
    default: false
seealso:
  - module: homelab.nvidia_gpu.apt_packages
  - module: homelab.nvidia_gpu.containerd_config
  - module: homelab.nvidia_gpu.docker_daemon_config
"""

EXAMPLES = r"""
- name: Container runtime plan is made
  homelab.nvidia_gpu.container_runtime_plan:
    docker_source: docker
    distribution: "{{ ansible_facts['distribution'] }}"
    distribution_release: "{{ ansible_facts['distribution_release'] }}"
    architecture: "{{ ansible_facts['architecture'] }}"
  register: __container_runtime_plan

- name: Container engine packages are installed
  homelab.nvidia_gpu.apt_packages:
    packages: "{{ __container_runtime_plan.plan.packages }}"
"""

RETURN = r"""
plan:
  description: Everything the role's tasks act on.
  returned: success
  type: dict
  contains:
    packages:
      description: The package names to install (may be empty).
      type: list
      elements: str
      sample: [docker.io, docker-cli, containerd, python3-tomlkit]
    docker_repo:
      description:
        - Docker's repository - C(present) and C(absent) (whether its source is to be written or removed),
          C(sources_path), C(sources) (the file's text when present), C(keyring_dir), C(keyring), C(key_url),
          C(fingerprint) (upper case, no spaces) and C(key_hint) (said when the key is refused).
      type: dict
    docker_daemon:
      description: C(path) and C(settings) for M(homelab.nvidia_gpu.docker_daemon_config); null when nothing is merged.
      type: dict
    containerd:
      description:
        - C(config_path) and C(settings), the keyword arguments of the
          P(homelab.nvidia_gpu.containerd_settings#filter) filter; null when containerd is not configured.
      type: dict
    backup:
      description: Whether the config modules keep a backup.
      type: bool
    services:
      description: The services to enable and start, in order.
      type: list
      elements: str
      sample: [containerd, docker]
    verify:
      description:
        - C(run) (false in check mode), C(answers) (the commands that must answer, the daemons being up) and C(cri)
          (whether the CRI plugin is checked).
      type: dict
"""
