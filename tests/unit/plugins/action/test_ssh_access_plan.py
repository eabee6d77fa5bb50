# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action ssh_access_plan: the role's one planning step. The drop-ins it plans are read back by OpenSSH's own
sshd (``sshd -t`` through the plan's validate command, ``sshd -T`` for the effective settings) and the keys files by
``ssh-keygen -l``, where this machine has them; refusals are one sentence, never a traceback."""

from __future__ import annotations

import base64
import os
import shlex
import shutil
import subprocess
from unittest.mock import MagicMock

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.action.ssh_access_plan import ActionModule
from ansible_collections.homelab.nvidia_gpu.plugins.modules import ssh_access_plan as doc
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._role_plan import argument_spec

ALICE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFBhEXFaqytRdHiZj9gYySDbaoODO6Z1e4HcdY29p6tz alice@lab"
BOB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINV8XzhwsSldWEriF6sxPba4r/QPoR18pgq4mVPAnncT bob@lab"
PASSWD = {"lab": ["x", "1000", "1000", "", "/home/lab", "/bin/bash"],
          "mallory": ["x", "1001", "1001", "", "/home/mallory", "/bin/bash"]}


def stats(user, home, ssh=None, keys=None):
    """stat results as the role's loop registers them: [user, part] items, not followed below the home."""
    out = [{"item": [user, ""], "stat": {"exists": True, "isdir": True, "uid": int(PASSWD[user][1]), "path": home}}]
    for part, stat in (("/.ssh", ssh), ("/.ssh/authorized_keys", keys)):
        out.append({"item": [user, part], "stat": stat or {"exists": False}})
    return out


def args(**more):
    base = {"port": 2222, "initial_ports": [22], "connecting_user": "lab", "address": "10.0.0.7", "over_ssh": True,
            "reached_port": 22, "authorized_keys": {"lab": [ALICE]}, "allow_groups": ["sudo"],
            "extra_options": {"MaxAuthTries": 4}, "key_file": "/home/me/.ssh/id_ed25519",
            "common_args": "-o UserKnownHostsFile=/dev/null", "passwd": PASSWD, "path_stats": stats("lab", "/home/lab"),
            "key_files": [{"item": "lab", "exists": True, "content": f"{BOB}\n"}], "groups": "lab sudo",
            "dropin_before": {"failed": True, "msg": "file not found"}, "sshd_config": "", "socket": "inactive\n"}
    return {**base, **more}


def run(task_args, check_mode=False):
    task = MagicMock(args=task_args, async_val=0, check_mode=check_mode, diff=False)
    context = MagicMock(check_mode=check_mode)
    action = ActionModule(task, MagicMock(), context, MagicMock(), MagicMock(), MagicMock())
    return action.run(task_vars={"inventory_hostname": "node1"})


def test_spec_is_the_doc_stubs_options():
    spec = argument_spec(doc.DOCUMENTATION)
    assert spec["connecting_user"] == {"type": "str", "required": True}
    assert spec["port"] == {"type": "raw", "default": 22}  # checked by the planner, with a sentence naming it
    assert spec["path_stats"] == {"type": "list", "elements": "raw", "default": []}


def test_a_move_is_two_proven_steps_with_the_way_back():
    result = run(args())
    assert not result.get("failed"), result
    plan = result["plan"]
    assert result["changed"] is False and plan["packages"] == ["openssh-server"]
    assert (plan["port"], plan["current_port"], plan["moves"], plan["over_ssh"]) == (2222, 22, True, True)
    first, final = plan["steps"]
    assert first["name"] == "ports 22 and 2222" and first["previous"] is None  # no drop-in yet: removed on failure
    assert [ln for ln in first["text"].splitlines() if not ln.startswith("#")] == ["Port 22", "Port 2222"]
    assert first["prove"] == "before passwords go"
    assert final["previous"] == first["text"] and final["prove"].startswith("with the final drop-in")
    assert plan["files"]["lab"]["content"] == f"{BOB}\n{ALICE}\n"
    assert plan["files"]["lab"]["before"] == f"{BOB}\n" and plan["files"]["lab"]["existed"] is True
    assert plan["probe_argv"][:3] == ["ssh", "-o", "BatchMode=yes"]
    assert plan["probe_argv"][-6:] == ["-p", "2222", "-l", "lab", "10.0.0.7", "true"]
    assert plan["probe_argv"][11:13] == ["-i", "/home/me/.ssh/id_ed25519"]
    assert plan["ports_after"] == [{"port": 2222, "state": "started"}, {"port": 22, "state": "stopped"}]
    assert plan["reload"] == {"name": "ssh.service", "state": "reloaded", "daemon_reload": False}
    assert plan["status"] == {"port": 2222, "moved_from": 22, "users": ["lab"], "key_login": "proven"}
    assert plan["probe_retries"] == 10
    assert final["refused"] % "line 9: Bad" == (
        "sshd -t refuses the config (keys only, port 2222): line 9: Bad. sshd was not reloaded and its config is as "
        "it was; check ssh_access_extra_options and the files in /etc/ssh/sshd_config.d.")
    assert (first["unproven"] % "Permission denied (publickey).").startswith(
        "a key-only login as lab on port 2222 did not work from the controller before passwords go (Permission denied"
        " (publickey).). sshd's config and the authorized_keys files are back as they were before this run (port 22).")
    assert plan["summary"].startswith("SSH keys only on port 2222 (moved from 22 in two steps); keys for lab")


def test_no_move_proves_sshd_as_it_is_first_and_puts_back_the_drop_in_it_read():
    before = "# Managed by homelab.nvidia_gpu.ssh_access.\nPort 2222\n"
    result = run(args(reached_port=2222, socket="active",
                      dropin_before={"content": base64.b64encode(before.encode()).decode()}))
    plan = result["plan"]
    assert plan["moves"] is False and plan["probe_retries"] == 0 and plan["dropin_before"] == before
    first, final = plan["steps"]
    assert first["text"] == "" and first["prove"] == "before passwords go"  # nothing written, the login proven
    assert final["previous"] == before
    assert plan["ports_after"] == [{"port": 2222, "state": "started"}]
    assert plan["reload"] == {"name": "ssh.socket", "state": "restarted", "daemon_reload": True}


def test_check_mode_proves_nothing_on_a_port_that_does_not_listen_yet():
    plan = run(args(), check_mode=True)["plan"]
    assert [s["prove"] for s in plan["steps"]] == ["", ""]
    assert plan["status"]["key_login"] == "not proven: check mode"
    plan = run(args(reached_port=2222), check_mode=True)["plan"]  # no move: the port listens, the first proof runs
    assert [bool(s["prove"]) for s in plan["steps"]] == [True, False]


def test_without_ssh_the_port_sshd_listens_on_is_the_current_one_and_nothing_is_proven():
    plan = run(args(over_ssh=False, sshd_config="port 22\nport 2200\npasswordauthentication yes\n"))["plan"]
    assert plan["current_port"] == 22 and plan["probe_argv"] == []
    assert plan["status"]["key_login"] == "not proven: the play does not reach the host over SSH"
    assert [s["prove"] for s in plan["steps"]] == ["", ""]
    assert plan["summary"].endswith("not proven (the play does not reach the host over SSH)")


@pytest.mark.parametrize("more, words", [
    ({"port": 0}, "ssh_access_port must be a port between 1 and 65535"),
    ({"port": True}, "ssh_access_port must be a port"),
    ({"probe": "required", "over_ssh": False}, "ssh_access_probe is required, but this play does not reach"),
    ({"authorized_keys": {"nobody": [ALICE]}}, "no such user: nobody"),
    ({"authorized_keys": {"lab": []}, "exclusive": "true"},
     "No SSH key would let lab (the user this play connects as) log in once passwords are off"),
    ({"allow_users": ["alice"]}, "AllowUsers (alice) leaves out lab"),
    ({"allow_groups": ["wheel"]}, "AllowGroups (wheel) leaves out lab"),
    ({"extra_options": {"denyUSERS": "lab"}}, "ssh_access_extra_options may not set denyUSERS"),
    ({"authorized_keys": {"lab": ["-----BEGIN OPENSSH PRIVATE KEY-----"]}}, "this is a private key"),
    ({"key_files": [{"item": "lab", "failed": True, "msg": "lab's ~/.ssh is owned by another user (uid 7)"}]},
     "lab's ~/.ssh/authorized_keys cannot be read safely: lab's ~/.ssh is owned by another user"),
])
def test_refusals_are_one_sentence_with_the_host_and_nothing_changed(more, words):
    result = run(args(**more))
    assert result["failed"] is True and words in result["msg"], result["msg"]
    assert result["msg"].startswith("node1: ") and result["msg"].endswith("Nothing was changed.")
    assert "Traceback" not in result["msg"] and "plan" not in result


def test_a_link_to_root_ssh_is_refused_before_anything_is_read_from_it():
    link = {"exists": True, "islnk": True, "lnk_target": "/root/.ssh", "path": "/home/mallory/.ssh", "uid": 1001}
    result = run(args(authorized_keys={"mallory": [ALICE]}, key_files=[],
                      path_stats=stats("lab", "/home/lab") + stats("mallory", "/home/mallory", ssh=link)))
    assert "mallory's ~/.ssh (/home/mallory/.ssh) is a symbolic link (to /root/.ssh)" in result["msg"]


def test_an_option_the_spec_refuses_fails_cleanly():
    result = run({k: v for k, v in args().items() if k != "connecting_user"})
    assert result["failed"] is True and "connecting_user" in result["msg"]


# --- OpenSSH's own reading of what the plan writes --------------------------------------------------------------

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)


