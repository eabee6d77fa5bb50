# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shell of a role's planning action: the doc stub's options are the argument spec, a refusal is one sentence.

A ``<role>_plan`` action plugin subclasses ``RolePlanAction``, names its doc stub module (``DOC``) and implements
``plan(args, task_vars)`` over pure module_utils. It runs on the controller only: no module is sent to the host.
"""

from __future__ import annotations

import os
from typing import Any

import yaml
from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

_SPEC_KEYS = ("type", "elements", "default", "choices", "required")
# The collection's roles/, beside plugins/ (a checkout or an installed collection): a plan may read a role's own files.
_ROLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "roles")


def role_file_text(role: str, name: str) -> str:
    """The text of roles/ROLE/files/NAME, read on the controller."""
    with open(os.path.join(_ROLES, role, "files", name), encoding="utf-8") as handle:
        return handle.read()


def argument_spec(documentation: str, no_log: tuple[str, ...] = ()) -> dict:
    """The argument spec that a module's DOCUMENTATION options describe (suboptions included).

    NO_LOG names the top-level options that hold secrets: a module's documentation may not say C(no_log).
    """
    def spec(options: dict) -> dict:
        out = {}
        for name, doc in (options or {}).items():
            entry = {key: doc[key] for key in _SPEC_KEYS if key in doc}
            if doc.get("suboptions"):
                entry["options"] = spec(doc["suboptions"])
            out[name] = entry
        return out
    found = spec(yaml.safe_load(documentation).get("options") or {})
    for name in no_log:
        found[name]["no_log"] = True
    return found


class RolePlanAction(ActionBase):
    """``{"changed": false, "plan": {...}}``, or ``failed`` with the planner's sentence (never a traceback)."""

    TRANSFERS_FILES = False
    _requires_connection = False
    DOC = ""  # the doc stub's DOCUMENTATION
    NO_LOG: tuple[str, ...] = ()  # the options that hold secrets
    REQUIRED_IF: tuple = ()  # as AnsibleModule's required_if

    def plan(self, args: dict, task_vars: dict) -> dict:
        raise NotImplementedError

    def run(self, tmp: Any = None, task_vars: dict | None = None) -> dict:
        self._supports_check_mode = True
        result = super().run(tmp, task_vars)
        try:
            spec = argument_spec(self.DOC, self.NO_LOG)
            _validation, args = self.validate_argument_spec(argument_spec=spec, required_if=list(self.REQUIRED_IF))
        except AnsibleActionFail as exc:
            return {**result, "failed": True, "msg": str(exc.message)}
        try:
            plan = self.plan(args, task_vars or {})
        except (ValueError, TypeError) as exc:
            return {**result, "failed": True, "msg": str(exc)}
        warnings = list(plan.pop("warnings", []) or [])
        facts = plan.pop("ansible_facts", None)  # the role's public facts, where the plan alone decides them
        out = {**result, "changed": False, "plan": plan}
        if warnings:
            out["warnings"] = warnings
        if facts:
            out["ansible_facts"] = facts
        return out
