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

KEY_TYPES = (
    "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa",
    "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
)
PERMIT_ROOT = ("no", "prohibit-password")
_NAME = re.compile(r"[a-z_][a-z0-9_.-]*[$]?")


class SshAccessError(ValueError):
    """Bad input: a key that is not a public key, a port out of range, a user or group name sshd would misread."""


def _key_blob_type(blob: str) -> str:
    try:
        raw = base64.b64decode(blob, validate=True)
        (length,) = struct.unpack(">I", raw[:4])
        return raw[4:4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError, ValueError) as exc:
        raise SshAccessError(f"its key data is not base64 of an SSH public key ({exc})") from exc


def parse_public_key(line: Any) -> dict:
    """One authorized_keys line without options: type, base64 data (whose embedded type must agree), comment."""
    text = str(line if line is not None else "").strip()
    if "PRIVATE KEY" in text:
        raise SshAccessError("this is a private key; give the public one (the .pub file)")
    if "\n" in text or "\r" in text:
        raise SshAccessError("one key per entry, on one line")
    parts = text.split(None, 2)
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise SshAccessError(f"it must start with a key type ({', '.join(KEY_TYPES)}) and the key data")
    kind, blob = parts[0], parts[1]
    embedded = _key_blob_type(blob)
    if embedded != kind:
        raise SshAccessError(f"it says {kind} but its data is a {embedded} key")
    return {"type": kind, "data": blob, "comment": parts[2] if len(parts) > 2 else "", "line": " ".join(parts)}


def authorized_keys(keys_by_user: Mapping[str, Sequence[Any]]) -> dict[str, list[str]]:
    """Every user's keys as authorized_keys lines, checked; a bad one is named by user and position."""
    out: dict[str, list[str]] = {}
    problems = []
    for user, keys in (keys_by_user or {}).items():
        if not _NAME.fullmatch(str(user)):
            problems.append(f"{user!r} is not a user name")
            continue
        if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence):
            problems.append(f"{user}: the keys must be a list")
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


def _port(value: Any, what: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError) as exc:
        raise SshAccessError(f"{what} must be a TCP port number, not {value!r}") from exc
    if not 1 <= port <= 65535 or str(value).strip() != str(port):
        raise SshAccessError(f"{what} must be between 1 and 65535, not {value!r}")
    return port


MANAGED = ("Port", "PubkeyAuthentication", "PasswordAuthentication", "KbdInteractiveAuthentication",
           "ChallengeResponseAuthentication", "PermitRootLogin", "AuthenticationMethods", "AllowGroups", "AllowUsers")
DROPIN_HEAD = ("# Managed by homelab.nvidia_gpu.ssh_access. sshd keeps the first value it reads, and this file sorts\n"
               "# first in sshd_config.d; every Port line adds a listener.\n")


