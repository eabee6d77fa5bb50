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
  - Pure Python in C(plugins/module_utils/_ssh_access.py).
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

from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils import _ssh_access


def ssh_access_plan(choices) -> dict:
    if not isinstance(choices, dict):
        raise AnsibleFilterError("ssh_access_plan: the input must be a dict of choices")
    try:
        return _ssh_access.access_plan(choices)
    except _ssh_access.SshAccessError as exc:
        raise AnsibleFilterError(f"ssh_access_plan: {exc}") from exc


def ssh_access_probe_argv(conn) -> list:
    if not isinstance(conn, dict):
        raise AnsibleFilterError("ssh_access_probe_argv: the input must be a dict (host, port, user, key_file, ...)")
    try:
        return _ssh_access.probe_argv(conn)
    except _ssh_access.SshAccessError as exc:
        raise AnsibleFilterError(f"ssh_access_probe_argv: {exc}") from exc


def sshd_settings(text) -> dict:
    return _ssh_access.effective_settings(text)


class FilterModule:
    def filters(self):
        return {"ssh_access_plan": ssh_access_plan, "ssh_access_probe_argv": ssh_access_probe_argv,
                "sshd_settings": sshd_settings}
