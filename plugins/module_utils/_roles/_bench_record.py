# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark record of inference.yml's validate step (pure): each node's figures with what produced them.

Per node: llama-bench's figures (tokens per second per test, ``_llama_cpp.bench_figures``) under the node's bench
fingerprint - the llama.cpp source's sha256, the build's key and options (the host's build.json), the CPU (lscpu),
the GPU the build uses, the model's sha256 and llama-bench's settings; on a server also the served completion's
generation rate (llama-server's ``timings``, else usage over the request's seconds) under the served fingerprint -
the server's command line, the split (``--tensor-split`` and ``--rpc`` as the server runs them, and the split
planner's ``tensor_split_arg`` where the plan has one), the workers' bench fingerprints and the request.

A figure is compared with the previous record's figure of the same node and test only where both fingerprints are
equal and complete; a fall beyond the threshold is a drop (a sentence), anything else says why it was not compared.
The record keeps the earlier runs (``history``, newest first). A previous record that is not one of these is refused
with a sentence: nothing is written over it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _shapes, _values

FORMAT = "homelab.nvidia_gpu/bench-record/1"
# The fields without which two runs cannot be said to be the same setup: never compared when one is unknown.
ESSENTIAL = ("llama_cpp_source_sha256", "build_key", "model_sha256")
SERVED_TEST = "served tg"  # the served completion's generation rate (its prompt rate is noted, never compared)
_SHA256 = re.compile(r"[0-9a-f]{64}")


class BenchRecordError(_values.ValueProblem):
    """A previous record that cannot be read, or inputs of the wrong shape."""


def fingerprint_id(fingerprint: Mapping[str, Any]) -> str:
    """16 hex digits of the sha256 of the fingerprint as canonical JSON: equal ids, equal fingerprints."""
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:16]


def cpu_facts(lscpu: Any) -> dict:
    """``LC_ALL=C lscpu`` -> model, vendor, architecture and CPU count (empty where lscpu did not say)."""
    fields = {}
    for line in _shapes.text(lscpu, "lscpu's output").splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() not in fields:
            fields[name.strip()] = value.strip()
    return {"cpu_model": fields.get("Model name", ""), "cpu_vendor": fields.get("Vendor ID", ""),
            "cpu_architecture": fields.get("Architecture", ""), "cpus": fields.get("CPU(s)", "")}


def build_facts(build_json: Any) -> dict:
    """The host's builds/KEY/build.json (the role's record of its build) -> the source, key, options and target."""
    if isinstance(build_json, Mapping):
        build = build_json
    else:
        text = _shapes.text(build_json, "build.json")
        try:
            build = json.loads(text) if text.strip() else {}
        except ValueError:
            build = {}
    build = build if isinstance(build, Mapping) else {}
    source = str(build.get("source_sha256") or "")
    options = build.get("options") if isinstance(build.get("options"), Mapping) else {}
    return {"llama_cpp_source_sha256": source if _SHA256.fullmatch(source) else "",
            "build_key": str(build.get("key") or ""), "build_options": dict(sorted(options.items())),
            "backend": str(build.get("backend") or ""), "cpu_target": str(build.get("cpu") or ""),
            "platform": str(build.get("platform") or "")}


def _gpu(gpus: Any, backend: str, simulated: bool) -> str:
    if backend != "cuda":
        return "none used (CPU build)"
    names = []
    for gpu in _shapes.mappings(gpus or [], "nvidia_gpus", "a GPU (a dict)"):
        catalog = gpu.get("catalog") if isinstance(gpu.get("catalog"), Mapping) else {}
        names.append(_shapes.plain(catalog.get("name") or gpu.get("device_name") or "an NVIDIA GPU"))
    return (", ".join(names) or "CUDA, GPU not listed") + (" (simulated)" if simulated else "")


def _option(argv: Sequence[str], *names: str) -> str:
    """The value of the last of ``names`` in a command line (``--opt VALUE`` or ``--opt=VALUE``), else ''."""
    found = ""
    for index, word in enumerate(argv):
        head, sep, tail = word.partition("=")
        if head in names:
            found = tail if sep else (argv[index + 1] if index + 1 < len(argv) else "")
    return found


def _settings(argv: Sequence[str]) -> list[str]:
    """A command line without its binary and model paths (where the build or model lives is not what ran)."""
    out, skip = [], False
    for word in list(argv)[1:]:
        if skip:
            skip = False
        elif word in ("-m", "--model"):
            skip = True
        elif not word.startswith(("--model=", "-m=")):
            out.append(word)
    return out


def _argv(value: Any, name: str) -> list[str]:
    return [str(w) for w in _shapes.sequence(value or [], name)]


