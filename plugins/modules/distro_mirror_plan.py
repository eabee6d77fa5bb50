#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: distro_mirror_plan
short_description: What the distro_mirror role writes, keeps, disables or puts back, decided once on the controller
version_added: 0.3.0
description:
  - The planning step of the role homelab.nvidia_gpu.distro_mirror. It runs on the controller (an action plugin,
    nothing is sent to the host) over C(plugins/module_utils/_roles/_distro_mirror.py).
  - From the role's variables, the host's distribution facts and what C(roles/distro_mirror/files/host_state.sh)
    read, it renders the deb822 file of the distribution's archive from the mirror (C(Signed-By) the distribution's
    keyring) and names the distribution's own files to keep and disable, or to put back.
  - Nothing to do (RV(plan.active) false) while O(url) is empty and O(state=present).
  - Refuses with one sentence - an unknown distribution, a URL or component apt would misread (naming the
    variable), the distribution's archive keyring missing on the host.
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - homelab.nvidia_gpu.attributes.controller_action
options:
  url:
    description: The archive's root on the mirror, C(distro_mirror_url); empty - nothing to do unless O(state=absent).
    type: str
    default: ""
  security_url:
    description: The security archive on the mirror, C(distro_mirror_security_url); empty - the distribution's own.
    type: str
    default: ""
  components:
    description: The components, C(distro_mirror_components); empty - the distribution's usual set.
    type: raw
    default: []
  state:
    description: C(distro_mirror_state) - V(present) the mirror, V(absent) the kept originals back.
    type: str
    default: present
  distribution:
    description: C(ansible_facts.distribution) (Debian, Ubuntu; Raspberry Pi OS reports Debian).
    type: str
    default: ""
  release:
    description: C(ansible_facts.distribution_release), the codename.
    type: str
    default: ""
  architecture:
    description: C(ansible_facts.architecture) (Ubuntu's arm64 archive is C(ports.ubuntu.com)).
    type: str
    default: ""
  host_state:
    description: What C(roles/distro_mirror/files/host_state.sh) printed (own files' first lines, keyrings).
    type: str
    default: ""
notes:
  - The role's own argument spec (C(roles/distro_mirror/meta/argument_specs.yml)) documents what each variable means.
"""

EXAMPLES = r"""
- name: Distro_mirror plan is made
  homelab.nvidia_gpu.distro_mirror_plan:
    url: http://mirror.example/debian
    distribution: "{{ ansible_facts.distribution }}"
    release: "{{ ansible_facts.distribution_release }}"
    architecture: "{{ ansible_facts.architecture }}"
    host_state: "{{ __distro_mirror_host.stdout }}"
  register: __distro_mirror_plan
"""

RETURN = r"""
plan:
  description: What the role's tasks act on.
  returned: success
  type: dict
  contains:
    active:
      description: Whether the role does anything (a mirror URL, or O(state=absent)).
      type: bool
    configure:
      description: Whether the mirror's sources are put in place.
      type: bool
    restore:
      description: Whether the kept originals are put back.
      type: bool
    path:
      description: The role's sources file.
      type: str
      sample: /etc/apt/sources.list.d/homelab-distro.sources
    content:
      description: Its whole deb822 text.
      type: str
    mirror:
      description: The archive's URL without a trailing slash.
      type: str
    default_mirror:
      description: The distribution's own archive URL for this host.
      type: str
    keep:
      description: The own files to copy into C(disabled_dir) first, each C(src) and C(dest).
      type: list
      elements: dict
    stub_sources_list:
      description: Whether C(/etc/apt/sources.list) is replaced by the C(stub) comment.
      type: bool
    disable:
      description: The distribution's own deb822 files removed (a copy kept).
      type: list
      elements: str
    kept_names:
      description: The file names of kept copies in C(disabled_dir).
      type: list
      elements: str
    kept_to_original:
      description: Each kept copy's file name and the path it goes back to.
      type: dict
    status:
      description: The fact C(distro_mirror_status) - C(state), C(mirror), C(path), C(kept_in).
      type: dict
"""
