# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SSH access without lock-out (module_utils._ssh_access): keys checked, the drop-in, the port move in two steps."""

from __future__ import annotations

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _ssh_access as ssh

# Public halves of throwaway keys (ssh-keygen, 2026-12-03): test data, never a secret.
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFBhEXFaqytRdHiZj9gYySDbaoODO6Z1e4HcdY29p6tz alice@lab"
ECDSA = ("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFbpev2K9ccyPTCJ47/n14cyM343G66T2wX"
         "wxnw4oIDlTbwcyBWlRYZ5IACqk8yZ/RUo1z/2CgFOm/du4LZvQUE= bob@lab")


def test_public_keys_are_checked_down_to_their_embedded_type():
    assert ssh.parse_public_key("  " + ED25519 + "  ")["comment"] == "alice@lab"
    assert ssh.parse_public_key(ECDSA)["type"] == "ecdsa-sha2-nistp256"
    forged = "ssh-rsa " + ED25519.split()[1]
    with pytest.raises(ssh.SshAccessError, match="says ssh-rsa but its data is a ssh-ed25519 key"):
        ssh.parse_public_key(forged)


@pytest.mark.parametrize(("key", "message"), [
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----", "private key"),
    ("ssh-ed25519", "key type"),
    ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "key type"),
    ("ssh-ed25519 not-base64!!", "not base64"),
    (ED25519 + "\n" + ECDSA, "one key per entry"),
    (None, "key type"),
])
def test_what_is_not_a_public_key_is_refused(key, message):
    with pytest.raises(ssh.SshAccessError, match=message):
        ssh.parse_public_key(key)


def test_authorized_keys_per_user_deduplicated_and_bad_ones_named():
    assert ssh.authorized_keys({"pi": [ED25519, ED25519 + "  ", ECDSA]}) == {"pi": [ED25519, ECDSA]}
    message = r"pi's key 2: .*key type .* and the key data; 'Root Me' is not a user name"
    with pytest.raises(ssh.SshAccessError, match=message):
        ssh.authorized_keys({"pi": [ED25519, "hello"], "Root Me": [ED25519]})
    with pytest.raises(ssh.SshAccessError, match="must be a list"):
        ssh.authorized_keys({"pi": ED25519})


def test_the_dropin_is_keys_only_with_one_port_line_per_listener():
    text = ssh.sshd_dropin({"permit_root_login": "no", "allow_groups": ["ssh-users"]}, [22, 2222])
    lines = text.splitlines()
    assert [ln for ln in lines if ln.startswith("Port ")] == ["Port 22", "Port 2222"]
    for line in ("PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin no",
                 "PubkeyAuthentication yes", "AllowGroups ssh-users"):
        assert line in lines
    assert "AllowUsers" not in text and text.endswith("\n")


@pytest.mark.parametrize(("settings", "ports", "message"), [
    ({"permit_root_login": "yes"}, [22], "PermitRootLogin must be one of"),
    ({}, [0], "between 1 and 65535"),
    ({}, ["22\nPasswordAuthentication yes"], "TCP port number|between 1 and 65535"),
    ({"allow_users": ["pi\nPermitRootLogin yes"]}, [22], "AllowUsers takes user or group names"),
])
def test_what_would_misconfigure_sshd_is_refused(settings, ports, message):
    with pytest.raises(ssh.SshAccessError, match=message):
        ssh.sshd_dropin(settings, ports)


def test_a_port_move_listens_on_both_first_and_leaves_the_login_policy_alone_until_proven():
    plan = ssh.access_plan({"port": 2222, "current_port": 22, "connecting_user": "pi", "keys": {"pi": [ED25519]}})
    assert plan["refused"] == "" and plan["moves"]
    listen = plan["listen_dropin"].splitlines()
    assert [ln for ln in listen if not ln.startswith("#")] == ["Port 22", "Port 2222"]  # passwords still as they were
    final = [ln for ln in plan["dropin"].splitlines() if ln.startswith("Port ")]
    assert final == ["Port 2222"] and "PasswordAuthentication no" in plan["dropin"]
    same = ssh.access_plan({"port": 2222, "current_port": 2222, "connecting_user": "pi", "keys": {"pi": [ED25519]}})
    assert not same["moves"] and same["listen_dropin"] == ""


