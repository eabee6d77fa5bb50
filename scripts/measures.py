# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The YAML layer's size measures of issue #33, for the tree and for a start commit, side by side.

The same counts as the workplace's yaml-measures.py (role task lines, Jinja expressions in roles and playbooks and
how many are over 120 characters, README lines), plus the lazy expressions over registered results left in
roles/*/vars/main.yml (an expression naming a variable that a task of the same role registers). Usage:
  python scripts/measures.py                 # against tests/bench/baseline.rev
  python scripts/measures.py --against REV
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

EXPR = re.compile(r"\{\{.*?\}\}", re.S)
REGISTER = re.compile(r"^\s*register:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$", re.M)


def _files(rev: str | None, pattern: str) -> dict[str, str]:
    if rev is None:
        names = subprocess.run(["git", "ls-files", pattern], capture_output=True, text=True, check=True).stdout.split()
        return {name: Path(name).read_text() for name in names if Path(name).exists()}
    names = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev], capture_output=True, text=True,
                           check=True).stdout.split()
    wanted = [n for n in names if Path(n).match(pattern) or re.fullmatch(pattern.replace("*", "[^/]*"), n)]
    return {n: subprocess.run(["git", "show", f"{rev}:{n}"], capture_output=True, text=True, check=True).stdout
            for n in wanted}


def measure(rev: str | None) -> dict[str, int]:
    tasks = _files(rev, "roles/*/tasks/*.yml")
    yaml_files = {**_files(rev, "roles/*/*/*.yml"), **_files(rev, "playbooks/*.yml"),
                  **_files(rev, "playbooks/*/*.yml")}
    exprs = [m.group(0) for text in yaml_files.values() for m in EXPR.finditer(text)]
    lazy = []
    for path, text in _files(rev, "roles/*/vars/main.yml").items():
        role = path.split("/")[1]
        registered = {m.group(1) for name, body in tasks.items() if name.split("/")[1] == role
                      for m in REGISTER.finditer(body)}
        lazy += [m.group(0) for m in EXPR.finditer(text)
                 if registered & set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", m.group(0)))]
    readme = _files(rev, "README.md").get("README.md", "")
    return {
        "role task lines": sum(len(text.splitlines()) for text in tasks.values()),
        "jinja expressions in roles/playbooks yml": len(exprs),
        "jinja expressions over 120 characters": sum(len(e) > 120 for e in exprs),
        "vars/main.yml lazy expressions over registered results": len(lazy),
        "README.md lines": len(readme.splitlines()),
    }


TARGETS = {
    "role task lines": lambda now, start: now <= 0.7 * start,
    "jinja expressions over 120 characters": lambda now, start: now <= 15,
    "vars/main.yml lazy expressions over registered results": lambda now, start: now == 0,
    "README.md lines": lambda now, start: now <= 500,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default=None, help="start commit (default: tests/bench/baseline.rev)")
    args = parser.parse_args()
    rev = args.against or Path("tests/bench/baseline.rev").read_text().strip()
    start, now = measure(rev), measure(None)
    print(f"| measure | start {rev[:7]} | now | now/start | target met |")
    print("| --- | --- | --- | --- | --- |")
    for key, value in now.items():
        ratio = f"{value / start[key]:.2f}" if start[key] else "-"
        met = TARGETS[key](value, start[key]) if key in TARGETS else None
        print(f"| {key} | {start[key]} | {value} | {ratio} | {'' if met is None else ('yes' if met else 'NO')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
