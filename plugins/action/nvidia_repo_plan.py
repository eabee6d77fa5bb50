# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action homelab.nvidia_gpu.nvidia_repo_plan: the nvidia_repo role's plan, on the controller."""

from __future__ import annotations

from ansible import constants as C
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _nvidia_repo
from ansible_collections.homelab.nvidia_gpu.plugins.modules import nvidia_repo_plan as doc
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._role_plan import RolePlanAction


class ActionModule(RolePlanAction):
    DOC = doc.DOCUMENTATION

    def plan(self, args: dict, task_vars: dict) -> dict:
        plan = _nvidia_repo.role_plan(args, str(C.config.get_config_value("DEFAULT_MANAGED_STR")))
        return {**plan, "ansible_facts": {"nvidia_repo_cuda_tree": plan["tree"]}}
