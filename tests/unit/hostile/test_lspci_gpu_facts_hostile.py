# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile input for lspci_gpu_facts: every case is a clean failure with a message or the documented result.

lspci is a fake shell script (no pciutils needed) that prints what a case gives it, so the module runs its
real command path: a time limit, rc 0 with junk, rc != 0, a bad lspci_path; options take out-of-range values;
sysfs and lspci -vv report impossible links. Issue #11.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.modules import lspci_gpu_facts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

UNREADABLE = "lspci's output could not be read"
GPU_RECORD = (
    "Slot:\t0000:01:00.0\nClass:\t3D controller [0302]\nVendor:\tNVIDIA Corporation [10de]\n"
    "Device:\tGP102GL [Tesla P10] [1b39]\nSVendor:\tNVIDIA Corporation [10de]\nSDevice:\tDevice [1217]\n"
    "Rev:\ta1\n"
)
BRIDGE_RECORD = ("Slot:\t0000:00:00.0\nClass:\tHost bridge [0600]\nVendor:\tIntel Corporation [8086]\n"
                 "Device:\tX [3e0f]\n")
VV_OK = ("0000:01:00.0 3D controller [0302]: NVIDIA Corporation GP102GL [Tesla P10] [10de:1b39]\n"
         "\t\tLnkCap:\tPort #0, Speed 8GT/s, Width x16, ASPM L0s L1\n\t\tLnkSta:\tSpeed 8GT/s, Width x16\n")
HYPOTHESIS = settings(max_examples=40, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def fake_lspci(tmp_path: Path, vmm: bytes | str = GPU_RECORD, vv: bytes | str = VV_OK, err: bytes | str = b"",
               rc: int = 0, before: str = "") -> str:
    """An lspci that prints `vmm` for -vmm and `vv` for -vv (files, so any byte goes), `err` on stderr."""
    for name, data in (("vmm", vmm), ("vv", vv), ("err", err)):
        (tmp_path / f"fake.{name}").write_bytes(data.encode() if isinstance(data, str) else data)
    script = tmp_path / "fake-lspci"
    script.write_text(f'#!/bin/sh\n{before}\ncase " $* " in *" -vv "*) cat {tmp_path}/fake.vv; exit 0;; esac\n'
                      f"cat {tmp_path}/fake.vmm; cat {tmp_path}/fake.err >&2; exit {rc}\n")
    script.chmod(0o755)
    return str(script)


@pytest.fixture
def run(run_module):
    """run(args) -> (failed, result), with the result checked for a crash first."""
    def go(args: dict) -> tuple[bool, dict]:
        failed, result = run_module(lspci_gpu_facts, args)
        assert_clean(failed, result)
        return failed, result
    return go


def assert_clean(failed: bool, result: dict) -> None:
    """No traceback and no generic module failure; a failure has a message, a success has the facts."""
    text = json.dumps(result)
    for marker in ("Traceback", "MODULE FAILURE", "Module failed"):
        assert marker not in text, text[:2000]
    if failed:
        assert isinstance(result.get("msg"), str) and len(result["msg"]) > 10, result
    else:
        facts = result["ansible_facts"]
        assert isinstance(facts["nvidia_gpus"], list)
        assert facts["nvidia_gpu_host"]["lspci_output"] in ("ok", "partial", "unreadable")
        assert result["changed"] is False


def no_power_on_advice(result: dict) -> None:
    """Unreadable output proves nothing about the bus: no no_gpu problem and no eGPU power-on order."""
    text = json.dumps([result.get("msg", ""), result.get("warnings", [])])
    assert "[no_gpu]" not in text and "power on its PSU" not in text
    host = result["ansible_facts"]["nvidia_gpu_host"]
    assert all(p["code"] != "no_gpu" for p in host["verdict"]["problems"])


# --- 1. a hung lspci is killed and named ----------------------------------------------------------------

@pytest.mark.parametrize(("before", "vv", "names"), [
    ("sleep 30", VV_OK, "-vmm -nn -D -k"),  # the bus listing hangs
    ('case " $* " in *" -vv "*) sleep 30;; esac', VV_OK, "-vv -nn -D"),  # the link query (sysfs has no link)
    ("(sleep 30) &", VV_OK, "-vmm -nn -D -k"),  # lspci exits, a child keeps its stdout open
])
def test_hung_lspci_fails_within_the_limit(run, roots, tmp_path, before, vv, names):
    start = time.monotonic()
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path, vv=vv, before=before), command_timeout=1))
    assert time.monotonic() - start < 20
    assert failed
    assert f"{names} did not finish within 1 s (command_timeout) and was killed" in result["msg"]
    assert "config-space reads" in result["msg"]


