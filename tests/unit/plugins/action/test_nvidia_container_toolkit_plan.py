# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action nvidia_container_toolkit_plan, checked against sources outside the planner.

- NVIDIA's install guide (docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html) pins
  a version by naming all four packages: nvidia-container-toolkit, nvidia-container-toolkit-base,
  libnvidia-container-tools, libnvidia-container1, each `=${NVIDIA_CONTAINER_TOOLKIT_VERSION}`.
- What the real nvidia-ctk 1.20 wrote (../shared/reference/nvidia-ctk-1.20/cases): the checks the plan asks for
  must hold on those files.
- ../shared/reference/upstream-facts.md: the nvidia-cdi-refresh units arrived in 1.18 and write
  /var/run/cdi/nvidia.yaml; the /dev/char symlinks come from `nvidia-ctk system create-dev-char-symlinks
  --create-all`.
- `apt-cache policy` as apt prints it (two-space fields, a version table with `***` at the installed one).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from unittest.mock import MagicMock

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.action.nvidia_container_toolkit_plan import ActionModule

REFERENCE = Path(__file__).resolve().parents[4].parent / "shared" / "reference" / "nvidia-ctk-1.20" / "cases"
NVIDIA_GUIDE_PACKAGES = ["nvidia-container-toolkit", "nvidia-container-toolkit-base", "libnvidia-container-tools",
                         "libnvidia-container1"]
POLICY = """\
nvidia-container-toolkit:
  Installed: 1.17.8-1
  Candidate: 1.18.1-1
  Version table:
     1.18.1-1 500
        500 https://nvidia.github.io/libnvidia-container/stable/deb/amd64  Packages
 *** 1.17.8-1 500
        500 https://nvidia.github.io/libnvidia-container/stable/deb/amd64  Packages
        100 /var/lib/dpkg/status
"""
POLICY_UNKNOWN = """\
N: Unable to locate package nvidia-container-toolkit
"""
GPU = {"gpu_present": True, "gpu_simulated": False, "gpu_names": ["Tesla P4"]}
NO_GPU = {"gpu_present": False, "gpu_simulated": False, "gpu_names": []}
SIMULATED = {"gpu_present": True, "gpu_simulated": True, "gpu_names": ["Tesla P10"]}


def run(args, check_mode=False):
    task = MagicMock(args=args, async_val=0, check_mode=check_mode, diff=False)
    play_context = MagicMock(check_mode=check_mode)
    action = ActionModule(task, MagicMock(), play_context, MagicMock(), MagicMock(), MagicMock())
    return action.run(task_vars={})


def plan(check_mode=False, **args):
    args.setdefault("gpu_plan", GPU)
    args.setdefault("apt_policy", POLICY)
    args.setdefault("engines_found", ["/usr/bin/dockerd", "/usr/bin/containerd"])
    result = run(args, check_mode)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False
    return result["plan"]


def refusal(check_mode=False, **args):
    args.setdefault("gpu_plan", GPU)
    args.setdefault("apt_policy", POLICY)
    args.setdefault("engines_found", ["dockerd", "containerd"])
    result = run(args, check_mode)
    assert result.get("failed") is True and "plan" not in result
    assert "Traceback" not in result["msg"]
    return result["msg"]


def test_a_pinned_version_names_the_four_packages_of_nvidias_guide():
    p = plan(version="1.17.8-1")
    assert p["packages"] == [f"{name}=1.17.8-1" for name in NVIDIA_GUIDE_PACKAGES]
    assert p["version"] == "1.17.8-1"


def test_latest_is_apts_candidate_not_the_installed_version():
    p = plan(version="latest")
    assert p["packages"] == [f"{name}=1.18.1-1" for name in NVIDIA_GUIDE_PACKAGES]


def test_the_checks_expect_dpkg_to_show_all_four_held_at_the_version():
    p = plan(version="1.18.1-1")
    argv = p["verify"]["dpkg_argv"]
    assert argv[:2] == ["dpkg-query", "--show"] and argv[-4:] == NVIDIA_GUIDE_PACKAGES
    # dpkg's abbreviated status of an installed, held package is "hi " (dpkg-query(1), db:Status-Abbrev)
    assert p["verify"]["dpkg_lines"] == ["hi 1.18.1-1"] * 4
    # nvidia-ctk --version prints "NVIDIA Container Toolkit CLI version 1.18.1"
    assert p["verify"]["ctk_version"] in "NVIDIA Container Toolkit CLI version 1.18.1\ncommit: 0123abc"


def test_a_version_apt_does_not_know_is_refused_with_what_it_knows():
    msg = refusal(version="1.16.0-1")
    assert "1.16.0-1" in msg and "1.18.1-1, 1.17.8-1" in msg and "nvidia_container_toolkit_manage_repo" in msg


def test_check_mode_before_the_repo_exists_says_what_would_be_installed():
    p = plan(check_mode=True, version="latest", apt_policy=POLICY_UNKNOWN, engines_found=[])
    assert p["packages"] == NVIDIA_GUIDE_PACKAGES and p["version"] == ""
    assert any("would be installed and held" in note for note in p["notes"])
    assert any("docker not installed yet" in note for note in p["notes"])
    assert p["runtimes"] == [] and p["verify"]["run"] is False


