# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action homelab.nvidia_gpu.firewall_plan: the firewall role's plan, on the controller."""

from __future__ import annotations

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _nftables
from ansible_collections.homelab.nvidia_gpu.plugins.modules import firewall_plan as doc
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._role_plan import RolePlanAction, role_file_text

ROOT = {"owner": "root", "group": "root"}


def file_set(plan: dict) -> dict:
    """The arguments of homelab.nvidia_gpu.file_set: the directories, then every file whole (the table checked)."""
    files = []
    for entry in plan["files"]:
        # the role's own files (the unit template, nftables.service's drop-in), else the rendered table
        text = role_file_text("firewall", entry["src"]) if "src" in entry else entry["content"]
        checked = {"validate": entry["validate"]} if entry.get("validate") else {}
        files.append({"path": entry["dest"], "content": text, **ROOT, **checked})
    return {"directories": [{"path": path, **ROOT} for path in plan["directories"]], "files": files}


class ActionModule(RolePlanAction):
    DOC = doc.DOCUMENTATION

    def plan(self, args: dict, task_vars: dict) -> dict:
        plan = _nftables.role_plan(args["name"], args["ports"], args["allow"], args["exposes"], args["state"])
        return {**plan, "file_set": file_set(plan)}
