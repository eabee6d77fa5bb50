# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _nvidia_ctk as ctk
from ansible_collections.homelab.nvidia_gpu.plugins.modules import containerd_facts


def fake_containerd(tmp_path, version: str) -> str:
    binary = tmp_path / "containerd"
    binary.write_text(f'#!/bin/sh\n[ "$1" = --version ] && '
                      f'echo "containerd github.com/containerd/containerd {version} x"\n')
    binary.chmod(0o755)
    return str(binary)


@pytest.mark.parametrize(("text", "binary_version", "version", "declared"), [
    (None, "v2.1.4", 3, None),  # missing: what `containerd config default` of 2.x writes
    (None, "1.7.24~ds1", 2, None),
    ("", "v2.1.4", 3, None),  # empty: the same (the disagreement of the one-plan issue)
    ("# only a comment\n", "v2.0.0", 3, None),
    ("", "1.6.20~ds1", 2, None),
    ('root = "/var/lib/containerd"\n', "v2.1.4", 1, None),  # non-empty without version: containerd reads v1
    ("version = 2\n", "v2.1.4", 2, 2),
    ("version = 3\n", "1.7.24", 3, 3),
])
def test_config_version_is_the_one_nvidia_ctk_uses(run_module, tmp_path, text, binary_version, version, declared):
    config = tmp_path / "config.toml"
    if text is not None:
        config.write_text(text)
    binary = fake_containerd(tmp_path, binary_version)
    failed, result = run_module(containerd_facts, {"config_path": str(config), "containerd_path": binary})
    assert not failed and not result["changed"]
    facts = result["ansible_facts"]["containerd"]
    assert facts["config"]["version"] == version and facts["config"]["declared_version"] == declared
    assert facts["config"]["cri_plugin"] == ctk.CRI_PLUGINS[version]
    assert facts["config"]["exists"] is (text is not None)
    # nvidia_ctk, planning for the same file and binary, picks the same version.
    containerd_version = ctk.parse_containerd_version(f"containerd x {binary_version}")
    plan = ctk.plan_configure(ctk.Request("containerd", config_path=str(config), containerd_version=containerd_version,
                                          drop_in_path=str(tmp_path / "conf.d/99-nvidia.toml")))
    assert plan.config_version == version


def test_no_containerd_installed(run_module, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # get_bin_path also looks in the sbin folders: none holds containerd
    failed, result = run_module(containerd_facts, {"config_path": str(tmp_path / "config.toml")})
    facts = result["ansible_facts"]["containerd"]
    assert not failed and facts["installed"] is False and facts["version"] is None
    assert facts["config"] == {"path": str(tmp_path / "config.toml"), "exists": False, "empty": True,
                               "declared_version": None, "version": 2, "cri_plugin": "io.containerd.grpc.v1.cri",
                               "disabled_plugins": [], "runc_runtimes": []}


def test_disabled_plugins_and_errors(run_module, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('version = 2\ndisabled_plugins = ["cri"]\n')
    binary = fake_containerd(tmp_path, "1.7.24")
    failed, result = run_module(containerd_facts, {"config_path": str(config), "containerd_path": binary})
    assert not failed and result["ansible_facts"]["containerd"]["config"]["disabled_plugins"] == ["cri"]
    config.write_text("disabled_plugins = 5\n")
    failed, result = run_module(containerd_facts, {"config_path": str(config), "containerd_path": binary})
    assert failed and "disabled_plugins must be an array" in result["msg"] and str(config) in result["msg"]
    config.write_text("version = [\n")
    failed, result = run_module(containerd_facts, {"config_path": str(config), "containerd_path": binary})
    assert failed and "invalid TOML" in result["msg"]
    failed, result = run_module(containerd_facts, {"config_path": "config.toml", "containerd_path": binary})
    assert failed and "config_path must be an absolute path" in result["msg"]


def test_hung_containerd_is_a_clean_failure(run_module, tmp_path):
    binary = tmp_path / "containerd"
    binary.write_text("#!/bin/sh\nsleep 30\n")
    binary.chmod(0o755)
    failed, result = run_module(containerd_facts, {"config_path": str(tmp_path / "c.toml"),
                                                   "containerd_path": str(binary), "command_timeout": 1})
    assert failed and "did not finish within 1 s" in result["msg"]
