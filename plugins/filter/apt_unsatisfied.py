# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: apt_unsatisfied
short_description: The package specs that C(apt state=present) would still act on, from C(dpkg-query) output
version_added: 0.1.0
author:
  - homelab.nvidia_gpu maintainers (@homelab)
description:
  - Reads the output of C(dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Version}\n' -- P1 P2 ...) and
    returns the specs of O(specs) it does not satisfy, in their order. A role asks dpkg once and calls the
    C(apt) module only when this list is not empty - the apt module opens apt's whole cache on every call,
    which costs seconds for packages that are already there.
  - A spec is C(name) (any installed version satisfies it), C(name=version) or C(name=glob) such as
    C(cuda-drivers=580.*), matched as the apt module matches it. Config-files-only, half-installed and
    reinstall-required packages are not installed. A spec it does not understand is returned, so apt decides.
  - The same plugin file has C(apt_dpkg_query_argv) - the C(dpkg-query) command line for a list of package
    names, in the format this filter reads, so no task spells the format - and C(apt_dpkg_status(packages)) -
    C({package - status}) from the same output, the status being dpkg's abbreviation and the version
    (C(hi 1.18.1-1) - held, installed) or empty when dpkg has no such package.
  - Pure Python in C(plugins/module_utils/_files/_apt_policy.py).
options:
  _input:
    description: The standard output of C(dpkg-query) in the format above.
    type: str
    required: true
  specs:
    description: The package specs the C(apt) task installs.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: What dpkg has of the wanted packages is read
  ansible.builtin.command:
    argv: "{{ ['gpg', 'pciutils'] | homelab.nvidia_gpu.apt_dpkg_query_argv }}"
  register: __dpkg
  changed_when: false
  failed_when: __dpkg.rc > 1  # 1: some package is unknown to dpkg
  check_mode: false

- name: The packages are installed
  ansible.builtin.apt:
    name: [gpg, pciutils]
    state: present
  when: __dpkg.stdout | homelab.nvidia_gpu.apt_unsatisfied(['gpg', 'pciutils']) | length > 0
"""

RETURN = r"""
_value:
  description: The specs of O(specs) that dpkg's output does not satisfy.
  type: list
  elements: str
"""

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _shapes, _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _apt_policy
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._filter_errors import safe_filter, safe_filters


@safe_filter
def apt_unsatisfied(text, specs) -> list:
    if not isinstance(text, str):
        raise _values.ValueProblem(f"the input must be dpkg-query's output, not {_values._shown(text)}")
    if specs is None:
        raise _values.ValueProblem("specs must be the list of package specs the apt task installs, not None")
    return _apt_policy.unsatisfied(_shapes.text(text, "the input"), _values.string_list(specs, "specs"))


@safe_filter
def apt_dpkg_query_argv(packages) -> list:
    return _apt_policy.dpkg_query_argv(_values.string_list(packages, "packages"))


@safe_filter
def apt_dpkg_status(text, packages) -> dict:
    if not isinstance(text, str):
        raise _values.ValueProblem(f"the input must be dpkg-query's output, not {_values._shown(text)}")
    return _apt_policy.status(_shapes.text(text, "the input"), _values.string_list(packages, "packages"))


class FilterModule:
    def filters(self):
        return safe_filters({"apt_unsatisfied": apt_unsatisfied, "apt_dpkg_query_argv": apt_dpkg_query_argv,
                             "apt_dpkg_status": apt_dpkg_status})
