#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: apt_packages
short_description: Debian packages present at exact versions, held, or absent - asking dpkg first, apt only when needed
version_added: 0.3.0
description:
  - The one package step of every role in this collection. It asks dpkg once (C(dpkg-query)) what it has of the
    named packages and compares that with the specs; only when something is missing, at another version, not held
    or still installed does it run C(apt-get). A run that has nothing to do opens no apt cache, so it costs one
    C(dpkg-query).
  - A spec is C(name), C(name=version) or C(name=glob) (such as C(cuda-drivers=580.*)). A glob is resolved to the
    newest version apt knows that matches it (C(apt-cache policy)), as M(ansible.builtin.apt) does.
  - Installs are unattended (C(DEBIAN_FRONTEND=noninteractive), existing configuration files kept, C(--force-confold)).
    A failed C(apt-get) fails the module with its last lines of output.
  - Pure rules in C(plugins/module_utils/_files/_apt_policy.py).
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Says what it would install, remove or hold (RV(unsatisfied), RV(held)) and changes nothing.
  diff_mode:
    support: full
    details: The named packages and their versions before and after.
  platform:
    platforms: debian
options:
  packages:
    description: The package specs, C(name), C(name=version) or C(name=glob).
    type: list
    elements: str
    required: true
  state:
    description:
      - C(present) installs what dpkg does not satisfy.
      - C(absent) removes the named packages that are installed (with O(purge), their configuration files too).
    type: str
    choices: [present, absent]
    default: present
  purge:
    description: With O(state=absent), purge instead of remove.
    type: bool
    default: false
  update_cache:
    description: Run C(apt-get update) first - only when something is to be installed.
    type: bool
    default: false
  install_recommends:
    description: Install the packages' Recommends too.
    type: bool
    default: false
  allow_downgrade:
    description: Allow an install to go to an older version than the installed one.
    type: bool
    default: false
  allow_change_held_packages:
    description: Allow installing or removing a package that is held.
    type: bool
    default: false
  hold:
    description:
      - V(true) holds every named package once installed (C(apt-mark hold)), so that no upgrade moves it.
      - V(false) releases the holds of the named packages (C(apt-mark unhold)).
      - Not set, holds are left as they are.
    type: bool
notes:
  - Pure rules are unit-tested against the real C(dpkg-query) and C(apt-get --simulate) of the test machine.
seealso:
  - module: ansible.builtin.apt
"""

EXAMPLES = r"""
- name: The build tools are installed
  homelab.nvidia_gpu.apt_packages:
    packages: [build-essential, cmake, git]
    update_cache: true

- name: The driver's branch is installed and held
  homelab.nvidia_gpu.apt_packages:
    packages: ["cuda-drivers=580.*"]
    hold: true
    update_cache: true

- name: A stale pinning package is purged
  homelab.nvidia_gpu.apt_packages:
    packages: [cuda-drivers-575]
    state: absent
    purge: true
"""

RETURN = r"""
unsatisfied:
  description: The specs dpkg did not satisfy before the run - what it installed, or would install in check mode.
  returned: always
  type: list
  elements: str
  sample: ["cmake"]
removed:
  description: The names it removed (O(state=absent)), or would remove in check mode.
  returned: always
  type: list
  elements: str
held:
  description: The names it newly held (O(hold=true)), or would hold in check mode.
  returned: always
  type: list
  elements: str
unheld:
  description: The names whose hold it released (O(hold=false)), or would release in check mode.
  returned: always
  type: list
  elements: str
versions:
  description: The installed version of each named package after the run (before it in check mode); empty when none.
  returned: always
  type: dict
  sample: {"cmake": "3.25.1-1", "git": "1:2.39.5-0+deb12u2"}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _apt_policy as policy

_ENV = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C.UTF-8", "NEEDRESTART_MODE": "a"}


