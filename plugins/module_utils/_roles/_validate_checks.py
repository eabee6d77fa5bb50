# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""validate.yml's checks of one GPU node as data: which to run, and how each came out (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _shapes, _values

GPU_ONLY_CHECKS = ("nvidia-smi on the host",
                   "nvidia-smi in a container (docker --runtime=nvidia, docker --gpus all, ctr)",
                   "CUDA sample in a container")
DETAIL_LENGTH = 160
# validate's containers need no network, and a nested or rootless Docker cannot always give them one
# (Docker 26 on trixie inside the lab fails every default-network `docker run` on its IPv6 setup).
DOCKER_RUN = ("docker", "run", "--rm", "--network=none")


def parse_tools(lines: Sequence[str]) -> dict[str, str]:
    """`tool=/path/or/empty` lines -> {tool: path}."""
    tools = {}
    for line in _shapes.lines(lines, "the tool lines (tool=path)"):
        name, _sep, path = line.partition("=")
        tools[name] = path
    return tools


def gpu_containers(lines: Sequence[str]) -> list[str]:
    """Short ids of the GPU containers among `docker inspect` lines of the form
    `<id> <runtime> <json DeviceRequests> <json Env>`: the nvidia runtime, a device request
    (`--gpus`), or NVIDIA_VISIBLE_DEVICES in the environment."""
    found = []
    for line in _shapes.lines(lines, "the docker inspect lines"):
        fields = line.split(" ", 3)
        if len(fields) < 3 or not fields[0]:
            continue
        env = fields[3] if len(fields) > 3 else ""
        if fields[1] == "nvidia" or fields[2] not in ("null", "[]") or "NVIDIA_VISIBLE_DEVICES=" in env:
            found.append(fields[0][:12])
    return found


def ctr_image_ref(image: str) -> str:
    """An image name as containerd wants it: Docker Hub names get their registry and library/ prefix."""
    image = _values.word(image, "the container image", r"[A-Za-z0-9][A-Za-z0-9_.+:@/-]*",
                         "letters, digits and . _ + : @ / -")
    if "/" in image and re.search(r"[.:]|^localhost$", image.split("/", maxsplit=1)[0]):
        return image
    return f"docker.io/{image}" if "/" in image else f"docker.io/library/{image}"


