# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ML layer's choices from the host's GPU plan (pure): CUDA toolkit, cuDNN, PyTorch wheel variant.

Built on the GPU plan (``_gpu_plan.host_plan``): its kind, CUDA range (the cards' ceiling and the driver
branch's) and compute capabilities. Nothing here judges the hardware again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _shapes, _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_catalog as catalog
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu._gpu_plan import DRIVER_CUDA_MAX, version_key

TOOLKIT_SOURCES = ("cuda_repo", "debian")
TORCH_SOURCES = ("pip", "debian")
# Debian's own nvidia-cuda-toolkit per release (non-free; contrib/non-free-firmware for its dependencies).
DEBIAN_TOOLKIT = {"bookworm": "11.8", "trixie": "12.4"}
# Debian's own python3-torch per release: built for the CPU only (main; no CUDA kernels).
DEBIAN_TORCH = {"bookworm": "1.13", "trixie": "2.6"}
# Toolkit releases known to the collection (those of the driver table), used when apt's list is not given.
KNOWN_TOOLKITS = tuple(sorted(set(DRIVER_CUDA_MAX.values()) | {"12.0", "12.1"}, key=version_key))


class MlPlanError(ValueError):
    """Bad choices (a pin that is not a version, an unknown source or variant)."""


def _cc(value: Any) -> tuple[int, int] | None:
    match = re.fullmatch(r"(\d+)\.(\d+)", str(value or ""))
    return (int(match.group(1)), int(match.group(2))) if match else None


def wheel_serves(arches: Sequence[str], compute_capability: str) -> bool:
    """A build runs on a card when it has code for the card's major version at the same or a lower minor."""
    card = _cc(compute_capability)
    if card is None:
        return False
    return any(a is not None and a[0] == card[0] and a[1] <= card[1] for a in map(_cc, arches))


def _version(value: Any, what: str) -> str | None:
    text = str(value if value is not None else "").strip().lower()
    if text in ("", "auto"):
        return None
    if not re.fullmatch(r"\d+\.\d+", text):
        raise MlPlanError(f"{what} must be 'auto' or a CUDA version such as 12.6, not {value!r}")
    return text


def _within(version: str, low: str | None, high: str | None) -> bool:
    return (low is None or version_key(version) >= version_key(low)) and (
        high is None or version_key(version) <= version_key(high))


def toolkit_versions(package_names: Sequence[str]) -> list[str]:
    """CUDA versions of the versioned toolkit packages apt knows (cuda-toolkit-12-9 -> 12.9), sorted."""
    matches = (re.fullmatch(r"cuda-toolkit-(\d+)-(\d+)", str(name).strip()) for name in package_names)
    found = {f"{m.group(1)}.{m.group(2)}" for m in matches if m}
    return sorted(found, key=version_key)


def toolkit_choice(plan: Mapping, source: str = "cuda_repo", pin: Any = "auto", release: str = "",
                   available: Sequence[str] | None = None) -> dict:
    """The CUDA toolkit for the host: newest available within the plan's CUDA range, or the user's pin.

    ``available`` are the toolkit versions apt offers (``12.9`` for ``cuda-toolkit-12-9``); None means
    the collection's own list. ``refused`` is a sentence when nothing fits; then ``version`` is None.
    """
    if source not in TOOLKIT_SOURCES:
        raise MlPlanError(f"the toolkit source must be one of {', '.join(TOOLKIT_SOURCES)}, not {source!r}")
    pinned = _version(pin, "the toolkit version")
    cuda = plan.get("cuda") or {}
    low, high = cuda.get("min"), cuda.get("max")
    limit = f"CUDA {low or 'any'} to {high or 'the newest'} ({cuda.get('reason') or 'no limit is known'})"
    out = {"source": source, "version": None, "packages": [], "reason": "", "refused": ""}
    if plan.get("kind") != "gpu_stack":
        out["reason"] = f"no toolkit: the host gets no GPU stack ({plan.get('reason') or plan.get('kind')})"
        return out
    if source == "debian":
        shipped = DEBIAN_TOOLKIT.get(str(release))
        if shipped is None:
            out["refused"] = (f"Debian {release or '(unknown release)'} has no nvidia-cuda-toolkit this collection "
                              f"knows ({', '.join(f'{k} {v}' for k, v in DEBIAN_TOOLKIT.items())}): use the CUDA repo.")
        elif pinned and pinned != shipped:
            out["refused"] = f"Debian {release} ships CUDA {shipped}, not the pinned {pinned}: use the CUDA repo."
        elif not _within(shipped, low, high):
            out["refused"] = f"Debian {release}'s CUDA {shipped} is outside what this host allows: {limit}."
        else:
            out.update(version=shipped, packages=["nvidia-cuda-toolkit"],
                       reason=f"Debian {release}'s nvidia-cuda-toolkit {shipped}, within {limit}")
        return out
    if pinned:
        if not _within(pinned, low, high):
            out["refused"] = f"The pinned CUDA toolkit {pinned} is outside what this host allows: {limit}."
            return out
        if available is not None and pinned not in available:
            out["refused"] = (f"The pinned CUDA toolkit {pinned} is not in the apt sources "
                              f"(they offer {', '.join(available) or 'none'}).")
            return out
        chosen, why = pinned, f"pinned, within {limit}"
    else:
        fitting = sorted((v for v in (KNOWN_TOOLKITS if available is None else available) if _within(v, low, high)),
                         key=version_key)
        if not fitting:
            out["refused"] = (f"No CUDA toolkit {'the apt sources offer' if available is not None else 'known'} "
                              f"fits: {limit}; offered: {', '.join(available or KNOWN_TOOLKITS) or 'none'}.")
            return out
        chosen, why = fitting[-1], f"the newest within {limit}"
    major, minor = chosen.split(".")
    out.update(version=chosen, packages=[f"cuda-toolkit-{major}-{minor}"], reason=why)
    return out


def cudnn_choice(toolkit: Mapping, wanted: bool = True) -> dict:
    """cuDNN 9 for the toolkit's major version, from the same repo (NVIDIA's cudnn9-cuda-<major>)."""
    if not wanted:
        return {"packages": [], "reason": "not wanted (cudnn is off)", "refused": ""}
    if not toolkit.get("version"):
        return {"packages": [], "reason": "no toolkit, no cuDNN", "refused": ""}
    if toolkit.get("source") == "debian":
        return {"packages": [], "reason": "", "refused": (
            "Debian's nvidia-cudnn is an installer that downloads cuDNN while it installs (it fails offline): "
            "take the toolkit from the CUDA repo for cuDNN, or turn cuDNN off.")}
    major = str(toolkit["version"]).split(".", maxsplit=1)[0]
    return {"packages": [f"cudnn9-cuda-{major}"], "reason": f"cuDNN 9 for CUDA {major} from the CUDA repo",
            "refused": ""}


def torch_choice(plan: Mapping, variant: str = "auto", index: str = catalog.TORCH_INDEX) -> dict:
    """The PyTorch wheel variant: the newest CUDA build with kernels for every card whose CUDA the driver runs."""
    index = str(index).rstrip("/")
    known = [w["variant"] for w in catalog.TORCH_WHEELS]
    if variant not in ("auto", "cpu", *known):
        raise MlPlanError(f"the torch variant must be auto, cpu or one of {', '.join(known)}, not {variant!r}")
    cuda = plan.get("cuda") or {}
    ccs = list(cuda.get("compute_capabilities") or [])
    driver_max = cuda.get("driver_max")
    if variant == "cpu":
        return {"variant": "cpu", "index_url": f"{index}/cpu", "cuda": None, "reason": "CPU wheels, as asked",
                "refused": "", "source": ""}
    if plan.get("kind") != "gpu_stack" or not ccs:
        if plan.get("refusals"):
            codes = ", ".join(r.get("code", "?") for r in plan["refusals"])
            why = f"the GPU cannot work on this host ({codes})"
        elif not ccs:
            why = "no NVIDIA GPU with a known compute capability"
        else:
            why = f"the host gets no GPU stack ({plan.get('kind')})"
        if variant != "auto":
            return {"variant": None, "index_url": None, "cuda": None, "reason": "",
                    "refused": f"torch {variant} was asked for, but {why}: use cpu or auto.", "source": ""}
        return {"variant": "cpu", "index_url": f"{index}/cpu", "cuda": None, "reason": f"CPU wheels: {why}",
                "refused": "", "source": ""}
    candidates = [w for w in catalog.TORCH_WHEELS if variant in ("auto", w["variant"])]
    for wheel in candidates:
        missing = [cc for cc in ccs if not wheel_serves(wheel["arches"], cc)]
        too_new = driver_max is not None and version_key(wheel["cuda"]) > version_key(driver_max)
        if not missing and not too_new:
            return {"variant": wheel["variant"], "index_url": f"{index}/{wheel['variant']}", "cuda": wheel["cuda"],
                    "reason": (f"the newest build with kernels for compute capability {', '.join(ccs)} whose CUDA "
                               f"{wheel['cuda']} the driver runs (up to {driver_max or 'any'})"),
                    "refused": "", "source": wheel["source"]}
        if variant != "auto":
            if missing:
                why = (f"it has no kernels for compute capability {', '.join(missing)} "
                       f"(it has {', '.join(wheel['arches'])})")
            else:
                why = f"its CUDA {wheel['cuda']} is newer than driver branch {plan.get('branch')} runs ({driver_max})"
            return {"variant": None, "index_url": None, "cuda": None, "reason": "",
                    "refused": f"torch {variant} cannot run here: {why}.", "source": wheel["source"]}
    return {"variant": None, "index_url": None, "cuda": None, "reason": "", "source": "", "refused": (
        f"No PyTorch CUDA build has kernels for compute capability {', '.join(ccs)} with a CUDA the driver runs "
        f"({driver_max or 'any'}): use cpu.")}


def torch_install(torch: Mapping, source: str = "pip", version: Any = "", release: str = "") -> dict:
    """How the chosen wheel variant gets into the environment: pip from the variant's index, or Debian's CPU build.

    ``local`` is the local version label the installed ``torch`` must carry (``2.8.0+cu126``: ``cu126``), which
    proves the index it came from; None for Debian's package (its version has no variant label).
    """
    if source not in TORCH_SOURCES:
        raise MlPlanError(f"the torch source must be one of {', '.join(TORCH_SOURCES)}, not {source!r}")
    pin = str(version if version is not None else "").strip()
    if pin and not re.fullmatch(r"\d+(\.\d+){0,2}", pin):
        raise MlPlanError(f"the torch version must be empty (the newest) or a release such as 2.8.0, not {version!r}")
    out = {"source": source, "apt": [], "pip": [], "index_url": None, "local": None, "system_site_packages": False,
           "reason": "", "refused": ""}
    variant = torch.get("variant")
    if torch.get("refused") or not variant:
        out["refused"] = torch.get("refused") or "no torch variant was chosen"
        return out
    if source == "debian":
        shipped = DEBIAN_TORCH.get(str(release))
        if variant != "cpu":
            out["refused"] = (f"Debian's python3-torch is built for the CPU only, and this host's GPU wants {variant} "
                              f"({torch.get('reason')}): take torch from pip, or ask for the cpu variant.")
        elif shipped is None:
            out["refused"] = (f"Debian {release or '(unknown release)'} has no python3-torch this collection knows "
                              f"({', '.join(f'{k} {v}' for k, v in DEBIAN_TORCH.items())}): take torch from pip.")
        elif pin and not (pin == shipped or pin.startswith(shipped + ".")):
            out["refused"] = f"Debian {release} ships torch {shipped}, not the pinned {pin}: take torch from pip."
        else:
            out.update(apt=["python3-torch"], system_site_packages=True,
                       reason=f"Debian {release}'s python3-torch {shipped} (CPU), seen through the environment")
        return out
    out.update(pip=[f"torch=={pin}" if pin else "torch"], index_url=torch.get("index_url"), local=variant,
               reason=f"torch {pin or '(newest)'}+{variant} from {torch.get('index_url')}")
    return out


def _release(text: str) -> tuple:
    """A public version as pip compares it for ==: zero-padded release numbers, then any pre/post/dev suffix."""
    match = re.fullmatch(r"(\d+(?:\.\d+)*)(.*)", text.split("+", 1)[0].strip())
    if not match:
        return (text,)
    numbers = [int(n) for n in match.group(1).split(".")]
    numbers += [0] * max(0, 3 - len(numbers))
    return (*numbers, match.group(2))


def torch_reinstall(install: Mapping, installed: Any) -> str:
    """Why the environment's torch (its version, '' when absent) must be (re)installed; '' when it is the right one.

    pip sees any torch as installed whatever its build, so a ``+cpu`` torch where the plan wants ``+cu126`` is
    named here and removed first. A pin compares releases as pip does (2.8 is 2.8.0).
    """
    if not install.get("pip"):
        return ""
    have = str(installed or "").strip()
    if not have:
        return "torch is not installed"
    label = have.split("+", 1)[1] if "+" in have else ""
    if label != install.get("local"):
        return f"torch {have} is another build than {install.get('local')}"
    spec = str(install["pip"][0])
    if "==" in spec and _release(spec.split("==", 1)[1]) != _release(have):
        return f"torch {have} is not the pinned {spec.split('==', 1)[1]}"
    return ""


def _toolkit_summary(toolkit: Mapping, cudnn: Mapping) -> str:
    return (f"toolkit {toolkit['version'] or 'none'} ({toolkit['reason'] or toolkit['refused']}); "
            f"cuDNN {', '.join(cudnn['packages']) or 'none'} ({cudnn['reason'] or cudnn['refused']})")


def _torch_summary(torch: Mapping, install: Mapping) -> str:
    return (f"torch {torch['variant'] or 'none'} ({torch['reason'] or torch['refused']}"
            f"{'; ' + install['reason'] if install['reason'] else ''})")


def workstation_summary(python_plan: Mapping, toolkit_plan: Mapping | None = None,
                        torch_fact: Mapping | None = None) -> str:
    """One line per workstation: toolkit, cuDNN and torch build, each with why, and what the torch check saw.

    Both plans are ml_plan's results. ``toolkit_plan`` is cuda_toolkit's choice (from apt's list) where that role
    ran, else ``python_plan``'s toolkit part is used; ``torch_fact`` is ml_python's ``ml_python_installed``.
    """
    python_plan = _shapes.mapping(python_plan, "ml_python_plan")
    toolkit_plan = _shapes.mapping(toolkit_plan, "cuda_toolkit_plan")
    torch_fact = _shapes.mapping(torch_fact, "ml_python_installed")
    for plan, name, keys in ((toolkit_plan or python_plan, "cuda_toolkit_plan" if toolkit_plan else "ml_python_plan",
                              ("toolkit_summary",)), (python_plan, "ml_python_plan", ("torch_summary",))):
        if any(not isinstance(plan.get(key), str) for key in keys):
            raise _values.ValueProblem(f"{name} must be ml_plan's result (with {', '.join(keys)}),"
                                       f" not {_values._shown(plan)}")
    line = f"{(toolkit_plan or python_plan)['toolkit_summary']}; {python_plan['torch_summary']}"
    if torch_fact:
        matmul = _shapes.mapping(torch_fact.get("matmul"), "ml_python_installed.matmul")
        if matmul.get("ran"):
            ran = f"matmul on {_shapes.plain(matmul.get('device'))} {'right' if matmul.get('right') else 'WRONG'}"
        else:
            ran = _shapes.plain(matmul.get("why") or "matmul not run")
        line += f"; installed torch {_shapes.plain(torch_fact.get('version') or 'none')}, {ran}"
    return line


def nvcc_arch_flags(plan: Mapping) -> list[str]:
    """-gencode flags for each card's compute capability (sm_61 on Pascal), for the toolkit's test build."""
    flags = []
    for cc in (plan.get("cuda") or {}).get("compute_capabilities") or []:
        code = str(cc).replace(".", "")
        flags.append(f"-gencode=arch=compute_{code},code=sm_{code}")
    return flags


def ml_plan(plan: Mapping, choices: Mapping | None = None) -> dict:
    """Everything the ML roles install, with a reason each, and the host's summary line."""
    plan = dict(_shapes.mapping(plan, "the host's nvidia_gpu_plan"))
    for key in ("verdict", "driver"):
        _shapes.mapping(plan.get(key), f"nvidia_gpu_plan.{key}")
    cuda = dict(_shapes.mapping(plan.get("cuda"), "nvidia_gpu_plan.cuda"))
    for key in ("min", "max", "gpu_max", "driver_max"):
        if cuda.get(key) is not None:
            cuda[key] = _values.word(cuda[key], f"nvidia_gpu_plan.cuda.{key}", r"[0-9]{1,4}(\.[0-9]{1,4}){0,3}",
                                     "a CUDA version such as 12.6")
    if "compute_capabilities" in cuda:
        cuda["compute_capabilities"] = _values.string_list(
            cuda["compute_capabilities"], "nvidia_gpu_plan.cuda.compute_capabilities",
            lambda v, n: _values.word(v, n, r"[0-9]{1,2}\.[0-9]{1,2}", "a compute capability such as 6.1"))
    if cuda.get("reason") is not None:
        cuda["reason"] = _shapes.plain(cuda["reason"])
    plan["cuda"] = cuda
    choices = dict(_shapes.mapping(choices, "the ML choices"))
    available = choices.get("available")
    if available is not None:
        available = _values.string_list(available, "the toolkit versions apt offers (available)")
    if choices.get("apt_names") is not None:
        available = toolkit_versions(_shapes.lines(choices["apt_names"], "apt_names (apt-cache pkgnames' lines)"))
    for key in ("toolkit_source", "torch_variant", "torch_source", "release"):
        if key in choices:
            choices[key] = _values.single_line(choices[key], key, allow_empty=True)
    if "torch_index" in choices:
        choices["torch_index"] = _values.url(choices["torch_index"], "torch_index (ml_python_torch_index)")
    toolkit = toolkit_choice(plan, choices.get("toolkit_source", "cuda_repo"), choices.get("toolkit_version", "auto"),
                             choices.get("release", ""), available)
    cudnn = cudnn_choice(toolkit, _values.boolean(choices.get("cudnn", True), "cudnn (cuda_toolkit_cudnn)"))
    torch = torch_choice(plan, choices.get("torch_variant", "auto"), choices.get("torch_index", catalog.TORCH_INDEX))
    install = torch_install(torch, choices.get("torch_source", "pip"), choices.get("torch_version", ""),
                            choices.get("release", ""))
    refusals = [part["refused"] for part in (toolkit, cudnn, torch) if part["refused"]]
    if install["refused"] and install["refused"] != torch["refused"]:
        refusals.append(install["refused"])
    toolkit_summary, torch_summary = _toolkit_summary(toolkit, cudnn), _torch_summary(torch, install)
    return {"toolkit": toolkit, "cudnn": cudnn, "torch": torch, "torch_install": install,
            "nvcc_flags": nvcc_arch_flags(plan), "refusals": refusals, "toolkit_summary": toolkit_summary,
            "torch_summary": torch_summary, "summary": f"{toolkit_summary}; {torch_summary}"}


def pip_conf(index_url: Any, trusted_hosts: Any, env: Any) -> str:
    """The lines of an environment's pip.conf after its header: the index (an http(s) URL, empty for PyPI) and the
    hosts pip may reach over plain HTTP, each checked, so no value adds a line or a setting."""
    env = _values.absolute_path(env, "the environment (ml_python_root/ml_python_env_name)")
    index_url = _values.url(index_url, "ml_python_pip_index_url") if index_url not in (None, "") else ""
    hosts = _values.string_list(trusted_hosts, "ml_python_pip_trusted_hosts", lambda v, n: _values.word(
        v, n, r"[A-Za-z0-9][A-Za-z0-9.:-]*", "a host name, an address or host:port"))
    lines = [f"# pip's site configuration of {env}: every pip of this environment reads it.", "[global]"]
    lines += [f"index-url = {index_url}"] if index_url else []
    lines += [f"trusted-host = {' '.join(hosts)}"] if hosts else []
    return "\n".join([*lines, "disable-pip-version-check = true"])


# --- the roles' plans: everything cuda_toolkit's and ml_python's tasks act on ---------------------------------------

def _dir(value: Any, name: str) -> str:
    text = _values.absolute_path(value, name)
    return _values.word(text, name, r"/[A-Za-z0-9_.@+/-]*", "an absolute path of letters, digits and . _ @ + - /")


def toolkit_role_plan(gpu_plan: Mapping, choices: Mapping | None = None, check_mode: bool = False) -> dict:
    """cuda_toolkit's plan: ml_plan's toolkit and cuDNN choice, the packages, the toolkit's home and nvcc, the
    login-shell and linker files (written for NVIDIA's toolkit, removed for Debian's, which lives in /usr), the check
    program's nvcc argv (-gencode per card, -lcudnn with cuDNN) and ``refused`` (one sentence, or empty)."""
    choices = dict(_shapes.mapping(choices, "cuda_toolkit's choices"))
    source = choices.get("toolkit_source", "cuda_repo")
    check_dir = _dir(choices.get("check_dir", "/var/lib/homelab-cuda-check"), "cuda_toolkit_check_dir")
    files = [_dir(choices.get("profile_script", "/etc/profile.d/homelab-cuda.sh"), "cuda_toolkit_profile_script"),
             _dir(choices.get("ld_conf", "/etc/ld.so.conf.d/homelab-cuda.conf"), "cuda_toolkit_ld_conf")]
    apt_names = choices.pop("apt_names", None)
    if check_mode and not apt_names:
        apt_names = None  # check mode on a fresh host: apt does not know the repo yet, the known releases serve
    if apt_names is not None:
        choices["apt_names"] = apt_names
    plan = ml_plan(gpu_plan, choices)
    toolkit, cudnn = plan["toolkit"], plan["cudnn"]
    version = toolkit["version"]
    home = f"/usr/local/cuda-{version}" if source == "cuda_repo" and version else "/usr"
    nvcc = f"{home}/bin/nvcc"
    with_cudnn = bool(cudnn["packages"])
    source_file, binary = f"{check_dir}/cuda_check.cu", f"{check_dir}/cuda_check"
    argv = [nvcc, *plan["nvcc_flags"], *(["-DWITH_CUDNN"] if with_cudnn else []), source_file, "-o", binary,
            *(["-lcudnn"] if with_cudnn else [])]
    if check_mode:
        not_built = "not built: check mode"
    elif not plan["nvcc_flags"]:
        not_built = "not built: no compute capability in the plan"
    elif not _values.boolean(choices.get("check_build", True), "cuda_toolkit_check_build"):
        not_built = "not built: cuda_toolkit_check_build is off"
    else:
        not_built = ""
    plan.update(
        install=version is not None,
        refused=" ".join(part["refused"] for part in (toolkit, cudnn) if part["refused"]),
        version=version, source=source, packages=[*toolkit["packages"], *cudnn["packages"]], home=home, nvcc=nvcc,
        nvcc_release=f"release {version},",
        # NVIDIA's toolkit lives in /usr/local/cuda-X.Y: login shells and the linker are told; Debian's needs neither.
        shell_files=[{"src": "homelab-cuda.sh.j2", "dest": files[0]}, {"src": "homelab-cuda.conf.j2", "dest": files[1]}]
        if source == "cuda_repo" else [],
        stale_files=files if source == "debian" else [],
        ld_conf=files[1],
        installed={"version": version, "source": source, "packages": [*toolkit["packages"], *cudnn["packages"]],
                   "nvcc": nvcc, "build": not_built or f"built with {' '.join(argv)}"},
        check={"build": not not_built, "dir": check_dir, "source": source_file, "binary": binary, "argv": argv})
    return plan


def python_role_plan(gpu_plan: Mapping, choices: Mapping | None = None) -> dict:
    """ml_python's plan: ml_plan's torch choice, the environment's path, apt packages, venv argv, pip.conf, the pip
    argv that installs (and first removes) torch, what the torch check records, and ``refused``."""
    choices = dict(_shapes.mapping(choices, "ml_python's choices"))
    root = _dir(choices.get("root", "/opt/ml"), "ml_python_root")
    if root == "/":
        raise MlPlanError("ml_python_root must be an absolute path other than /")
    name = _values.word(choices.get("env_name", "torch"), "ml_python_env_name", r"[A-Za-z0-9][A-Za-z0-9._-]*",
                        "letters, digits and . _ -")
    group = _values.word(choices.get("group", "ml"), "ml_python_group", r"[a-z_][a-z0-9_-]*", "a group name")
    users = _values.string_list(choices.get("users"), "ml_python_users", lambda v, n: _values.word(
        v, n, r"[a-z_][a-z0-9_.-]*[$]?", "a user name"))
    torch_on = _values.boolean(choices.get("torch", True), "ml_python_torch")
    env = f"{root}/{name}"
    python = f"{env}/bin/python"
    plan = ml_plan(gpu_plan, {key: choices[key] for key in ("torch_variant", "torch_index", "torch_source",
                                                            "torch_version", "release") if key in choices})
    install = plan["torch_install"]
    refused = [install["refused"]] if torch_on and install["refused"] else []
    accounts = choices.get("accounts")
    unknown = [user for user in users if accounts is not None and user not in accounts]
    if unknown:
        refused.append(f"ml_python_users names accounts this host does not have: {', '.join(unknown)}.")
    system_site = torch_on and install["system_site_packages"]
    index = install["index_url"]
    plan.update(
        refused=" ".join(refused), env=env, python=python, group=group, users=users, torch_on=torch_on,
        apt=["python3-venv", "acl", *(install["apt"] if torch_on else [])],
        venv_argv=["python3", "-m", "venv", *(["--system-site-packages"] if system_site else []), env],
        system_site_line=f"include-system-site-packages = {'true' if system_site else 'false'}",
        pip_conf=pip_conf(choices.get("pip_index_url", ""), choices.get("pip_trusted_hosts") or [], env),
        pip_torch=bool(torch_on and install["pip"]),
        torch_uninstall_argv=[python, "-m", "pip", "uninstall", "--yes", "torch"],
        torch_install_argv=[python, "-m", "pip", "install", "--no-input", "--index-url", str(index), *install["pip"]],
        check=torch_on and _values.boolean(choices.get("check", True), "ml_python_check"),
        blind_message=(f"Check mode: {env} would be created for group {group} ({', '.join(users) or 'no users added'})"
                       f", with torch {plan['torch']['variant']} ({install['reason']})."),
        record={"env": env, "group": group, "variant": plan["torch"]["variant"], "cuda_build": plan["torch"]["cuda"],
                "source": install["source"], "index_url": index, "reason": plan["torch"]["reason"]},
        unchecked={"version": None, "cuda": None, "available": None, "device": None, "error": None,
                   "gpu_checked": False,
                   "gpu": "not checked (check mode before the environment exists, or ml_python_check false)",
                   "matmul": {"ran": False,
                              "why": "not checked (check mode before the environment exists, or ml_python_check)"}})
    return plan
