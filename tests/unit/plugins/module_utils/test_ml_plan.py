# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ML layer's choices (module_utils._ml_plan) over real GPU plans: each catalog card the issue names is a case."""

from __future__ import annotations

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_catalog, _gpu_plan, _gpu_verdict
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _ml_plan as ml

PI5_BRIDGE = {"address": "0000:00:00.0", "vendor_id": "14e4", "device_id": "2712", "name": "BCM2712 PCIe Bridge"}
TESLA_P4, TESLA_P10, V100, T4, RTX_3090, RTX_4090, H100, RTX_5090 = (
    "1bb3", "1b39", "1db4", "1eb8", "2204", "2684", "2330", "2b85")


def gpu_plan(device_ids, platform="generic", **choices):
    gpus = [{"address": f"0000:0{i + 1}:00.0", "device_id": d, "driver": None, "link": {}}
            for i, d in enumerate(device_ids)]
    host = {"platform": platform, "page_size": 4096, "architecture": "x86_64", "simulated": False,
            "host_bridges": [PI5_BRIDGE] if platform == "raspberry_pi_5" else []}
    gpus, host = _gpu_verdict.judge(gpus, host)
    return _gpu_plan.host_plan(gpus, host, dict({"gpu_node": True}, **choices), "node-1")


def test_tesla_p10_gets_cuda_12_9_cudnn_for_12_and_cu126():
    """The lab's x86 box: Pascal sm_61, driver 580 (runs 13.0) but the card stops at 12.9."""
    result = ml.ml_plan(gpu_plan([TESLA_P10]))
    assert result["toolkit"]["version"] == "12.9" and result["toolkit"]["packages"] == ["cuda-toolkit-12-9"]
    assert "12.9" in result["toolkit"]["reason"] and "the GPUs allow CUDA 12.9 at most" in result["toolkit"]["reason"]
    assert result["cudnn"]["packages"] == ["cudnn9-cuda-12"]
    assert result["torch"]["variant"] == "cu126"
    assert result["torch"]["index_url"] == "https://download.pytorch.org/whl/cu126"
    assert result["nvcc_flags"] == ["-gencode=arch=compute_61,code=sm_61"]
    assert result["refusals"] == [] and "torch cu126" in result["summary"]


@pytest.mark.parametrize(("device", "toolkit", "variant"), [
    (RTX_3090, "13.0", "cu130"),   # Ampere on 580: the current toolkit and index
    (RTX_4090, "13.0", "cu130"),   # Ada 8.9: served by the 8.9 kernels of cu130
    (T4, "13.0", "cu130"),         # Turing 7.5: still in CUDA 13
    (V100, "12.9", "cu126"),       # Volta: CUDA 12.x only, and cu128 dropped sm_70 in 2.11
    (TESLA_P4, "12.9", "cu126"),
    (RTX_5090, "13.0", "cu130"),   # Blackwell 12.0
])
def test_catalog_cards_on_branch_580(device, toolkit, variant):
    result = ml.ml_plan(gpu_plan([device], branch=580))
    assert (result["toolkit"]["version"], result["torch"]["variant"]) == (toolkit, variant), result["summary"]


def test_the_driver_branch_caps_the_wheel_and_the_toolkit():
    """Ampere on branch 570 runs CUDA 12.8 at most: cu130 is too new for that driver, cu128 fits."""
    result = ml.ml_plan(gpu_plan([RTX_3090], branch=570))
    assert result["toolkit"]["version"] == "12.8"
    assert result["torch"]["variant"] == "cu128" and "up to 12.8" in result["torch"]["reason"]


def test_pi5_with_a_p4_gets_cpu_wheels_and_says_the_gpu_cannot_work():
    plan = gpu_plan([TESLA_P4], platform="raspberry_pi_5")
    assert plan["kind"] == "runtime_only"
    result = ml.ml_plan(plan)
    assert result["torch"]["variant"] == "cpu" and result["torch"]["index_url"].endswith("/cpu")
    assert "the GPU cannot work on this host" in result["torch"]["reason"]
    assert result["toolkit"]["version"] is None and "no GPU stack" in result["toolkit"]["reason"]
    assert result["cudnn"]["packages"] == [] and result["refusals"] == []


def test_no_gpu_gets_cpu_wheels():
    result = ml.ml_plan(gpu_plan([], require_gpu=False))
    assert result["torch"]["variant"] == "cpu" and "no NVIDIA GPU" in result["torch"]["reason"]


