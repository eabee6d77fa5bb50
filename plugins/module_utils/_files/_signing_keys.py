# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of apt_signing_key: pinned fingerprints, `gpg --with-colons` listings, accept or refuse.

Nothing here runs gpg or touches a file; the module feeds it gpg's output and acts on the verdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# v4 fingerprints are 40 hex digits (SHA-1), v5/v6 are 64 (SHA-256).
_FPR_LENGTHS = (40, 64)
_HEX = re.compile(r"^[0-9A-F]+$")


class BadFingerprint(ValueError):
    """A pinned fingerprint that is not one."""


def normalise_fingerprint(value: str) -> str:
    """Upper-case hex without spaces or a 0x prefix; BadFingerprint when it is not a full fingerprint."""
    text = re.sub(r"\s+", "", str(value)).upper()
    if text.startswith("0X"):
        text = text[2:]
    if not text:
        raise BadFingerprint("a pinned fingerprint is empty: pin the full fingerprint of the key, checked out of band")
    if not _HEX.match(text) or len(text) not in _FPR_LENGTHS:
        raise BadFingerprint(
            f"{value!r} is not a key fingerprint: expected 40 hexadecimal digits (64 for a v5/v6 key), spaces allowed; "
            "a short or long key ID is not enough to pin a key")
    return text


def normalise_fingerprints(values: list[str]) -> list[str]:
    """Each fingerprint normalised, duplicates dropped, order kept."""
    out: list[str] = []
    for value in values:
        fpr = normalise_fingerprint(value)
        if fpr not in out:
            out.append(fpr)
    if not out:
        raise BadFingerprint("no fingerprint is pinned: nothing can be trusted without one")
    return out


@dataclass
class Subkey:
    fingerprint: str
    validity: str = ""
    expires: int | None = None


@dataclass
class Key:
    """One primary key of a `gpg --with-colons --fixed-list-mode` listing."""

    fingerprint: str
    validity: str = ""
    created: int | None = None
    expires: int | None = None
    uids: list[str] = field(default_factory=list)
    subkeys: list[Subkey] = field(default_factory=list)

    def summary(self) -> dict:
        """What a person wants to see of the key (diff and result), no binary."""
        return {
            "fingerprint": self.fingerprint,
            "uids": list(self.uids),
            "expires": self.expires,
            "subkeys": [{"fingerprint": s.fingerprint, "expires": s.expires} for s in self.subkeys],
        }

    def label(self) -> str:
        return f"{self.fingerprint} ({self.uids[0]})" if self.uids else self.fingerprint


def _epoch(text: str) -> int | None:
    # gpg writes seconds since the epoch; old versions may write an ISO date, which we do not need to read.
    return int(text) if text.isdigit() and int(text) > 0 else None


def _unescape(text: str) -> str:
    # --with-colons escapes ':' and other specials as \xNN.
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), text)


def parse_colons(text: str) -> list[Key]:
    """Primary keys, their user IDs and subkeys, from `gpg --with-colons --fixed-list-mode` output."""
    keys: list[Key] = []
    pending: Key | Subkey | None = None  # the pub/sub record whose fpr line comes next
    for line in text.splitlines():
        fields = line.split(":")
        kind = fields[0]
        fields += [""] * (12 - len(fields))
        if kind == "pub":
            key = Key(fingerprint="", validity=fields[1], created=_epoch(fields[5]), expires=_epoch(fields[6]))
            keys.append(key)
            pending = key
        elif kind == "sub" and keys:
            sub = Subkey(fingerprint="", validity=fields[1], expires=_epoch(fields[6]))
            keys[-1].subkeys.append(sub)
            pending = sub
        elif kind == "fpr" and pending is not None:
            pending.fingerprint = fields[9].upper()
            pending = None
        elif kind == "uid" and keys:
            keys[-1].uids.append(_unescape(fields[9]))
        elif kind in ("sec", "ssb"):
            pending = None  # secret keys are never listed by the module; ignore rather than misread
    return [k for k in keys if k.fingerprint]


@dataclass
class Verdict:
    """`accepted` are the pinned keys to install; `reason` says why nothing is, when not accepted."""

    accepted: list[Key]
    reason: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason


def _plural(items: list[str], one: str, many: str) -> str:
    return f"{one} {items[0]}" if len(items) == 1 else f"{many} {', '.join(items)}"


def decide(keys: list[Key], pinned: list[str], now: int | None = None) -> Verdict:
    """Accept only when the file holds exactly the pinned primary keys, none revoked or expired.

    `keys` is gpg's listing after importing the file into an empty keyring: what gpg could not
    validate (a subkey without its binding signature, a user ID without self-signature) is already gone.
    """
    found = [k.fingerprint for k in keys]
    pinned_text = _plural(pinned, "the pinned fingerprint is", "the pinned fingerprints are")
    if not keys:
        return Verdict([], f"the file holds no OpenPGP public key gpg accepts; {pinned_text}")
    missing = [p for p in pinned if p not in found]
    extra = [k for k in keys if k.fingerprint not in pinned]
    if missing:
        subkey_fprs = {s.fingerprint for k in keys for s in k.subkeys}
        as_sub = [p for p in missing if p in subkey_fprs]
        what = _plural(found, "its fingerprint is", "its primary key fingerprints are")
        tail = (f" ({', '.join(as_sub)} is a subkey there: pin the primary key's fingerprint)" if as_sub else "")
        return Verdict([], f"{what}, {pinned_text}{tail}")
    if extra:
        return Verdict([], (f"besides the pinned key it holds primary keys that are not pinned: "
                            f"{', '.join(k.label() for k in extra)}; {pinned_text}. "
                            "Pin every key the file should carry, or serve a file with only the pinned key"))
    accepted = [next(k for k in keys if k.fingerprint == p) for p in pinned]
    for key in accepted:
        if key.validity == "r":
            return Verdict([], f"the pinned key {key.fingerprint} is revoked in this file")
        if key.validity == "e" or (now is not None and key.expires is not None and key.expires <= now):
            return Verdict([], f"the pinned key {key.fingerprint} expired (at {key.expires} seconds since the epoch)")
    return Verdict(accepted)
