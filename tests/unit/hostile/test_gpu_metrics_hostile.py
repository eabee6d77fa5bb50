# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile input for the GPU metrics collector and the gpu_metrics filters (issue #31).

The collector (roles/gpu_metrics/files/collect.py with _gpu_metrics.py and _values.py beside it, as the role installs
it) runs against a fake nvidia-smi that prints raw bytes from a file: inf and nan, numbers that overflow a float, a GPU
name with bytes that are not UTF-8, lines with too few or too many fields, a repeated GPU, NUL, CR and quotes. Every
case must leave a textfile that an independent parser reads - prometheus_client's (the Python reference client of the
Prometheus project), plus the two rules of Prometheus' own Go parser (expfmt) that it does not enforce: a label value
knows only the escapes \\\\ \\" \\n, and a series appears once - holding every reading that could be parsed, and
homelab_gpu_collector_errors counting what could not, each named in homelab_gpu_collector_error.

The filters take what a careless inventory gives: a group name as a string where the list of hosts belongs, ports 0,
65536, True and "99999"; each is refused with a sentence that names the variable (AnsibleFilterError), never read
letter by letter, never a traceback.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.filter import gpu_metrics as gm_filter
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _gpu_metrics as gm
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[3]
HYPOTHESIS = settings(max_examples=200, deadline=None)
# A Tesla P10's line (nvidia-smi --query-gpu=<gm.QUERY> --format=csv,noheader,nounits), field by field.
P10 = ["0", "00000000:01:00.0", "Tesla P10", "GPU-5b1c0f8e-0a1b-4c2d-9e3f-1234567890ab", "580.95.05", "41", "27.93",
       "150.00", "0", "0", "0", "23040", "544", "405", "1", "3", "16", "16", "0", "[N/A]"]
RTX = ["1", "00000000:02:00.0", "NVIDIA GeForce RTX 3070", "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
       "580.95.05", "67", "180.50", "220.00", "97", "40", "6012", "8192", "1905", "7000", "4", "4", "4", "16",
       "[Not Supported]", "55"]
FIELD = {name: i for i, (name, _metric) in enumerate(gm.FIELDS)}
PLAN = {"gpu_node": True, "kind": "gpu_stack", "can_work": True, "gpu_names": ["Tesla P10"], "problems": [],
        "dkms_name": "nvidia"}


def line(fields: list[str]) -> bytes:
    return ", ".join(fields).encode("utf-8", "surrogateescape") + b"\n"


def with_field(fields: list[str], name: str, value: str) -> list[str]:
    out = list(fields)
    out[FIELD[name]] = value
    return out


# --- the independent reader ---------------------------------------------------------------------------------------

def read_textfile(text: str) -> dict:
    """{(name, frozenset(labels)): value} as prometheus_client's parser reads the file; fails the test on anything
    Prometheus' Go parser would refuse that prometheus_client lets through."""
    for raw in text.split("\n"):
        assert "\r" not in raw or raw.startswith("#"), f"a raw CR in a sample line: {raw!r}"
        for escape in re.findall(r"\\(.)", raw if not raw.startswith("#") else ""):
            assert escape in ('\\', '"', "n"), f"an escape the exposition format does not know: \\{escape} in {raw!r}"
    text.encode("utf-8")  # raises on a surrogate: the file must be UTF-8
    samples: dict = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, f"a series twice: {key}"
            samples[key] = sample.value
    return samples


def values(samples: dict, name: str, **labels: str) -> list[float]:
    return [v for (n, lab), v in samples.items() if n == name and all((k, w) in lab for k, w in labels.items())]


def label_values(samples: dict, name: str, label: str) -> list[str]:
    return [dict(lab)[label] for (n, lab), _v in samples.items() if n == name]


# --- the installed collector, run as the timer runs it ------------------------------------------------------------