def test_a_pin_beyond_the_card_or_driver_is_refused_with_the_limit():
    result = ml.ml_plan(gpu_plan([TESLA_P10]), {"toolkit_version": "13.0"})
    assert result["toolkit"]["version"] is None
    assert result["refusals"] == [
        "The pinned CUDA toolkit 13.0 is outside what this host allows: CUDA 8.0 to 12.9 "
        "(the GPUs allow CUDA 12.9 at most; driver branch 580 runs up to 13.0)."]
    assert ml.ml_plan(gpu_plan([TESLA_P10]), {"toolkit_version": "12.4"})["toolkit"]["version"] == "12.4"


def test_newest_available_in_range_wins_and_a_pin_must_be_offered():
    plan = gpu_plan([TESLA_P10])
    assert ml.toolkit_choice(plan, available=["12.4", "12.6", "13.0"])["version"] == "12.6"
    refused = ml.toolkit_choice(plan, pin="12.8", available=["12.4", "12.6"])
    assert refused["version"] is None and "not in the apt sources (they offer 12.4, 12.6)" in refused["refused"]
    none = ml.toolkit_choice(plan, available=["13.0", "13.1"])
    assert none["version"] is None and none["refused"].startswith("No CUDA toolkit the apt sources offer fits")


def test_debian_toolkit_by_release_and_no_debian_cudnn():
    plan = gpu_plan([TESLA_P10])
    trixie = ml.ml_plan(plan, {"toolkit_source": "debian", "release": "trixie"})
    assert trixie["toolkit"]["version"] == "12.4" and trixie["toolkit"]["packages"] == ["nvidia-cuda-toolkit"]
    assert "downloads cuDNN while it installs" in trixie["cudnn"]["refused"]
    assert ml.ml_plan(plan, {"toolkit_source": "debian", "release": "trixie", "cudnn": False})["refusals"] == []
    assert "ships CUDA 11.8, not the pinned 12.4" in ml.toolkit_choice(plan, "debian", "12.4", "bookworm")["refused"]
    assert "has no nvidia-cuda-toolkit" in ml.toolkit_choice(plan, "debian", release="forky")["refused"]
    # An Ada card needs CUDA 11.8 at least: bookworm's 11.8 fits, by the plan's minimum
    assert ml.toolkit_choice(gpu_plan([RTX_4090]), "debian", release="bookworm")["version"] == "11.8"


def test_a_torch_variant_that_cannot_serve_the_card_is_refused():
    plan = gpu_plan([TESLA_P10])
    cu128 = ml.torch_choice(plan, "cu128")
    assert cu128["variant"] is None and "no kernels for compute capability 6.1" in cu128["refused"]
    new = ml.torch_choice(gpu_plan([RTX_3090], branch=570), "cu130")
    assert new["variant"] is None and "newer than driver branch 570 runs (12.8)" in new["refused"]
    assert "use cpu or auto" in ml.torch_choice(gpu_plan([TESLA_P4], platform="raspberry_pi_5"), "cu126")["refused"]
    assert ml.torch_choice(plan, "cpu")["variant"] == "cpu"
    assert ml.torch_choice(plan, index="http://mirror.lab/whl/")["index_url"] == "http://mirror.lab/whl/cu126"


def test_mixed_cards_need_a_build_for_every_one():
    assert ml.torch_choice(gpu_plan([RTX_3090, TESLA_P10]))["variant"] == "cu126"


def test_binary_compatibility_rule():
    assert ml.wheel_serves(["6.0"], "6.1") and not ml.wheel_serves(["6.2"], "6.1")
    assert not ml.wheel_serves(["7.5"], "8.0") and not ml.wheel_serves(["7.5"], "garbage")


def test_every_wheel_variant_names_its_source():
    assert all(w["source"] for w in _gpu_catalog.TORCH_WHEELS)
    assert [w["variant"] for w in _gpu_catalog.TORCH_WHEELS] == ["cu130", "cu128", "cu126"]  # newest CUDA first


@pytest.mark.parametrize(("call", "message"), [
    (lambda: ml.toolkit_choice({}, source="conda"), "toolkit source"),
    (lambda: ml.toolkit_choice({}, pin="twelve"), "toolkit version"),
    (lambda: ml.torch_choice({}, "cu118"), "torch variant"),
])
def test_bad_choices_are_clear(call, message):
    with pytest.raises(ml.MlPlanError, match=message):
        call()


