# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark record: fingerprints, the comparison with a planted previous record, the history, bad records.

The node inputs are real outputs, captured in tests/unit/fixtures/bench_record/ (README there): llama-bench -o json
and llama-server's /v1/chat/completions answer from the llama.cpp that llama-cpp-python 0.3.36 vendors (the lab's
source) over the lab's tiny GGUF, and lscpu of an amd64 machine. Drops are proven with planted previous records only.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _bench_record as rec
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _llama_cpp
from hypothesis import given, settings
from hypothesis import strategies as st

FIXTURES = Path(__file__).resolve().parents[3] / "unit" / "fixtures" / "bench_record"
BENCH_JSON = (FIXTURES / "llama-bench.json").read_text()
COMPLETION = json.loads((FIXTURES / "chat-completion.json").read_text())
LSCPU = (FIXTURES / "lscpu-amd64.txt").read_text()
SOURCE = "a" * 64
MODEL_SHA = "b" * 64
PLAN = {"kind": "none", "can_work": False}  # a node without a GPU: a CPU build
BENCH_ARGV = ["/opt/llama.cpp/current/bin/llama-bench", "--model", "/var/lib/llama.cpp/models/tiny-llama.gguf",
              "-p", "64", "-n", "16", "-r", "2", "-ngl", "0", "-o", "json"]
SERVER_ARGV = ["/opt/llama.cpp/current/bin/llama-server", "--model", "/var/lib/llama.cpp/models/tiny-llama.gguf",
               "--host", "0.0.0.0", "--port", "8080", "--ctx-size", "512", "--rpc", "10.0.0.2:50052,10.0.0.3:50052"]
WRITTEN = "2026-12-08 01:00:00 UTC"


def build_json(options=None, source=SOURCE):
    """build.json as the role writes it (builds/KEY/build.json: the plan's build record)."""
    build = _llama_cpp.host_build(PLAN, {"native": False, "cmake_options": options or {}}, source, "Debian-12-x86_64")
    return json.dumps(dict(build, source_url="http://mirror.lab/sources/llama.tar.gz", source_sha256=source))


def inputs(server=False, **changes):
    figures = _llama_cpp.bench_figures(BENCH_JSON)
    entry = {"bench": {"backend": "cpu", "cpu": "x86-64", "model": "tiny-llama.gguf", "figures": figures,
                       "why_not": ""},
             "bench_argv": BENCH_ARGV, "build": build_json(), "lscpu": LSCPU, "model_sha256": MODEL_SHA, "gpus": [],
             "server_argv": SERVER_ARGV if server else [], "workers": ["w1", "w2"] if server else [],
             "completion": COMPLETION if server else {}, "elapsed": 1,
             "request": {"prompt": "Say hello to the cluster.", "max_tokens": 8} if server else {}}
    entry.update(changes)
    return entry


def cluster(**server_changes):
    return {"server": inputs(server=True, **server_changes), "w1": inputs(), "w2": inputs()}


def scaled(record, factor, part=None):
    """A planted previous record: this record's figures times ``factor`` (only ``part``'s where given)."""
    planted = copy.deepcopy(record)
    for entry in planted["nodes"].values():
        for name in ("bench", "served"):
            if entry.get(name) and name == (part or name):
                for figure in entry[name]["figures"]:
                    figure["tokens_per_second"] = round(figure["tokens_per_second"] * factor, 2)
    return json.dumps(dict(planted, written="2026-12-07 01:00:00 UTC"))


def verdicts(made):
    return {(r["host"], r["test"]): r["verdict"] for r in made["comparison"]}


def test_the_fixtures_are_real_tool_output():
    """The captured llama-bench run has a prompt and a generation test; llama-server's answer has its timings."""
    tests = [f["test"] for f in _llama_cpp.bench_figures(BENCH_JSON)]
    assert tests == ["pp64", "tg16"]
    assert COMPLETION["usage"]["completion_tokens"] == COMPLETION["timings"]["predicted_n"] > 0
    assert rec.cpu_facts(LSCPU)["cpu_architecture"] == "x86_64" and rec.cpu_facts(LSCPU)["cpus"].isdigit()


