# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile input for nvidia_ctk, docker_daemon_config and containerd_config (issue #11).

Every case runs the module's real main() on files in a temporary tree and asserts one of two outcomes:
a clean failure (a message that names what is wrong, no traceback, no generic module failure) with every
file's bytes, mode, owner and link-ness unchanged; or the documented result. The numbers in the comments
are the issue's classes.
"""
from __future__ import annotations

import contextlib
import errno
import json
import multiprocessing
import os
import re
import stat
import time
import tomllib
from pathlib import Path
from unittest import mock

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _config_files as cf
from ansible_collections.homelab.nvidia_gpu.plugins.modules import containerd_config, docker_daemon_config, nvidia_ctk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CRI = "io.containerd.grpc.v1.cri"
V2 = f'version = 2\n\n[plugins."{CRI}".containerd.runtimes.runc]\n  runtime_type = "io.containerd.runc.v2"\n' \
     f'[plugins."{CRI}".containerd.runtimes.runc.options]\n  SystemdCgroup = true\n'
NVIDIA = {"runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"}}}
MODULES = {"ctk": nvidia_ctk, "daemon": docker_daemon_config, "containerd": containerd_config}
HYPOTHESIS = settings(max_examples=40, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# --- the harness ------------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under root: kind, mode, owner, link target and bytes; empty module lock files left out."""
    entries = {}
    for directory, dirs, names in os.walk(root):
        for name in sorted(dirs + names):
            path = os.path.join(directory, name)
            st_ = os.lstat(path)
            if stat.S_ISLNK(st_.st_mode):
                entries[path] = ("link", os.readlink(path))
            elif stat.S_ISREG(st_.st_mode):
                if name.startswith(".") and name.endswith(".lock") and st_.st_size == 0:
                    continue
                entries[path] = ("file", st_.st_mode, st_.st_uid, st_.st_gid, Path(path).read_bytes())
            else:
                entries[path] = ("other", st_.st_mode, st_.st_uid, st_.st_gid)
    return entries


def assert_clean(failed: bool, result: dict) -> None:
    text = json.dumps(result)
    for marker in ("Traceback", "MODULE FAILURE", "Module failed", "Errno"):
        assert marker not in text, text[:2000]
    if failed:
        assert isinstance(result.get("msg"), str) and len(result["msg"]) > 15, result


@pytest.fixture
def run(run_module, tmp_path, deadline):
    """run(module_key, args, patches=None) -> (failed, result); a failure must leave the tree as it was."""
    def go(key: str, args: dict, patches: dict | None = None) -> tuple[bool, dict]:
        module = MODULES[key]
        if key == "ctk":
            patches = {"containerd_version": None, **(patches or {})}
        before = snapshot(tmp_path)
        with deadline(20):
            failed, result = run_module(module, args, patches)
        assert_clean(failed, result)
        if failed:
            assert snapshot(tmp_path) == before, "a failed run changed files"
            assert result.get("files", []) == [] and result.get("changed") is False
        return failed, result
    return go


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


def ctk_containerd(tmp_path: Path, text: str | None = V2, **extra) -> dict:
    config = tmp_path / "etc/containerd/config.toml"
    if text is not None:
        write(config, text)
    return {"runtime": "containerd", "config_path": str(config),
            "drop_in_path": str(tmp_path / "etc/containerd/conf.d/99-nvidia.toml"), **extra}


def daemon(tmp_path: Path, text: str | bytes | None) -> str:
    path = tmp_path / "etc/docker/daemon.json"
    if text is not None:
        write(path, text)
    return str(path)


# --- 2, 5: values no config can hold, JSON as dockerd reads it --------------------------------

DEEP_JSON = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 70 + "1" + "}" * 70


