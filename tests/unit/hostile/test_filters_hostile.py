# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile input for the filters of the GPU plan, driver, apt, kernel headers, ML, Jupyter and validate (issue #31).

Written as a careless inventory or a hostile operator would: every argument of every filter replaced by arbitrary
types and text, and fields deep inside valid input replaced the same way. Each call either returns or raises
AnsibleFilterError with a sentence - never another exception, never the catch-all of _filter_errors ("cannot read
its input") and never Python's own words about types. For the issue's classes (a verdict or a problem list of the
wrong type, a registered result that is a string, a GPU name with bytes that are not UTF-8, inf/nan/an overflowing
number, a string where a list belongs, "false" from -e) the sentence names the variable. The Jupyter unit and the
Markdown report are rendered and parsed: the unit has its lines and nothing else, every table row the header's
column count.
"""
from __future__ import annotations

import copy
import importlib
import os
import re
import shlex
from pathlib import Path

import jinja2
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_plan, _gpu_verdict
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _ml_jupyter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[3]
PLUGINS = ("apt_policy", "apt_unsatisfied", "container_runtime", "gpu_catalog", "gpu_plan", "kernel_headers",
           "ml_jupyter", "ml_plan", "nvidia_driver_runfile", "nvidia_driver_runtime", "upgrade_driver",
           "validate_checks")
FILTERS = {}
for _plugin in PLUGINS:
    FILTERS.update(importlib.import_module(
        f"ansible_collections.homelab.nvidia_gpu.plugins.filter.{_plugin}").FilterModule().filters())
HYPOTHESIS = settings(max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "60")), deadline=None,
                      suppress_health_check=[HealthCheck.too_slow])
# What a sentence for a person never holds: the catch-all's words, and Python's words about its own types.
RAW = re.compile(r"cannot read its input|object is not|has no attribute|not subscriptable|unhashable|positional"
                 r"|keyword argument|bytes-like|NoneType|'(?:int|str|float|bool|list|dict|bytes)' object"
                 r"|can't (?:convert|concat)|invalid literal|codec|Traceback|must be str, not")

# --- valid input per filter, from the real verdict code ------------------------------------------------------------
_GPUS, _HOST = _gpu_verdict.judge(
    [{"address": "0000:01:00.0", "device_id": "1b39", "driver": None,
      "link": {"current_speed": 5.0, "current_width": 1, "max_speed": 8.0, "max_width": 16}}],
    {"platform": "generic", "page_size": 4096, "architecture": "x86_64", "simulated": True})
_PLAN = _gpu_plan.host_plan(_GPUS, _HOST, {"gpu_node": True}, "node-1")
_NODE = {"tools": {"docker": "/usr/bin/docker", "ctr": "/usr/bin/ctr", "containerd": "/usr/bin/containerd"},
         "engines": ["docker", "containerd"], "gpu_present": False, "kernels": ["6.1.0-26-amd64"],
         "image": "busybox", "sample": "", "namespace": "validate", "snapshotter": "overlayfs",
         "runtime_path": "/usr/bin/nvidia-container-runtime", "container_id": "validate-1"}
_CHECKS = FILTERS["validate_check_plan"](_NODE)
_RUNS = [{"item": check, "rc": 0, "stdout": "nvidia installed", "stderr": ""} for check in _CHECKS]
_VALIDATE_NODE = FILTERS["validate_node_result"](
    FILTERS["validate_check_results"](_CHECKS, _RUNS), False, {"rc": 9, "stdout": "", "stderr": "no devices"},
    {"rc": 0, "stdout": "CUDA Version: 13.0"}, [{"rc": 0, "stdout": "580.95.05"}], True, True, "node-1")
_HOSTVARS = {"node-1": {"ansible_facts": {"nvidia_gpus": _GPUS, "nvidia_gpu_host": _HOST},
                        "nvidia_gpu_plan": _PLAN, "validate_node": _VALIDATE_NODE, "ansible_host": "192.168.1.10",
                        "upgrade_driver_result": {"result": "upgraded", "from": "580.82.07", "to": "580.95.05"},
                        "llama_cpp_bench": {"backend": "cpu", "model": "tiny.gguf",
                                            "figures": [{"test": "pp64", "tokens_per_second": 12.5}]}},
             "pi4": {"ansible_host": "192.168.1.11"}}
_POLICY = ("nvidia-kernel-dkms:\n  Installed: 580.82.07-1\n  Candidate: 580.95.05-1\n  Version table:\n"
           "     580.95.05-1 500\n        500 https://example.org/cuda  Packages\n"
           " *** 580.82.07-1 500\n        100 /var/lib/dpkg/status\n"
           "nvidia-driver-cuda:\n  Installed: 580.82.07-1\n  Candidate: 580.95.05-1\n  Version table:\n"
           "     580.95.05-1 500\n        500 https://example.org/cuda  Packages\n")
_DPKG = "ii \tgpg\t2.2.40-1.1\nhi \tpciutils\t1:3.9.0-4\n"
_ML = FILTERS["ml_plan"](_PLAN, {"toolkit_version": "auto", "release": "bookworm"})
_JUPYTER = {"source": "pip", "release": "bookworm", "address": "127.0.0.1", "port": 8888,
            "token": "a" * 32, "password_hash": "", "root_dir": "/srv/jupyter", "venv": "/opt/jupyterlab",
            "env": "/opt/ml/torch", "user": "jupyter", "config_dir": "/etc/homelab-jupyter"}
VALID = {
    "apt_policy": (_POLICY, ["nvidia-kernel-dkms"], "candidate"),
    "apt_missing": (_POLICY, ["nvidia-kernel-dkms", "gpg"]),
    "apt_upstream_version": ("1:580.95.05-1",),
    "apt_unsatisfied": (_DPKG, ["gpg", "pciutils=1:3.9.*", "curl"]),
    "apt_dpkg_query_argv": (["gpg", "pciutils"],),
    "apt_dpkg_status": (_DPKG, ["gpg", "curl"]),
    "containerd_settings": ({"version": 2, "exists": True, "empty": False, "runc_runtimes": ["runc"],
                             "disabled_plugins": ["cri"]}, True, "registry.k8s.io/pause:3.10", True, {}),
    "gpu_catalog_lookup": ("10de:1bb3",),
    "board_platform": ("Raspberry Pi 5 Model B Rev 1.0",),
    "gpu_plan": (_GPUS, _HOST, {"gpu_node": True, "branch": "auto"}, "node-1"),
    "gpu_plan_summary_lines": (_HOSTVARS, ["node-1", "pi4"], ["node-1"]),
    "site_address_problems": (_HOSTVARS, ["node-1", "pi4"], "192.168.1.0/24", True),
    "kernel_headers_plan": ("6.1.0-26-amd64", ["6.1.0-27-amd64"], True, ["6.1.0-28-amd64"], False, False,
                            {"distro": "the Debian archive"}),
    "ml_jupyter_plan": (_JUPYTER,),
    "ml_plan": (_PLAN, {"toolkit_version": "auto", "release": "bookworm", "cudnn": True}),
    "ml_torch_reinstall": ("2.8.0+cu126", _ML["torch_install"]),
    "ml_workstation_summary": (_ML, _ML, {"version": "2.8.0+cu126", "matmul": {"ran": True, "device": "cuda"}}),
    "ml_pip_conf": ("https://pypi.lan/simple", ["pypi.lan", "10.0.0.5:8080"], "/opt/ml/torch"),
    "nvidia_driver_runfile_problems": ("https://example.org/NVIDIA-Linux-x86_64-580.95.05.run", "sha256:" + "a" * 64,
                                       False),
    "nvidia_driver_runfile_version": ("https://example.org/NVIDIA-Linux-x86_64-580.95.05.run",),
    "nvidia_driver_reboot_reasons": ({"container": False, "gpu_present": True, "headers_reboot": False,
                                      "kernel": "6.1.0-26-amd64", "kernels": ["6.1.0-26-amd64"],
                                      "nouveau_loaded": False, "loaded_version": "",
                                      "installed_version": "580.95.05"},),
    "nvidia_driver_runtime_skip": ({"container": False, "virtualization_type": "kvm", "gpu_present": True,
                                    "simulated": False, "reasons": ["x"], "rebooted": False, "check_mode": False,
                                    "installed_version": "580.95.05"},),
    "nvidia_driver_smi_facts": ({"query_lines": ["Tesla P10, 580.95.05"], "smi_stdout": "CUDA Version: 13.0",
                                 "skip_reason": ""},),
    "nvidia_driver_in_container": ({"virtualization_role": "guest", "virtualization_type": "docker"},),
    "nvidia_driver_dkms_missing": ([{"item": "6.1.0-26-amd64", "stdout": "nvidia/580: added"}],),
    "nvidia_driver_dkms_failure": ({"name": "nvidia", "version": "580.95.05", "kernels": ["6.1.0-26-amd64"],
                                    "missing": ["6.1.0-26-amd64"],
                                    "installs": [{"item": "6.1.0-26-amd64", "rc": 10, "stderr_lines": ["Error! x"]}],
                                    "make_logs": [{"item": "6.1.0-26-amd64", "stdout": "cc: error"}]},),
    "nvidia_driver_install_rollback": (["ii |dkms|3.2.2"], ["ii |dkms|3.2.2", "iF |nvidia-open-kernel-dkms|550-2"]),
    "nvidia_driver_build_failure": ({"package": "nvidia-open-kernel-dkms", "version": "550.163.01-2", "flavour": "open",
                                     "source": "debian", "dkms_name": "nvidia-current-open",
                                     "kernels": ["6.12.118+deb13-amd64"], "make_log": "a.c:1:2: error: x",
                                     "log_path": "/var/log/nvidia_driver/x.log", "rollback": {"purge": ["x"]},
                                     "left": ""},),
    "upgrade_driver_decision": (_POLICY, {"packages": ["nvidia-driver-cuda", "nvidia-kernel-dkms"],
                                          "dkms_package": "nvidia-kernel-dkms"}, "cuda_repo", 580, ""),
    "upgrade_driver_summary": (_HOSTVARS, ["node-1", "pi4"], "580", "", False),
    "upgrade_driver_failure": ("Driver is installed", {"msg": "failed", "stdout_lines": ["E: broken"]}),
    "validate_check_plan": (_NODE,),
    "validate_check_results": (_CHECKS, _RUNS),
    "validate_tools": (["docker=/usr/bin/docker", "ctr="],),
    "validate_ctr_image": ("busybox",),
    "upgrade_gpu_containers": (["0123456789abcdef nvidia null []"],),
    "validate_report": (_HOSTVARS, ["node-1", "pi4"], "2026-12-07 10:00 UTC"),
    "validate_node_result": (_CHECKS, False, {"rc": 9, "stdout": ""}, {"rc": 0, "stdout": ""},
                             [{"rc": 0, "stdout": "580.95.05"}], True, False, "node-1"),
    "validate_refused_node": ([{"code": "pi5_16k_page_kernel", "message": "x"}],),
}

# --- hostile values ------------------------------------------------------------------------------------------------
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63), st.floats(),
    st.sampled_from([float("inf"), float("-inf"), float("nan"), 2**1100, -0.0]),
    st.text(), st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Zl", "Zp", "Cs", "Sm", "Po"])),
    st.sampled_from(["false", "maybe", "a|b", "x\ny", "\udcff\udcfeGPU", "Tesla P4 | x", "\u2028", "../..", "$(id)",
                     "0.0.0.0", "65536", "-1", "gpu_nodes", "580", "nan", "inf"]),
    st.binary(max_size=8))
HOSTILE = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(
        ["rc", "stdout", "stderr", "item", "check", "code", "severity", "message", "problems", "verdict", "catalog",
         "name", "link", "gpu_present", "results", "packages", "x"]), inner, max_size=3)), max_leaves=6)


def _paths(value, path=()):
    """Every place inside a valid input a hostile value can go: the value itself, each dict key, each list item."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            yield from _paths(item, (*path, index))