@pytest.fixture
def collector(tmp_path):
    """collect(stdout_bytes, rc=0, plan=PLAN) -> the textfile the installed collector writes (a fresh run each time)."""
    lib = tmp_path / "lib"
    lib.mkdir()
    for src in ("roles/gpu_metrics/files/collect.py", "plugins/module_utils/_roles/_gpu_metrics.py",
                "plugins/module_utils/_common/_values.py"):
        shutil.copy(ROOT / src, lib)
    bin_dir, sysfs, proc, etc = (tmp_path / d for d in ("bin", "sys", "proc", "etc"))
    for d in (bin_dir, sysfs, proc, etc):
        d.mkdir()
    (proc / "modules").write_text("nvidia 1 0 - Live 0x0\n")
    out = tmp_path / "textfile/homelab_gpu.prom"
    out.parent.mkdir()
    plan_path = tmp_path / "plan.json"
    smi = bin_dir / "nvidia-smi"
    smi_out = tmp_path / "smi.out"
    smi.write_text(f"#!/bin/sh\ncat '{smi_out}'\nexit \"$(cat '{tmp_path}/smi.rc')\"\n")
    smi.chmod(0o755)

    def collect(stdout: bytes, rc: int = 0, plan=None) -> str:
        plan = PLAN if plan is None else plan
        smi_out.write_bytes(stdout)
        (tmp_path / "smi.rc").write_text(str(rc))
        plan_path.write_text(plan if isinstance(plan, str) else json.dumps(plan))
        if out.exists():
            out.unlink()
        run = subprocess.run(
            [sys.executable, str(lib / "collect.py"), "--plan", str(plan_path), "--out", str(out), "--sysfs-root",
             str(sysfs), "--proc-root", str(proc), "--etc-root", str(etc), "--timeout", "5"],
            env=dict(os.environ, PATH=f"{bin_dir}:/usr/bin:/bin", LC_ALL="C"), capture_output=True, timeout=60,
            check=False)
        assert run.returncode == 0, run.stderr
        assert not run.stderr, run.stderr  # no traceback, no warning
        return out.read_bytes().decode("utf-8")  # strict: the file is UTF-8

    return collect


HOSTILE_VALUES = ["inf", "-inf", "nan", "NaN", "Infinity", "1e999", "-1e999", "1" * 400, "0x1F", "4 1", "41\u00a0",
                  "\u0664\u0661"]


@pytest.mark.parametrize("bad", HOSTILE_VALUES)
def test_a_value_that_is_no_finite_number_is_left_out_and_named_the_rest_written(collector, bad):
    text = collector(line(with_field(P10, "temperature.gpu", bad)) + line(RTX))
    samples = read_textfile(text)
    assert values(samples, "homelab_gpu_up") == [1.0]  # nvidia-smi answered; one of its values was junk
    assert values(samples, "homelab_gpu_temperature_celsius", gpu="0") in ([], [41.0])
    finite = values(samples, "homelab_gpu_temperature_celsius", gpu="0")
    if not finite:  # "\u0664\u0661" is 41 in Arabic-Indic digits, which float() reads: a reading, not junk
        assert values(samples, "homelab_gpu_collector_errors") == [1.0]
        (problem,) = label_values(samples, "homelab_gpu_collector_error", "problem")
        assert "temperature.gpu" in problem and "finite number" in problem
    assert values(samples, "homelab_gpu_power_watts", gpu="0") == [27.93]  # the same GPU's other readings
    assert values(samples, "homelab_gpu_temperature_celsius", gpu="1") == [67.0]  # and the other GPU's
    assert all(math.isfinite(v) for v in samples.values())


def test_a_finite_reading_that_overflows_its_unit_is_left_out(collector):
    text = collector(line(with_field(P10, "memory.total", "1e305")))
    samples = read_textfile(text)
    assert values(samples, "homelab_gpu_memory_total_bytes") == [] and values(samples, "homelab_gpu_up") == [1.0]
    assert values(samples, "homelab_gpu_collector_errors") == [1.0]
    assert "memory.total" in label_values(samples, "homelab_gpu_collector_error", "problem")[0]
    assert values(samples, "homelab_gpu_clock_sm_hertz") == [544e6] and values(samples, "homelab_gpu_memory_used_bytes")


@pytest.mark.parametrize("name", [
    b"Tesla \xff\xfe P10", b"\xc3\x28", b"Tesla\x00P10", b'Tesla "P10" \\x \\r', b"Tesla\rP10", b"Tesla\x1b[31mP10",
    "Tesla\u2028P10".encode(), "Tesla\u202eP10".encode(), b"Tesla\tP10", b"\xed\xa0\x80"])