@pytest.mark.parametrize(("text", "reason"), [
    ('{"a": NaN}', "NaN is not JSON"),
    ('{"a": Infinity}', "Infinity is not JSON"),
    ('{"a": -Infinity}', "-Infinity is not JSON"),
    ('{"a": 1e400}', "1e400 does not fit a 64-bit float"),
    ('{"a": [1, -1e999]}', "-1e999 does not fit"),
    ('{"a": "\\ud800"}', "lone surrogate"),
    ('{"\\udfff": 1}', "lone surrogate"),
    ('{"log-opts": {"tag": "x\\udc00y"}}', "lone surrogate"),
    ('{"a": ' + DEEP_JSON + "}", "nested too deeply"),
    (DEEP_OBJECT, "nested more than 64 levels"),
    ("", "the file is empty"),
    ("   \n", "the file is empty"),
    ("[1, 2]", "must be a JSON object"),
    ('"text"', "must be a JSON object"),
    ("null", "must be a JSON object"),
    ('{"a": 1,}', "invalid JSON"),
    ("{'a': 1}", "invalid JSON"),
    ('{"a": 1} {"b": 2}', "invalid JSON"),
    (b'{"a": "\xff"}', "not valid UTF-8"),
    (b"\xef\xbb\xbf{}", "invalid JSON"),
])
@pytest.mark.parametrize("key", ["daemon", "ctk"])
def test_daemon_json_dockerd_refuses_is_refused(run, tmp_path, key, text, reason):
    path = daemon(tmp_path, text)
    args = {"path": path, "settings": {"debug": True}} if key == "daemon" else {"runtime": "docker",
                                                                                "config_path": path}
    failed, result = run(key, args)
    assert failed and reason in result["msg"] and path in result["msg"]


@pytest.mark.parametrize(("settings_", "reason"), [
    ({"debug": None}, "debug is null"),
    ({"log-opts": {"max-size": None}}, "log-opts.max-size is null"),
    ({"hosts": ["unix://", None]}, "hosts[1] is null"),
    ({"a": float("nan")}, "a is nan"),
    ({"a": {"b": float("inf")}}, "a.b is inf"),
    ({"a": [float("-inf")]}, "a[0] is -inf"),
])
def test_daemon_settings_no_file_can_hold_are_refused(run, tmp_path, settings_, reason):
    path = daemon(tmp_path, json.dumps(NVIDIA))
    failed, result = run("daemon", {"path": path, "settings": settings_})
    assert failed and reason in result["msg"] and path in result["msg"]


def test_daemon_null_with_state_absent_only_names_a_key(run, tmp_path):
    path = daemon(tmp_path, json.dumps({**NVIDIA, "debug": True}))
    failed, result = run("daemon", {"path": path, "settings": {"debug": None}, "state": "absent"})
    assert not failed and result["changed"] and json.loads(Path(path).read_text()) == NVIDIA


def test_daemon_duplicate_keys_are_named(run, tmp_path):
    path = daemon(tmp_path, '{"debug": false, "debug": true, "log-level": "info", "log-level": "warn"}')
    failed, result = run("daemon", {"path": path, "settings": {"debug": True}})
    assert not failed and not result["changed"]  # the last "debug" (true) is what dockerd reads
    assert any("'debug', 'log-level'" in w and path in w for w in result["warnings"]), result["warnings"]


@pytest.mark.parametrize(("settings_", "reason"), [
    ({"version": None}, "version is null"),
    ({f'plugins."{CRI}".sandbox_image': None}, "is null"),
    ({"a": float("nan")}, "a is nan"),
    ({"a": {"b": [1, None]}}, "a.b[1] is null"),
])
def test_containerd_settings_no_file_can_hold_are_refused(run, tmp_path, settings_, reason):
    path = write(tmp_path / "config.toml", V2)
    failed, result = run("containerd", {"path": str(path), "settings": settings_})
    assert failed and reason in result["msg"] and str(path) in result["msg"]


