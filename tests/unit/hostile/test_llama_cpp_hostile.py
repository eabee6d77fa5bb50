# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role llama_cpp's pure layer tried as a hostile operator or a careless inventory would (issue #31).

- extra arguments that would re-add what the role refuses or owns (--host 0.0.0.0 on a keyless server, --api-key on a
  world-readable unit, --api-key-file elsewhere, --rpc, --port, --model), in every alias, '_' for '-' and
  '--name=value' form, as llama.cpp's own parser reads them (common/arg.cpp, checked against the source tarball);
- the units: exactly the lines they must hold, one ExecStart= argument per word whatever it holds (systemd-analyze and
  shell quoting as the independent readers), no line added by a newline anywhere;
- ports out of range or of the wrong type, a group's name where its hosts belong, llama-bench JSON with numbers that
  overflow or are not finite - a sentence that names the variable, never a traceback;
- a shared build's archive: only the digest its builder recorded lets it through;
- the RPC workers' allow list: the servers' addresses, and a warning for a wider one.
"""

from __future__ import annotations

import io
import re
import shlex
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.filter.llama_cpp import FilterModule
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _llama_cpp as llama
from hypothesis import given, settings
from hypothesis import strategies as st

HYPOTHESIS = settings(max_examples=300, deadline=None)
FILTERS = FilterModule().filters()
ROOT = Path(__file__).resolve().parents[3]
SDIST = ROOT / ".cache/lab/downloads/llama_cpp_python-0.3.36.tar.gz"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
ARG_CPP = "llama_cpp_python-0.3.36/vendor/llama.cpp/common/arg.cpp"
RPC_CPP = "llama_cpp_python-0.3.36/vendor/llama.cpp/tools/rpc/rpc-server.cpp"

SERVER = {"binary": "/opt/llama.cpp/current/bin/llama-server", "model": "/var/lib/llama.cpp/models/tiny.gguf",
          "host": "127.0.0.1", "port": 8080, "ctx_size": 512, "gpu_layers": 99, "threads": 0, "alias": "",
          "log_verbosity": "", "api_key_file": "", "rpc": "10.0.0.2:50052,10.0.0.3:50052", "extra_args": []}
RPC = {"binary": "/opt/llama.cpp/current/bin/ggml-rpc-server", "host": "10.0.0.2", "port": 50052, "threads": 0}


def _services(server=None, rpc=None, **top):
    settings_ = {"serve": True, "work": False, "allow_open": False, "user": "llama", "data_dir": "/var/lib/llama.cpp",
                 "backend": "cpu", "server": dict(SERVER, **(server or {})), "rpc": dict(RPC, **(rpc or {}))}
    settings_.update(top)
    return llama.services(settings_)


# --- the owned options, as llama.cpp's own table names them ----------------------------------------------------------

def _arg_cpp_names() -> list[tuple[str, ...]]:
    """Every option's names from the vendored llama.cpp's common/arg.cpp (the source the role builds): the first
    argument of each common_arg(...), a brace list of strings."""
    if not SDIST.exists():
        pytest.skip(f"{SDIST} is not there (make setup downloads it into the lab's mirror)")
    with tarfile.open(SDIST) as tar:
        text = tar.extractfile(ARG_CPP).read().decode()
    return [tuple(re.findall(r'"(-[^"]+)"', group)) for group in re.findall(r"common_arg\(\s*\{([^}]*)\}", text)]


def test_the_sdist_is_the_one_the_role_builds():
    if not SDIST.exists():
        pytest.skip("no sdist")
    import hashlib
    assert hashlib.sha256(SDIST.read_bytes()).hexdigest() == SDIST_SHA256


def test_every_owned_option_has_exactly_the_aliases_llama_cpp_gives_it():
    table = _arg_cpp_names()
    assert len(table) > 150  # the whole table was read, not a fragment
    for names, _variable in llama.SERVER_OWNED:
        matches = [entry for entry in table if set(names) & set(entry)]
        assert matches, f"{names} is not an option of this llama.cpp"
        # every alias llama.cpp accepts for it is owned too (a missing one would be a way around the refusal)
        for entry in matches:
            assert set(entry) <= set(names), f"llama.cpp also calls {names[-1]} {set(entry) - set(names)}"


def test_llama_cpp_reads_underscores_as_dashes_and_looks_the_whole_word_up():
    if not SDIST.exists():
        pytest.skip("no sdist")
    with tarfile.open(SDIST) as tar:
        text = tar.extractfile(ARG_CPP).read().decode()
    # parse_cli_args: '_' -> '-' in an argument starting with '--', then the whole word is looked up (so
    # '--host=0.0.0.0' is an invalid argument to this release; the role refuses it anyway, for a later one)
    parser = re.search(r"std::replace\(arg\.begin\(\), arg\.end\(\), '_', '-'\);\s*\}\s*"
                       r"if \(arg_to_options\.find\(arg\) == arg_to_options\.end\(\)\)", text)
    assert parser
    assert llama.option_name("--api_key_file=/x") == "--api-key-file" and llama.option_name("-a") == "-a"
    assert llama.option_name("value") == "" and llama.option_name("-ngl=1") == "-ngl"


def test_rpc_server_parses_only_what_the_role_sets_and_names():
    if not SDIST.exists():
        pytest.skip("no sdist")
    with tarfile.open(SDIST) as tar:
        text = tar.extractfile(RPC_CPP).read().decode()
    for names, _variable in llama.RPC_OWNED:
        for name in names:
            assert f'"{name}"' in text, name


OWNED = [(name, variable) for names, variable in llama.SERVER_OWNED for name in names]


@pytest.mark.parametrize(("name", "variable"), OWNED)
@pytest.mark.parametrize("form", ["apart", "equals", "underscore"])
def test_no_owned_option_passes_as_an_extra_argument_in_any_form(name, variable, form):
    if form == "underscore" and ("-" not in name[2:] or not name.startswith("--")):
        form = "apart"
    words = {"apart": ["--flash-attn", "on", name, "0.0.0.0"], "equals": ["--flash-attn", "on", f"{name}=0.0.0.0"],
             "underscore": ["--flash-attn", "on", "--" + name[2:].replace("-", "_"), "0.0.0.0"]}[form]
    with pytest.raises(llama.LlamaCppError, match=r"^llama_cpp_server_extra_args\[2\] is .*it cannot be given") as exc:
        _services(server={"extra_args": words, "api_key_file": "/etc/llama.cpp/api-keys"})
    assert variable.split(" ")[0] in str(exc.value)
    with pytest.raises(AnsibleFilterError, match="llama_cpp_services: llama_cpp_server_extra_args"):
        FILTERS["llama_cpp_services"]({"serve": True, "user": "llama", "data_dir": "/d", "backend": "cpu",
                                       "server": dict(SERVER, extra_args=words)})


@pytest.mark.parametrize("words", [
    ["--host", "0.0.0.0"], ["--host=0.0.0.0"], ["--api-key", "hunter2"], ["--api_key=hunter2"],
    ["--api-key-file", "/tmp/keys"], ["--rpc", "203.0.113.9:50052"], ["--port", "9999"], ["--port=80"],
    ["-m", "/tmp/evil.gguf"], ["--model=/tmp/evil.gguf"], ["-hf", "evil/model"], ["-mu", "http://evil/x.gguf"],
    ["-a", "other"], ["-c", "1"], ["-ngl", "0"], ["--reuse-port"],
])
def test_the_issues_bypasses_are_refused_even_with_allow_open(words):
    # allow_open only lets the role's own host choice through; it never lets an extra argument set it
    with pytest.raises(llama.LlamaCppError, match="cannot be given as an extra argument"):
        _services(server={"extra_args": words}, allow_open=True)


def test_the_api_key_refusal_does_not_echo_where_to_put_it_wrongly():
    with pytest.raises(llama.LlamaCppError) as exc:
        llama.extra_args(["--api-key", "sekrit"])
    assert "llama_cpp_server_api_key" in str(exc.value) and "ps" in str(exc.value) and "sekrit" not in str(exc.value)


def test_harmless_extra_arguments_pass_as_given():
    words = ["--flash-attn", "on", "--temp", "0.7", "--no-webui", "--system-prompt-file", "/etc/x y.txt", "-fa", "on"]
    out = _services(server={"extra_args": words})
    assert out["server_argv"][-len(words):] == words


def test_the_exposure_check_reads_the_final_command_line():
    # the last --host wins in llama.cpp; final_options says what the program will read
    argv = ["llama-server", "--host", "127.0.0.1", "--alias", "--host", "--host=0.0.0.0", "--api_key_file", "/k"]
    assert llama.final_options(argv, llama.SERVER_OWNED) == {"--host": "0.0.0.0", "--alias": "--host",
                                                             "--api-key-file": "/k"}
    # the role's own choice, keyless beyond loopback: refused; with the key file: fine
    out = _services(server={"host": "0.0.0.0"})
    assert out["problems"] and "would listen on 0.0.0.0 without an API key" in out["problems"][0]
    assert _services(server={"host": "0.0.0.0", "api_key_file": "/etc/llama.cpp/api-keys"})["problems"] == []
    assert _services(server={"host": "0.0.0.0"}, allow_open="true")["problems"] == []
    # "false" given with -e is false, not truthy
    assert _services(server={"host": "0.0.0.0"}, allow_open="false")["problems"]
    out = _services(rpc={"host": "0.0.0.0"}, serve=False, work=True)
    assert out["problems"] and "rpc-server has no authentication" in out["problems"][0]


# --- the units -----------------------------------------------------------------------------------------------------

HARDENING = ["ProtectSystem=strict", "ProtectHome=true", "PrivateTmp=true", "NoNewPrivileges=true",
             "PrivateDevices=true", "ProtectKernelTunables=true", "ProtectKernelModules=true",
             "ProtectControlGroups=true", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
             "RestrictNamespaces=true", "RestrictSUIDSGID=true", "LockPersonality=true", "CapabilityBoundingSet=",
             "SystemCallArchitectures=native"]


def test_the_server_unit_is_exactly_these_lines():
    out = _services(server={"host": "0.0.0.0", "api_key_file": "/etc/llama.cpp/api-keys", "alias": "tiny model",
                            "log_verbosity": "4"})
    assert out["server_unit"].splitlines() == [
        "# Ansible managed (homelab.nvidia_gpu.llama_cpp)", "[Unit]",
        "Description=llama.cpp's llama-server (OpenAI-compatible API) on 0.0.0.0:8080",
        "Documentation=https://github.com/ggml-org/llama.cpp/tree/master/tools/server",
        "Wants=network-online.target", "After=network-online.target", "", "[Service]", "User=llama", "Group=llama",
        "ExecStart=/opt/llama.cpp/current/bin/llama-server --model /var/lib/llama.cpp/models/tiny.gguf --host 0.0.0.0"
        " --port 8080 --ctx-size 512 --n-gpu-layers 99 --alias \"tiny model\" --log-verbosity 4 --api-key-file"
        " /etc/llama.cpp/api-keys --rpc 10.0.0.2:50052,10.0.0.3:50052",
        "Restart=on-failure", "RestartSec=5",
        "# Reads the build and the model, writes nothing; the API key file is root's, readable by the group.",
        "WorkingDirectory=/var/lib/llama.cpp", *HARDENING, "", "[Install]", "WantedBy=multi-user.target"]
    assert out["server_unit"].endswith("\n") and out["rpc_unit"] == ""


def test_the_rpc_unit_is_exactly_these_lines_and_a_cuda_build_sees_devices():
    out = _services(serve=False, work=True, backend="cuda", rpc={"threads": 4})
    assert out["rpc_unit"].splitlines() == [
        "# Ansible managed (homelab.nvidia_gpu.llama_cpp)", "[Unit]",
        "Description=llama.cpp's RPC worker on 10.0.0.2:50052 (no authentication: cluster network only)",
        "Documentation=https://github.com/ggml-org/llama.cpp/tree/master/tools/rpc",
        "Wants=network-online.target", "After=network-online.target", "", "[Service]", "User=llama", "Group=llama",
        "ExecStart=/opt/llama.cpp/current/bin/ggml-rpc-server --host 10.0.0.2 --port 50052 --threads 4",
        "Restart=on-failure", "RestartSec=5", "WorkingDirectory=/var/lib/llama.cpp",
        *[line for line in HARDENING if line != "PrivateDevices=true"], "", "[Install]", "WantedBy=multi-user.target"]
    assert out["server_unit"] == "" and out["server_argv"] == []


def _exec_words(unit: str) -> list[str]:
    lines = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    assert len(lines) == 1
    return shlex.split(lines[0][len("ExecStart="):].replace("%%", "%").replace("$$", "$"), posix=True)


NASTY = ["tiny model.gguf", "a\"b", "back\\slash", "semi;colon", "%h", "$HOME", "x'y", "ünï", "--", "-"]


@pytest.mark.parametrize("nasty", NASTY)
def test_a_value_is_one_argument_whatever_it_holds(nasty):
    out = _services(server={"model": f"/models/{nasty}", "alias": nasty, "extra_args": ["--system-prompt", nasty]})
    words = _exec_words(out["server_unit"])
    assert words == out["server_argv"] and f"/models/{nasty}" in words and words[-1] == nasty


@pytest.mark.parametrize("field", ["model", "alias", "extra", "user", "data_dir"])
@pytest.mark.parametrize("brk", ["\n", "\r", "\u2028", "\u0085", "\x00", "\u202e"])
def test_a_line_break_anywhere_adds_no_line_to_a_root_unit(field, brk):
    evil = f"x{brk}ExecStartPre=/bin/sh -c 'id > /root/pwned'"
    change = {"model": ({"server": {"model": "/m/" + evil}}), "alias": {"server": {"alias": evil}},
              "extra": {"server": {"extra_args": ["--temp", evil]}}, "user": {"user": evil},
              "data_dir": {"data_dir": "/var/" + evil}}[field]
    server = change.pop("server", None)
    with pytest.raises(llama.LlamaCppError) as exc:
        _services(server=server, **change)
    assert re.search(r"llama_cpp_\w+|model|ExecStart|command line", str(exc.value))


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_itself_reads_both_units(tmp_path):
    out = _services(server={"binary": "/bin/echo", "model": "/m/a b %h $HOME.gguf", "alias": 'say "hi"',
                            "extra_args": ["--x", "semi;colon"]}, work=True, rpc={"binary": "/bin/echo"})
    for name in ("server", "rpc"):
        unit = tmp_path / f"llama-{name}.service"
        unit.write_text(out[f"{name}_unit"], encoding="utf-8")
        done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False)
        complaints = [line for line in done.stderr.splitlines() if unit.name in line]
        assert not complaints, done.stderr


@HYPOTHESIS
@given(st.lists(st.text(max_size=20), max_size=6))
def test_any_extra_arguments_are_refused_or_one_argument_each(words):
    try:
        out = _services(server={"extra_args": words})
    except llama.LlamaCppError as exc:
        owned = any(llama._owner(llama.option_name(w), llama.SERVER_OWNED) for w in words)
        broken = any(len(f"a{w}b".splitlines()) > 1 or llama._values._bad_char(w) for w in words)
        assert owned or broken, exc
        return
    assert _exec_words(out["server_unit"]) == out["server_argv"]
    assert out["server_argv"][-len(words):] == words if words else True
    assert llama.final_options(out["server_argv"], llama.SERVER_OWNED)["--host"] == "127.0.0.1"


# --- ports, lists, numbers ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("port", [0, 65536, True, False, "99999", -1, 1.5, "8080; rm -rf /", None, [8080], "0x50"])
def test_ports_out_of_range_or_of_the_wrong_type_name_their_variable(port):
    with pytest.raises(llama.LlamaCppError, match=r"^llama_cpp_server_port must be a port between 1 and 65535"):
        _services(server={"port": port})
    with pytest.raises(llama.LlamaCppError, match=r"^llama_cpp_rpc_port must be a port between 1 and 65535"):
        _services(serve=False, work=True, rpc={"port": port})
    if port is not None:
        with pytest.raises(llama.LlamaCppError, match=r"llama_cpp_rpc_port must be a port between"):
            llama.rpc_servers({"w": {"ansible_host": "10.0.0.2", "llama_cpp_rpc_port": port}}, ["w"])


def test_ports_that_are_valid_strings_still_work():
    assert _services(server={"port": "8081"})["server_argv"][6] == "8081"


@pytest.mark.parametrize("workers", ["llm_workers", b"llm_workers", {"lm-w1": {}}, 3])
def test_a_group_name_where_its_hosts_belong_is_refused_not_read_letter_by_letter(workers):
    hostvars = {c: {"ansible_host": "10.0.0.9"} for c in "lm_workers"}
    with pytest.raises(llama.LlamaCppError, match=r"the hosts of llama_cpp_workers_group must be a list"):
        llama.rpc_servers(hostvars, workers)
    with pytest.raises(AnsibleFilterError, match=r"^llama_cpp_rpc_servers: the hosts of llama_cpp_workers_group"):
        FILTERS["llama_cpp_rpc_servers"](hostvars, workers)
    with pytest.raises(AnsibleFilterError, match=r"the hosts of llama_cpp_servers_group must be a list"):
        FILTERS["llama_cpp_rpc_allow"](hostvars, workers)


@pytest.mark.parametrize("endpoint", ["10.0.0.2:0", "10.0.0.2:65536", "10.0.0.2:", "[fd00::2]:50052",
                                      "10.0.0.2:50052,evil:1", "10.0.0.2:50052\nExecStartPre=/x", "a b:1"])
def test_a_published_endpoint_that_is_not_one_address_and_port_is_refused(endpoint):
    with pytest.raises(llama.LlamaCppError, match=r"w"):
        llama.rpc_servers({"w": {"llama_cpp_rpc_endpoint": endpoint}}, ["w"])


@pytest.mark.parametrize("run", [
    '{"n_prompt": 1e400, "n_gen": 0, "avg_ts": 1}', '{"n_prompt": 64, "avg_ts": Infinity}',
    '{"n_prompt": 64, "avg_ts": NaN}', '{"n_prompt": 64, "avg_ts": -Infinity}', '{"n_prompt": 64, "avg_ts": 1e999}',
    '{"n_prompt": 1' + "0" * 400 + ', "avg_ts": 1}', '{"n_prompt": 64, "avg_ts": "fast"}',
    '{"n_prompt": 64, "avg_ts": 1, "stddev_ts": [1]}', '{"n_prompt": -5, "avg_ts": 1}',
    '{"n_prompt": 64, "avg_ts": 1, "n_gpu_layers": 1e300}', '{"n_prompt": true, "avg_ts": 1}',
    '{"n_prompt": 64, "avg_ts": 1, "backends": "CPU\\n| x |"}',
])
def test_llama_bench_numbers_that_overflow_or_are_not_finite_are_a_sentence(run):
    with pytest.raises(llama.LlamaCppError, match=r"^llama-bench's run 0: \w+ must be"):
        llama.bench_figures(f"[{run}]")
    with pytest.raises(AnsibleFilterError, match=r"^llama_cpp_bench_figures: llama-bench's run 0"):
        FILTERS["llama_cpp_bench_figures"](f"[{run}]")


@pytest.mark.parametrize("stdout", ["[" * 100000 + "]" * 100000, "9" * 5000, None, 42, ["[]"], "\udcff", ""])
def test_llama_bench_output_that_is_not_json_text_is_a_sentence(stdout):
    with pytest.raises(llama.LlamaCppError, match=r"^llama-bench's output (is not JSON|must be text)"):
        llama.bench_figures(stdout)
    with pytest.raises(AnsibleFilterError, match=r"^llama_cpp_bench_figures: llama-bench's output"):
        FILTERS["llama_cpp_bench_figures"](stdout)


# --- the shared build's archive ----------------------------------------------------------------------------------

KEY = "0123456789abcdef"
DIGEST = "ab" * 32


@pytest.mark.parametrize("text", ["", None, DIGEST, f"{DIGEST}  other.tar.gz\n", f"{DIGEST.upper()}  {KEY}.tar.gz",
                                  f"{DIGEST}  {KEY}.tar.gz\n{DIGEST}  {KEY}.tar.gz", f"{DIGEST[:-1]}  {KEY}.tar.gz",
                                  f" {DIGEST}  {KEY}.tar.gz", f"{DIGEST}  {KEY}.tar.gz.evil", ["x"]])
def test_a_sidecar_that_is_not_exactly_the_digest_line_lets_nothing_through(text):
    with pytest.raises(llama.LlamaCppError, match=rf"build {KEY}'s archive .*(is not unpacked|must be a single line)"):
        llama.archive_digest(text, KEY)


def test_the_recorded_digest_is_read_and_checked():
    assert llama.archive_digest(f"{DIGEST}  {KEY}.tar.gz\n", KEY) == DIGEST
    assert llama.archive_digest(f"{DIGEST} *{KEY}.tar.gz", KEY) == DIGEST
    assert llama.archive_check(DIGEST, DIGEST, KEY, "lm-w2") == []
    problems = llama.archive_check(DIGEST, "cd" * 32, KEY, "lm-w2")
    assert len(problems) == 1 and problems[0].startswith("lm-w2: build 0123456789abcdef's archive has sha256 cdcd")
    assert "is not unpacked" in problems[0] and "llama_cpp_controller_cache" in problems[0]
    for expected in ("", None, "x" * 64, DIGEST.upper()):
        assert "has no recorded sha256" in llama.archive_check(expected, expected, KEY, "h")[0]
    with pytest.raises(AnsibleFilterError, match="llama_cpp_archive_digest"):
        FILTERS["llama_cpp_archive_digest"](f"{DIGEST}  {KEY}.tar.gz", "../../etc")


def test_a_real_archive_tampered_with_by_one_byte_is_refused(tmp_path):
    import hashlib
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"#!/bin/sh\necho llama\n"
        info = tarfile.TarInfo(f"{KEY}/bin/llama-server")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    archive = buf.getvalue()
    recorded = llama.archive_digest(f"{hashlib.sha256(archive).hexdigest()}  {KEY}.tar.gz\n", KEY)
    tampered = archive[:-1] + bytes([archive[-1] ^ 1])
    assert llama.archive_check(recorded, hashlib.sha256(archive).hexdigest(), KEY, "h") == []
    assert llama.archive_check(recorded, hashlib.sha256(tampered).hexdigest(), KEY, "h")


# --- who may reach the RPC port ----------------------------------------------------------------------------------

HOSTVARS = {"lm-server": {"ansible_facts": {"default_ipv4": {"address": "172.18.0.4"},
                                            "all_ipv4_addresses": ["172.18.0.4", "10.9.0.4"]}},
            "gpu-1": {"llama_cpp_rpc_address": "192.168.50.40",
                      "ansible_facts": {"default_ipv4": {"address": "1.2.3.4"}}},
            "named": {"ansible_host": "server.lan"}}


def test_the_rpc_allow_list_is_the_servers_addresses():
    out = llama.rpc_allow(HOSTVARS, ["lm-server", "gpu-1"])
    assert out["allow"] == out["derived"] == ["172.18.0.4", "10.9.0.4", "192.168.50.40"] and out["warning"] == ""
    assert "no authentication" in out["exposes"]
    assert llama.rpc_allow(HOSTVARS, [])["allow"] == []  # no server: only loopback reaches the workers


def test_a_server_with_no_known_address_is_a_sentence_not_an_open_port():
    with pytest.raises(llama.LlamaCppError, match=r"^named: no address is known .* set llama_cpp_rpc_allow"):
        llama.rpc_allow(HOSTVARS, ["named"])


@pytest.mark.parametrize(("override", "says"), [
    (["0.0.0.0/0"], "0.0.0.0/0 beyond the servers .* that is every address"),
    (["::/0", "172.18.0.4"], "::/0 beyond"), (["172.18.0.0/16"], "172.18.0.0/16 beyond"),
])
def test_a_wider_allow_list_is_taken_and_says_what_it_exposes(override, says):
    out = llama.rpc_allow(HOSTVARS, ["lm-server"], override)
    assert out["allow"] == [llama._values.cidr(a, "x") for a in override]
    assert re.search(says, out["warning"]) and "no authentication" in out["warning"]


def test_an_allow_list_of_the_servers_or_loopback_warns_of_nothing():
    assert llama.rpc_allow(HOSTVARS, ["lm-server"], ["172.18.0.4", "127.0.0.1"])["warning"] == ""
    assert llama.rpc_allow(HOSTVARS, ["lm-server"], [])["allow"] == []


@pytest.mark.parametrize("override", ["0.0.0.0/0", ["10.0.0.0/33"], ["evil.example"], [None], ["10.0.0.1\n::/0"]])
def test_a_malformed_allow_list_is_refused_naming_it(override):
    with pytest.raises(llama.LlamaCppError, match=r"^llama_cpp_rpc_allow"):
        llama.rpc_allow(HOSTVARS, ["lm-server"], override)


def test_the_servers_optional_allow_list_is_checked_and_named():
    assert _services()["server_allow"] is None  # no table: the API key protects the port
    assert _services(server_allow=["10.0.0.0/24", "10.0.0.7"])["server_allow"] == ["10.0.0.0/24", "10.0.0.7/32"]
    for bad in ("10.0.0.0/24", ["10.0.0.0/33"], ["x y"]):
        with pytest.raises(llama.LlamaCppError, match=r"^llama_cpp_server_allow"):
            _services(server_allow=bad)


# --- the API key ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["good\nsecond-key", "good\u2028x", "good\x00", "#commented", " padded", 42, ["k"]])
def test_an_api_key_that_is_not_one_line_is_a_sentence_that_never_shows_it(key):
    problem = FILTERS["llama_cpp_api_key_problem"](key)
    assert problem.startswith("llama_cpp_server_api_key must")
    assert "good" not in problem and "second" not in problem and "commented" not in problem


def test_a_good_api_key_or_none_is_fine():
    assert llama.api_key_problem("lab-api-key-not-a-secret") == "" and llama.api_key_problem("") == ""


# --- every filter: a sentence, never a traceback ------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(FILTERS))
@pytest.mark.parametrize("junk", [None, "x", 7, [], {}, [{}], {"a": object()}, float("nan")])
def test_every_filter_given_junk_is_a_filter_error_or_an_answer(name, junk):
    args = {"llama_cpp_host_build": (junk, junk, junk, junk), "llama_cpp_build_plan": (junk, junk),
            "llama_cpp_rpc_servers": (junk, junk, junk), "llama_cpp_archive_digest": (junk, junk),
            "llama_cpp_archive_check": (junk, junk, junk, junk), "llama_cpp_rpc_allow": (junk, junk, junk),
            "llama_cpp_stale_builds": (junk, junk, junk), "llama_cpp_stale_sources": (junk, junk)}.get(name, (junk,))
    try:
        FILTERS[name](*args)
    except AnsibleFilterError as exc:
        assert str(exc).startswith(name)
