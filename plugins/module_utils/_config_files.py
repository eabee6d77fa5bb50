# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Config files for the runtime modules: parse with positions, dump like upstream, write safely.

Parsing and dumping are pure. `apply_changes` is the only part that touches the disk: it never
writes in check mode, writes through a temp file in the target's directory and
`AnsibleModule.atomic_move` (which keeps the mode, owner and SELinux context of an existing file),
and takes a backup with `AnsibleModule.backup_local` first when asked.
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

try:
    import tomlkit
    from tomlkit.exceptions import ParseError as _TomlParseError
except ImportError:  # pragma: no cover - exercised on hosts without python3-tomlkit
    tomlkit = None
    _TomlParseError = None
    TOMLKIT_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    TOMLKIT_IMPORT_ERROR = None

HAS_TOMLKIT = tomlkit is not None
TOMLKIT_HINT = "On Debian and Ubuntu install it with: apt-get install python3-tomlkit."


class ConfigFileError(Exception):
    """A config file that cannot be used as it is; the file is left untouched."""

    def __init__(self, path: str, reason: str, line: int | None = None, column: int | None = None) -> None:
        self.path = path
        self.reason = reason
        self.line = line
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f", line {self.line}"
            if self.column is not None:
                where += f", column {self.column}"
        return f"{where}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "column": self.column, "reason": self.reason}