def test_first_run_has_nothing_to_compare():
    made = rec.record(cluster(), None, WRITTEN)
    assert made["history"] == [] and made["drops"] == []
    assert set(verdicts(made).values()) == {"first record"}
    # every llama-bench test of every node, and the server's served generation rate
    assert sorted(verdicts(made)) == sorted([(h, t) for h in ("server", "w1", "w2") for t in ("pp64", "tg16")]
                                            + [("server", "served tg")])
    served = made["nodes"]["server"]["served"]["figures"][0]
    assert served["tokens_per_second"] == round(COMPLETION["timings"]["predicted_per_second"], 2)
    assert served["source"] == "llama-server's timings"


def test_a_drop_beyond_the_threshold_is_flagged_against_a_planted_higher_record():
    first = rec.record(cluster(), None, "2026-12-07 01:00:00 UTC")
    made = rec.record(cluster(), scaled(first, 3), WRITTEN)
    assert set(verdicts(made).values()) == {"DROP"}
    assert len(made["drops"]) == 7
    tg = next(r for r in made["comparison"] if (r["host"], r["test"]) == ("w1", "tg16"))
    assert tg["change_percent"] == pytest.approx(-66.7, abs=0.2)
    assert "w1 tg16" in tg["detail"] and "beyond the 20 % threshold" in tg["detail"]
    assert tg["detail"].endswith(f"with the same fingerprint {made['nodes']['w1']['bench']['fingerprint_id']}")
    # the previous record is kept, its own history dropped from it
    assert made["history"][0]["written"] == "2026-12-07 01:00:00 UTC" and "history" not in made["history"][0]
    lines = rec.report_lines(made, "/tmp/bench-record.json")
    assert any(line.startswith("- **DROP** w1 tg16:") for line in lines)
    assert "compared with the record of 2026-12-07 01:00:00 UTC" in lines[2]


def test_a_fall_within_the_threshold_is_no_drop_and_the_threshold_is_the_variable():
    first = rec.record(cluster(), None, "2026-12-07 01:00:00 UTC")
    made = rec.record(cluster(), scaled(first, 1.1), WRITTEN)  # 9.1 % lower than planted
    assert set(verdicts(made).values()) == {"ok"} and made["drops"] == []
    planted = scaled(first, 1 / 0.75)  # 25 % lower than planted
    assert set(verdicts(rec.record(cluster(), planted, WRITTEN, drop_percent=20)).values()) == {"DROP"}
    assert set(verdicts(rec.record(cluster(), planted, WRITTEN, drop_percent=30)).values()) == {"ok"}
    faster = rec.record(cluster(), scaled(first, 0.5), WRITTEN)  # twice as fast: never a drop
    assert set(verdicts(faster).values()) == {"ok"}
    assert all(r["change_percent"] == pytest.approx(100, abs=1) for r in faster["comparison"])


def test_a_different_fingerprint_is_not_compared_and_says_what_changed():
    first = rec.record(cluster(), None, "2026-12-07 01:00:00 UTC")
    planted = scaled(first, 3)
    other_model = {h: dict(e, model_sha256="c" * 64) for h, e in cluster().items()}
    made = rec.record(other_model, planted, WRITTEN)
    assert made["drops"] == [] and set(verdicts(made).values()) == {"not comparable"}
    assert {r["detail"] for r in made["comparison"] if r["host"] == "w1"} == {"what produced it changed: model_sha256"}
    # a new build (other CMake options: another key) is not compared either, and the row names the build's fields
    rebuilt = {h: dict(e, build=build_json({"CMAKE_C_FLAGS_RELEASE": "-O3"})) for h, e in cluster().items()}
    made = rec.record(rebuilt, planted, WRITTEN)
    assert made["drops"] == []
    detail = next(r["detail"] for r in made["comparison"] if r["host"] == "w2")
    assert "build_key" in detail and "build_options" in detail


