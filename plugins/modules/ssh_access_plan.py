#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ssh_access_plan
short_description: Everything the ssh_access role does on a host, decided once on the controller
version_added: 0.3.0
description:
  - The planning step of the role homelab.nvidia_gpu.ssh_access. It runs on the controller (an action plugin,
    nothing is sent to the host) over the pure rules in C(plugins/module_utils/_roles/_ssh_access.py).
  - From the role's variables and what the role's tasks read on the host (the passwd database, each user's home,
    C(~/.ssh) and C(authorized_keys) looked at without following links, their authorized_keys files, the connecting
    user's groups, the drop-in as it is, C(sshd -T), C(ssh.socket)'s state) it decides every user's
    C(authorized_keys) text, the keys-only sshd drop-in and, when the port moves, the first step's drop-in that
    listens on both ports, the C(sshd -t -f) validation, the controller's key-only C(ssh) that proves the login,
    which unit to reload and the settings C(sshd -T) must show afterwards.
  - Refuses with one sentence (the host's name first, C(Nothing was changed.) last) - a port out of 1-65535 or a
    boolean, C(ssh_access_probe=required) without SSH, a user that does not exist, a C(~/.ssh) or C(authorized_keys)
    that is a link, another user's or a hard link, a key that is not a public key, an extra option that overrides
    the policy, and a plan that would shut out the connecting user (no key, C(AllowUsers), C(AllowGroups)).
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - homelab.nvidia_gpu.attributes.controller_action
attributes:
  check_mode:
    support: full
    details: Plans the same way; in check mode no key login is proven on a port that does not listen yet.
options:
  port:
    description: C(ssh_access_port), checked here (1-65535, never a boolean).
    type: raw
    default: 22
  initial_ports:
    description: C(ssh_access_initial_ports), checked here.
    type: raw
    default: [22]
  exclusive:
    description: C(ssh_access_exclusive); the string C(false) is false.
    type: raw
    default: false
  probe:
    description: C(ssh_access_probe) - auto, required or skip.
    type: raw
    default: auto
  permit_root_login:
    description: C(ssh_access_permit_root_login).
    type: str
    default: prohibit-password
  allow_groups:
    description: C(ssh_access_allow_groups).
    type: raw
    default: []
  allow_users:
    description: C(ssh_access_allow_users).
    type: raw
    default: []
  extra_options:
    description: C(ssh_access_extra_options).
    type: raw
    default: {}
  authorized_keys:
    description: C(ssh_access_authorized_keys) - user name to a list of public keys.
    type: raw
    default: {}
  connecting_user:
    description: C(ssh_access_connecting_user), the user this play connects as.
    type: str
    required: true
  address:
    description: C(ssh_access_address), where the controller reaches the host.
    type: str
    default: ""
  over_ssh:
    description: Whether this play reaches the host over SSH (its connection plugin).
    type: raw
    default: true
  reached_port:
    description: Over SSH, the port found to answer from the controller (C(ansible_port) after the search).
    type: raw
    default: 22
  key_file:
    description: The play's private key (C(ansible_ssh_private_key_file)), for the proof.
    type: str
    default: ""
  common_args:
    description: C(ansible_ssh_common_args), for the proof.
    type: str
    default: ""
  extra_args:
    description: C(ansible_ssh_extra_args), for the proof.
    type: str
    default: ""
  passwd:
    description: C(ansible_facts.getent_passwd).
    type: dict
    default: {}
  path_stats:
    description:
      - The results of C(ansible.builtin.stat) looped over C([user, part]), part C(""), C(/.ssh) or
        C(/.ssh/authorized_keys).
    type: list
    elements: raw
    default: []
  key_files:
    description:
      - The results of P(homelab.nvidia_gpu.user_file#module) reading C(.ssh/authorized_keys), looped over the users
        (failures let through - the plan refuses them with their sentence).
    type: list
    elements: raw
    default: []
  groups:
    description: What C(id -Gn) says of the connecting user.
    type: str
    default: ""
  dropin_before:
    description: The C(ansible.builtin.slurp) result of the drop-in (no C(content) when there is no file).
    type: raw
    default: {}
  sshd_config:
    description: What C(sshd -T) prints now (empty before sshd is installed).
    type: str
    default: ""
  socket:
    description: What C(systemctl is-active ssh.socket) prints.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: SSH access plan is made
  homelab.nvidia_gpu.ssh_access_plan:
    port: 2222
    connecting_user: pi
    authorized_keys:
      pi: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFBhEXFaqytRdHiZj9gYySDbaoODO6Z1e4HcdY29p6tz pi@laptop"]
    reached_port: 22
    passwd: "{{ ansible_facts.getent_passwd }}"
    key_files: "{{ keys_read.results }}"
  register: ssh_plan

- name: The keys-only drop-in is written, checked by sshd first
  ansible.builtin.copy:
    dest: "{{ ssh_plan.plan.dropin_path }}"
    content: "{{ (ssh_plan.plan.steps | last).text }}"
    mode: "0644"
    validate: "{{ ssh_plan.plan.validate }}"
"""

RETURN = r"""
plan:
  description: What the role's tasks act on.
  returned: success
  type: dict
  contains:
    packages:
      description: The packages to install (openssh-server).
      type: list
      elements: str
    over_ssh:
      description: Whether the play reaches the host over SSH.
      type: bool
    port:
      description: The port sshd listens on afterwards.
      type: int
    current_port:
      description: The port the play reaches the host on now.
      type: int
    moves:
      description: Whether the port moves (two steps).
      type: bool
    files:
      description: User to C(content), C(added), C(removed), C(usable), C(before) (the text now), C(existed).
      type: dict
    dropin_path:
      description: The drop-in's path.
      type: str
    dropin_before:
      description: The drop-in's text before this run (null without a file).
      type: str
    validate:
      description: The copy module's validate command (C(sshd -t -f %s)).
      type: str
    check_argv:
      description: C(sshd -t) of the whole config.
      type: list
      elements: str
    settings_argv:
      description: C(sshd -T).
      type: list
      elements: str
    steps:
      description:
        - The drop-in steps in order - C(name), C(text) (the drop-in to write; empty - nothing is written), C(previous)
          (the text a refused step puts back; null - the file is removed) and C(prove) (which key login proves the
          step from the controller; empty - none, as in check mode or with C(ssh_access_probe=skip)).
        - A move - both ports, then keys only on the new port; else the proof with sshd as it is, then keys only.
      type: list
      elements: dict
    probe_argv:
      description: The controller's key-only ssh.
      type: list
      elements: str
    probe_retries:
      description: How often the proof is tried again, 2 seconds apart (after a move, while sshd re-binds).
      type: int
    status:
      description:
        - The fact C(ssh_access_status) - C(port), C(moved_from) (null without a move), C(users) (whose files the
          role wrote) and C(key_login) (C(proven), or C(not proven) and why - check mode, C(ssh_access_probe=skip),
          not over SSH).
      type: dict
    reload:
      description: The unit to reload (C(name), C(state), C(daemon_reload)).
      type: dict
    ports_after:
      description: The ports to find listening (C(started)) and, after a move, closed (C(stopped)) at the end.
      type: list
      elements: dict
    expected_settings:
      description: What C(sshd -T) must show afterwards (keyword to values).
      type: dict
    summary:
      description: One sentence of what the role does.
      type: str
"""
