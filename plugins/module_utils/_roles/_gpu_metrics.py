# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""GPU health as Prometheus text (pure, standard library only): nvidia-smi's CSV, the plan, DKMS, the runtimes.

The collector that the role gpu_metrics installs on every host (roles/gpu_metrics/files/homelab-gpu-metrics) runs
the commands and reads the files; everything it decides is here, so that it is unit-tested: which fields to ask
nvidia-smi for, how its CSV reads (``[N/A]``, ``[Not Supported]``, several GPUs, a GPU that fell off the bus), and
the node_exporter textfile it writes. A host without a GPU still exports ``homelab_gpu_up 0`` with the reason, and
whatever the collector could not read (a line with too few or too many fields, a value that is not a finite number, a
name with bytes that are not UTF-8) is left out and counted in ``homelab_gpu_collector_errors``, each named in
``homelab_gpu_collector_error{problem=...}``: every reading it can parse is written, never nothing.
This file is copied to the hosts as it is, with the collection's _values.py beside it: it imports nothing else outside
the standard library.

Also the controller's side of the role: the scrape targets, the addresses node_exporter and Prometheus listen on, and
the addresses the firewall admits to node_exporter (the Prometheus hosts').
"""

from __future__ import annotations

import csv
import ipaddress
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

try:
    from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _values
except ImportError:  # on the host: installed beside the collector (roles/gpu_metrics/tasks/install.yml)
    import _values  # type: ignore[no-redef]  # pylint: disable=import-error

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


# At most this many problems are named one by one (the count says how many there were).
MAX_PROBLEMS = 10


class MetricsError(_values.ValueProblem):
    """Input the collector cannot read: a plan that is not a mapping; on the controller, a value the role refuses."""


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(text: str, name: str) -> float | None:
    """A reading: None when nvidia-smi gave none ([N/A]...); ValueProblem naming the field when it is not a finite
    number (inf, nan, 1e999, junk)."""
    text = text.strip()
    if not text or NOT_AVAILABLE.match(text):
        return None
    return _values.finite(text, name)


def _label_problem(value: str, name: str) -> str | None:
    """What is wrong with a label field as text (a byte that was not UTF-8, a control character), or None; the
    label is written anyway, the character replaced (_values.prometheus_label)."""
    try:
        _values.single_line(value, name, allow_empty=True)
    except _values.ValueProblem as exc:
        return str(exc)
    return None


def parse_query(stdout: Any, rc: int = 0) -> dict:
    """nvidia-smi --query-gpu=QUERY --format=csv,noheader,nounits: the GPUs it answered for, and what failed.

    Returns ``gpus`` (one dict per line: the label fields as text, the metric fields as numbers or None),
    ``error`` ('' when nvidia-smi answered for every line), ``lost`` (a GPU fell off the bus, or none was found) and
    ``unread`` (one sentence per thing it could not read). A line with the wrong number of fields, or one that
    repeats a GPU already read, is skipped and named in ``error`` and ``unread``; a value that is not a finite
    number is left out of its GPU and a label with bytes that were not UTF-8 kept with U+FFFD in their place, each
    named in ``unread`` only (the GPU answered).
    """
    text = stdout.decode("utf-8", "surrogateescape") if isinstance(stdout, bytes) else str(stdout or "")
    lost = bool(LOST.search(text))
    gpus, problems, unread = [], [], []
    names = [field[0] for field in FIELDS]
    seen: set[tuple[str, str]] = set()
    # One record per line feed (nvidia-smi's line end): a CR or a NUL inside a line stays in its field and is named.
    for number, raw in enumerate(text.split("\n"), 1):
        raw = raw.removesuffix("\r")
        if not raw.strip() or LOST.search(raw):
            continue
        try:
            row = next(csv.reader([raw], skipinitialspace=True), [])
        except csv.Error:  # a CR in an unquoted field: the fields as the commas give them
            row = [field.lstrip(" ") for field in raw.split(",")]
        if len(row) != len(names):
            problems.append(f"line {number} has {len(row)} fields, not {len(names)}")
            unread.append(problems[-1])
            continue
        gpu: dict[str, Any] = {}
        for (name, metric), value in zip(FIELDS, row, strict=True):
            value = value.strip()
            if metric is None:
                gpu[name] = value if not NOT_AVAILABLE.match(value) else ""
                bad = _label_problem(value, f"line {number}: {name}")
                if bad:
                    unread.append(bad)
                continue
            try:
                gpu[name] = _number(value, f"line {number}: {name}")
            except _values.ValueProblem as exc:
                gpu[name] = None
                unread.append(str(exc))
            if gpu[name] is not None and not math.isfinite(gpu[name] * metric[2]):  # 1e305 MiB: no number of bytes
                unread.append(f"line {number}: {name} {gpu[name]:g} is out of range")
                gpu[name] = None
        key = (gpu["index"], gpu["pci.bus_id"])
        if key in seen or not gpu["index"]:
            what = ("has no GPU index" if not gpu["index"] else
                    f"repeats GPU {_shown(gpu['index'])} at {_shown(gpu['pci.bus_id'])}")
            problems.append(f"line {number} {what}")
            unread.append(problems[-1])
            continue
        seen.add(key)
        gpus.append(gpu)
    if rc != 0:
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        problems.insert(0, f"nvidia-smi exited {rc}" + (f": {first[:200]}" if first else ""))
    return {"gpus": gpus, "error": "; ".join(problems), "lost": lost, "unread": unread}


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


def _labels(labels: Mapping[str, Any]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_values.prometheus_label(v)}"' for k, v in labels.items()) + "}"


def _value(value: float) -> str:
    if not math.isfinite(value):  # the format's own spelling; render() leaves such readings out before this
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class _Text:
    """Metric families in the text format: one HELP and TYPE per family, its samples together, each label set once."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[str, dict[str, str]]] = {}

    def add(self, name: str, help_text: str, value: float, labels: Mapping[str, Any] | None = None) -> bool:
        """False (nothing written) when the family already has a sample with these labels."""
        family = self.families.setdefault(PREFIX + name, (help_text, {}))
        series = _labels(labels or {})
        if series in family[1]:
            return False
        family[1][series] = f"{PREFIX}{name}{series} {_value(value)}"
        return True

    def text(self) -> str:
        out = []
        for name, (help_text, samples) in self.families.items():
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", *samples.values()]
        return "\n".join(out) + "\n"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else []


PLAN_LABELS = ("kind", "platform", "architecture", "flavour", "branch", "dkms_name")


def _plan_problems(plan: Mapping[str, Any]) -> list[str]:
    """What in the plan file has the wrong shape or is not one line of text (the role writes it; a hand-edited one
    may not be what the role wrote). The labels are written anyway, escaped."""
    out = []
    for key in ("gpu_names", "problems"):
        if key in plan and plan[key] is not None and not isinstance(plan[key], (list, tuple)):
            out.append(f"the plan's {key} is not a list: {_shown(plan[key])}")
    problems = _items(plan.get("problems"))
    out += [f"the plan's problems[{i}] is not a mapping: {_shown(p)}"
            for i, p in enumerate(problems) if not isinstance(p, Mapping)]
    labels = [(f"the plan's {key}", plan.get(key)) for key in PLAN_LABELS]
    labels += [(f"the plan's problems[{i}].{key}", p.get(key)) for i, p in enumerate(problems)
               if isinstance(p, Mapping) for key in ("code", "severity")]
    for name, value in labels:
        if value is not None and not isinstance(value, (str, int)):
            out.append(f"{name} is not text: {_shown(value)}")
        elif isinstance(value, str):
            problem = _label_problem(value, name)
            if problem:
                out.append(problem)
    return out


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
    gpu_names = _items(plan.get("gpu_names"))
    plan_problems = [p for p in _items(plan.get("problems")) if isinstance(p, Mapping)]
    gpu_node = bool(plan.get("gpu_node"))
    expected = max(1, len(gpu_names)) if gpu_node else len(gpu_names)
    smi = inputs.get("smi")
    if isinstance(smi, Mapping):
        try:
            rc = _values.integer(smi.get("rc") or 0, "nvidia-smi's exit status")
        except _values.ValueProblem:
            rc = 255
        parsed = parse_query(smi.get("stdout"), rc)
    else:
        parsed = None
    gpus = parsed["gpus"] if parsed else []
    pci = inputs.get("pci_gpus") if isinstance(inputs.get("pci_gpus"), int) else 0
    enumerated = max(len(gpus), pci)
    errors = [str(e) for e in _items(inputs.get("errors"))]
    unread = (parsed["unread"] if parsed else []) + _plan_problems(plan) + [f"collector: {e}" for e in errors]

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
    for error in errors:
        reason += f"; collector: {error}"
    if not plan.get("can_work", True):
        reason += "; the GPU plan says the driver cannot work here: " + ", ".join(
            str(p.get("code")) for p in plan_problems if p.get("severity") == "blocking")
    out.add("up", "1 when nvidia-smi answered for the host's GPUs; 0 with the reason as a label.", up,
            {"reason": reason[:2000]})
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
    for problem in plan_problems:
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
    for engine, config in sorted(_mapping(inputs.get("runtimes")).items()):
        out.add("runtime_registered", "1 when the engine's config registers the nvidia runtime.",
                1 if runtime_registered(engine, config) else 0, {"engine": engine})
    out.add("collector_errors", "What the collector could not read this run (lines, values, labels, its own files);"
            " 0 when it read everything. Each is named in homelab_gpu_collector_error.", len(unread))
    named = unread[:MAX_PROBLEMS]
    if len(unread) > MAX_PROBLEMS:
        named.append(f"and {len(unread) - MAX_PROBLEMS} more")
    for number, problem in enumerate(named, 1):
        out.add("collector_error", "One per thing the collector could not read (the first ten), in its words.", 1,
                {"n": number, "problem": problem[:500]})
    now = inputs.get("now")
    out.add("collector_timestamp_seconds", "When the collector last ran (seconds since the epoch).",
            float(now) if isinstance(now, (int, float)) and math.isfinite(now) else 0.0)
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


def _hostvars_of(hostvars: Any, host: str) -> Mapping[str, Any]:
    try:
        hv = hostvars.get(host)
    except AttributeError:
        raise MetricsError(f"hostvars must be a mapping of hosts to their variables, not {_shown(hostvars)}") from None
    if hv is None:
        return {}
    if not hasattr(hv, "get"):
        raise MetricsError(f"the variables of {host} are not a mapping: {_shown(hv)}")
    return hv


def _address(value: Any, name: str) -> str:
    """An address Prometheus can scrape: a host name or an IP address (canonical, IPv6 without brackets)."""
    try:
        return _values.hostname(value.strip("[]") if isinstance(value, str) else value, name)
    except _values.ValueProblem as exc:
        raise MetricsError(f"{exc}: it is not an address Prometheus can scrape") from None


def scrape_targets(hostvars: Mapping[str, Any], hosts: Sequence[str], port: Any = 9100,
                   scraper: str | None = None) -> list[dict]:
    """Prometheus static_configs from the inventory: one target per host, labelled with its name and GPU role.

    ``hosts`` must be a list (a group name given as a string is refused, not read letter by letter). A host's
    address is where its node_exporter listens when the role has published that (the fact
    ``gpu_metrics_node_exporter_endpoint``: its address and port) and it is one address: loopback only when
    ``scraper`` (the Prometheus host) is that host, refused otherwise; else its ``gpu_metrics_scrape_address``, else
    its ``ansible_host``, else its name; the port is the published one, else ``port``.
    """
    names = _values.string_list(hosts, "gpu_metrics_prometheus_hosts")
    default_port = _values.port(port, "gpu_metrics_node_exporter_port")
    out = []
    for host in names:
        hv = _hostvars_of(hostvars, host)
        endpoint = hv.get("gpu_metrics_node_exporter_endpoint")
        scrape_address = hv.get("gpu_metrics_scrape_address")
        address = None
        target_port = default_port
        if isinstance(endpoint, Mapping) and endpoint.get("address") is not None:
            listens = str(endpoint.get("address"))
            target_port = _values.port(endpoint.get("port"), f"{host}'s gpu_metrics_node_exporter_port")
            if _values.is_loopback(listens):
                if host != scraper:
                    raise MetricsError(
                        f"{host}'s node_exporter listens on {listens} only, which Prometheus on {scraper} cannot"
                        f" reach: set gpu_metrics_node_exporter_address for {host} to its address on the cluster"
                        " network (its default when it is not the only Prometheus host)")
                address = _address(listens, f"{host}'s gpu_metrics_node_exporter_address")
            elif not scrape_address and not _values.is_wildcard(listens):
                address = _address(listens, f"{host}'s gpu_metrics_node_exporter_address")
        if address is None:
            if scrape_address:
                address = _address(scrape_address, f"{host}'s gpu_metrics_scrape_address")
            elif hv.get("ansible_host"):
                address = _address(hv.get("ansible_host"), f"{host}'s ansible_host")
            else:
                address = _address(host, f"the host name {host!r}")
        groups = hv.get("group_names") or []
        out.append({"targets": [_values.host_port(address, target_port)],
                    "labels": {"node": host, "gpu_node": str("gpu_nodes" in groups).lower()}})
    return out


def _usable(address: Any) -> str | None:
    """A host's own address as the firewall can name it: canonical, not link-local (no scope), else None."""
    try:
        ip = ipaddress.ip_address(str(address).strip("[]"))
    except ValueError:
        return None
    return None if ip.is_link_local or ip.is_unspecified else str(ip)


def host_addresses(hostvars: Mapping[str, Any], hosts: Any, name: str = "gpu_metrics_node_exporter_allow") -> list:
    """Every address of ``hosts`` (the Prometheus hosts) that a connection from them can come from: their gathered
    IPv4 and IPv6 addresses (not link-local), their ``gpu_metrics_scrape_address`` and ``ansible_host`` when these
    are IP addresses. A host of which none is known is refused with a sentence that names ``name``."""
    out: list[str] = []
    for host in _values.string_list(hosts, f"the Prometheus hosts for {name} (groups['prometheus_servers'])"):
        hv = _hostvars_of(hostvars, host)
        facts = hv.get("ansible_facts") if hasattr(hv.get("ansible_facts"), "get") else {}
        found = []
        for key in ("all_ipv4_addresses", "all_ipv6_addresses"):
            found += [_usable(a) for a in _items(facts.get(key))]
        for key in ("default_ipv4", "default_ipv6"):
            found.append(_usable(_mapping(facts.get(key)).get("address")))
        found += [_usable(hv.get("gpu_metrics_scrape_address")), _usable(hv.get("ansible_host"))]
        found = [a for a in found if a]
        if not found:
            raise MetricsError(
                f"{name}: no address of the Prometheus host {host} is known (its facts were not gathered in this"
                " play and its ansible_host is not an IP address): run the play on it too, or set"
                f" {name} to the addresses that may scrape node_exporter")
        for address in found:
            if address not in out:
                out.append(address)
    return out


def listen(address: Any, port: Any, service: str, legacy: Any = "") -> dict:
    """Where a service listens, from the role's ``<service>_address`` and ``<service>_port`` (``service`` is the
    variables' prefix); ``legacy`` (``gpu_metrics_node_exporter_listen``: ``ADDRESS:PORT`` or ``:PORT``, every
    address) replaces both when it is set. Returns ``address`` (``''`` for ``:PORT``), ``port``, ``listen`` (the
    service's ``--web.listen-address``), ``url`` (``http://HOST:PORT``, loopback for every address), ``loopback``
    and ``wildcard``."""
    address_name, port_name = f"{service}_address", f"{service}_port"
    if legacy not in (None, ""):
        name = f"{service}_listen"
        text = _values.single_line(legacy, name)
        match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^:\[\]]*):([0-9]+)", text.strip())
        if not match:
            raise MetricsError(f"{name} must be ADDRESS:PORT or :PORT (every address), not {_shown(legacy)}")
        address, port, address_name, port_name = match.group(1).strip("[]") or "", match.group(2), name, name
    number = _values.port(port, port_name)
    if address == "" and legacy not in (None, ""):
        where = ""
    elif address in (None, ""):
        raise MetricsError(f"{address_name} is empty: this host has no default IPv4 address (ansible_facts."
                           "default_ipv4) to listen on; set it to the address the hosts that need the port reach")
    else:
        where = _values.listen_address(address, address_name)
    wildcard = _values.is_wildcard(where)
    loopback = _values.is_loopback(where)
    shown = "127.0.0.1" if wildcard or where == "localhost" else where
    return {"address": where, "port": number,
            "listen": f":{number}" if where == "" else _values.host_port(where, number),
            "url": "http://" + _values.host_port(shown, number), "loopback": loopback, "wildcard": wildcard}


