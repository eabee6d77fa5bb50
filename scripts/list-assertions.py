# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""List every Molecule assertion per scenario, to compare two revisions (the lab-speed issue's 'nothing dropped').

An assertion is an ansible.builtin.assert task (its name and how many conditions its `that` holds), a task
with a failed_when, or a testinfra test function. Usage:
  python scripts/list-assertions.py [ROOT]            # the listing
  python scripts/list-assertions.py --counts [ROOT]   # one line per scenario
  python scripts/list-assertions.py --against REV     # what REV asserted that ROOT lacks; exit 1 if any
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ASSERT = ("ansible.builtin.assert", "assert")


def _tasks(node):
    """Every task in a play list or task list, blocks and rescue/always included."""
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        if any(key in node for key in ("tasks", "pre_tasks", "post_tasks", "handlers")) and "hosts" in node:
            for key in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                yield from _tasks(node.get(key) or [])
            return
        yield node
        for key in ("block", "rescue", "always"):
            yield from _tasks(node.get(key) or [])


def scenario_assertions(folder: Path) -> list[str]:
    found = []
    for path in sorted(folder.rglob("*.yml")):
        if path.name == "molecule.yml" or "host_vars" in path.parts or "group_vars" in path.parts:
            continue
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError:
            continue
        for task in _tasks(data or []):
            where = path.relative_to(folder)
            for key in ASSERT:
                if key in task:
                    that = task[key].get("that", []) if isinstance(task[key], dict) else []
                    count = len(that) if isinstance(that, list) else 1
                    found.append(f"{where}: assert ({count}): {task.get('name', '?')}")
            if "failed_when" in task and task.get("failed_when") is not False:
                found.append(f"{where}: failed_when: {task.get('name', '?')}")
    for path in sorted(folder.rglob("test_*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                found.append(f"{path.relative_to(folder)}: testinfra: {node.name}")
    return found


def listing(root: Path) -> list[str]:
    molecule = root / "molecule"
    return [f"{folder.name}/{line}" for folder in sorted(p for p in molecule.iterdir() if (p / "molecule.yml").exists())
            for line in scenario_assertions(folder)]


def dropped_since(rev: str, root: Path) -> list[str]:
    """The assertions of REV's molecule/ (read with git archive) that ROOT's molecule/ no longer has."""
    with tempfile.TemporaryDirectory() as old:
        archive = subprocess.run(["git", "-C", str(root), "archive", rev, "molecule"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", old], input=archive.stdout, check=True)
        before = listing(Path(old))
    now = set(listing(root))
    return [line for line in before if line not in now]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default=".")
    parser.add_argument("--counts", action="store_true")
    parser.add_argument("--against", metavar="REV", help="print what REV asserted that ROOT no longer does")
    args = parser.parse_args()
    if args.against:
        dropped = dropped_since(args.against, Path(args.root))
        for line in dropped:
            print(f"dropped since {args.against}: {line}")
        print(f"{len(dropped)} assertion(s) of {args.against} missing", file=sys.stderr)
        return 1 if dropped else 0
    molecule = Path(args.root) / "molecule"
    for folder in sorted(p for p in molecule.iterdir() if (p / "molecule.yml").exists()):
        found = scenario_assertions(folder)
        if args.counts:
            conditions = sum(int(line.split("assert (")[1].split(")")[0]) for line in found if ": assert (" in line)
            print(f"{folder.name}: {len(found)} assertions ({conditions} assert conditions)")
        else:
            for line in found:
                print(f"{folder.name}/{line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
