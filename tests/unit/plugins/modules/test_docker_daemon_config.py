# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.modules import docker_daemon_config
from hypothesis import given, settings
from hypothesis import strategies as st

NVIDIA = {"runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"}}, "default-runtime": "nvidia"}


def test_merge_keeps_nvidia_runtime_and_is_idempotent(run_module, tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps(NVIDIA))
    args = {"path": str(path), "settings": {"log-driver": "json-file", "log-opts": {"max-size": "10m"}}}
    failed, result = run_module(docker_daemon_config, dict(args, _ansible_diff=True))
    assert not failed and result["changed"] and result["restart_required"]
    assert json.loads(path.read_text()) == {**NVIDIA, "log-driver": "json-file", "log-opts": {"max-size": "10m"}}
    assert path.read_text().startswith('{\n    "default-runtime"') and path.read_text().endswith("}\n")
    assert result["diff"][0]["before"] == json.dumps(NVIDIA) and result["diff"][0]["after"] == path.read_text()
    data = path.read_bytes()
    failed, result = run_module(docker_daemon_config, args)
    assert not failed and not result["changed"] and path.read_bytes() == data
    assert sorted(os.listdir(tmp_path)) == [".daemon.json.lock", "daemon.json"]  # no temp file left


def test_unchanged_content_keeps_foreign_layout(run_module, tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text('{"log-driver":"json-file"}')
    failed, result = run_module(docker_daemon_config, {"path": str(path), "settings": {"log-driver": "json-file"}})
    assert not failed
    assert not result["changed"] and path.read_text() == '{"log-driver":"json-file"}'


def test_deep_remove(run_module, tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({**NVIDIA, "log-opts": {"max-size": "10m", "max-file": "3"}}))
    failed, result = run_module(docker_daemon_config, {"path": str(path), "state": "absent",
                                                       "settings": {"log-opts": {"max-file": None},
                                                                    "default-runtime": None}})
    assert not failed and result["changed"]
    assert json.loads(path.read_text()) == {"runtimes": NVIDIA["runtimes"], "log-opts": {"max-size": "10m"}}
    run_module(docker_daemon_config,
               {"path": str(path), "state": "absent", "settings": {"log-opts": {"max-size": None}}})
    assert json.loads(path.read_text()) == {"runtimes": NVIDIA["runtimes"]}


def test_check_mode_backup_and_missing_file(run_module, tmp_path):
    path = tmp_path / "docker" / "daemon.json"
    failed, result = run_module(docker_daemon_config,
                                {"path": str(path), "settings": {"a": 1}, "_ansible_check_mode": True})
    assert result["changed"] and not path.exists()
    failed, result = run_module(docker_daemon_config, {"path": str(path), "state": "absent", "settings": {"a": 1}})
    assert not result["changed"] and not path.exists()
    run_module(docker_daemon_config, {"path": str(path), "settings": {"a": 1}})
    failed, result = run_module(docker_daemon_config, {"path": str(path), "settings": {"a": 2}, "backup": True})
    assert not failed
    assert len(result["backup_files"]) == 1 and json.loads(Path(result["backup_files"][0]).read_text()) == {"a": 1}


@pytest.mark.parametrize(("text", "line"), [('{"a": 1,,}', 1), ("", 1), ('{\n"a": tru\n}', 2)])
def test_invalid_json_fails_untouched(run_module, tmp_path, text, line):
    path = tmp_path / "daemon.json"
    path.write_text(text)
    failed, result = run_module(docker_daemon_config, {"path": str(path), "settings": {"a": 1}})
    assert failed and result["error"]["line"] == line and str(path) in result["msg"]
    assert path.read_text() == text and sorted(os.listdir(tmp_path)) == [".daemon.json.lock", "daemon.json"]


keys = st.text("abcdef-", min_size=1, max_size=5)
values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                      lambda inner: st.dictionaries(keys, inner, max_size=3), max_leaves=6)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(keys, values, max_size=5), st.dictionaries(st.sampled_from(["log-opts", "x"]),
                                                                  st.dictionaries(keys, st.integers(), min_size=1),
                                                                  min_size=1))
def test_merge_keeps_every_other_key(tmp_path_factory, data, new):
    from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _config_files as cf
    change, config = docker_daemon_config.plan("/d.json", cf.dump_json(data), new, "present")
    assert json.loads(change.after) == config
    for key in data:
        if key not in new:
            assert config[key] == data[key]
    for key, value in new.items():
        for sub, sub_value in value.items():
            assert config[key][sub] == sub_value