# --- 2. numeric options are bounded --------------------------------------------------------------------

BAD_NUMBERS = [
    ("driver_branch", -1), ("driver_branch", 0), ("driver_branch", 99), ("driver_branch", 10000),
    ("driver_branch", 2**63), ("page_size", 0), ("page_size", -4096), ("page_size", 1), ("page_size", 4095),
    ("page_size", 12288), ("page_size", 524288), ("page_size", 2**40), ("command_timeout", 0),
    ("command_timeout", -5), ("command_timeout", 3601), ("command_timeout", 10**12),
]


@pytest.mark.parametrize(("name", "value"), BAD_NUMBERS)
def test_out_of_range_option_is_a_clean_failure(run, roots, tmp_path, name, value):
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path), **{name: value}))
    assert failed and result["msg"].startswith(f"{name} must be ") and f"got {value}." in result["msg"]


@pytest.mark.parametrize(("name", "value"), [
    ("driver_branch", "580.95.05"), ("driver_branch", "latest"), ("page_size", "16k"), ("command_timeout", "soon"),
    ("command_timeout", [30]),
])
def test_option_of_the_wrong_type_is_a_clean_failure(run, roots, tmp_path, name, value):
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path), **{name: value}))
    assert failed and name in result["msg"]


@pytest.mark.parametrize(("name", "value"), [
    ("driver_branch", 100), ("driver_branch", 580), ("driver_branch", 9999), ("page_size", 4096),
    ("page_size", 16384), ("page_size", 65536), ("command_timeout", 1), ("command_timeout", 3600),
])
def test_in_range_option_is_accepted(run, roots, tmp_path, name, value):
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path), **{name: value}))
    assert not failed, result.get("msg")
    if name == "page_size":
        assert result["ansible_facts"]["nvidia_gpu_host"]["page_size"] == value


@HYPOTHESIS
@given(name=st.sampled_from(["driver_branch", "page_size", "command_timeout"]),
       value=st.one_of(st.integers(), st.integers(min_value=-10, max_value=70000)))
def test_any_integer_option_is_checked(run, roots, tmp_path, name, value):
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path), **{name: value}))
    valid = {"driver_branch": 100 <= value <= 9999, "command_timeout": 1 <= value <= 3600,
             "page_size": 4096 <= value <= 262144 and value & (value - 1) == 0}[name]
    assert failed is not valid, result.get("msg")
    if failed:
        assert result["msg"].startswith(f"{name} must be ")


# --- 3. lspci exits 0 but its output cannot be read ------------------------------------------------------

GARBAGE = {
    "elf binary": b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4,
    "nul bytes": b"\x00" * 4096,
    "invalid utf-8": b"\xff\xfe\xfd Slot \xc3\x28\n\xa0\xa1\n",
    "random text": "the quick brown fox jumps over the lazy dog\n" * 3,
    "terminal escapes": "\x1b[2J\x1b[31mred\x1b[0m\r\n\x07",
    "html error page": "<html><body><h1>502 Bad Gateway</h1></body></html>\n",
    "json": '{"devices": [{"slot": "01:00.0", "vendor": "10de"}]}\n',
    "vv format instead of vmm": VV_OK,
    "vmm without -nn ids": ("Slot:\t0000:01:00.0\nClass:\t3D controller\nVendor:\tNVIDIA Corporation\n"
                            "Device:\tGP102GL\n"),
    "truncated record": GPU_RECORD[:40],
    "only keys, no slot": "Class:\t3D controller [0302]\nVendor:\tNVIDIA Corporation [10de]\nDevice:\tX [1b39]\n",
    "bad slot": GPU_RECORD.replace("0000:01:00.0", "0000:01:00.9"),
    "one huge line": "A" * 1_000_000,
    "ten thousand junk lines": "junk\n" * 10_000,
    "unicode junk": "\u202e\u2028\u0663\u00b2:\u200b\ufffd\n" * 5,
    "whitespace only, stderr says why": " \n\t\n",
}