def _served(host: str, inputs: Mapping[str, Any]) -> dict:
    """The served completion's generation rate: llama-server's timings, else usage over the request's seconds."""
    body = inputs.get("completion") or {}
    if not isinstance(body, Mapping) or not body:
        return {}
    timings = body.get("timings") if isinstance(body.get("timings"), Mapping) else {}
    where = f"{host}'s completion"
    if timings.get("predicted_per_second") is not None:
        rate = _values.finite(timings.get("predicted_per_second"), f"{where}: timings.predicted_per_second", 0)
        tokens = _values.integer(timings.get("predicted_n") or 0, f"{where}: timings.predicted_n", 0)
        prompt = _values.finite(timings.get("prompt_per_second") or 0, f"{where}: timings.prompt_per_second", 0)
        return {"test": SERVED_TEST, "tokens_per_second": round(rate, 2), "tokens": tokens,
                "prompt_tokens_per_second": round(prompt, 2),
                "prompt_tokens": _values.integer(timings.get("prompt_n") or 0, f"{where}: timings.prompt_n", 0),
                "cached_prompt_tokens": _values.integer(timings.get("cache_n") or 0, f"{where}: timings.cache_n", 0),
                "source": "llama-server's timings"}
    usage = body.get("usage") if isinstance(body.get("usage"), Mapping) else {}
    tokens = _values.integer(usage.get("completion_tokens") or 0, f"{where}: usage.completion_tokens", 0)
    seconds = _values.finite(inputs.get("elapsed") or 0, f"{where}: elapsed", 0)
    if not tokens or not seconds:
        return {"test": SERVED_TEST, "tokens_per_second": None, "tokens": tokens,
                "source": "no timings, and no tokens or no elapsed time to divide"}
    return {"test": SERVED_TEST, "tokens_per_second": round(tokens / seconds, 2), "tokens": tokens,
            "source": "usage.completion_tokens over the request's whole seconds (no timings in the answer)"}


def node(host: str, inputs: Mapping[str, Any]) -> dict:
    """One node's entry of the record: its bench fingerprint and figures; on a server, the served ones.

    ``inputs``: ``bench`` (the fact llama_cpp_bench), ``bench_argv`` (llama-bench's command line), ``build``
    (build.json's text), ``lscpu``, ``model_sha256``, ``gpus`` (ansible_facts.nvidia_gpus), ``simulated_gpu``,
    ``server_argv`` (llama-server's command line; empty on a worker), ``planned_split`` (the plan's split, whose
    ``tensor_split_arg`` the split planner fills), ``completion`` (the chat completion's JSON answer), ``elapsed``
    (the request's seconds), ``request`` (prompt and max_tokens)."""
    host = _values.single_line(host, "a host's name")
    inputs = _shapes.mapping(inputs, f"{host}'s bench inputs")
    bench = _shapes.mapping(inputs.get("bench") or {}, f"{host}'s llama_cpp_bench")
    build = build_facts(inputs.get("build"))
    model_sha256 = str(inputs.get("model_sha256") or "").lower()
    common = dict(build, **cpu_facts(inputs.get("lscpu") or ""),
                  gpu=_gpu(inputs.get("gpus"), build["backend"] or str(bench.get("backend") or ""),
                           bool(inputs.get("simulated_gpu"))),
                  model=_shapes.plain(bench.get("model") or ""),
                  model_sha256=model_sha256 if _SHA256.fullmatch(model_sha256) else "")
    bench_fp = dict(common, llama_bench=_settings(_argv(inputs.get("bench_argv"), f"{host}'s llama-bench command")))
    figures = [{"test": _shapes.plain(f.get("test")),
                "tokens_per_second": _values.finite(f.get("tokens_per_second") or 0, f"{host}'s figure", 0),
                "stddev": _values.finite(f.get("stddev") or 0, f"{host}'s figure's stddev", 0)}
               for f in _shapes.mappings(bench.get("figures") or [], f"{host}'s llama_cpp_bench.figures")]
    out = {"bench": {"fingerprint": bench_fp, "fingerprint_id": fingerprint_id(bench_fp), "figures": figures,
                     "note": _shapes.plain(bench.get("why_not") or "")}}
    server_argv = _argv(inputs.get("server_argv"), f"{host}'s llama-server command")
    if server_argv:
        planned = inputs.get("planned_split") if isinstance(inputs.get("planned_split"), Mapping) else {}
        split = {"tensor_split": _option(server_argv, "--tensor-split", "-ts"),
                 "rpc": _option(server_argv, "--rpc"),
                 "planned_tensor_split": _shapes.plain(planned.get("tensor_split_arg") or "")}
        request = inputs.get("request") if isinstance(inputs.get("request"), Mapping) else {}
        served_fp = dict(common, server=_settings(server_argv), split=split,
                         workers=sorted(_values.string_list(inputs.get("workers") or [], f"{host}'s RPC workers")),
                         request={k: _shapes.plain(v) for k, v in sorted(request.items())})
        served = _served(host, inputs)
        out["served"] = {"fingerprint": served_fp, "fingerprint_id": "", "figures": [served] if served else [],
                         "note": "" if served else "no completion answered in this run"}
    return out


