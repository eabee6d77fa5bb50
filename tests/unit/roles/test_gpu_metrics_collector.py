# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collector the role gpu_metrics installs (roles/gpu_metrics/files/collect.py), run as the timer runs it: with
_gpu_metrics.py and _values.py next to it, fake nvidia-smi and dkms on PATH, a fake sysfs and /proc; the textfile it
writes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
P10 = ("0, 00000000:01:00.0, Tesla P10, GPU-5b1c0f8e-0a1b-4c2d-9e3f-1234567890ab, 580.95.05, 41, 27.93, 150.00, 0, 0,"
       " 0, 23040, 544, 405, 1, 3, 16, 16, 0, [N/A]")


@pytest.fixture
def host(tmp_path):
    """An installed collector and a host around it; returns a function that runs it and gives the textfile."""
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(ROOT / "roles/gpu_metrics/files/collect.py", lib)
    shutil.copy(ROOT / "plugins/module_utils/_roles/_gpu_metrics.py", lib)
    shutil.copy(ROOT / "plugins/module_utils/_common/_values.py", lib)
    bin_dir, sysfs, proc, etc = (tmp_path / d for d in ("bin", "sys", "proc", "etc"))
    for d in (bin_dir, sysfs / "bus/pci/devices/0000:01:00.0", proc, etc / "docker"):
        d.mkdir(parents=True)
    (sysfs / "bus/pci/devices/0000:01:00.0/vendor").write_text("0x10de\n")
    (sysfs / "bus/pci/devices/0000:01:00.0/class").write_text("0x030200\n")
    (proc / "modules").write_text("nvidia 1 0 - Live 0x0\n")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"gpu_node": True, "kind": "gpu_stack", "can_work": True, "gpu_names": ["Tesla P10"],
                                "problems": [], "dkms_name": "nvidia"}))
    out = tmp_path / "textfile/homelab_gpu.prom"
    out.parent.mkdir()

    def fake(name, script):
        path = bin_dir / name
        path.write_text("#!/bin/sh\n" + script)
        path.chmod(0o755)

    def run(plan_path=plan):
        env = dict(os.environ, PATH=f"{bin_dir}:/usr/bin:/bin")
        proc_run = subprocess.run(
            [sys.executable, str(lib / "collect.py"), "--plan", str(plan_path), "--out", str(out), "--sysfs-root",
             str(sysfs), "--proc-root", str(proc), "--etc-root", str(etc), "--timeout", "2"],
            env=env, capture_output=True, text=True, timeout=30, check=False)
        assert proc_run.returncode == 0, proc_run.stderr
        return out.read_text()

    return {"fake": fake, "run": run, "out": out, "tmp": tmp_path}


def test_a_gpu_that_answers(host):
    host["fake"]("nvidia-smi", f"echo '{P10}'\n")
    host["fake"]("dkms", "echo 'nvidia/580.95.05, 6.1.0-40-amd64, x86_64: installed'\n")
    text = host["run"]()
    assert 'homelab_gpu_up{reason="nvidia-smi answered"} 1' in text
    assert 'homelab_gpu_temperature_celsius{gpu="0",bus_id="00000000:01:00.0",name="Tesla P10"} 41' in text
    assert "homelab_gpu_pci_devices 1" in text and "homelab_gpu_driver_loaded 1" in text
    assert 'homelab_gpu_dkms_installed{kernel="6.1.0-40-amd64",state="installed"} 1' in text


def test_nvidia_smi_that_hangs_or_fails_and_a_missing_plan_still_give_a_file(host):
    host["fake"]("nvidia-smi", "sleep 10\n")
    text = host["run"](host["tmp"] / "no-such-plan.json")
    assert "homelab_gpu_up{" in text and "did not answer within 2 s" in text and "no plan file" in text
    host["fake"]("nvidia-smi",
                 "echo 'Unable to determine the device handle for GPU0000:01:00.0: Unknown Error'; exit 15\n")
    text = host["run"]()
    assert "a GPU fell off the bus" in text and "homelab_gpu_enumerated 1" in text  # still on the bus (sysfs)


def test_a_host_without_nvidia_smi_and_a_broken_plan(host):
    bad = host["tmp"] / "bad.json"
    bad.write_text("{not json")
    text = host["run"](bad)
    assert 'homelab_gpu_up{reason="no NVIDIA GPU on this host (not in gpu_nodes); collector: the plan file' in text
    assert "is not JSON" in text and "homelab_gpu_dkms" not in text and text.endswith("\n")  # no dkms installed
    leftovers = [p.name for p in host["out"].parent.iterdir() if p.name != "homelab_gpu.prom"]
    assert leftovers == []  # the temporary file was renamed, never left behind
