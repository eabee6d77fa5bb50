# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action bench_record: it reads the previous record on the controller, never writes, and says a drop as a
warning; a record it cannot read, or a path that is not a file, fails the task with a sentence."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from unittest.mock import MagicMock

from ansible_collections.homelab.nvidia_gpu.plugins.action import bench_record as action

# The nodes' inputs (real llama-bench and llama-server output) are the pure tests' own.
_SPEC = importlib.util.spec_from_file_location(
    "bench_record_cases", Path(__file__).resolve().parents[1] / "module_utils" / "test_bench_record.py")
_CASES = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_CASES)
WRITTEN, cluster, scaled = _CASES.WRITTEN, _CASES.cluster, _CASES.scaled


def run(args, check_mode=False):
    task = MagicMock(args=args, async_val=0, check_mode=check_mode, diff=False)
    module = action.ActionModule(task, MagicMock(), MagicMock(), MagicMock(), MagicMock(), MagicMock())
    return module.run(task_vars={"inventory_hostname": "server"})


def test_no_record_yet_is_the_first_one_and_nothing_is_written(tmp_path):
    path = tmp_path / "bench-record.json"
    result = run({"path": str(path), "nodes": cluster(), "written": WRITTEN})
    assert not result.get("failed") and result["changed"] is False and result["previous"] == ""
    assert result["drops"] == [] and "warnings" not in result
    assert {r["verdict"] for r in result["record"]["comparison"]} == {"first record"}
    assert result["report_lines"][0] == "## Benchmark record" and f"`{path}`" in result["report_lines"][2]
    assert not path.exists()  # the playbook writes the record (an output), the action only reads


def test_a_planted_faster_record_gives_a_warning_per_drop(tmp_path):
    path = tmp_path / "bench-record.json"
    first = run({"path": str(path), "nodes": cluster(), "written": "2026-12-07 01:00:00 UTC"})["record"]
    path.write_text(scaled(first, 2))
    result = run({"path": str(path), "nodes": cluster(), "written": WRITTEN, "drop_percent": 40, "keep": 3},
                 check_mode=True)
    assert result["previous"] == "2026-12-07 01:00:00 UTC" and len(result["drops"]) == 7
    assert result["warnings"] == [f"benchmark drop: {d}" for d in result["drops"]]
    assert "beyond the 40 % threshold" in result["drops"][0]
    assert json.loads(path.read_text())["written"] == "2026-12-07 01:00:00 UTC"  # read, never written


def test_an_unreadable_previous_record_fails_in_a_sentence(tmp_path):
    path = tmp_path / "bench-record.json"
    path.write_text("<html>not a record</html>")
    result = run({"path": str(path), "nodes": cluster(), "written": WRITTEN})
    assert result["failed"] and result["msg"].startswith(f"the previous benchmark record {path} cannot be read (not")
    assert path.read_text() == "<html>not a record</html>"
    result = run({"path": str(tmp_path), "nodes": cluster(), "written": WRITTEN})
    assert result["failed"] and result["msg"] == f"the benchmark record {tmp_path} is not a regular file"


def test_bad_arguments_fail_in_a_sentence(tmp_path):
    result = run({"path": str(tmp_path / "r.json"), "nodes": cluster(), "written": WRITTEN, "keep": "many"})
    assert result["failed"] and "keep" in result["msg"]
    result = run({"path": str(tmp_path / "r.json"), "nodes": {"w1": "not a dict"}, "written": WRITTEN})
    assert result["failed"] and result["msg"] == "w1's bench inputs must be a dict, not 'not a dict'"