class _Apt:
    def __init__(self, module: AnsibleModule):
        self.module = module

    def run(self, argv: list[str], what: str, ok_rcs=(0,)) -> str:
        rc, out, err = self.module.run_command(argv, environ_update=_ENV)
        if rc not in ok_rcs:
            tail = "\n".join((err or out or "").strip().splitlines()[-12:])
            self.module.fail_json(msg=f"{what} failed (exit {rc}): {tail}", rc=rc, cmd=argv, stdout=out, stderr=err)
        return out

    def dpkg(self, names: list[str]) -> str:
        return self.run(policy.dpkg_query_argv(names), "dpkg-query", ok_rcs=(0, 1))  # 1: a name dpkg does not know


def _versions(dpkg_text: str, names: list[str]) -> dict[str, str]:
    installed = policy.installed_versions(dpkg_text)
    return {name: (installed.get(name) or [""])[0] for name in names}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            packages=dict(type="list", elements="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            purge=dict(type="bool", default=False),
            update_cache=dict(type="bool", default=False),
            install_recommends=dict(type="bool", default=False),
            allow_downgrade=dict(type="bool", default=False),
            allow_change_held_packages=dict(type="bool", default=False),
            hold=dict(type="bool"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    specs = [str(spec).strip() for spec in params["packages"]]
    if not specs:
        module.fail_json(msg="packages is empty: name at least one package")
    try:
        names = list(dict.fromkeys(policy.split_spec(spec)[0] for spec in specs))
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    apt = _Apt(module)
    before_text = apt.dpkg(names)
    todo = policy.package_actions(before_text, specs, params["state"], params["hold"], params["purge"])
    before = _versions(before_text, names)
    result = dict(changed=any(todo.values()), unsatisfied=todo["install"], removed=todo["remove"],
                  held=todo["hold"], unheld=todo["unhold"], versions=before)
    if module._diff:
        result["diff"] = dict(before="".join(f"{n} {v or '(not installed)'}\n" for n, v in before.items()))
    if not result["changed"] or module.check_mode:
        if module._diff:
            after = {n: ("(removed)" if n in todo["remove"] else v) for n, v in before.items()}
            after.update({policy.split_spec(s)[0]: f"(installs {s})" for s in todo["install"]})
            result["diff"]["after"] = "".join(f"{n} {v or '(not installed)'}\n" for n, v in after.items())
        module.exit_json(**result)

    options = dict(allow_change_held_packages=params["allow_change_held_packages"])
    if todo["install"]:
        if params["update_cache"]:
            apt.run(["apt-get", "update", "-q", "-o", "DPkg::Lock::Timeout=300"], "apt-get update")
        wanted = [policy.split_spec(spec)[0] for spec in todo["install"]]
        known = apt.run(["apt-cache", "policy", "--", *wanted], "apt-cache policy")
        try:
            exact = policy.resolve_versions(todo["install"], known)
        except ValueError as exc:
            module.fail_json(msg=str(exc))
        apt.run(policy.apt_get_argv("install", exact, install_recommends=params["install_recommends"],
                                    allow_downgrade=params["allow_downgrade"], **options), "apt-get install")
    if todo["remove"]:
        action = "purge" if params["purge"] else "remove"
        apt.run(policy.apt_get_argv(action, todo["remove"], **options), f"apt-get {action}")
    if todo["unhold"]:
        apt.run(["apt-mark", "unhold", "--", *todo["unhold"]], "apt-mark unhold")
    after_text = apt.dpkg(names)
    if params["hold"] is True and params["state"] == "present":
        # apt-get drops the hold of a held package it moves: hold again whatever is not held now.
        unheld = policy.package_actions(after_text, specs, hold=True)["hold"]
        if unheld:
            apt.run(["apt-mark", "hold", "--", *unheld], "apt-mark hold")
            result["held"] = sorted(set(result["held"]) | set(unheld))
            after_text = apt.dpkg(names)
    left = policy.unsatisfied(after_text, specs) if params["state"] == "present" else []
    if left:
        module.fail_json(msg=f"apt-get ran, but dpkg still does not satisfy {', '.join(left)}", **result)
    result["versions"] = _versions(after_text, names)
    if module._diff:
        result["diff"]["after"] = "".join(f"{n} {v or '(not installed)'}\n" for n, v in result["versions"].items())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