def test_filter_wraps_errors():
    from ansible.errors import AnsibleFilterError
    from ansible_collections.homelab.nvidia_gpu.plugins.filter.ml_plan import FilterModule

    ml_filter = FilterModule().filters()["ml_plan"]
    assert ml_filter(gpu_plan([TESLA_P10]))["torch"]["variant"] == "cu126"
    with pytest.raises(AnsibleFilterError, match="ml_plan: the torch variant"):
        ml_filter(gpu_plan([TESLA_P10]), {"torch_variant": "rocm"})
    with pytest.raises(AnsibleFilterError, match="nvidia_gpu_plan"):
        ml_filter("x")


def test_toolkit_versions_from_apt_names():
    names = ["cuda-toolkit-12-9", "cuda-toolkit-config-common", "cuda-toolkit-12", "cuda-toolkit-13-0",
             "cuda-toolkit-12-6", "cuda-toolkit", " cuda-toolkit-12-10 "]
    assert ml.toolkit_versions(names) == ["12.6", "12.9", "12.10", "13.0"]
    assert ml.ml_plan(gpu_plan([TESLA_P10]), {"apt_names": names})["toolkit"]["version"] == "12.9"  # the ceiling
    older = ml.ml_plan(gpu_plan([RTX_3090]), {"apt_names": ["cuda-toolkit-12-9", "cuda-toolkit-12-10"]})
    assert older["toolkit"]["version"] == "12.10"  # versions compare as numbers, not strings
    assert ml.ml_plan(gpu_plan([TESLA_P10]), {"apt_names": []})["toolkit"]["refused"]


def test_pip_install_comes_from_the_variant_index_and_names_its_label():
    """The P10's torch is installed from <index>/cu126, and only a +cu126 build counts as the right one."""
    result = ml.ml_plan(gpu_plan([TESLA_P10]), {"torch_index": "http://mirror.lab/whl/", "torch_version": "2.8.0"})
    install = result["torch_install"]
    assert install["pip"] == ["torch==2.8.0"] and install["index_url"] == "http://mirror.lab/whl/cu126"
    assert install["local"] == "cu126" and install["apt"] == [] and not install["system_site_packages"]
    assert "from http://mirror.lab/whl/cu126" in result["summary"]
    newest = ml.ml_plan(gpu_plan([RTX_3090]))["torch_install"]
    assert newest["pip"] == ["torch"] and newest["local"] == "cu130"


def test_debian_torch_only_for_cpu_plans_and_known_releases():
    cpu = ml.ml_plan(gpu_plan([], require_gpu=False), {"torch_source": "debian", "release": "trixie"})
    assert cpu["torch_install"]["apt"] == ["python3-torch"] and cpu["torch_install"]["system_site_packages"]
    assert cpu["torch_install"]["local"] is None and cpu["refusals"] == []
    assert "python3-torch 2.6 (CPU)" in cpu["summary"]
    gpu = ml.ml_plan(gpu_plan([TESLA_P10]), {"torch_source": "debian", "release": "trixie"})
    assert "built for the CPU only" in gpu["torch_install"]["refused"] and "cu126" in gpu["torch_install"]["refused"]
    assert gpu["torch_install"]["refused"] in gpu["refusals"]
    asked_cpu = ml.ml_plan(gpu_plan([TESLA_P10]), {"torch_source": "debian", "release": "trixie",
                                                   "torch_variant": "cpu"})
    assert asked_cpu["refusals"] == [] and asked_cpu["torch_install"]["apt"] == ["python3-torch"]
    unknown = ml.torch_install({"variant": "cpu"}, "debian", "", "sid")
    assert "Debian sid has no python3-torch" in unknown["refused"]
    assert "not the pinned 2.8" in ml.torch_install({"variant": "cpu"}, "debian", "2.8", "trixie")["refused"]
    assert ml.torch_install({"variant": "cpu"}, "debian", "2.6.0", "trixie")["refused"] == ""


