# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action firewall_plan: the role's one planning step. Its file, validate command and list/delete argv are run
by nft itself in a throwaway network namespace where this machine has nft; refusals are one sentence."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path
from unittest.mock import MagicMock

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.action.firewall_plan import ActionModule
from ansible_collections.homelab.nvidia_gpu.plugins.modules import firewall_plan as doc
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._role_plan import argument_spec

NODE = [{"port": 9100, "protocol": "tcp"}]


def run(task_args, check_mode=False):
    task = MagicMock(args=task_args, async_val=0, check_mode=check_mode, diff=False)
    action = ActionModule(task, MagicMock(), MagicMock(check_mode=check_mode), MagicMock(), MagicMock(), MagicMock())
    return action.run(task_vars={"inventory_hostname": "node1"})


def test_spec_is_the_doc_stubs_options():
    spec = argument_spec(doc.DOCUMENTATION)
    assert spec["name"] == {"type": "raw", "required": True}
    assert spec["state"] == {"type": "raw", "default": "present"}


def test_present_plan_names_every_file_and_command():
    result = run({"name": "gpu_metrics_node_exporter", "ports": NODE, "allow": ["192.168.50.10", "fd00:50::/64"],
                  "exposes": "node_exporter metrics"})
    assert not result.get("failed") and result["changed"] is False and "warnings" not in result
    plan = result["plan"]
    assert plan["present"] is True and plan["tasks"] == "load.yml" and plan["packages"] == ["nftables"]
    assert plan["directories"] == ["/etc/homelab-nvidia-gpu/nftables", "/etc/systemd/system/nftables.service.d"]
    assert [f["dest"] for f in plan["files"]] == [
        "/etc/systemd/system/homelab-nftables@.service",
        "/etc/systemd/system/nftables.service.d/homelab-nvidia-gpu.conf",
        "/etc/homelab-nvidia-gpu/nftables/gpu_metrics_node_exporter.nft"]
    assert plan["files"][2] == {"content": plan["text"], "dest": plan["path"], "validate": "/usr/sbin/nft -c -f %s"}
    assert "validate" not in plan["files"][0] and "validate" not in plan["files"][1]
    assert plan["list_argv"] == ["/usr/sbin/nft", "list", "table", "inet", "homelab_gpu_metrics_node_exporter"]
    assert plan["delete_argv"][:2] == ["/usr/sbin/nft", "delete"]
    assert plan["unit"] == "homelab-nftables@gpu_metrics_node_exporter.service"
    assert plan["summary"] == ("firewall gpu_metrics_node_exporter (table inet homelab_gpu_metrics_node_exporter): "
                               "closes tcp/9100 to every address but loopback and 192.168.50.10/32, fd00:50::/64")


def test_the_role_files_named_by_the_plan_exist():
    from pathlib import Path
    files = Path(__file__).parents[4] / "roles" / "firewall" / "files"
    for entry in run({"name": "x", "ports": NODE})["plan"]["files"][:2]:
        assert (files / entry["src"]).is_file(), entry


def test_absent_plan_runs_remove():
    plan = run({"name": "x", "state": "absent"})["plan"]
    assert plan["present"] is False and plan["tasks"] == "remove.yml" and plan["text"] == ""
    assert plan["summary"] == "firewall x (table inet homelab_x): removed"


def test_every_address_is_a_warning_of_the_task():
    result = run({"name": "x", "ports": NODE, "allow": ["0.0.0.0/1", "128.0.0.0/1"], "exposes": "metrics"})
    assert result["plan"]["everyone"] == ["0.0.0.0/0"]
    assert any("admits every IPv4 address (0.0.0.0/0) to tcp/9100: this exposes metrics" in w
               for w in result["warnings"])