@pytest.mark.parametrize(("text", "reason"), [
    ("a = " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 100 levels"),
    ("a = " + "{b = " * 3000 + "1" + "}" * 3000 + "\n", "invalid TOML"),
    ("version = 2\n[plugins\n", "invalid TOML"),
    ("a = 1\na = 2\n", "invalid TOML"),
    (b"version = 2\n# \xff\n", "not valid UTF-8"),
])
@pytest.mark.parametrize("key", ["containerd", "ctk"])
def test_toml_that_cannot_be_read_is_refused(run, tmp_path, key, text, reason):
    path = write(tmp_path / "etc/containerd/config.toml", text)
    args = {"path": str(path), "settings": {"version": 2}} if key == "containerd" else ctk_containerd(tmp_path, None)
    failed, result = run(key, args)
    assert failed and reason in result["msg"] and str(path) in result["msg"]


# --- 2: tables that are not tables, inline tables ---------------------------------------------


@pytest.mark.parametrize(("text", "reason"), [
    (f'version = 2\n[plugins."{CRI}"]\ncontainerd = 5\n', "containerd must be a table"),
    (f'version = 2\n[plugins."{CRI}".containerd]\nruntimes = 5\n', "containerd.runtimes must be a table"),
    (f'version = 2\n[plugins."{CRI}".containerd.runtimes]\nrunc = 5\n', "must be a table"),
    (f'version = 2\n[plugins."{CRI}".containerd.runtimes.runc]\noptions = 5\n', "options"),
    ('version = 2\nplugins = 5\n', "plugins must be a table"),
    (f'version = 2\nplugins = {{ "{CRI}" = 5 }}\n', "must be a table"),
    ('version = 2\nimports = "/etc/containerd/conf.d/*.toml"\n', "imports must be an array of paths"),
    ('version = 2\nimports = [1]\n', "imports must be an array of paths"),
    ('version = "2"\n', "version must be an integer"),
    ('version = 4\n', "unsupported containerd config version 4"),
])
@pytest.mark.parametrize("drop_in", [True, False])
def test_ctk_containerd_wrong_types_are_refused(run, tmp_path, text, reason, drop_in):
    args = ctk_containerd(tmp_path, text)
    if not drop_in:
        args["drop_in_path"] = ""
    if not drop_in and "imports" in text:
        pytest.skip("in place, imports are not read")
    failed, result = run("ctk", args)
    assert failed and reason in result["msg"] and args["config_path"] in result["msg"]


@pytest.mark.parametrize(("text", "key"), [
    (f'version = 2\n[plugins."{CRI}"]\ncontainerd = 5\n', f'plugins."{CRI}".containerd.snapshotter'),
    ('version = 2\nplugins = 5\n', f'plugins."{CRI}".sandbox_image'),
    ("version = 2\na = [1]\n", "a.b"),
])
def test_containerd_config_key_through_a_value_is_refused(run, tmp_path, text, key):
    path = write(tmp_path / "config.toml", text)
    failed, result = run("containerd", {"path": str(path), "settings": {key: "x"}})
    assert failed and "must be a table" in result["msg"] and str(path) in result["msg"]


INLINE_CRI = (f'version = 2\n[plugins]\n"{CRI}" = {{ sandbox_image = "p:1", containerd = {{ runtimes = '
              '{ runc = { runtime_type = "io.containerd.runc.v2", options = { SystemdCgroup = true } } } } }\n')


@pytest.mark.parametrize("drop_in", [True, False])
def test_ctk_inline_cri_section_is_configured(run, tmp_path, drop_in):
    args = ctk_containerd(tmp_path, INLINE_CRI, **({} if drop_in else {"drop_in_path": ""}))
    failed, result = run("ctk", args)
    assert not failed and result["changed"]
    target = args["drop_in_path"] if drop_in else args["config_path"]
    cri = tomllib.loads(Path(target).read_text())["plugins"][CRI]
    nvidia = cri["containerd"]["runtimes"]["nvidia"]
    assert nvidia["options"] == {"SystemdCgroup": True, "BinaryName": "/usr/bin/nvidia-container-runtime"}
    assert cri["sandbox_image"] == "p:1"
    failed, again = run("ctk", args)
    assert not failed and not again["changed"]


def test_containerd_config_edits_an_inline_table_inline(run, tmp_path):
    path = write(tmp_path / "config.toml", INLINE_CRI)
    key = f'plugins."{CRI}".containerd.runtimes.runc.options.BinaryName'
    failed, result = run("containerd", {"path": str(path), "settings": {key: "/usr/bin/runc", "a.b.c": 1}})
    assert not failed and result["changed"]
    parsed = tomllib.loads(path.read_text())
    assert parsed["plugins"][CRI]["containerd"]["runtimes"]["runc"]["options"]["BinaryName"] == "/usr/bin/runc"
    assert parsed["a"] == {"b": {"c": 1}} and path.read_text().startswith(f'version = 2\n[plugins]\n"{CRI}" = {{')


# --- 2: paths -------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "args", "option"), [
    ("daemon", {"path": "etc/daemon.json", "settings": {"a": 1}}, "path"),
    ("containerd", {"path": "config.toml", "settings": {"version": 2}}, "path"),
    ("ctk", {"runtime": "docker", "config_path": "daemon.json"}, "config_path"),
    ("ctk", {"runtime": "containerd", "config_path": "etc/config.toml"}, "config_path"),
    ("ctk", {"runtime": "containerd", "config_path": "/nonexistent/config.toml", "drop_in_path": "conf.d/x.toml"},
     "drop_in_path"),
    ("ctk", {"runtime": "crio", "config_path": "crio.conf"}, "config_path"),
    ("ctk", {"runtime": "crio", "config_path": "/nonexistent/crio.conf", "drop_in_path": "x.toml"}, "drop_in_path"),
    ("ctk", {"command": "cdi_generate", "cdi_output": "nvidia.yaml", "nvidia_ctk_path": "/bin/true"}, "cdi_output"),
])
def test_relative_paths_are_refused_and_nothing_is_written(run, tmp_path, monkeypatch, key, args, option):
    monkeypatch.chdir(tmp_path)
    failed, result = run(key, args)
    assert failed and f"{option} must be an absolute path" in result["msg"]
    assert os.listdir(tmp_path) == []


