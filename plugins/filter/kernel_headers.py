# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: kernel_headers_plan
short_description: Which kernels the kernel_headers role prepares, and the headers packages of each
version_added: 0.1.0
author:
  - homelab.nvidia_gpu maintainers (@homelab)
description:
  - The named kernels, the running one, the installed-but-not-booted kernels of the running flavour and, on a
    Raspberry Pi 5 that drives a GPU, the release of its 4K-page C(kernel8.img); each with its headers packages
    (C(linux-headers-<release>), plus the flavour's metapackage for Raspberry Pi kernels, or when asked on
    Debian/Ubuntu) and the archive they come from. Pure Python in C(plugins/module_utils/_roles/_kernel_headers.py).
options:
  _input:
    description: The running kernel release (C(uname -r)).
    type: str
    required: true
  kernels:
    description: More releases to prepare.
    type: list
    elements: str
    default: []
  include_running:
    description: Prepare the running kernel.
    type: bool
    default: true
  installed_newer:
    description: Releases installed and newer than the running one (any flavour; others are dropped).
    type: list
    elements: str
    default: []
  pi5_active:
    description: The host is a Pi 5 that gets the 4K-page kernel for a GPU.
    type: bool
    default: false
  metapackage:
    description: Add the Debian/Ubuntu flavour's headers metapackage.
    type: bool
    default: false
  repos:
    description: Sentences naming the archives, keys C(distro) and C(raspberrypi).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Targets and packages
  ansible.builtin.set_fact:
    plan: "{{ ansible_facts.kernel | homelab.nvidia_gpu.kernel_headers_plan(installed_newer=['6.1.0-27-amd64']) }}"
"""

RETURN = r"""
_value:
  description: C(pending), C(targets) (releases), C(plan) (C(release), C(packages), C(repo) per target), C(pi5_release).
  type: dict
"""

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _shapes, _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _kernel_headers
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._filter_errors import safe_filter, safe_filters


@safe_filter
def kernel_headers_plan(running, kernels=(), include_running=True, installed_newer=(), pi5_active=False,
                        metapackage=False, repos=None) -> dict:
    def release(value, name):  # a kernel release: one word, a string (5 is no release)
        if not isinstance(value, str):
            raise _values.ValueProblem(f"{name} must be a kernel release such as 6.1.0-27-amd64, not {value!r}")
        return _values.word(value, name)
    repos = _shapes.mapping(repos, "repos")
    return _kernel_headers.headers_plan(
        release(running, "the running kernel (the input)"),
        _values.string_list(kernels, "kernels (kernel_headers_kernels)", release),
        _values.boolean(include_running, "include_running"),
        _values.string_list(installed_newer, "installed_newer", release), _values.boolean(pi5_active, "pi5_active"),
        _values.boolean(metapackage, "metapackage"),
        {str(k): _values.single_line(v, f"repos.{k}", allow_empty=True) for k, v in repos.items()})


class FilterModule:
    def filters(self):
        return safe_filters({"kernel_headers_plan": kernel_headers_plan})
