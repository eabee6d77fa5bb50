# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action homelab.nvidia_gpu.firewall_plan: the firewall role's plan, on the controller."""

from __future__ import annotations

import os

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _nftables
from ansible_collections.homelab.nvidia_gpu.plugins.modules import firewall_plan as doc
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._role_plan import RolePlanAction

# The role's own files (the unit template, nftables.service's drop-in), beside this plugin in the collection.
FILES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "roles", "firewall", "files")


ROOT = {"owner": "root", "group": "root"}


def file_set(plan: dict) -> dict:
    """The arguments of homelab.nvidia_gpu.file_set: the directories, then every file whole (the table checked)."""
    files = []
    for entry in plan["files"]:
        if "src" in entry:
            with open(os.path.join(FILES, entry["src"]), encoding="utf-8") as handle:
                text = handle.read()
        else:
            text = entry["content"]
        checked = {"validate": entry["validate"]} if entry.get("validate") else {}
        files.append({"path": entry["dest"], "content": text, **ROOT, **checked})
    return {"directories": [{"path": path, **ROOT} for path in plan["directories"]], "files": files}


class ActionModule(RolePlanAction):
    DOC = doc.DOCUMENTATION

    def plan(self, args: dict, task_vars: dict) -> dict:
        plan = _nftables.role_plan(args["name"], args["ports"], args["allow"], args["exposes"], args["state"])
        return {**plan, "file_set": file_set(plan)}