def _extra_options(options: Any) -> list[str]:
    """Further sshd keywords (MaxAuthTries, ClientAliveInterval, ...) as lines; the managed ones are refused."""
    if options in (None, ""):
        return []
    if not isinstance(options, Mapping):
        raise SshAccessError("the extra sshd options must be a dict of keyword: value")
    lines = []
    for keyword, value in options.items():
        keyword = str(keyword)
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", keyword):
            raise SshAccessError(f"{keyword!r} is not an sshd keyword")
        if keyword.lower() in {m.lower() for m in MANAGED}:
            raise SshAccessError(f"{keyword} is set by the role's own variables, not by the extra options")
        if isinstance(value, bool):
            value = "yes" if value else "no"
        values = [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
        text = " ".join(values).strip()
        if not text or any(c in text for c in "\n\r\0"):
            raise SshAccessError(f"{keyword} needs a value on one line, not {value!r}")
        lines.append(f"{keyword} {text}")
    return lines


def listen_dropin(ports: Sequence[int]) -> str:
    """The first step of a port move: sshd listens on the old and the new port; the login policy is not touched."""
    return (DROPIN_HEAD + "# Step 1 of a port move: both ports, until a key login on the new one is proven.\n"
            + "".join(f"Port {_port(p, 'the SSH port')}\n" for p in ports))


def sshd_dropin(settings: Mapping[str, Any], ports: Sequence[int]) -> str:
    """The drop-in's final text: the listening ports (one Port line each), keys only, the extra options."""
    permit_root = str(settings.get("permit_root_login", "prohibit-password"))
    if permit_root not in PERMIT_ROOT:
        raise SshAccessError(f"PermitRootLogin must be one of {', '.join(PERMIT_ROOT)}, not {permit_root!r}")
    lines = [DROPIN_HEAD.rstrip("\n")]
    lines += [f"Port {_port(p, 'the SSH port')}" for p in ports]
    lines += ["PubkeyAuthentication yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
              f"PermitRootLogin {permit_root}", "AuthenticationMethods publickey"]
    for keyword, key in (("AllowGroups", "allow_groups"), ("AllowUsers", "allow_users")):
        names = [str(n) for n in settings.get(key) or []]
        bad = [n for n in names if not _NAME.fullmatch(n)]
        if bad:
            raise SshAccessError(f"{keyword} takes user or group names, not {', '.join(map(repr, bad))}")
        if names:
            lines.append(f"{keyword} {' '.join(names)}")
    lines += _extra_options(settings.get("extra_options"))
    return "\n".join(lines) + "\n"


def _line_key(line: str) -> tuple[str, str] | None:
    """(type, data) of an authorized_keys line, options before the key allowed; None for comments and blanks."""
    if not line.strip() or line.lstrip().startswith("#"):
        return None
    tokens = line.split()
    for index, token in enumerate(tokens[:-1]):
        if token in KEY_TYPES:
            return token, tokens[index + 1]
    return None


def authorized_keys_file(existing: Any, keys: Sequence[str], exclusive: bool) -> dict:
    """One user's authorized_keys: the keys given only (exclusive), or the file as it is plus the keys it lacks.

    Lines already there are kept as they are (options, comments, keys this role does not know). ``added`` and
    ``removed`` count keys against the file as it was; ``usable`` the keys that would let the user in afterwards.
    """
    before = [ln for ln in str(existing or "").splitlines() if ln.strip()]
    kept = [] if exclusive else before
    have = {_line_key(ln) for ln in kept} - {None}
    new = []
    for line in keys:
        ident = _line_key(line)
        if ident not in have:
            have.add(ident)
            new.append(line)
    lines = kept + new
    was = {_line_key(ln) for ln in before} - {None}
    now = {_line_key(ln) for ln in lines} - {None}
    return {"content": "".join(f"{ln}\n" for ln in lines), "added": len(now - was), "removed": len(was - now),
            "usable": len(now)}


def access_plan(choices: Mapping[str, Any]) -> dict:
    """What the role does on one host, in order, and the sentence that refuses it.

    choices: ``port`` (wanted), ``current_port`` (the one this play talks to), ``connecting_user``,
    ``keys`` (user -> public keys), ``existing_keys`` (user -> the text of their authorized_keys now),
    ``exclusive`` (the keys given replace a user's file), ``permit_root_login``, ``allow_groups``,
    ``allow_users``, ``extra_options``, ``connecting_user_groups`` (the groups the connecting user is in).
    A move to another port is two steps: listen on both (``listen_dropin``), prove a key login on the new port,
    then the keys-only drop-in on the new port alone (``dropin``). Without a move the proof comes first.
    """
    port = _port(choices.get("port", 22), "the SSH port")
    current = _port(choices.get("current_port", 22), "the current SSH port")
    keys = authorized_keys(choices.get("keys") or {})
    user = str(choices.get("connecting_user") or "")
    existing = {str(u): v for u, v in (choices.get("existing_keys") or {}).items()}
    exclusive = bool(choices.get("exclusive", False))
    files = {u: authorized_keys_file(existing.get(u, ""), lines, exclusive) for u, lines in keys.items()}
    refused = []
    usable = (files[user]["usable"] if user in files
              else authorized_keys_file(existing.get(user, ""), [], False)["usable"])
    if not user:
        refused.append("The connecting user is not known: set ansible_user.")
    elif not usable:
        refused.append(f"No SSH key would let {user} (the user this play connects as) log in once passwords are off: "
                       f"add one to ssh_access_authorized_keys['{user}'].")
    allow_users = [str(n) for n in choices.get("allow_users") or []]
    if user and allow_users and user not in allow_users:
        refused.append(f"AllowUsers ({', '.join(allow_users)}) leaves out {user}, the user this play connects as.")
    allow_groups = [str(n) for n in choices.get("allow_groups") or []]
    member_of = [str(n) for n in choices.get("connecting_user_groups") or []]
    if user and allow_groups and not set(allow_groups) & set(member_of):
        refused.append(f"AllowGroups ({', '.join(allow_groups)}) leaves out {user}, the user this play connects as "
                       f"(in {', '.join(member_of) or 'no group known'}).")
    moves = port != current
    return {"port": port, "current_port": current, "moves": moves, "keys": keys, "files": files,
            "listen_dropin": listen_dropin([current, port]) if moves else "",
            "dropin": sshd_dropin(choices, [port]), "refused": " ".join(refused)}


def probe_argv(conn: Mapping[str, Any]) -> list[str]:
    """The controller's ``ssh`` that proves a key login: publickey only, no prompt, the play's own key and args.

    conn: ``host``, ``port``, ``user``, ``key_file`` (optional), ``common_args`` and ``extra_args`` (the strings of
    ansible_ssh_common_args / ansible_ssh_extra_args), ``timeout``. The key-only options come first, since ssh
    keeps the first value of an option; the host key policy comes last, so the play's own choice wins.
    """
    host = str(conn.get("host") or "")
    if not host or host.startswith("-") or any(c.isspace() for c in host):
        raise SshAccessError(f"the probe needs the host's address, not {host!r}")
    user = str(conn.get("user") or "")
    if not _NAME.fullmatch(user):
        raise SshAccessError(f"the probe needs the connecting user, not {user!r}")
    port = _port(conn.get("port", 22), "the probed port")
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "PreferredAuthentications=publickey", "-o", "PasswordAuthentication=no",
            "-o", "KbdInteractiveAuthentication=no", "-o", f"ConnectTimeout={int(conn.get('timeout') or 10)}"]
    if conn.get("key_file"):
        argv += ["-i", str(conn["key_file"])]
    for extra in ("common_args", "extra_args"):
        argv += shlex.split(str(conn.get(extra) or ""))
    return [*argv, "-o", "StrictHostKeyChecking=accept-new", "-p", str(port), "-l", user, host, "true"]


def effective_settings(text: Any) -> dict[str, list[str]]:
    """``sshd -T``'s output as keyword -> values (lower case, as sshd prints them; Port and the like repeat).

    sshd prints ``prohibit-password`` under its old name ``without-password``: it is given back as the new one.
    """
    out: dict[str, list[str]] = {}
    for line in str(text or "").splitlines():
        parts = line.strip().split(None, 1)
        if not parts:
            continue
        value = parts[1] if len(parts) > 1 else ""
        if parts[0] == "permitrootlogin" and value == "without-password":
            value = "prohibit-password"
        out.setdefault(parts[0].lower(), []).append(value)
    return out