@pytest.fixture(scope="module")
def host_key(tmp_path_factory):
    """A throwaway host key, so that sshd -t reads the drop-in and not the machine's keys; skips without OpenSSH."""
    if not SSHD or not shutil.which("ssh-keygen"):
        pytest.skip("no sshd or ssh-keygen on this machine")
    key = tmp_path_factory.mktemp("hostkey") / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    probe = subprocess.run([SSHD, "-t", "-f", "/dev/null", "-o", f"HostKey={key}"], capture_output=True, text=True,
                           check=False)
    if probe.returncode != 0:  # e.g. no privilege separation directory (/run/sshd) outside a booted host
        pytest.skip(f"sshd -t cannot run here: {probe.stderr.strip()}")
    return key


def sshd(plan, text, tmp_path, *extra):
    """The drop-in as sshd reads it first in its config, through the plan's own validate command."""
    path = tmp_path / "00-homelab-ssh-access.conf"
    path.write_text(text)
    argv = [a.replace("%s", str(path)) for a in shlex.split(plan["validate"])]
    assert argv[:2] == ["/usr/sbin/sshd", "-t"]
    argv[0] = SSHD
    return subprocess.run([*argv, *extra], capture_output=True, text=True, check=False)


def effective(path, key):
    done = subprocess.run([SSHD, "-T", "-f", str(path), "-o", f"HostKey={key}", "-C",
                           "user=lab,host=client,addr=10.0.0.9,laddr=10.0.0.7,lport=2222"],
                          capture_output=True, text=True, check=True)
    out: dict = {}
    for line in done.stdout.splitlines():
        word, _sep, value = line.partition(" ")
        out.setdefault(word, []).append(value)
    return out