def exposure(endpoint: Mapping[str, Any], what: str, variable: str, firewall: Any, allow: Any = (),
             allow_variable: str = "", always: bool = False) -> str:
    """The warning for a user who widened a port, empty when it stays narrow. ``endpoint`` is ``listen()``'s,
    ``what`` the service (``node_exporter``, ``Prometheus``), ``variable`` its address variable, ``firewall``
    whether the role's nftables table guards it, ``allow`` whom that table admits (``allow_variable``). Loopback is
    never a warning; beyond it, the port is one when ``always`` (Prometheus: no authentication, loopback by
    default), when it listens on every address, or when no table guards it (a table that admits every address is
    the firewall role's own warning)."""
    endpoint = _mapping(endpoint)
    if endpoint.get("loopback"):
        return ""
    guarded = _values.boolean(firewall, "gpu_metrics_firewall")
    allowed = _values.address_list(allow, allow_variable or f"the allow list for {variable}") if guarded else []
    every = any(ipaddress.ip_network(a).prefixlen == 0 for a in allowed)
    if guarded and every:
        return ""  # the firewall role warns itself, with what the port exposes (firewall_exposes)
    if guarded and not endpoint.get("wildcard") and not always:
        return ""
    where = "every address of this host" if endpoint.get("wildcard") else str(endpoint.get("address"))
    if not guarded:
        whom = "every host that can reach it (gpu_metrics_firewall is false: no table of this role guards it)"
    else:
        whom = ("this host and " + (", ".join(allowed) if allowed else f"no other (add them to {allow_variable})")
                + f" (the role's nftables table, {allow_variable})")
    return (f"{variable}: {what} listens on {where}, port {endpoint.get('port')}, without authentication, for {whom}."
            f" It exposes {EXPOSES.get(what, what)}.")


