#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kernel_headers_plan
short_description: Everything the kernel_headers role does on a host, decided once on the controller
version_added: 0.3.0
description:
  - The planning step of the role homelab.nvidia_gpu.kernel_headers. It runs on the controller (an action plugin,
    nothing is sent to the host) over the pure rules in C(plugins/module_utils/_roles/_kernel_headers.py).
  - From the role's variables and what C(roles/kernel_headers/files/host_state.sh) read on the host, it decides
    the kernels to prepare and each one's headers packages (Debian and Ubuntu C(linux-headers-<release>), Raspberry
    Pi OS kernels the flavour package and the versioned one), the Raspberry Pi archive's key, keyring and deb822
    source, whether apt's lists need a refresh, the Pi 5 boot block and whether a reboot is needed.
  - Refuses with one sentence that names the variable - a kernel release that is not one, the archive managed
    without a full pinned fingerprint or already named by another source, a Pi 5 that does not run a Raspberry Pi
    OS kernel, no kernel to prepare.
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - homelab.nvidia_gpu.attributes.controller_action
attributes:
  check_mode:
    support: full
    details: Plans the same way; in check mode an archive this run only pretends to add makes RV(plan.resolvable) false.
options:
  running_release:
    description: The running kernel's release, C(kernel_headers_running_release).
    type: str
    required: true
  kernels:
    description: More releases to prepare, C(kernel_headers_kernels).
    type: list
    elements: raw
    default: []
  include_running:
    description: Whether the running kernel is prepared, C(kernel_headers_include_running).
    type: bool
    default: true
  include_pending:
    description: Whether newer installed kernels of the running flavour are prepared, C(kernel_headers_include_pending).
    type: bool
    default: true
  metapackage:
    description: Whether the flavour's headers metapackage is installed too, C(kernel_headers_metapackage).
    type: bool
    default: false
  raspberrypi_manage_repo:
    description: Whether the role adds the Raspberry Pi archive, C(kernel_headers_raspberrypi_manage_repo).
    type: bool
    default: false
  raspberrypi_base_url:
    description: The Raspberry Pi archive's base URL, C(kernel_headers_raspberrypi_base_url).
    type: str
    default: http://archive.raspberrypi.com/debian
  raspberrypi_key_fingerprint:
    description: The archive key's pinned fingerprint, C(kernel_headers_raspberrypi_key_fingerprint).
    type: str
    default: ""
  raspberrypi_keyring_dir:
    description: The directory of the archive's keyring, C(kernel_headers_raspberrypi_keyring_dir).
    type: str
    default: /etc/apt/keyrings
  pi5_gpu:
    description: Whether a Raspberry Pi 5 will drive an NVIDIA GPU, C(kernel_headers_pi5_gpu).
    type: bool
    default: false
  device_tree_model_path:
    description: The file that named the board (only named in a message), C(kernel_headers_device_tree_model_path).
    type: str
    default: /proc/device-tree/model
  boot_config_path:
    description: The Raspberry Pi boot configuration, C(kernel_headers_boot_config_path).
    type: str
    default: /boot/firmware/config.txt
  pciex1_gen:
    description: The external connector's PCIe generation, 0 the firmware's default (C(kernel_headers_pciex1_gen)).
    type: int
    default: 0
  distribution:
    description: The distribution, C(ansible_facts.distribution).
    type: str
    required: true
  distribution_release:
    description: The release's codename, C(ansible_facts.distribution_release).
    type: str
    required: true
  host_state:
    description:
      - What C(roles/kernel_headers/files/host_state.sh) printed, one C(<kind><TAB><value>) a line - Raspberry Pi OS
        markers, the device-tree model, newer installed kernels, whether apt's lists are fresh, the apt source files.
    type: str
    default: ""
notes:
  - The role's own argument spec (C(roles/kernel_headers/meta/argument_specs.yml)) documents what each variable means.
seealso:
  - module: homelab.nvidia_gpu.apt_packages
  - module: homelab.nvidia_gpu.apt_signing_key
"""

EXAMPLES = r"""
- name: Kernel_headers plan is made
  homelab.nvidia_gpu.kernel_headers_plan:
    running_release: "{{ ansible_facts.kernel }}"
    distribution: "{{ ansible_facts.distribution }}"
    distribution_release: "{{ ansible_facts.distribution_release }}"
    host_state: "{{ __kernel_headers_host.stdout }}"
  register: __kernel_headers_plan
"""

RETURN = r"""
plan:
  description: What the role's tasks act on.
  returned: success
  type: dict
  contains:
    targets:
      description: One entry per kernel to prepare - C(release), its headers C(packages), the C(repo) they come from.
      type: list
      elements: dict
      sample: [{"release": "6.1.0-26-amd64", "packages": ["linux-headers-6.1.0-26-amd64"],
                "repo": "the Debian archive (bookworm main, or bookworm-updates/-security for a newer ABI)"}]
    releases:
      description: The releases made ready (the role publishes them as C(kernel_headers_targets)).
      type: list
      elements: str
    headers:
      description: Every headers package of the targets, once.
      type: list
      elements: str
    packages:
      description: What the role installs - the headers, and a Pi 5's C(linux-image-rpi-v8).
      type: list
      elements: str
    raspberrypi_archive:
      description: Whether the role manages the Raspberry Pi archive on this host.
      type: bool
    archive:
      description: The archive's C(key_url), C(fingerprint), C(keyring_dir), C(keyring), C(sources_path), C(sources).
      type: dict
    refresh_lists:
      description: Whether apt's lists are older than kernel_headers_apt_cache_valid_time or this run adds the archive.
      type: bool
    resolvable:
      description: Whether package lookups mean something in this run (false in check mode before the archive exists).
      type: bool
    pi5_boot:
      description: Whether the Pi 5 boot configuration is managed.
      type: bool
    boot:
      description: C(config_path), C(kernel), C(kernel_path), C(image_package), the C(marker) and the C(block) text.
      type: dict
    reboot_required:
      description: Whether a newer kernel or a Pi 5's 4K-page kernel waits for a reboot (a changed boot block too).
      type: bool
    reboot_into:
      description: The releases a reboot would run.
      type: list
      elements: str
"""