def _with_workers(nodes: dict) -> None:
    """A served fingerprint names each worker's bench fingerprint (the split's other half), then gets its id."""
    for entry in nodes.values():
        served = entry.get("served")
        if not served:
            continue
        fp = served["fingerprint"]
        fp["workers"] = {w: nodes[w]["bench"]["fingerprint_id"] if w in nodes else "not in this run"
                         for w in fp["workers"]}
        served["fingerprint_id"] = fingerprint_id(fp)


# --- the previous record --------------------------------------------------------------------------------------------

def _refuse(where: str, why: str) -> BenchRecordError:
    return BenchRecordError(f"the previous benchmark record {where} cannot be read ({why}); move it away (the next"
                            " run starts a new record) or put the record back - nothing was written over it")


def _rate(value: Any) -> bool:
    """A recorded rate: none (not measured), or a finite number of tokens per second, not below zero."""
    if value is None:
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def read_previous(text: Any, where: str = "") -> dict | None:
    """The previous record (None where there is none), its shape checked: format, nodes, figures, fingerprints."""
    if text is None:
        return None
    where = where or "file"
    text = _shapes.text(text, "the previous record")
    try:
        record = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _refuse(where, f"not JSON: {str(exc)[:120]}") from None
    if not isinstance(record, Mapping) or record.get("format") != FORMAT:
        raise _refuse(where, f"not a record of format {FORMAT}")
    nodes = record.get("nodes")
    if not isinstance(nodes, Mapping):
        raise _refuse(where, "it has no nodes")
    for host, entry in nodes.items():
        for part in ("bench", "served"):
            group = entry.get(part) if isinstance(entry, Mapping) else None
            if group is None and part == "served":
                continue
            if not isinstance(group, Mapping) or not isinstance(group.get("fingerprint"), Mapping) \
                    or not isinstance(group.get("figures"), list):
                raise _refuse(where, f"{host}'s {part} has no fingerprint or no figures")
            for figure in group["figures"]:
                rate = figure.get("tokens_per_second") if isinstance(figure, Mapping) else "?"
                if not isinstance(figure, Mapping) or not isinstance(figure.get("test"), str) or not _rate(rate):
                    raise _refuse(where, f"{host}'s {part} figure {figure!r:.80} is not a test and a rate")
    if not isinstance(record.get("history", []), list):
        raise _refuse(where, "its history is not a list")
    return dict(record)


# --- comparison -----------------------------------------------------------------------------------------------------

def _missing(fingerprint: Mapping[str, Any]) -> list[str]:
    return [k for k in ESSENTIAL if not fingerprint.get(k)]


def _differs(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))


def _row(host: str, part: str, figure: Mapping, now: Mapping, before: Mapping | None, drop: float,
         first: bool) -> dict:
    rate = figure.get("tokens_per_second")
    row = {"host": host, "test": figure["test"], "tokens_per_second": rate, "before": None, "change_percent": None,
           "fingerprint_id": now["fingerprint_id"], "verdict": "", "detail": ""}
    if first:
        return dict(row, verdict="first record", detail="no previous record to compare with")
    if before is None:
        return dict(row, verdict="new", detail=f"the previous record has no {part} figures for {host}")
    old = {f.get("test"): f.get("tokens_per_second") for f in before["figures"]}
    missing = _missing(now["fingerprint"]) or _missing(before["fingerprint"])
    differs = _differs(before["fingerprint"], now["fingerprint"])
    if missing:
        return dict(row, verdict="not comparable", detail=f"the fingerprint is incomplete ({', '.join(missing)}"
                                                          " unknown)")
    if differs:
        return dict(row, verdict="not comparable", detail=f"what produced it changed: {', '.join(differs)}")
    if old.get(figure["test"]) is None or rate is None:
        return dict(row, verdict="new", detail=f"no {figure['test']} rate in both records")
    then = float(old[figure["test"]])
    change = round((rate - then) / then * 100, 1) if then else 0.0
    row.update(before=then, change_percent=change)
    if then and rate < then * (1 - drop / 100):
        return dict(row, verdict="DROP", detail=(
            f"{host} {figure['test']}: {then:.2f} -> {rate:.2f} tokens/s ({change:+.1f} %, beyond the {drop:g} %"
            f" threshold) with the same fingerprint {now['fingerprint_id']}"))
    return dict(row, verdict="ok", detail=f"{change:+.1f} % (threshold {drop:g} %)")


