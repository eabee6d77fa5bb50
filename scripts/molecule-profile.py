# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the lab's time goes: per scenario, the time of each Molecule step and the slowest tasks.

Reads the scenario logs of `make test` (.cache/test-logs/molecule-<scenario>.log), in which the
ansible.posix.profile_tasks callback (enabled in .config/molecule/config.yml) ends every playbook run
with a TASKS RECAP. Usage: python scripts/molecule-profile.py [--top N] [LOG ...]
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import sys
from dataclasses import dataclass, field

STEP = re.compile(r"^INFO\s+\[(?P<scenario>[^ >\]]+) > (?P<step>[a-z_]+)\] Executing")
RECAP = re.compile(r"^TASKS RECAP \*+")
# "Tuesday 01 December 2026  21:06:29 +0000 (0:00:00.021)       0:01:12.345 ****"
TOTAL = re.compile(r"\(\d+:\d\d:\d\d\.\d+\)\s+(?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d\.\d+)")
# "Task name --------------------------------------------------------- 12.34s"
TASK = re.compile(r"^(?P<name>.*?) -+ (?P<secs>\d+\.\d\d)s$")


@dataclass
class Scenario:
    name: str
    steps: dict[str, float] = field(default_factory=dict)
    tasks: list[tuple[float, str, str]] = field(default_factory=list)  # (seconds, step, task)

    @property
    def total(self) -> float:
        return sum(self.steps.values())


def parse(lines: list[str], fallback_name: str) -> Scenario:
    """The steps' playbook times and the recapped tasks of one scenario log."""
    scenario = Scenario(fallback_name)
    step = "?"
    in_recap = False
    for line in lines:
        line = line.rstrip("\n")
        match = STEP.match(line)
        if match:
            scenario.name, step, in_recap = match["scenario"], match["step"], False
            continue
        if RECAP.match(line):
            in_recap = True
            continue
        if not in_recap:
            continue
        match = TOTAL.search(line)
        if match:
            seconds = int(match["h"]) * 3600 + int(match["m"]) * 60 + float(match["s"])
            scenario.steps[step] = scenario.steps.get(step, 0.0) + seconds
            continue
        match = TASK.match(line)
        if match:
            scenario.tasks.append((float(match["secs"]), step, match["name"].strip()))
        elif line and not line.startswith("="):
            in_recap = False
    return scenario


def report(scenarios: list[Scenario], top: int) -> str:
    out = []
    for scenario in sorted(scenarios, key=lambda s: -s.total):
        steps = ", ".join(f"{name} {secs:.0f}s" for name, secs in scenario.steps.items())
        out.append(f"## {scenario.name}: {scenario.total:.0f}s in playbooks ({steps})")
        for secs, step, task in sorted(scenario.tasks, reverse=True)[:top]:
            out.append(f"  {secs:8.2f}s  {step:<12} {task}")
    everything = sorted(((secs, s.name, step, task) for s in scenarios for secs, step, task in s.tasks), reverse=True)
    out.append(f"## slowest {top} tasks of all scenarios")
    out.extend(f"  {secs:8.2f}s  {name:<24} {step:<12} {task}" for secs, name, step, task in everything[:top])
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("logs", nargs="*")
    args = parser.parse_args(argv)
    logs = args.logs or sorted(glob.glob(".cache/test-logs/molecule-*.log"))
    scenarios = []
    for log in logs:
        if not os.path.isfile(log):
            continue
        with open(log, encoding="utf-8", errors="replace") as handle:
            name = os.path.basename(log).removeprefix("molecule-").removesuffix(".log")
            scenario = parse(handle.readlines(), name)
        if scenario.steps:
            scenarios.append(scenario)
    if not scenarios:
        print("no profile_tasks recap found in: " + (", ".join(logs) or "(no logs)"), file=sys.stderr)
        return 1
    print(report(scenarios, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