def _put(value, path, new):
    if not path:
        return new
    value = copy.deepcopy(value)
    target = value
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return value


def _call(name, args):
    """The filter's outcome: its value, or the sentence of its AnsibleFilterError; any other exception fails."""
    try:
        return FILTERS[name](*args), None
    except AnsibleFilterError as exc:
        message = str(exc)
        assert not RAW.search(message), f"{name}: a raw error, not a sentence: {message}"
        assert message.split(":", 1)[0].split(" ", 1)[0] in FILTERS, f"{name}: the sentence names no filter: {message}"
        return None, message


def test_every_filter_is_wrapped_and_has_a_valid_case():
    assert set(VALID) == set(FILTERS)
    for name, fn in FILTERS.items():
        assert hasattr(fn, "__wrapped__"), f"{name} does not go through safe_filters"
        _value, problem = _call(name, VALID[name])
        assert problem is None, f"{name} refuses its valid case: {problem}"


@pytest.mark.parametrize("name", sorted(VALID))
@HYPOTHESIS
@given(data=st.data())
def test_any_argument_replaced_by_anything_gives_a_value_or_a_sentence(name, data):
    args = list(VALID[name])
    index = data.draw(st.integers(0, len(args) - 1), label="argument")
    paths = list(_paths(args[index]))
    path = data.draw(st.sampled_from(paths), label="where")
    args[index] = _put(args[index], path, data.draw(HOSTILE, label="value"))
    _call(name, args)


