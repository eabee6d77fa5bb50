# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The actions cuda_toolkit_plan, ml_python_plan and ml_jupyter_plan: the ML roles' planning steps.

The expected -gencode flags come from NVIDIA's published compute capability of each product
(tests/unit/fixtures/published/cuda_gpus_compute_capability.csv), and the wheel variant from PyTorch's published
CUDA support matrix (pytorch_cuda_arch_matrix.csv), whose variant names are the directories of PyTorch's wheel index
(https://download.pytorch.org/whl/<variant>). Both are read here, not taken from the code's own tables.
"""

from __future__ import annotations

import csv
from pathlib import Path
from unittest.mock import MagicMock

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.action import cuda_toolkit_plan, ml_jupyter_plan, ml_python_plan
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_plan, _gpu_verdict

PUBLISHED = Path(__file__).resolve().parents[2] / "fixtures" / "published"
TOKEN = "t" * 32


def _rows(name):
    return list(csv.DictReader(line for line in (PUBLISHED / name).read_text().splitlines()
                               if not line.startswith("#")))


NVIDIA_CC = {row["product"]: row["compute_capability"] for row in _rows("cuda_gpus_compute_capability.csv")}
PYTORCH_VARIANTS = {row["variant"] for row in _rows("pytorch_cuda_arch_matrix.csv")}


def gpu_plan(device_id, branch=580):
    gpus = [{"address": "0000:01:00.0", "device_id": device_id, "driver": None, "link": {}}]
    host = {"platform": "generic", "page_size": 4096, "architecture": "x86_64", "simulated": False, "host_bridges": []}
    gpus, host = _gpu_verdict.judge(gpus, host)
    return _gpu_plan.host_plan(gpus, host, {"gpu_node": True, "branch": branch}, "node-1")


def run(module, args, check_mode=False):
    task = MagicMock(args=args, async_val=0, check_mode=check_mode, diff=False)
    play_context = MagicMock(check_mode=check_mode)
    action = module.ActionModule(task, MagicMock(), play_context, MagicMock(), MagicMock(), MagicMock())
    return action.run(task_vars={"inventory_hostname": "node-1"})


# (PCI device id, NVIDIA's product name, the toolkit on branch 580): the id is the card's, the name NVIDIA's row.
CARDS = [("1b38", "Tesla P40", "12.9"), ("1bb3", "Tesla P4", "12.9"), ("2204", "GeForce RTX 3090", "13.0"),
         ("2684", "GeForce RTX 4090", "13.0"), ("2339", "NVIDIA H100", "13.0"), ("2b85", "GeForce RTX 5090", "13.0")]


@pytest.mark.parametrize(("device", "product", "toolkit"), CARDS, ids=[c[1] for c in CARDS])
def test_the_check_build_targets_nvidias_compute_capability(device, product, toolkit):
    sm = NVIDIA_CC[product].replace(".", "")
    result = run(cuda_toolkit_plan, {"gpu_plan": gpu_plan(device), "apt_names": ["cuda-toolkit-12-9",
                                                                                 "cuda-toolkit-13-0"]})
    assert not result.get("failed"), result.get("msg")
    plan = result["plan"]
    major = toolkit.split(".")[0]
    assert plan["packages"] == [f"cuda-toolkit-{toolkit.replace('.', '-')}", f"cudnn9-cuda-{major}"]
    assert plan["home"] == f"/usr/local/cuda-{toolkit}" and plan["nvcc_release"] == f"release {toolkit},"
    assert plan["check"]["argv"] == [f"/usr/local/cuda-{toolkit}/bin/nvcc", f"-gencode=arch=compute_{sm},code=sm_{sm}",
                                     "-DWITH_CUDNN", "/var/lib/homelab-cuda-check/cuda_check.cu", "-o",
                                     "/var/lib/homelab-cuda-check/cuda_check", "-lcudnn"]
    assert plan["installed"]["build"] == "built with " + " ".join(plan["check"]["argv"])
    assert [f["dest"] for f in plan["shell_files"]] == ["/etc/profile.d/homelab-cuda.sh",
                                                        "/etc/ld.so.conf.d/homelab-cuda.conf"]
    assert result["ansible_facts"]["cuda_toolkit_plan"] == plan


def test_a_pin_above_the_pascal_ceiling_is_refused_in_one_sentence():
    result = run(cuda_toolkit_plan, {"gpu_plan": gpu_plan("1b38"), "version": "13.0"})
    assert result["failed"] and result["msg"].startswith("node-1: The pinned CUDA toolkit 13.0 is outside")
    assert "plan" not in result


def test_check_mode_and_a_fresh_host_fall_back_on_the_known_releases_and_build_nothing():
    result = run(cuda_toolkit_plan, {"gpu_plan": gpu_plan("2204"), "apt_names": []}, check_mode=True)
    assert result["plan"]["version"] == "13.0" and result["plan"]["check"]["build"] is False
    assert result["plan"]["installed"]["build"] == "not built: check mode"


def test_debian_toolkit_has_no_shell_files_and_refuses_cudnn():
    args = {"gpu_plan": gpu_plan("1b38"), "source": "debian", "release": "bookworm", "cudnn": False,
            "check_build": False}
    plan = run(cuda_toolkit_plan, args)["plan"]
    assert plan["nvcc"] == "/usr/bin/nvcc" and plan["packages"] == ["nvidia-cuda-toolkit"]
    assert plan["shell_files"] == [] and plan["stale_files"] == ["/etc/profile.d/homelab-cuda.sh",
                                                                 "/etc/ld.so.conf.d/homelab-cuda.conf"]
    assert plan["installed"]["build"] == "not built: cuda_toolkit_check_build is off"
    refused = run(cuda_toolkit_plan, dict(args, cudnn=True))
    assert refused["failed"] and "Debian's nvidia-cudnn is an installer" in refused["msg"]


def test_a_bad_option_fails_without_a_traceback():
    result = run(cuda_toolkit_plan, {"gpu_plan": gpu_plan("2204"), "check_dir": "relative/dir"})
    assert result["failed"] and "cuda_toolkit_check_dir must be an absolute path" in result["msg"]


@pytest.mark.parametrize(("device", "product", "variant"), [("1b38", "Tesla P40", "cu126"),
                                                            ("2204", "GeForce RTX 3090", "cu130")])
def test_pip_installs_the_published_variant_from_its_index(device, product, variant):
    assert variant in PYTORCH_VARIANTS, product
    result = run(ml_python_plan, {"gpu_plan": gpu_plan(device), "users": ["alice"], "accounts": ["root", "alice"],
                                  "torch_version": "2.8.0"})
    plan = result["plan"]
    index = f"https://download.pytorch.org/whl/{variant}"
    assert plan["env"] == "/opt/ml/torch" and plan["python"] == "/opt/ml/torch/bin/python"
    assert plan["torch_install_argv"] == ["/opt/ml/torch/bin/python", "-m", "pip", "install", "--no-input",
                                          "--index-url", index, "torch==2.8.0"]
    assert plan["apt"] == ["python3-venv", "acl"] and plan["pip_torch"] is True
    assert plan["venv_argv"] == ["python3", "-m", "venv", "/opt/ml/torch"]
    assert plan["record"]["index_url"] == index and plan["record"]["variant"] == variant
    assert "[global]" in plan["pip_conf"] and result["ansible_facts"]["ml_python_plan"] == plan


def test_debian_torch_is_seen_through_the_environment_on_a_cpu_host():
    plan = run(ml_python_plan, {"gpu_plan": gpu_plan("2204") | {"kind": "no_gpu"}, "torch_source": "debian",
                                "torch_variant": "cpu", "release": "trixie", "root": "/srv/ml/"})["plan"]
    assert plan["apt"] == ["python3-venv", "acl", "python3-torch"] and plan["pip_torch"] is False
    assert plan["venv_argv"] == ["python3", "-m", "venv", "--system-site-packages", "/srv/ml/torch"]
    assert plan["system_site_line"] == "include-system-site-packages = true"


def test_ml_python_refusals():
    cu130 = run(ml_python_plan, {"gpu_plan": gpu_plan("1b38"), "torch_variant": "cu130"})
    assert cu130["failed"] and "torch cu130 cannot run here" in cu130["msg"] and "6.1" in cu130["msg"]
    nobody = run(ml_python_plan, {"gpu_plan": gpu_plan("2204"), "users": ["bob"], "accounts": ["root"]})
    assert nobody["failed"] and "ml_python_users names accounts this host does not have: bob." in nobody["msg"]
    root = run(ml_python_plan, {"gpu_plan": gpu_plan("2204"), "root": "/"})
    assert root["failed"] and "other than /" in root["msg"]


def test_jupyter_plan_holds_the_unit_config_and_kernel():
    result = run(ml_jupyter_plan, {"release": "trixie", "token": TOKEN, "port": 8899})
    plan = result["plan"]
    assert plan["source"] == "debian" and plan["apt"] == ["jupyterlab", "python3-ipykernel"]
    assert plan["config"]["IdentityProvider"]["token"] == TOKEN and plan["config"]["ServerApp"]["port"] == 8899
    assert plan["unit_file"] == "/etc/systemd/system/homelab-jupyter.service"
    assert "ExecStart=/usr/bin/jupyter-lab --config=/etc/homelab-jupyter/jupyter_server_config.json" in plan["unit"]
    assert plan["kernel_spec"]["argv"][0] == "/opt/ml/torch/bin/python"
    assert plan["status"] == {"url": "http://127.0.0.1:8899", "reach": "this host only (loopback)", "auth": "token",
                              "source": "debian"}
    assert TOKEN not in plan["summary"]
    pip = run(ml_jupyter_plan, {"release": "bookworm", "token": TOKEN, "pip_index_url": "http://mirror.lab/simple",
                                "pip_trusted_hosts": ["mirror.lab"]})["plan"]
    assert pip["pip"] and pip["apt"] == ["python3-venv"]
    assert pip["pip_args"] == "--index-url http://mirror.lab/simple --trusted-host=mirror.lab"


def test_jupyter_refusals():
    open_server = run(ml_jupyter_plan, {"release": "trixie"})
    assert open_server["failed"] and "JupyterLab needs a token or a password hash" in open_server["msg"]
    no_env = run(ml_jupyter_plan, {"token": TOKEN, "env_exists": False})
    assert no_env["failed"] and "/opt/ml/torch has no bin/python: run homelab.nvidia_gpu.ml_python" in no_env["msg"]
    assert not run(ml_jupyter_plan, {"token": TOKEN, "env_exists": False}, check_mode=True).get("failed")
    bad = run(ml_jupyter_plan, {"token": TOKEN, "service": "a b"})
    assert bad["failed"] and "ml_jupyter_service" in bad["msg"]
