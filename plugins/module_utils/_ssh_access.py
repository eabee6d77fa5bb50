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


def sshd_dropin(settings: Mapping[str, Any], ports: Sequence[int]) -> str:
    """The drop-in's text for the given listening ports (one Port line each) and the fixed login policy."""
    permit_root = str(settings.get("permit_root_login", "prohibit-password"))
    if permit_root not in PERMIT_ROOT:
        raise SshAccessError(f"PermitRootLogin must be one of {', '.join(PERMIT_ROOT)}, not {permit_root!r}")
    lines = ["# Managed by homelab.nvidia_gpu.ssh_access: keys only. sshd keeps the first value it reads,",
             "# and this file sorts first in sshd_config.d; every Port line adds a listener."]
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
    return "\n".join(lines) + "\n"


def access_plan(choices: Mapping[str, Any]) -> dict:
    """What the role does on one host, in order, and the sentence that refuses it.

    choices: ``port`` (wanted), ``current_port`` (the one this play talks to), ``connecting_user``,
    ``keys`` (user -> public keys), ``existing_keys`` (user -> lines already in their authorized_keys),
    ``exclusive`` (the keys given replace a user's file), ``permit_root_login``, ``allow_groups``,
    ``allow_users``, ``connecting_user_groups`` (the groups the connecting user is in).
    """
    port = _port(choices.get("port", 22), "the SSH port")
    current = _port(choices.get("current_port", 22), "the current SSH port")
    keys = authorized_keys(choices.get("keys") or {})
    user = str(choices.get("connecting_user") or "")
    existing = {str(u): list(v or []) for u, v in (choices.get("existing_keys") or {}).items()}
    exclusive = bool(choices.get("exclusive", False))
    refused = []
    after = keys.get(user, []) if exclusive else list(dict.fromkeys(existing.get(user, []) + keys.get(user, [])))
    if not user:
        refused.append("The connecting user is not known: set ansible_user.")
    elif not after:
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
    steps = ([{"ports": [current, port], "then": "probe"}, {"ports": [port], "then": "done"}] if port != current
             else [{"ports": [port], "then": "done"}])
    return {"port": port, "current_port": current, "moves": port != current, "keys": keys, "steps": steps,
            "dropins": [sshd_dropin(choices, step["ports"]) for step in steps], "refused": " ".join(refused)}