# --- 6: runtime names and paths --------------------------------------------------------------


@pytest.mark.parametrize(("name", "reason"), [
    ("", "not a usable runtime name"),
    ('nvi"dia', "not a usable runtime name"),
    ("nvidia runtime", "not a usable runtime name"),
    ("nvidia\n", "not a usable runtime name"),
    ("-nvidia", "not a usable runtime name"),
    ("n" * 64, "not a usable runtime name"),
    ("nvídia", "not a usable runtime name"),
    ("runc", "built-in or low-level runtime"),
    ("crun", "built-in or low-level runtime"),
    ("io.containerd.runc.v2", "built-in or low-level runtime"),
])
@pytest.mark.parametrize("engine", ["docker", "containerd", "crio"])
def test_bad_runtime_names_are_refused(run, tmp_path, engine, name, reason):
    config = {"docker": ("etc/docker/daemon.json", json.dumps(NVIDIA)),
              "containerd": ("etc/containerd/config.toml", V2), "crio": ("etc/crio/crio.conf", "")}[engine]
    path = write(tmp_path / config[0], config[1])
    failed, result = run("ctk", {"runtime": engine, "config_path": str(path), "runtime_name": name,
                                 "drop_in_path": str(tmp_path / "drop-in.toml")})
    assert failed and reason in result["msg"]


@pytest.mark.parametrize(("engine", "runtime_path", "ok"), [
    ("containerd", "nvidia-container-runtime", False),
    ("containerd", "bin/nvidia-container-runtime", False),
    ("crio", "nvidia-container-runtime", False),
    ("docker", "bin/nvidia-container-runtime", False),
    ("docker", "", False),
    ("docker", "/usr/bin/nvidia container runtime", False),
    ("containerd", "/usr/bin/nvidia-container-runtime\n", False),
    ("docker", "nvidia-container-runtime", True),
    ("docker", "/opt/nvidia/bin/nvidia-container-runtime", True),
    ("containerd", "/opt/nvidia/bin/nvidia-container-runtime", True),
])
def test_runtime_paths_are_checked(run, tmp_path, engine, runtime_path, ok):
    config = tmp_path / ("daemon.json" if engine == "docker" else "config.toml")
    write(config, json.dumps(NVIDIA) if engine == "docker" else V2)
    failed, result = run("ctk", {"runtime": engine, "config_path": str(config), "runtime_path": runtime_path,
                                 "drop_in_path": str(tmp_path / "conf.d/99-nvidia.toml")})
    if ok:
        written = json.loads(config.read_text())["runtimes"]["nvidia"]["path"] if engine == "docker" else \
            tomllib.loads(Path(tmp_path / "conf.d/99-nvidia.toml").read_text())["plugins"][CRI]["containerd"][
                "runtimes"]["nvidia"]["options"]["BinaryName"]
        assert not failed and written == runtime_path
    else:
        assert failed and "runtime_path" in result["msg"]


# --- 3: options that contradict the file -----------------------------------------------------


@pytest.mark.parametrize(("text", "config_version", "containerd_version", "reason"), [
    (V2, 1, None, "config_version 1 contradicts the file, which has version = 2"),
    (V2, 3, None, "config_version 3 contradicts the file, which has version = 2"),
    ('version = 3\n[plugins."io.containerd.cri.v1.runtime"]\n', 2, None, "contradicts the file"),
    ('root = "/var/lib/containerd"\n', 2, None, "which has no version (version 1)"),
    ('root = "/var/lib/containerd"\n', 3, None, "which has no version (version 1)"),
    ("", 3, (1, 7), "config_version 3 needs containerd 2.0 or later"),
    (None, 3, (1, 6), "config_version 3 needs containerd 2.0 or later"),
])
@pytest.mark.parametrize("drop_in", [True, False])
def test_config_version_contradicting_the_file_is_refused(run, tmp_path, text, config_version, containerd_version,
                                                          reason, drop_in):
    args = ctk_containerd(tmp_path, text, config_version=config_version)
    if not drop_in:
        args["drop_in_path"] = ""
    failed, result = run("ctk", args, patches={"containerd_version": containerd_version})
    assert failed and reason in result["msg"]