def test_the_split_and_the_workers_are_the_served_figure_s_fingerprint():
    first = rec.record(cluster(), None, "2026-12-07 01:00:00 UTC")
    served_fp = first["nodes"]["server"]["served"]["fingerprint"]
    assert served_fp["split"] == {"tensor_split": "", "rpc": "10.0.0.2:50052,10.0.0.3:50052",
                                  "planned_tensor_split": ""}
    assert served_fp["workers"] == {w: first["nodes"][w]["bench"]["fingerprint_id"] for w in ("w1", "w2")}
    planted = scaled(first, 3)
    split = cluster(server_argv=[*SERVER_ARGV, "--tensor-split", "1,1,2"], planned_split={"tensor_split_arg": "1,1,2"})
    made = rec.record(split, planted, WRITTEN)
    row = verdicts(made)
    assert row[("server", "served tg")] == "not comparable" and row[("server", "tg16")] == "DROP"
    assert made["nodes"]["server"]["served"]["fingerprint"]["split"]["tensor_split"] == "1,1,2"
    detail = next(r["detail"] for r in made["comparison"] if r["test"] == "served tg")
    assert detail == "what produced it changed: server, split"
    # a worker's new build changes the server's served fingerprint too (its half of the split ran elsewhere)
    nodes = cluster()
    nodes["w2"] = dict(nodes["w2"], build=build_json({"CMAKE_C_FLAGS_RELEASE": "-O3"}))
    made = rec.record(nodes, planted, WRITTEN)
    assert next(r["detail"] for r in made["comparison"] if r["test"] == "served tg") == \
        "what produced it changed: workers"


def test_an_incomplete_fingerprint_is_never_compared():
    first = rec.record({h: dict(e, build="") for h, e in cluster().items()}, None, "2026-12-07 01:00:00 UTC")
    made = rec.record({h: dict(e, build="") for h, e in cluster().items()}, scaled(first, 3), WRITTEN)
    assert made["drops"] == [] and set(verdicts(made).values()) == {"not comparable"}
    assert made["comparison"][0]["detail"] == \
        "the fingerprint is incomplete (llama_cpp_source_sha256, build_key unknown)"


def test_served_rate_without_timings_is_usage_over_the_whole_seconds():
    answer = {k: v for k, v in COMPLETION.items() if k != "timings"}
    made = rec.record(cluster(completion=answer, elapsed=2), None, WRITTEN)
    served = made["nodes"]["server"]["served"]["figures"][0]
    assert served["tokens_per_second"] == round(COMPLETION["usage"]["completion_tokens"] / 2, 2)
    assert served["source"].startswith("usage.completion_tokens over the request's whole seconds")
    none = rec.record(cluster(completion=answer, elapsed=0), None, WRITTEN)
    assert none["nodes"]["server"]["served"]["figures"][0]["tokens_per_second"] is None


def test_a_node_whose_bench_did_not_run_or_whose_server_did_not_answer():
    made = rec.record({"server": inputs(server=True, completion={}),
                       "w1": inputs(bench={"backend": "cpu", "model": "m.gguf", "figures": [],
                                           "why_not": "no model on this host"})}, None, WRITTEN)
    assert made["nodes"]["w1"]["bench"]["figures"] == []
    assert made["nodes"]["w1"]["bench"]["note"] == "no model on this host"
    assert made["nodes"]["server"]["served"]["note"] == "no completion answered in this run"
    assert made["nodes"]["server"]["served"]["fingerprint"]["workers"] == {"w1": made["nodes"]["w1"]["bench"][
        "fingerprint_id"], "w2": "not in this run"}


def test_the_history_keeps_the_newest_runs_up_to_keep():
    texts = None
    for day in range(1, 5):
        made = rec.record(cluster(), texts, f"2026-12-0{day} 01:00:00 UTC", keep=2)
        texts = json.dumps(made)
    assert [h["written"] for h in made["history"]] == ["2026-12-03 01:00:00 UTC", "2026-12-02 01:00:00 UTC"]
    assert all("history" not in h for h in made["history"])
    # a record read back compares with its own figures: no change, no drop
    assert {r["change_percent"] for r in made["comparison"]} == {0.0} and made["drops"] == []


