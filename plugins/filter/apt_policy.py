# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: apt_policy
short_description: Read the output of C(apt-cache policy P1 P2 ...) as data
version_added: 0.1.0
author:
  - homelab.nvidia_gpu maintainers (@homelab)
description:
  - Returns C({package - {installed, candidate, versions}}) - the installed version (empty when none), apt's
    candidate (after pins and priorities; V((none)) when apt has none) and every version the sources know, for
    each package in the output and each name in O(packages) (unknown ones with no version).
  - The same plugin file has C(apt_upstream_version) - the upstream part of a Debian version, without epoch and
    Debian revision - and C(apt_missing(packages)) - the names of O(packages) apt has no candidate for, in their
    order. Pure Python in C(plugins/module_utils/_files/_apt_policy.py).
options:
  _input:
    description: The standard output of C(apt-cache policy).
    type: str
    required: true
  packages:
    description: Names that must be in the result.
    type: list
    elements: str
    default: []
  field:
    description: Return only this field per package (C({package - value})), for example V(candidate).
    type: str
    choices: [installed, candidate, versions]
"""

EXAMPLES = r"""
- name: Apt's view of the toolkit packages is read
  ansible.builtin.command:
    argv: [apt-cache, policy, --, nvidia-container-toolkit, libnvidia-container1]
  register: __policy
  changed_when: false

- name: Candidate of the toolkit
  ansible.builtin.debug:
    msg: "{{ (__policy.stdout | homelab.nvidia_gpu.apt_policy)['nvidia-container-toolkit'].candidate }}"
"""

RETURN = r"""
_value:
  description: Per package C(installed) (str), C(candidate) (str) and C(versions) (list of str, apt's order).
  type: dict
"""

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _shapes, _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _apt_policy
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._filter_errors import safe_filter, safe_filters


@safe_filter
def apt_policy(text, packages=None, field=None) -> dict:
    if not isinstance(text, str):
        raise _values.ValueProblem(f"the input must be apt-cache policy's output, not {_values._shown(text)}")
    if field not in (None, "installed", "candidate", "versions"):
        raise _values.ValueProblem(f"field must be installed, candidate or versions, not {_values._shown(field)}")
    parsed = _apt_policy.parse(_shapes.text(text, "the input"), _values.string_list(packages, "packages"))
    return {name: entry[field] for name, entry in parsed.items()} if field else parsed


@safe_filter
def apt_missing(text, packages) -> list:
    packages = _values.string_list(packages, "packages")
    candidates = apt_policy(text, packages, "candidate")
    return [name for name in packages if candidates[name] == _apt_policy.NONE]


@safe_filter
def apt_upstream_version(version) -> str:
    return _apt_policy.upstream_version(_values.single_line("" if version is None else version, "the version",
                                                            allow_empty=True))


class FilterModule:
    def filters(self):
        return safe_filters({"apt_policy": apt_policy, "apt_upstream_version": apt_upstream_version,
                             "apt_missing": apt_missing})
