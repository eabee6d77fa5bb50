# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json
import os
import stat
from unittest import mock

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _config_files as cf


class FakeModule:
    """What apply_changes uses of AnsibleModule; atomic_move is os.replace keeping the old mode."""

    def __init__(self, check_mode=False, diff=False):
        self.check_mode = check_mode
        self._diff = diff
        self.moves = []

    def atomic_move(self, src, dest, unsafe_writes=False):
        if os.path.exists(dest):
            os.chmod(src, stat.S_IMODE(os.stat(dest).st_mode))
        self.moves.append((src, dest))
        os.replace(src, dest)

    def backup_local(self, path):
        backup = path + ".bak"
        with open(path, "rb") as src, open(backup, "wb") as dst:
            dst.write(src.read())
        return backup


@pytest.mark.parametrize(("text", "line", "column", "reason"), [
    ('{"a": 1,\n "b": }', 2, 7, "invalid JSON: Expecting value"),
    ('{"log-driver": "json-file",', 1, 28, "invalid JSON: Expecting property name"),
    ("", 1, 1, "the file is empty"),
    ("  \n", 1, 1, "the file is empty"),
    ("[1, 2]", 1, 1, "the top level must be a JSON object"),
])
def test_json_errors_name_file_line_column(text, line, column, reason):
    with pytest.raises(cf.ConfigFileError) as exc:
        cf.load_json_object("/etc/docker/daemon.json", text)
    assert (exc.value.line, exc.value.column) == (line, column)
    assert exc.value.reason.startswith(reason)
    assert str(exc.value).startswith(f"/etc/docker/daemon.json, line {line}, column {column}: ")


def test_toml_error_has_line_and_column():
    with pytest.raises(cf.ConfigFileError) as exc:
        cf.load_toml("/etc/containerd/config.toml", "version = 2\n[plugins\n")
    assert (exc.value.line, exc.value.column) == (2, 8)
    assert exc.value.reason.startswith("invalid TOML: ") and " at line " not in exc.value.reason


def test_missing_tomlkit_is_a_clear_error():
    with mock.patch.object(cf, "has_tomlkit", return_value=False), pytest.raises(cf.ConfigFileError) as exc:
        cf.load_toml("/x.toml", "")
    assert "python3-tomlkit" in str(exc.value)


def test_dump_json_like_upstream():
    assert cf.dump_json({"b": [1], "a": {"d": 1, "c": "é"}}) == \
        '{\n    "a": {\n        "c": "é",\n        "d": 1\n    },\n    "b": [\n        1\n    ]\n}\n'


def test_read_text(tmp_path):
    assert cf.read_text(str(tmp_path / "missing")) is None
    (tmp_path / "bad").write_bytes(b"ok\n\xff")
    with pytest.raises(cf.ConfigFileError) as exc:
        cf.read_text(str(tmp_path / "bad"))
    assert (exc.value.line, exc.value.column) == (2, 1)


@pytest.mark.parametrize(("key", "segments"), [
    ('plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options.SystemdCgroup',
     ["plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes", "runc", "options", "SystemdCgroup"]),
    ("a . 'b.c' . \"d\\\"e\"", ["a", "b.c", 'd"e']),
    ("version", ["version"]),
])
def test_parse_dotted_key(key, segments):
    assert cf.parse_dotted_key(key) == segments


@pytest.mark.parametrize("key", ["", "a.", "a..b", '"x', "a b", "a.b c"])
def test_parse_dotted_key_rejects(key):
    with pytest.raises(ValueError, match="invalid key"):
        cf.parse_dotted_key(key)


def test_deep_merge_and_remove():
    data = {"log-opts": {"max-size": "10m", "max-file": "3"}, "runtimes": {"nvidia": {"path": "x"}}, "x": [1]}
    merged = cf.deep_merge(data, {"log-opts": {"max-size": "20m"}, "x": [2]})
    assert merged == {"log-opts": {"max-size": "20m", "max-file": "3"}, "runtimes": {"nvidia": {"path": "x"}},
                      "x": [2]}
    assert data["log-opts"]["max-size"] == "10m"  # not modified
    removed = cf.deep_remove(merged, {"log-opts": {"max-size": None, "max-file": None}, "x": "ignored", "y": 1})
    assert removed == {"runtimes": {"nvidia": {"path": "x"}}}


