# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action ml_python_plan: the role ml_python's one planning step, on the controller (doc: modules/)."""

from __future__ import annotations

import yaml
from ansible.plugins.action import ActionBase
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _ml_plan
from ansible_collections.homelab.nvidia_gpu.plugins.modules import ml_python_plan as _doc

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
        choices = {key: value for key, value in args.items() if key != "gpu_plan"}
        try:
            plan = _ml_plan.python_role_plan(args["gpu_plan"], choices)
        except (ValueError, TypeError) as exc:
            return dict(result, failed=True, msg=str(exc))
        if plan["refused"]:
            host = (task_vars or {}).get("inventory_hostname", "")
            return dict(result, failed=True, msg=f"{host}: {plan['refused']}")
        result.update(changed=False, plan=plan, ansible_facts={"ml_python_plan": plan})
        return result
