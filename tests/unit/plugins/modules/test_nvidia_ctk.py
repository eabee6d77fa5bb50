# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import functools
import os
import stat
import tomllib
from pathlib import Path
from unittest import mock

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _config_files as cf
from ansible_collections.homelab.nvidia_gpu.plugins.modules import nvidia_ctk


@pytest.fixture
def run(run_module):
    """nvidia_ctk's main(); the host's containerd is never asked (a test may name its version in `patches`)."""
    return functools.partial(run_module, nvidia_ctk, patches={"containerd_version": None})


@pytest.fixture
def containerd(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('# ours\nversion = 2\n\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "p:1"\n')
    return {"runtime": "containerd", "config_path": str(config),
            "drop_in_path": str(tmp_path / "conf.d/99-nvidia.toml")}


def snapshot(root) -> dict:
    """Every file's bytes; the module's empty lock files (.<config>.lock) are left out."""
    return {p: open(os.path.join(d, p), "rb").read() for d, _dirs, names in os.walk(root) for p in names
            if not (p.startswith(".") and p.endswith(".lock") and os.path.getsize(os.path.join(d, p)) == 0)}


def test_idempotent_bytes_and_no_temp_files(run, tmp_path, containerd):
    failed, first = run(containerd)
    assert not failed and first["changed"] and first["restart_required"]
    assert first["files"] == [containerd["drop_in_path"], containerd["config_path"]]  # drop-in before its import
    assert first["mode"] == "drop-in" and first["config_version"] == 2
    before = snapshot(tmp_path)
    assert sorted(before) == ["99-nvidia.toml", "config.toml"]  # no temp files left
    failed, second = run(containerd)
    assert not failed and not second["changed"] and not second["restart_required"] and second["files"] == []
    assert snapshot(tmp_path) == before


def test_check_mode_writes_nothing_and_diff_is_right(run, tmp_path, containerd):
    before = snapshot(tmp_path)
    failed, result = run(dict(containerd, _ansible_check_mode=True, _ansible_diff=True))
    assert not failed and result["changed"] and snapshot(tmp_path) == before
    drop_diff, config_diff = result["diff"]
    assert config_diff["before"] == before["config.toml"].decode()
    assert config_diff["after"].startswith("# ours\nversion = 2\nimports = [")
    assert drop_diff["before"] == "" and drop_diff["before_header"].endswith("(absent)")
    assert tomllib.loads(drop_diff["after"])["plugins"]["io.containerd.grpc.v1.cri"]["sandbox_image"] == "p:1"


def test_backup_and_mode_kept(run, tmp_path, containerd):
    os.chmod(containerd["config_path"], 0o600)
    failed, result = run(dict(containerd, backup=True))
    assert not failed and len(result["backup_files"]) == 1
    assert Path(result["backup_files"][0]).read_text().startswith("# ours\nversion = 2\n\n[plugins")
    assert stat.S_IMODE(os.stat(containerd["config_path"]).st_mode) == 0o600


def test_absent_removes_drop_in_and_import(run, tmp_path, containerd):
    original = Path(containerd["config_path"]).read_text()
    run(containerd)
    failed, result = run(dict(containerd, state="absent"))
    assert not failed and result["changed"]
    assert Path(containerd["config_path"]).read_text() == original
    assert not os.path.exists(containerd["drop_in_path"])


def test_invalid_toml_fails_untouched(run, tmp_path, containerd):
    Path(containerd["config_path"]).write_text("version = 2\n[plugins\n")
    before = snapshot(tmp_path)
    failed, result = run(containerd)
    assert failed and result["error"]["line"] == 2 and "line 2, column 8" in result["msg"]
    assert snapshot(tmp_path) == before


def test_empty_daemon_json_fails(run, tmp_path):
    (tmp_path / "daemon.json").write_text("")
    failed, result = run({"runtime": "docker", "config_path": str(tmp_path / "daemon.json")})
    assert failed and "empty" in result["msg"] and (tmp_path / "daemon.json").read_text() == ""


def test_missing_tomlkit_message(run, containerd):
    with mock.patch.object(cf, "has_tomlkit", return_value=False):
        failed, result = run(containerd)
    assert failed and "tomlkit" in result["msg"] and "python3-tomlkit" in result["msg"]


def test_runtime_required_for_configure(run):
    failed, result = run({})
    assert failed and "runtime" in result["msg"]


def test_old_containerd_gets_no_enable_cdi(run, containerd):
    failed, result = run(dict(containerd, cdi=True), patches={"containerd_version": (1, 6)})
    assert not failed and any("1.7" in w for w in result["warnings"])
    assert "enable_cdi" not in Path(containerd["drop_in_path"]).read_text()


def test_containerd_version_is_read_from_the_binary(tmp_path):
    binary = tmp_path / "containerd"
    binary.write_text('#!/bin/sh\n[ "$1" = --version ] && '
                      'echo "containerd github.com/containerd/containerd/v2 v2.1.4 abc"\n')
    binary.chmod(0o755)
    module = mock.Mock()
    module.get_bin_path.return_value = str(binary)
    assert nvidia_ctk.containerd_version(module) == (2, 1)
    module.get_bin_path.return_value = None
    assert nvidia_ctk.containerd_version(module) is None


# --- cdi_generate ---------------------------------------------------------------------------

FAKE_CTK = """#!/bin/sh
# stand-in nvidia-ctk: `cdi generate --output=FILE` writes a spec taken from $FAKE_SPEC
[ "$1 $2" = "cdi generate" ] || exit 2
out="${3#--output=}"
[ -n "$FAKE_FAIL" ] && { echo 'ERRO[0000] failed to initialize NVML: ERROR_LIBRARY_NOT_FOUND' >&2; exit 1; }
printf '%s' "$FAKE_SPEC" > "$out"
"""


@pytest.fixture
def fake_ctk(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "nvidia-ctk"
    script.write_text(FAKE_CTK)
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SPEC", "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices: []\n")
    return script


def test_cdi_generate_changed_then_unchanged(run, tmp_path, fake_ctk, monkeypatch):
    output = tmp_path / "cdi" / "nvidia.yaml"
    args = {"command": "cdi_generate", "cdi_output": str(output)}
    failed, result = run(dict(args, _ansible_diff=True))
    assert not failed and result["changed"] and result["restart_required"] is False
    assert output.read_text() == "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices: []\n"
    assert result["diff"][0]["after"] == output.read_text()
    failed, result = run(args)
    assert not failed and not result["changed"]
    monkeypatch.setenv("FAKE_SPEC", "cdiVersion: 0.6.0\n")
    failed, result = run(dict(args, _ansible_check_mode=True))
    assert result["changed"] and output.read_text().startswith("cdiVersion: 0.5.0")
    assert os.listdir(output.parent) == ["nvidia.yaml"]


def test_cdi_generate_without_driver_fails_clearly(run, tmp_path, fake_ctk, monkeypatch):
    monkeypatch.setenv("FAKE_FAIL", "1")
    failed, result = run({"command": "cdi_generate", "cdi_output": str(tmp_path / "n.yaml")})
    assert failed and "NVIDIA driver" in result["msg"] and "NVML" in result["msg"]
    assert not (tmp_path / "n.yaml").exists()


def test_cdi_generate_without_binary_fails_clearly(run, tmp_path):
    failed, result = run({"command": "cdi_generate", "nvidia_ctk_path": str(tmp_path / "nope"),
                          "cdi_output": str(tmp_path / "n.yaml")})
    assert failed and "nvidia-ctk not found" in result["msg"] and "nvidia-container-toolkit-base" in result["msg"]


def test_in_place_takes_over_from_an_earlier_drop_in(run, tmp_path, containerd):
    """One owner: switching to drop_in_path '' moves the runtime into config.toml, and the drop-in an earlier
    run wrote (which would shadow config.toml's CRI section with a stale copy) goes, with the import it added."""
    original = Path(containerd["config_path"]).read_text()
    run(containerd)
    assert "imports" in Path(containerd["config_path"]).read_text()
    failed, result = run(dict(containerd, drop_in_path=""))
    assert not failed and result["changed"] and result["mode"] == "in-place"
    assert result["files"] == [containerd["config_path"], containerd["drop_in_path"]]  # runtime first, then removal
    assert not os.path.exists(containerd["drop_in_path"])
    text = Path(containerd["config_path"]).read_text()
    assert text.startswith("# ours\n") and "imports" not in text
    cri = tomllib.loads(text)["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["containerd"]["runtimes"]["nvidia"]["options"]["BinaryName"] == "/usr/bin/nvidia-container-runtime"
    assert cri["sandbox_image"] == "p:1"
    assert any("earlier run wrote" in w for w in result.get("warnings", []))
    failed, again = run(dict(containerd, drop_in_path=""))
    assert not failed and not again["changed"]
    failed, gone = run(dict(containerd, drop_in_path="", state="absent"))
    assert not failed and gone["changed"]
    assert tomllib.loads(Path(containerd["config_path"]).read_text()) == tomllib.loads(original)


def test_in_place_leaves_a_foreign_drop_in_alone(run, tmp_path, containerd):
    foreign = tmp_path / "conf.d" / "99-nvidia.toml"
    foreign.parent.mkdir()
    foreign.write_text("# someone else's\nversion = 2\n")
    failed, result = run(dict(containerd, drop_in_path=""))
    assert not failed and result["files"] == [containerd["config_path"]]
    assert foreign.read_text() == "# someone else's\nversion = 2\n"