# --- the classes, each naming the variable -----------------------------------------------------------------

def _refused(name, args, *words):
    value, problem = _call(name, args)
    assert problem is not None, f"{name} accepted {args!r}: {value!r}"
    for word in words:
        assert word in problem, f"{name}: {problem!r} does not name {word!r}"
    return problem


def _with(name, index, path, new):
    args = list(VALID[name])
    args[index] = _put(args[index], path, new)
    return args


@pytest.mark.parametrize("bad", ["can work", ["blocking"], 5, float("nan")])
def test_a_verdict_of_the_wrong_type_is_named(bad):
    _refused("validate_report", _with("validate_report", 0, ("node-1", "nvidia_gpu_plan", "verdict"), bad),
             "node-1", "verdict")


@pytest.mark.parametrize("bad", ["pi5_16k_page_kernel", {"code": "x"}, ["x"], 3])
def test_a_problem_list_of_the_wrong_type_is_named(bad):
    _refused("validate_report", _with("validate_report", 0, ("node-1", "nvidia_gpu_plan", "verdict", "problems"),
                                      bad), "problems")
    _refused("validate_refused_node", (bad,), "refusals")
    _refused("gpu_plan_summary_lines", _with("gpu_plan_summary_lines", 0, ("node-1", "nvidia_gpu_plan", "refusals"),
                                             bad), "node-1", "refusals")


