# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action ml_jupyter_plan: the role ml_jupyter's one planning step, on the controller."""

from __future__ import annotations

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _ml_jupyter
from ansible_collections.homelab.nvidia_gpu.plugins.modules import ml_jupyter_plan as _doc
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._role_plan import RolePlanAction


def _refused(plan: dict, task_vars: dict) -> dict:
    if plan["refused"]:
        raise ValueError(f"{task_vars.get('inventory_hostname', '')}: {plan['refused']}")
    return plan


class ActionModule(RolePlanAction):
    DOC = _doc.DOCUMENTATION
    NO_LOG = ("token", "password_hash")

    def plan(self, args: dict, task_vars: dict) -> dict:
        return _refused(_ml_jupyter.role_plan(args, bool(self._play_context.check_mode)), task_vars)
