"""Check that every role's meta/argument_specs.yml matches its defaults/main.yml.

For each role: the options of every entry point equal the defaults' keys (main entry point: all
of them), each option has a type and a description, and a default given in the spec equals the
value in defaults/main.yml. Exit 1 with one line per problem; the docs can never drift.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def check_role(role: Path) -> list[str]:
    problems: list[str] = []
    spec_file = role / "meta" / "argument_specs.yml"
    defaults_file = role / "defaults" / "main.yml"
    if not spec_file.is_file():
        return [f"{role.name}: meta/argument_specs.yml is missing"]
    spec = (yaml.safe_load(spec_file.read_text()) or {}).get("argument_specs") or {}
    defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.is_file() else {}
    defaults = defaults or {}
    if "main" not in spec:
        problems.append(f"{role.name}: argument_specs has no 'main' entry point")
        return problems
    options = spec["main"].get("options") or {}
    for name in sorted(set(defaults) - set(options)):
        problems.append(f"{role.name}: default '{name}' is not in argument_specs.main.options")
    for name, opt in sorted(options.items()):
        if not name.startswith(f"{role.name}_"):
            problems.append(f"{role.name}: option '{name}' is not prefixed with '{role.name}_'")
        if not opt.get("description"):
            problems.append(f"{role.name}: option '{name}' has no description")
        if "type" not in opt:
            problems.append(f"{role.name}: option '{name}' has no type")
        if name not in defaults:
            if not opt.get("required"):
                problems.append(f"{role.name}: option '{name}' is neither required nor in defaults/main.yml")
            continue
        if "default" in opt and opt["default"] != defaults[name]:
            problems.append(
                f"{role.name}: option '{name}' default {opt['default']!r} != defaults/main.yml {defaults[name]!r}"
            )
    return problems


def main() -> int:
    roles = sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir()) if (ROOT / "roles").is_dir() else []
    problems = [p for role in roles for p in check_role(role)]
    for line in problems:
        print(line)
    if not roles:
        print("DETAIL: no roles found")
        return 1
    if problems:
        print(f"DETAIL: {len(problems)} argument-spec problems in {len(roles)} roles")
        return 1
    print(f"DETAIL: argument specs equal defaults in {len(roles)} roles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
