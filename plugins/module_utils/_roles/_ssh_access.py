# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SSH access without locking anyone out (pure): authorized keys, the sshd drop-in, the port move in two steps.

Debian 12's and 13's sshd_config includes /etc/ssh/sshd_config.d/*.conf before its own settings, and sshd keeps
the first value of most keywords, so the drop-in is named to sort first (00-...). Port is the exception: every
Port line adds a listener, so the move to a new port is two steps - listen on both, prove that the key logs in
on the new one, then listen on the new one only. Nothing here touches a host.
"""

from __future__ import annotations

import base64
import binascii
import re
import shlex
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _values

KEY_TYPES = (
    "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa",
    "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
)
PERMIT_ROOT = ("no", "prohibit-password")
_NAME = re.compile(r"[a-z_][a-z0-9_.-]*[$]?")


class SshAccessError(_values.ValueProblem):
    """Bad input: a key that is not a public key, a port out of range, a user or group name sshd would misread."""


def _key_blob_type(blob: str) -> str:
    try:
        raw = base64.b64decode(blob, validate=True)
        (length,) = struct.unpack(">I", raw[:4])
        return raw[4:4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError, ValueError) as exc:
        raise SshAccessError(f"its key data is not base64 of an SSH public key ({exc})") from exc


def parse_public_key(line: Any) -> dict:
    """One authorized_keys line without options: type, base64 data (whose embedded type must agree), comment.

    Strict: a string of one line (no line break of any kind - U+2028, U+2029, U+0085 and the other characters
    Python's ``splitlines`` breaks on included - and no control character, since a comment that one reader splits
    and another does not would be a second entry on the next run); fields separated by spaces or tabs only, as
    sshd splits them.
    """
    if line is None or isinstance(line, bool) or not isinstance(line, str):
        raise SshAccessError(f"it must start with a key type ({', '.join(KEY_TYPES)}) and the key data, "
                             f"as a string, not {type(line).__name__}")
    if "PRIVATE KEY" in line:
        raise SshAccessError("this is a private key; give the public one (the .pub file)")
    text = line.strip(" \t\r\n")
    if any(c in text for c in "\n\r"):
        raise SshAccessError("one key per entry, on one line")
    try:
        _values.single_line(text, "the key", allow_empty=True)
    except _values.ValueProblem as exc:
        raise SshAccessError(f"one key per entry, on one line: {exc}") from None
    parts = re.split(r"[ \t]+", text, maxsplit=2)
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise SshAccessError(f"it must start with a key type ({', '.join(KEY_TYPES)}) and the key data")
    kind, blob = parts[0], parts[1]
    embedded = _key_blob_type(blob)
    if embedded != kind:
        raise SshAccessError(f"it says {kind} but its data is a {embedded} key")
    comment = parts[2].strip(" \t") if len(parts) > 2 else ""
    return {"type": kind, "data": blob, "comment": comment, "line": " ".join(p for p in (kind, blob, comment) if p)}


def authorized_keys(keys_by_user: Mapping[str, Sequence[Any]]) -> dict[str, list[str]]:
    """Every user's keys as authorized_keys lines, checked; a bad one is named by user and position."""
    out: dict[str, list[str]] = {}
    problems = []
    if not isinstance(keys_by_user or {}, Mapping):
        raise SshAccessError("ssh_access_authorized_keys must be a dict of user name: list of public keys")
    for user, keys in (keys_by_user or {}).items():
        if not isinstance(user, str) or not _NAME.fullmatch(user):
            problems.append(f"{user!r} is not a user name")
            continue
        if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence):
            problems.append(f"ssh_access_authorized_keys['{user}']: the keys must be a list")
            continue
        lines = []
        for index, key in enumerate(keys, 1):
            try:
                parsed = parse_public_key(key)
            except SshAccessError as exc:
                problems.append(f"{user}'s key {index}: {exc}")
                continue
            if parsed["line"] not in lines:
                lines.append(parsed["line"])
        out[str(user)] = lines
    if problems:
        raise SshAccessError("; ".join(problems))
    return out


def _checked(check: Any, value: Any, name: str, *args: Any) -> Any:
    """A check of _values, its ValueProblem raised as this module's error (with the same sentence)."""
    try:
        return check(value, name, *args)
    except SshAccessError:
        raise
    except _values.ValueProblem as exc:
        raise SshAccessError(str(exc)) from None


def _port(value: Any, what: str) -> int:
    return _checked(_values.port, value, what)


MANAGED = ("Port", "PubkeyAuthentication", "PasswordAuthentication", "KbdInteractiveAuthentication",
           "ChallengeResponseAuthentication", "PermitRootLogin", "AuthenticationMethods", "AllowGroups", "AllowUsers",
           # sshd's own aliases of the keywords above (servconf.c's keyword table: "dsaauthentication" is
           # PubkeyAuthentication, "skeyauthentication" ChallengeResponseAuthentication)
           "DSAAuthentication", "SKeyAuthentication")
# What ssh_access_extra_options may not say, and why. From sshd_config(5) (OpenSSH 9.2/9.9, Debian 12/13):
# - DenyUsers / DenyGroups: "login is disallowed for users whose name (or group) matches" - the lock-out the role
#   guards against through AllowUsers/AllowGroups, without that guard;
# - AuthorizedKeysFile / AuthorizedKeysCommand / AuthorizedKeysCommandUser: "the file that contains the public keys
#   used for user authentication" / "a program to be used to look up the user's public keys" - the keys the role
#   writes and proves would no longer be the ones sshd reads;
# - Match: "the following lines override those set in the global section ... up to another Match line or the end of
#   the file" - a second policy after the role's (PasswordAuthentication yes for some), and every later line becomes
#   conditional;
# - Include: "include the specified configuration file(s)" - lines the role never reads or checks;
# - ListenAddress / AddressFamily: "the local addresses sshd should listen on", optionally with a port, and "which
#   address family should be used" - the listeners are the role's (ssh_access_port on every address), the port move
#   proven on them;
# - ForceCommand / ChrootDirectory: "forces the execution of the command specified", "pathname of a directory to
#   chroot(2) to after authentication" - for every login, the play's own (python, sudo) included.
# Keywords are matched as sshd matches them: without regard to case (servconf.c's parse_token, strcasecmp).
REFUSED = {
    "denyusers": "it shuts users out without the role's check that the connecting user stays in",
    "denygroups": "it shuts groups out without the role's check that the connecting user stays in",
    "authorizedkeysfile": "sshd would read other keys than the authorized_keys files the role writes and proves",
    "authorizedkeyscommand": "sshd would read other keys than the authorized_keys files the role writes and proves",
    "authorizedkeyscommanduser": "it belongs to AuthorizedKeysCommand, which the role refuses",
    "match": "a Match block would override the role's policy after it (and make every later line conditional)",
    "include": "an included file holds lines the role cannot check",
    "listenaddress": "the role decides where sshd listens (ssh_access_port on every address)",
    "addressfamily": "the role decides where sshd listens (ssh_access_port on every address)",
    "forcecommand": "it replaces what every login runs, the play's own included",
    "chrootdirectory": "it confines every login, the play's own included",
}
DROPIN_HEAD = ("# Managed by homelab.nvidia_gpu.ssh_access. sshd keeps the first value it reads, and this file sorts\n"
               "# first in sshd_config.d; every Port line adds a listener.\n")


def _option_value(keyword: str, value: Any) -> str:
    name = f"ssh_access_extra_options['{keyword}']"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        if not value:
            raise SshAccessError(f"{keyword} needs a value on one line, not {value!r}")
        words = [_option_value(keyword, v) for v in value]
        return " ".join(words)
    if isinstance(value, float) or not isinstance(value, (str, int)):
        raise SshAccessError(f"{name} must be a string, a number, true/false or a list of them, not "
                             f"{type(value).__name__}")
    try:
        text = _values.single_line(value, name).strip()
    except _values.ValueProblem as exc:
        raise SshAccessError(f"{keyword} needs a value on one line: {exc}") from None
    if not text:
        raise SshAccessError(f"{keyword} needs a value on one line, not {value!r}")
    return text


def _extra_options(options: Any) -> list[str]:
    """Further sshd keywords (MaxAuthTries, ClientAliveInterval, ...) as lines; the managed and REFUSED ones are
    refused, case-insensitively, and so is a value that is not one line of plain words."""
    if options is None or (isinstance(options, str) and options == ""):
        return []
    if not isinstance(options, Mapping):
        raise SshAccessError("ssh_access_extra_options must be a dict of keyword: value")
    lines = []
    managed = {m.lower() for m in MANAGED}
    for keyword, value in options.items():
        if not isinstance(keyword, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", keyword):
            raise SshAccessError(f"{keyword!r} is not an sshd keyword (ssh_access_extra_options)")
        if keyword.lower() in managed:
            raise SshAccessError(f"{keyword} is set by the role's own variables, not by the extra options")
        if keyword.lower() in REFUSED:
            raise SshAccessError(f"ssh_access_extra_options may not set {keyword}: {REFUSED[keyword.lower()]}")
        if value is None or (isinstance(value, str) and not value.strip()):
            raise SshAccessError(f"{keyword} needs a value on one line, not {value!r}")
        lines.append(f"{keyword} {_option_value(keyword, value)}")
    return lines


def listen_dropin(ports: Sequence[int]) -> str:
    """The first step of a port move: sshd listens on the old and the new port; the login policy is not touched."""
    return (DROPIN_HEAD + "# Step 1 of a port move: both ports, until a key login on the new one is proven.\n"
            + "".join(f"Port {_port(p, 'ssh_access_port')}\n" for p in ports))


def _a_string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise SshAccessError(f"{name} must be a name, not {value!r}")
    return value


def _names(value: Any, name: str) -> list[str]:
    """A list of user or group names; a single string is refused, not read letter by letter."""
    try:
        return _values.string_list(value, name, _a_string)
    except _values.ValueProblem as exc:  # SshAccessError included
        raise SshAccessError(str(exc)) from None


def sshd_dropin(settings: Mapping[str, Any], ports: Sequence[int]) -> str:
    """The drop-in's final text: the listening ports (one Port line each), keys only, the extra options."""
    permit_root = settings.get("permit_root_login", "prohibit-password")
    if not isinstance(permit_root, str) or permit_root not in PERMIT_ROOT:
        raise SshAccessError(f"PermitRootLogin must be one of {', '.join(PERMIT_ROOT)}, not {permit_root!r}")
    lines = [DROPIN_HEAD.rstrip("\n")]
    lines += [f"Port {_port(p, 'ssh_access_port')}" for p in ports]
    lines += ["PubkeyAuthentication yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
              f"PermitRootLogin {permit_root}", "AuthenticationMethods publickey"]
    for keyword, key in (("AllowGroups", "allow_groups"), ("AllowUsers", "allow_users")):
        names = _names(settings.get(key), f"ssh_access_{key}")
        bad = [n for n in names if not _NAME.fullmatch(n)]
        if bad:
            raise SshAccessError(f"{keyword} takes user or group names, not {', '.join(map(repr, bad))}")
        if names:
            lines.append(f"{keyword} {' '.join(names)}")
    lines += _extra_options(settings.get("extra_options"))
    return "\n".join(lines) + "\n"


def _line_key(line: str) -> tuple[str, str] | None:
    """(type, data) of an authorized_keys line, options before the key allowed; None for comments and blanks.

    Split as sshd splits: on spaces and tabs only.
    """
    if not line.strip(" \t\r") or line.lstrip(" \t").startswith("#"):
        return None
    tokens = [t for t in re.split(r"[ \t]+", line) if t]
    for index, token in enumerate(tokens[:-1]):
        if token in KEY_TYPES:
            return token, tokens[index + 1]
    return None


def _file_lines(existing: Any, name: str) -> list[str]:
    """The lines of an authorized_keys file as sshd reads them: split at "\n" only (a U+2028 or a form feed inside a
    line stays inside it, so that no later pass turns it into an entry of its own)."""
    if existing is None:
        return []
    if isinstance(existing, bytes):
        existing = existing.decode("utf-8", "surrogateescape")
    if not isinstance(existing, str):
        raise SshAccessError(f"{name} must be the text of the file, not {type(existing).__name__}")
    return [ln for ln in existing.split("\n") if ln.strip(" \t\r")]


def authorized_keys_file(existing: Any, keys: Sequence[str], exclusive: bool) -> dict:
    """One user's authorized_keys: the keys given only (exclusive), or the file as it is plus the keys it lacks.

    Lines already there are kept as they are (options, comments, keys this role does not know). ``added`` and
    ``removed`` count keys against the file as it was; ``usable`` the keys that would let the user in afterwards.
    ``keys`` are lines ``parse_public_key`` made: each is checked again to be one line, so that nothing written
    here can become two entries.
    """
    before = _file_lines(existing, "the existing authorized_keys")
    kept = [] if exclusive else before
    have = {_line_key(ln) for ln in kept} - {None}
    new = []
    for line in keys:
        line = parse_public_key(line)["line"]
        ident = _line_key(line)
        if ident not in have:
            have.add(ident)
            new.append(line)
    lines = kept + new
    was = {_line_key(ln) for ln in before} - {None}
    now = {_line_key(ln) for ln in lines} - {None}
    return {"content": "".join(f"{ln}\n" for ln in lines), "added": len(now - was), "removed": len(was - now),
            "usable": len(now)}


PROBE = ("auto", "required", "skip")


def checked_values(given: Mapping[str, Any]) -> dict:
    """The role's scalar variables, checked where they enter, before anything connects or is planned.

    given: ``port`` (ssh_access_port), ``initial_ports`` (ssh_access_initial_ports), ``inventory_port``
    (ansible_port; None when the inventory does not say it), ``exclusive`` (ssh_access_exclusive), ``probe``
    (ssh_access_probe). A port is 1-65535 and never a boolean; ``exclusive`` given as the string "false" (``-e``) is
    false. ``search_ports`` are the ports the preflight tries when ``port`` does not answer, in order, once each.
    """
    if not isinstance(given, Mapping):
        raise SshAccessError("the role's values must be a dict")
    port = _port(given.get("port", 22), "ssh_access_port")
    initial = given.get("initial_ports", [22])
    if isinstance(initial, (str, bytes, Mapping)) or not isinstance(initial, Sequence):
        raise SshAccessError(f"ssh_access_initial_ports must be a list of ports, not {initial!r}")
    initial = [_port(p, f"ssh_access_initial_ports[{i}]") for i, p in enumerate(initial)]
    inventory = given.get("inventory_port")
    inventory = 22 if inventory is None or inventory == "" else _port(inventory, "ansible_port")
    probe = given.get("probe", "auto")
    if not isinstance(probe, str) or probe not in PROBE:
        raise SshAccessError(f"ssh_access_probe must be one of {', '.join(PROBE)}, not {probe!r}")
    search: list[int] = []
    for candidate in [inventory, *initial]:
        if candidate != port and candidate not in search:
            search.append(candidate)
    exclusive = _checked(_values.boolean, given.get("exclusive", False), "ssh_access_exclusive")
    return {"port": port, "initial_ports": initial, "inventory_port": inventory, "search_ports": search,
            "exclusive": exclusive, "probe": probe}


def _owner_ok(stat: Mapping[str, Any], uid: int) -> bool:
    return stat.get("uid") in (uid, 0)


def unsafe_paths(uids: Mapping[str, Any], stats: Sequence[Mapping[str, Any]]) -> str:
    """The sentence that refuses to work as root in a path a user controls, or "" when every path is safe.

    uids: user -> uid (getent). stats: the results of ``ansible.builtin.stat`` looped over ``[user, part]`` with
    part "" (the home, followed: the passwd entry is root's choice), "/.ssh" and "/.ssh/authorized_keys" (both not
    followed: whoever owns the home or .ssh decides what they are). The role creates or chowns ~/.ssh, reads and
    replaces authorized_keys as root, so it refuses: a home that is not a directory or belongs to someone other than
    the user or root; a ~/.ssh or authorized_keys that is a symbolic link (to /root/.ssh, /etc/shadow...), not a
    directory / not a regular file (a FIFO would hang the read), or belongs to another user; an authorized_keys
    that is not the user's own and has other names (a hard link to a file of root's).
    """
    if not isinstance(uids, Mapping):
        raise SshAccessError("the users' uids must be a dict of user name: uid")
    if isinstance(stats, (str, bytes, Mapping)) or not isinstance(stats, Sequence):
        raise SshAccessError("the stat results must be a list")
    problems = []
    for result in stats:
        if not isinstance(result, Mapping):
            raise SshAccessError(f"a stat result must be a dict, not {type(result).__name__}")
        item = result.get("item")
        stat = result.get("stat")
        if (not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 2
                or not isinstance(stat, Mapping)):
            raise SshAccessError(f"a stat result must hold item [user, part] and stat, not {item!r}")
        user, part = str(item[0]), str(item[1])
        uid = _checked(_values.integer, uids.get(user), f"the uid of {user}", 0)
        if not stat.get("exists"):
            continue
        path = str(stat.get("path") or part)
        owner = stat.get("pw_name") or f"uid {stat.get('uid')}"
        what = {"": "home", "/.ssh": "~/.ssh", "/.ssh/authorized_keys": "~/.ssh/authorized_keys"}.get(part, part)
        where = f"{user}'s {what} ({path})"
        if stat.get("islnk"):
            problems.append(f"{where} is a symbolic link (to {stat.get('lnk_target') or stat.get('lnk_source')}): the "
                            f"role writes there as root and follows no link a user controls. Make it a "
                            f"{'directory' if part == '/.ssh' else 'file'} owned by {user}, or remove it.")
        elif part in ("", "/.ssh") and not stat.get("isdir"):
            problems.append(f"{where} is not a directory.")
        elif part == "/.ssh/authorized_keys" and not stat.get("isreg"):
            problems.append(f"{where} is not a regular file.")
        elif not _owner_ok(stat, uid):
            problems.append(f"{where} belongs to {owner}, not to {user} or root: the role would work as root in a "
                            f"place another user controls.")
        elif part == "/.ssh/authorized_keys" and stat.get("uid") != uid and (stat.get("nlink") or 1) > 1:
            problems.append(f"{where} belongs to {owner} and has {stat.get('nlink')} names (a hard link to another "
                            f"file): the role would read that file into {user}'s keys.")
    return " ".join(problems)


def access_plan(choices: Mapping[str, Any]) -> dict:
    """What the role does on one host, in order, and the sentence that refuses it.

    choices: ``port`` (wanted), ``current_port`` (the one this play talks to), ``connecting_user``,
    ``keys`` (user -> public keys), ``existing_keys`` (user -> the text of their authorized_keys now),
    ``exclusive`` (the keys given replace a user's file), ``permit_root_login``, ``allow_groups``,
    ``allow_users``, ``extra_options``, ``connecting_user_groups`` (the groups the connecting user is in).
    A move to another port is two steps: listen on both (``listen_dropin``), prove a key login on the new port,
    then the keys-only drop-in on the new port alone (``dropin``). Without a move the proof comes first.
    """
    port = _port(choices.get("port", 22), "ssh_access_port")
    current = _port(choices.get("current_port", 22), "the port this play reaches the host on (ansible_port)")
    keys = authorized_keys(choices.get("keys") or {})
    user = choices.get("connecting_user") or ""
    if not isinstance(user, str):
        raise SshAccessError(f"ssh_access_connecting_user must be a user name, not {type(user).__name__}")
    existing_keys = choices.get("existing_keys") or {}
    if not isinstance(existing_keys, Mapping):
        raise SshAccessError("the existing keys must be a dict of user name: text of their authorized_keys")
    existing = {str(u): v for u, v in existing_keys.items()}
    exclusive = _checked(_values.boolean, choices.get("exclusive", False), "ssh_access_exclusive")
    files = {u: authorized_keys_file(existing.get(u, ""), lines, exclusive) for u, lines in keys.items()}
    refused = []
    usable = (files[user]["usable"] if user in files
              else authorized_keys_file(existing.get(user, ""), [], False)["usable"])
    if not user:
        refused.append("The connecting user is not known: set ansible_user.")
    elif not usable:
        refused.append(f"No SSH key would let {user} (the user this play connects as) log in once passwords are off: "
                       f"add one to ssh_access_authorized_keys['{user}'].")
    allow_users = _names(choices.get("allow_users"), "ssh_access_allow_users")
    if user and allow_users and user not in allow_users:
        refused.append(f"AllowUsers ({', '.join(allow_users)}) leaves out {user}, the user this play connects as.")
    allow_groups = _names(choices.get("allow_groups"), "ssh_access_allow_groups")
    member_of = _names(choices.get("connecting_user_groups"), "the connecting user's groups")
    if user and allow_groups and not set(allow_groups) & set(member_of):
        refused.append(f"AllowGroups ({', '.join(allow_groups)}) leaves out {user}, the user this play connects as "
                       f"(in {', '.join(member_of) or 'no group known'}).")
    moves = port != current
    return {"port": port, "current_port": current, "moves": moves, "connecting_user": user, "keys": keys,
            "files": files, "exclusive": exclusive,
            "listen_dropin": listen_dropin([current, port]) if moves else "",
            "dropin": sshd_dropin(choices, [port]), "refused": " ".join(refused)}


def probe_argv(conn: Mapping[str, Any]) -> list[str]:
    """The controller's ``ssh`` that proves a key login: publickey only, no prompt, the play's own key and args.

    conn: ``host``, ``port``, ``user``, ``key_file`` (optional), ``common_args`` and ``extra_args`` (the strings of
    ansible_ssh_common_args / ansible_ssh_extra_args), ``timeout``. The key-only options come first, since ssh
    keeps the first value of an option; the host key policy comes last, so the play's own choice wins.
    """
    host = conn.get("host") or ""
    if (not isinstance(host, str) or not host or host.startswith("-") or _bad_text(host)
            or any(c.isspace() for c in host)):
        raise SshAccessError(f"the probe needs the host's address (ssh_access_address), not {host!r}")
    user = conn.get("user") or ""
    if not isinstance(user, str) or not _NAME.fullmatch(user):
        raise SshAccessError(f"the probe needs the connecting user (ssh_access_connecting_user), not {user!r}")
    port = _port(conn.get("port", 22), "ssh_access_port")
    timeout = _checked(_values.integer, conn.get("timeout") or 10, "the probe's timeout", 1, 3600)
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "PreferredAuthentications=publickey", "-o", "PasswordAuthentication=no",
            "-o", "KbdInteractiveAuthentication=no", "-o", f"ConnectTimeout={timeout}"]
    if conn.get("key_file"):
        argv += ["-i", _checked(_values.single_line, conn["key_file"], "ansible_ssh_private_key_file")]
    for extra, name in (("common_args", "ansible_ssh_common_args"), ("extra_args", "ansible_ssh_extra_args")):
        text = conn.get(extra) or ""
        if not isinstance(text, str):
            raise SshAccessError(f"{name} must be a string of ssh arguments, not {type(text).__name__}")
        try:
            argv += shlex.split(text)
        except ValueError as exc:
            raise SshAccessError(f"{name} cannot be split into arguments as a shell would ({exc}): {text!r}") from None
    return [*argv, "-o", "StrictHostKeyChecking=accept-new", "-p", str(port), "-l", user, host, "true"]


def _bad_text(text: str) -> bool:
    try:
        _values.single_line(text, "text")
    except _values.ValueProblem:
        return True
    return False


def effective_settings(text: Any) -> dict[str, list[str]]:
    """``sshd -T``'s output as keyword -> values (lower case, as sshd prints them; Port and the like repeat).

    sshd prints ``prohibit-password`` under its old name ``without-password``: it is given back as the new one.
    """
    out: dict[str, list[str]] = {}
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if text is not None and not isinstance(text, str):
        raise SshAccessError(f"sshd_settings reads the text sshd -T prints, not {type(text).__name__}")
    for line in (text or "").split("\n"):
        parts = line.strip().split(None, 1)
        if not parts:
            continue
        value = parts[1] if len(parts) > 1 else ""
        if parts[0] == "permitrootlogin" and value == "without-password":
            value = "prohibit-password"
        out.setdefault(parts[0].lower(), []).append(value)
    return out


# What the role's tasks act on: one call of the action homelab.nvidia_gpu.ssh_access_plan, after the host is read.
SSH_CONNECTIONS = ("ssh", "ansible.builtin.ssh", "paramiko", "paramiko_ssh", "ansible.builtin.paramiko_ssh", "smart")
SSHD = "/usr/sbin/sshd"
DROPIN = "/etc/ssh/sshd_config.d/00-homelab-ssh-access.conf"
PACKAGES = ("openssh-server",)


def _reads(results: Any) -> tuple[dict[str, str], dict[str, str]]:
    """The user_file reads (looped over users, failures let through): user -> text of the files that exist, and
    user -> the sentence of a read that failed."""
    texts: dict[str, str] = {}
    failed: dict[str, str] = {}
    for result in results or []:
        if not isinstance(result, Mapping) or not isinstance(result.get("item"), str):
            raise SshAccessError("the authorized_keys reads must be the results of user_file looped over the users")
        if result.get("failed"):
            failed[result["item"]] = str(result.get("msg") or "it could not be read")
        elif result.get("exists"):
            texts[result["item"]] = str(result.get("content") or "")
    return texts, failed


def _dropin_before(result: Any) -> str | None:
    """The drop-in's text before this run from a slurp result (None: there is no file)."""
    if not isinstance(result, Mapping) or not result.get("content"):
        return None
    try:
        return base64.b64decode(result["content"]).decode("utf-8", "surrogateescape")
    except (binascii.Error, ValueError) as exc:
        raise SshAccessError(f"the drop-in's content as read is not base64 ({exc})") from None


def _refuse(sentences: list[str]) -> None:
    if sentences:
        raise SshAccessError(" ".join(sentences))


def _steps(access: Mapping[str, Any], before: str | None, prove_first: bool, prove_final: bool) -> list[dict]:
    """The drop-in steps in order, each proven by a key login from the controller where ``prove`` says which proof.

    A move: sshd listens on both ports (its login policy untouched), the key login on the new port is proven, then
    the keys-only drop-in on the new port alone replaces it and the login is proven again. Without a move the login
    is proven with sshd as it is before the keys-only drop-in (``text`` empty: nothing is written). ``previous`` is
    the text a refused step puts back (None: there was no file). In check mode the new port does not listen, so the
    first proof of a move is left out, and the final one always.
    """
    port, current, moves = access["port"], access["current_port"], access["moves"]
    user = access["connecting_user"]
    first = {"name": f"ports {current} and {port}" if moves else f"sshd as it is, port {current}",
             "text": access["listen_dropin"], "previous": before, "prove": "before passwords go" if prove_first else ""}
    final = {"name": f"keys only, port {port}", "text": access["dropin"],
             "previous": access["listen_dropin"] if moves else before,
             "prove": "with the final drop-in (ssh_access_extra_options included)" if prove_final else ""}
    for step in (first, final):  # the failures' sentences, %s the reason sshd or ssh gives
        step["refused"] = (f"sshd -t refuses the config ({step['name']}): %s. sshd was not reloaded and its config is "
                           "as it was; check ssh_access_extra_options and the files in /etc/ssh/sshd_config.d.")
        step["unproven"] = (f"a key-only login as {user} on port {port} did not work from the controller "
                            f"{step['prove']} (%s). sshd's config and the authorized_keys files are back as they were"
                            f" before this run (port {current}). Check the connecting user's key in "
                            f"ssh_access_authorized_keys['{user}'] and the private key this play uses "
                            "(ansible_ssh_private_key_file, the agent).")
    return [step for step in (first, final) if step["text"] or step["prove"]]


def role_plan(given: Mapping[str, Any], check_mode: bool = False) -> dict:
    """Everything the role's tasks do on one host, from its variables and what the tasks read there; a refusal is an
    SshAccessError whose sentence names the variable or the path (nothing has changed yet when it is raised).

    given: ``port``, ``initial_ports``, ``exclusive``, ``probe``, ``permit_root_login``, ``allow_groups``,
    ``allow_users``, ``extra_options``, ``authorized_keys`` (the role's variables); ``connecting_user``, ``address``,
    ``over_ssh``, ``reached_port`` (the port the play talks to, found from the controller), ``key_file``,
    ``common_args``, ``extra_args`` (the play's SSH settings); ``passwd`` (getent passwd), ``path_stats`` (stat of
    each user's home, ~/.ssh and authorized_keys, looped over [user, part]), ``key_files`` (user_file reads looped
    over the users), ``groups`` (``id -Gn`` of the connecting user), ``dropin_before`` (slurp of the drop-in),
    ``sshd_config`` (``sshd -T`` now), ``socket`` (``systemctl is-active ssh.socket``).
    """
    values = checked_values({"port": given.get("port", 22), "initial_ports": given.get("initial_ports", [22]),
                             "exclusive": given.get("exclusive", False), "probe": given.get("probe", "auto")})
    over_ssh = _checked(_values.boolean, given.get("over_ssh", True), "over_ssh")
    probe = values["probe"]
    if probe == "required" and not over_ssh:
        raise SshAccessError("ssh_access_probe is required, but this play does not reach the host over SSH, so no key "
                             "login can be proven from the controller.")
    user = given.get("connecting_user") or ""
    keys = given.get("authorized_keys") or {}
    if not isinstance(keys, Mapping):
        raise SshAccessError("ssh_access_authorized_keys must be a dict of user name: list of public keys")
    users = list(dict.fromkeys([*map(str, keys), *([user] if isinstance(user, str) and user else [])]))
    passwd = given.get("passwd") or {}
    missing = [u for u in users if u not in passwd]
    _refuse([f"no such user{'s' if len(missing) > 1 else ''}: {', '.join(missing)} (ssh_access_authorized_keys and "
             "ssh_access_connecting_user name existing accounts; create them first)."] if missing else [])
    uids = {u: passwd[u][1] for u in users}
    _refuse([s for s in [unsafe_paths(uids, given.get("path_stats") or [])] if s])
    existing, unread = _reads(given.get("key_files"))
    _refuse([f"{u}'s ~/.ssh/authorized_keys cannot be read safely: {why}" for u, why in unread.items()])
    if over_ssh:
        current = _port(given.get("reached_port", 22), "ansible_port")
    else:
        listening = effective_settings(given.get("sshd_config") or "").get("port") or [values["port"]]
        current = _port(int(listening[0]), "the port sshd listens on")
    choices = {key: given.get(key) for key in ("permit_root_login", "allow_groups", "allow_users", "extra_options")}
    access = access_plan({**choices, "port": values["port"], "current_port": current, "connecting_user": user,
                          "connecting_user_groups": str(given.get("groups") or "").split(), "keys": keys,
                          "existing_keys": existing, "exclusive": values["exclusive"]})
    _refuse([access["refused"]] if access["refused"] else [])
    port, moves = access["port"], access["moves"]
    before = _dropin_before(given.get("dropin_before"))
    proves = over_ssh and probe != "skip"
    files = {u: {**f, "before": existing.get(u, ""), "existed": u in existing} for u, f in access["files"].items()}
    if check_mode:
        unproven = "check mode"
    elif probe == "skip":
        unproven = "ssh_access_probe is skip"
    else:
        unproven = "" if over_ssh else "the play does not reach the host over SSH"
    socket = str(given.get("socket") or "").strip() == "active"
    steps = _steps(access, before, proves and not (check_mode and moves), proves and not check_mode)
    conn = {"host": given.get("address"), "port": port, "user": user, "key_file": given.get("key_file"),
            "common_args": given.get("common_args"), "extra_args": given.get("extra_args")}
    argv = probe_argv(conn) if proves else []
    move = f"(moved from {current} in two steps)" if moves else "(no move)"
    how = "exclusive" if access["exclusive"] else "added to what is there"
    why = "ssh_access_probe is skip" if probe == "skip" else "the play does not reach the host over SSH"
    proof = "proven from the controller" if proves else f"not proven ({why})"
    return {
        "packages": list(PACKAGES),
        "over_ssh": over_ssh,
        "port": port,
        "current_port": current,
        "moves": moves,
        "files": files,
        "dropin_path": DROPIN,
        "dropin_before": before,
        "validate": f"{SSHD} -t -f %s",
        "check_argv": [SSHD, "-t"],
        "settings_argv": [SSHD, "-T"],
        "steps": steps,
        "probe_argv": argv,
        "probe_retries": 10 if moves else 0,  # the new port answers once sshd has re-bound after the reload
        # the fact ssh_access_status; the run stops where a proof fails, so a step with a proof means it is proven
        "status": {"port": port, "moved_from": current if moves else None, "users": list(files),
                   "key_login": "proven" if any(step["prove"] for step in steps) else f"not proven: {unproven}"},
        "reload": ({"name": "ssh.socket", "state": "restarted", "daemon_reload": True} if socket
                   else {"name": "ssh.service", "state": "reloaded", "daemon_reload": False}),
        "ports_after": [{"port": port, "state": "started"}] + [{"port": current, "state": "stopped"}] * moves,
        "expected_settings": {"port": [str(port)], "passwordauthentication": ["no"],
                              "kbdinteractiveauthentication": ["no"], "pubkeyauthentication": ["yes"],
                              "permitrootlogin": [str(given.get("permit_root_login") or "prohibit-password")],
                              "authenticationmethods": ["publickey"]},
        "summary": (f"SSH keys only on port {port} {move}; keys for {', '.join(access['keys']) or 'nobody new'} "
                    f"({how}); the key login is {proof}"),
    }
