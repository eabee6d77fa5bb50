# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""user_file as an attacker who owns the home would try it: links to root's files, a FIFO, a hard link, and the
swap of ~/.ssh for a link between the check and the write. Real files, real ownership (the tests run as root)."""
from __future__ import annotations

import os
import pwd
import stat

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _user_files as uf
from ansible_collections.homelab.nvidia_gpu.plugins.modules import user_file

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")

UID, GID = 40123, 40123
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFBhEXFaqytRdHiZj9gYySDbaoODO6Z1e4HcdY29p6tz alice@lab\n"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """alice's home (owned by her) and a stand-in for /root/.ssh holding root's keys."""
    alice = tmp_path / "alice"
    alice.mkdir()
    os.chown(alice, UID, GID)
    root_ssh = tmp_path / "root-ssh"
    root_ssh.mkdir(mode=0o700)
    (root_ssh / "authorized_keys").write_text("ssh-ed25519 AAAA root@admin\n")
    entry = pwd.struct_passwd(("alice", "x", UID, GID, "", str(alice), "/bin/sh"))
    real = pwd.getpwnam
    monkeypatch.setattr(user_file.pwd, "getpwnam", lambda name: entry if name == "alice" else real(name))
    return alice, root_ssh


def write(run_module, **extra):
    return run_module(user_file, {"user": "alice", "path": ".ssh/authorized_keys", "state": "present",
                                  "content": KEY, **extra})


def test_the_file_and_its_directory_are_made_owned_by_the_user_then_left_alone(run_module, home):
    alice = home[0]
    failed, result = write(run_module)
    assert not failed and result["changed"] and result["created_directories"] == ["~/.ssh"]
    ssh, keys = os.lstat(alice / ".ssh"), os.lstat(alice / ".ssh/authorized_keys")
    assert (ssh.st_uid, stat.S_IMODE(ssh.st_mode)) == (UID, 0o700)
    assert (keys.st_uid, keys.st_gid, stat.S_IMODE(keys.st_mode)) == (UID, GID, 0o600)
    assert (alice / ".ssh/authorized_keys").read_text() == KEY
    failed, result = write(run_module)
    assert not failed and not result["changed"]
    assert sorted(os.listdir(alice / ".ssh")) == ["authorized_keys"]  # no temporary or backup file left


def test_check_mode_writes_nothing_and_says_what_would_change(run_module, home):
    alice = home[0]
    failed, result = write(run_module, _ansible_check_mode=True, _ansible_diff=True)
    assert not failed and result["changed"] and result["diff"]["after"] == KEY
    assert not (alice / ".ssh").exists()


def test_a_home_ssh_linked_to_roots_is_refused_and_roots_keys_are_unchanged(run_module, home):
    alice, root_ssh = home
    (alice / ".ssh").symlink_to(root_ssh)
    before = (root_ssh / "authorized_keys").read_bytes()
    failed, result = write(run_module)
    assert failed and "alice's ~/.ssh is a symbolic link" in result["msg"]
    assert (root_ssh / "authorized_keys").read_bytes() == before and os.listdir(root_ssh) == ["authorized_keys"]
    failed, result = run_module(user_file, {"user": "alice", "path": ".ssh/authorized_keys"})
    assert failed and "symbolic link" in result["msg"] and "content" not in result


@pytest.mark.parametrize("kind", ["symlink", "fifo", "hardlink", "directory"])
def test_the_file_itself_must_be_a_plain_file_of_the_user(run_module, home, kind):
    alice, root_ssh = home
    (alice / ".ssh").mkdir(mode=0o700)
    os.chown(alice / ".ssh", UID, GID)
    target = alice / ".ssh/authorized_keys"
    secret = root_ssh / "authorized_keys"
    if kind == "symlink":
        target.symlink_to(secret)
    elif kind == "fifo":
        os.mkfifo(target)  # a read that blocked would hang the test: O_NONBLOCK keeps it from doing so
    elif kind == "hardlink":
        os.link(secret, target)
    else:
        target.mkdir()
    before = secret.read_bytes()
    for args in ({"state": "read"}, {"state": "present", "content": KEY}):
        failed, result = run_module(user_file, {"user": "alice", "path": ".ssh/authorized_keys", **args})
        assert failed and "alice's ~/.ssh/authorized_keys" in result["msg"], result
        assert "content" not in result
    assert secret.read_bytes() == before


def test_another_users_ssh_directory_is_refused(run_module, home):
    alice = home[0]
    (alice / ".ssh").mkdir()
    os.chown(alice / ".ssh", UID + 1, GID)
    failed, result = write(run_module)
    assert failed and "owned by another user" in result["msg"]


def test_a_swap_after_the_check_still_writes_into_the_directory_that_was_checked(run_module, home, monkeypatch):
    # The race a stat-then-copy pair loses: ~/.ssh becomes a link to root's directory after it was looked at.
    alice, root_ssh = home
    (alice / ".ssh").mkdir(mode=0o700)
    os.chown(alice / ".ssh", UID, GID)
    real_read = uf.read_file

    def read_then_swap(parent, name, where, user, uid):
        out = real_read(parent, name, where, user, uid)
        os.rename(alice / ".ssh", alice / "old-ssh")
        (alice / ".ssh").symlink_to(root_ssh)
        return out

    monkeypatch.setattr(uf, "read_file", read_then_swap)
    before = (root_ssh / "authorized_keys").read_bytes()
    failed, result = write(run_module)
    assert not failed, result
    assert (root_ssh / "authorized_keys").read_bytes() == before
    assert (alice / "old-ssh/authorized_keys").read_text() == KEY


@pytest.mark.parametrize(("args", "message"), [
    ({"path": "../etc/shadow"}, "path: the path must be relative"),
    ({"path": "/etc/shadow"}, "path: the path must be relative"),
    ({"mode": "0999"}, "mode must be an octal mode"),
    ({"user": "nobody-such-user-here"}, "is not in the passwd database"),
])
def test_bad_options_are_refused_before_anything_is_touched(run_module, home, args, message):
    alice = home[0]
    failed, result = write(run_module, **args)
    assert failed and message in result["msg"]
    assert not (alice / ".ssh").exists()


def test_absent_removes_the_users_file_and_never_a_links_target(run_module, home):
    alice, root_ssh = home
    assert not write(run_module)[0]
    failed, result = run_module(user_file, {"user": "alice", "path": ".ssh/authorized_keys", "state": "absent"})
    assert not failed and result["changed"] and not (alice / ".ssh/authorized_keys").exists()
    failed, result = run_module(user_file, {"user": "alice", "path": ".ssh/authorized_keys", "state": "absent"})
    assert not failed and not result["changed"]
    os.rmdir(alice / ".ssh")
    (alice / ".ssh").symlink_to(root_ssh)
    failed, result = run_module(user_file, {"user": "alice", "path": ".ssh/authorized_keys", "state": "absent"})
    assert failed and (root_ssh / "authorized_keys").exists()
