# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What `nvidia-ctk runtime configure` (1.20) does to docker, containerd and cri-o configs, minus its defects.

Pure: `plan_configure` reads through a `Files` object and returns the planned file contents; the
module writes them. Differences from upstream, on purpose (each one is tested):

- config.toml is edited with tomlkit, so comments, layout and unrelated tables survive;
- docker `features` keys other than `cdi` survive `cdi: true`;
- a version-1 containerd config (no `version`) is configured in place, because a v1 config gets no
  `imports` from upstream and containerd never reads its drop-in;
- `drop_in_path: ''` configures the runtime in config.toml (upstream adds a glob matching
  config.toml itself and configures nothing), and removes the drop-in this module wrote there on an
  earlier run (`conf.d/99-nvidia.toml` beside config.toml, with the imports entry it added);
- `state: absent` removes what `present` adds (the drop-in records whether it added the import);
- a copied low-level runtime without `runtime_type` gets `io.containerd.runc.v2` (upstream leaves it out, and
  the CRI plugin then ignores the copy's `BinaryName`);
- a CRI section in another imported file that sorts before the drop-in is merged into the copy (upstream's
  drop-in silently replaces it on containerd < 2.1); one that sorts after is named in a warning;
- names, paths and a `config_version` that contradicts the file are refused (`check_request`), and
  the drop-in is written before config.toml imports it, so a failure half-way leaves nothing active.
"""

from __future__ import annotations

import copy
import fnmatch
import glob
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _config_files as cf

RUNTIMES = ("docker", "containerd", "crio")
DEFAULT_RUNTIME_PATHS = {
    "docker": "nvidia-container-runtime",
    "containerd": "/usr/bin/nvidia-container-runtime",
    "crio": "/usr/bin/nvidia-container-runtime",
}
DEFAULT_CONFIG_PATHS = {
    "docker": "/etc/docker/daemon.json",
    "containerd": "/etc/containerd/config.toml",
    "crio": "/etc/crio/crio.conf",
}
DEFAULT_DROP_IN_PATHS = {
    "containerd": "/etc/containerd/conf.d/99-nvidia.toml",
    "crio": "/etc/crio/crio.conf.d/99-nvidia.toml",
}
# The CRI runtime plugin per containerd config version.
CRI_PLUGINS = {1: "cri", 2: "io.containerd.grpc.v1.cri", 3: "io.containerd.cri.v1.runtime"}
# CRI support for CDI (`enable_cdi`) arrived in containerd 1.7.
CDI_MIN_CONTAINERD = (1, 7)
# What upstream gives a new runtime when no low-level runtime is there to copy.
CONTAINERD_RUNTIME_DEFAULTS = {
    "privileged_without_host_devices": False,
    "runtime_engine": "",
    "runtime_root": "",
    "runtime_type": "io.containerd.runc.v2",
}
# Docker's built-in runtimes and the low-level runtimes the nvidia entry is copied from: never its name.
RESERVED_RUNTIME_NAMES = frozenset({"runc", "crun", "io.containerd.runc.v1", "io.containerd.runc.v2",
                                    "io.containerd.runtime.v1.linux"})
# Characters every engine takes in a runtime name unquoted (containerd 1.6's TOML parser trips on escapes).
_RUNTIME_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
STATE_MARK = "# nvidia_ctk state: "
_STATE_RE = re.compile("^" + re.escape(STATE_MARK) + r"(\{.*\})\s*$", re.MULTILINE)
_VERSION_RE = re.compile(r"\bv?(\d+)\.(\d+)\.\d+")


@dataclass(frozen=True)
class Request:
    runtime: str
    state: str = "present"
    runtime_name: str = "nvidia"
    runtime_path: str | None = None
    set_as_default: bool | None = None
    cdi: bool = False
    config_path: str | None = None
    drop_in_path: str | None = None
    config_version: int | None = None
    containerd_version: tuple[int, int] | None = None

    @property
    def path(self) -> str:
        return self.runtime_path or DEFAULT_RUNTIME_PATHS[self.runtime]

    @property
    def config(self) -> str:
        return self.config_path or DEFAULT_CONFIG_PATHS[self.runtime]

    @property
    def drop_in(self) -> str:
        """'' means: no drop-in, edit the main config in place."""
        return DEFAULT_DROP_IN_PATHS[self.runtime] if self.drop_in_path is None else self.drop_in_path


@dataclass
class Files:
    """The file system as the planner sees it (tests can swap it)."""

    read: Callable[[str], str | None] = cf.read_text
    glob: Callable[[str], list[str]] = glob.glob


@dataclass
class Plan:
    changes: list[cf.FileChange] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    config_version: int | None = None
    mode: str = "drop-in"

    def add(self, path: str, before: str | None, after: str | None) -> None:
        self.changes.append(cf.FileChange(path, before, after))


class RequestError(ValueError):
    """Options that cannot be carried out as given (the message says which and why)."""


def check_request(req: Request) -> None:
    """Refuse names and paths the engines would choke on, before any file is read."""
    name = req.runtime_name
    if not isinstance(name, str) or not _RUNTIME_NAME_RE.fullmatch(name):
        raise RequestError(f"runtime_name {name!r} is not a usable runtime name: 1-63 characters, letters, digits, "
                           "'.', '_' or '-', starting with a letter or digit (Kubernetes RuntimeClass handlers need "
                           "lower-case letters, digits and '-' only)")
    if name in RESERVED_RUNTIME_NAMES:
        raise RequestError(f"runtime_name {name!r} is a built-in or low-level runtime of the engines; the NVIDIA entry "
                           "would replace it (pick another name, e.g. nvidia)")
    path = req.runtime_path
    if path is not None:
        if not path or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in path):
            raise RequestError(f"runtime_path {path!r} must be a non-empty path without spaces or control characters")
        if req.runtime == "docker":
            if not os.path.isabs(path) and "/" in path:
                raise RequestError(f"runtime_path {path!r} must be absolute, or a bare command name that dockerd "
                                   "looks up on its PATH")
        elif not os.path.isabs(path):
            raise RequestError(f"runtime_path {path!r} must be absolute ({req.runtime} does not search PATH for it)")
    try:
        cf.require_absolute(req.config_path, "config_path")
        if req.runtime != "docker":
            cf.require_absolute(req.drop_in_path, "drop_in_path")
    except cf.ConfigFileError as exc:
        raise RequestError(str(exc)) from exc
    if req.runtime == "containerd" and req.config_version == 3 and req.containerd_version \
            and req.containerd_version[0] < 2:
        raise RequestError("config_version 3 needs containerd 2.0 or later; containerd {}.{} reads versions 1 and 2 "
                           "only".format(*req.containerd_version))


def parse_containerd_version(output: str) -> tuple[int, int] | None:
    """`containerd --version` -> (major, minor), e.g. 'containerd github.com/containerd/containerd 1.6.20~ds1 ...'."""
    match = _VERSION_RE.search(output or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def plan_configure(req: Request, files: Files | None = None) -> Plan:
    check_request(req)
    files = files or Files()
    if req.runtime == "docker":
        return _plan_docker(req, files)
    if req.runtime == "containerd":
        return _plan_containerd(req, files)
    if req.runtime == "crio":
        return _plan_crio(req, files)
    raise ValueError(f"unknown runtime {req.runtime!r}")


# --- docker ---------------------------------------------------------------------------------


def docker_transform(data: dict[str, Any], req: Request, path: str = "daemon.json") -> dict[str, Any]:
    """daemon.json after present/absent; `data` is not modified."""
    new = copy.deepcopy(data)
    name = req.runtime_name
    runtimes = _json_object(new, "runtimes", path)
    features = _json_object(new, "features", path)
    if req.state == "present":
        runtimes[name] = {"args": [], "path": req.path}
        new["runtimes"] = runtimes
        if req.set_as_default:
            new["default-runtime"] = name
        elif req.set_as_default is False and new.get("default-runtime") == name:
            del new["default-runtime"]
        if req.cdi:
            features["cdi"] = True
            new["features"] = features
        return new
    runtimes.pop(name, None)
    if "runtimes" in new and not runtimes:
        del new["runtimes"]
    if new.get("default-runtime") == name:
        del new["default-runtime"]
    if req.cdi and "cdi" in features:
        del features["cdi"]
        if not features:
            del new["features"]
    return new


def _json_object(data: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise cf.ConfigFileError(path, f'"{key}" must be a JSON object, not {type(value).__name__}')
    return value


def _plan_docker(req: Request, files: Files) -> Plan:
    plan = Plan(mode="merge")
    path = req.config
    before = files.read(path)
    if before is None and req.state == "absent":
        plan.add(path, None, None)
        return plan
    data = {} if before is None else cf.load_json_object(path, before, plan.warnings)
    new = docker_transform(data, req, path)
    after = before if before is not None and cf.same(new, data) else cf.dump_json(new)
    plan.add(path, before, after)
    return plan


# --- shared TOML helpers --------------------------------------------------------------------


def low_level_runtime(runtimes: Any, default_name: Any) -> dict[str, Any] | None:
    """Upstream's template: the default runtime (unless nvidia*), else runc, else crun."""
    candidates = ["runc", "crun"]
    if isinstance(default_name, str) and default_name and not default_name.startswith("nvidia"):
        candidates.insert(0, default_name)
    for candidate in candidates:
        entry = cf.get_path(runtimes, [candidate])
        if isinstance(entry, dict):
            return copy.deepcopy(entry)
    return None


def read_state(text: str | None) -> dict[str, Any]:
    match = _STATE_RE.search(text or "")
    if not match:
        return {}
    try:
        state = json.loads(match.group(1))
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


# --- containerd -----------------------------------------------------------------------------


def containerd_config_version(req: Request, doc_plain: dict[str, Any], path: str) -> int:
    """The config version nvidia_ctk writes for: see `config_version`."""
    return config_version(doc_plain, req.containerd_version, req.config_version, path)


def config_version(doc_plain: dict[str, Any], containerd_version: tuple[int, int] | None,
                   explicit: int | None = None, path: str = "config.toml") -> int:
    """The containerd config version of a file, the one decision every caller shares (nvidia_ctk and,
    through containerd_facts, the container_runtime role).

    The file's `version`; else 1 for a non-empty file (containerd's rule); else, for a missing or
    empty file, what `containerd config default` of the installed containerd writes (1.x -> 2,
    2.x -> 3; 2 when unknown). `explicit` (nvidia_ctk's config_version) must agree with the file.
    """
    if "version" in doc_plain:
        file_version = doc_plain["version"]
        if not isinstance(file_version, int) or isinstance(file_version, bool):
            raise cf.ConfigFileError(path, f"version must be an integer, not {file_version!r}")
    else:
        file_version = 1 if doc_plain else None  # containerd reads a non-empty file without one as version 1
    if explicit is not None and file_version is not None and explicit != file_version:
        stated = f"version = {file_version}" if "version" in doc_plain else "no version (version 1)"
        raise cf.ConfigFileError(path, f"config_version {explicit} contradicts the file, which has {stated}: "
                                       "the runtime would be written where containerd does not read it (omit "
                                       "config_version, or migrate the file with 'containerd config migrate')")
    if explicit is not None:
        version = explicit
    elif file_version is not None:
        version = file_version
    elif containerd_version is not None:
        version = 3 if containerd_version[0] >= 2 else 2
    else:
        version = 2
    if version not in CRI_PLUGINS:
        raise cf.ConfigFileError(path, f"unsupported containerd config version {version} (known: 1, 2, 3)")
    return version


def containerd_runtime_entry(cri_plain: dict[str, Any], req: Request, version: int,
                             path: str = "config.toml") -> dict[str, Any]:
    containerd = cri_plain.get("containerd", {})
    if not isinstance(containerd, dict):
        raise cf.ConfigFileError(path, f"the CRI plugin's containerd must be a table, not {containerd!r}")
    runtimes = containerd.get("runtimes", {})
    if not isinstance(runtimes, dict):
        raise cf.ConfigFileError(path, f"the CRI plugin's containerd.runtimes must be a table, not {runtimes!r}")
    for name, value in runtimes.items():
        if not isinstance(value, dict):
            raise cf.ConfigFileError(path, f"the CRI plugin's containerd.runtimes.{cf.format_key(name)} must be a "
                                           f"table, not {value!r}")
    entry = low_level_runtime(runtimes, containerd.get("default_runtime_name"))
    if entry is None:
        entry = dict(CONTAINERD_RUNTIME_DEFAULTS)
    elif not entry.get("runtime_type"):
        # Upstream copies such a runc table as it is; without a runtime_type the CRI plugin ignores the
        # copy's options, BinaryName included, and the "nvidia" runtime would silently run plain runc.
        entry["runtime_type"] = CONTAINERD_RUNTIME_DEFAULTS["runtime_type"]
    options = entry.get("options", {})
    if not isinstance(options, dict):
        raise cf.ConfigFileError(path, f"the options of the runtime copied for {req.runtime_name} must be a table, "
                                       f"not {options!r}")
    options["BinaryName"] = req.path
    if version == 1:
        options["Runtime"] = req.path  # upstream's v1 writer sets both (legacy runtime type)
    entry["options"] = options
    return entry


def _cdi_supported(req: Request, plan: Plan) -> bool:
    if not req.cdi:
        return False
    if req.containerd_version is not None and req.containerd_version < CDI_MIN_CONTAINERD:
        plan.warnings.append(
            "cdi: containerd {}.{} has no CDI support in its CRI plugin (needs 1.7 or later); "
            "enable_cdi was not set.".format(*req.containerd_version))
        return False
    return True


def path_match(path: str, pattern: str) -> bool:
    """Glob match as containerd's filepath.Glob does it: `*` never crosses a `/`."""
    parts, pattern_parts = os.path.normpath(path).split("/"), os.path.normpath(pattern).split("/")
    return len(parts) == len(pattern_parts) and all(
        fnmatch.fnmatchcase(part, pat) for part, pat in zip(parts, pattern_parts, strict=True))


def import_pattern(config_path: str, drop_in: str) -> str:
    """`<drop-in dir>/*.toml` like upstream, or the drop-in itself where that glob would match config.toml."""
    pattern = os.path.join(os.path.dirname(drop_in), "*.toml")
    return drop_in if path_match(config_path, pattern) else pattern


def _imports_cover(imports: list[Any], config_path: str, drop_in: str) -> bool:
    base = os.path.dirname(config_path)
    return any(isinstance(entry, str) and path_match(drop_in, os.path.join(base, entry)) for entry in imports)


def _containerd_header(req: Request, state: dict[str, Any]) -> str:
    return (
        "# Managed by homelab.nvidia_gpu.nvidia_ctk: the NVIDIA runtime for containerd.\n"
        f"# The CRI plugin section is a copy of the one in {req.config} (and of imported files read before\n"
        "# this one): containerd < 2.1 replaces an imported plugin section whole. Edit those files, then\n"
        "# run the module again to refresh it.\n"
        f"{STATE_MARK}{json.dumps(state, sort_keys=True)}\n"
    )


def _plan_containerd(req: Request, files: Files) -> Plan:
    config_path = req.config
    before = files.read(config_path)
    doc = cf.load_toml(config_path, before)
    plain = cf.to_plain(doc)
    version = containerd_config_version(req, plain, config_path)
    in_place = req.drop_in == "" or version == 1
    plan = Plan(config_version=version, mode="in-place" if in_place else "drop-in")
    cri = CRI_PLUGINS[version]
    if in_place:
        if req.state == "absent" and before is None:
            plan.add(config_path, None, None)
            return plan
        # A drop-in this module wrote on an earlier run would shadow config.toml's CRI section with its copy.
        earlier = os.path.join(os.path.dirname(config_path), "conf.d", "99-nvidia.toml")
        earlier_text = files.read(earlier) if req.drop_in == "" else None
        ours = earlier_text is not None and _STATE_RE.search(earlier_text) is not None
        if ours:
            _forget_drop_in(doc, _imports(plain, config_path), read_state(earlier_text), earlier, config_path, files)
            plan.warnings.append(f"removed {earlier}, the drop-in an earlier run wrote (with the imports entry it "
                                 f"added): the {req.runtime_name} runtime now lives in {config_path} itself")
        _containerd_in_place(doc, plain, req, version, plan)
        after = cf.dump_toml(doc)
        plan.add(config_path, before, before if before is not None and cf.same(cf.to_plain(doc), plain) else after)
        if ours:
            plan.add(earlier, earlier_text, None)  # after config.toml holds the runtime: never a gap without it
        return plan

    drop_in = req.drop_in
    drop_in_before = files.read(drop_in)
    state = read_state(drop_in_before)
    imports = _imports(plain, config_path)

    if req.state == "absent":
        plan.add(drop_in, drop_in_before, None)
        if drop_in_before is not None:
            _forget_drop_in(doc, imports, state, drop_in, config_path, files)
        after = cf.dump_toml(doc)
        leftover = set(cf.to_plain(doc)) - {"version"}
        if state.get("config_created") and not leftover and drop_in_before is not None:
            after = None
        elif cf.same(cf.to_plain(doc), plain):
            after = before
        plan.add(config_path, before, after)
        return plan

    # present: the drop-in is a full copy of config.toml's CRI section (and of the imported files that
    # containerd reads before it) plus our runtime.
    source_cri = copy.deepcopy(cri_section(plain, cri, config_path))
    new_state = {"config_created": bool(state.get("config_created")) or before is None,
                 "import_added": state.get("import_added")}
    patterns = list(imports)
    if not _imports_cover(imports, config_path, drop_in):
        pattern = import_pattern(config_path, drop_in)
        if not plain:
            doc["version"] = version
        if "imports" in doc:
            doc["imports"].append(pattern)
        else:
            doc["imports"] = [pattern]
        new_state["import_added"] = pattern
        patterns.append(pattern)
    earlier, later = imported_cri_sections(patterns, config_path, drop_in, cri, files, plan)
    for name, section in earlier:
        source_cri = cf.deep_merge(source_cri, section)
        plan.warnings.append(
            f"{name} holds a CRI plugin section ({cri}) and is imported before {drop_in}; containerd before 2.1 "
            "would let the drop-in replace it whole, so its settings were merged into the drop-in's copy (run "
            "this module again after editing it)")
    for name in later:
        plan.warnings.append(
            f"{name} holds a CRI plugin section ({cri}) and is imported after {drop_in}: containerd before 2.1 "
            f"uses that file's section whole, and the {req.runtime_name} runtime is not registered there. Rename "
            "it to sort before the drop-in, or move its settings into config.toml")
    containerd = _table(source_cri, "containerd", f'plugins."{cri}"', config_path)
    runtimes = _table(containerd, "runtimes", f'plugins."{cri}".containerd', config_path)
    runtimes[req.runtime_name] = containerd_runtime_entry(source_cri, req, version, config_path)
    if req.set_as_default:
        containerd["default_runtime_name"] = req.runtime_name
    elif req.set_as_default is False and containerd.get("default_runtime_name") == req.runtime_name:
        del containerd["default_runtime_name"]
    if _cdi_supported(req, plan):
        source_cri["enable_cdi"] = True

    drop_doc = cf.tomlkit.document()
    drop_doc["version"] = version
    drop_doc["plugins"] = cf.build_table({cri: source_cri}, super_table=True)
    drop_in_after = _containerd_header(req, new_state) + "\n" + cf.dump_toml(drop_doc)
    config_after = before if before is not None and cf.same(cf.to_plain(doc), plain) else cf.dump_toml(doc)
    # The drop-in first: alone it is either not imported yet or already imported (then config.toml needs
    # no change), so a failure before config.toml is written leaves containerd as it was or as planned.
    plan.add(drop_in, drop_in_before, drop_in_after)
    plan.add(config_path, before, config_after)
    return plan


def _imports(plain: dict[str, Any], config_path: str) -> list[str]:
    imports = plain.get("imports", [])
    if not isinstance(imports, list) or not all(isinstance(entry, str) for entry in imports):
        raise cf.ConfigFileError(config_path, f"imports must be an array of paths, not {imports!r}")
    return imports


def _forget_drop_in(doc: Any, imports: list[str], state: dict[str, Any], drop_in: str, config_path: str,
                    files: Files) -> None:
    """Drop the imports entry a drop-in's state says this module added, unless other files still match it."""
    added = state.get("import_added")
    if isinstance(added, str) and added in imports:
        others = [p for p in files.glob(added) if os.path.abspath(p) not in (drop_in, config_path)]
        if not others:
            doc["imports"].remove(added)
            if len(doc["imports"]) == 0:
                del doc["imports"]


def _table(data: dict[str, Any], key: str, where: str, path: str) -> dict[str, Any]:
    """data[key] as a table (created when missing); anything else there is an error naming the key."""
    value = data.setdefault(key, {})
    if not isinstance(value, dict):
        raise cf.ConfigFileError(path, f"{where}.{key} must be a table, not {type(value).__name__} {value!r}")
    return value


def cri_section(plain: dict[str, Any], cri: str, path: str) -> dict[str, Any]:
    """config.toml's CRI plugin section ({} when absent); a non-table on the way is an error."""
    plugins = plain.get("plugins", {})
    if not isinstance(plugins, dict):
        raise cf.ConfigFileError(path, f"plugins must be a table, not {type(plugins).__name__} {plugins!r}")
    section = plugins.get(cri, {})
    if not isinstance(section, dict):
        raise cf.ConfigFileError(path, f'plugins."{cri}" must be a table, not {type(section).__name__}')
    return section


def import_order(patterns: list[str], config_path: str, drop_in: str, glob_fn: Callable[[str], list[str]]) -> list[str]:
    """The files containerd imports, in its order (each pattern in turn, its matches sorted), with the
    drop-in where it will be once written."""
    base = os.path.dirname(config_path)
    order: list[str] = []
    for pattern in patterns:
        full = os.path.join(base, pattern)
        matches = set(glob_fn(full))
        if path_match(drop_in, full):
            matches.add(drop_in)
        for name in sorted(matches):
            if os.path.abspath(name) != os.path.abspath(config_path) and name not in order:
                order.append(name)
    return order


def imported_cri_sections(patterns: list[str], config_path: str, drop_in: str, cri: str, files: Files,
                          plan: Plan) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """Other imported files holding a CRI section: (those read before the drop-in, with their section),
    and the names of those read after it."""
    earlier: list[tuple[str, dict[str, Any]]] = []
    later: list[str] = []
    seen_drop_in = False
    for name in import_order(patterns, config_path, drop_in, files.glob):
        if name == drop_in:
            seen_drop_in = True
            continue
        try:
            section = cf.get_path(cf.to_plain(cf.load_toml(name, files.read(name))), ["plugins", cri])
        except cf.ConfigFileError as exc:
            plan.warnings.append(f"{exc}; containerd will not start with it (it was not merged into the drop-in)")
            continue
        if isinstance(section, dict):
            if seen_drop_in:
                later.append(name)
            else:
                earlier.append((name, section))
    return earlier, later


def _containerd_in_place(doc: Any, plain: dict[str, Any], req: Request, version: int, plan: Plan) -> None:
    cri = CRI_PLUGINS[version]
    keys = ["plugins", cri, "containerd", "runtimes", req.runtime_name]
    path = req.config
    if req.state == "absent":
        cf.remove_and_prune(doc, keys)
        if cf.get_path(cf.to_plain(doc), [*keys[:3], "default_runtime_name"]) == req.runtime_name:
            cf.remove_and_prune(doc, [*keys[:3], "default_runtime_name"])
        if req.cdi and cf.get_path(cf.to_plain(doc), [*keys[:2], "enable_cdi"]) is True:
            cf.remove_and_prune(doc, [*keys[:2], "enable_cdi"])
        return
    if not plain and version != 1:
        doc["version"] = version
    entry = containerd_runtime_entry(cri_section(plain, cri, path), req, version, path)
    runtimes = cf.ensure_tables(doc, keys[:4], path)
    cf.set_if_different(runtimes, req.runtime_name, entry)
    containerd = cf.ensure_tables(doc, keys[:3], path)
    if req.set_as_default:
        cf.set_if_different(containerd, "default_runtime_name", req.runtime_name)
    elif req.set_as_default is False and cf.to_plain(containerd).get("default_runtime_name") == req.runtime_name:
        del containerd["default_runtime_name"]
    if _cdi_supported(req, plan):
        cf.set_if_different(cf.ensure_tables(doc, keys[:2], path), "enable_cdi", True)


# --- cri-o ----------------------------------------------------------------------------------


def _crio_runtime_entry(plain: dict[str, Any], req: Request) -> dict[str, Any]:
    runtime = cf.get_path(plain, ["crio", "runtime"]) or {}
    entry = low_level_runtime(runtime.get("runtimes") if isinstance(runtime, dict) else None,
                              runtime.get("default_runtime") if isinstance(runtime, dict) else None) or {}
    entry["runtime_path"] = req.path
    entry["runtime_type"] = "oci"
    return entry


def _plan_crio(req: Request, files: Files) -> Plan:
    config_path = req.config
    before = files.read(config_path)
    doc = cf.load_toml(config_path, before)
    plain = cf.to_plain(doc)
    keys = ["crio", "runtime", "runtimes", req.runtime_name]
    if req.drop_in == "":
        plan = Plan(mode="in-place")
        if req.state == "absent":
            if before is None:
                plan.add(config_path, None, None)
                return plan
            cf.remove_and_prune(doc, keys)
            if cf.get_path(cf.to_plain(doc), ["crio", "runtime", "default_runtime"]) == req.runtime_name:
                cf.remove_and_prune(doc, ["crio", "runtime", "default_runtime"])
        else:
            runtimes = cf.ensure_tables(doc, keys[:3], config_path)
            cf.set_if_different(runtimes, req.runtime_name, _crio_runtime_entry(plain, req))
            runtime = cf.ensure_tables(doc, keys[:2], config_path)
            if req.set_as_default:
                cf.set_if_different(runtime, "default_runtime", req.runtime_name)
            elif req.set_as_default is False and cf.to_plain(runtime).get("default_runtime") == req.runtime_name:
                del runtime["default_runtime"]
        unchanged = before is not None and cf.same(cf.to_plain(doc), plain)
        plan.add(config_path, before, before if unchanged else cf.dump_toml(doc))
        return plan

    plan = Plan(mode="drop-in")
    drop_in = req.drop_in
    drop_in_before = files.read(drop_in)
    if req.state == "absent":
        plan.add(drop_in, drop_in_before, None)
        return plan
    runtime: dict[str, Any] = {"runtimes": {req.runtime_name: _crio_runtime_entry(plain, req)}}
    if req.set_as_default:
        runtime = {"default_runtime": req.runtime_name, **runtime}
    drop_doc = cf.tomlkit.document()
    drop_doc["crio"] = cf.build_table({"runtime": runtime}, super_table=True)
    header = "# Managed by homelab.nvidia_gpu.nvidia_ctk: the NVIDIA runtime for cri-o.\n\n"
    plan.add(drop_in, drop_in_before, header + cf.dump_toml(drop_doc))
    return plan
