# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action cuda_toolkit_plan: the role cuda_toolkit's one planning step, on the controller (doc: modules/)."""

from __future__ import annotations

import yaml
from ansible.plugins.action import ActionBase
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _ml_plan
from ansible_collections.homelab.nvidia_gpu.plugins.modules import cuda_toolkit_plan as _doc

_SPEC_KEYS = ("type", "elements", "default", "required", "choices", "no_log")


def argument_spec() -> dict:
    """The doc stub's options as an argument spec (one place for both)."""
    options = yaml.safe_load(_doc.DOCUMENTATION)["options"]
    return {name: {k: v for k, v in option.items() if k in _SPEC_KEYS} for name, option in options.items()}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=argument_spec())
        choices = {"toolkit_source": args["source"], "toolkit_version": args["version"], "cudnn": args["cudnn"],
                   "check_build": args["check_build"], "check_dir": args["check_dir"],
                   "profile_script": args["profile_script"], "ld_conf": args["ld_conf"], "release": args["release"],
                   "apt_names": args["apt_names"]}
        try:
            plan = _ml_plan.toolkit_role_plan(args["gpu_plan"], choices, bool(self._play_context.check_mode))
        except (ValueError, TypeError) as exc:
            return dict(result, failed=True, msg=str(exc))
        if plan["refused"]:
            host = (task_vars or {}).get("inventory_hostname", "")
            return dict(result, failed=True, msg=f"{host}: {plan['refused']}")
        result.update(changed=False, plan=plan, ansible_facts={"cuda_toolkit_plan": plan})
        return result