def test_a_refused_variant_is_not_installed_and_not_counted_twice():
    result = ml.ml_plan(gpu_plan([TESLA_P10]), {"torch_variant": "cu130"})
    assert result["torch_install"]["pip"] == [] and result["torch_install"]["refused"] == result["torch"]["refused"]
    assert result["refusals"] == [result["torch"]["refused"]]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: ml.torch_install({"variant": "cpu"}, "conda"), "torch source"),
    (lambda: ml.torch_install({"variant": "cpu"}, "pip", "latest"), "torch version"),
    (lambda: ml.torch_install({"variant": "cpu"}, "pip", "2.8.0; rm -rf /"), "torch version"),
])
def test_bad_install_choices_are_clear(call, message):
    with pytest.raises(ml.MlPlanError, match=message):
        call()


@pytest.mark.parametrize(("installed", "pin", "why"), [
    ("", "", "not installed"),
    ("2.8.0+cu126", "", ""),
    ("2.8.0+cpu", "", "another build than cu126"),
    ("2.8.0", "", "another build than cu126"),          # PyPI's build has no label
    ("2.8.0+cu126", "2.8", ""),                          # 2.8 is 2.8.0, as pip reads it
    ("2.8.1+cu126", "2.8", "not the pinned 2.8"),
    ("2.10.0+cu126", "2.1.0", "not the pinned 2.1.0"),
    ("2.9.0rc1+cu126", "2.9.0", "not the pinned 2.9.0"),  # a pre-release is not the release
])
def test_when_the_environment_torch_is_reinstalled(installed, pin, why):
    install = ml.ml_plan(gpu_plan([TESLA_P10]), {"torch_version": pin})["torch_install"]
    reason = ml.torch_reinstall(install, installed)
    assert (why in reason) if why else reason == "", reason


def test_reinstall_filter_and_debian_source_never_reinstall():
    from ansible_collections.homelab.nvidia_gpu.plugins.filter.ml_plan import FilterModule

    reinstall = FilterModule().filters()["ml_torch_reinstall"]
    debian = ml.torch_install({"variant": "cpu"}, "debian", "", "trixie")
    assert reinstall("2.6.0", debian) == "" and reinstall("", debian) == ""
    with pytest.raises(Exception, match="torch_install"):
        reinstall("2.8.0", "cu126")


def test_workstation_summary_says_toolkit_cudnn_torch_and_why():
    p10 = gpu_plan([TESLA_P10])
    python_plan = ml.ml_plan(p10, {"torch_index": "http://mirror.lab/whl"})
    toolkit_plan = ml.ml_plan(p10, {"apt_names": ["cuda-toolkit-12-6", "cuda-toolkit-12-9", "cuda-toolkit-13-0"]})
    fact = {"version": "2.8.0+cu126", "matmul": {"ran": False, "why": "not run: a stand-in"}}
    line = ml.workstation_summary(python_plan, toolkit_plan, fact)
    assert line.startswith("toolkit 12.9 (the newest within CUDA")
    assert "the GPUs allow CUDA 12.9 at most" in line and "cuDNN cudnn9-cuda-12 (cuDNN 9 for CUDA 12" in line
    assert "torch cu126 (the newest build with kernels for compute capability 6.1" in line
    assert "from http://mirror.lab/whl/cu126" in line
    assert line.endswith("installed torch 2.8.0+cu126, not run: a stand-in")
    pi5 = ml.ml_plan(gpu_plan([TESLA_P4], platform="raspberry_pi_5"))
    ran = {"version": "2.6.0", "matmul": {"ran": True, "device": "cpu", "right": True}}
    pi_line = ml.workstation_summary(pi5, None, ran)
    assert "toolkit none (no toolkit: the host gets no GPU stack" in pi_line
    assert "torch cpu (CPU wheels: the GPU cannot work on this host" in pi_line and "matmul on cpu right" in pi_line
    wrong = ml.workstation_summary(pi5, None, {"version": "2.6.0", "matmul": {"ran": True, "right": False}})
    assert wrong.endswith("WRONG")


def test_the_summary_is_its_toolkit_and_torch_parts():
    result = ml.ml_plan(gpu_plan([TESLA_P10]), {"torch_index": "http://mirror.lab/whl"})
    assert result["toolkit_summary"].startswith("toolkit 12.9 (")
    assert "; cuDNN cudnn9-cuda-12 (" in result["toolkit_summary"]
    assert result["torch_summary"].startswith("torch cu126 (") and result["torch_summary"].endswith(
        "; torch (newest)+cu126 from http://mirror.lab/whl/cu126)")
    assert result["summary"] == result["toolkit_summary"] + "; " + result["torch_summary"]
