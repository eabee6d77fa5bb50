# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The llama_cpp role's one plan, made on the controller (docs: plugins/modules/llama_cpp_plan.py)."""

from __future__ import annotations

import base64
import os

import yaml
from ansible.plugins.action import ActionBase
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _llama_cpp as llama
from ansible_collections.homelab.nvidia_gpu.plugins.modules import llama_cpp_plan as _doc

_SPEC_KEYS = ("type", "elements", "default", "required", "choices", "no_log")


def argument_spec() -> dict:
    """The doc stub's options as an argument spec (one place for both)."""
    options = yaml.safe_load(_doc.DOCUMENTATION)["options"]
    spec = {name: {k: v for k, v in option.items() if k in _SPEC_KEYS} for name, option in options.items()}
    spec["server_api_key"]["no_log"] = True  # a module doc may not say no_log; the key never shows
    return spec


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False  # only a CUDA build's toolkit version is read on the host

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        validation, args = self.validate_argument_spec(argument_spec=argument_spec())
        del validation
        settings = {k: v for k, v in args.items() if k not in ("gpu_plan", "facts", "found")}
        settings["host"] = task_vars.get("inventory_hostname", "")
        try:
            plan = llama.plan(settings, args["gpu_plan"], args["facts"], args["found"],
                              task_vars.get("hostvars") or {}, lambda path: self._read(path, task_vars),
                              os.path.exists)
        except (ValueError, TypeError) as exc:
            return dict(result, failed=True, msg=str(exc))
        return dict(result, changed=False, plan=plan, warnings=plan.pop("warnings"))

    def _read(self, path, task_vars):
        """A file's text on the host (a CUDA toolkit's version.json), or None."""
        out = self._execute_module(module_name="ansible.builtin.slurp", module_args={"src": path},
                                   task_vars=task_vars)
        if out.get("failed") or "content" not in out:
            return None
        return base64.b64decode(out["content"]).decode("utf-8", "replace")
