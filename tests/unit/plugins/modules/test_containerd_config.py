# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.modules import containerd_config, nvidia_ctk

CRI = "io.containerd.grpc.v1.cri"
SYSTEMD = f'plugins."{CRI}".containerd.runtimes.runc.options.SystemdCgroup'
NO_CONTAINERD = {"containerd_version": None}  # nvidia_ctk never asks the host's containerd
CONFIG = f"""# cluster config
version = 2
root = "/var/lib/containerd"  # data

[plugins."{CRI}"]
  sandbox_image = "registry.k8s.io/pause:3.9"  # pinned
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return path


def test_set_keeps_comments_idempotent_diff(run_module, config):
    args = {"path": str(config), "settings": {SYSTEMD: True, "oom_score": -999}}
    failed, result = run_module(containerd_config, dict(args, _ansible_diff=True))
    assert not failed and result["changed"] and result["restart_required"]
    text = config.read_text()
    for line in CONFIG.splitlines():
        assert line in text.splitlines()
    parsed = tomllib.loads(text)
    assert parsed["plugins"][CRI]["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True
    assert parsed["oom_score"] == -999
    assert result["diff"][0]["before"] == CONFIG and result["diff"][0]["after"] == text
    failed, result = run_module(containerd_config, args)
    assert not result["changed"] and config.read_text() == text
    assert sorted(os.listdir(config.parent)) == [".config.toml.lock", "config.toml"]  # no temp file left


def test_unset_and_prune(run_module, config):
    run_module(containerd_config, {"path": str(config), "settings": {SYSTEMD: True}})
    failed, result = run_module(containerd_config,
                                {"path": str(config), "state": "absent", "settings": {SYSTEMD: None}})
    assert not failed
    assert result["changed"] and tomllib.loads(config.read_text()) == tomllib.loads(CONFIG)
    assert "# pinned" in config.read_text()


def test_check_mode_and_backup(run_module, config):
    failed, result = run_module(containerd_config,
                                {"path": str(config), "settings": {"oom_score": 1}, "_ansible_check_mode": True})
    assert result["changed"] and config.read_text() == CONFIG
    failed, result = run_module(containerd_config,
                                {"path": str(config), "settings": {"oom_score": 1}, "backup": True})
    assert not failed
    assert Path(result["backup_files"][0]).read_text() == CONFIG


def test_invalid_toml_and_bad_key_fail_untouched(run_module, config):
    config.write_text("version = 2\n[plugins\n")
    failed, result = run_module(containerd_config, {"path": str(config), "settings": {"a": 1}})
    assert failed and result["error"]["line"] == 2 and config.read_text() == "version = 2\n[plugins\n"
    config.write_text(CONFIG)
    failed, result = run_module(containerd_config, {"path": str(config), "settings": {"a..b": 1}})
    assert failed and "invalid key" in result["msg"] and config.read_text() == CONFIG


def test_create_default_runs_containerd(run_module, tmp_path):
    fake = tmp_path / "containerd"
    fake.write_text(f"#!/bin/sh\n[ \"$1 $2\" = 'config default' ] || exit 2\ncat <<'EOF'\n{CONFIG}EOF\n")
    fake.chmod(0o755)
    path = tmp_path / "etc" / "config.toml"
    args = {"path": str(path), "create_default": True, "containerd_path": str(fake), "settings": {SYSTEMD: True}}
    failed, result = run_module(containerd_config, args)
    assert not failed and result["changed"] and result["files"] == [str(path)]
    assert path.read_text().startswith("# cluster config\nversion = 2\n")
    args = {"path": str(tmp_path / "x.toml"), "create_default": True, "containerd_path": str(tmp_path / "nope"),
            "settings": {}}
    failed, result = run_module(containerd_config, args)
    assert failed and "install containerd" in result["msg"]


def test_order_with_nvidia_ctk(run_module, config):
    """containerd_config after nvidia_ctk: warned as shadowed; nvidia_ctk's next run refreshes its copy."""
    ctk_args = {"runtime": "containerd", "config_path": str(config),
                "drop_in_path": str(config.parent / "conf.d" / "99-nvidia.toml")}
    run_module(nvidia_ctk, ctk_args, patches=NO_CONTAINERD)
    failed, result = run_module(containerd_config, {"path": str(config), "settings": {SYSTEMD: True}})
    assert result["shadowed_by"] == [ctk_args["drop_in_path"]] and result["warnings"]
    failed, result = run_module(nvidia_ctk, ctk_args, patches=NO_CONTAINERD)
    assert not failed
    assert result["changed"] and result["files"] == [ctk_args["drop_in_path"]]
    runtimes = tomllib.loads(Path(ctk_args["drop_in_path"]).read_text())["plugins"][CRI]["containerd"]["runtimes"]
    assert runtimes["runc"]["options"]["SystemdCgroup"] is True
    assert runtimes["nvidia"]["options"] == {"SystemdCgroup": True, "BinaryName": "/usr/bin/nvidia-container-runtime"}
