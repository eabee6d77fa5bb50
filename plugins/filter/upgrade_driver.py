# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: upgrade_driver_decision
short_description: What upgrade_driver.yml does on one node, decided before the node is touched
version_added: 0.1.0
author:
  - homelab.nvidia_gpu maintainers (@homelab)
description:
  - From C(apt-cache policy) of the GPU plan's driver packages, returns C({action, from, to, specs, reason}) -
    action V(upgrade) (specs are C(name=version) for every driver package), V(unchanged) (the node already has
    the target) or V(skip) (the reason says why - a runfile install, a version outside the branch, a version apt
    does not offer).
  - The target is the newest version of the branch that apt's sources know (apt's candidate is still bounded by
    the old branch's pinning package during a branch change), or exactly O(version). For Debian's own packages
    it is apt's candidate.
  - The same plugin file has C(upgrade_driver_summary(hosts, branch, version, allow_skips)) - from C(hostvars)
    (each host's fact C(upgrade_driver_result) - C({result, from, to, reason}), result V(upgraded), V(unchanged),
    V(skipped) or V(failed); a host without one was not reached) the summary C({lines, counts, failed, refused});
    C(refused) is true when the user asked for a branch or version (non-empty O(branch) or O(version) of the
    summary) and no node could take it, unless C(allow_skips); and C(upgrade_driver_failure(result)) - from
    C(ansible_failed_task.name) and C(ansible_failed_result), one line saying why the node failed (the task, its
    message, the DKMS, dpkg and apt error lines of its output).
  - Pure Python in C(plugins/module_utils/_roles/_upgrade_driver.py).
options:
  _input:
    description: The standard output of C(apt-cache policy) for the plan's driver packages.
    type: str
    required: true
  driver:
    description: The GPU plan's C(driver) (C(packages), C(dkms_package)) for the target branch.
    type: dict
    required: true
  source:
    description: The driver's source (V(cuda_repo), V(debian), V(runfile)).
    type: str
    required: true
  branch:
    description: The target branch.
    type: raw
    required: true
  version:
    description: The exact upstream version wanted (V(580.95.05)); empty for the newest of the branch.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: What the upgrade would do is decided
  ansible.builtin.set_fact:
    __decision: >-
      {{ __policy.stdout | homelab.nvidia_gpu.upgrade_driver_decision(nvidia_gpu_plan.driver, 'cuda_repo', 580) }}
"""

RETURN = r"""
_value:
  description: C(action) (upgrade, unchanged or skip), C(from) and C(to) (upstream versions), C(specs), C(reason).
  type: dict
"""

from collections.abc import Mapping

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _shapes, _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _upgrade_driver
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._filter_errors import safe_filter, safe_filters


def PACKAGE(value, name):
    return _values.word(value, name, r"[a-z0-9][a-z0-9+.:~-]*", "a package name")


@safe_filter
def upgrade_driver_decision(text, driver, source, branch, version="") -> dict:
    if not isinstance(text, str):
        raise _values.ValueProblem(f"the input must be apt-cache policy's output, not {_values._shown(text)}")
    driver = _shapes.mapping(driver, "driver (the GPU plan's driver)")
    if source not in ("cuda_repo", "debian", "runfile"):
        raise _values.ValueProblem(f"source must be cuda_repo, debian or runfile, not {_values._shown(source)}")
    branch = _values.integer(branch, "branch (a driver branch such as 580)", 1, 9999)
    packages = _values.string_list(driver.get("packages"), "driver.packages", PACKAGE)
    dkms = driver.get("dkms_package")
    if dkms not in (None, "") and (not isinstance(dkms, str) or dkms not in packages):
        raise _values.ValueProblem(f"driver.dkms_package must be one of driver.packages, not {_values._shown(dkms)}")
    driver = dict(driver, packages=packages)
    version = _values.single_line(version or "", "version (upgrade_driver_version)", allow_empty=True)
    return _upgrade_driver.decide(_shapes.text(text, "the input"), driver, source, branch, version)


@safe_filter
def upgrade_driver_summary(hostvars, hosts, branch="", version="", allow_skips=False) -> dict:
    hostvars = _shapes.mapping(hostvars, "the input (hostvars)")
    hosts = _values.string_list(hosts, "hosts")
    for host in hosts:
        entry = _shapes.mapping(hostvars.get(host), f"hostvars[{host!r}]")
        _shapes.mapping(entry.get("upgrade_driver_result"), f"{host}'s upgrade_driver_result")
    wanted = _upgrade_driver.asked(_values.single_line(branch or "", "branch", allow_empty=True),
                                   _values.single_line(version or "", "version", allow_empty=True))
    return _upgrade_driver.summary(hostvars, hosts, wanted, _values.boolean(allow_skips, "allow_skips"))


@safe_filter
def upgrade_driver_failure(task_name, result) -> str:
    # In a rescue: whatever it is given, it says why the node failed instead of failing itself.
    return _upgrade_driver.failure(_shapes.plain(task_name or ""), result if isinstance(result, Mapping) else {})


class FilterModule:
    def filters(self):
        return safe_filters({"upgrade_driver_decision": upgrade_driver_decision,
                             "upgrade_driver_summary": upgrade_driver_summary,
                             "upgrade_driver_failure": upgrade_driver_failure})
