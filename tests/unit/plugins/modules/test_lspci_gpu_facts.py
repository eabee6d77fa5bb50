# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.modules import lspci_gpu_facts

REPO = Path(__file__).resolve().parents[4]
FIXTURES = REPO / "tests" / "unit" / "fixtures" / "lspci"
LSPCI = shutil.which("lspci")
pytestmark = pytest.mark.skipif(LSPCI is None, reason="lspci (pciutils) is not installed; apt-get install pciutils")


@pytest.fixture
def run(run_module):
    """run(args) -> (failed, result) of lspci_gpu_facts (tests/unit/conftest.py)."""
    return lambda args: run_module(lspci_gpu_facts, args)


def dump(name: str) -> str:
    return str(FIXTURES / name)


def test_pi5_p4_warns_by_default(run, roots):
    failed, result = run(dict(roots, lspci_dump=dump("tesla_p4_pi5.dump")))
    assert not failed and result["changed"] is False
    facts = result["ansible_facts"]
    assert facts["nvidia_gpu_host"]["platform"] == "raspberry_pi_5"
    assert facts["nvidia_gpu_host"]["verdict"]["can_work"] is False
    assert [g["catalog"]["name"] for g in facts["nvidia_gpus"]] == ["Tesla P4"]
    warnings = result["warnings"]
    assert any(w.startswith("[pi5_proprietary_unsupported] The proprietary NVIDIA driver refuses") for w in warnings)
    assert any(w.startswith("[pcie_link_degraded]") for w in warnings)


def test_fail_on_blocking_joins_all_messages(run, roots):
    failed, result = run(dict(roots, lspci_dump=dump("tesla_p4_pi5.dump"), page_size=16384,
                              driver_branch=590, fail_on=["blocking"], warn_on=["all"]))
    assert failed
    msg = result["msg"]
    assert msg.index("[pi5_16k_page_kernel]") < msg.index("[pi5_proprietary_unsupported]") < msg.index(
        "[branch_too_new]")
    assert "[pcie_link_degraded]" not in msg
    # the failing problems are not repeated as warnings; the others are
    assert [w.split("]")[0] + "]" for w in result["warnings"]] == ["[pcie_link_degraded]"]
    assert result["ansible_facts"]["nvidia_gpu_host"]["verdict"]["max_branch"] == 580


def test_fail_on_a_single_code(run, roots):
    failed, result = run(dict(roots, lspci_dump=dump("tesla_p10.dump"),
                              kernel_module_flavour="open", fail_on=["open_modules_unsupported"]))
    assert failed and result["msg"].startswith("[open_modules_unsupported] The open NVIDIA kernel modules")


def test_warn_on_nothing_is_quiet(run, roots):
    failed, result = run(dict(roots, lspci_dump=dump("tesla_p4_pi5.dump"), warn_on=[]))
    assert not failed and not result.get("warnings")


def test_require_gpu_fails_with_power_on_order(run, roots):
    failed, result = run(dict(roots, lspci_dump=dump("no_nvidia.dump"), require_gpu=True))
    assert failed
    assert result["msg"].startswith("[no_gpu] No NVIDIA GPU is enumerated on the PCI bus.")
    assert "power on its PSU and the GPU first, then boot the host" in result["msg"]
    assert result["ansible_facts"]["nvidia_gpus"] == []


def test_no_gpu_without_require_gpu(run, roots):
    failed, result = run(dict(roots, lspci_dump=dump("no_nvidia.dump"), fail_on=["all"]))
    assert not failed
    assert result["ansible_facts"]["nvidia_gpus"] == []
    assert result["ansible_facts"]["nvidia_gpu_host"]["verdict"]["can_work"] is True


def test_check_mode_and_two_gpus(run, roots):
    failed, result = run(dict(roots, lspci_dump=dump("two_gpus.dump"), _ansible_check_mode=True))
    assert not failed and result["changed"] is False
    gpus = result["ansible_facts"]["nvidia_gpus"]
    assert [(g["address"], g["catalog"]["architecture"]) for g in gpus] == [
        ("0000:01:00.0", "Pascal"), ("0000:02:00.0", "Ampere")]
    host = result["ansible_facts"]["nvidia_gpu_host"]
    assert host["verdict"]["module_flavour"] == "proprietary"
    assert host["page_size"] == 4096 and host["architecture"] == os.uname().machine


def test_supported_gpus_json_on_the_host_wins(run, roots, tmp_path):
    path = tmp_path / "supported-gpus.json"
    path.write_text(json.dumps({"chips": [{"devid": "0x26B9", "name": "NVIDIA L40S", "features": ["kernelopen"]}]}))
    failed, result = run(dict(roots, lspci_dump=dump("l40s.dump"), supported_gpus_json=[str(path)]))
    assert not failed
    assert result["ansible_facts"]["nvidia_gpus"][0]["catalog"]["source"] == str(path)
    assert result["ansible_facts"]["nvidia_gpus"][0]["catalog"]["name"] == "NVIDIA L40S"


def test_sysfs_driver_nouveau_fails_on_blocking(run, roots):
    device = Path(roots["sysfs_root"]) / "bus" / "pci" / "devices" / "0000:01:00.0"
    device.mkdir(parents=True)
    (Path(roots["sysfs_root"]) / "bus" / "pci" / "drivers" / "nouveau").mkdir(parents=True)
    (device / "driver").symlink_to("../../drivers/nouveau")
    failed, result = run(dict(roots, lspci_dump=dump("rtx_3070.dump"), fail_on=["blocking"]))
    assert failed and result["msg"].startswith("[nouveau_bound]")
    assert result["ansible_facts"]["nvidia_gpu_host"]["nouveau"]["bound"] is True


