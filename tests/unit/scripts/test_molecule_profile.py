"""scripts/molecule-profile.py reads profile_tasks recaps out of Molecule logs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "molecule-profile.py"
LOG = """INFO     [site > converge] Executing
PLAY [Converge] ****************************************************************
TASK [Gathering Facts] *********************************************************
ok: [site-x86-p10]
PLAY RECAP *********************************************************************
site-x86-p10               : ok=40   changed=12   unreachable=0    failed=0

TASKS RECAP ********************************************************************
Tuesday 01 December 2026  21:07:18 +0000 (0:00:01.298)       0:05:01.500 ******
===============================================================================
homelab.nvidia_gpu.nvidia_driver : Driver packages are installed -------- 95.27s
homelab.nvidia_gpu.kernel_headers : Headers are installed --------------- 40.10s
Gathering Facts ---------------------------------------------------------- 3.02s
INFO     [site > converge] Executed: Successful
INFO     [site > idempotence] Executing
TASKS RECAP ********************************************************************
Tuesday 01 December 2026  21:09:18 +0000 (0:00:00.298)       0:01:00.250 ******
===============================================================================
homelab.nvidia_gpu.nvidia_driver : Driver packages are installed --------- 5.00s
INFO     [site > idempotence] Executed: Successful
"""


@pytest.fixture(scope="module")
def profile():
    spec = importlib.util.spec_from_file_location("molecule_profile", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_steps_and_tasks(profile):
    scenario = profile.parse(LOG.splitlines(True), "fallback")
    assert scenario.name == "site"
    assert scenario.steps == {"converge": 301.5, "idempotence": 60.25}
    assert scenario.tasks[0] == (95.27, "converge", "homelab.nvidia_gpu.nvidia_driver : Driver packages are installed")
    assert len(scenario.tasks) == 4 and scenario.total == pytest.approx(361.75)


def test_report_and_cli(profile, tmp_path, capsys):
    (tmp_path / "molecule-site.log").write_text(LOG)
    (tmp_path / "molecule-empty.log").write_text("INFO     [empty > converge] Executing\n")
    assert profile.main(["--top", "2", str(tmp_path / "molecule-site.log"), str(tmp_path / "molecule-empty.log")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "## site: 362s in playbooks (converge 302s, idempotence 60s)"
    assert "95.27s  converge     homelab.nvidia_gpu.nvidia_driver : Driver packages are installed" in out
    assert "Gathering Facts" not in out  # only the top 2
    assert profile.main([str(tmp_path / "molecule-empty.log")]) == 1
