# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: containerd_settings
short_description: The settings the container_runtime role gives containerd's config.toml
version_added: 0.1.0
author:
  - homelab.nvidia_gpu maintainers (@homelab)
description:
  - Key names follow the file's config version (1, 2 or 3) - runc's C(runtime_type), C(SystemdCgroup) on runc and
    on every other runtime of type C(io.containerd.runc.v2) in the file (the C(nvidia) runtime included, so the
    runtime and toolkit roles reach the same file in either order), the sandbox image, the CRI plugin taken out of
    C(disabled_plugins), and the C(version) an existing empty file needs. Pure Python in
    C(plugins/module_utils/_files/_containerd_settings.py).
options:
  _input:
    description: The C(config) facts of M(homelab.nvidia_gpu.containerd_facts).
    type: dict
    required: true
  systemd_cgroup:
    description: C(SystemdCgroup) for the runc-shim runtimes.
    type: bool
    required: true
  sandbox_image:
    description: The sandbox (pause) image; empty leaves containerd's own.
    type: str
    default: ""
  cri:
    description: Switch the CRI plugin on when C(disabled_plugins) names it.
    type: bool
    default: true
  extra:
    description: The user's own settings; they win.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Containerd's config.toml is set for Kubernetes
  homelab.nvidia_gpu.containerd_config:
    settings: "{{ ansible_facts.containerd.config | homelab.nvidia_gpu.containerd_settings(true) }}"
"""

RETURN = r"""
_value:
  description: Dotted keys and values for O(homelab.nvidia_gpu.containerd_config#module:settings).
  type: dict
"""

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _shapes, _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _containerd_settings
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._filter_errors import safe_filter, safe_filters


@safe_filter
def containerd_settings(config, systemd_cgroup, sandbox_image="", cri=True, extra=None) -> dict:
    config = dict(_shapes.mapping(config, "the input (containerd's config facts)"))
    version = config.get("version")
    if isinstance(version, bool) or version not in (1, 2, 3):
        raise _values.ValueProblem(f"config facts need a config version of 1, 2 or 3, not {_values._shown(version)}")
    for key in ("runc_runtimes", "disabled_plugins"):
        if key in config:
            config[key] = _values.string_list(config[key], f"the config facts' {key}")
    return _containerd_settings.settings(
        config,
        _values.boolean(systemd_cgroup, "systemd_cgroup (container_runtime_containerd_systemd_cgroup)"),
        _values.single_line(sandbox_image or "", "sandbox_image (container_runtime_containerd_sandbox_image)",
                            allow_empty=True),
        _values.boolean(cri, "cri"), dict(_shapes.mapping(extra, "extra (container_runtime_containerd_settings)")))


class FilterModule:
    def filters(self):
        return safe_filters({"containerd_settings": containerd_settings})
