# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The playbooks' small actions: upgrade_driver_decision, upgrade_driver_summary, validate_node_result."""

from __future__ import annotations

from unittest.mock import MagicMock

from ansible_collections.homelab.nvidia_gpu.plugins.action import upgrade_driver_decision as decision_action
from ansible_collections.homelab.nvidia_gpu.plugins.action import upgrade_driver_summary as summary_action
from ansible_collections.homelab.nvidia_gpu.plugins.action import validate_node_result as node_action
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _validate_checks

DRIVER = {"packages": ["cuda-drivers-580", "nvidia-kernel-dkms"], "dkms_package": "nvidia-kernel-dkms"}
POLICY = """cuda-drivers-580:
  Installed: 580.65.06-1
  Candidate: 580.65.06-1
  Version table:
     580.95.05-1 500
        500 http://mirror.lab/compute/cuda/repos/debian12/x86_64  Packages
 *** 580.65.06-1 500
        100 /var/lib/dpkg/status
nvidia-kernel-dkms:
  Installed: 580.65.06-1
  Candidate: 580.65.06-1
  Version table:
     580.95.05-1 500
        500 http://mirror.lab/compute/cuda/repos/debian12/x86_64  Packages
 *** 580.65.06-1 500
        100 /var/lib/dpkg/status
"""


def run(module, args, task_vars=None):
    task = MagicMock(args=args, async_val=0, check_mode=False, diff=False)
    action = module.ActionModule(task, MagicMock(), MagicMock(), MagicMock(), MagicMock(), MagicMock())
    return action.run(task_vars=task_vars or {"inventory_hostname": "n1"})


def test_decision_upgrade_carries_apt_get_argv():
    result = run(decision_action, {"policy": POLICY, "driver": DRIVER, "branch": "580"})
    assert result["action"] == "upgrade" and result["to"] == "580.95.05" and result["changed"] is False
    assert result["argv"][:3] == ["apt-get", "install", "--yes"]
    assert result["argv"][-2:] == ["cuda-drivers-580=580.95.05-1", "nvidia-kernel-dkms=580.95.05-1"]
    assert "--allow-change-held-packages" in result["argv"] and "Dpkg::Options::=--force-confold" in result["argv"]


def test_decision_unchanged_and_skip_carry_their_record():
    result = run(decision_action, {"policy": POLICY, "driver": DRIVER, "branch": "580", "version": "580.65.06"})
    assert result["action"] == "unchanged" and result["argv"] == []
    assert result["record"] == {"result": "unchanged", "from": "580.65.06", "to": "580.65.06",
                                "reason": result["reason"]}
    result = run(decision_action, {"policy": "", "driver": DRIVER, "branch": "580", "source": "runfile"})
    assert result["action"] == "skip" and result["record"]["result"] == "skipped"


def test_decision_refuses_in_a_sentence():
    result = run(decision_action, {"policy": POLICY, "driver": DRIVER, "branch": "580", "source": "ppa"})
    assert result["failed"] and "source must be cuda_repo, debian or runfile" in result["msg"]


def test_summary_reads_the_play_hosts_and_refuses_what_none_took():
    hostvars = {"a": {"upgrade_driver_result": {"result": "skipped", "from": "", "to": "", "reason": "no repo"}},
                "b": {}}
    task_vars = {"hostvars": hostvars, "ansible_play_hosts_all": ["a", "b"]}
    result = run(summary_action, {"branch": "590"}, task_vars)
    assert result["lines"][0] == "Driver upgrade to branch 590: 1 skipped, 1 not reached"
    assert result["refused"] and not result["node_failed"] and "failed" not in result
    assert not run(summary_action, {"branch": "590", "allow_skips": True}, task_vars)["refused"]
    assert run(summary_action, {"hosts": ["a"]}, task_vars)["lines"][1] == "a: skipped: no repo"


def test_node_result_sets_validate_node_with_failures_and_outcome():
    plan = [{"check": "nvidia-smi on the host", "argv": ["nvidia-smi"]},
            {"check": "CUDA sample", "result": "not run", "detail": "no image"}]
    runs = [{"item": plan[0], "rc": 9, "stdout": "", "stderr": "NVIDIA-SMI has failed", "cmd": ["nvidia-smi"]}]
    result = run(node_action, {"plan": plan, "runs": runs, "gpu_present": False,
                               "smi_query": {"rc": 9, "stdout": "", "stderr": "no devices"}, "smi_installed": True})
    node = result["ansible_facts"]["validate_node"]
    assert node["failed_checks"] == ["nvidia-smi on the host"]
    assert node["failures"][0].startswith("nvidia-smi on the host: ")
    assert node["outcome"] == "0 checks passed, 1 not run (no GPU present)"
    assert node["headline"].startswith("n1: NO GPU PRESENT")


def test_node_result_refuses_a_run_that_is_not_a_result():
    result = run(node_action, {"plan": [{"check": "x", "argv": ["true"]}], "runs": ["junk"], "gpu_present": True})
    assert result["failed"] and "Traceback" not in result["msg"]


def test_refused_node_is_tallied_too():
    node = _validate_checks.refused_node([{"code": "pi5_proprietary_unsupported"}])
    assert node["failures"] == [] and node["outcome"] == "0 checks passed, 1 not run (no GPU present)"


def test_summary_of_a_failed_node_is_a_result_not_a_failed_task():
    # molecule/site's fifth upgrade run: the rescue makes the summary of a run that stopped at a failed node.
    task_vars = {"ansible_play_hosts_all": ["a", "b"],
                 "hostvars": {"a": {"upgrade_driver_result": {"result": "failed", "reason": "dkms failed"}}, "b": {}}}
    result = run(summary_action, {"version": "580.82.09"}, task_vars)
    assert "failed" not in result and result["node_failed"] is True
    assert result["counts"]["failed"] == 1 and result["counts"]["not reached"] == 1