_SAFE_PATH = r"/[A-Za-z0-9_.+@/-]*"


def settings(options: Mapping[str, Any]) -> dict:
    """The role's options, checked where they enter (each refusal names its variable), and what follows from them:
    ``interval``, ``textfile_dir``, ``exporter`` and ``prometheus`` (``listen()``), ``firewall``, ``exporter_allow``
    and ``prometheus_allow`` (canonical address lists), ``exporter_args`` (node_exporter's ARGS= line for
    /etc/default/prometheus-node-exporter), ``prometheus_args`` (Prometheus's), ``collector_exec`` (the collector
    unit's ExecStart=), ``warnings`` (what a widened port exposes). ``options`` holds the variables without their
    ``gpu_metrics_`` prefix."""
    opts = _mapping(options)
    interval = _values.integer(opts.get("interval"), "gpu_metrics_interval", 5, 86400)
    textfile_dir = _values.word(_values.absolute_path(opts.get("textfile_dir"), "gpu_metrics_textfile_dir"),
                                "gpu_metrics_textfile_dir", _SAFE_PATH, "/, letters, digits and . _ + @ -")
    firewall = _values.boolean(opts.get("firewall", True), "gpu_metrics_firewall")
    exporter_on = _values.boolean(opts.get("node_exporter", True), "gpu_metrics_node_exporter")
    prometheus_on = _values.boolean(opts.get("prometheus", False), "gpu_metrics_prometheus")
    exporter_address = opts.get("node_exporter_address")
    if not exporter_on and exporter_address in (None, ""):  # no node_exporter here: nothing listens
        exporter_address = "127.0.0.1"
    exporter = listen(exporter_address, opts.get("node_exporter_port", 9100),
                      "gpu_metrics_node_exporter", opts.get("node_exporter_listen", ""))
    prometheus = listen(opts.get("prometheus_address", "127.0.0.1"), opts.get("prometheus_port", 9090),
                        "gpu_metrics_prometheus")
    exporter_allow = _values.address_list(opts.get("node_exporter_allow") if exporter_on and firewall else [],
                                          "gpu_metrics_node_exporter_allow")
    prometheus_allow = _values.address_list(opts.get("prometheus_allow") if prometheus_on and firewall else [],
                                            "gpu_metrics_prometheus_allow")
    warnings = []
    if exporter_on:
        warnings.append(exposure(exporter, "node_exporter", "gpu_metrics_node_exporter_address", firewall,
                                 exporter_allow, "gpu_metrics_node_exporter_allow"))
    if prometheus_on:
        warnings.append(exposure(prometheus, "Prometheus", "gpu_metrics_prometheus_address", firewall,
                                 prometheus_allow, "gpu_metrics_prometheus_allow", always=True))
    out_file = f"{textfile_dir}/homelab_gpu.prom"
    lib = opts.get("lib", "/usr/local/lib/homelab-gpu-metrics")
    plan_file = opts.get("plan_file", "/etc/homelab-gpu-metrics/plan.json")
    exporter_flags = f"--collector.textfile.directory={textfile_dir} --web.listen-address={exporter['listen']}"
    return {
        "interval": interval, "textfile_dir": textfile_dir, "firewall": firewall,
        "exporter": exporter, "prometheus": prometheus,
        "exporter_allow": exporter_allow, "prometheus_allow": prometheus_allow,
        "exporter_args": f'ARGS="{exporter_flags}"',
        "prometheus_args": f'ARGS="--web.listen-address={prometheus["listen"]}"',
        "collector_exec": _values.systemd_exec(["/usr/bin/python3", f"{lib}/collect.py", "--plan", plan_file,
                                                "--out", out_file], "the collector's command"),
        "warnings": [w for w in warnings if w],
    }


