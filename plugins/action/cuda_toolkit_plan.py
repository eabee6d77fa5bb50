# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action cuda_toolkit_plan: the role cuda_toolkit's one planning step, on the controller."""

from __future__ import annotations

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _ml_plan
from ansible_collections.homelab.nvidia_gpu.plugins.modules import cuda_toolkit_plan as _doc
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._role_plan import RolePlanAction


def _refused(plan: dict, task_vars: dict) -> dict:
    if plan["refused"]:
        raise ValueError(f"{task_vars.get('inventory_hostname', '')}: {plan['refused']}")
    return plan


class ActionModule(RolePlanAction):
    DOC = _doc.DOCUMENTATION

    def plan(self, args: dict, task_vars: dict) -> dict:
        choices = {"toolkit_source": args["source"], "toolkit_version": args["version"], "cudnn": args["cudnn"],
                   "check_build": args["check_build"], "check_dir": args["check_dir"],
                   "profile_script": args["profile_script"], "ld_conf": args["ld_conf"], "release": args["release"],
                   "apt_names": args["apt_names"]}
        plan = _refused(_ml_plan.toolkit_role_plan(args["gpu_plan"], choices, bool(self._play_context.check_mode)),
                        task_vars)
        return {**plan, "ansible_facts": {"cuda_toolkit_plan": plan}}
