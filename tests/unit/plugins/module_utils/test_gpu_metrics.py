# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""GPU metrics (module_utils._gpu_metrics): nvidia-smi's CSV, DKMS, the runtimes, the textfile."""

from __future__ import annotations

import re

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _gpu_metrics as gm
from hypothesis import given, settings
from hypothesis import strategies as st

# nvidia-smi --query-gpu=<gm.QUERY> --format=csv,noheader,nounits as a Tesla P10 (ECC on, no fan) and an RTX 3070
# (ECC not supported) print it - written from the field list of nvidia-smi 580's --help-query-gpu, not captured.
P10 = ("0, 00000000:01:00.0, Tesla P10, GPU-5b1c0f8e-0a1b-4c2d-9e3f-1234567890ab, 580.95.05, 41, 27.93, 150.00, 0, 0,"
       " 0, 23040, 544, 405, 1, 3, 16, 16, 0, [N/A]")
RTX = ("1, 00000000:02:00.0, NVIDIA GeForce RTX 3070, GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee, 580.95.05, 67, 180.50,"
       " 220.00, 97, 40, 6012, 8192, 1905, 7000, 4, 4, 4, 16, [Not Supported], 55")
PLAN = {"gpu_node": True, "kind": "gpu_stack", "can_work": True, "platform": "generic", "architecture": "x86_64",
        "flavour": "proprietary", "branch": 580, "gpu_names": ["Tesla P10"], "problems": [], "dkms_name": "nvidia"}
PI5 = {"gpu_node": True, "kind": "runtime_only", "can_work": False, "platform": "raspberry_pi_5",
       "architecture": "aarch64", "flavour": "proprietary", "branch": None, "gpu_names": ["Tesla P4"],
       "problems": [{"code": "pi5_proprietary_unsupported", "severity": "blocking"},
                    {"code": "pcie_link_degraded", "severity": "warning"}], "dkms_name": "nvidia"}


def _samples(text):
    """name{labels} value lines -> list of (name, labels dict, value); checks the text format on the way."""
    out = []
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.fullmatch(r"# (HELP|TYPE) homelab_gpu_\w+ .+", line), line
            continue
        match = re.fullmatch(r'(homelab_gpu_\w+)(?:\{(.*)\})? (-?[0-9.e+]+)', line)
        assert match, line
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        out.append((match.group(1), labels, float(match.group(3))))
    return out


def _one(samples, metric, **labels):
    found = [v for n, lab, v in samples if n == metric and all(lab.get(k) == w for k, w in labels.items())]
    assert len(found) == 1, (metric, labels, found)
    return found[0]


def test_two_gpus_with_units_turned_into_base_units_and_unsupported_fields_left_out():
    parsed = gm.parse_query(P10 + "\n" + RTX + "\n")
    assert parsed["error"] == "" and len(parsed["gpus"]) == 2
    assert parsed["gpus"][0]["fan.speed"] is None and parsed["gpus"][1]["ecc.errors.uncorrected.volatile.total"] is None
    samples = _samples(gm.render({"plan": PLAN, "smi": {"stdout": P10 + "\n" + RTX, "rc": 0}, "now": 1}))
    assert _one(samples, "homelab_gpu_up") == 1 and _one(samples, "homelab_gpu_enumerated") == 2
    assert _one(samples, "homelab_gpu_memory_total_bytes", gpu="0") == 23040 * 1048576
    assert _one(samples, "homelab_gpu_utilization_ratio", gpu="1") == pytest.approx(0.97)
    assert _one(samples, "homelab_gpu_clock_sm_hertz", name="NVIDIA GeForce RTX 3070") == 1905e6
    assert _one(samples, "homelab_gpu_pcie_link_width", gpu="1") == 4 and _one(
        samples, "homelab_gpu_pcie_link_width_max", gpu="1") == 16
    assert not [s for s in samples if s[0] == "homelab_gpu_fan_ratio" and s[1]["gpu"] == "0"]  # a passive P10
    assert not [s for s in samples if s[0] == "homelab_gpu_ecc_uncorrected_errors" and s[1]["gpu"] == "1"]
    (info,) = [lab for n, lab, _value in samples if n == "homelab_gpu_info" and lab["gpu"] == "0"]
    assert info == {"gpu": "0", "bus_id": "00000000:01:00.0", "name": "Tesla P10",
                    "uuid": "GPU-5b1c0f8e-0a1b-4c2d-9e3f-1234567890ab", "driver_version": "580.95.05"}


