# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action upgrade_driver_summary: the run's summary from the play's hostvars (doc: modules/)."""

from __future__ import annotations

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible_collections.homelab.nvidia_gpu.plugins.filter.upgrade_driver import upgrade_driver_summary
from ansible_collections.homelab.nvidia_gpu.plugins.modules import upgrade_driver_summary as _doc
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._role_plan import argument_spec


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self.validate_argument_spec(argument_spec=argument_spec(_doc.DOCUMENTATION))[1]
        hosts = args["hosts"] if args["hosts"] is not None else task_vars.get("ansible_play_hosts_all", [])
        try:  # the filter checks each host's upgrade_driver_result and what was asked
            summary = upgrade_driver_summary(task_vars.get("hostvars", {}), hosts, args["branch"], args["version"],
                                             args["allow_skips"])
        except AnsibleError as exc:
            return dict(result, failed=True, msg=exc.message)
        # "failed" in an action's result fails the task: a node's failure is reported as node_failed instead.
        node_failed = summary.pop("failed")
        result.update(summary, node_failed=node_failed, changed=False)
        return result