@pytest.mark.parametrize(("text", "why"), [
    ("{not json", "not JSON"),
    ("[]", f"not a record of format {rec.FORMAT}"),
    (json.dumps({"format": "something else", "nodes": {}}), "not a record of format"),
    (json.dumps({"format": rec.FORMAT}), "it has no nodes"),
    (json.dumps({"format": rec.FORMAT, "nodes": {"w1": {"bench": {"figures": []}}}}), "w1's bench has no fingerprint"),
    (json.dumps({"format": rec.FORMAT, "nodes": {"w1": {"bench": {"fingerprint": {}, "figures": [
        {"test": "tg16", "tokens_per_second": "fast"}]}}}}), "w1's bench figure"),
    (json.dumps({"format": rec.FORMAT, "nodes": {}, "history": {}}), "its history is not a list"),
    (json.dumps({"format": rec.FORMAT, "nodes": {"w1": {"bench": {"fingerprint": {}, "figures": [
        {"test": "tg16", "tokens_per_second": float("inf")}]}}}}), "w1's bench figure"),
])
def test_a_malformed_previous_record_is_refused_in_a_sentence(text, why):
    with pytest.raises(rec.BenchRecordError) as caught:
        rec.record(cluster(), text, WRITTEN, where="/srv/bench-record.json")
    message = str(caught.value)
    assert message.startswith("the previous benchmark record /srv/bench-record.json cannot be read (")
    assert why in message and message.endswith("nothing was written over it")


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"drop_percent": 100}, "must be under 100"),
    ({"drop_percent": "x"}, "inference_bench_drop_percent"),
    ({"keep": 0}, "inference_bench_record_keep"),
])
def test_bad_settings_are_refused_in_a_sentence(kwargs, says):
    with pytest.raises(ValueError, match=says):
        rec.record(cluster(), None, WRITTEN, **kwargs)


def test_the_fingerprint_names_what_produced_the_figures():
    fp = rec.record(cluster(), None, WRITTEN)["nodes"]["w1"]["bench"]["fingerprint"]
    assert fp["llama_cpp_source_sha256"] == SOURCE and fp["model_sha256"] == MODEL_SHA
    assert fp["build_key"] == json.loads(build_json())["key"] and fp["build_options"]["GGML_NATIVE"] == "OFF"
    assert fp["cpu_model"] == rec.cpu_facts(LSCPU)["cpu_model"] != ""
    assert fp["gpu"] == "none used (CPU build)"
    assert fp["llama_bench"] == ["-p", "64", "-n", "16", "-r", "2", "-ngl", "0", "-o", "json"]
    cuda = rec.node("g1", inputs(build=json.dumps({"backend": "cuda"}), gpus=[
        {"catalog": {"name": "Tesla P10"}, "device_name": "GP102GL"}], simulated_gpu=True))
    assert cuda["bench"]["fingerprint"]["gpu"] == "Tesla P10 (simulated)"


_SCALAR = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
_JSON = st.recursive(_SCALAR, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
_FIGURE = st.fixed_dictionaries({"test": st.sampled_from(["pp64", "tg16", "served tg"]) | st.text(max_size=4),
                                 "tokens_per_second": st.none() | st.integers(-5, 10**9) | st.floats()})
_GROUP = st.fixed_dictionaries({"fingerprint": st.dictionaries(st.sampled_from(list(rec.ESSENTIAL)), _SCALAR),
                                "figures": st.lists(_FIGURE, max_size=3)})
_NODE = _JSON | st.fixed_dictionaries({"bench": _GROUP}, optional={"served": _GROUP | _JSON})


@settings(max_examples=150, deadline=None)
@given(nodes=st.dictionaries(st.sampled_from(["server", "w1", "w2"]), _NODE, max_size=3),
       extra=st.dictionaries(st.sampled_from(["history", "written", "drop_percent"]), _JSON, max_size=2))
def test_any_previous_record_shape_is_read_or_refused_in_a_sentence(nodes, extra):
    """A hand-edited or damaged record of the right format: a comparison, or BenchRecordError - never a traceback."""
    text = json.dumps({"format": rec.FORMAT, "nodes": nodes, **extra})
    try:
        made = rec.record(cluster(), text, WRITTEN)
    except rec.BenchRecordError as exc:
        assert str(exc).startswith("the previous benchmark record file cannot be read (")
    else:
        assert {r["verdict"] for r in made["comparison"]} <= {"new", "not comparable", "ok", "DROP"}