@pytest.mark.parametrize("case", sorted(GARBAGE))
def test_garbage_output_is_a_warning_not_no_gpu(run, roots, tmp_path, case):
    err = "lspci: Cannot open /sys/bus/pci/devices\n" if case.startswith("whitespace") else ""
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path, vmm=GARBAGE[case], err=err)))
    assert not failed, result.get("msg")
    assert result["ansible_facts"]["nvidia_gpus"] == []
    assert result["ansible_facts"]["nvidia_gpu_host"]["lspci_output"] == "unreadable"
    warnings = [w for w in result["warnings"] if w.startswith(UNREADABLE)]
    assert len(warnings) == 1 and "whether an NVIDIA GPU is present is unknown" in warnings[0]
    assert len(result["warnings"]) <= 8 and all(len(w) < 1000 for w in result["warnings"])  # an excerpt, capped
    no_power_on_advice(result)


@pytest.mark.parametrize("case", ["elf binary", "random text", "truncated record", "json"])
def test_garbage_output_with_require_gpu_cannot_tell(run, roots, tmp_path, case):
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path, vmm=GARBAGE[case]), require_gpu=True))
    assert failed
    assert result["msg"].startswith(f"require_gpu: cannot tell whether an NVIDIA GPU is present: {UNREADABLE}")
    no_power_on_advice(result)


@pytest.mark.parametrize(("err", "says"), [
    ("pcilib: Cannot open /sys/bus/pci/devices\n", "said on stderr 'pcilib: Cannot open"),
    ("\x00\xff binary on stderr", "said on stderr"),
])
def test_empty_stdout_with_stderr_is_unreadable(run, roots, tmp_path, err, says):
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path, vmm="", err=err.encode("latin-1"))))
    assert not failed
    assert any(w.startswith(UNREADABLE) and says in w for w in result["warnings"])
    no_power_on_advice(result)


def test_empty_bus_is_read_fine_and_no_gpu_applies(run, roots, tmp_path):
    """Nothing on stdout or stderr is a board without PCI devices: then require_gpu's no_gpu advice is right."""
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path, vmm=""), require_gpu=True))
    assert failed and result["msg"].startswith("[no_gpu] No NVIDIA GPU is enumerated on the PCI bus.")
    assert result["ansible_facts"]["nvidia_gpu_host"]["lspci_output"] == "ok"


def test_empty_dump_output_is_unreadable(run, roots, tmp_path):
    dump = tmp_path / "not-a-dump.txt"
    dump.write_text("hello\n")
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path, vmm=""), lspci_dump=str(dump)))
    assert not failed
    assert any(w.startswith(UNREADABLE) and f"the dump {dump} holds no device" in w for w in result["warnings"])


@pytest.mark.parametrize("tail", [GARBAGE["random text"], GARBAGE["truncated record"], "junk\n" * 100])
def test_partial_output_keeps_the_gpu_and_says_so(run, roots, tmp_path, tail):
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path, vmm=BRIDGE_RECORD + "\n" + GPU_RECORD + "\n"
                                                           + tail)))
    assert not failed
    assert [g["device_id"] for g in result["ansible_facts"]["nvidia_gpus"]] == ["1b39"]
    assert result["ansible_facts"]["nvidia_gpu_host"]["lspci_output"] == "partial"
    assert result["warnings"][0].startswith(f"{UNREADABLE} in full:")
    assert len(result["warnings"]) <= 1 + 5 + 1 + 2  # summary, capped errors, "... and N more", verdict warnings


def test_partial_output_without_a_gpu_cannot_tell(run, roots, tmp_path):
    vmm = BRIDGE_RECORD + "\n" + GPU_RECORD[:60]  # the listing stops inside the GPU's record
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path, vmm=vmm), require_gpu=True))
    assert failed and result["msg"].startswith("require_gpu: cannot tell whether an NVIDIA GPU is present")
    no_power_on_advice(result)


@HYPOTHESIS
@given(data=st.binary(max_size=4096), require_gpu=st.booleans())
def test_random_bytes_as_lspci_output(run, roots, tmp_path, data, require_gpu):
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path, vmm=data), require_gpu=require_gpu))
    host = result["ansible_facts"]["nvidia_gpu_host"]
    if host["lspci_output"] != "ok":
        no_power_on_advice(result)
        assert any(w.startswith(UNREADABLE) for w in result["warnings"])
    if failed:
        assert require_gpu