@pytest.mark.parametrize(("text", "config_version"), [(V2, 2), ("", 3), (None, 1), ('root = "/x"\n', 1)])
def test_config_version_that_agrees_is_used(run, tmp_path, text, config_version):
    failed, result = run("ctk", ctk_containerd(tmp_path, text, config_version=config_version))
    assert not failed and result["config_version"] == config_version


# --- 4: types compared strictly ---------------------------------------------------------------


@pytest.mark.parametrize(("old", "new"), [
    ({"debug": 1}, {"debug": True}),
    ({"debug": 0}, {"debug": False}),
    ({"debug": True}, {"debug": 1}),
    ({"shutdown-timeout": 3.0}, {"shutdown-timeout": 3}),
    ({"shutdown-timeout": 3}, {"shutdown-timeout": 3.0}),
    ({"log-opts": {"max-file": 3}}, {"log-opts": {"max-file": "3"}}),
    ({"dns": ["1.1.1.1"]}, {"dns": "1.1.1.1"}),
    ({"features": {}}, {"features": []}),
])
def test_daemon_wrong_type_is_a_change(run, tmp_path, old, new):
    path = daemon(tmp_path, json.dumps(old))
    failed, result = run("daemon", {"path": path, "settings": new})
    assert not failed and result["changed"]
    assert json.loads(Path(path).read_text()) == new and cf.same(json.loads(Path(path).read_text()), new)


@pytest.mark.parametrize(("old", "new"), [("1", True), ("true", 1), ("3.0", 3), ("3", 3.0), ('"true"', True)])
def test_containerd_wrong_type_is_a_change(run, tmp_path, old, new):
    key = f'plugins."{CRI}".containerd.runtimes.runc.options.SystemdCgroup'
    path = write(tmp_path / "config.toml", V2.replace("SystemdCgroup = true", f"SystemdCgroup = {old}"))
    failed, result = run("containerd", {"path": str(path), "settings": {key: new}})
    assert not failed and result["changed"]
    value = tomllib.loads(path.read_text())["plugins"][CRI]["containerd"]["runtimes"]["runc"]["options"]
    assert cf.same(value["SystemdCgroup"], new)


def test_ctk_in_place_entry_with_a_wrong_type_is_rewritten(run, tmp_path):
    args = ctk_containerd(tmp_path, V2, drop_in_path="")
    run("ctk", args)
    path = Path(args["config_path"])
    path.write_text(path.read_text().replace('BinaryName = "/usr/bin/nvidia-container-runtime"\n',
                                             'BinaryName = "/usr/bin/nvidia-container-runtime"\nSystemdCgroup = 1\n',
                                             1).replace("SystemdCgroup = true\nBinaryName", "BinaryName"))
    failed, result = run("ctk", args)
    assert not failed and result["changed"]


# --- 1: symlinks and files that are not regular -----------------------------------------------


@pytest.mark.parametrize("key", ["daemon", "ctk"])
def test_symlinked_daemon_json_writes_the_target_and_keeps_the_link(run, tmp_path, key):
    target = write(tmp_path / "srv/cfg/daemon.json", '{"debug": true}')
    link = tmp_path / "etc/docker/daemon.json"
    link.parent.mkdir(parents=True)
    link.symlink_to("../../srv/cfg/daemon.json")
    args = {"path": str(link), "settings": NVIDIA} if key == "daemon" else \
        {"runtime": "docker", "config_path": str(link)}
    failed, result = run(key, args)
    assert not failed and result["changed"]
    assert link.is_symlink() and os.readlink(link) == "../../srv/cfg/daemon.json"
    assert json.loads(target.read_text()) == {"debug": True, **NVIDIA}
    assert sorted(p.name for p in target.parent.iterdir() if not p.name.endswith(".lock")) == ["daemon.json"]
    failed, again = run(key, args)
    assert not failed and not again["changed"]


