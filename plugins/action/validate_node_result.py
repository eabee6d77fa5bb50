# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action validate_node_result: the fact validate_node of one GPU node (doc: modules/)."""

from __future__ import annotations

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible_collections.homelab.nvidia_gpu.plugins.filter.validate_checks import validate_node_result
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _validate_checks
from ansible_collections.homelab.nvidia_gpu.plugins.modules import validate_node_result as _doc
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._role_plan import argument_spec


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=argument_spec(_doc.DOCUMENTATION))[1]
        host = (task_vars or {}).get("inventory_hostname", "")
        try:  # the filters check each registered result's shape, in a sentence
            done = _validate_checks.check_results(args["plan"], args["runs"])
            node = validate_node_result(done, args["gpu_present"], args["smi_query"] or {}, args["smi"] or {},
                                        args["modinfo"], args["smi_installed"], args["simulated"], host)
        except AnsibleError as exc:
            return dict(result, failed=True, msg=exc.message)
        except (ValueError, TypeError) as exc:
            return dict(result, failed=True, msg=f"the checks' results cannot be read: {exc}")
        result.update(changed=False, ansible_facts={"validate_node": node})
        return result