def test_each_family_has_one_help_and_type_and_its_samples_together():
    text = gm.render({"plan": PLAN, "smi": {"stdout": P10 + "\n" + RTX, "rc": 0}})
    helps = [ln.split()[2] for ln in text.splitlines() if ln.startswith("# HELP")]
    assert len(helps) == len(set(helps))
    names = [ln.split("{")[0].split()[0] for ln in text.splitlines() if not ln.startswith("#")]
    assert names == sorted(names, key=helps.index)  # grouped, in HELP order


@pytest.mark.parametrize(("smi", "plan", "reason"), [
    (None, dict(PLAN, gpu_node=False, gpu_names=[]), "no NVIDIA GPU on this host"),
    (None, PLAN, "nvidia-smi is not installed"),
    ({"stdout": "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", "rc": 9}, PLAN,
     "nvidia-smi exited 9: NVIDIA-SMI has failed because it couldn't communicate"),
    ({"stdout": "Unable to determine the device handle for GPU0000:01:00.0: Unknown Error", "rc": 15}, PLAN,
     "a GPU fell off the bus or none was found"),
    ({"stdout": "No devices were found", "rc": 6}, PLAN, "a GPU fell off the bus or none was found"),
    ({"stdout": "0, 00000000:01:00.0, Tesla P10", "rc": 0}, PLAN, "line 1 has 3 fields"),
    (None, PI5, "the GPU plan says the driver cannot work here: pi5_proprietary_unsupported"),
])
def test_without_an_answer_up_is_0_with_the_reason(smi, plan, reason):
    samples = _samples(gm.render({"plan": plan, "smi": smi, "pci_gpus": 0}))
    (labels,) = [lab for n, lab, v in samples if n == "homelab_gpu_up" and v == 0]
    assert reason in labels["reason"]
    assert _one(samples, "homelab_gpu_expected") == (1 if plan["gpu_node"] else 0)


def test_the_verdict_dkms_module_and_runtimes_are_exported():
    dkms = ("nvidia/580.95.05, 6.1.0-40-amd64, x86_64: installed\nnvidia/580.95.05, 6.1.0-41-amd64, x86_64: built\n"
            "nvidia, 570.1, 6.1.0-39-amd64, x86_64: installed (original_module exists)\n"
            "other/1, 6.1.0-40-amd64, x: added")
    samples = _samples(gm.render({
        "plan": PI5, "smi": None, "pci_gpus": 1, "modules": "nvidia_uvm 1 0 - Live 0x0\nnvidia 2 1 - Live 0x0\n",
        "dkms": dkms, "running_kernel": "6.1.0-41-amd64",
        "runtimes": {"docker": '{"runtimes": {"nvidia": {"path": "nvidia-container-runtime"}}}',
                     "containerd": "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]\n"}}))
    assert _one(samples, "homelab_gpu_plan_can_work") == 0 and _one(samples, "homelab_gpu_enumerated") == 1
    assert _one(samples, "homelab_gpu_plan_problem", code="pi5_proprietary_unsupported", severity="blocking") == 1
    assert _one(samples, "homelab_gpu_plan_info", platform="raspberry_pi_5", kind="runtime_only") == 1
    assert _one(samples, "homelab_gpu_driver_loaded") == 1
    assert _one(samples, "homelab_gpu_dkms_installed", kernel="6.1.0-40-amd64") == 1
    assert _one(samples, "homelab_gpu_dkms_installed", kernel="6.1.0-41-amd64", state="built") == 0
    assert _one(samples, "homelab_gpu_dkms_installed", kernel="6.1.0-39-amd64") == 1  # dkms 2's format
    assert _one(samples, "homelab_gpu_dkms_running_kernel", kernel="6.1.0-41-amd64") == 0
    assert _one(samples, "homelab_gpu_runtime_registered", engine="docker") == 1
    assert _one(samples, "homelab_gpu_runtime_registered", engine="containerd") == 0
    toml = '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]\n  runtime_type = "io.containerd.runc.v2"'
    assert gm.runtime_registered("containerd", toml) and not gm.runtime_registered("docker", '{"runtimes": {}}')


def test_label_values_are_escaped():
    plan = dict(PLAN, platform='a"b\\c\nd')
    text = gm.render({"plan": plan})
    assert 'platform="a\\"b\\\\c\\nd"' in text and len(_samples(text)) > 3


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.integers(min_value=0, max_value=255))
def test_any_output_of_nvidia_smi_gives_a_valid_textfile(stdout, rc):
    samples = _samples(gm.render({"plan": PLAN, "smi": {"stdout": stdout, "rc": rc}}))
    ups = [v for n, _labels, v in samples if n == "homelab_gpu_up"]
    assert ups in ([0.0], [1.0])
    assert rc == 0 or ups == [0.0]