def test_toml_set_and_prune_keep_comments():
    doc = cf.load_toml("c.toml", "# top\nversion = 2  # keep\n\n[a.b]\n  c = 1  # c\n")
    cf.set_deep(cf.ensure_tables(doc, ["a"], "c.toml"), "b", {"d": True})
    text = cf.dump_toml(doc)
    assert "# top" in text and "# keep" in text and "c = 1  # c" in text
    assert cf.to_plain(doc) == {"version": 2, "a": {"b": {"c": 1, "d": True}}}
    cf.remove_and_prune(doc, ["a", "b", "c"])
    cf.remove_and_prune(doc, ["a", "b", "d"])
    assert cf.to_plain(doc) == {"version": 2}


def test_apply_changes_writes_atomically_with_backup_and_diff(tmp_path):
    target = tmp_path / "daemon.json"
    target.write_text("{}")
    os.chmod(target, 0o640)
    new_file = tmp_path / "sub" / "new.toml"
    module = FakeModule(diff=True)
    result = cf.apply_changes(module, [
        cf.FileChange(str(target), "{}", '{"a": 1}\n'),
        cf.FileChange(str(new_file), None, "x = 1\n"),
        cf.FileChange(str(tmp_path / "same"), "s", "s"),
    ], backup=True)
    assert result["changed"] and result["files"] == [str(target), str(new_file)]
    assert result["backup_files"] == [str(target) + ".bak"]
    assert target.read_text() == '{"a": 1}\n' and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert new_file.read_text() == "x = 1\n"
    assert [d["after"] for d in result["diff"]] == ['{"a": 1}\n', "x = 1\n"]
    assert result["diff"][1]["before_header"].endswith("(absent)")
    for src, dest in module.moves:  # temp file next to its target, gone afterwards
        assert os.path.dirname(src) == os.path.dirname(dest) and not os.path.exists(src)
    assert sorted(os.listdir(tmp_path)) == ["daemon.json", "daemon.json.bak", "sub"]


def test_apply_changes_removes_and_check_mode_writes_nothing(tmp_path):
    target = tmp_path / "f"
    target.write_text("old")
    changes = [cf.FileChange(str(target), "old", None), cf.FileChange(str(tmp_path / "n"), None, "x")]
    result = cf.apply_changes(FakeModule(check_mode=True), changes)
    assert result["changed"] and "diff" not in result and target.read_text() == "old"
    assert os.listdir(tmp_path) == ["f"]
    cf.apply_changes(FakeModule(), [cf.FileChange(str(target), "old", None)])
    assert not target.exists()


def test_failed_move_leaves_no_temp_file(tmp_path):
    module = FakeModule()
    module.atomic_move = mock.Mock(side_effect=RuntimeError("boom"))
    with pytest.raises(RuntimeError):
        cf.write_atomic(module, str(tmp_path / "x.json"), "{}")
    assert os.listdir(tmp_path) == []


def test_diff_entry_shape():
    assert cf.diff_entry("/p", "a", None) == {"before_header": "/p", "after_header": "/p (absent)",
                                              "before": "a", "after": ""}
    assert json.dumps(cf.diff_entry("/p", None, "b"))


def test_tomlkit_is_asked_again_after_a_failed_import(monkeypatch):
    # A persistent interpreter (the lab's mitogen) keeps _config_files loaded from apt_signing_key, which ran before
    # python3-tomlkit was installed: the TOML modules that run later in the same interpreter must see it.
    import tomlkit
    monkeypatch.setattr(cf, "tomlkit", None)
    monkeypatch.setattr(cf, "HAS_TOMLKIT", False)
    monkeypatch.setattr(cf, "_TomlParseError", None)
    assert cf.has_tomlkit() and cf.tomlkit is tomlkit and cf.HAS_TOMLKIT
    assert cf.load_toml("/x.toml", "a = 1\n")["a"] == 1
