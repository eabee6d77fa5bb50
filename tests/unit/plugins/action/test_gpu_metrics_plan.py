# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action gpu_metrics_plan: the role's one planning step (options checked, the plan, refusals as sentences)."""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleActionFail
from ansible_collections.homelab.nvidia_gpu.plugins.action.gpu_metrics_plan import ActionModule, argument_spec
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _gpu_metrics

GPU_PLAN = {"kind": "gpu_stack", "gpu_node": True, "platform": "generic", "architecture": "x86_64",
            "flavour": "proprietary", "branch": "580", "gpu_names": ["Tesla P10"], "problems": [],
            "verdict": {"can_work": True}, "driver": {"dkms_name": "nvidia"}}
HOSTVARS = {
    "prom": {"ansible_facts": {"all_ipv4_addresses": ["10.0.0.5"], "default_ipv4": {"address": "10.0.0.5"}},
             "group_names": ["prometheus_servers"]},
    "node1": {"gpu_metrics_node_exporter_endpoint": {"address": "10.0.0.7", "port": 9100},
              "group_names": ["gpu_nodes"]},
}


def run(args, host="node1", check_mode=False):
    task = MagicMock(args=args, async_val=0, check_mode=check_mode, diff=False)
    action = ActionModule(task, MagicMock(), MagicMock(), MagicMock(), MagicMock(), MagicMock())
    task_vars = {"hostvars": HOSTVARS, "groups": {"prometheus_servers": ["prom"]}, "inventory_hostname": host}
    return action.run(task_vars=task_vars)


def test_spec_is_the_doc_stubs_options():
    spec = argument_spec()
    assert spec["gpu_plan"] == {"type": "dict", "required": True}
    assert spec["node_exporter_allow"] == {"type": "list", "elements": "str"}
    assert spec["interval"]["default"] == 60


def test_node_plan_publishes_its_endpoint_and_admits_the_prometheus_hosts():
    result = run({"gpu_plan": GPU_PLAN, "node_exporter_address": "10.0.0.7"})
    assert not result.get("failed") and result["changed"] is False
    plan = result["plan"]
    assert result["ansible_facts"] == {"gpu_metrics_node_exporter_endpoint": {"address": "10.0.0.7", "port": 9100}}
    assert plan["phases"] == {"node_exporter": True, "prometheus": False, "firewall": True}
    assert plan["firewall"] == {"port": 9100, "allow": ["10.0.0.5/32"], "state": "present"}
    assert plan["node_exporter"]["args"] == ('ARGS="--collector.textfile.directory=/var/lib/prometheus/node-exporter'
                                             ' --web.listen-address=10.0.0.7:9100"')
    assert plan["prometheus"] is False
    collector = plan["collector"]
    assert collector["plan"]["branch"] == "580" and collector["textfile"].endswith("/homelab_gpu.prom")
    assert [f["path"] for f in collector["file_set"]["files"]][:3] == [
        f"{_gpu_metrics.LIB}/{n}" for n in ("collect.py", "_gpu_metrics.py", "_values.py")]
    assert collector["units"][1] == "/etc/systemd/system/homelab-gpu-metrics.timer"
    assert "warnings" not in result


def test_prometheus_host_plan_and_config():
    result = run({"gpu_plan": GPU_PLAN, "node_exporter_address": "127.0.0.1", "prometheus": True,
                  "prometheus_hosts": ["prom", "node1"], "node_exporter_allow": []}, host="prom")
    prometheus = result["plan"]["prometheus"]
    assert prometheus["firewall"]["state"] == "absent"  # loopback: no table needed
    assert prometheus["rules"]["groups"][0]["name"] == "homelab_gpu"
    hostvars = dict(HOSTVARS, prom=dict(HOSTVARS["prom"], **result["ansible_facts"]))
    config = _gpu_metrics.prometheus_config(prometheus, hostvars)
    assert config["scrape_configs"][0]["static_configs"] == [{"targets": ["127.0.0.1:9090"]}]
    targets = [c["targets"] for c in config["scrape_configs"][1]["static_configs"]]
    assert targets == [["127.0.0.1:9100"], ["10.0.0.7:9100"]]
    assert config["global"] == {"scrape_interval": "30s", "evaluation_interval": "30s"}


