# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The llama_cpp role's one plan, made on the controller (docs: plugins/modules/llama_cpp_plan.py)."""

from __future__ import annotations

import base64
import os

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _llama_cpp as llama
from ansible_collections.homelab.nvidia_gpu.plugins.modules import llama_cpp_plan as _doc
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._role_plan import RolePlanAction


class ActionModule(RolePlanAction):
    DOC = _doc.DOCUMENTATION
    NO_LOG = ("server_api_key",)  # the key never shows
    _requires_connection = True  # a CUDA build reads the toolkit's version.json on the host

    def plan(self, args: dict, task_vars: dict) -> dict:
        settings = {k: v for k, v in args.items() if k not in ("gpu_plan", "facts", "found")}
        settings["host"] = task_vars.get("inventory_hostname", "")
        return llama.plan(settings, args["gpu_plan"], args["facts"], args["found"], task_vars.get("hostvars") or {},
                          lambda path: self._read(path, task_vars), os.path.exists)

    def _read(self, path, task_vars):
        """A file's text on the host (a CUDA toolkit's version.json), or None: only a CUDA build reads the host."""
        out = self._execute_module(module_name="ansible.builtin.slurp", module_args={"src": path},
                                   task_vars=task_vars)
        if out.get("failed") or "content" not in out:
            return None
        return base64.b64decode(out["content"]).decode("utf-8", "replace")