VMM_PIECES = st.sampled_from([*GPU_RECORD.splitlines(), *BRIDGE_RECORD.splitlines(), "", "", "Slot:", "x",
                              "Device:\t[zzzz]", "Class:\tVGA [0300]", "\x00", "Vendor:\tNVIDIA [10de"])


@HYPOTHESIS
@given(text=st.one_of(st.text(max_size=2000), st.lists(VMM_PIECES, max_size=40).map("\n".join)),
       require_gpu=st.booleans())
def test_random_text_as_lspci_output(run, roots, tmp_path, text, require_gpu):
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path, vmm=text), require_gpu=require_gpu))
    host = result["ansible_facts"]["nvidia_gpu_host"]
    if host["lspci_output"] != "ok":
        no_power_on_advice(result)
    assert len(result["warnings"]) <= 1 + 5 + 1 + 4
    if failed and host["lspci_output"] == "ok":
        assert result["msg"].startswith("[no_gpu]")


# --- 4. lspci fails or cannot run -----------------------------------------------------------------------

@pytest.mark.parametrize(("rc", "err"), [(1, b"lspci: Cannot find any working access method.\n"),
                                         (2, b"\xff\xfe\x00 junk"), (127, b"")])
def test_lspci_nonzero_exit_is_a_clean_failure(run, roots, tmp_path, rc, err):
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path, vmm="", err=err, rc=rc)))
    assert failed and f"failed (rc={rc})" in result["msg"]


def test_lspci_killed_by_a_signal(run, roots, tmp_path):
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path, before="kill -SEGV $$")))
    assert failed and "failed (rc=-11)" in result["msg"]


@pytest.mark.parametrize("kind", ["directory", "not executable", "no shebang", "missing"])
def test_bad_lspci_path(run, roots, tmp_path, kind):
    path = tmp_path / "lspci"
    if kind == "directory":
        path.mkdir()
    elif kind in ("not executable", "no shebang"):
        path.write_text("#!/bin/sh\necho hi\n" if kind == "not executable" else "echo hi\n")
        path.chmod(0o644 if kind == "not executable" else 0o755)
    failed, result = run(dict(roots, lspci_path=str(path)))
    assert failed
    assert "install pciutils" in result["msg"] or result["msg"].startswith(f"cannot run {path}")


@pytest.mark.parametrize("name", ["lspci_path", "lspci_dump", "sysfs_root", "proc_root", "device_tree_root",
                                  "modprobe_dir", "supported_gpus_json"])
def test_nul_byte_in_a_path_option(run, roots, tmp_path, name):
    value = f"{tmp_path}/x\x00y"
    args = dict(roots, lspci_path=fake_lspci(tmp_path))
    args[name] = [value] if name == "supported_gpus_json" else value
    failed, result = run(args)
    assert failed and f"{name} contains a NUL byte" in result["msg"]


# --- 5. impossible link values from sysfs and lspci -vv are unknown, not a verdict --------------------

def write_sysfs_link(roots: dict, speeds: tuple[str, str], widths: tuple[str, str]) -> None:
    device = Path(roots["sysfs_root"]) / "bus" / "pci" / "devices" / "0000:01:00.0"
    device.mkdir(parents=True)
    for name, value in zip(("current_link_speed", "max_link_speed", "current_link_width", "max_link_width"),
                           (*speeds, *widths), strict=True):
        (device / name).write_text(value + "\n")


@pytest.mark.parametrize(("speeds", "widths", "field"), [
    (("8.0 GT/s PCIe", "8.0 GT/s PCIe"), ("1", "4096"), "max_width"),
    (("8.0 GT/s PCIe", "8.0 GT/s PCIe"), ("0", "16"), "current_width"),
    (("8.0 GT/s PCIe", "8.0 GT/s PCIe"), ("-1", "16"), "current_width"),
    (("8.0 GT/s PCIe", "8.0 GT/s PCIe"), ("16", "99999999999999999999"), "max_width"),
    (("0.0 GT/s PCIe", "8.0 GT/s PCIe"), ("16", "16"), "current_speed"),
    (("2.5 GT/s PCIe", "999999 GT/s PCIe"), ("16", "16"), "max_speed"),
])
def test_impossible_sysfs_link_is_unknown(run, roots, tmp_path, speeds, widths, field):
    write_sysfs_link(roots, speeds, widths)
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path)))
    assert not failed
    link = result["ansible_facts"]["nvidia_gpus"][0]["link"]
    assert link[field] is None
    assert any(w.startswith("sysfs 0000:01:00.0: ") and "is unreadable (a PCIe link is" in w
               for w in result["warnings"])
    assert not any(w.startswith("[pcie_link_degraded]") for w in result["warnings"])