def test_symlinked_config_toml_and_drop_in_are_written_through(run, tmp_path):
    args = ctk_containerd(tmp_path, None)
    target = write(tmp_path / "srv/config.toml", V2)
    Path(args["config_path"]).parent.mkdir(parents=True, exist_ok=True)
    Path(args["config_path"]).symlink_to(target)
    drop_target = write(tmp_path / "srv/99-nvidia.toml", "")
    Path(args["drop_in_path"]).parent.mkdir(parents=True)
    Path(args["drop_in_path"]).symlink_to(drop_target)
    failed, result = run("ctk", args)
    assert not failed and result["changed"]
    assert Path(args["config_path"]).is_symlink() and Path(args["drop_in_path"]).is_symlink()
    assert "imports" in tomllib.loads(target.read_text())
    assert "nvidia" in tomllib.loads(drop_target.read_text())["plugins"][CRI]["containerd"]["runtimes"]


def test_containerd_config_through_a_symlink(run, tmp_path):
    target = write(tmp_path / "srv/config.toml", V2)
    link = tmp_path / "config.toml"
    link.symlink_to(target)
    failed, _result = run("containerd", {"path": str(link), "settings": {"oom_score": -999}})
    assert not failed and link.is_symlink() and tomllib.loads(target.read_text())["oom_score"] == -999


def _dangling(path: Path) -> None:
    path.symlink_to(path.parent / "missing" / path.name)


def _loop(path: Path) -> None:
    other = path.parent / f"{path.name}.other"
    other.symlink_to(path)
    path.symlink_to(other)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _directory(path: Path) -> None:
    path.mkdir()


def _device(path: Path) -> None:
    path.symlink_to("/dev/null")


def _fifo_behind_link(path: Path) -> None:
    os.mkfifo(path.parent / "fifo")
    path.symlink_to(path.parent / "fifo")


NOT_REGULAR = [(_dangling, "a dangling link"), (_loop, "a symlink loop"), (_fifo, "is a FIFO"),
               (_directory, "is a directory"), (_device, "is a character device"),
               (_fifo_behind_link, "is a FIFO (named pipe) (through the link")]


@pytest.mark.parametrize(("make", "reason"), NOT_REGULAR, ids=[case[0].__name__ for case in NOT_REGULAR])
@pytest.mark.parametrize("case", ["daemon", "containerd", "ctk-docker", "ctk-config.toml", "ctk-drop-in"])
def test_not_a_regular_file_is_refused_before_it_is_opened(run, tmp_path, case, make, reason):
    etc = tmp_path / "etc"
    etc.mkdir()
    if case == "daemon":
        make(etc / "daemon.json")
        key, args, named = "daemon", {"path": str(etc / "daemon.json"), "settings": {"a": 1}}, etc / "daemon.json"
    elif case == "containerd":
        make(etc / "config.toml")
        key, args, named = "containerd", {"path": str(etc / "config.toml"), "settings": {"version": 2}}, \
            etc / "config.toml"
    elif case == "ctk-docker":
        make(etc / "daemon.json")
        key, args, named = "ctk", {"runtime": "docker", "config_path": str(etc / "daemon.json")}, etc / "daemon.json"
    elif case == "ctk-config.toml":
        make(etc / "config.toml")
        key, args, named = "ctk", {"runtime": "containerd", "config_path": str(etc / "config.toml"),
                                   "drop_in_path": str(etc / "99-nvidia.toml")}, etc / "config.toml"
    else:
        write(etc / "config.toml", V2)
        make(etc / "99-nvidia.toml")
        key, args, named = "ctk", {"runtime": "containerd", "config_path": str(etc / "config.toml"),
                                   "drop_in_path": str(etc / "99-nvidia.toml")}, etc / "99-nvidia.toml"
    failed, result = run(key, args)
    assert failed and reason in result["msg"] and str(named) in result["msg"]


# --- 2, 7: write failures name the config file and what was written ---------------------------


def _refuse_in(directory: str):
    real = cf.tempfile.mkstemp

    def mkstemp(*args, **kwargs):
        if os.path.realpath(kwargs.get("dir", "")) == os.path.realpath(directory):
            raise OSError(errno.EROFS, "Read-only file system", os.path.join(directory, ".x.tmp"))
        return real(*args, **kwargs)
    return mkstemp


@pytest.mark.parametrize("key", ["daemon", "containerd", "ctk-docker"])
def test_read_only_file_system_names_the_config_not_the_temp_file(run, tmp_path, key):
    if key == "containerd":
        path = write(tmp_path / "config.toml", V2)
        args = {"path": str(path), "settings": {"oom_score": 1}}
    else:
        path = Path(daemon(tmp_path, "{}"))
        args = {"path": str(path), "settings": {"a": 1}} if key == "daemon" else {"runtime": "docker",
                                                                                  "config_path": str(path)}
    with mock.patch.object(cf.tempfile, "mkstemp", side_effect=_refuse_in(str(path.parent))):
        failed, result = run(key.split("-")[0] if key != "ctk-docker" else "ctk", args)
    assert failed and result["msg"].startswith(f"{path}: cannot write: Read-only file system")
    assert ".tmp" not in result["msg"] and "nothing was changed" in result["msg"]