EXPOSES = {
    "node_exporter": "the host's metrics (its kernel, disks, file systems, network and GPU) to anyone who asks",
    "Prometheus": "every host's metrics, the alerts and Prometheus's query API and admin pages, to anyone who asks",
}

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


# Where the role puts the collector on every host (constants: the collector's unit reads them).
LIB = "/usr/local/lib/homelab-gpu-metrics"
PLAN_FILE = "/etc/homelab-gpu-metrics/plan.json"
UNIT = "homelab-gpu-metrics"
RULES_FILE = "/etc/prometheus/rules/homelab_gpu.rules.yml"
PROMETHEUS_CONFIG = "/etc/prometheus/prometheus.yml"


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def collector_units(collector: Mapping[str, Any], managed: str = "Ansible managed") -> dict[str, str]:
    """The collector's systemd service and timer, whole: {path: text}."""
    head = f"# {managed} (homelab.nvidia_gpu.gpu_metrics)\n"
    service = head + "\n".join([
        "[Unit]", "Description=GPU, driver and eGPU health for node_exporter's textfile collector",
        "Documentation=https://github.com/homelab/nvidia_gpu (role gpu_metrics)", "",
        "[Service]", "Type=oneshot", f"ExecStart={collector['exec']}",
        "# Reads /proc, /sys, /etc and runs nvidia-smi and dkms; writes one file.",
        "ProtectSystem=strict", f"ReadWritePaths={collector['textfile_dir']}", "ProtectHome=true", "PrivateTmp=true",
        "NoNewPrivileges=true", "ProtectKernelTunables=true", "ProtectControlGroups=true", "RestrictSUIDSGID=true",
        "LockPersonality=true", "TimeoutStartSec=60"]) + "\n"
    timer = head + "\n".join([
        "[Unit]", f"Description=GPU metrics every {collector['interval']} seconds", "",
        "[Timer]", "OnBootSec=15", f"OnUnitActiveSec={collector['interval']}", "AccuracySec=1", "",
        "[Install]", "WantedBy=timers.target"]) + "\n"
    return {f"/etc/systemd/system/{UNIT}.service": service, f"/etc/systemd/system/{UNIT}.timer": timer}