@pytest.mark.parametrize("version", ["1.18", "1.18.1", "v1.18.1-1", "1.18.1-1 ", "latest-1"])
def test_a_version_that_is_not_a_full_debian_version_is_refused(version):
    assert "full Debian version" in refusal(version=version)


def test_an_engine_that_is_not_installed_is_refused_outside_check_mode():
    msg = refusal(runtimes=["docker", "crio"])
    assert "crio" in msg and "no crio on PATH" in msg and "homelab.nvidia_gpu.container_runtime" in msg


def test_engines_in_restart_order_and_tomlkit_for_the_toml_ones():
    p = plan(runtimes=["docker", "containerd"])
    assert [r["runtime"] for r in p["runtimes"]] == ["containerd", "docker"]  # dockerd talks to containerd
    assert [r["service"] for r in p["runtimes"]] == ["containerd", "docker"]
    assert p["toml_packages"] == ["python3-tomlkit"]
    assert plan(runtimes=["docker"])["toml_packages"] == []


def test_a_runtime_name_nvidia_ctk_would_refuse_is_refused_before_anything_runs():
    assert "runc" in refusal(runtime_name="runc")
    assert "drop_in_path" in refusal(runtimes=["containerd"], containerd_drop_in="conf.d/99-nvidia.toml")


def _docker_info(daemon_json: dict) -> str:
    """What `docker info --format '{{json .Runtimes}} {{.DefaultRuntime}}'` prints for a daemon.json."""
    runtimes = {"io.containerd.runc.v2": {"path": "runc"}, "runc": {"path": "runc"}}
    runtimes.update({name: {"path": r["path"]} for name, r in daemon_json.get("runtimes", {}).items()})
    return f"{json.dumps(runtimes, separators=(',', ':'))} {daemon_json.get('default-runtime', 'runc')}"


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="reference cases absent")
@pytest.mark.parametrize("case,default", [("docker-set-default", True), ("docker-missing", False)])
def test_the_docker_check_holds_on_what_nvidia_ctk_wrote(case, default):
    written = json.loads((REFERENCE / case / "result/etc/docker/daemon.json").read_text())
    info = _docker_info(written)
    verify = plan(set_as_default=default)["verify"]
    assert verify["docker_runtime"] in info and info.endswith(verify["docker_default"])
    # the check fails where the runtime is missing or another default is set
    assert verify["docker_runtime"] not in _docker_info({})
    if default:
        assert not _docker_info({"runtimes": written["runtimes"]}).endswith(verify["docker_default"])


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="reference cases absent")
@pytest.mark.parametrize("case", ["containerd-v2-set-default", "containerd-v3"])
def test_the_containerd_check_holds_on_what_nvidia_ctk_wrote(case):
    drop_in = (REFERENCE / case / "result/etc/containerd/conf.d/99-nvidia.toml").read_text()
    tomllib.loads(drop_in)  # a real TOML file, as `containerd config dump` prints its tables
    assert plan(runtimes=["containerd"])["verify"]["containerd_runtime"] in drop_in
    assert plan(runtimes=["containerd"], runtime_name="gpu")["verify"]["containerd_runtime"] not in drop_in


def test_cdi_spec_where_the_refresh_units_write_it_from_1_18():
    cdi = plan(version="1.18.1-1")["cdi"]
    assert cdi["generate"] is True and cdi["output"] == "/var/run/cdi/nvidia.yaml"
    assert [u["name"] for u in cdi["refresh_units"]] == ["nvidia-cdi-refresh.path", "nvidia-cdi-refresh.service"]
    assert cdi["note"] == ""
    old = plan(version="1.17.8-1")["cdi"]
    assert old["output"] == "/etc/cdi/nvidia.yaml" and old["refresh_units"] == [] and "1.17.8-1" in old["note"]
    assert plan(version="1.18.1-1", cdi_output="/etc/cdi/gpu.yaml")["cdi"]["output"] == "/etc/cdi/gpu.yaml"


def test_dev_char_symlinks_by_nvidia_ctk_only_with_a_real_gpu():
    dev_char = plan()["dev_char"]
    assert dev_char["state"] == "present"
    assert dev_char["command"] == "/usr/bin/nvidia-ctk system create-dev-char-symlinks --create-all"
    assert plan(dev_char_symlinks=False)["dev_char"]["state"] == "absent"
    for gpu in (NO_GPU, SIMULATED):
        p = plan(gpu_plan=gpu)
        assert p["dev_char"]["state"] == "skipped" and p["cdi"]["generate"] is False
        assert any("skipped" in note for note in p["notes"])
    assert any("Tesla P10" in note and "simulated" in note for note in plan(gpu_plan=SIMULATED)["notes"])


def test_options_are_checked_against_the_doc_stub():
    result = run({"gpu_plan": GPU, "runtimes": ["podman"]})
    assert result["failed"] is True and "podman" in result["msg"]
    assert run({"runtimes": ["docker"]})["failed"] is True  # gpu_plan is required