def test_a_gpu_name_with_any_bytes_is_written_as_a_readable_label(collector, name):
    fields = list(P10)
    fields[FIELD["name"]] = name.decode("utf-8", "surrogateescape")
    quoted = '"' + fields[FIELD["name"]].replace('"', '""') + '"'  # nvidia-smi's CSV quotes a field with a quote
    fields[FIELD["name"]] = quoted if b'"' in name else fields[FIELD["name"]]
    text = collector(line(fields))
    samples = read_textfile(text)
    assert values(samples, "homelab_gpu_up") == [1.0]
    (written,) = label_values(samples, "homelab_gpu_temperature_celsius", "name")
    assert "\n" not in written and "\r" not in written
    assert written.startswith("Tesla") or name[:1] in (b"\xc3", b"\xed")
    if b'"' in name:
        assert written == 'Tesla "P10" \\x \\r'  # quotes and backslashes kept, as text
    clean = all(32 <= b < 127 for b in name)
    assert values(samples, "homelab_gpu_collector_errors") == ([0.0] if clean else [1.0])
    if not clean:
        assert "name" in label_values(samples, "homelab_gpu_collector_error", "problem")[0]


@pytest.mark.parametrize("fields", [P10[:5], [*P10, "extra"], P10[:-1], [""] * 19, ["0"]])
def test_a_line_with_too_few_or_too_many_fields_is_named_and_the_good_line_kept(collector, fields):
    text = collector(line(fields) + line(RTX))
    samples = read_textfile(text)
    assert values(samples, "homelab_gpu_temperature_celsius", gpu="1") == [67.0]  # the good line's readings
    assert values(samples, "homelab_gpu_up") == [0.0]  # as before: a line nvidia-smi should not print
    (reason,) = label_values(samples, "homelab_gpu_up", "reason")
    assert f"line 1 has {len(fields)} fields, not {len(gm.FIELDS)}" in reason
    assert values(samples, "homelab_gpu_collector_errors") == [1.0]


def test_a_repeated_gpu_is_read_once(collector):
    samples = read_textfile(collector(line(P10) + line(with_field(P10, "temperature.gpu", "99"))))
    assert values(samples, "homelab_gpu_temperature_celsius") == [41.0]
    assert "line 2 repeats GPU '0'" in label_values(samples, "homelab_gpu_collector_error", "problem")[0]


def test_many_problems_are_counted_and_the_first_ten_named(collector):
    junk = b"".join(line(with_field(P10, "index", str(i)))[:20] + b"\n" for i in range(25))
    samples = read_textfile(collector(junk + line(RTX)))
    assert values(samples, "homelab_gpu_collector_errors") == [25.0]
    problems = label_values(samples, "homelab_gpu_collector_error", "problem")
    assert len(problems) == 11 and "and 15 more" in problems
    assert values(samples, "homelab_gpu_temperature_celsius", gpu="1") == [67.0]


@pytest.mark.parametrize("plan", [
    "{not json", "[" * 100000, json.dumps({"gpu_names": 5, "problems": "x"}), json.dumps([1, 2]),
    json.dumps({"problems": [1, None, {"code": "a\nb", "severity": "blocking"}], "can_work": False}),
    json.dumps({"kind": {"a": 1}, "platform": "\udcff", "gpu_node": True})])
def test_a_plan_file_of_any_shape_still_gives_a_file(collector, plan):
    samples = read_textfile(collector(line(P10), plan=plan))
    assert values(samples, "homelab_gpu_temperature_celsius") == [41.0]  # the GPU's readings survive the plan
    assert values(samples, "homelab_gpu_collector_errors")[0] >= 1
    assert len(values(samples, "homelab_gpu_up")) == 1


def test_nothing_but_junk_bytes_and_a_failing_exit(collector):
    samples = read_textfile(collector(bytes(range(256)) * 4, rc=9))
    assert values(samples, "homelab_gpu_up") == [0.0]
    assert "nvidia-smi exited 9" in label_values(samples, "homelab_gpu_up", "reason")[0]


