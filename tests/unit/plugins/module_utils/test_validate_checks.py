# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.filter.validate_checks import FilterModule, validate_check_plan
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _validate_checks as checks

ALL_TOOLS = {"docker": "/usr/bin/docker", "ctr": "/usr/bin/ctr", "containerd": "/usr/bin/containerd",
             "nvidia-smi": "/usr/bin/nvidia-smi", "dkms": "/usr/sbin/dkms", "modinfo": "/usr/sbin/modinfo"}
NODE = {"tools": ALL_TOOLS, "engines": ["docker", "containerd"], "gpu_present": True, "kernels": ["6.1.0-50-amd64"],
        "image": "nvidia/cuda:12.9.1-base-ubuntu22.04", "sample": "nvcr.io/nvidia/k8s/cuda-sample:vectoradd-cuda12.5.0",
        "namespace": "validate", "snapshotter": "overlayfs", "runtime_path": "/usr/bin/nvidia-container-runtime",
        "container_id": "validate-x86-p10-1"}


def test_tools_lines():
    tools = checks.parse_tools(["docker=/usr/bin/docker", "ctr=", "a=b=c"])
    assert tools == {"docker": "/usr/bin/docker", "ctr": "", "a": "b=c"}


@pytest.mark.parametrize(("image", "ref"), [
    ("busybox", "docker.io/library/busybox"),
    ("nvidia/cuda:12.9.1-base-ubuntu22.04", "docker.io/nvidia/cuda:12.9.1-base-ubuntu22.04"),
    ("nvcr.io/nvidia/k8s/cuda-sample:vectoradd", "nvcr.io/nvidia/k8s/cuda-sample:vectoradd"),
    ("localhost/validate:1", "localhost/validate:1"),
    ("registry:5000/x", "registry:5000/x"),
])
def test_ctr_image(image, ref):
    assert checks.ctr_image_ref(image) == ref


def test_gpu_node_with_everything():
    plan = validate_check_plan(NODE)
    assert [c["check"] for c in plan] == [
        "nvidia runtime registered with Docker (docker info)",
        "nvidia runtime registered with containerd (containerd config dump)",
        "nvidia-smi on the host",
        "nvidia-smi in a container (docker run --runtime=nvidia)",
        "nvidia-smi in a container (docker run --gpus all)",
        "CUDA sample (vectorAdd) in a container (docker run --gpus all)",
        "nvidia-smi in a container (ctr run --runtime io.containerd.runc.v2 --runc-binary "
        "/usr/bin/nvidia-container-runtime)",
    ]
    assert plan[0]["argv"] == ["docker", "info", "--format", "{{json .Runtimes}}"]
    assert plan[-1]["argv"][-4:] == ["docker.io/nvidia/cuda:12.9.1-base-ubuntu22.04", "validate-x86-p10-1",
                                     "nvidia-smi", "-L"]
    assert all("argv" in c for c in plan)


def test_no_gpu_checks_what_it_can_and_names_the_rest():
    plan = validate_check_plan(dict(NODE, gpu_present="False", kernels=["6.1.0-50-amd64", "6.1.0-51-amd64"]))
    run = [c["check"] for c in plan if "argv" in c]
    assert run == ["nvidia runtime registered with Docker (docker info)",
                   "nvidia runtime registered with containerd (containerd config dump)",
                   "driver module DKMS-built for kernel 6.1.0-50-amd64",
                   "driver module DKMS-built for kernel 6.1.0-51-amd64",
                   "a container ran through the runtime registered as nvidia (docker run --runtime=nvidia; no GPU "
                   "asked for)",
                   "a container ran through the runtime binary registered as nvidia (ctr run --runc-binary "
                   "/usr/bin/nvidia-container-runtime; no GPU asked for)"]
    assert [c["why"] for c in plan if "argv" not in c] == ["needs a GPU, and none is present"] * 3


def test_missing_tools_and_engines_are_reasons():
    plan = validate_check_plan(dict(NODE, tools={"docker": "", "ctr": "", "containerd": "/usr/bin/containerd"},
                                    engines=["docker"], sample=""))
    assert plan[0] == {"check": "nvidia runtime registered with Docker (docker info)", "why": "Docker is not installed"}
    assert plan[1]["why"] == "containerd is not in nvidia_container_toolkit_runtimes"
    assert [c["check"] for c in plan[2:]] == ["nvidia-smi on the host"]  # no docker, no ctr: nothing else to run
    plan = validate_check_plan(dict(NODE, sample="", engines=[]))
    assert plan[0]["why"] == "docker is not in nvidia_container_toolkit_runtimes"
    assert {"check": "CUDA sample in a container", "why": "validate_cuda_sample_image is empty"} in plan