def test_the_plan_summary_and_scrape_targets():
    plan = {"kind": "runtime_only", "gpu_node": True, "verdict": {"can_work": False}, "platform": "raspberry_pi_5",
            "gpu_names": ["Tesla P4"], "problems": [{"code": "pi5_proprietary_unsupported", "severity": "blocking",
                                                     "message": "long"}], "driver": {"dkms_name": None}}
    summary = gm.plan_summary(plan)
    assert summary["can_work"] is False and summary["branch"] is None and summary["dkms_name"] == "nvidia"
    assert summary["problems"] == [{"code": "pi5_proprietary_unsupported", "severity": "blocking"}]
    hostvars = {"pi5-01": {"ansible_host": "192.168.50.11", "group_names": ["gpu_nodes", "raspberry_pi"]},
                "lab": {"group_names": []}, "v6": {"ansible_host": "fd00::5"}}
    assert gm.scrape_targets(hostvars, ["pi5-01", "lab", "v6"]) == [
        {"targets": ["192.168.50.11:9100"], "labels": {"node": "pi5-01", "gpu_node": "true"}},
        {"targets": ["lab:9100"], "labels": {"node": "lab", "gpu_node": "false"}},
        {"targets": ["[fd00::5]:9100"], "labels": {"node": "v6", "gpu_node": "false"}}]
    with pytest.raises(gm.MetricsError, match="not an address"):
        gm.scrape_targets({"x": {"ansible_host": "a b"}}, ["x"])
    with pytest.raises(gm.MetricsError, match="mapping"):
        gm.render({"plan": ["not", "a", "plan"]})


def test_alert_rules_carry_the_thresholds_and_refuse_bad_ones():
    rules = gm.alert_rules({"for": "0s", "temperature": 80, "stale_after": "5m"})["groups"][0]["rules"]
    by_name = {r["alert"]: r for r in rules}
    assert set(by_name) == {"HomelabGpuMissing", "HomelabGpuCannotWork", "HomelabGpuDriverNotLoaded",
                            "HomelabGpuDkmsMissing", "HomelabGpuLinkNarrow", "HomelabGpuLinkSlow", "HomelabGpuHot",
                            "HomelabGpuExporterDown", "HomelabGpuCollectorStale"}
    assert by_name["HomelabGpuHot"]["expr"] == "homelab_gpu_temperature_celsius > 80"
    assert by_name["HomelabGpuCollectorStale"]["expr"].endswith("> 300")
    assert "power the PSU first" in by_name["HomelabGpuMissing"]["annotations"]["description"]
    assert all(r["for"] == "0s" for r in rules)
    assert "{{ $labels.node }}" in by_name["HomelabGpuCannotWork"]["annotations"]["summary"]
    for options, message in (({"for": "5 minutes"}, "duration"), ({"temperature": 300}, "between 30 and 120"),
                             ({"temperature": "hot"}, "a number"), ({"stale_after": "-1m"}, "duration")):
        with pytest.raises(gm.MetricsError, match=message):
            gm.alert_rules(options)


# --- where the services listen, whom the firewall admits, what a widened port is told (issue #31) -----------------

def test_listen_addresses_and_the_former_single_setting():
    assert gm.listen("192.168.50.40", 9100, "gpu_metrics_node_exporter") == {
        "address": "192.168.50.40", "port": 9100, "listen": "192.168.50.40:9100", "url": "http://192.168.50.40:9100",
        "loopback": False, "wildcard": False}
    every = gm.listen("10.0.0.1", 9100, "gpu_metrics_node_exporter", ":9100")  # the old default: every address
    assert (every["listen"], every["url"], every["wildcard"], every["loopback"]) == (
        ":9100", "http://127.0.0.1:9100", True, False)
    assert gm.listen("", 1, "x", "[fd00::1]:9200")["listen"] == "[fd00::1]:9200"
    assert gm.listen("127.0.0.1", "9090", "gpu_metrics_prometheus")["loopback"] is True
    assert gm.listen("::", 9090, "gpu_metrics_prometheus")["url"] == "http://127.0.0.1:9090"


