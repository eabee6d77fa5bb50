# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""file_set on real files: what the kernel reports (os.stat), and a real checker (sh -n) for validate."""
from __future__ import annotations

import os
import stat

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.modules import file_set


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def listing(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_directories_and_files_are_made_once_and_left_alone_after(run_module, tmp_path):
    lib, etc = tmp_path / "lib/homelab", tmp_path / "etc"
    args = {"directories": [{"path": str(lib)}, {"path": str(etc), "mode": "0750"}],
            "files": [{"path": str(lib / "collect.py"), "content": "print('hi')\n"},
                      {"path": str(etc / "plan.json"), "content": "{}\n", "mode": "0600"}]}
    failed, result = run_module(file_set, args)
    assert not failed and result["changed"]
    assert result["changed_paths"] == [str(etc), str(lib), str(lib / "collect.py"), str(etc / "plan.json")]
    assert (mode_of(lib), mode_of(etc), mode_of(lib / "collect.py"), mode_of(etc / "plan.json")) == (
        0o755, 0o750, 0o644, 0o600)
    assert (lib / "collect.py").read_text() == "print('hi')\n"
    failed, result = run_module(file_set, args)
    assert not failed and not result["changed"] and result["changed_paths"] == []
    assert listing(tmp_path) == ["etc", "etc/plan.json", "lib", "lib/homelab", "lib/homelab/collect.py"]


def test_check_mode_writes_nothing_and_diff_mode_shows_the_texts(run_module, tmp_path):
    (tmp_path / "a.conf").write_text("old\n")
    args = {"files": [{"path": str(tmp_path / "a.conf"), "content": "new\n"}],
            "directories": [{"path": str(tmp_path / "d")}], "_ansible_check_mode": True, "_ansible_diff": True}
    failed, result = run_module(file_set, args)
    assert not failed and result["changed_paths"] == [str(tmp_path / "d"), str(tmp_path / "a.conf")]
    assert result["diff"] == [{"before_header": str(tmp_path / "a.conf"), "after_header": str(tmp_path / "a.conf"),
                               "before": "old\n", "after": "new\n"}]
    assert listing(tmp_path) == ["a.conf"] and (tmp_path / "a.conf").read_text() == "old\n"


def test_a_mode_that_drifted_is_set_back_without_rewriting(run_module, tmp_path):
    target = tmp_path / "unit.service"
    target.write_text("[Unit]\n")
    os.chmod(target, 0o666)
    inode = os.stat(target).st_ino
    failed, result = run_module(file_set, {"files": [{"path": str(target), "content": "[Unit]\n"}]})
    assert not failed and result["changed_paths"] == [str(target)]
    assert mode_of(target) == 0o644 and os.stat(target).st_ino == inode


def test_a_failed_validate_leaves_every_file_as_it_was(run_module, tmp_path):
    good, bad = tmp_path / "good.sh", tmp_path / "bad.sh"
    good.write_text("echo old\n")
    args = {"files": [{"path": str(good), "content": "echo new\n", "validate": "sh -n %s"},
                      {"path": str(bad), "content": "if then fi (\n", "validate": "sh -n %s"}]}
    failed, result = run_module(file_set, args)
    assert failed and str(bad) in result["msg"] and "sh -n %s" in result["msg"] and "left as it was" in result["msg"]
    assert good.read_text() == "echo old\n" and not bad.exists()
    assert listing(tmp_path) == ["good.sh"]  # no new file left beside them


def test_a_valid_text_passes_validate_and_is_written(run_module, tmp_path):
    target = tmp_path / "ok.sh"
    failed, _result = run_module(file_set, {"files": [{"path": str(target), "content": "echo ok\n",
                                                       "validate": "sh -n %s"}]})
    assert not failed and target.read_text() == "echo ok\n"


@pytest.mark.parametrize(("entry", "words"), [
    ({"files": [{"path": "relative/x", "content": ""}]}, "absolute path"),
    ({"files": [{"path": "/tmp/../etc/x", "content": ""}]}, "not normalised"),
    ({"files": [{"path": "/tmp/x", "content": "", "mode": "644x"}]}, "octal string"),
    ({"files": [{"path": "/tmp/x", "content": "", "mode": 420}]}, "octal string"),  # YAML's 0644
    ({"files": [{"path": "/tmp/x", "content": "", "validate": "nft -c -f"}]}, "%s"),
    ({"files": [{"path": "/tmp/x", "content": ""}, {"path": "/tmp/x", "content": ""}]}, "listed twice"),
    ({"files": [{"path": "/nonexistent-dir-of-file-set/x", "content": ""}]}, "does not exist"),
])
def test_a_bad_entry_fails_with_a_sentence_and_touches_nothing(run_module, tmp_path, entry, words):
    args = {**entry, "directories": [{"path": str(tmp_path / "made-first")}]}
    failed, result = run_module(file_set, args)
    assert failed and words in result["msg"] and "Traceback" not in result["msg"]
    assert listing(tmp_path) == []


def test_a_directory_where_a_file_goes_is_refused_before_anything_is_written(run_module, tmp_path):
    (tmp_path / "taken").mkdir()
    args = {"files": [{"path": str(tmp_path / "first"), "content": "x\n"},
                      {"path": str(tmp_path / "taken"), "content": "x\n"}]}
    failed, result = run_module(file_set, args)
    assert failed and "not a regular file" in result["msg"]
    assert listing(tmp_path) == ["taken"]