def test_plan_needs_every_input():
    with pytest.raises(AnsibleFilterError, match="validate_check_plan: the node needs 'kernels'"):
        validate_check_plan({k: v for k, v in NODE.items() if k != "kernels"})


def test_results():
    plan = validate_check_plan(dict(NODE, gpu_present=False))
    long_line = "word " * 60
    runs = [
        {"item": plan[0], "rc": 0, "stdout": '{"nvidia":{},"runc":{}}', "stderr": ""},
        {"item": plan[1], "rc": 0, "stdout": "no runtime here", "stderr": ""},
        {"item": plan[2], "rc": 0, "stdout": "nvidia/580.95.05, 6.1.0-50-amd64, x86_64: installed", "stderr": ""},
        {"item": plan[3], "rc": 125, "stdout": "", "stderr": "docker: Error response from daemon.\n" + long_line},
        {"item": plan[4], "rc": 1, "msg": "[Errno 2] No such file or directory: b'ctr'"},
    ]
    results = FilterModule().filters()["validate_check_results"](plan, runs)
    assert [r["result"] for r in results] == ["passed", "FAILED", "passed", "FAILED", "FAILED"] + ["not run"] * 3
    assert results[0]["detail"] == "docker info lists the nvidia runtime"
    assert results[1]["detail"] == "rc 0: no runtime here"  # exit 0, but the expected text is missing
    assert results[2]["detail"] == "nvidia/580.95.05, 6.1.0-50-amd64, x86_64: installed"
    assert results[3]["detail"].startswith("rc 125: word word") and results[3]["detail"].endswith("word...")
    assert len(results[3]["detail"]) <= len("rc 125: ") + 160
    assert results[4]["detail"] == "rc 1: [Errno 2] No such file or directory: b'ctr'"
    assert results[5] == {"check": "nvidia-smi on the host", "result": "not run",
                          "detail": "needs a GPU, and none is present"}


def test_a_check_without_a_result_failed():
    plan = validate_check_plan(NODE)
    assert checks.check_results(plan[:1], [])[0] == {"check": plan[0]["check"], "result": "FAILED", "detail": "rc ?: "}


@pytest.mark.parametrize("text", ["a" * 165, "a" * 166, "b " * 100, "x" * 200, "short", "w" * 150 + " tail of it"])
def test_truncate_is_jinjas(text):
    from jinja2 import Environment
    assert checks.truncate(text) == Environment().from_string("{{ t | truncate(160) }}").render(t=text)
    assert len(checks.truncate(text)) <= 165


@pytest.mark.parametrize("gpu_present", [True, False])
def test_every_docker_run_has_no_network(gpu_present):
    # trixie's Docker 26 in the lab fails default-network runs on its IPv6 setup; the checks need no network
    plan = validate_check_plan(dict(NODE, gpu_present=gpu_present))
    runs = [c["argv"] for c in plan if c.get("argv", [None])[:2] == ["docker", "run"]]
    assert runs, "the plan has docker run checks"
    assert all(argv[2:4] == ["--rm", "--network=none"] for argv in runs)


def test_gpu_containers_of_upgrade_driver():
    lines = [
        "aaaaaaaaaaaaaaaa nvidia null [\"PATH=/bin\"]",  # the nvidia runtime
        "bbbbbbbbbbbbbbbb runc [{\"Driver\":\"\",\"Count\":-1,\"Capabilities\":[[\"gpu\"]]}] null",  # --gpus all
        "cccccccccccccccc runc null [\"NVIDIA_VISIBLE_DEVICES=all\",\"PATH=/bin\"]",  # the env of a CUDA image
        "dddddddddddddddd runc null [\"PATH=/bin\"]",  # not a GPU container
        "eeeeeeeeeeeeeeee runc [] [\"PATH=/bin\"]",  # an empty device list is no GPU either
        "",
        "short",
    ]
    assert checks.gpu_containers(lines) == ["aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc"]
    assert FilterModule().filters()["upgrade_gpu_containers"]([]) == []


NODE_RESULT = FilterModule().filters()["validate_node_result"]
SMI_TABLE = "| NVIDIA-SMI 580.95.05    Driver Version: 580.95.05    CUDA Version: 13.0     |"


