# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action homelab.nvidia_gpu.kernel_headers_plan: the kernel_headers role's plan, on the controller."""

from __future__ import annotations

from ansible import constants as C
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _kernel_headers
from ansible_collections.homelab.nvidia_gpu.plugins.modules import kernel_headers_plan as doc
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._role_plan import RolePlanAction


class ActionModule(RolePlanAction):
    DOC = doc.DOCUMENTATION

    def plan(self, args: dict, task_vars: dict) -> dict:
        facts = {"distribution": args.pop("distribution"), "distribution_release": args.pop("distribution_release")}
        host = _kernel_headers.observed(args.pop("host_state"))
        return _kernel_headers.role_plan(args, facts, host, bool(self._play_context.check_mode),
                                         str(C.config.get_config_value("DEFAULT_MANAGED_STR")))
