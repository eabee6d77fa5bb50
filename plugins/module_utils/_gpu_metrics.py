# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""GPU health as Prometheus text (pure, standard library only): nvidia-smi's CSV, the plan, DKMS, the runtimes.

The collector that the role gpu_metrics installs on every host (roles/gpu_metrics/files/homelab-gpu-metrics) runs
the commands and reads the files; everything it decides is here, so that it is unit-tested: which fields to ask
nvidia-smi for, how its CSV reads (``[N/A]``, ``[Not Supported]``, several GPUs, a GPU that fell off the bus), and
the node_exporter textfile it writes. A host without a GPU still exports ``homelab_gpu_up 0`` with the reason.
This file is copied to the hosts as it is: it imports nothing outside the standard library.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

# nvidia-smi --query-gpu fields, in the order asked, and how each is exported: (metric, help, scale) or None for
# the ones that are labels. Scales turn nvidia-smi's units (nounits: W, %, MiB, MHz) into base units.
FIELDS: tuple[tuple[str, tuple[str, str, float] | None], ...] = (
    ("index", None),
    ("pci.bus_id", None),
    ("name", None),
    ("uuid", None),
    ("driver_version", None),
    ("temperature.gpu", ("temperature_celsius", "GPU core temperature in degrees Celsius.", 1.0)),
    ("power.draw", ("power_watts", "Power draw in watts.", 1.0)),
    ("power.limit", ("power_limit_watts", "Power limit in watts.", 1.0)),
    ("utilization.gpu", ("utilization_ratio", "GPU busy time over the last sample period, 0 to 1.", 0.01)),
    ("utilization.memory", ("memory_utilization_ratio", "Memory controller busy time, 0 to 1.", 0.01)),
    ("memory.used", ("memory_used_bytes", "Frame buffer memory in use, in bytes.", 1048576.0)),
    ("memory.total", ("memory_total_bytes", "Frame buffer memory in all, in bytes.", 1048576.0)),
    ("clocks.sm", ("clock_sm_hertz", "SM clock in hertz.", 1e6)),
    ("clocks.mem", ("clock_memory_hertz", "Memory clock in hertz.", 1e6)),
    ("pcie.link.gen.current", ("pcie_link_gen", "PCIe link generation now (it drops when the GPU idles).", 1.0)),
    ("pcie.link.gen.max", ("pcie_link_gen_max", "Highest PCIe link generation of this GPU in this slot.", 1.0)),
    ("pcie.link.width.current", ("pcie_link_width", "PCIe link width now (lanes).", 1.0)),
    ("pcie.link.width.max", ("pcie_link_width_max", "Widest PCIe link of this GPU in this slot (lanes).", 1.0)),
    ("ecc.errors.uncorrected.volatile.total",
     ("ecc_uncorrected_errors", "Uncorrected ECC errors since the driver loaded (absent where ECC is off).", 1.0)),
    ("fan.speed", ("fan_ratio", "Fan speed as a share of its maximum, 0 to 1 (absent on passive cards).", 0.01)),
)
QUERY = ",".join(field[0] for field in FIELDS)
# What nvidia-smi prints in place of a value it cannot give.
NOT_AVAILABLE = re.compile(r"^\[?(N/A|Not Supported|Unknown Error|Insufficient Permissions|Not Available)\]?$", re.I)
LOST = re.compile(r"GPU is lost|fallen off the bus|Unable to determine the device handle|No devices were found", re.I)
PREFIX = "homelab_gpu_"


class MetricsError(ValueError):
    """Input the collector cannot read: a CSV line with the wrong number of fields, a plan that is not a mapping."""


