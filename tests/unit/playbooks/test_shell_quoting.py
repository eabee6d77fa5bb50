# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every templated value in a shell or command string of playbooks/ and roles/ is shell-quoted.

A host name, image or path with a space or `;` must not become two words or a second command; tasks
either pass values through `argv`, `environment:` or `| quote`.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
SHELLS = {f"{prefix}{name}" for prefix in ("", "ansible.builtin.", "ansible.legacy.") for name in ("shell", "command")}
EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.S)
RAW = re.compile(r"\{%-?\s*raw\s*-?%\}.*?\{%-?\s*endraw\s*-?%\}", re.S)
# Safe: `| quote` last, each item quoted then joined with spaces, or a plain string literal such as '{{'.
SAFE = (re.compile(r"\|\s*quote\s*$"),
        re.compile(r"\|\s*map\(\s*['\"]quote['\"]\s*\)\s*\|\s*join\(\s*['\"] ['\"]\s*\)\s*$"),
        re.compile(r"^\s*('[^']*'|\"[^\"]*\")\s*$"))
NESTED = ("block", "rescue", "always")
# Files other changes own, known to fail today (strict: the test says so once they are fixed).
KNOWN_UNQUOTED: dict[str, str] = {}


def task_files() -> list[Path]:
    files = sorted(ROOT.glob("playbooks/**/*.yml")) + sorted(ROOT.glob("roles/*/tasks/**/*.yml"))
    files += sorted(ROOT.glob("roles/*/handlers/**/*.yml"))
    return files


def tasks(items):
    """Every task dict in a task list or a play list, blocks and plays opened."""
    for item in items or []:
        if not isinstance(item, dict):
            continue
        for key in ("tasks", "pre_tasks", "post_tasks", "handlers", *NESTED):
            if isinstance(item.get(key), list):
                yield from tasks(item[key])
        yield item


def command_strings(task: dict) -> list[tuple[str, str]]:
    """(module, string) of each shell/command string the task runs; argv lists are safe and skipped."""
    out = []
    for module in SHELLS & task.keys():
        value = task[module]
        if isinstance(value, dict):
            value = value.get("cmd")
        if isinstance(value, str):
            out.append((module, value))
    return out


def unquoted(text: str) -> list[str]:
    text = RAW.sub("", text)  # {% raw %} text reaches the shell as written, e.g. docker's --format
    return [m.group(0) for m in EXPRESSION.finditer(text) if not any(s.search(m.group(1)) for s in SAFE)]


def test_unquoted_expressions_are_found():
    assert unquoted("ctr -n {{ ns }} pull {{ image | quote }}") == ["{{ ns }}"]
    assert unquoted("echo {{ a|quote }} {{ b | default('x') }}") == ["{{ b | default('x') }}"]
    assert unquoted("echo \"$IMAGE\"") == []
    assert unquoted("apt-cache policy {{ pkgs | map('quote') | join(' ') }}") == []
    assert unquoted("apt-cache policy {{ pkgs | join(' ') }}") == ["{{ pkgs | join(' ') }}"]
    assert unquoted("docker inspect --format '{% raw %}{{.Id}}{% endraw %}' {{ '{{' }}") == []


def test_the_walk_finds_nested_shell_tasks():
    doc = [{"hosts": "all", "tasks": [{"block": [{"ansible.builtin.shell": {"cmd": "echo {{ x }}"}}],
                                       "rescue": [{"command": "ls {{ y }}"}]}]}]
    found = [s for t in tasks(doc) for s in command_strings(t)]
    assert found == [("ansible.builtin.shell", "echo {{ x }}"), ("command", "ls {{ y }}")]


def shell_strings(path: Path) -> list[tuple[str, str, str]]:
    """(task name, module, string) of every shell/command string in a task or play file."""
    doc = yaml.safe_load(path.read_text())
    return [(task.get("name", "?"), module, text)
            for task in tasks(doc if isinstance(doc, list) else []) for module, text in command_strings(task)]


# Only the files that hold a shell or command string are cases: the others have nothing to quote.
SHELL_FILES = [p for p in task_files() if shell_strings(p)]


def _param(path: Path):
    rel = str(path.relative_to(ROOT))
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN_UNQUOTED[rel])] if rel in KNOWN_UNQUOTED else []
    return pytest.param(path, id=rel, marks=marks)


def test_the_walk_reads_every_task_file_and_finds_templated_shell_strings():
    files = task_files()
    assert len(files) > 50 and all(isinstance(shell_strings(p), list) for p in files)
    assert SHELL_FILES and any("{{" in text for p in SHELL_FILES for _n, _m, text in shell_strings(p))


@pytest.mark.parametrize("path", [_param(p) for p in SHELL_FILES])
def test_templated_shell_values_are_quoted(path):
    bad = [f"{name}: {module} {expr}" for name, module, text in shell_strings(path) for expr in unquoted(text)]
    assert not bad, f"{path.relative_to(ROOT)}: unquoted templated values (use argv, environment or | quote): {bad}"
