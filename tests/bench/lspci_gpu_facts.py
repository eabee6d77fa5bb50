#!/usr/bin/env python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark, not a test: wall time of homelab.nvidia_gpu.lspci_gpu_facts next to ansible.builtin.setup.

Both run as `ansible localhost -c local -m <module>` N times on this host; the report gives the median
and the spread. The whole ad-hoc run is timed (Python start-up and module transfer included), which
is what a play pays per task. Usage: tests/bench/lspci_gpu_facts.py [-n 7] [-a 'lspci_dump=...'].
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_once(ansible: str, module: str, args: str, env: dict) -> float:
    argv = [ansible, "localhost", "-c", "local", "-m", module]
    if args:
        argv += ["-a", args]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed (rc={proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--repetitions", type=int, default=7)
    parser.add_argument("-a", "--args", default="", help="module arguments for lspci_gpu_facts")
    opts = parser.parse_args()
    ansible = shutil.which("ansible", path=str(REPO / ".venv" / "bin")) or shutil.which("ansible")
    if not ansible:
        sys.exit("ansible not found: run `make setup` or put ansible on PATH")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / ".cache" / "collections"),
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    modules = [("homelab.nvidia_gpu.lspci_gpu_facts", opts.args), ("ansible.builtin.setup", "")]
    for module, args in modules:  # warm-up: byte-compile caches, page cache
        run_once(ansible, module, args, env)
    times: dict[str, list[float]] = {module: [] for module, _unused in modules}
    for _unused in range(opts.repetitions):  # interleaved, so load changes hit both alike
        for module, args in modules:
            times[module].append(run_once(ansible, module, args, env))
    print(f"host {os.uname().nodename} ({os.uname().machine}), {opts.repetitions} runs each, seconds per ad-hoc run")
    print(f"{'module':40} {'median':>8} {'min':>8} {'max':>8}")
    for module, values in times.items():
        print(f"{module:40} {statistics.median(values):8.3f} {min(values):8.3f} {max(values):8.3f}")
    ratio = statistics.median(times[modules[0][0]]) / statistics.median(times[modules[1][0]])
    print(f"lspci_gpu_facts / setup median ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
