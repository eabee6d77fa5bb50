# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules of the module file_set: which entries are acceptable, and what a file or directory needs.

A role's plan renders whole files (units, sources, tables, scripts); file_set writes all of them in one step. What is
checked here before anything is touched: absolute, normalised and distinct paths, octal modes, a validate command
that names the file (``%s``), and no file whose directory is not either listed or already there.
"""

from __future__ import annotations

import posixpath
import stat
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _values


class FileSetProblem(_values.ValueProblem):
    """An entry file_set refuses, in one sentence."""


def _path(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.startswith("/") or "\x00" in value or "\n" in value:
        raise FileSetProblem(f"{where}: path must be an absolute path on one line, not {value!r}")
    if posixpath.normpath(value) != value or value == "/":
        raise FileSetProblem(f"{where}: path {value!r} is not normalised (no '.', '..', '//' or trailing '/')")
    return value


def mode(value: Any, where: str) -> int:
    """An octal mode string such as "0644" (an int is refused: YAML reads 0644 as 420)."""
    text = str(value) if isinstance(value, str) else ""
    try:
        number = int(text, 8) if text else -1
    except ValueError:
        number = -1
    if not 0 <= number <= 0o7777:
        raise FileSetProblem(f"{where}: mode must be an octal string such as '0644', not {value!r}")
    return number


def entries(directories: Sequence[Mapping] | None, files: Sequence[Mapping] | None) -> tuple[list[dict], list[dict]]:
    """The checked entries: directories (path, mode, owner, group) sorted parents first, files in the given order."""
    dirs, out = [], []
    seen: set[str] = set()
    for number, entry in enumerate(directories or []):
        where = f"directories[{number}]"
        if not isinstance(entry, Mapping):
            raise FileSetProblem(f"{where} must be a dict with path, mode, owner and group, not {entry!r}")
        path = _path(entry.get("path"), where)
        if path in seen:
            raise FileSetProblem(f"{where}: {path} is listed twice")
        seen.add(path)
        dirs.append({"path": path, "mode": mode(entry.get("mode", "0755"), where),
                     "owner": entry.get("owner"), "group": entry.get("group")})
    for number, entry in enumerate(files or []):
        where = f"files[{number}]"
        if not isinstance(entry, Mapping):
            raise FileSetProblem(f"{where} must be a dict with path and content, not {entry!r}")
        path = _path(entry.get("path"), where)
        if path in seen:
            raise FileSetProblem(f"{where}: {path} is listed twice")
        seen.add(path)
        content = entry.get("content")
        if not isinstance(content, str):
            raise FileSetProblem(f"{where}: content of {path} must be text, not {type(content).__name__}")
        validate = entry.get("validate") or ""
        if validate and "%s" not in validate:
            raise FileSetProblem(f"{where}: validate must name the file to check as %s, not {validate!r}")
        out.append({"path": path, "content": content, "mode": mode(entry.get("mode", "0644"), where),
                    "owner": entry.get("owner"), "group": entry.get("group"), "validate": validate})
    dirs.sort(key=lambda d: d["path"].count("/"))
    return dirs, out


def needs(current: bytes | None, st: Any, wanted: bytes, wanted_mode: int) -> list[str]:
    """What a file lacks: 'content' (missing or different bytes) and/or 'mode'; owners are the module's to compare."""
    if current is None:
        return ["content", "mode"]
    out = [] if current == wanted else ["content"]
    if st is not None and stat.S_IMODE(st.st_mode) != wanted_mode:
        out.append("mode")
    return out