def _number(text: str) -> float | None:
    text = text.strip()
    if not text or NOT_AVAILABLE.match(text):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def parse_query(stdout: Any, rc: int = 0) -> dict:
    """nvidia-smi --query-gpu=QUERY --format=csv,noheader,nounits: the GPUs it answered for, and what failed.

    Returns ``gpus`` (one dict per line: the label fields as text, the metric fields as numbers or None),
    ``error`` ('' when nvidia-smi answered) and ``lost`` (a GPU fell off the bus, or none was found).
    A line with the wrong number of fields is skipped and named in ``error``.
    """
    text = str(stdout or "")
    lost = bool(LOST.search(text))
    gpus, problems = [], []
    names = [field[0] for field in FIELDS]
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), skipinitialspace=True))
    except csv.Error as exc:  # a NUL byte and the like: not nvidia-smi's CSV
        rows, problems = [], [f"the output is not CSV ({exc})"]
    for number, row in enumerate(rows, 1):
        if not row or not "".join(row).strip():
            continue
        if LOST.search(",".join(row)):
            continue
        if len(row) != len(names):
            problems.append(f"line {number} has {len(row)} fields, not {len(names)}")
            continue
        gpu: dict[str, Any] = {}
        for (name, metric), value in zip(FIELDS, row, strict=True):
            value = value.strip()
            gpu[name] = (value if not NOT_AVAILABLE.match(value) else "") if metric is None else _number(value)
        gpus.append(gpu)
    if rc != 0:
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        problems.insert(0, f"nvidia-smi exited {rc}" + (f": {first[:200]}" if first else ""))
    return {"gpus": gpus, "error": "; ".join(problems), "lost": lost}


def parse_dkms(stdout: Any, module: str = "nvidia") -> dict[str, str]:
    """``dkms status`` lines of one module (old and new formats) -> kernel release: state (installed, built...)."""
    out: dict[str, str] = {}
    for line in str(stdout or "").splitlines():
        # dkms 3: "nvidia/580.95.05, 6.1.0-40-amd64, x86_64: installed"; dkms 2: "nvidia, 580.95.05, 6.1.0, x86_64: ..."
        match = re.match(r"^\s*([^,/\s]+)[/,]\s*[^,]+,\s*([^,]+),\s*[^:]+:\s*(\w+)", line)
        if match and match.group(1) == module:
            kernel, state = match.group(2).strip(), match.group(3)
            if out.get(kernel) != "installed":
                out[kernel] = state
    return out


def loaded_modules(proc_modules: Any) -> set[str]:
    """The module names of /proc/modules."""
    return {line.split()[0] for line in str(proc_modules or "").splitlines() if line.split()}