@pytest.mark.parametrize(("name", "index", "path", "words"), [
    ("validate_node_result", 2, (), ("nvidia-smi --query-gpu result",)),
    ("validate_node_result", 3, (), ("nvidia-smi result",)),
    ("validate_node_result", 4, (0,), ("modinfo results[0]",)),
    ("validate_check_results", 1, (0,), ("registered results[0]",)),
    ("nvidia_driver_dkms_missing", 0, (0,), ("dkms status results[0]",)),
    ("nvidia_driver_dkms_failure", 0, ("installs", 0), ("installs",)),
])
def test_a_registered_result_that_is_a_string_is_named(name, index, path, words):
    _refused(name, _with(name, index, path, "580.95.05"), *words)


@pytest.mark.parametrize("gpu_name", ["\udcff\udcfe Tesla", "Tesla\udc80P4", "\ud800"])
def test_a_gpu_name_with_bytes_that_are_not_utf8_is_reported_not_a_crash(gpu_name):
    args = _with("validate_report", 0, ("node-1", "ansible_facts", "nvidia_gpus", 0, "catalog", "name"), gpu_name)
    report, problem = _call("validate_report", args)
    assert problem is None and "\ufffd" in report
    report.encode("utf-8")  # every character can be written
    gpus = args[0]["node-1"]["ansible_facts"]["nvidia_gpus"]
    lines = _gpu_plan.verdict_lines(gpus, [])
    assert "\ufffd" in lines[0]
    lines[0].encode("utf-8")
    summary, problem = _call("gpu_plan_summary_lines", _with("gpu_plan_summary_lines", 0,
                                                             ("node-1", "nvidia_gpu_plan", "gpu_names"), [gpu_name]))
    assert problem is None and "\ufffd" in summary[0]


@pytest.mark.parametrize("number", [float("inf"), float("-inf"), float("nan"), 2**70, 10.5, True])
def test_inf_nan_and_overflowing_numbers_are_refused_by_name(number):
    _refused("upgrade_driver_decision", _with("upgrade_driver_decision", 3, (), number), "branch")
    _refused("ml_jupyter_plan", _with("ml_jupyter_plan", 0, ("port",), number), "ml_jupyter_port")
    # a reading in the facts is reported as it is, never a crash
    report, problem = _call("validate_report", _with(
        "validate_report", 0, ("node-1", "ansible_facts", "nvidia_gpus", 0, "link", "current_speed"), number))
    assert problem is None and "| node-1 |" in report