def test_widened_port_is_a_warning():
    result = run({"gpu_plan": GPU_PLAN, "node_exporter_address": "0.0.0.0", "node_exporter_allow": ["10.0.0.0/8"]})
    assert any("every address" in w for w in result["warnings"])


@pytest.mark.parametrize("args, words", [
    ({"node_exporter_address": ""}, "gpu_metrics_node_exporter_address is empty"),
    ({"node_exporter_address": "10.0.0.7", "interval": 1}, "gpu_metrics_interval"),
    ({"node_exporter_address": "10.0.0.7", "prometheus": True, "prometheus_hosts": ["a"], "alert_temperature": 500},
     "between 30 and 120"),
])
def test_refusals_are_one_sentence(args, words):
    result = run(dict(args, gpu_plan=GPU_PLAN))
    assert result["failed"] and words in result["msg"] and "Traceback" not in result["msg"]


def test_no_prometheus_host_address_known_is_refused():
    with pytest.raises(_gpu_metrics.MetricsError, match="no address of the Prometheus host prom"):
        _gpu_metrics.role_plan({"node_exporter_address": "10.0.0.7"}, GPU_PLAN, {"prom": {}}, ["prom"], "n")


def test_unknown_option_is_refused():
    with pytest.raises(AnsibleActionFail):
        run({"gpu_plan": GPU_PLAN, "colour": "red"})


def test_up_status():
    assert _gpu_metrics.up_status('homelab_gpu_up{reason="nvidia-smi answered"} 1\n') == {
        "up": 1, "reason": "nvidia-smi answered"}
    assert _gpu_metrics.up_status("") == {"up": 0, "reason": "not collected (check mode)"}


def test_null_address_is_the_narrowest_that_works():
    only = run({"gpu_plan": GPU_PLAN, "host_address": "10.0.0.5", "node_exporter_allow": []}, host="prom")
    assert only["plan"]["endpoint"]["address"] == "127.0.0.1"  # the only Prometheus host scrapes itself there
    other = run({"gpu_plan": GPU_PLAN, "host_address": "10.0.0.7"}, host="node1")
    assert other["plan"]["endpoint"]["address"] == "10.0.0.7"
    none = run({"gpu_plan": GPU_PLAN}, host="node1")
    assert none["failed"] and "gpu_metrics_node_exporter_address is empty" in none["msg"]


def test_the_file_set_installs_a_collector_that_runs(tmp_path):
    """Every file the role's one file_set step writes, put under a scratch root: the real collect.py runs from there
    (it imports the pure parts beside it) on the plan file it is given, and writes its textfile."""
    import subprocess
    import sys
    file_set = run({"gpu_plan": GPU_PLAN, "node_exporter_address": "10.0.0.7"})["plan"]["collector"]["file_set"]
    for entry in file_set["directories"]:
        (tmp_path / entry["path"].lstrip("/")).mkdir(parents=True, exist_ok=True)
    for entry in file_set["files"]:
        target = tmp_path / entry["path"].lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)  # /etc/systemd/system is there on a host
        target.write_text(entry["content"])
    paths = [entry["path"] for entry in file_set["files"]]
    assert "/etc/systemd/system/homelab-gpu-metrics.timer" in paths and "/etc/homelab-gpu-metrics/plan.json" in paths
    out = tmp_path / "out/homelab_gpu.prom"
    out.parent.mkdir()
    proc = subprocess.run([sys.executable, str(tmp_path / "usr/local/lib/homelab-gpu-metrics/collect.py"),
                           "--plan", str(tmp_path / "etc/homelab-gpu-metrics/plan.json"), "--out", str(out),
                           "--sysfs-root", str(tmp_path), "--proc-root", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, env={"PATH": "/nonexistent"}, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "homelab_gpu" in out.read_text()
    service = next(e["content"] for e in file_set["files"] if e["path"].endswith(".service"))
    assert "ExecStart=/usr/bin/python3 /usr/local/lib/homelab-gpu-metrics/collect.py --plan" in service