def compare(nodes: Mapping[str, Any], previous: Mapping[str, Any] | None, drop: float) -> list[dict]:
    """One row per figure of this run: DROP, ok, not comparable (and why), new, or first record."""
    rows = []
    for host in sorted(nodes):
        for part in ("bench", "served"):
            group = nodes[host].get(part)
            if not group:
                continue
            before = None
            if previous is not None:
                before = (previous["nodes"].get(host) or {}).get(part)
            for figure in group["figures"]:
                rows.append(_row(host, part, figure, group, before, drop, previous is None))
    return rows


# --- the record -----------------------------------------------------------------------------------------------------

def _cell(value: Any) -> str:
    return _values.markdown_cell(_shapes.plain(value))


def report_lines(record: Mapping[str, Any], path: str) -> list[str]:
    """The report's section: what the record compared, the drops first, then every figure and each fingerprint."""
    previous = record["history"][0]["written"] if record["history"] else ""
    drop = record["drop_percent"]
    out = ["## Benchmark record", "",
           f"This run's figures are in `{path}`"
           + (f", compared with the record of {previous}" if previous else " (the first record: nothing to compare)")
           + f". A figure that fell more than {drop:g} % since the previous record with the same fingerprint is a"
           " DROP; a changed build, model, CPU or split is not comparable, and says what changed.", ""]
    out += [f"- **DROP** {_cell(d)}" for d in record["drops"]]
    if record["drops"]:
        out.append("")
    out += ["| host | test | tokens/s | before | change | verdict | fingerprint |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in record["comparison"]:
        change = "" if row["change_percent"] is None else f"{row['change_percent']:+.1f} %"
        verdict = row["verdict"] + (f": {row['detail']}" if row["verdict"] == "not comparable" else "")
        out.append("| " + " | ".join(_cell(c) for c in (
            row["host"], row["test"], "" if row["tokens_per_second"] is None else row["tokens_per_second"],
            "" if row["before"] is None else row["before"], change, verdict, row["fingerprint_id"])) + " |")
    out += ["", "| fingerprint | host | figures | llama.cpp source | build | CPU | GPU | model | split |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for host in sorted(record["nodes"]):
        for part in ("bench", "served"):
            group = record["nodes"][host].get(part)
            if not group:
                continue
            fp = group["fingerprint"]
            split = fp.get("split") or {}
            split_text = "; ".join(f"{k} {v}" for k, v in (("--tensor-split", split.get("tensor_split")),
                                                           ("--rpc", split.get("rpc")),
                                                           ("planned", split.get("planned_tensor_split"))) if v)
            if part == "served" and not split_text:
                split_text = "one node, no --rpc"
            out.append("| " + " | ".join(_cell(c) for c in (
                group["fingerprint_id"], host, "llama-bench" if part == "bench" else "served completion",
                (fp["llama_cpp_source_sha256"] or "unknown")[:16], f"{fp['build_key'] or 'unknown'} ({fp['backend']},"
                f" CPU target {fp['cpu_target']})", f"{fp['cpu_model'] or 'unknown'} ({fp['cpus']} CPUs)", fp["gpu"],
                f"{fp['model']} {(fp['model_sha256'] or 'sha256 unknown')[:16]}", split_text)) + " |")
    return [*out, ""]


def record(inputs: Mapping[str, Any], previous_text: Any, written: Any, drop_percent: Any = 20, keep: Any = 5,
           where: str = "") -> dict:
    """This run's record: ``nodes`` (node() per host), ``comparison`` (compare() with the previous record),
    ``drops`` (a sentence per DROP), and ``history`` (the previous record, without its history, then its history;
    ``keep`` runs at most). ``previous_text``: the record file's text, None where there is none."""
    inputs = _shapes.mapping(inputs, "the nodes' bench inputs")
    written = _values.single_line(written, "the record's time")
    drop = _values.finite(drop_percent, "inference_bench_drop_percent", 0)
    if drop >= 100:
        raise BenchRecordError(f"inference_bench_drop_percent must be under 100, not {drop:g}")
    keep = _values.integer(keep, "inference_bench_record_keep", 1, 1000)
    previous = read_previous(previous_text, where)
    nodes = {host: node(host, entry) for host, entry in sorted(inputs.items())}
    _with_workers(nodes)
    rows = compare(nodes, previous, drop)
    history = []
    if previous is not None:
        history = [{k: v for k, v in previous.items() if k != "history"}, *(previous.get("history") or [])]
    return {"format": FORMAT, "written": written, "drop_percent": drop, "nodes": nodes, "comparison": rows,
            "drops": [r["detail"] for r in rows if r["verdict"] == "DROP"], "history": history[:keep]}