_SETTINGS = [
    {},
    {"permit_root_login": "no", "allow_groups": [], "extra_options": {}},
    {"allow_users": ["lab", "backup"], "extra_options": {"ClientAliveInterval": 30, "X11Forwarding": False}},
]


@pytest.mark.parametrize("more", _SETTINGS)
def test_sshd_accepts_both_drop_ins_and_its_effective_settings_are_the_planned_ones(host_key, tmp_path, more):
    plan = run(args(**more))["plan"]
    first, final = plan["steps"]
    for step in (first, final):
        done = sshd(plan, step["text"], tmp_path, "-o", f"HostKey={host_key}")
        assert done.returncode == 0, (step["name"], done.stderr)
    assert effective(tmp_path / "00-homelab-ssh-access.conf", host_key)["port"] == ["2222"]
    sshd(plan, first["text"], tmp_path)
    assert effective(tmp_path / "00-homelab-ssh-access.conf", host_key)["port"] == ["22", "2222"]
    sshd(plan, final["text"], tmp_path)
    settings = effective(tmp_path / "00-homelab-ssh-access.conf", host_key)
    settings["permitrootlogin"] = ["prohibit-password" if v == "without-password" else v
                                   for v in settings["permitrootlogin"]]
    for word, values in plan["expected_settings"].items():
        assert settings[word] == values, word
    assert settings["maxauthtries"] == [str((more.get("extra_options", args()["extra_options"]) or {})
                                            .get("MaxAuthTries", 6))]


def test_sshd_refuses_what_the_plan_lets_through_to_it(host_key, tmp_path):
    # the plan cannot know every keyword's values: sshd -t does, and the role writes nothing it refuses
    plan = run(args(extra_options={"MaxAuthTries": "many"}))["plan"]
    done = sshd(plan, plan["steps"][-1]["text"], tmp_path, "-o", f"HostKey={host_key}")
    assert done.returncode != 0 and "MaxAuthTries" in done.stderr


@pytest.mark.skipif(not shutil.which("ssh-keygen"), reason="no ssh-keygen on this machine")
def test_ssh_keygen_counts_the_keys_of_the_file_the_plan_writes(tmp_path):
    plan = run(args(authorized_keys={"lab": [ALICE, f"{ALICE} again", BOB]}))["plan"]
    path = tmp_path / "authorized_keys"
    path.write_text(plan["files"]["lab"]["content"])
    listed = subprocess.run(["ssh-keygen", "-l", "-f", str(path)], capture_output=True, text=True, check=True)
    assert len(listed.stdout.splitlines()) == 2  # bob kept, alice added once
