# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action bench_record: this run's benchmark record, compared with the previous one read on the controller (doc:
modules/)."""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _bench_record
from ansible_collections.homelab.nvidia_gpu.plugins.modules import bench_record as _doc
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._role_plan import argument_spec


def _previous_text(path: str) -> str | None:
    """The record file's text, None where there is no file; a path that is not a readable file is a sentence."""
    if not os.path.lexists(path):
        return None
    if not os.path.isfile(path):
        raise _bench_record.BenchRecordError(f"the benchmark record {path} is not a regular file")
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            return handle.read(64 * 1024 * 1024)
    except OSError as exc:
        raise _bench_record.BenchRecordError(f"the benchmark record {path} cannot be read ({exc.strerror})") from None


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        result = super().run(tmp, task_vars)
        try:
            args = self.validate_argument_spec(argument_spec=argument_spec(_doc.DOCUMENTATION))[1]
        except AnsibleActionFail as exc:
            return dict(result, failed=True, msg=str(exc.message))
        path = os.path.abspath(os.path.expanduser(args["path"]))
        try:
            made = _bench_record.record(args["nodes"], _previous_text(path), args["written"], args["drop_percent"],
                                        args["keep"], path)
        except (ValueError, TypeError) as exc:
            return dict(result, failed=True, msg=str(exc))
        out = dict(result, changed=False, record=made, drops=made["drops"],
                   report_lines=_bench_record.report_lines(made, path),
                   previous=made["history"][0]["written"] if made["history"] else "")
        if made["drops"]:
            out["warnings"] = [f"benchmark drop: {d}" for d in made["drops"]]
        return out