def check_plan(tools: Mapping[str, str], engines: Sequence[str], gpu_present: bool, kernels: Sequence[str],
               image: str, sample: str, namespace: str, snapshotter: str, runtime_path: str,
               container_id: str, dkms_name: str = "nvidia",
               build_failure: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The checks for one node: each {check, argv, expect?, ok_detail?, fail_detail?} to run, or {check, why} not
    run. `dkms_name` is the DKMS module of the installed driver (Debian's: nvidia-current or nvidia-current-open);
    `build_failure` the nvidia_driver role's record of a module that did not build (its message explains a
    missing module for the kernels it names)."""
    tools = _shapes.mapping(tools, "the node's tools")
    engines = _values.string_list(engines, "the node's engines (nvidia_container_toolkit_runtimes)")
    gpu_present = _values.boolean(gpu_present, "the node's gpu_present")
    kernels = _values.string_list(kernels, "the node's kernels", _values.word)
    image = _values.single_line(image, "the node's image (validate_image)")
    sample = _values.single_line(sample, "the node's sample (validate_cuda_sample_image)", allow_empty=True)
    namespace = _values.word(namespace, "the node's namespace")
    snapshotter = _values.word(snapshotter, "the node's snapshotter")
    runtime_path = _values.absolute_path(runtime_path, "the node's runtime_path")
    container_id = _values.word(container_id, "the node's container_id")
    plan: list[dict[str, Any]] = []
    docker = bool(tools.get("docker"))
    ctr = bool(tools.get("ctr"))
    ctr_run = ["ctr", "-n", namespace, "run", "--rm", "--snapshotter", snapshotter, "--runtime",
               "io.containerd.runc.v2", "--runc-binary", runtime_path, "--env", "NVIDIA_VISIBLE_DEVICES=all",
               ctr_image_ref(image), container_id]

    check = "nvidia runtime registered with Docker (docker info)"
    if docker and "docker" in engines:
        plan.append({"check": check, "argv": ["docker", "info", "--format", "{{json .Runtimes}}"],
                     "expect": '"nvidia"', "ok_detail": "docker info lists the nvidia runtime"})
    else:
        plan.append({"check": check, "why": "Docker is not installed" if not docker
                     else "docker is not in nvidia_container_toolkit_runtimes"})
    check = "nvidia runtime registered with containerd (containerd config dump)"
    if tools.get("containerd") and "containerd" in engines:
        plan.append({"check": check, "argv": ["containerd", "config", "dump"],
                     "expect": "runtimes\\.[\"']?nvidia[\"']?\\]",
                     "ok_detail": "the CRI plugin has a runtime named nvidia"})
    else:
        plan.append({"check": check, "why": "containerd is not installed" if not tools.get("containerd")
                     else "containerd is not in nvidia_container_toolkit_runtimes"})

    if gpu_present:
        plan.append({"check": "nvidia-smi on the host", "argv": ["nvidia-smi"], "expect": "Driver Version",
                     "ok_detail": "nvidia-smi talks to the driver"})
        if docker:
            plan.append({"check": "nvidia-smi in a container (docker run --runtime=nvidia)",
                         "argv": [*DOCKER_RUN, "--runtime=nvidia", "-e", "NVIDIA_VISIBLE_DEVICES=all",
                                  image, "nvidia-smi", "-L"], "expect": "(?m)^GPU 0"})
            plan.append({"check": "nvidia-smi in a container (docker run --gpus all)",
                         "argv": [*DOCKER_RUN, "--gpus", "all", image, "nvidia-smi", "-L"],
                         "expect": "(?m)^GPU 0"})
            if sample:
                plan.append({"check": "CUDA sample (vectorAdd) in a container (docker run --gpus all)",
                             "argv": [*DOCKER_RUN, "--gpus", "all", sample], "expect": "Test PASSED"})
            else:
                plan.append({"check": "CUDA sample in a container", "why": "validate_cuda_sample_image is empty"})
        if ctr:
            plan.append({"check": f"nvidia-smi in a container (ctr run --runtime io.containerd.runc.v2 --runc-binary "
                                  f"{runtime_path})", "argv": [*ctr_run, "nvidia-smi", "-L"], "expect": "(?m)^GPU 0"})
        return plan

    dkms_name = _values.word(dkms_name, "the node's dkms_name")
    failure = _shapes.mapping(build_failure or {}, "the node's build_failure")
    failed_kernels = _values.string_list(failure.get("kernels") or [], "the node's build_failure.kernels")
    for kernel in kernels:
        check = {"check": f"driver module DKMS-built for kernel {kernel}",
                 "argv": ["dkms", "status", "-m", dkms_name, "-k", kernel], "expect": ":\\s*installed"}
        if kernel in failed_kernels and failure.get("message"):
            check["fail_detail"] = _shapes.text(failure["message"], "the node's build_failure.message")
        plan.append(check)
    if docker:
        plan.append({"check": "a container ran through the runtime registered as nvidia (docker run --runtime=nvidia; "
                              "no GPU asked for)",
                     "argv": [*DOCKER_RUN, "--runtime=nvidia", image, "true"],
                     "ok_detail": f"exit 0 through {runtime_path}"})
    if ctr:
        plan.append({"check": f"a container ran through the runtime binary registered as nvidia (ctr run --runc-binary "
                              f"{runtime_path}; no GPU asked for)", "argv": [*ctr_run, "true"], "ok_detail": "exit 0"})
    plan.extend({"check": check, "why": "needs a GPU, and none is present"} for check in GPU_ONLY_CHECKS)
    return plan


def truncate(text: str, length: int = DETAIL_LENGTH, end: str = "...", leeway: int = 5) -> str:
    """Jinja's truncate filter (whole words), so the report reads as it always did."""
    if len(text) <= length + leeway:
        return text
    return text[: length - len(end)].rsplit(" ", 1)[0] + end


def check_results(plan: Sequence[Mapping[str, Any]], runs: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Each planned check as {check, result (passed, FAILED or not run), detail} from the command results."""
    runs = _shapes.registered_list(runs, "the checks' registered results")
    by_check = {}
    for index, run in enumerate(runs):
        check = _shapes.mapping(run.get("item"), f"the checks' registered results[{index}].item").get("check")
        if isinstance(check, str):
            by_check[check] = run
    results = []
    for index, item in enumerate(_shapes.mappings(plan, "the check plan", "a planned check")):
        if not isinstance(item.get("check"), str):
            raise _values.ValueProblem(f"the check plan[{index}] has no check name: {_values._shown(item)}")
        if "argv" not in item:
            results.append({"check": item["check"], "result": "not run",
                            "detail": _shapes.text(item.get("why"), f"the check plan[{index}].why")})
            continue
        run = by_check.get(item["check"], {})
        text = "\n".join(_shapes.plain(run.get(key) or "") for key in ("stdout", "stderr", "msg")).strip()
        rc = run.get("rc")
        rc = rc if isinstance(rc, int) and not isinstance(rc, bool) else None
        try:
            ok = rc == 0 and ("expect" not in item or re.search(str(item["expect"]), text) is not None)
        except re.error as exc:
            raise _values.ValueProblem(f"the check plan[{index}].expect is not a regular expression: {exc}") from None
        last = truncate(text.rsplit("\n", 1)[-1].strip()) if text else ""
        detail = (item.get("ok_detail", last) if ok
                  else item.get("fail_detail") or f"rc {'?' if rc is None else rc}: {last}")
        results.append({"check": item["check"], "result": "passed" if ok else "FAILED", "detail": detail})
    return results


def tally(node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with what the playbooks say of its checks: ``failures`` (``check: detail`` of each FAILED check),
    ``failed_checks`` (their names) and ``outcome`` (``N checks passed, M not run``, and no GPU present)."""
    checks = node.get("checks") or []
    failed = [c for c in checks if c.get("result") == "FAILED"]
    node["failures"] = [": ".join(str(v) for k, v in c.items() if k in ("check", "detail")) for c in failed]
    node["failed_checks"] = [str(c.get("check")) for c in failed]
    passed = sum(c.get("result") == "passed" for c in checks)
    not_run = sum(c.get("result") == "not run" for c in checks)
    node["outcome"] = (f"{passed} checks passed, {not_run} not run"
                       + ("" if node.get("gpu_present") else " (no GPU present)"))
    return node


def refused_node(refusals: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """validate_node of a GPU node whose plan gave it the runtime only: nothing to check, and why."""
    codes = ", ".join(_shapes.plain(r.get("code")) for r in _shapes.mappings(refusals, "the plan's refusals",
                                                                             "a problem (code, message)"))
    return tally({"gpu_present": False, "skipped": True, "driver_version": "not installed", "cuda_version": "",
                  "why_no_gpu": "the GPU verdict says it cannot work on this host",
                  "checks": [{"check": "GPU stack", "result": "not run",
                              "detail": f"the verdict says the GPU cannot work on this host ({codes}); "
                                        "site.yml installed the container runtime only"}]})


def node_result(gpu_present: bool, smi_query: Mapping[str, Any], smi: Mapping[str, Any],
                modinfo: Sequence[Mapping[str, Any]], smi_installed: bool, simulated: bool,
                checks: list[dict[str, str]], host: str) -> dict[str, Any]:
    """validate_node of one host from its registered command results: versions, why no GPU, a headline."""
    gpu_present = _values.boolean(gpu_present, "gpu_present")
    smi_query = _shapes.registered(smi_query, "the nvidia-smi --query-gpu result")
    smi = _shapes.registered(smi, "the nvidia-smi result")
    modinfo = _shapes.registered_list(modinfo, "the modinfo results")
    smi_installed = _values.boolean(smi_installed, "smi_installed")
    simulated = _values.boolean(simulated, "simulated")
    checks = _shapes.mappings(checks, "the checks done", "a check result")
    host = _shapes.plain(host)
    modules = []
    for run in modinfo:
        version = _shapes.text(run.get("stdout"), "the modinfo result's stdout").strip()
        if run.get("rc") == 0 and version not in modules:
            modules.append(version)
    query_lines = [line for line in _shapes.text(smi_query.get("stdout"), "the nvidia-smi --query-gpu stdout")
                   .splitlines() if line.strip()]
    if gpu_present and query_lines and len(query_lines[0].split(",")) > 2:
        driver = query_lines[0].split(",")[2].strip()
    elif modules:
        driver = ", ".join(modules) + " (installed, not loaded)"
    else:
        driver = "not installed"
    cuda = re.search(r"CUDA Version: *([0-9.]+)", _shapes.text(smi.get("stdout"), "the nvidia-smi stdout"))
    why = ""
    if not gpu_present:
        said = " ".join(_shapes.plain(smi_query.get(key) or "") for key in ("stdout", "stderr")).strip()
        why = (("its GPU is simulated (an lspci dump, nvidia_gpu_host.simulated); " if simulated else "")
               + (f"nvidia-smi: {truncate(said)}" if smi_installed else "nvidia-smi is not installed"))
    result = {"gpu_present": gpu_present, "driver_version": driver, "cuda_version": cuda.group(1) if cuda else "",
              "why_no_gpu": why, "checks": checks}
    result["headline"] = (f"{host}: GPU present, driver {driver}, CUDA {result['cuda_version']}" if gpu_present else
                          f"{host}: NO GPU PRESENT ({why}); checked instead what can be checked without one")
    return tally(result)
