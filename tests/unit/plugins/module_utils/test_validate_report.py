# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""validate.yml's GPU inventory report (was a 41-line Jinja template), over plans made by the real code."""

from __future__ import annotations

import re

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.filter.validate_checks import FilterModule
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_plan, _gpu_verdict

REPORT = FilterModule().filters()["validate_report"]
LINK = {"current_speed": 5.0, "current_width": 1, "max_speed": 8.0, "max_width": 16, "degraded": True}


def host(device_ids, platform="generic", page_size=4096, gpu_node=True, node=None, simulated=True):
    gpus = [{"address": "0000:01:00.0", "device_id": d, "driver": None, "link": dict(LINK)} for d in device_ids]
    gpus, facts = _gpu_verdict.judge(gpus, {"platform": platform, "page_size": page_size, "simulated": simulated})
    plan = _gpu_plan.host_plan(gpus, facts, {"gpu_node": gpu_node})
    hv = {"ansible_facts": {"nvidia_gpus": gpus, "nvidia_gpu_host": facts}, "nvidia_gpu_plan": plan}
    if node is not None:
        hv["validate_node"] = node
    return hv


NO_GPU_NODE = {"gpu_present": False, "driver_version": "580.95.05 (installed, not loaded)", "cuda_version": "",
               "why_no_gpu": "its GPU is simulated", "checks": [
                   {"check": "nvidia-smi on the host", "result": "not run", "detail": "no GPU | none"},
                   {"check": "driver module DKMS-built", "result": "passed", "detail": "6.1.0-26-amd64"}]}
SKIPPED = {"gpu_present": False, "skipped": True, "driver_version": "not installed", "cuda_version": "",
           "why_no_gpu": "the GPU verdict says it cannot work on this host",
           "checks": [{"check": "GPU stack", "result": "not run", "detail": "x"}]}
PRESENT = {"gpu_present": True, "driver_version": "580.95.05", "cuda_version": "13.0", "why_no_gpu": "",
           "checks": [{"check": "nvidia-smi on the host", "result": "passed", "detail": "Tesla P10"}]}


def lab():
    return {"x86-p10": host(["1b39"], node=NO_GPU_NODE),
            "pi5-01": host(["1bb3"], platform="raspberry_pi_5", page_size=16384, node=SKIPPED),
            "pi4-01": host([], gpu_node=False, simulated=False),
            "box": host(["1b39"], node=PRESENT, simulated=False)}


def test_rows_of_the_lab_topology():
    text = REPORT(lab(), ["x86-p10", "pi5-01", "pi4-01", "box"], "2026-12-02 11:00 UTC")
    assert text.startswith("# GPU inventory\n\nWritten by `homelab.nvidia_gpu` validate.yml on 2026-12-02 11:00 UTC.")
    assert "| host | GPU | architecture | driver | CUDA | link | verdict |" in text
    # the same patterns molecule/site/verify.yml asserts on the real report
    assert re.search(r"\| x86-p10 \| Tesla P10 \(0000:01:00\.0\) SIMULATED: lspci dump \| Pascal \(compute 6\.1\)"
                     r" \| 580\.[0-9.]+ \(installed, not loaded\); no GPU present \|.*\| can work", text)
    assert re.search(r"\| pi5-01 \| Tesla P4 \(0000:01:00\.0\) SIMULATED: lspci dump \| Pascal \(compute 6\.1\)"
                     r" \| not installed; no GPU present \|.*\| CANNOT WORK: pi5_16k_page_kernel,"
                     r" pi5_proprietary_unsupported", text)
    assert "| pi4-01 | none | | not a GPU node |  | | no GPU to judge |" in text
    assert ("| box | Tesla P10 (0000:01:00.0) | Pascal (compute 6.1) | 580.95.05 | 13.0 (ceiling 12.9) |"
            " 5.0 GT/s x1 of 8.0 GT/s x16 (degraded) | can work (warnings: pcie_link_degraded) |") in text


def test_sections_of_checks_and_details():
    text = REPORT(lab(), list(lab()), "now")
    assert "### x86-p10: no GPU present (its GPU is simulated)" in text
    assert "No GPU is present, so nvidia-smi and the CUDA sample could not run" in text
    assert "| not run | nvidia-smi on the host | no GPU \\| none |" in text  # a pipe in a detail is escaped
    assert "### pi5-01: no GPU present (the GPU verdict says it cannot work on this host)" in text
    assert "### box: GPU present, driver 580.95.05" in text
    assert "### pi4-01" not in text
    assert re.search(r"- pi5-01 \[pi5_proprietary_unsupported, blocking\] .*Move it to an x86_64 host", text)
    # the skipped node does not claim other checks ran instead
    pi5 = text.split("### pi5-01")[1].split("###")[0]
    assert "these checks ran instead" not in pi5


def test_the_plan_verdict_wins_over_the_facts():
    """Nouveau bound to the card is a blocking problem of the facts, but the stack fixes it: the row says so."""
    gpus = [{"address": "0000:01:00.0", "device_id": "1b39", "driver": "nouveau", "link": {}}]
    gpus, facts = _gpu_verdict.judge(gpus, {"platform": "generic"})
    assert not facts["verdict"]["can_work"]
    plan = _gpu_plan.host_plan(gpus, facts, {"gpu_node": True})
    hv = {"a": {"ansible_facts": {"nvidia_gpus": gpus, "nvidia_gpu_host": facts}, "nvidia_gpu_plan": plan}}
    assert "| can work |" in REPORT(hv, ["a"], "now")
    del hv["a"]["nvidia_gpu_plan"]
    assert "CANNOT WORK: nouveau_bound" in REPORT(hv, ["a"], "now")


def test_a_host_without_facts_is_a_row_not_a_crash():
    assert "| lost | none | | not a GPU node |  | | no GPU to judge |" in REPORT({"lost": {}}, ["lost"], "now")


def test_bad_input_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="validate_report"):
        REPORT({"a": {"validate_node": {"checks": [1]}}}, ["a"], "now")


def test_inference_figures_are_a_section_per_node_labelled_by_backend():
    hv = lab()
    hv["pi4-01"]["llama_cpp_bench"] = {"backend": "cpu", "model": "tiny.gguf", "why_not": "", "figures": [
        {"test": "pp64", "tokens_per_second": 4210.5}, {"test": "tg16", "tokens_per_second": 310.2}]}
    hv["pi4-01"]["llama_cpp_status"] = {"server": "", "rpc_endpoint": "10.0.0.4:50052"}
    hv["box"]["llama_cpp_bench"] = {"backend": "cuda", "model": "", "why_not": "no model on this host", "figures": []}
    hv["box"]["llama_cpp_status"] = {"server": "http://127.0.0.1:8080", "rpc_endpoint": ""}
    text = REPORT(hv, list(hv), "now")
    assert "## Inference (llama.cpp)" in text
    assert "| pi4-01 | RPC worker | CPU (no GPU used) | tiny.gguf | 4210.5 (pp64) | 310.2 (tg16) |  |" in text
    assert "| box | server | CUDA |  |  |  | no model on this host |" in text
    assert "## Inference" not in REPORT(lab(), list(lab()), "now")


def test_a_gpu_node_validate_did_not_check_says_so():
    hv = lab()
    del hv["x86-p10"]["validate_node"]
    assert "| not checked in this run (validate.yml checks it) |" in REPORT(hv, ["x86-p10"], "now")