def collector_file_set(collector: Mapping[str, Any], collect_py: str, managed: str = "Ansible managed") -> dict:
    """What homelab.nvidia_gpu.file_set writes for the collector in one step: its directories, collect.py (the role's
    file, COLLECT_PY), the pure parts it imports (this file and _values.py, beside it), its view of the GPU plan and
    its units."""
    texts = {f"{LIB}/collect.py": collect_py, f"{LIB}/_gpu_metrics.py": _read(os.path.abspath(__file__)),
             f"{LIB}/_values.py": _read(os.path.abspath(_values.__file__)),
             PLAN_FILE: _json_text(collector["plan"]), **collector_units(collector, managed)}
    return {"directories": [{"path": path} for path in collector["dirs"]],
            "files": [{"path": path, "content": text} for path, text in texts.items()]}


def _json_text(value: Any) -> str:
    """As Ansible's to_nice_json writes it (indent 4, sorted keys), with a final newline."""
    return json.dumps(value, indent=4, sort_keys=True, ensure_ascii=False) + "\n"


def role_plan(options: Mapping[str, Any], gpu_plan: Mapping[str, Any], hostvars: Any = None,
              prometheus_servers: Sequence[str] = (), host: str = "") -> dict:
    """Everything the role gpu_metrics does on one host, from its options (the variables without their
    ``gpu_metrics_`` prefix), the fact ``nvidia_gpu_plan``, the inventory's hostvars (the Prometheus hosts'
    addresses for node_exporter's allow list), the group ``prometheus_servers`` and the host's name.

    Returns ``settings`` (``settings()``), ``collector`` (its view of the GPU plan, directories, files, unit,
    textfile), ``node_exporter`` (``false`` or its packages, ARGS= line, endpoint, firewall), ``firewall`` (the
    node_exporter table's state, or None when the role keeps no table), ``prometheus`` (``false`` or its packages,
    files, rules, the scrape config's parts and its firewall table's state), ``endpoint`` (where node_exporter
    listens, published as the fact ``gpu_metrics_node_exporter_endpoint``; None when it does not run) and
    ``warnings``. ValueProblem (MetricsError) names the variable when an option is refused."""
    opts = dict(_mapping(options))
    exporter_on = _values.boolean(opts.get("node_exporter", True), "gpu_metrics_node_exporter")
    firewall = _values.boolean(opts.get("firewall", True), "gpu_metrics_firewall")
    prometheus_on = _values.boolean(opts.get("prometheus", False), "gpu_metrics_prometheus")
    allow = opts.get("node_exporter_allow")
    if not (firewall and exporter_on):
        allow = []
    elif allow is None:
        allow = host_addresses(hostvars if hostvars is not None else {}, list(prometheus_servers or []))
    if opts.get("node_exporter_address") is None:  # the narrowest that works: loopback on the only Prometheus host
        only = list(prometheus_servers or []) == [host]
        opts["node_exporter_address"] = "127.0.0.1" if only else str(opts.get("host_address") or "")
    opts.update(node_exporter_allow=allow, lib=LIB, plan_file=PLAN_FILE)
    found = settings(opts)
    textfile = f"{found['textfile_dir']}/homelab_gpu.prom"
    collector = {
        "plan": plan_summary(gpu_plan), "plan_file": PLAN_FILE, "lib": LIB, "unit": UNIT, "textfile": textfile,
        "dirs": [LIB, PLAN_FILE.rsplit("/", 1)[0], found["textfile_dir"]],
        "exec": found["collector_exec"], "interval": found["interval"], "textfile_dir": found["textfile_dir"],
        "units": [f"/etc/systemd/system/{UNIT}.{kind}" for kind in ("service", "timer")],
    }
    exporter = found["exporter"]
    endpoint = {"address": exporter["address"], "port": exporter["port"]} if exporter_on else None
    prometheus: dict | bool = False
    if prometheus_on:
        listens = found["prometheus"]
        prometheus = {
            "packages": ["prometheus"], "args": found["prometheus_args"], "url": listens["url"],
            "rules_file": RULES_FILE, "rules_dir": RULES_FILE.rsplit("/", 1)[0], "config_file": PROMETHEUS_CONFIG,
            "rules": alert_rules({"for": opts.get("alert_for", "5m"), "temperature": opts.get("alert_temperature", 85),
                                  "stale_after": f"{found['interval'] * 5}s"}),
            "scrape": {"interval": str(opts.get("scrape_interval", "30s")),  # promtool checks it
                       "hosts": _values.string_list(opts.get("prometheus_hosts", []), "gpu_metrics_prometheus_hosts"),
                       "port": _values.port(opts.get("node_exporter_port", 9100), "gpu_metrics_node_exporter_port"),
                       "scraper": host, "self": listens["url"].removeprefix("http://")},
            "firewall": ({"port": listens["port"], "allow": found["prometheus_allow"],
                          "state": "absent" if listens["loopback"] else "present"} if firewall else None),
        }
    return {
        "phases": {"node_exporter": exporter_on, "prometheus": prometheus_on, "firewall": firewall},
        "settings": found, "collector": collector, "endpoint": endpoint, "prometheus": prometheus,
        "node_exporter": {"packages": ["prometheus-node-exporter"], "args": found["exporter_args"],
                          "url": exporter["url"]} if exporter_on else False,
        "firewall": ({"port": exporter["port"], "allow": found["exporter_allow"],
                      "state": "present" if exporter_on else "absent"} if firewall else None),
        "warnings": found["warnings"],
    }