def test_missing_lspci_says_install_pciutils(run, roots, tmp_path):
    failed, result = run(dict(roots, lspci_path=str(tmp_path / "no-lspci")))
    assert failed and "install pciutils" in result["msg"]


def test_missing_dump_is_named(run, roots, tmp_path):
    failed, result = run(dict(roots, lspci_dump=str(tmp_path / "nope.dump")))
    assert failed and "nope.dump is not a file" in result["msg"]


def test_bad_fail_on_choice_is_rejected(run, roots):
    failed, result = run(dict(roots, lspci_dump=dump("rtx_3070.dump"), fail_on=["everything"]))
    assert failed and "fail_on" in result["msg"]


def test_end_to_end_with_ansible(tmp_path):
    """The module as Ansible runs it: ad-hoc on localhost, JSON out."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / ".cache" / "collections"),
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    ansible = shutil.which("ansible", path=str(REPO / ".venv" / "bin")) or shutil.which("ansible")
    if ansible is None:
        pytest.skip("ansible is not installed")
    args = (f"lspci_dump={dump('unknown_nvidia.dump')} sysfs_root={tmp_path} proc_root={tmp_path} "
            f"device_tree_root={tmp_path} supported_gpus_json={tmp_path}/none.json")
    proc = subprocess.run([ansible, "localhost", "-c", "local", "-m", "homelab.nvidia_gpu.lspci_gpu_facts",
                           "-a", args], capture_output=True, text=True, env=env, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    gpu = result["ansible_facts"]["nvidia_gpus"][0]
    assert (gpu["device_id"], gpu["catalog"]["source"], gpu["catalog"]["architecture"]) == (
        "2fff", "catalog id range", "Blackwell")
    assert any(w.startswith("[unknown_gpu]") for w in result["warnings"])


def test_gpus_from_a_dump_are_marked_simulated(run_module, roots):
    failed, result = run_module(lspci_gpu_facts, dict(roots, lspci_dump=dump("tesla_p10.dump")))
    assert not failed and result["ansible_facts"]["nvidia_gpus"]
    assert result["ansible_facts"]["nvidia_gpu_host"]["simulated"] is True


def test_gpus_from_the_live_bus_are_not_simulated(run_module, roots, tmp_path):
    """The same GPU through the live-bus path (an lspci that answers from the dump, no -F given)."""
    fake = tmp_path / "lspci"
    fake.write_text(f'#!/bin/sh\nexec {LSPCI} "$@" -F {dump("tesla_p10.dump")}\n')
    fake.chmod(0o755)
    failed, result = run_module(lspci_gpu_facts, dict(roots, lspci_path=str(fake)))
    assert not failed
    assert [g["catalog"]["name"] for g in result["ansible_facts"]["nvidia_gpus"]] == ["Tesla P10"]
    assert result["ansible_facts"]["nvidia_gpu_host"]["simulated"] is False


def fake_lspci(tmp_path, body: str) -> str:
    path = tmp_path / "fake-lspci"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_hung_lspci_is_killed_and_named(run, roots, tmp_path):
    start = time.monotonic()
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path, "sleep 30"), command_timeout=1))
    assert time.monotonic() - start < 15
    assert failed
    assert result["msg"].startswith(f"{tmp_path}/fake-lspci -vmm -nn -D -k did not finish within 1 s"
                                    " (command_timeout) and was killed.")
    assert "stops answering config-space reads" in result["msg"]


def test_hung_link_query_is_killed_too(run, roots, tmp_path):
    """The second lspci (-vv, for link facts sysfs lacks) has the same limit."""
    body = f'case "$1" in -vv) sleep 30;; *) exec {LSPCI} "$@" -F {dump("tesla_p10.dump")};; esac'
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path, body), command_timeout=1))
    assert failed and " -vv -nn -D did not finish within 1 s" in result["msg"]


def test_lspci_output_ok_is_a_fact(run, roots):
    failed, result = run(dict(roots, lspci_dump=dump("no_nvidia.dump")))
    assert not failed and result["ansible_facts"]["nvidia_gpu_host"]["lspci_output"] == "ok"


def test_garbage_output_is_unreadable_not_no_gpu(run, roots, tmp_path):
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path, "echo 'Segmentation fault (core dumped)'"),
                              require_gpu=True))
    assert failed
    assert result["msg"].startswith("require_gpu: cannot tell whether an NVIDIA GPU is present: lspci's output"
                                    " could not be read: no PCI device record in its 1 line(s), which start"
                                    " 'Segmentation fault (core dumped)'")
    assert "power on" not in result["msg"] and "[no_gpu]" not in result["msg"]
    host = result["ansible_facts"]["nvidia_gpu_host"]
    assert host["lspci_output"] == "unreadable" and host["verdict"]["problems"] == []


@pytest.mark.parametrize(("args", "says"), [
    ({"command_timeout": 0}, "command_timeout must be seconds, from 1 to 3600; got 0."),
    ({"driver_branch": 58}, "driver_branch must be an NVIDIA driver branch number such as 580, from 100 to 9999"),
    ({"page_size": 4095}, "page_size must be the kernel page size in bytes, a power of two from 4096 to 262144"),
    ({"page_size": 0}, "got 0."),
    ({"sysfs_root": "/sys\x00/x"}, "sysfs_root contains a NUL byte"),
])
def test_option_bounds(run, roots, args, says):
    failed, result = run(dict(roots, lspci_dump=dump("tesla_p10.dump"), **args))
    assert failed and says in result["msg"]


def test_lspci_path_that_cannot_run(run, roots, tmp_path):
    path = tmp_path / "lspci"
    path.write_text("not a program\n")
    path.chmod(0o755)
    failed, result = run(dict(roots, lspci_path=str(path)))
    assert failed and result["msg"].startswith(f"cannot run {path}: Exec format error")