@pytest.mark.parametrize(("name", "index", "path", "words"), [
    ("validate_report", 1, (), ("hosts",)),
    ("gpu_plan_summary_lines", 1, (), ("hosts",)),
    ("site_address_problems", 1, (), ("hosts",)),
    ("upgrade_driver_summary", 1, (), ("hosts",)),
    ("apt_missing", 1, (), ("packages",)),
    ("apt_policy", 1, (), ("packages",)),
    ("apt_unsatisfied", 1, (), ("specs",)),
    ("apt_dpkg_query_argv", 0, (), ("packages",)),
    ("apt_dpkg_status", 1, (), ("packages",)),
    ("kernel_headers_plan", 1, (), ("kernels",)),
    ("kernel_headers_plan", 3, (), ("installed_newer",)),
    ("validate_check_plan", 0, ("engines",), ("engines",)),
    ("validate_check_plan", 0, ("kernels",), ("kernels",)),
    ("validate_refused_node", 0, (), ("refusals",)),
    ("upgrade_driver_decision", 1, ("packages",), ("driver.packages",)),
    ("nvidia_driver_reboot_reasons", 0, ("kernels",), ("kernels",)),
    ("nvidia_driver_dkms_failure", 0, ("missing",), ("missing",)),
    ("nvidia_driver_build_failure", 0, ("kernels",), ("kernels",)),
    ("ml_plan", 1, ("available",), ("available",)),
    ("ml_pip_conf", 1, (), ("ml_python_pip_trusted_hosts",)),
])
def test_a_string_where_a_list_belongs_is_refused_not_read_letter_by_letter(name, index, path, words):
    problem = _refused(name, _with(name, index, path, "gpu_nodes"), *words)
    assert "must be a list" in problem or "must be" in problem


@pytest.mark.parametrize(("name", "index", "path", "flag"), [
    ("nvidia_driver_runfile_problems", 2, (), "nvidia_driver_runfile_allow_http"),
    ("containerd_settings", 1, (), "systemd_cgroup"),
    ("containerd_settings", 3, (), "cri"),
    ("kernel_headers_plan", 2, (), "include_running"),
    ("kernel_headers_plan", 4, (), "pi5_active"),
    ("ml_plan", 1, ("cudnn",), "cudnn"),
    ("validate_node_result", 1, (), "gpu_present"),
    ("validate_node_result", 5, (), "smi_installed"),
    ("validate_check_plan", 0, ("gpu_present",), "gpu_present"),
    ("upgrade_driver_summary", 4, (), "allow_skips"),
    ("site_address_problems", 3, (), "require_ip"),
    ("nvidia_driver_reboot_reasons", 0, ("gpu_present",), "gpu_present"),
    ("nvidia_driver_runtime_skip", 0, ("rebooted",), "rebooted"),
])
def test_flags_read_false_as_false_and_refuse_maybe(name, index, path, flag):
    for false in ("false", "no", "False", False):
        assert _call(name, _with(name, index, path, false))[1] is None
    _refused(name, _with(name, index, path, "maybe"), flag)
    _refused(name, _with(name, index, path, [False]), flag)


def test_false_as_a_string_changes_what_the_filter_decides():
    url = "http://mirror.lan/NVIDIA-Linux-x86_64-580.95.05.run"
    http = FILTERS["nvidia_driver_runfile_problems"]
    assert any("is http" in p for p in http(url, "sha256:" + "a" * 64, "false"))
    assert not any("is http" in p for p in http(url, "sha256:" + "a" * 64, "true"))
    assert FILTERS["ml_plan"](_PLAN, {"release": "bookworm", "cudnn": "false"})["cudnn"]["packages"] == []
    assert FILTERS["ml_plan"](_PLAN, {"release": "bookworm", "cudnn": "true"})["cudnn"]["packages"]
    assert FILTERS["kernel_headers_plan"]("6.1.0-26-amd64", [], "false")["targets"] == []
    settings_ = FILTERS["containerd_settings"]({"version": 2}, "false")
    assert set(v for k, v in settings_.items() if k.endswith("SystemdCgroup")) == {False}


# --- the Jupyter unit: its lines and nothing else ------------------------------------------------------------------

UNIT_KEYS = ["[Unit]", "Description", "After", "Wants", "", "[Service]", "Type", "User", "Group", "WorkingDirectory",
             "Environment", "ExecStart", "Restart", "RestartSec", "NoNewPrivileges", "PrivateTmp", "ProtectSystem",
             "", "[Install]", "WantedBy"]


