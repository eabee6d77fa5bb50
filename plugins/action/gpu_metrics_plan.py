# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action gpu_metrics_plan: the role gpu_metrics's one planning step, on the controller (doc: modules/)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _gpu_metrics
from ansible_collections.homelab.nvidia_gpu.plugins.modules import gpu_metrics_plan as _doc
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._role_plan import argument_spec as _spec
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._role_plan import role_file_text


def argument_spec() -> dict:
    """The doc stub's options as an argument spec (one place for both)."""
    return _spec(_doc.DOCUMENTATION)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        validation, args = self.validate_argument_spec(argument_spec=argument_spec())
        del validation
        options = {k: v for k, v in args.items() if k != "gpu_plan"}
        groups = task_vars.get("groups") or {}
        try:
            plan = _gpu_metrics.role_plan(options, args["gpu_plan"], task_vars.get("hostvars"),
                                          groups.get("prometheus_servers") or [],
                                          task_vars.get("inventory_hostname", ""))
            collect_py = role_file_text("gpu_metrics", "collect.py")
            plan["collector"]["file_set"] = _gpu_metrics.collector_file_set(plan["collector"], collect_py)
        except (ValueError, TypeError) as exc:
            return dict(result, failed=True, msg=str(exc))
        result.update(changed=False, plan=plan)
        if plan["warnings"]:
            result["warnings"] = list(plan["warnings"])
        if plan["endpoint"] is not None:
            result["ansible_facts"] = {"gpu_metrics_node_exporter_endpoint": plan["endpoint"]}
        return result