def test_extra_options_are_lines_after_the_policy_and_cannot_override_it():
    text = ssh.sshd_dropin({"extra_options": {"MaxAuthTries": 3, "X11Forwarding": False,
                                              "Ciphers": ["aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com"]}},
                           [22])
    assert text.splitlines()[-3:] == ["MaxAuthTries 3", "X11Forwarding no",
                                      "Ciphers aes256-gcm@openssh.com chacha20-poly1305@openssh.com"]
    for options, message in (({"passwordauthentication": "yes"}, "set by the role's own variables"),
                             ({"Max Auth": 1}, "not an sshd keyword"),
                             ({"Banner": "/etc/issue\nPermitRootLogin yes"}, "on one line"),
                             ({"Banner": ""}, "on one line"), (["MaxAuthTries 3"], "must be a dict")):
        with pytest.raises(ssh.SshAccessError, match=message):
            ssh.sshd_dropin({"extra_options": options}, [22])


def test_additive_keeps_every_line_and_adds_what_is_missing_exclusive_replaces():
    existing = f"# laptop\nfrom=\"192.168.50.0/24\" {ECDSA}\n\n"
    additive = ssh.authorized_keys_file(existing, [ECDSA, ED25519], exclusive=False)
    assert additive["content"] == f"# laptop\nfrom=\"192.168.50.0/24\" {ECDSA}\n{ED25519}\n"
    assert additive["added"] == 1 and additive["usable"] == 2
    again = ssh.authorized_keys_file(additive["content"], [ECDSA, ED25519], exclusive=False)
    assert again["content"] == additive["content"] and again["added"] == 0  # idempotent
    exclusive = ssh.authorized_keys_file(existing, [ED25519], exclusive=True)
    assert exclusive["content"] == ED25519 + "\n" and exclusive["usable"] == 1
    assert exclusive["added"] == 1 and exclusive["removed"] == 1  # ED25519 in, ECDSA out
    assert ssh.authorized_keys_file("", [], exclusive=True) == {"content": "", "added": 0, "removed": 0, "usable": 0}


def test_the_probe_is_key_only_first_and_the_plays_host_key_policy_wins():
    argv = ssh.probe_argv({"host": "192.168.50.40", "port": 2222, "user": "pi", "key_file": "~/.ssh/lab",
                           "common_args": "-o StrictHostKeyChecking=no -o 'UserKnownHostsFile=/dev/null'"})
    assert argv[:3] == ["ssh", "-o", "BatchMode=yes"] and "PreferredAuthentications=publickey" in argv
    assert argv.index("StrictHostKeyChecking=no") < argv.index("StrictHostKeyChecking=accept-new")
    assert "UserKnownHostsFile=/dev/null" in argv and argv[-6:] == ["-p", "2222", "-l", "pi", "192.168.50.40", "true"]
    assert argv[argv.index("-i") + 1] == "~/.ssh/lab"
    for conn, message in (({"host": "-oProxyCommand=x", "user": "pi"}, "address"), ({"host": "h", "user": ""}, "user"),
                          ({"host": "h", "user": "pi", "port": 70000}, "between 1 and 65535")):
        with pytest.raises(ssh.SshAccessError, match=message):
            ssh.probe_argv(conn)


def test_no_key_for_the_connecting_user_refuses_the_run():
    plan = ssh.access_plan({"port": 2222, "connecting_user": "pi", "keys": {"alice": [ED25519]}})
    assert "No SSH key would let pi (the user this play connects as) log in" in plan["refused"]
    kept = ssh.access_plan({"port": 22, "connecting_user": "pi", "keys": {}, "existing_keys": {"pi": ECDSA + "\n"}})
    assert kept["refused"] == ""  # additive: the key already in pi's file still works
    replaced = ssh.access_plan({"port": 22, "connecting_user": "pi", "keys": {"pi": []},
                                "existing_keys": {"pi": ECDSA + "\n"}, "exclusive": True})
    assert "No SSH key would let pi" in replaced["refused"]  # exclusive: the file would be empty


def test_allow_lists_that_leave_out_the_connecting_user_are_refused():
    base = {"port": 22, "connecting_user": "pi", "keys": {"pi": [ED25519]}}
    assert "AllowUsers (alice) leaves out pi" in ssh.access_plan(dict(base, allow_users=["alice"]))["refused"]
    groups = ssh.access_plan(dict(base, allow_groups=["ssh-users"], connecting_user_groups=["pi", "sudo"]))
    assert "AllowGroups (ssh-users) leaves out pi" in groups["refused"]
    assert ssh.access_plan(dict(base, allow_groups=["sudo"], connecting_user_groups=["pi", "sudo"]))["refused"] == ""


def test_sshd_T_output_is_read_as_lists_with_the_new_name_for_prohibit_password():
    text = "port 2222\nport 22\npasswordauthentication no\npermitrootlogin without-password\nbanner none\n\n"
    settings = ssh.effective_settings(text)
    assert settings["port"] == ["2222", "22"] and settings["passwordauthentication"] == ["no"]
    assert settings["permitrootlogin"] == ["prohibit-password"] and settings["banner"] == ["none"]
    assert ssh.effective_settings(None) == {}