def prometheus_config(prometheus: Mapping[str, Any], hostvars: Any) -> dict:
    """Prometheus's configuration (a dict for to_nice_yaml) from the plan's ``prometheus`` and the inventory's
    hostvars, read once every host of the play has published where its node_exporter listens."""
    scrape = _mapping(_mapping(prometheus).get("scrape"))
    targets = scrape_targets(hostvars, scrape.get("hosts") or [], scrape.get("port", 9100), scrape.get("scraper"))
    return {
        "global": {"scrape_interval": scrape.get("interval"), "evaluation_interval": scrape.get("interval")},
        "rule_files": [prometheus.get("rules_file")],
        "scrape_configs": [{"job_name": "prometheus", "static_configs": [{"targets": [scrape.get("self")]}]},
                           {"job_name": "node", "static_configs": targets}],
    }


def up_status(text: Any) -> dict:
    """homelab_gpu_up of the collector's file: ``up`` (0 or 1) and ``reason``; not collected when it is absent."""
    found = re.search(r'(?m)^homelab_gpu_up\{reason="((?:[^"\\]|\\.)*)"\} ([01])$', str(text or ""))
    if not found:
        return {"up": 0, "reason": "not collected (check mode)"}
    return {"up": int(found.group(2)), "reason": found.group(1)}