def test_settings_render_the_lines_and_warn_only_for_a_widened_port():
    base = {"interval": 60, "textfile_dir": "/var/lib/prometheus/node-exporter", "node_exporter_address": "10.0.0.5",
            "node_exporter_port": 9100, "node_exporter_allow": ["10.0.0.2", "10.0.0.2/32", "fd00::2"],
            "prometheus": True, "firewall": True}
    out = gm.settings(base)
    assert out["exporter_args"] == ('ARGS="--collector.textfile.directory=/var/lib/prometheus/node-exporter'
                                    ' --web.listen-address=10.0.0.5:9100"')
    assert out["prometheus_args"] == 'ARGS="--web.listen-address=127.0.0.1:9090"'
    assert out["exporter_allow"] == ["10.0.0.2/32", "fd00::2/128"] and out["warnings"] == []
    assert out["collector_exec"] == ("/usr/bin/python3 /usr/local/lib/homelab-gpu-metrics/collect.py --plan"
                                     " /etc/homelab-gpu-metrics/plan.json --out"
                                     " /var/lib/prometheus/node-exporter/homelab_gpu.prom")
    unguarded = gm.settings(dict(base, firewall="false"))  # -e gpu_metrics_firewall=false arrives as a string
    assert unguarded["firewall"] is False and unguarded["exporter_allow"] == []
    assert len(unguarded["warnings"]) == 1 and "gpu_metrics_firewall is false" in unguarded["warnings"][0]
    (wide,) = gm.settings(dict(base, node_exporter_address="0.0.0.0"))["warnings"]
    assert "every address of this host" in wide and "10.0.0.2/32, fd00::2/128" in wide
    (prom,) = gm.settings(dict(base, prometheus_address="10.0.0.5", prometheus_allow=[]))["warnings"]
    assert prom.startswith("gpu_metrics_prometheus_address: Prometheus listens on 10.0.0.5, port 9090")
    assert "no other (add them to gpu_metrics_prometheus_allow)" in prom
    # a table that admits every address is the firewall role's warning, not a second one here
    assert gm.settings(dict(base, node_exporter_allow=["0.0.0.0/0"]))["warnings"] == []
    # no node_exporter on a host without an address: nothing listens, nothing to refuse
    assert gm.settings(dict(base, node_exporter=False, node_exporter_address=""))["exporter"]["loopback"]
    for bad, message in ((dict(base, interval=4), "gpu_metrics_interval"),
                         (dict(base, textfile_dir="/var/lib/my metrics"), "gpu_metrics_textfile_dir"),
                         (dict(base, textfile_dir="/var/%h"), "gpu_metrics_textfile_dir"),
                         (dict(base, textfile_dir="relative"), "gpu_metrics_textfile_dir"),
                         (dict(base, node_exporter_allow="10.0.0.2"), "gpu_metrics_node_exporter_allow must be a list"),
                         (dict(base, prometheus_port=65536), "gpu_metrics_prometheus_port"),
                         (dict(base, firewall="maybe"), "gpu_metrics_firewall")):
        with pytest.raises(ValueError, match=message):
            gm.settings(bad)


def test_scrape_targets_follow_where_each_node_exporter_listens():
    endpoint = "gpu_metrics_node_exporter_endpoint"
    hostvars = {
        "prom": {"ansible_host": "prom.lan", endpoint: {"address": "127.0.0.1", "port": 9100}},
        "n1": {"ansible_host": "n1.lan", endpoint: {"address": "10.0.0.11", "port": "9101"}},
        "n2": {"ansible_host": "n2.lan", endpoint: {"address": "", "port": 9100}},
        "n3": {"gpu_metrics_scrape_address": "n3.example", "group_names": ["gpu_nodes"],
               endpoint: {"address": "10.0.0.13", "port": 9100}},
        "n4": {endpoint: {"address": "fd00::14", "port": 9100}},
    }
    targets = gm.scrape_targets(hostvars, list(hostvars), 9100, "prom")
    assert [t["targets"][0] for t in targets] == ["127.0.0.1:9100", "10.0.0.11:9101", "n2.lan:9100",
                                                  "n3.example:9100", "[fd00::14]:9100"]
    assert targets[3]["labels"] == {"node": "n3", "gpu_node": "true"}
    with pytest.raises(gm.MetricsError, match=r"prom's node_exporter listens on 127\.0\.0\.1 only"):
        gm.scrape_targets(hostvars, ["prom"], 9100, "another-prometheus-host")


def test_the_prometheus_hosts_addresses_for_the_firewall():
    hostvars = {
        "prom": {"ansible_host": "prom.lan", "ansible_facts": {
            "all_ipv4_addresses": ["192.168.50.5", "172.17.0.1"], "all_ipv6_addresses": ["fe80::1", "fd00::5"],
            "default_ipv4": {"address": "192.168.50.5"}}},
        "prom2": {"ansible_host": "192.168.50.6"},
    }
    assert gm.host_addresses(hostvars, ["prom", "prom2"]) == ["192.168.50.5", "172.17.0.1", "fd00::5", "192.168.50.6"]
    assert gm.host_addresses(hostvars, []) == []
