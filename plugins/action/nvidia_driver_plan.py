# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nvidia_driver role's one planning step, on the controller.

Documentation: plugins/modules/nvidia_driver_plan.py."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _nvidia_driver_runtime as runtime

_STR = {"type": "str"}
_OPT_STR = {"type": "str", "default": None}

# The options of the doc stub (plugins/modules/nvidia_driver_plan.py), one spec for every stage.
ARGUMENT_SPEC = {
    "stage": {"type": "str", "default": "plan",
              "choices": ["plan", "observed", "installed", "checked", "failed_install"]},
    # stage plan: the role's public variables and the host's facts
    "gpu_plan": {"type": "dict"},
    "source": {"type": "str", "choices": ["cuda_repo", "debian", "runfile"]},
    "package_set": {"type": "str", "choices": ["compute", "full"], "default": "compute"},
    "branch": {"type": "raw", "default": "auto"},
    "pin": {"type": "bool", "default": True},
    "kernels": {"type": "list", "elements": "str"},
    "kernel": _STR,
    "os_family": _STR,
    "distribution": {"type": "str", "default": ""},
    "distribution_release": {"type": "str", "default": ""},
    "virtualization_role": {"type": "str", "default": ""},
    "virtualization_type": {"type": "str", "default": ""},
    "runfile_url": {"type": "str", "default": ""},
    "runfile_checksum": {"type": "str", "default": "", "no_log": False},
    "runfile_allow_http": {"type": "bool", "default": False},
    "runfile_dir": {"type": "str", "default": "/var/cache/nvidia-driver"},
    "debian_manage_components": {"type": "bool", "default": True},
    "blacklist_nouveau": {"type": "bool", "default": True},
    "module_options": {"type": "dict", "default": {}},
    "persistence_mode": {"type": "bool", "default": False},
    "reboot": {"type": "bool", "default": False},
    # the later stages: the plan so far, and what was read from the host
    "plan": {"type": "dict"},
    "dpkg": _OPT_STR,
    "policy": _OPT_STR,
    "runfile_installer": _OPT_STR,
    "runfile_marker": _OPT_STR,
    "failure_record": _OPT_STR,
    "debian_sources_exists": {"type": "bool", "default": False},
    "package_versions": {"type": "dict", "default": {}},
    "dkms_status": _OPT_STR,
    "loaded_version": _OPT_STR,
    "nouveau_loaded": {"type": "bool", "default": False},
    "headers_reboot": {"type": "bool", "default": False},
    "smi_query": {"type": "list", "elements": "str", "default": None},
    "smi": _OPT_STR,
    "rollback": {"type": "dict", "default": {}},
    "make_log": _OPT_STR,
    "log_path": {"type": "str", "default": ""},
    "left": {"type": "str", "default": ""},
    "platform": {"type": "str", "default": ""},
    "apt_error": {"type": "str", "default": ""},
}
_REQUIRED_IF = [
    ("stage", "plan", ("gpu_plan", "source", "kernel", "os_family")),
    ("stage", "observed", ("plan",)),
    ("stage", "installed", ("plan",)),
    ("stage", "checked", ("plan",)),
    ("stage", "failed_install", ("plan",)),
]
_PLAN_ARGS = ("gpu_plan", "source", "package_set", "branch", "pin", "kernels", "kernel", "os_family", "distribution",
              "distribution_release", "virtualization_role", "virtualization_type", "runfile_url", "runfile_checksum",
              "runfile_allow_http", "runfile_dir", "debian_manage_components", "blacklist_nouveau", "module_options",
              "persistence_mode", "reboot")


def make(args: dict, check_mode: bool) -> dict:
    """The plan of one stage from validated arguments (DriverPlanError, ValueError, TypeError: a refusal)."""
    stage = args["stage"]
    if stage == "plan":
        return runtime.plan(check_mode=check_mode, **{key: args[key] for key in _PLAN_ARGS if key != "kernels"},
                            kernels=args["kernels"] or [])
    base = args["plan"]
    if stage == "observed":
        return runtime.observe(base, dpkg=args["dpkg"], policy=args["policy"],
                               runfile_installer=args["runfile_installer"], runfile_marker=args["runfile_marker"],
                               failure_record=args["failure_record"],
                               debian_sources_exists=args["debian_sources_exists"], kernels=args["kernels"])
    if stage == "installed":
        return runtime.installed(base, package_versions=args["package_versions"], dkms_status=args["dkms_status"],
                                 loaded_version=args["loaded_version"], nouveau_loaded=args["nouveau_loaded"],
                                 headers_reboot=args["headers_reboot"])
    if stage == "checked":
        return runtime.checked(base, smi_query=args["smi_query"], smi=args["smi"])
    return runtime.failed_install(base, rollback=args["rollback"], make_log=args["make_log"],
                                  log_path=args["log_path"], left=args["left"], platform=args["platform"],
                                  apt_error=args["apt_error"])


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        try:
            _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC, required_if=_REQUIRED_IF)
        except AnsibleActionFail as exc:
            result.update(failed=True, msg=str(exc.message))
            return result
        try:
            plan = make(args, bool(self._task.check_mode))
        except (ValueError, TypeError) as exc:
            result.update(failed=True, msg=str(exc))
            return result
        result.update(changed=False, plan=plan)
        return result
