# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: nvidia_driver_reboot_reasons
short_description: The nvidia_driver role's decisions after install - reboot reasons, runtime skip, nvidia-smi facts
version_added: 0.1.0
author:
  - homelab.nvidia_gpu maintainers (@homelab)
description:
  - C(nvidia_driver_reboot_reasons) says why the running kernel cannot load the installed module (never judged
    in a container or without a GPU).
  - The same plugin file has C(nvidia_driver_runtime_skip) (why the module is not loaded and nvidia-smi not run
    here, or an empty string), C(nvidia_driver_smi_facts) (the fact C(nvidia_driver_smi) from nvidia-smi's output)
    C(nvidia_driver_in_container), C(nvidia_driver_dkms_missing) (the kernels whose registered C(dkms status)
    result does not say installed) and C(nvidia_driver_dkms_failure) (why, from the C(dkms install) results and
    the make.log tails), C(nvidia_driver_install_rollback) (from C(dpkg-query) lines before and after a failed apt
    install - what to purge, remove and install again so that dpkg is where it was) and
    C(nvidia_driver_build_failure) (the record and the message of a driver module that DKMS could not build - the
    kernel, the first compiler error of make.log, the ways out).
  - Pure Python in C(plugins/module_utils/_roles/_nvidia_driver_runtime.py).
options:
  _input:
    description: A dict of the named arguments of the function (see the module_utils file).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Reboot reasons
  ansible.builtin.set_fact:
    reasons: >-
      {{ {'container': false, 'gpu_present': true, 'headers_reboot': false, 'kernel': ansible_facts.kernel,
          'kernels': [ansible_facts.kernel], 'nouveau_loaded': false, 'loaded_version': '',
          'installed_version': '580.95.05'} | homelab.nvidia_gpu.nvidia_driver_reboot_reasons }}
"""

RETURN = r"""
_value:
  description: The reasons, one sentence each.
  type: list
  elements: str
"""

import inspect

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _shapes, _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _nvidia_driver_runtime as runtime
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._filter_errors import safe_filters

_BOOLS = ("container", "gpu_present", "headers_reboot", "nouveau_loaded", "simulated", "rebooted", "check_mode")


def _call(function, args):
    args = _shapes.mapping(args, f"{function.__name__}'s input", "a dict of its arguments")
    wanted = inspect.signature(function).parameters
    unknown = [str(key) for key in args if key not in wanted]
    missing = [key for key, p in wanted.items() if p.default is inspect.Parameter.empty and key not in args]
    if unknown or missing:
        raise _values.ValueProblem(f"{function.__name__} takes {', '.join(wanted)}; "
                                   + "; ".join(part for part in (f"unknown: {', '.join(unknown)}" if unknown else "",
                                                                 f"missing: {', '.join(missing)}" if missing else "")
                                               if part))
    return function(**{key: _values.boolean(value, key) if key in _BOOLS else value for key, value in args.items()})


class FilterModule:
    def filters(self):
        return safe_filters({
            "nvidia_driver_reboot_reasons": lambda args: _call(runtime.reboot_reasons, args),
            "nvidia_driver_runtime_skip": lambda args: _call(runtime.runtime_skip, args),
            "nvidia_driver_smi_facts": lambda args: _call(runtime.smi_facts, args),
            "nvidia_driver_in_container": lambda args: _call(runtime.in_container, args),
            "nvidia_driver_dkms_missing": runtime.dkms_missing,
            "nvidia_driver_dkms_failure": lambda args: _call(runtime.dkms_failure, args),
            "nvidia_driver_install_rollback": runtime.install_rollback,
            "nvidia_driver_build_failure": lambda args: _call(runtime.build_failure, args),
        })