# --- issue 31: root follows no user's path; ports and booleans checked where they enter; extra_options refused ---

def _stat(user, part, **stat):
    return {"item": [user, part], "stat": {"exists": True, **stat}}


HOME = {"path": "/home/mallory", "isdir": True, "uid": 1001, "pw_name": "mallory"}
SSH_DIR = {"path": "/home/mallory/.ssh", "isdir": True, "uid": 1001, "pw_name": "mallory"}
KEYS = {"path": "/home/mallory/.ssh/authorized_keys", "isreg": True, "uid": 1001, "pw_name": "mallory", "nlink": 1}


def _paths(home=None, ssh_dir=None, keys=None):
    return [_stat("mallory", "", **(home or HOME)), _stat("mallory", "/.ssh", **(ssh_dir or SSH_DIR)),
            _stat("mallory", "/.ssh/authorized_keys", **(keys or KEYS))]


def test_a_users_own_home_ssh_and_keys_are_safe_and_missing_ones_too():
    assert ssh.unsafe_paths({"mallory": "1001"}, _paths()) == ""
    root_owned = _paths(ssh_dir=dict(SSH_DIR, uid=0, pw_name="root"), keys=dict(KEYS, uid=0, pw_name="root"))
    assert ssh.unsafe_paths({"mallory": 1001}, root_owned) == ""  # root's own leftovers: the role chowns them
    parts = ("", "/.ssh", "/.ssh/authorized_keys")
    missing = [{"item": ["mallory", part], "stat": {"exists": False}} for part in parts]
    assert ssh.unsafe_paths({"mallory": 1001}, missing) == ""


@pytest.mark.parametrize(("paths", "says"), [
    (_paths(ssh_dir={"path": "/home/mallory/.ssh", "islnk": True, "lnk_target": "/root/.ssh", "uid": 1001}),
     "mallory's ~/.ssh (/home/mallory/.ssh) is a symbolic link (to /root/.ssh): the role writes there as root"),
    (_paths(keys={"path": "/home/mallory/.ssh/authorized_keys", "islnk": True, "lnk_target": "/etc/shadow"}),
     "mallory's ~/.ssh/authorized_keys (/home/mallory/.ssh/authorized_keys) is a symbolic link (to /etc/shadow)"),
    (_paths(keys=dict(KEYS, uid=0, pw_name="root", nlink=2)),
     "belongs to root and has 2 names (a hard link to another file)"),
    (_paths(keys=dict(KEYS, uid=1002, pw_name="alice")),
     "mallory's ~/.ssh/authorized_keys (/home/mallory/.ssh/authorized_keys) belongs to alice, not to mallory or root"),
    (_paths(ssh_dir=dict(SSH_DIR, uid=1002, pw_name="alice")), "belongs to alice, not to mallory or root"),
    (_paths(home=dict(HOME, uid=1002, pw_name="alice")), "mallory's home (/home/mallory) belongs to alice"),
    (_paths(home={"path": "/home/mallory", "isreg": True, "uid": 1001}), "home (/home/mallory) is not a directory"),
    (_paths(ssh_dir={"path": "/home/mallory/.ssh", "isreg": True, "uid": 1001}), "is not a directory"),
    (_paths(keys={"path": "/home/mallory/.ssh/authorized_keys", "isfifo": True, "uid": 1001}),
     "is not a regular file"),
])
def test_a_path_the_user_controls_is_refused_naming_the_user_and_the_path(paths, says):
    assert says in ssh.unsafe_paths({"mallory": "1001"}, paths)


@pytest.mark.parametrize(("given", "says"), [
    ({"port": 0}, "ssh_access_port must be a port between 1 and 65535, not 0"),
    ({"port": 65536}, "ssh_access_port must be a port between 1 and 65535, not 65536"),
    ({"port": True}, "ssh_access_port must be a port between 1 and 65535, not True"),
    ({"port": "99999"}, "ssh_access_port must be a port between 1 and 65535, not '99999'"),
    ({"port": "22\nPort 23"}, "ssh_access_port must be a port"),
    ({"initial_ports": [22, 0]}, "ssh_access_initial_ports[1] must be a port between 1 and 65535"),
    ({"initial_ports": "22"}, "ssh_access_initial_ports must be a list of ports"),
    ({"inventory_port": 70000}, "ansible_port must be a port between 1 and 65535"),
    ({"exclusive": "maybe"}, "ssh_access_exclusive must be true or false"),
    ({"probe": "sometimes"}, "ssh_access_probe must be one of auto, required, skip"),
])
def test_the_roles_values_are_refused_with_a_sentence_naming_the_variable(given, says):
    with pytest.raises(ssh.SshAccessError) as caught:
        ssh.checked_values(given)
    assert says in str(caught.value)


