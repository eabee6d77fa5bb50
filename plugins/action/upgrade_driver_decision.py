# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action upgrade_driver_decision: one node's upgrade decided on the controller (doc: modules/)."""

from __future__ import annotations

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible_collections.homelab.nvidia_gpu.plugins.filter.upgrade_driver import upgrade_driver_decision
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _upgrade_driver
from ansible_collections.homelab.nvidia_gpu.plugins.modules import upgrade_driver_decision as _doc
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._role_plan import argument_spec


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=argument_spec(_doc.DOCUMENTATION))[1]
        try:  # the filter checks the plan's driver, the source, the branch and the version, each in a sentence
            decision = upgrade_driver_decision(args["policy"], args["driver"], args["source"], args["branch"],
                                               args["version"])
        except AnsibleError as exc:
            return dict(result, failed=True, msg=exc.message)
        decision.setdefault("argv", [])
        result.update(decision, changed=False, record=_upgrade_driver.record(decision))
        return result
