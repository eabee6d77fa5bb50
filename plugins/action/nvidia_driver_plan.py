# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nvidia_driver role's one planning step, on the controller.

Documentation: plugins/modules/nvidia_driver_plan.py."""

from __future__ import annotations

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _nvidia_driver_runtime as runtime
from ansible_collections.homelab.nvidia_gpu.plugins.modules import nvidia_driver_plan as _doc
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._role_plan import RolePlanAction

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
    if stage == "checked":  # the role's public facts are set by this step itself
        done = runtime.checked(base, smi_query=args["smi_query"], smi=args["smi"])
        facts = {"nvidia_driver_installed": done["installed"], "nvidia_driver_smi": done["smi"]}
        return {**done, "ansible_facts": facts}
    return runtime.failed_install(base, rollback=args["rollback"], make_log=args["make_log"],
                                  log_path=args["log_path"], left=args["left"], platform=args["platform"],
                                  apt_error=args["apt_error"])


class ActionModule(RolePlanAction):
    DOC = _doc.DOCUMENTATION  # one spec for every stage
    REQUIRED_IF = tuple(_REQUIRED_IF)

    def plan(self, args: dict, task_vars: dict) -> dict:
        return make(args, bool(self._task.check_mode))
