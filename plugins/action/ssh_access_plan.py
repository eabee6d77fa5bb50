# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action homelab.nvidia_gpu.ssh_access_plan: the ssh_access role's plan, on the controller."""

from __future__ import annotations

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _ssh_access
from ansible_collections.homelab.nvidia_gpu.plugins.modules import ssh_access_plan as doc
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._role_plan import RolePlanAction


class ActionModule(RolePlanAction):
    DOC = doc.DOCUMENTATION

    def plan(self, args: dict, task_vars: dict) -> dict:
        try:
            return _ssh_access.role_plan(args, bool(self._play_context.check_mode))
        except _ssh_access.SshAccessError as exc:  # nothing has changed when the plan refuses
            host = task_vars.get("inventory_hostname", "this host")
            raise ValueError(f"{host}: {exc} Nothing was changed.") from None
