# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action ml_python_plan: the role ml_python's one planning step, on the controller."""

from __future__ import annotations

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _ml_plan
from ansible_collections.homelab.nvidia_gpu.plugins.modules import ml_python_plan as _doc
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._role_plan import RolePlanAction


def _refused(plan: dict, task_vars: dict) -> dict:
    if plan["refused"]:
        raise ValueError(f"{task_vars.get('inventory_hostname', '')}: {plan['refused']}")
    return plan


class ActionModule(RolePlanAction):
    DOC = _doc.DOCUMENTATION

    def plan(self, args: dict, task_vars: dict) -> dict:
        choices = {key: value for key, value in args.items() if key != "gpu_plan"}
        plan = _refused(_ml_plan.python_role_plan(args["gpu_plan"], choices), task_vars)
        return {**plan, "ansible_facts": {"ml_python_plan": plan}}