def test_node_result_with_a_gpu():
    query = {"rc": 0, "stdout": "0, Tesla P10, 580.95.05, 00000000:01:00.0\n"}
    done = [{"check": "nvidia-smi on the host", "result": "passed", "detail": ""}]
    node = NODE_RESULT(done, True, query, {"rc": 0, "stdout": SMI_TABLE}, [], True, False, "gpu1")
    assert node["driver_version"] == "580.95.05" and node["cuda_version"] == "13.0" and node["why_no_gpu"] == ""
    assert node["checks"] == done and node["headline"] == "gpu1: GPU present, driver 580.95.05, CUDA 13.0"


def test_node_result_without_a_gpu_says_why_and_what_is_installed():
    modinfo = [{"rc": 0, "stdout": "580.95.05\n"}, {"rc": 0, "stdout": "580.95.05"}, {"rc": 1, "stdout": ""},
               {"skipped": True}]
    query = {"rc": 9, "stdout": "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
             "stderr": "x " * 100}
    node = NODE_RESULT([], False, query, {"skipped": True}, modinfo, True, True, "lab")
    assert node["driver_version"] == "580.95.05 (installed, not loaded)" and node["cuda_version"] == ""
    assert node["why_no_gpu"].startswith("its GPU is simulated (an lspci dump, nvidia_gpu_host.simulated); "
                                         "nvidia-smi: ")
    assert node["why_no_gpu"].endswith("...") and len(node["why_no_gpu"]) < 260
    assert node["headline"].startswith("lab: NO GPU PRESENT (its GPU is simulated")


def test_node_result_with_nothing_installed():
    node = NODE_RESULT([], False, {"skipped": True}, None, None, False, False, "bare")
    assert node["driver_version"] == "not installed" and node["why_no_gpu"] == "nvidia-smi is not installed"


def test_node_result_refuses_bad_input():
    with pytest.raises(AnsibleFilterError, match="validate_node_result"):
        NODE_RESULT(5, True)


def test_refused_node_names_the_refusal_codes():
    node = FilterModule().filters()["validate_refused_node"]([{"code": "pi5_broadcom_bridge"}, {"code": "x"}])
    assert node["skipped"] and not node["gpu_present"] and node["driver_version"] == "not installed"
    assert node["checks"] == [{"check": "GPU stack", "result": "not run",
                               "detail": "the verdict says the GPU cannot work on this host (pi5_broadcom_bridge, x); "
                                         "site.yml installed the container runtime only"}]


def test_the_dkms_check_asks_for_the_installed_module_and_a_recorded_build_failure_explains_it():
    # Debian's trixie driver: contrib's nvidia-open-kernel-dkms registers nvidia-current-open (its dkms.conf); the
    # nvidia_driver role recorded that it did not build for the first kernel only.
    failure = {"kernels": ["6.12.118+deb13-amd64"], "dkms_name": "nvidia-current-open",
               "message": "NVIDIA's open kernel module (...) does not build for kernel 6.12.118+deb13-amd64: x"}
    plan = validate_check_plan(dict(NODE, gpu_present=False, kernels=["6.12.118+deb13-amd64", "6.12.117+deb13-amd64"],
                                    dkms_name="nvidia-current-open", build_failure=failure))
    dkms = [c for c in plan if c["check"].startswith("driver module DKMS-built")]
    assert [c["argv"] for c in dkms] == [["dkms", "status", "-m", "nvidia-current-open", "-k", k]
                                         for k in ("6.12.118+deb13-amd64", "6.12.117+deb13-amd64")]
    runs = [{"item": c, "rc": 0, "stdout": "", "stderr": ""} for c in dkms]  # dkms status: nothing registered
    results = checks.check_results(dkms, runs)
    assert results[0] == {"check": dkms[0]["check"], "result": "FAILED", "detail": failure["message"]}
    assert results[1] == {"check": dkms[1]["check"], "result": "FAILED", "detail": "rc 0: "}
    passed = checks.check_results(dkms[:1], [dict(runs[0], stdout="nvidia-current-open/550.163.01, "
                                                  "6.12.118+deb13-amd64, x86_64: installed")])
    assert passed[0]["result"] == "passed"  # the record explains a failure; it never makes one
    assert validate_check_plan(dict(NODE, gpu_present=False))[2]["argv"][3] == "nvidia"  # NVIDIA's repo, the runfile