# --- the pure part, any bytes -------------------------------------------------------------------------------------

cell = st.one_of(st.sampled_from([*HOSTILE_VALUES, "[N/A]", "", "41", "-5", "1e308", '"', "\\", ",", "\n"]),
                 st.text(max_size=8), st.binary(max_size=8).map(lambda b: b.decode("utf-8", "surrogateescape")))


@HYPOTHESIS
@given(rows=st.lists(st.lists(cell, min_size=18, max_size=22), max_size=4), junk=st.binary(max_size=40),
       rc=st.integers(0, 255))
def test_any_output_gives_a_readable_file_with_every_finite_reading(rows, junk, rc):
    stdout = b"".join(line(r) for r in rows) + junk
    text = gm.render({"plan": PLAN, "smi": {"stdout": stdout.decode("utf-8", "surrogateescape"), "rc": rc},
                      "now": 1.5})
    samples = read_textfile(text)
    assert len(values(samples, "homelab_gpu_up")) == 1 and values(samples, "homelab_gpu_collector_timestamp_seconds")
    assert all(math.isfinite(v) for v in samples.values())
    assert values(samples, "homelab_gpu_collector_errors")[0] == float(
        len(gm.parse_query(stdout.decode("utf-8", "surrogateescape"), rc)["unread"]))


@HYPOTHESIS
@given(temperature=st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.sampled_from(HOSTILE_VALUES)),
       name=st.binary(max_size=16))
def test_one_good_gpu_beside_a_bad_one_keeps_all_its_readings(temperature, name):
    bad = with_field(with_field(P10, "temperature.gpu", temperature), "name",
                     name.decode("utf-8", "surrogateescape").replace(",", "").replace('"', ""))
    stdout = (line(bad) + line(RTX)).decode("utf-8", "surrogateescape")
    samples = read_textfile(gm.render({"plan": PLAN, "smi": {"stdout": stdout, "rc": 0}}))
    good = {n: v for (n, lab), v in samples.items() if ("gpu", "1") in lab}
    assert good["homelab_gpu_temperature_celsius"] == 67 and good["homelab_gpu_fan_ratio"] == pytest.approx(0.55)
    assert len(good) == 15  # info + 14 readings: every metric field but the RTX's unsupported ECC count


# --- the filters: a careless inventory ----------------------------------------------------------------------------

HOSTVARS = {"gm-x86-p10": {"ansible_host": "192.168.50.10", "group_names": ["gpu_nodes", "prometheus_servers"]},
            "gm-pi5-01": {"ansible_host": "192.168.50.11", "group_names": ["gpu_nodes"]}}
scrape_targets = gm_filter.FilterModule().filters()["gpu_metrics_scrape_targets"]


@pytest.mark.parametrize("hosts", ["gpu_nodes", "all", "gm-x86-p10", b"ab", {"gm-x86-p10": 1}, 5, [["a"]], [None]])
def test_a_group_name_as_a_string_is_refused_not_read_letter_by_letter(hosts):
    with pytest.raises(AnsibleFilterError, match="gpu_metrics_prometheus_hosts"):
        scrape_targets(HOSTVARS, hosts)


@pytest.mark.parametrize("port", [0, 65536, True, False, "99999", -1, 9100.5, "9100; rm", None, [9100], "0x2384"])
def test_ports_out_of_range_or_of_the_wrong_type_are_refused_with_the_variable_name(port):
    with pytest.raises(AnsibleFilterError, match=r"gpu_metrics_node_exporter_port must be a port between 1 and 65535"):
        scrape_targets(HOSTVARS, ["gm-x86-p10"], port)


def test_a_published_port_of_a_host_is_checked_too():
    hostvars = dict(HOSTVARS, x={"gpu_metrics_node_exporter_endpoint": {"address": "10.0.0.5", "port": 70000}})
    with pytest.raises(AnsibleFilterError, match="x's gpu_metrics_node_exporter_port must be a port"):
        scrape_targets(hostvars, ["x"])


