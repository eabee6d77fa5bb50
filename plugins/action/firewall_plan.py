# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action homelab.nvidia_gpu.firewall_plan: the firewall role's plan, on the controller."""

from __future__ import annotations

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _nftables
from ansible_collections.homelab.nvidia_gpu.plugins.modules import firewall_plan as doc
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._role_plan import RolePlanAction


class ActionModule(RolePlanAction):
    DOC = doc.DOCUMENTATION

    def plan(self, args: dict, task_vars: dict) -> dict:
        return _nftables.role_plan(args["name"], args["ports"], args["allow"], args["exposes"], args["state"])