def _render_unit(choices):
    plan = FILTERS["ml_jupyter_plan"](choices)
    template = (ROOT / "roles/ml_jupyter/templates/jupyter.service.j2").read_text()
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, keep_trailing_newline=True)
    return env.from_string(template).render(ansible_managed="Ansible managed", __ml_jupyter_plan={"plan": plan})


def _keys(unit):
    lines = unit.split("\n")
    assert lines[0] == "# Ansible managed (homelab.nvidia_gpu.ml_jupyter)" and lines[-1] == ""
    return [line if line.startswith("[") or not line else line.split("=", 1)[0] for line in lines[1:-1]]


def test_the_unit_of_the_defaults_is_what_it_always_was():
    unit = _render_unit(_JUPYTER)
    assert _keys(unit) == UNIT_KEYS
    assert "\nExecStart=/opt/jupyterlab/bin/jupyter-lab --config=/etc/homelab-jupyter/jupyter_server_config.json" \
           " --no-browser\n" in unit
    assert "\nUser=jupyter\nGroup=jupyter\nWorkingDirectory=/srv/jupyter\n" in unit
    assert "\nEnvironment=JUPYTER_CONFIG_DIR=/etc/homelab-jupyter\n" in unit
    debian = _render_unit(dict(_JUPYTER, source="debian", release="trixie"))
    assert "\nExecStart=/usr/bin/jupyter-lab --config=" in debian


UNIT_FIELDS = ("venv", "env", "user", "root_dir", "config_dir")


@pytest.mark.parametrize("field", UNIT_FIELDS)
@HYPOTHESIS
@given(value=st.one_of(st.text(max_size=40), st.sampled_from([
    "/opt/jupyter lab", "/opt/x\nExecStartPre=/bin/sh -c id", "/opt/x\u2028ExecStartPre=/bin/id", "/opt/$HOME",
    "/opt/%h", "/opt/a\"b", "/opt/../etc", "root\nUser=root", "/opt/x;id", "/opt/x\\y"])))
def test_no_unit_value_adds_a_line_or_splits_an_argument(field, value):
    try:
        unit = _render_unit(dict(_JUPYTER, **{field: value}))
    except AnsibleFilterError as exc:
        assert f"ml_jupyter_{field}" in str(exc), str(exc)
        assert not RAW.search(str(exc))
        return
    assert _keys(unit) == UNIT_KEYS
    exec_start = next(line for line in unit.split("\n") if line.startswith("ExecStart="))
    argv = shlex.split(exec_start.removeprefix("ExecStart="))
    assert len(argv) == 3 and argv[1].startswith("--config=/") and argv[2] == "--no-browser"


@pytest.mark.parametrize(("key", "value", "word"), [
    ("port", 0, "ml_jupyter_port"), ("port", 65536, "ml_jupyter_port"), ("port", "99999", "ml_jupyter_port"),
    ("port", True, "ml_jupyter_port"), ("port", 80, "ml_jupyter_port"), ("port", "8888; id", "ml_jupyter_port"),
    ("address", "localhost", "ml_jupyter_address"), ("address", "127.0.0.1\n", "ml_jupyter_address"),
    ("address", "0.0.0.0; id", "ml_jupyter_address"), ("address", ["127.0.0.1"], "ml_jupyter_address"),
    ("token", "a" * 30 + "\n", "ml_jupyter_token"), ("source", ["pip"], "ml_jupyter_source"),
])
def test_jupyter_port_and_address_are_checked_by_name(key, value, word):
    _refused("ml_jupyter_plan", (dict(_JUPYTER, **{key: value}),), word)


def test_jupyter_port_as_digits_and_ipv6_are_taken():
    plan = FILTERS["ml_jupyter_plan"](dict(_JUPYTER, port="9999", address="::1"))
    assert plan["config"]["ServerApp"]["port"] == 9999 and plan["url"] == "http://[::1]:9999"
    assert isinstance(_ml_jupyter.jupyter_unit(plan, _JUPYTER), str)


# --- the report: every row has the header's columns ----------------------------------------------------------------

def _columns(row):
    """Cells of a Markdown table row as a renderer reads them: an unescaped | separates."""
    count, escaped = 0, False
    for char in row:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "|":
            count += 1
    return count - 1


def _tables(report):
    tables, current = [], []
    for line in report.split("\n"):
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables + ([current] if current else [])


