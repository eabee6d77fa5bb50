# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action homelab.nvidia_gpu.distro_mirror_plan: the distro_mirror role's plan, on the controller."""

from __future__ import annotations

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _distro_mirror
from ansible_collections.homelab.nvidia_gpu.plugins.modules import distro_mirror_plan as doc
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._role_plan import RolePlanAction


class ActionModule(RolePlanAction):
    DOC = doc.DOCUMENTATION

    def plan(self, args: dict, task_vars: dict) -> dict:
        facts = {key: args.pop(key) for key in ("distribution", "release", "architecture")}
        host = _distro_mirror.observed(args.pop("host_state"))
        return _distro_mirror.role_plan(args, facts, host, str(task_vars.get("inventory_hostname", "")))
