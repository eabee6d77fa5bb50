# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Config files for the runtime modules: parse with positions, dump like upstream, write safely.

Parsing and dumping are pure. `apply_changes` is the only part that touches the disk: it never
writes in check mode, writes through a temp file in the target's directory and
`AnsibleModule.atomic_move` (which keeps the mode, owner and SELinux context of an existing file),
and takes a backup with `AnsibleModule.backup_local` first when asked.

Hostile input is refused before anything is opened or written: relative paths, FIFOs, devices and
directories (`resolve`; a FIFO would hang `open`), dangling links and link loops. A symlinked config
is read and written through its link (the link stays, as with lineinfile). Values are compared with
their types (`same`: 1 is not true, 3.0 is not 3), JSON is read as dockerd reads it (no NaN or
Infinity, no lone surrogates) and `file_lock` serialises read-modify-write across concurrent runs.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import fcntl
import importlib
import json
import math
import os
import re
import stat
import tempfile
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
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


def has_tomlkit() -> bool:
    """Whether tomlkit imports, asked again each time it did not: a persistent interpreter (mitogen's) keeps this
    module loaded from a module that ran before python3-tomlkit was installed (apt_signing_key imports it too), so
    the answer of the first import must not stand for the rest of the play."""
    global tomlkit, _TomlParseError, TOMLKIT_IMPORT_ERROR, HAS_TOMLKIT
    if tomlkit is None:
        importlib.invalidate_caches()
        try:
            module = importlib.import_module("tomlkit")
            parse_error = importlib.import_module("tomlkit.exceptions").ParseError
        except ImportError:
            TOMLKIT_IMPORT_ERROR = traceback.format_exc()
            return False
        tomlkit, _TomlParseError, TOMLKIT_IMPORT_ERROR, HAS_TOMLKIT = module, parse_error, None, True
    return True


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


# Deeper than this is no config anyone writes by hand; Python's parsers would hit their recursion limit.
MAX_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")
_FILE_KINDS = ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISCHR, "character device"),
               (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))


def require_absolute(path: str | None, option: str) -> None:
    """Refuse a relative path: it would be written in whatever directory the module happens to run in."""
    if path is not None and path != "" and not os.path.isabs(path):
        raise ConfigFileError(path, f"{option} must be an absolute path (a relative one would be resolved in the "
                                    "module's working directory on the host)")


def resolve(path: str) -> str:
    """The regular file that `path` names (through symlinks), or `path` itself when nothing is there.

    Refused before anything is opened: a dangling link, a link loop, and anything but a regular file
    (opening a FIFO would block the module forever).
    """
    if not os.path.lexists(path):
        return path
    real = path
    if os.path.islink(path):
        try:
            real = os.path.realpath(path, strict=True)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ConfigFileError(path, "is a symlink loop; fix or remove the link") from exc
            target = os.readlink(path)
            raise ConfigFileError(path, f"is a symlink to {target}, which does not exist (a dangling link); "
                                        "create the target or remove the link") from exc
    try:
        mode = os.stat(real).st_mode
    except OSError as exc:
        raise ConfigFileError(path, f"cannot read: {exc.strerror or exc}") from exc
    for test, kind in _FILE_KINDS:
        if test(mode):
            via = f" (through the link to {real})" if real != path else ""
            raise ConfigFileError(path, f"is a {kind}{via}, not a regular file; refusing to read or replace it")
    return real


def read_text(path: str) -> str | None:
    """The file's text, or None when it does not exist. Symlinks are followed (see `resolve`)."""
    real = resolve(path)
    try:
        with open(real, "rb") as handle:
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


