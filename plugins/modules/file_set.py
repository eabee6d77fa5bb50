#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: file_set
short_description: Whole files and their directories, as a role's plan rendered them, in one step
version_added: 0.3.0
description:
  - A role's plan renders whole files (systemd units, apt sources, nftables tables, scripts). This module makes
    every listed directory and writes every listed file in one step, where a loop of M(ansible.builtin.copy) costs a
    round trip per file.
  - Every entry is checked before anything is touched (absolute normalised paths, each listed once, octal modes as
    strings, a validate command naming the file as C(%s), a directory for every file, no directory or file in the
    way); a bad entry fails the module with one sentence and changes nothing.
  - A file is written only when its bytes differ, through a new file in the same directory renamed over it (never
    half-written). With O(files[].validate) every new text is checked before the first file is written, so a failed
    check leaves every file as it was (directories listed may have been made). Modes and owners are set where they
    differ.
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - homelab.nvidia_gpu.attributes.config_file
options:
  directories:
    description: Directories that must exist, made with their parents when missing; parents are made before children.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The directory's absolute path.
        type: str
        required: true
      mode:
        description: Its mode, as an octal string (a number is refused - YAML reads 0755 as 493).
        type: raw
        default: "0755"
      owner:
        description: Its owner (a name); unset leaves it as it is (root's when made).
        type: str
      group:
        description: Its group (a name); unset leaves it as it is.
        type: str
  files:
    description: Files that must hold exactly O(files[].content). Their directory must be listed in O(directories)
      or exist.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The file's absolute path.
        type: str
        required: true
      content:
        description: The whole text of the file.
        type: str
        required: true
      mode:
        description: Its mode, as an octal string (a number is refused - YAML reads 0644 as 420).
        type: raw
        default: "0644"
      owner:
        description: Its owner (a name); unset leaves it as it is (root's when made).
        type: str
      group:
        description: Its group (a name); unset leaves it as it is.
        type: str
      validate:
        description: A command that checks the new file before it replaces the old one, with C(%s) where the new
          file's path goes (such as C(nft -c -f %s)). Run in check mode too where the directory exists.
        type: str
"""

EXAMPLES = r"""
- name: The collector's directories, script and units are in place
  homelab.nvidia_gpu.file_set:
    directories:
      - path: /usr/local/lib/homelab-gpu-metrics
    files:
      - path: /etc/systemd/system/homelab-gpu-metrics.timer
        content: "[Timer]\nOnUnitActiveSec=30\n"
      - path: /etc/nftables.d/homelab_example.nft
        content: "table inet homelab_example {\n}\n"
        validate: nft -c -f %s
  register: written
  notify: Units are reloaded

- name: Something runs only when the timer's unit changed
  ansible.builtin.debug:
    msg: the timer changed
  when: "'/etc/systemd/system/homelab-gpu-metrics.timer' in written.changed_paths"
"""

RETURN = r"""
changed_paths:
  description: The directories and files made or changed (content, mode or owner), or that would be in check mode.
  returned: always
  type: list
  elements: str
  sample: [/usr/local/lib/homelab-gpu-metrics, /etc/systemd/system/homelab-gpu-metrics.timer]
"""

import contextlib
import os
import tempfile
from collections.abc import Iterator

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _file_set as fs

MAX_READ = 16 * 1024 * 1024


def _read(path: str) -> tuple[bytes | None, os.stat_result | None]:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None, None
    if not os.path.isfile(path) or os.path.islink(path):
        raise fs.FileSetProblem(f"{path} exists and is not a regular file: it is left alone, nothing was written")
    with open(path, "rb") as handle:
        return handle.read(MAX_READ + 1), st


def _owners(module: AnsibleModule, path: str, entry: dict, changed: bool) -> bool:
    if entry.get("owner"):
        changed = module.set_owner_if_different(path, entry["owner"], changed)
    if entry.get("group"):
        changed = module.set_group_if_different(path, entry["group"], changed)
    return changed


@contextlib.contextmanager
def _new_file(path: str, data: bytes) -> Iterator[str]:
    """DATA in a new file beside PATH (same directory, so a rename is atomic); gone afterwards unless renamed."""
    handle, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=os.path.dirname(path))
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        yield tmp
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _validate(module: AnsibleModule, path: str, data: bytes, command: str) -> None:
    """Run COMMAND on DATA in a new file beside PATH; a failure refuses, and the new file goes either way."""
    with _new_file(path, data) as tmp:
        rc, out_text, err = module.run_command(command.replace("%s", tmp), use_unsafe_shell=False)
        if rc != 0:
            detail = (err or out_text).strip().replace(tmp, path)
            raise fs.FileSetProblem(f"{path}: its new text fails '{command}' ({detail or f'exit {rc}'}); the file "
                                    "was left as it was")


def _write(module: AnsibleModule, path: str, data: bytes, mode: int) -> None:
    with _new_file(path, data) as tmp:
        os.chmod(tmp, mode)
        module.atomic_move(tmp, path, unsafe_writes=False)


def run(module: AnsibleModule) -> dict:
    directories, files = fs.entries(module.params["directories"], module.params["files"])
    listed = {entry["path"] for entry in directories}
    for entry in directories:  # refusals first: nothing is touched when one entry cannot be done
        if os.path.lexists(entry["path"]) and not os.path.isdir(entry["path"]):
            raise fs.FileSetProblem(f"{entry['path']} exists and is not a directory: nothing was written")
    pending = []
    for entry in files:
        path, wanted = entry["path"], to_bytes(entry["content"], errors="surrogate_or_strict")
        folder = os.path.dirname(path)
        if not os.path.isdir(folder) and folder not in listed:
            raise fs.FileSetProblem(f"{path}: its directory {folder} does not exist and is not in directories; "
                                    "nothing was written")
        current, st = _read(path)
        pending.append((entry, wanted, current, fs.needs(current, st, wanted, entry["mode"])))

    changed_paths: list[str] = []
    for entry in directories:
        path = entry["path"]
        changed = not os.path.isdir(path)
        if changed and not module.check_mode:
            os.makedirs(path, mode=entry["mode"])
        if os.path.isdir(path):
            changed = module.set_mode_if_different(path, oct(entry["mode"]), changed)
            changed = _owners(module, path, entry, changed)
        if changed:
            changed_paths.append(path)
    for entry, wanted, _current, lacks in pending:  # every new text is checked before the first is written
        if "content" in lacks and entry["validate"] and os.path.isdir(os.path.dirname(entry["path"])):
            _validate(module, entry["path"], wanted, entry["validate"])
    diffs: list[dict] = []
    for entry, wanted, current, lacks in pending:
        path = entry["path"]
        changed = "content" in lacks
        if changed and not module.check_mode:
            _write(module, path, wanted, entry["mode"])
        if changed and module._diff:
            before = to_text(current or b"", errors="surrogate_then_replace")
            diffs.append({"before_header": path, "after_header": path, "before": before, "after": entry["content"]})
        if os.path.exists(path):
            changed = module.set_mode_if_different(path, oct(entry["mode"]), changed)
            changed = _owners(module, path, entry, changed)
        if changed:
            changed_paths.append(path)
    result = {"changed": bool(changed_paths), "changed_paths": changed_paths}
    if module._diff:
        result["diff"] = diffs
    return result


def main() -> None:
    owner = {"owner": {"type": "str"}, "group": {"type": "str"}}
    module = AnsibleModule(
        argument_spec={
            "directories": {"type": "list", "elements": "dict", "default": [], "options": {
                "path": {"type": "str", "required": True}, "mode": {"type": "raw", "default": "0755"}, **owner}},
            "files": {"type": "list", "elements": "dict", "default": [], "options": {
                "path": {"type": "str", "required": True}, "content": {"type": "str", "required": True},
                "mode": {"type": "raw", "default": "0644"}, "validate": {"type": "str"}, **owner}},
        },
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except fs.FileSetProblem as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg=f"file_set could not finish: {exc.strerror or exc} ({exc.filename or 'no path'}); every "
                             "file is either as it was or whole")


if __name__ == "__main__":
    main()
