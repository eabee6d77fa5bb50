# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: ssh_access_plan
short_description: SSH keys only on a chosen port - the authorized_keys files, the sshd drop-ins, the refusal
version_added: 0.1.0
author:
  - homelab.nvidia_gpu maintainers (@homelab)
description:
  - Every user's C(authorized_keys) content (the keys given only, or the file as it is plus the keys it lacks), the
    keys-only sshd drop-in for the wanted port, and, when the port moves, the first step's drop-in that listens on
    the old and the new port without touching the login policy.
  - C(refused) is a sentence when the connecting user would have no key afterwards, or C(AllowUsers) /
    C(AllowGroups) would leave that user out. A key that is not a public key, a port out of range or an extra
    option that would override the policy is an error naming it.
  - >-
    Two more filters in this file - C(ssh_access_probe_argv) (a dict of C(host), C(port), C(user), C(key_file),
    C(common_args), C(extra_args), C(timeout) to the controller's C(ssh) argv that proves a key-only login -
    batch mode, publickey only, the play's own key and ssh args, C(StrictHostKeyChecking=accept-new) unless the
    play's args say otherwise) and C(sshd_settings) (the text of C(sshd -T) to keyword - list of values, lower
    case; C(without-password) given back as C(prohibit-password)).
  - >-
    C(ssh_access_values) checks the role's scalar variables where they enter (C(port), C(initial_ports),
    C(inventory_port), C(exclusive), C(probe): ports 1-65535 and never a boolean, C("false") read as false) and gives
    the ports to search; C(ssh_access_unsafe_paths) (a dict of user - uid, and the C(ansible.builtin.stat) results
    of each user's home, C(~/.ssh) and C(~/.ssh/authorized_keys)) is the sentence that refuses to work as root in a
    path the user controls (a symbolic link, another owner, a hard link), or an empty string.
  - Every error is an C(AnsibleFilterError) with a sentence that names the variable, never a raw Python error.
  - Pure Python in C(plugins/module_utils/_roles/_ssh_access.py).
options:
  _input:
    description:
      - C(port), C(current_port), C(connecting_user), C(connecting_user_groups), C(keys) (user -> list of public
        keys), C(existing_keys) (user -> text of their file now), C(exclusive), C(permit_root_login),
        C(allow_groups), C(allow_users), C(extra_options).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: The host's SSH access plan is known
  ansible.builtin.set_fact:
    access: >-
      {{ {'port': 2222, 'current_port': 22, 'connecting_user': 'pi',
          'keys': {'pi': [lookup('ansible.builtin.file', 'files/pi.pub')]}} | homelab.nvidia_gpu.ssh_access_plan }}
"""

RETURN = r"""
_value:
  description: C(port), C(current_port), C(moves), C(keys), C(files), C(listen_dropin), C(dropin), C(refused).
  type: dict
"""

from collections.abc import Mapping

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _ssh_access
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._filter_errors import safe_filters


def ssh_access_plan(choices) -> dict:
    if not isinstance(choices, Mapping):
        raise _ssh_access.SshAccessError("the input must be a dict of choices")
    return _ssh_access.access_plan(choices)


def ssh_access_probe_argv(conn) -> list:
    if not isinstance(conn, Mapping):
        raise _ssh_access.SshAccessError("the input must be a dict (host, port, user, key_file, ...)")
    return _ssh_access.probe_argv(conn)


def sshd_settings(text) -> dict:
    return _ssh_access.effective_settings(text)


def ssh_access_values(given) -> dict:
    return _ssh_access.checked_values(given)


def ssh_access_unsafe_paths(given) -> str:
    if not isinstance(given, Mapping):
        raise _ssh_access.SshAccessError("the input must be a dict of uids and stats")
    return _ssh_access.unsafe_paths(given.get("uids"), given.get("stats"))


class FilterModule:
    def filters(self):
        return safe_filters({"ssh_access_plan": ssh_access_plan, "ssh_access_probe_argv": ssh_access_probe_argv,
                             "sshd_settings": sshd_settings, "ssh_access_values": ssh_access_values,
                             "ssh_access_unsafe_paths": ssh_access_unsafe_paths})