class _NotDockerJson(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotDockerJson(f"{name} is not JSON (dockerd refuses it)")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _NotDockerJson(f"the number {literal} does not fit a 64-bit float (dockerd refuses it)")
    return value


def load_json_object(path: str, text: str, warnings: list[str] | None = None) -> dict[str, Any]:
    """Parse a JSON object (daemon.json) as dockerd would accept it.

    Empty text, NaN/Infinity, numbers beyond a float, lone surrogate escapes and absurd nesting are
    refused. Duplicate keys are kept as JSON readers do (the last one wins) with a warning naming
    them, appended to `warnings`.
    """
    if not text.strip():
        raise ConfigFileError(path, "the file is empty; dockerd refuses an empty daemon.json "
                                    "(write {} or remove the file)", 1, 1)
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in items:
            if key in seen and key not in duplicates:
                duplicates.append(key)
            seen[key] = value
        return seen

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise ConfigFileError(path, f"invalid JSON: {exc.msg}", exc.lineno, exc.colno) from exc
    except _NotDockerJson as exc:
        raise ConfigFileError(path, f"invalid JSON for dockerd: {exc}") from exc
    except RecursionError as exc:
        raise ConfigFileError(path, "invalid JSON: nested too deeply") from exc
    if not isinstance(data, dict):
        raise ConfigFileError(path, f"the top level must be a JSON object, not {type(data).__name__}", 1, 1)
    problem = value_problem(data, "", allow_null=True)
    if problem:
        raise ConfigFileError(path, f"cannot be used as it is: {problem}")
    if duplicates and warnings is not None:
        warnings.append(f"{path}: duplicate keys {', '.join(map(repr, duplicates))}; the last value of each is "
                        "used (as dockerd does) and the others are dropped when the file is rewritten")
    return data


def dump_json(data: Any) -> str:
    """JSON as nvidia-ctk writes it (4-space indent, sorted keys), plus a final newline. Never NaN/Infinity."""
    return json.dumps(data, indent=4, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def value_problem(value: Any, where: str, allow_null: bool = False, depth: int = 0) -> str | None:
    """What makes `value` unfit for daemon.json or config.toml, or None: null (unless allowed), NaN or
    infinite numbers, lone surrogates in strings or keys, nesting deeper than MAX_DEPTH."""
    label = where or "the top level"
    if depth > MAX_DEPTH:
        return f"{label} is nested more than {MAX_DEPTH} levels deep"
    if value is None:
        return None if allow_null else (f"{label} is null; a config file cannot hold null here "
                                        "(use state=absent to remove a key)")
    if isinstance(value, float) and not math.isfinite(value):
        return f"{label} is {value!r}, which dockerd and containerd refuse"
    if isinstance(value, str):
        return f"{label} holds a lone surrogate escape (not valid Unicode)" if _SURROGATE.search(value) else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            key = str(key)
            if _SURROGATE.search(key):
                return f"a key under {label} holds a lone surrogate escape (not valid Unicode)"
            problem = value_problem(item, f"{where}.{key}" if where else key, allow_null, depth + 1)
            if problem:
                return problem
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problem = value_problem(item, f"{label}[{index}]", allow_null, depth + 1)
            if problem:
                return problem
    return None


def same(a: Any, b: Any) -> bool:
    """Equality with types, as dockerd and containerd decode them: 1 is not true, 3.0 is not 3."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping | list) or isinstance(b, Mapping | list):
        return False  # a container against a scalar, or a table against an array
    if isinstance(a, int | float) and isinstance(b, int | float):
        return type(a) is type(b) and a == b
    return a == b


def load_toml(path: str, text: str | None) -> Any:
    """Parse TOML with tomlkit (keeps comments and layout); a missing or empty file is an empty document."""
    if not has_tomlkit():
        raise ConfigFileError(path, "the Python library tomlkit is missing. " + TOMLKIT_HINT)
    try:
        return tomlkit.parse(text or "")
    except RecursionError as exc:
        raise ConfigFileError(path, "invalid TOML: nested too deeply") from exc
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
    """The (tomlkit) table at `keys`, creating missing ones as implicit (super) tables, or inline
    tables inside an inline table (a table written `key = { ... }` can only hold inline tables)."""
    for depth, key in enumerate(keys):
        if key not in container:
            inline = isinstance(container, tomlkit.items.InlineTable)
            container[key] = tomlkit.inline_table() if inline else tomlkit.table(True)
        container = container[key]
        if not hasattr(container, "keys"):
            where = ".".join(format_key(k) for k in keys[: depth + 1])
            raise ConfigFileError(path, f"{where} must be a table, not {type(to_plain(container)).__name__} "
                                        f"{to_plain(container)!r}")
    return container


def format_key(key: str) -> str:
    """A key segment as TOML writes it: bare when it can be, quoted otherwise."""
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def set_if_different(container: Any, key: str, value: Any) -> None:
    if key not in container or not same(to_plain(container[key]), value):
        inline = isinstance(container, tomlkit.items.InlineTable)
        if isinstance(value, dict):
            container[key] = _inline_table(value) if inline else build_table(value)
        else:
            container[key] = value


def _inline_table(data: dict[str, Any]) -> Any:
    table = tomlkit.inline_table()
    for key, value in data.items():
        table[key] = _inline_table(value) if isinstance(value, dict) else value
    return table


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


@dataclass
class WriteFailed(Exception):
    """A change could not be written; `result` says which files were written before it (changed then)."""

    error: ConfigFileError
    result: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        done = self.result.get("files") or []
        if not done:
            return f"{self.error}; nothing was changed"
        return f"{self.error}; already written: {', '.join(done)} (harmless alone; run again once the cause is fixed)"


def write_atomic(module: Any, path: str, text: str) -> None:
    """Write through a temp file beside the real file, then atomic_move (keeps mode/owner of `path`).

    A symlinked `path` is written through its link: the target changes, the link stays.
    """
    target = resolve(path)
    directory = os.path.dirname(target) or "."
    tmp = None
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o755, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        module.atomic_move(tmp, target, unsafe_writes=False)
    except OSError as exc:
        raise ConfigFileError(path, f"cannot write: {exc.strerror or exc}") from exc
    except UnicodeEncodeError as exc:
        raise ConfigFileError(path, "cannot write: the new content is not valid Unicode") from exc
    finally:
        if tmp and os.path.lexists(tmp):
            os.unlink(tmp)


def _remove(path: str) -> None:
    """Remove a file; a symlink itself is removed (what the runtime reads is gone), not its target."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigFileError(path, f"cannot remove: {exc.strerror or exc}") from exc


def apply_changes(module: Any, changes: list[FileChange], backup: bool = False) -> dict[str, Any]:
    """Write (or remove) what changed, in the order given; nothing is written in check mode.

    Returns result keys. Raises WriteFailed when a file cannot be written, with the files written
    before it in `result` (planners order changes so that each prefix is harmless on its own).
    """
    result: dict[str, Any] = {"changed": False, "files": [], "backup_files": []}
    diffs = []
    for change in changes:
        if not change.changed:
            continue
        diffs.append(diff_entry(change.path, change.before, change.after))
        if not module.check_mode:
            try:
                if backup and change.before is not None:
                    result["backup_files"].append(module.backup_local(resolve(change.path)))
                if change.after is None:
                    _remove(change.path)
                else:
                    write_atomic(module, change.path, change.after)
            except ConfigFileError as exc:
                raise WriteFailed(exc, result) from exc
        result["changed"] = True
        result["files"].append(change.path)
    if module._diff:
        result["diff"] = diffs
    return result


def fail_module(module: Any, exc: ConfigFileError | WriteFailed) -> None:
    """fail_json for a refused file or a failed write: the message names the file and the cause, and
    `changed`/`files` say what was written before the failure (nothing, for a refused file)."""
    if isinstance(exc, WriteFailed):
        module.fail_json(msg=str(exc), error=exc.error.as_dict(), changed=bool(exc.result.get("changed")),
                         files=exc.result.get("files", []))
    module.fail_json(msg=str(exc), error=exc.as_dict(), changed=False, files=[])


def check_settings(path: str, settings: dict[str, Any], state: str) -> None:
    """Refuse settings no config file can hold (null with state=present, NaN, lone surrogates, depth);
    the error names the file they were meant for."""
    problem = value_problem(settings, "", allow_null=state == "absent")
    if problem:
        raise ConfigFileError(path, f"settings: {problem}; nothing was written")


@contextlib.contextmanager
def file_lock(paths: list[str], check_mode: bool = False) -> Iterator[None]:
    """Hold an exclusive fcntl lock on `.<name>.lock` beside each config across read-modify-write.

    Locks are taken in sorted order (no deadlock between modules locking the same pair). Check mode
    writes nothing, so it takes none; neither where the lock file cannot be created (read-only file
    system, no directory yet): nothing can be written there either, so no update can be lost.
    """
    handles = []
    try:
        if not check_mode:
            for path in sorted({resolve(p) for p in paths if p}):
                lock = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.lock")
                try:
                    handle = open(lock, "a")  # noqa: SIM115 - held open until the end of the block
                except OSError:
                    continue
                handles.append(handle)
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield
    finally:
        for handle in reversed(handles):
            handle.close()
