# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: ml_jupyter_plan
short_description: JupyterLab's service for a shared environment - source, bind address, guarded config
version_added: 0.1.0
author:
  - homelab.nvidia_gpu maintainers (@homelab)
description:
  - The source (Debian's C(jupyterlab) where the release ships it, trixie; pip into its own environment elsewhere),
    the C(jupyter-lab) to run, the URL it answers on, who can reach it, and the server's config (C(ServerApp),
    C(IdentityProvider.token), C(PasswordIdentityProvider.hashed_password)), secrets included - pass the result
    with C(no_log).
  - C(refused) is a sentence when the server would be open (no token and no password hash), the token is shorter
    than 24 URL-safe characters, the hash is not one C(jupyter_server.auth.passwd()) writes, or Debian's source is
    asked for on a release without the package.
  - Pure Python in C(plugins/module_utils/_roles/_ml_jupyter.py).
options:
  _input:
    description:
      - C(source) (V(auto), V(debian), V(pip)), C(release) (the Debian codename), C(address) (an IP address),
        C(port), C(token), C(password_hash), C(root_dir), C(venv) (the pip source's environment).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: JupyterLab's plan is known
  ansible.builtin.set_fact:
    jupyter: "{{ {'release': 'trixie', 'token': vault_jupyter_token} | homelab.nvidia_gpu.ml_jupyter_plan }}"
  no_log: true
"""

RETURN = r"""
_value:
  description: C(source), C(packages), C(jupyter_lab), C(config), C(url), C(reach), C(auth), C(refused).
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _ml_jupyter
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._filter_errors import safe_filter, safe_filters


@safe_filter
def ml_jupyter_plan(choices) -> dict:
    if not isinstance(choices, dict):
        raise AnsibleFilterError("ml_jupyter_plan: the input must be a dict of choices")
    try:
        return _ml_jupyter.jupyter_plan(choices)
    except _ml_jupyter.JupyterPlanError as exc:
        raise AnsibleFilterError(f"ml_jupyter_plan: {exc}") from exc


class FilterModule:
    def filters(self):
        return safe_filters({"ml_jupyter_plan": ml_jupyter_plan})