def test_first_file_fails_nothing_is_reported_written(run, tmp_path):
    args = ctk_containerd(tmp_path)
    write(Path(args["drop_in_path"]), "")
    with mock.patch.object(cf.tempfile, "mkstemp", side_effect=_refuse_in(os.path.dirname(args["drop_in_path"]))):
        failed, result = run("ctk", args)
    assert failed and args["drop_in_path"] in result["msg"] and "nothing was changed" in result["msg"]


def test_second_file_fails_after_the_harmless_first_is_reported(run_module, tmp_path):
    args = ctk_containerd(tmp_path)
    config_before = Path(args["config_path"]).read_bytes()
    refuse = _refuse_in(os.path.dirname(args["config_path"]))
    with mock.patch.object(cf.tempfile, "mkstemp", side_effect=refuse):
        failed, result = run_module(nvidia_ctk, args, {"containerd_version": None})
    assert_clean(failed, result)
    # The drop-in went first: without config.toml's import it is not read, so containerd runs as before.
    assert failed and result["changed"] is True and result["files"] == [args["drop_in_path"]]
    assert result["msg"].startswith(f"{args['config_path']}: cannot write") and "already written" in result["msg"]
    assert Path(args["config_path"]).read_bytes() == config_before and os.path.exists(args["drop_in_path"])
    failed, result = run_module(nvidia_ctk, args, {"containerd_version": None})  # once the cause is gone
    assert not failed and result["files"] == [args["config_path"]]


def test_drop_in_is_planned_before_the_import_that_activates_it():
    def read(path):
        return V2 if path.endswith("config.toml") else None
    from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _nvidia_ctk as ctk
    plan = ctk.plan_configure(ctk.Request("containerd"), ctk.Files(read=read, glob=lambda _p: []))
    assert [c.path for c in plan.changes] == [ctk.DEFAULT_DROP_IN_PATHS["containerd"], ctk.DEFAULT_CONFIG_PATHS[
        "containerd"]]


# --- 8: concurrent runs lose nothing ----------------------------------------------------------


def _slow_module_run(module_name: str, args: dict, delay: float) -> None:
    """A child process: the module's main() with a pause between reading and writing the file."""
    from ansible.module_utils.testing import patch_module_args
    module = MODULES[module_name]
    real = cf.read_text

    def slow_read(path):
        text = real(path)
        time.sleep(delay)
        return text
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), \
            mock.patch.object(cf, "read_text", slow_read), patch_module_args(args), contextlib.suppress(SystemExit):
        module.main()


@pytest.mark.parametrize(("first", "second"), [
    (("daemon", {"settings": {"log-level": "warn"}}), ("daemon", {"settings": {"debug": True}})),
    (("daemon", {"settings": {"log-level": "warn"}}), ("ctk", {"runtime": "docker"})),
    (("containerd", {"settings": {"oom_score": -999}}), ("ctk", {"runtime": "containerd", "drop_in_path": ""})),
])
def test_two_runs_on_one_file_keep_both_updates(tmp_path, first, second):
    ctx = multiprocessing.get_context("fork")
    for round_ in range(3):
        if first[0] == "daemon":
            path = daemon(tmp_path / str(round_), "{}")
        else:
            path = str(write(tmp_path / str(round_) / "config.toml", V2))
        jobs = []
        for key, extra in (first, second):
            args = {**extra, ("config_path" if key == "ctk" else "path"): path}
            jobs.append(ctx.Process(target=_slow_module_run, args=(key, args, 0.3)))
        for job in jobs:
            job.start()
            time.sleep(0.05)
        for job in jobs:
            job.join(30)
            assert job.exitcode == 0
        text = Path(path).read_text()
        data = json.loads(text) if path.endswith(".json") else tomllib.loads(text)
        if second[0] == "ctk" and first[0] == "daemon":
            assert data["log-level"] == "warn" and "nvidia" in data["runtimes"], text
        elif first[0] == "daemon":
            assert data == {"log-level": "warn", "debug": True}, text
        else:
            assert data["oom_score"] == -999 and "nvidia" in data["plugins"][CRI]["containerd"]["runtimes"], text


