# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The GPU metrics collector (homelab.nvidia_gpu.gpu_metrics): runs nvidia-smi and dkms, reads /proc/modules, the PCI
bus and the container engines' configs, and writes node_exporter's textfile atomically. Standard library only; what
it decides is in _gpu_metrics.py next to it (the collection's plugins/module_utils/_roles/_gpu_metrics.py,
unit-tested, with _values.py). It writes a file on every run whatever it reads: what it cannot read is named in
the file.

Usage: python3 collect.py --plan PLAN.json --out DIR/homelab_gpu.prom [--sysfs-root /sys] [--proc-root /proc]
       [--etc-root /etc] [--timeout 20]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import _gpu_metrics as gm  # pylint: disable=import-error  # installed next to this file


def _run(argv: list[str], timeout: float) -> dict | None:
    """rc and output of a command; None when it is not installed."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"stdout": f"{argv[0]} did not answer within {timeout:g} s", "rc": 124}
    except OSError as exc:
        return {"stdout": f"{argv[0]} could not run: {exc}", "rc": 126}
    # bytes that are not UTF-8 (a GPU name) stay as surrogates, which the pure part names and replaces
    stdout, stderr = (b.decode("utf-8", "surrogateescape") for b in (proc.stdout, proc.stderr))
    out = stdout if proc.returncode == 0 else (stdout + "\n" + stderr).strip()
    return {"stdout": out, "rc": proc.returncode}


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def _pci_gpus(sysfs: str) -> int:
    count = 0
    for device in glob.glob(os.path.join(sysfs, "bus/pci/devices/*")):
        vendor = (_read(os.path.join(device, "vendor")) or "").strip().lower()
        klass = (_read(os.path.join(device, "class")) or "").strip().lower()
        if vendor == "0x10de" and klass.startswith("0x03"):
            count += 1
    return count


def gather(args: argparse.Namespace) -> dict:
    errors = []
    plan_text = _read(args.plan)
    plan = {}
    if plan_text is None:
        errors.append(f"no plan file at {args.plan}")
    else:
        try:
            plan = json.loads(plan_text)
        except (ValueError, RecursionError) as exc:
            errors.append(f"the plan file {args.plan} is not JSON ({exc})")
    smi = _run(["nvidia-smi", f"--query-gpu={gm.QUERY}", "--format=csv,noheader,nounits"], args.timeout)
    dkms = _run(["dkms", "status"], args.timeout)
    runtimes = {}
    if shutil.which("dockerd"):
        runtimes["docker"] = _read(os.path.join(args.etc_root, "docker/daemon.json")) or ""
    if shutil.which("containerd"):
        parts = [_read(os.path.join(args.etc_root, "containerd/config.toml")) or ""]
        parts += [_read(p) or "" for p in sorted(glob.glob(os.path.join(args.etc_root, "containerd/conf.d/*.toml")))]
        runtimes["containerd"] = "\n".join(parts)
    return {"plan": plan, "smi": smi, "pci_gpus": _pci_gpus(args.sysfs_root),
            "modules": _read(os.path.join(args.proc_root, "modules")) or "",
            "dkms": dkms["stdout"] if dkms and dkms["rc"] == 0 else None, "running_kernel": platform.release(),
            "runtimes": runtimes, "now": time.time(), "errors": errors}


def write_atomically(path: str, text: str) -> None:
    """A temporary file in the same directory, synced, then renamed over the old one: never a half-written file."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".homelab_gpu.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--sysfs-root", default="/sys")
    parser.add_argument("--proc-root", default="/proc")
    parser.add_argument("--etc-root", default="/etc")
    parser.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args(argv)
    try:
        inputs = gather(args)
    except Exception as exc:  # a file that says so, never none
        inputs = {"plan": {}, "smi": None, "errors": [f"reading the host failed ({type(exc).__name__}: {exc})"],
                  "now": time.time()}
    try:
        text = gm.render(inputs)
    except Exception as exc:  # the plan's shape first, then anything the pure part missed
        text = None
        problem = str(exc) if isinstance(exc, gm.MetricsError) else f"{type(exc).__name__}: {exc}"
        try:
            text = gm.render(dict(inputs, plan={}, errors=[*inputs.get("errors", []), problem]))
        except Exception as again:  # still a file
            problem += f"; then {type(again).__name__}: {again}"
        if text is None:
            text = ("# HELP homelab_gpu_up 1 when nvidia-smi answered for the host's GPUs; 0 with the reason as a"
                    " label.\n# TYPE homelab_gpu_up gauge\n"
                    f'homelab_gpu_up{{reason="collector: {gm._values.prometheus_label(problem)[:500]}"}} 0\n'
                    "# HELP homelab_gpu_collector_errors What the collector could not read this run.\n"
                    "# TYPE homelab_gpu_collector_errors gauge\nhomelab_gpu_collector_errors 1\n")
    write_atomically(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