@pytest.mark.parametrize("task_args, words", [
    ({"name": "Bad-Name", "ports": NODE}, "firewall_name"),
    ({"name": "x", "ports": []}, "firewall_ports must list at least one port"),
    ({"name": "x", "ports": [{"port": 0}]}, "firewall_ports[0].port must be a port"),
    ({"name": "x", "ports": [{"port": True}]}, "firewall_ports[0].port must be a port"),
    ({"name": "x", "ports": [{"port": 53, "protocol": "icmp"}]}, "firewall_ports[0].protocol must be tcp or udp"),
    ({"name": "x", "ports": NODE, "allow": "10.0.0.1"}, "firewall_allow"),
    ({"name": "x", "ports": NODE, "allow": ["fe80::1%} accept"]}, "without a zone"),
    ({"name": "x", "ports": NODE, "allow": ["0.0.0.0"]}, "write 0.0.0.0/0 to admit every address"),
    ({"name": "x", "ports": NODE, "state": "gone"}, "firewall_state must be present or absent"),
    ({"ports": NODE}, "name"),
])
def test_refusals_are_one_sentence(task_args, words):
    result = run(task_args)
    assert result["failed"] is True and words in result["msg"], result["msg"]
    assert "Traceback" not in result["msg"] and "plan" not in result


def _namespace_nft():
    """nft in a throwaway network namespace on this machine (root: unshare -n; else a user namespace), or None."""
    nft = shutil.which("nft") or ("/usr/sbin/nft" if shutil.os.path.exists("/usr/sbin/nft") else None)
    if not nft or not shutil.which("unshare"):
        return None
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
        try:
            probe = subprocess.run([*prefix, nft, "list", "ruleset"], capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return prefix, nft
    return None


NFT = _namespace_nft()


@pytest.mark.skipif(NFT is None, reason="no nft, or no network namespace for it, on this machine")
@pytest.mark.parametrize("allow", [[], ["10.0.0.5", "10.0.0.0/24", "2001:db8::/48"], ["0.0.0.0/0", "::/0"]])
def test_nft_runs_the_plans_validate_load_list_and_delete(tmp_path, allow):
    prefix, nft = NFT
    plan = run({"name": "gpu_metrics_node_exporter", "ports": [*NODE, {"port": 53, "protocol": "udp"}],
                "allow": allow})["plan"]
    table = plan["files"][2]
    path = tmp_path / "t.nft"
    path.write_text(table["content"])

    def argv(words):
        return shlex.join([nft if w == "/usr/sbin/nft" else w for w in words])

    validate = argv(shlex.split(table["validate"].replace("%s", str(path))))
    listed = argv(plan["list_argv"])
    script = (f"{validate} && ! {listed} 2>/dev/null && {nft} -f {path} && {nft} -f {path}"
              f" && {listed} && {argv(plan['delete_argv'])} && ! {listed} 2>/dev/null")
    done = subprocess.run([*prefix, "sh", "-c", script], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("table inet homelab_gpu_metrics_node_exporter") == 1
    assert "chain input" in done.stdout  # what the role's last check looks for


@pytest.mark.skipif(NFT is None, reason="no nft, or no network namespace for it, on this machine")
def test_nft_refuses_a_broken_table_through_the_plans_validate(tmp_path):
    prefix, nft = NFT
    plan = run({"name": "x", "ports": NODE, "allow": ["10.0.0.1"]})["plan"]
    path = tmp_path / "t.nft"
    path.write_text(plan["text"].replace("accept\n", "acept\n", 1))
    command = plan["files"][2]["validate"].replace("%s", str(path))
    validate = [nft if w == "/usr/sbin/nft" else w for w in shlex.split(command)]
    done = subprocess.run([*prefix, *validate], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode != 0


def test_the_file_set_holds_the_roles_own_files_whole_and_the_checked_table():
    plan = run({"name": "x", "ports": NODE})["plan"]
    file_set = plan["file_set"]
    assert [d["path"] for d in file_set["directories"]] == plan["directories"]
    files = {f["path"]: f for f in file_set["files"]}
    roles = Path(__file__).resolve().parents[4] / "roles/firewall/files"
    assert files["/etc/systemd/system/homelab-nftables@.service"]["content"] == (
        roles / "homelab-nftables@.service").read_text()
    assert files[plan["path"]] == {"path": plan["path"], "content": plan["text"], "owner": "root", "group": "root",
                                   "validate": "/usr/sbin/nft -c -f %s"}