# --- 9: other imported files with a CRI section -----------------------------------------------


def test_earlier_imported_cri_section_is_merged_and_named(run, tmp_path):
    args = ctk_containerd(tmp_path, V2 + 'imports = ["/etc/containerd/conf.d/*.toml"]\n'.replace(
        "/etc", str(tmp_path / "etc")))
    args["config_path"] = str(write(Path(args["config_path"]), V2.replace(
        "version = 2\n", f'version = 2\nimports = ["{tmp_path}/etc/containerd/conf.d/*.toml"]\n')))
    other = write(tmp_path / "etc/containerd/conf.d/10-registry.toml",
                  f'version = 2\n[plugins."{CRI}".registry]\nconfig_path = "/etc/containerd/certs.d"\n'
                  f'[plugins."{CRI}".containerd.runtimes.runc.options]\nSystemdCgroup = false\n')
    failed, result = run("ctk", args)
    assert not failed and result["changed"]
    assert any(str(other) in w and "merged into the drop-in's copy" in w for w in result["warnings"])
    cri = tomllib.loads(Path(args["drop_in_path"]).read_text())["plugins"][CRI]
    assert cri["registry"] == {"config_path": "/etc/containerd/certs.d"}
    # The later file wins, as containerd >= 2.1 merges it; the nvidia copy is taken from the merged runc.
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False
    assert cri["containerd"]["runtimes"]["nvidia"]["options"]["SystemdCgroup"] is False


def test_later_imported_cri_section_is_named(run, tmp_path):
    args = ctk_containerd(tmp_path)
    later = write(tmp_path / "etc/containerd/conf.d/zz-site.toml", f'version = 2\n[plugins."{CRI}"]\nx = 1\n')
    unrelated = write(tmp_path / "etc/containerd/conf.d/50-other.toml", 'version = 2\n[plugins."io.x"]\ny = 1\n')
    failed, result = run("ctk", args)
    assert not failed
    assert any(str(later) in w and "is imported after" in w for w in result["warnings"]), result["warnings"]
    assert not any(str(unrelated) in w for w in result["warnings"])


def test_unreadable_imported_file_is_named_not_fatal(run, tmp_path):
    args = ctk_containerd(tmp_path)
    broken = write(tmp_path / "etc/containerd/conf.d/10-broken.toml", "[plugins\n")
    failed, result = run("ctk", args)
    assert not failed and any(str(broken) in w and "invalid TOML" in w for w in result["warnings"])


# --- generated: any file content, any settings -------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(blacklist_categories=("Cs",)), max_size=8),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text("abc-.", min_size=1, max_size=4), inner, max_size=3), max_leaves=8)


@HYPOTHESIS
@given(content=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_daemon_json_bytes_give_a_clean_result(run, tmp_path, content):
    path = Path(daemon(tmp_path, content))
    for key, args in (("daemon", {"path": str(path), "settings": {"debug": True}}),
                      ("ctk", {"runtime": "docker", "config_path": str(path)})):
        failed, _result = run(key, args)
        if not failed:
            assert "nvidia" in json.loads(path.read_text()).get("runtimes", {}) or key == "daemon"
        path.write_bytes(content)


@HYPOTHESIS
@given(content=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_config_toml_bytes_give_a_clean_result(run, tmp_path, content):
    path = write(tmp_path / "etc/containerd/config.toml", content)
    for key, args in (("containerd", {"path": str(path), "settings": {"oom_score": 1}}),
                      ("ctk", ctk_containerd(tmp_path, None))):
        run(key, args)
        path.write_bytes(content)
        drop_in = tmp_path / "etc/containerd/conf.d/99-nvidia.toml"
        if drop_in.exists():
            drop_in.unlink()


@HYPOTHESIS
@given(settings_=st.dictionaries(st.text("abcd-", min_size=1, max_size=4), json_values, max_size=4))
def test_any_settings_give_a_clean_result(run, tmp_path, settings_):
    path = Path(daemon(tmp_path, json.dumps(NVIDIA)))
    failed, result = run("daemon", {"path": str(path), "settings": settings_})
    if failed:
        assert re.search(r"is (null|nan|inf|-inf)", result["msg"])
    else:
        written = json.loads(path.read_text())
        assert cf.same(written, cf.deep_merge(NVIDIA, settings_)) and written["runtimes"] == NVIDIA["runtimes"]
    path.write_text(json.dumps(NVIDIA))
