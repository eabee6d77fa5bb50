# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`apt-cache policy P1 P2 ...` read as data (pure): installed version, candidate and every known version.

One command answers for many packages, so the roles ask apt once instead of once per package, and the
pins and holds apt applies are already in the candidate it prints.
"""

from __future__ import annotations

import re

NONE = "(none)"
_HEADER = re.compile(r"^(\S+):$")
_FIELD = re.compile(r"^ {2}(Installed|Candidate): (\S+)$")
_VERSION = re.compile(r"^ (?:\*\*\*| {3}) (\S+) -?\d+$")


def parse(text: str, wanted: list[str] | tuple[str, ...] = ()) -> dict[str, dict]:
    """{package: {installed: version or '', candidate: version or '(none)', versions: [..]}}.

    Every name in ``wanted`` is in the result; one apt does not know gets no installed version and
    candidate ``(none)``.
    """
    found: dict[str, dict] = {}
    current = None
    for line in str(text or "").splitlines():
        header = _HEADER.match(line)
        if header:
            current = found.setdefault(header.group(1), {"installed": "", "candidate": NONE, "versions": []})
            continue
        if current is None:
            continue
        field = _FIELD.match(line)
        if field:
            value = field.group(2)
            if field.group(1) == "Installed":
                current["installed"] = "" if value == NONE else value
            else:
                current["candidate"] = value
            continue
        version = _VERSION.match(line)
        if version and version.group(1) not in current["versions"]:
            current["versions"].append(version.group(1))
    for name in wanted:
        found.setdefault(name, {"installed": "", "candidate": NONE, "versions": []})
    return found


def upstream_version(version: str) -> str:
    """The upstream part of a Debian version: no epoch, no Debian revision (1:580.95.05-1 -> 580.95.05)."""
    version = re.sub(r"^[0-9]+:", "", str(version or ""))
    return re.sub(r"-[^-]*$", "", version)