def runtime_registered(engine: str, config: Any) -> bool:
    """Whether an engine's config text registers the nvidia runtime (Docker's daemon.json, containerd's TOML)."""
    text = str(config or "")
    if engine == "docker":
        return re.search(r'"runtimes"\s*:\s*\{[^}]*"nvidia"\s*:', text, re.S) is not None
    return re.search(r"""runtimes\.['"]?nvidia['"]?\]""", text) is not None


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, Any]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _value(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class _Text:
    """Metric families in the text format: one HELP and TYPE per family, its samples together."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[str, list[str]]] = {}

    def add(self, name: str, help_text: str, value: float, labels: Mapping[str, Any] | None = None) -> None:
        family = self.families.setdefault(PREFIX + name, (help_text, []))
        family[1].append(f"{PREFIX}{name}{_labels(labels or {})} {_value(value)}")

    def text(self) -> str:
        out = []
        for name, (help_text, samples) in self.families.items():
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", *samples]
        return "\n".join(out) + "\n"


def render(inputs: Mapping[str, Any]) -> str:
    """The textfile for one host. ``inputs``:

    ``plan``: what the role wrote from the host's GPU plan - ``gpu_node``, ``kind``, ``can_work``, ``platform``,
    ``architecture``, ``flavour``, ``branch``, ``gpu_names``, ``problems`` (dicts with ``code``, ``severity``),
    ``dkms_name``. ``smi``: None when nvidia-smi is not installed, else ``{"stdout", "rc"}``. ``pci_gpus``: NVIDIA
    display devices on the PCI bus (sysfs). ``modules``: /proc/modules' text. ``dkms``: ``dkms status``' text or
    None. ``running_kernel``: uname -r. ``runtimes``: engine -> its config text (engines installed only).
    ``now``: the collection time (seconds since the epoch). ``errors``: what the collector could not read.
    """
    plan = inputs.get("plan") or {}
    if not isinstance(plan, Mapping):
        raise MetricsError("the plan must be a mapping (the role writes it from nvidia_gpu_plan)")
    out = _Text()
    gpu_node = bool(plan.get("gpu_node"))
    expected = max(1, len(plan.get("gpu_names") or [])) if gpu_node else len(plan.get("gpu_names") or [])
    smi = inputs.get("smi")
    parsed = parse_query(smi.get("stdout"), int(smi.get("rc") or 0)) if isinstance(smi, Mapping) else None
    gpus = parsed["gpus"] if parsed else []
    pci = int(inputs.get("pci_gpus") or 0)
    enumerated = max(len(gpus), pci)

    if gpus and not parsed["error"]:
        up, reason = 1, "nvidia-smi answered"
    elif parsed and parsed["lost"]:
        up, reason = 0, "a GPU fell off the bus or none was found (nvidia-smi: " + parsed["error"] + ")"
    elif parsed and parsed["error"]:
        up, reason = 0, parsed["error"]
    elif parsed:
        up, reason = 0, "nvidia-smi answered for no GPU"
    elif not expected:
        up, reason = 0, "no NVIDIA GPU on this host (not in gpu_nodes)"
    else:
        up, reason = 0, "nvidia-smi is not installed (the driver's user space is missing)"
    for error in inputs.get("errors") or []:
        reason += f"; collector: {error}"
    if not plan.get("can_work", True):
        reason += "; the GPU plan says the driver cannot work here: " + ", ".join(
            str(p.get("code")) for p in plan.get("problems") or [] if p.get("severity") == "blocking")
    out.add("up", "1 when nvidia-smi answered for the host's GPUs; 0 with the reason as a label.", up,
            {"reason": reason})
    out.add("expected", "GPUs this host should have (its plan; 1 at least for a member of gpu_nodes).", expected)
    out.add("enumerated", "NVIDIA GPUs seen now (nvidia-smi, else the PCI bus).", enumerated)
    out.add("pci_devices", "NVIDIA display-class devices on the PCI bus (sysfs).", pci)

    for gpu in gpus:
        labels = {"gpu": gpu.get("index", ""), "bus_id": gpu.get("pci.bus_id", ""), "name": gpu.get("name", "")}
        out.add("info", "One per GPU nvidia-smi answered for, with its identity.", 1,
                dict(labels, uuid=gpu.get("uuid", ""), driver_version=gpu.get("driver_version", "")))
        for name, metric in FIELDS:
            if metric is None or gpu.get(name) is None:
                continue
            out.add(metric[0], metric[1], gpu[name] * metric[2], labels)

    out.add("plan_info", "The host's GPU plan (homelab.nvidia_gpu.gpu_plan) when the collector was installed.", 1,
            {"kind": plan.get("kind", "unknown"), "platform": plan.get("platform", "unknown"),
             "architecture": plan.get("architecture", "unknown"), "flavour": plan.get("flavour") or "none",
             "branch": plan.get("branch") or "none", "gpu_node": str(gpu_node).lower()})
    out.add("plan_can_work", "0 when the GPU plan's verdict says the NVIDIA driver cannot work on this host.",
            1 if plan.get("can_work", True) else 0)
    for problem in plan.get("problems") or []:
        out.add("plan_problem", "One per problem of the GPU plan's verdict (code, severity).", 1,
                {"code": problem.get("code", ""), "severity": problem.get("severity", "")})

    modules = loaded_modules(inputs.get("modules"))
    out.add("driver_loaded", "1 when the nvidia kernel module is loaded.", 1 if "nvidia" in modules else 0)
    running = str(inputs.get("running_kernel") or "")
    dkms_text = inputs.get("dkms")
    if dkms_text is not None:
        states = parse_dkms(dkms_text, str(plan.get("dkms_name") or "nvidia"))
        for kernel, state in sorted(states.items()):
            out.add("dkms_installed", "1 when DKMS built and installed the module for this kernel.",
                    1 if state == "installed" else 0, {"kernel": kernel, "state": state})
        out.add("dkms_running_kernel", "1 when DKMS installed the module for the running kernel.",
                1 if states.get(running) == "installed" else 0, {"kernel": running})
    for engine, config in sorted((inputs.get("runtimes") or {}).items()):
        out.add("runtime_registered", "1 when the engine's config registers the nvidia runtime.",
                1 if runtime_registered(engine, config) else 0, {"engine": engine})
    out.add("collector_timestamp_seconds", "When the collector last ran (seconds since the epoch).",
            float(inputs.get("now") or 0))
    return out.text()


def plan_summary(plan: Mapping[str, Any]) -> dict:
    """What the collector needs of the fact nvidia_gpu_plan (the role writes it as JSON next to the collector)."""
    if not isinstance(plan, Mapping):
        raise MetricsError("nvidia_gpu_plan must be a mapping: run homelab.nvidia_gpu.gpu_plan first")
    verdict = plan.get("verdict") or {}
    return {
        "gpu_node": bool(plan.get("gpu_node")),
        "kind": plan.get("kind", "unknown"),
        "can_work": bool(verdict.get("can_work", True)),
        "platform": plan.get("platform") or "generic",
        "architecture": plan.get("architecture") or "unknown",
        "flavour": plan.get("flavour"),
        "branch": plan.get("branch") if plan.get("kind") == "gpu_stack" else None,
        "gpu_names": list(plan.get("gpu_names") or []),
        "problems": [{"code": p.get("code"), "severity": p.get("severity")} for p in plan.get("problems") or []],
        "dkms_name": (plan.get("driver") or {}).get("dkms_name") or "nvidia",
    }


def scrape_targets(hostvars: Mapping[str, Any], hosts: Sequence[str], port: int = 9100) -> list[dict]:
    """Prometheus static_configs from the inventory: one target per host, labelled with its name and GPU role."""
    out = []
    for host in hosts:
        hv = hostvars.get(host) or {}
        address = str(hv.get("gpu_metrics_scrape_address") or hv.get("ansible_host") or host)
        if not re.fullmatch(r"[A-Za-z0-9_.:\[\]-]+", address):
            raise MetricsError(f"{host}: {address!r} is not an address Prometheus can scrape")
        target = f"[{address}]:{int(port)}" if ":" in address and not address.startswith("[") else f"{address}:{port}"
        groups = hv.get("group_names") or []
        out.append({"targets": [target], "labels": {"node": host, "gpu_node": str("gpu_nodes" in groups).lower()}})
    return out


EGPU_HINT = ("An external GPU enumerates only when its PSU and the card were powered before the host booted: power the"
             " PSU first, then the GPU, then reboot the host (after a power cut the host often boots first).")


def _duration(value: Any, what: str) -> str:
    text = str(value).strip()
    if not re.fullmatch(r"([0-9]+(ms|s|m|h|d))+", text):
        raise MetricsError(f"{what} must be a Prometheus duration such as 30s or 5m, not {value!r}")
    return text


def alert_rules(options: Mapping[str, Any] | None = None) -> dict:
    """The alert rules file (a dict for to_nice_yaml): ``for`` (how long a condition must hold, 5m),
    ``temperature`` (degrees Celsius, 85), ``stale_after`` (the collector's file older than this, 10m)."""
    options = dict(options or {})
    hold = _duration(options.get("for", "5m"), "the alerts' for")
    stale = _duration(options.get("stale_after", "10m"), "stale_after")
    try:
        hot = float(options.get("temperature", 85))
    except (TypeError, ValueError) as exc:
        raise MetricsError(f"the temperature threshold must be a number, not {options.get('temperature')!r}") from exc
    if not 30 <= hot <= 120:
        raise MetricsError(f"the temperature threshold must be between 30 and 120 degrees Celsius, not {hot:g}")
    stale_seconds = sum(int(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[u]
                        for n, u in re.findall(r"([0-9]+)(ms|s|m|h|d)", stale))

    def rule(name, expr, severity, summary, description, hold_for=hold):
        return {"alert": name, "expr": expr, "for": hold_for, "labels": {"severity": severity},
                "annotations": {"summary": summary, "description": description}}

    node = "{{ $labels.node }}"
    rules = [
        rule("HomelabGpuMissing",
             "homelab_gpu_expected > 0 and homelab_gpu_enumerated < homelab_gpu_expected", "critical",
             f"{node}: a GPU is expected but not enumerated",
             f"nvidia-smi and the PCI bus of {node} see fewer NVIDIA GPUs than its plan expects. {EGPU_HINT}"),
        rule("HomelabGpuCannotWork",
             "(homelab_gpu_plan_can_work == 0) + on(instance, job) group_left(reason) (0 * homelab_gpu_up)",
             "warning", f"{node}: the NVIDIA driver cannot work on this host",
             f"{node}'s GPU plan says the NVIDIA driver cannot work there. The collector: {{{{ $labels.reason }}}}."
             " homelab_gpu_plan_problem names each problem; site.yml prints the verdict in full.", hold_for="0s"),
        rule("HomelabGpuDriverNotLoaded",
             "homelab_gpu_driver_loaded == 0 and on(instance, job) homelab_gpu_plan_can_work == 1"
             " and on(instance, job) homelab_gpu_expected > 0", "critical",
             f"{node}: the nvidia kernel module is not loaded",
             f"{node} is a GPU node whose driver can work, but the nvidia module is not loaded: a DKMS build missing"
             " for the running kernel, a boot without the GPU, or a reboot still due after the driver's install."),
        rule("HomelabGpuDkmsMissing",
             "homelab_gpu_dkms_running_kernel == 0 and on(instance, job) homelab_gpu_plan_can_work == 1"
             " and on(instance, job) homelab_gpu_expected > 0", "critical",
             f"{node}: no DKMS build of the driver for the running kernel {{{{ $labels.kernel }}}}",
             f"DKMS has not installed the nvidia module for {{{{ $labels.kernel }}}} on {node} (an unattended upgrade"
             " installed a kernel without its headers, or the build failed): run site.yml, or dkms autoinstall."),
        rule("HomelabGpuLinkNarrow",
             "homelab_gpu_pcie_link_width < homelab_gpu_pcie_link_width_max", "warning",
             f"{node}: GPU {{{{ $labels.gpu }}}} runs its PCIe link at fewer lanes than the slot allows",
             f"{{{{ $labels.name }}}} at {{{{ $labels.bus_id }}}} on {node} trained its link at x{{{{ $value }}}}:"
             " reseat the card or the riser/OCuLink cable, or check the slot's lanes."),
        rule("HomelabGpuLinkSlow",
             "homelab_gpu_pcie_link_gen < homelab_gpu_pcie_link_gen_max and homelab_gpu_utilization_ratio > 0.5",
             "warning", f"{node}: GPU {{{{ $labels.gpu }}}} is busy on a slower PCIe generation than it can run",
             f"{{{{ $labels.name }}}} on {node} runs PCIe gen {{{{ $value }}}} under load (idle GPUs drop their"
             " generation on purpose; a busy one should not): a riser or cable that cannot carry the speed."),
        rule("HomelabGpuHot",
             f"homelab_gpu_temperature_celsius > {hot:g}", "warning",
             f"{node}: GPU {{{{ $labels.gpu }}}} is above {hot:g} degrees Celsius",
             f"{{{{ $labels.name }}}} on {node} is at {{{{ $value }}}} degrees Celsius: a passive Tesla needs air"
             " pushed through its fins; check the fan, the case and the dust."),
        rule("HomelabGpuExporterDown", 'up{job="node"} == 0', "critical", f"{node}: node_exporter does not answer",
             f"Prometheus cannot scrape {{{{ $labels.instance }}}} ({node}): the host is down, or"
             " prometheus-node-exporter is stopped."),
        rule("HomelabGpuCollectorStale", f"time() - homelab_gpu_collector_timestamp_seconds > {stale_seconds:g}",
             "warning", f"{node}: the GPU metrics are stale",
             f"The GPU collector on {node} has not written its file for more than {stale}: check"
             " systemctl status homelab-gpu-metrics.timer."),
    ]
    return {"groups": [{"name": "homelab_gpu", "rules": rules}]}