def read_text(path: str) -> str | None:
    """The file's text, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigFileError(path, f"cannot read: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigFileError(path, "not valid UTF-8", line, column) from exc


def load_json_object(path: str, text: str) -> dict[str, Any]:
    """Parse a JSON object (daemon.json). Empty text is refused, as dockerd and nvidia-ctk refuse it."""
    if not text.strip():
        raise ConfigFileError(path, "the file is empty; dockerd refuses an empty daemon.json "
                                    "(write {} or remove the file)", 1, 1)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigFileError(path, f"invalid JSON: {exc.msg}", exc.lineno, exc.colno) from exc
    if not isinstance(data, dict):
        raise ConfigFileError(path, f"the top level must be a JSON object, not {type(data).__name__}", 1, 1)
    return data


def dump_json(data: Any) -> str:
    """JSON as nvidia-ctk writes it (4-space indent, sorted keys), plus a final newline."""
    return json.dumps(data, indent=4, sort_keys=True, ensure_ascii=False) + "\n"


def load_toml(path: str, text: str | None) -> Any:
    """Parse TOML with tomlkit (keeps comments and layout); a missing or empty file is an empty document."""
    if not HAS_TOMLKIT:
        raise ConfigFileError(path, "the Python library tomlkit is missing. " + TOMLKIT_HINT)
    try:
        return tomlkit.parse(text or "")
    except _TomlParseError as exc:
        reason = str(exc)
        suffix = f" at line {exc.line} col {exc.col}"
        if reason.endswith(suffix):
            reason = reason[: -len(suffix)]
        raise ConfigFileError(path, f"invalid TOML: {reason}", exc.line, exc.col) from exc
    except (ValueError, KeyError, TypeError) as exc:  # tomlkit raises a few plain errors on odd input
        raise ConfigFileError(path, f"invalid TOML: {exc}") from exc


def dump_toml(doc: Any) -> str:
    return tomlkit.dumps(doc)


def to_plain(value: Any) -> Any:
    """tomlkit containers and items (or anything else) as plain dicts, lists and scalars."""
    if isinstance(value, Mapping):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_plain(item) for item in value]
    unwrap = getattr(value, "unwrap", None)
    return unwrap() if callable(unwrap) else value


# --- style-preserving TOML edits (tomlkit documents) -------------------------------------


def build_table(data: dict[str, Any], super_table: bool = False) -> Any:
    """A tomlkit table from plain data: scalars first, then sub-tables (so keys stay under their header)."""
    table = tomlkit.table(super_table) if super_table else tomlkit.table()
    for key, value in data.items():
        if not isinstance(value, dict):
            table[key] = value
    for key, value in data.items():
        if isinstance(value, dict):
            implicit = bool(value) and all(isinstance(v, dict) for v in value.values())
            table[key] = build_table(value, super_table=implicit)
    return table


def get_path(data: Any, keys: list[str]) -> Any:
    for key in keys:
        if not hasattr(data, "get"):
            return None
        data = data.get(key)
        if data is None:
            return None
    return data


def ensure_tables(container: Any, keys: list[str], path: str) -> Any:
    """The (tomlkit) table at `keys`, creating missing ones as implicit (super) tables."""
    for key in keys:
        if key not in container:
            container[key] = tomlkit.table(True)
        container = container[key]
        if not hasattr(container, "keys"):
            raise ConfigFileError(path, f"{'.'.join(keys)}: {key} is not a table")
    return container


def set_if_different(container: Any, key: str, value: Any) -> None:
    if key not in container or to_plain(container[key]) != value:
        container[key] = build_table(value) if isinstance(value, dict) else value


def remove_and_prune(doc: Any, keys: list[str]) -> None:
    """Remove doc[keys...] and every table on the way that this leaves empty."""
    chain = [doc]
    for key in keys[:-1]:
        nxt = chain[-1].get(key) if hasattr(chain[-1], "get") else None
        if not hasattr(nxt, "keys"):
            return
        chain.append(nxt)
    if keys[-1] not in chain[-1]:
        return
    del chain[-1][keys[-1]]
    for depth in range(len(chain) - 1, 0, -1):
        if len(chain[depth]) == 0:
            del chain[depth - 1][keys[depth - 1]]
        else:
            break


def set_deep(container: Any, key: str, value: Any) -> None:
    """Set a key; a dict value is merged into an existing table key by key (style of the rest kept)."""
    existing = container.get(key) if key in container else None
    if isinstance(value, dict) and hasattr(existing, "keys"):
        for sub_key, sub_value in value.items():
            set_deep(existing, sub_key, sub_value)
        return
    set_if_different(container, key, value)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_BASIC_KEY = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
_LITERAL_KEY = re.compile(r"'([^'\n]*)'")


def parse_dotted_key(key: str) -> list[str]:
    """TOML dotted key -> segments: `plugins."io.containerd.grpc.v1.cri".containerd` -> 3 segments."""
    segments: list[str] = []
    pos = 0
    while True:
        while pos < len(key) and key[pos] in " \t":
            pos += 1
        for pattern in (_BARE_KEY, _BASIC_KEY, _LITERAL_KEY):
            match = pattern.match(key, pos)
            if match:
                break
        else:
            raise ValueError(f"invalid key {key!r} at character {pos + 1}: expected a bare or quoted segment")
        if pattern is _BASIC_KEY:
            try:
                segments.append(json.loads(match.group(0)))
            except ValueError as exc:
                raise ValueError(f"invalid key {key!r}: bad escape in {match.group(0)}") from exc
        else:
            segments.append(match.group(1) if pattern is _LITERAL_KEY else match.group(0))
        pos = match.end()
        while pos < len(key) and key[pos] in " \t":
            pos += 1
        if pos == len(key):
            return segments
        if key[pos] != ".":
            raise ValueError(f"invalid key {key!r} at character {pos + 1}: expected '.'")
        pos += 1


def deep_merge(data: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """A copy of `data` with `settings` merged in: dicts merge recursively, anything else replaces."""
    new = copy.deepcopy(data)
    for key, value in settings.items():
        if isinstance(value, dict) and isinstance(new.get(key), dict):
            new[key] = deep_merge(new[key], value)
        else:
            new[key] = copy.deepcopy(value)
    return new


def deep_remove(data: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """A copy of `data` without the keys named in `settings`. A non-empty dict value names keys inside
    that key; a dict this leaves empty is removed too. Other values are ignored (only names count)."""
    new = copy.deepcopy(data)
    for key, value in settings.items():
        if key not in new:
            continue
        if isinstance(value, dict) and value and isinstance(new[key], dict):
            new[key] = deep_remove(new[key], value)
            if not new[key]:
                del new[key]
        else:
            del new[key]
    return new


def diff_entry(path: str, before: str | None, after: str | None) -> dict[str, str]:
    """One file's diff in the shape Ansible renders as a unified diff (a list of these is fine too)."""
    return {
        "before_header": path if before is not None else f"{path} (absent)",
        "after_header": path if after is not None else f"{path} (absent)",
        "before": before or "",
        "after": after or "",
    }


@dataclass
class FileChange:
    """A planned change: `after` None means the file is removed."""

    path: str
    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def write_atomic(module: Any, path: str, text: str) -> None:
    """Write through a temp file in the same directory, then atomic_move (keeps mode/owner of `path`)."""
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        module.atomic_move(tmp, path, unsafe_writes=False)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def apply_changes(module: Any, changes: list[FileChange], backup: bool = False) -> dict[str, Any]:
    """Write (or remove) what changed; nothing is written in check mode. Returns result keys."""
    result: dict[str, Any] = {"changed": False, "files": [], "backup_files": []}
    diffs = []
    for change in changes:
        if not change.changed:
            continue
        result["changed"] = True
        result["files"].append(change.path)
        diffs.append(diff_entry(change.path, change.before, change.after))
        if module.check_mode:
            continue
        if backup and change.before is not None:
            result["backup_files"].append(module.backup_local(change.path))
        if change.after is None:
            os.unlink(change.path)
        else:
            write_atomic(module, change.path, change.after)
    if module._diff:
        result["diff"] = diffs
    return result