@pytest.mark.parametrize("address", ["a b", "10.0.0.1:9100\n- targets: [evil:1]", "evil\u2028x", "-rf", "", "a" * 300])
def test_an_address_that_would_add_a_target_is_refused(address):
    for key in ("ansible_host", "gpu_metrics_scrape_address"):
        hostvars = {"x": {key: address}}
        if not address:  # an empty address falls back to the next one, never to nothing
            assert scrape_targets(hostvars, ["x"]) == [{"targets": ["x:9100"],
                                                        "labels": {"node": "x", "gpu_node": "false"}}]
            continue
        with pytest.raises(AnsibleFilterError, match=f"x's {key}"):
            scrape_targets(hostvars, ["x"])


@HYPOTHESIS
@given(hosts=st.one_of(st.text(max_size=10), st.lists(st.text(max_size=10), max_size=3), st.integers(), st.none()),
       port=st.one_of(st.integers(), st.text(max_size=6), st.booleans(), st.floats()))
def test_any_hosts_and_port_give_targets_or_a_sentence(hosts, port):
    try:
        targets = scrape_targets({}, hosts, port)
    except AnsibleFilterError as exc:
        assert "gpu_metrics_" in str(exc) or "host name" in str(exc)
        return
    assert (isinstance(hosts, list) and len(targets) == len(hosts)) or (hosts is None and targets == [])
    for target in targets:
        (where,) = target["targets"]
        assert re.fullmatch(r"[^\s\[\]]+:[0-9]+|\[[0-9a-f:.]+\]:[0-9]+", where), where
        assert 1 <= int(where.rsplit(":", 1)[1]) <= 65535


@pytest.mark.parametrize(("hosts", "why"), [("prometheus_servers", "must be a list"), (["nowhere"], "no address")])
def test_the_allow_list_of_prometheus_hosts_is_never_guessed(hosts, why):
    host_addresses = gm_filter.FilterModule().filters()["gpu_metrics_host_addresses"]
    with pytest.raises(AnsibleFilterError, match=why):
        host_addresses({"nowhere": {"ansible_host": "nowhere.example"}}, hosts)


@pytest.mark.parametrize(("address", "port", "legacy", "message"), [
    ("0.0.0.0; rm -rf /", 9100, "", "must be an IP address to listen on"),
    ("", 9100, "", "gpu_metrics_node_exporter_address is empty"),
    ("10.0.0.5", 0, "", "gpu_metrics_node_exporter_port must be a port"),
    ("10.0.0.5", True, "", "gpu_metrics_node_exporter_port must be a port"),
    ("10.0.0.5", "99999", "", "gpu_metrics_node_exporter_port must be a port"),
    ("10.0.0.5", 9100, ":99999", "gpu_metrics_node_exporter_listen must be a port"),
    ("10.0.0.5", 9100, "10.0.0.5", "gpu_metrics_node_exporter_listen must be ADDRESS:PORT"),
    ("10.0.0.5", 9100, ":9100 --web.config.file=/tmp/x", "gpu_metrics_node_exporter_listen must be ADDRESS:PORT"),
    ("10.0.0.5", 9100, "10.0.0.5:9100\n", "gpu_metrics_node_exporter_listen must be a single line"),
    ("10.0.0.5", 9100, "evil.example:9100", "gpu_metrics_node_exporter_listen must be an IP address"),
])
def test_listening_addresses_are_checked_with_the_variable_name(address, port, legacy, message):
    listen = gm_filter.FilterModule().filters()["gpu_metrics_listen"]
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        listen(address, port, "gpu_metrics_node_exporter", legacy)


def test_an_allow_list_that_is_a_string_is_refused():
    exposure = gm_filter.FilterModule().filters()["gpu_metrics_exposure"]
    endpoint = gm.listen("10.0.0.5", 9090, "gpu_metrics_prometheus")
    with pytest.raises(AnsibleFilterError, match="gpu_metrics_prometheus_allow must be a list"):
        exposure(endpoint, "Prometheus", "gpu_metrics_prometheus_address", True, "10.0.0.0/8",
                 "gpu_metrics_prometheus_allow")
    with pytest.raises(AnsibleFilterError, match="gpu_metrics_firewall must be true or false"):
        exposure(endpoint, "Prometheus", "gpu_metrics_prometheus_address", "maybe", [], "gpu_metrics_prometheus_allow")