CELL_TEXT = st.one_of(st.text(max_size=30), st.sampled_from(["a|b", "x\ny|z", "\\|", "\\", "`|`", "| --- |",
                                                             "\u2028|", "\r\n| a | b |", "\udcff|"]))


@HYPOTHESIS
@given(gpu_name=CELL_TEXT, host=st.text(alphabet="abcdefgh-_|\\", min_size=1, max_size=12), driver=CELL_TEXT,
       detail=CELL_TEXT, check=CELL_TEXT, model=CELL_TEXT, code=CELL_TEXT)
def test_no_cell_text_changes_a_table_s_column_count(gpu_name, host, driver, detail, check, model, code):
    hostvars = copy.deepcopy(_HOSTVARS)
    node = hostvars.pop("node-1")
    node["ansible_facts"]["nvidia_gpus"][0]["catalog"]["name"] = gpu_name
    node["validate_node"] = dict(node["validate_node"], driver_version=driver, gpu_present=True,
                                 checks=[{"check": check, "result": "passed", "detail": detail}])
    node["llama_cpp_bench"]["model"] = model
    node["nvidia_gpu_plan"] = dict(node["nvidia_gpu_plan"], verdict={"can_work": False, "problems": [
        {"code": code, "severity": "blocking", "message": detail}]})
    hostvars[host] = node
    report = FILTERS["validate_report"](hostvars, [host, "pi4"], "now")
    tables = _tables(report)
    assert len(tables) == 3  # GPUs, the node's checks, inference
    for table in tables:
        assert len({_columns(row) for row in table}) == 1, table
    assert [_columns(t[0]) for t in tables] == [7, 3, 7]
    assert len(tables[0]) == 2 + 2 and len(tables[1]) == 3 and len(tables[2]) == 3  # one row per GPU/host/check
    for line in report.split("\n"):
        assert not line.startswith("## ") or line in ("## Checks on GPU nodes", "## Inference (llama.cpp)",
                                                      "## Verdict details")


def test_a_pipe_in_a_gpu_name_is_escaped_and_codes_stay_greppable():
    hostvars = copy.deepcopy(_HOSTVARS)
    hostvars["node-1"]["ansible_facts"]["nvidia_gpus"][0]["catalog"]["name"] = "Tesla | P4"
    report = FILTERS["validate_report"](hostvars, ["node-1"], "now")
    assert "| node-1 | Tesla \\| P4 (0000:01:00.0) SIMULATED: lspci dump |" in report
    hostvars["node-1"]["nvidia_gpu_plan"]["verdict"] = {"can_work": False, "problems": [
        {"code": "pi5_16k_page_kernel", "severity": "blocking"}, {"code": "_x_", "severity": "blocking"}]}
    report = FILTERS["validate_report"](hostvars, ["node-1"], "now")
    assert "CANNOT WORK: pi5_16k_page_kernel, \\_x\\_ |" in report


# --- pip.conf of the shared environment ----------------------------------------------------------------------------

def test_pip_conf_has_its_lines_and_nothing_else():
    text = FILTERS["ml_pip_conf"](*VALID["ml_pip_conf"])
    assert text.split("\n") == [
        "# pip's site configuration of /opt/ml/torch: every pip of this environment reads it.", "[global]",
        "index-url = https://pypi.lan/simple", "trusted-host = pypi.lan 10.0.0.5:8080",
        "disable-pip-version-check = true"]
    assert FILTERS["ml_pip_conf"]("", [], "/opt/ml/torch").split("\n")[2:] == ["disable-pip-version-check = true"]


@HYPOTHESIS
@given(index=st.one_of(st.text(max_size=30), st.sampled_from([
    "https://x\ntrusted-host = evil", "https://x\u2028index-url=http://evil", "https://pypi.lan/simple\n"])),
    host=st.text(max_size=20), env=st.text(max_size=20))
def test_no_pip_conf_value_adds_a_setting(index, host, env):
    try:
        text = FILTERS["ml_pip_conf"](index, [host], "/opt/" + env)
    except AnsibleFilterError as exc:
        assert re.search(r"ml_python_pip_index_url|ml_python_pip_trusted_hosts\[0\]|ml_python_root", str(exc))
        assert not RAW.search(str(exc))
        return
    keys = [line.split(" = ", 1)[0] for line in text.split("\n")[2:]]
    assert keys in (["index-url", "trusted-host", "disable-pip-version-check"],
                    ["trusted-host", "disable-pip-version-check"])
    assert len(text.split("\n")) == len(keys) + 2