def test_ports_and_booleans_given_as_strings_are_read_for_what_they_say():
    values = ssh.checked_values({"port": "2222", "initial_ports": ["22", 2200, 22], "inventory_port": "2222",
                                 "exclusive": "false", "probe": "skip"})
    assert values["port"] == 2222 and values["exclusive"] is False  # -e ssh_access_exclusive=false
    assert values["search_ports"] == [22, 2200]  # the wanted port first elsewhere, each once
    assert ssh.checked_values({"exclusive": "yes"})["exclusive"] is True
    plan = ssh.access_plan({"port": 22, "connecting_user": "pi", "keys": {"pi": [ED25519]}, "exclusive": "false",
                            "existing_keys": {"pi": ECDSA + "\n"}})
    assert plan["exclusive"] is False and ECDSA in plan["files"]["pi"]["content"]  # "false" kept the old key


@pytest.mark.parametrize("keyword", ["DenyUsers", "denygroups", "AUTHORIZEDKEYSFILE", "AuthorizedKeysCommand",
                                     "AuthorizedKeysCommandUser", "Match", "include", "ListenAddress",
                                     "AddressFamily", "ForceCommand", "ChrootDirectory"])
def test_extra_options_cannot_say_what_locks_out_or_replaces_the_policy(keyword):
    with pytest.raises(ssh.SshAccessError, match=f"ssh_access_extra_options may not set {keyword}"):
        ssh.sshd_dropin({"extra_options": {keyword: "lab"}}, [22])


@pytest.mark.parametrize("keyword", ["PERMITROOTLOGIN", "port", "AllowUsers", "allowgroups", "DSAAuthentication",
                                     "SKeyAuthentication", "challengeresponseauthentication"])
def test_extra_options_cannot_set_the_roles_own_keywords_or_their_aliases(keyword):
    with pytest.raises(ssh.SshAccessError, match="set by the role's own variables"):
        ssh.sshd_dropin({"extra_options": {keyword: "yes"}}, [22])


@pytest.mark.parametrize("value", ["4\u2028PasswordAuthentication yes", "4\x85Match all", "4\x0bX", "4\x00",
                                   ["4", "5\nPermitRootLogin yes"], None, {"a": 1}, 1.5, []])
def test_extra_option_values_on_more_than_one_line_or_of_the_wrong_type_are_refused(value):
    with pytest.raises(ssh.SshAccessError, match=r"MaxAuthTries|ssh_access_extra_options"):
        ssh.sshd_dropin({"extra_options": {"MaxAuthTries": value}}, [22])


def test_the_rendered_dropin_holds_the_lines_it_must_and_nothing_else():
    text = ssh.sshd_dropin({"permit_root_login": "no", "allow_groups": ["sudo"], "allow_users": ["lab", "pi"],
                            "extra_options": {"MaxAuthTries": 4, "X11Forwarding": False}}, [2222])
    lines = [ln for ln in text.split("\n") if ln and not ln.startswith("#")]
    assert lines == ["Port 2222", "PubkeyAuthentication yes", "PasswordAuthentication no",
                     "KbdInteractiveAuthentication no", "PermitRootLogin no", "AuthenticationMethods publickey",
                     "AllowGroups sudo", "AllowUsers lab pi", "MaxAuthTries 4", "X11Forwarding no"]
    assert text.endswith("\n") and len(text.splitlines()) == len(text.split("\n")) - 1  # no other line breaks
    listen = ssh.listen_dropin([22, 2222])
    assert [ln for ln in listen.split("\n") if ln and not ln.startswith("#")] == ["Port 22", "Port 2222"]
    with pytest.raises(ssh.SshAccessError, match="ssh_access_allow_groups must be a list"):
        ssh.sshd_dropin({"allow_groups": "sudo"}, [22])  # not AllowGroups s u d o


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1e", "\t\r"])
def test_a_comment_with_a_line_separator_cannot_smuggle_a_second_entry(separator):
    smuggled = f"{ED25519}{separator}{ECDSA}"
    with pytest.raises(ssh.SshAccessError, match="one key per entry, on one line"):
        ssh.parse_public_key(smuggled)
    # a line that is already in a file (written by hand or by an older run) stays one line, as sshd reads it
    kept = ssh.authorized_keys_file(smuggled + "\n", [ED25519], exclusive=False)
    assert kept["content"].split("\n", maxsplit=1)[0] == smuggled and kept["content"].count("\n") == 1 + kept["added"]