@pytest.mark.parametrize(("vv", "field"), [
    (VV_OK.replace("Width x16, ASPM", "Width x4096, ASPM"), "max_width"),
    (VV_OK.replace("Speed 8GT/s, Width x16\n", "Speed 8GT/s, Width x0\n"), "current_width"),
    (VV_OK.replace("Speed 8GT/s, Width x16, ASPM", "Speed 999GT/s, Width x16, ASPM"), "max_speed"),
])
def test_impossible_vv_link_is_unknown(run, roots, tmp_path, vv, field):
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path, vv=vv)))
    assert not failed
    assert result["ansible_facts"]["nvidia_gpus"][0]["link"][field] is None
    assert any(w.startswith("lspci 0000:01:00.0: ") and "is unreadable" in w for w in result["warnings"])
    assert not any(w.startswith("[pcie_link_degraded]") for w in result["warnings"])


@HYPOTHESIS
@given(values=st.lists(st.one_of(st.integers(-10**6, 10**6).map(str), st.text(max_size=20),
                                 st.floats(allow_nan=True).map(lambda f: f"{f} GT/s PCIe")), min_size=4, max_size=4))
def test_any_sysfs_link_text(run, roots, tmp_path, values):
    device = Path(roots["sysfs_root"]) / "bus" / "pci" / "devices" / "0000:01:00.0"
    device.mkdir(parents=True, exist_ok=True)
    for name, value in zip(("current_link_speed", "max_link_speed", "current_link_width", "max_link_width"),
                           values, strict=True):
        (device / name).write_bytes(value.encode("utf-8", "surrogatepass"))
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path)))
    assert not failed
    link = result["ansible_facts"]["nvidia_gpus"][0]["link"]
    for key in ("current_width", "max_width"):
        assert link[key] is None or 1 <= link[key] <= 32
    for key in ("current_speed", "max_speed"):
        assert link[key] is None or 0 < link[key] <= 128


# --- 6. hostile host files ------------------------------------------------------------------------------

def test_junk_numa_iommu_and_device_tree(run, roots, tmp_path):
    device = Path(roots["sysfs_root"]) / "bus" / "pci" / "devices" / "0000:01:00.0"
    device.mkdir(parents=True)
    (device / "numa_node").write_text("\u0663\n")
    (Path(roots["sysfs_root"]) / "\u00b2").mkdir()
    (device / "iommu_group").symlink_to(Path(roots["sysfs_root"]) / "\u00b2")
    (Path(roots["device_tree_root"]) / "model").write_bytes(b"\xff\xfe\x00Raspberry Pi 5\x00")
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path)))
    assert not failed
    gpu = result["ansible_facts"]["nvidia_gpus"][0]
    assert (gpu["numa_node"], gpu["iommu_group"]) == (None, None)


@pytest.mark.parametrize(("content", "says"), [
    (b"{not json", "is not valid JSON"), (b"\xff\xfe{}", "is not UTF-8 text"), (b"[]", "has no 'chips' list"),
    (b'{"chips": "x"}', "has no 'chips' list"), (b'{"chips": [1, null]}', None),
])
def test_junk_supported_gpus_json(run, roots, tmp_path, content, says):
    path = tmp_path / "supported-gpus.json"
    path.write_bytes(content)
    failed, result = run(dict(roots, lspci_path=fake_lspci(tmp_path), supported_gpus_json=[str(path)]))
    assert not failed
    assert result["ansible_facts"]["nvidia_gpus"][0]["catalog"]["name"] == "Tesla P10"  # the built-in catalog
    named = [w for w in result["warnings"] if w.startswith(str(path))]
    assert (says in named[0] and "using the built-in catalog" in named[0]) if says else named == []
