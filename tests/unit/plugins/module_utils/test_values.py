# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one rule (module_utils/_common/_values.py), checked against the readers of what it writes: systemd's own unit
parser (systemd-analyze verify) and POSIX shell quoting (shlex) for ExecStart=, a CommonMark table parser
(markdown-it-py) for the report's cells, Python's ipaddress and urllib for addresses and URLs, and apt's deb822
rule that a line starting with a space continues the field before it."""
from __future__ import annotations

import math
import shlex
import shutil
import subprocess

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _values as v
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils import _filter_errors
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

HYPOTHESIS = settings(max_examples=300, deadline=None)
ANY = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.binary(),
                st.lists(st.text(), max_size=3), st.dictionaries(st.text(), st.text(), max_size=2))
LINE_BREAKS = ["\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


# --- checks where a value enters ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0, 65536, -1, True, False, "99999", ":99999", "8888\n", "80a", 80.5, None, [80],
                                   "", "0x50"])
def test_a_port_out_of_range_or_of_the_wrong_type_is_refused_naming_the_variable(value):
    with pytest.raises(v.ValueProblem, match=r"^node_port must be a port between 1 and 65535, not "):
        v.port(value, "node_port")


@pytest.mark.parametrize(("value", "expected"), [(1, 1), ("65535", 65535), (" 9100 ", 9100), (9090.0, 9090)])
def test_a_port_given_as_a_number_or_digits_is_taken(value, expected):
    assert v.port(value, "p") == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("false", False), ("False", False), ("no", False), ("off", False), ("0", False), (0, False), (False, False),
    ("true", True), ("YES", True), ("on", True), ("1", True), (1, True), (True, True)])
def test_booleans_as_ansible_reads_them_from_the_command_line(value, expected):
    # ansible-playbook -e flag=false gives the string "false": it is False, not a truthy string.
    assert v.boolean(value, "flag") is expected


@pytest.mark.parametrize("value", ["maybe", 2, [], {}, None, 0.5, "truee"])
def test_anything_else_is_not_read_as_a_boolean(value):
    with pytest.raises(v.ValueProblem, match=r"^flag must be true or false"):
        v.boolean(value, "flag")


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, "inf", "nan", "1e999", 10 ** 400, True, "x"])
def test_infinite_nan_and_overflowing_numbers_are_refused(value):
    with pytest.raises(v.ValueProblem, match=r"^tokens must be a finite number"):
        v.finite(value, "tokens")


@pytest.mark.parametrize("brk", [*LINE_BREAKS, "\x00", "\x1b", "\u202e", "\udcff"])
def test_a_single_line_refuses_every_line_break_python_knows_and_controls(brk):
    # str.splitlines is the independent list of what some reader splits lines on (sshd, apt and systemd differ).
    if brk in LINE_BREAKS:
        assert len(f"a{brk}b".splitlines()) == 2
    with pytest.raises(v.ValueProblem, match=r"^comment must be a single line of text"):
        v.single_line(f"a{brk}b", "comment")


@HYPOTHESIS
@given(st.text())
def test_a_single_line_that_is_taken_never_splits(text):
    try:
        out = v.single_line(text, "x")
    except v.ValueProblem as exc:
        assert str(exc).startswith("x ")
        return
    assert len(out.splitlines()) == 1


@pytest.mark.parametrize("value", ["main", "llm_workers", b"ab", {"a": 1}, 5])
def test_a_string_where_a_list_belongs_is_refused_not_read_letter_by_letter(value):
    with pytest.raises(v.ValueProblem, match=r"^hosts must be a list"):
        v.string_list(value, "hosts")


def test_a_list_is_checked_entry_by_entry_naming_the_entry():
    assert v.string_list(["a", "b"], "hosts") == ["a", "b"]
    with pytest.raises(v.ValueProblem, match=r"^hosts\[1\] must be a single line"):
        v.string_list(["a", "b\nc"], "hosts")


@HYPOTHESIS
@given(st.text(max_size=40))
def test_a_host_name_that_is_taken_is_an_address_or_dns_labels(text):
    try:
        out = v.hostname(text, "h")
    except v.ValueProblem:
        return
    assert out and all(c.isascii() and (c.isalnum() or c in ".-:") for c in out)


@pytest.mark.parametrize(("value", "expected"), [
    ("[::1]", "::1"), ("10.0.0.1", "10.0.0.1"), ("::FFFF:1.2.3.4", "::ffff:102:304")])
def test_addresses_come_out_canonical(value, expected):
    assert v.ip_address(value, "a") == expected


def test_networks_and_address_lists():
    assert v.address_list(["10.0.0.5", "10.0.0.0/24", "10.0.0.5", "fe80::1/64"], "allow") == [
        "10.0.0.5/32", "10.0.0.0/24", "fe80::/64"]
    with pytest.raises(v.ValueProblem, match=r"^allow\[0\] must be an address or a network"):
        v.address_list(["10.0.0.0/33"], "allow")
    with pytest.raises(v.ValueProblem, match=r"^allow must be a list"):
        v.address_list("prometheus", "allow")


@pytest.mark.parametrize("value", ["relative/path", "/a/../etc", "/a//b", "/a/./b", "/a\nb", 5])
def test_paths_must_be_absolute_and_plain(value):
    with pytest.raises(v.ValueProblem, match=r"^model_path must be"):
        v.absolute_path(value, "model_path")


@pytest.mark.parametrize("value", ["ftp://x/", "https://", "https://a b/", "https://x/\"", "https://x:99999/",
                                   "https://x/\nTrusted: yes", "javascript:alert(1)", "https://-bad-/"])
def test_urls_are_refused_unless_plain(value):
    with pytest.raises(v.ValueProblem):
        v.url(value, "repo_url")


def test_a_plain_url_is_taken_as_given():
    assert v.url("https://deb.debian.org/debian", "u") == "https://deb.debian.org/debian"
    assert v.url("http://10.0.0.1:8080/x?y=1", "u") == "http://10.0.0.1:8080/x?y=1"


# --- quoting for where a value goes ------------------------------------------------------------------------------

WORDS = st.lists(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12), min_size=1, max_size=5)


@HYPOTHESIS
@given(WORDS)
def test_systemd_exec_is_one_argument_per_word_as_shell_quoting_reads_it(words):
    argv = ["/usr/bin/prog", *words]
    try:
        line = v.systemd_exec(argv, "argv")
    except v.ValueProblem as exc:
        assert any(len(f"a{w}b".splitlines()) > 1 or v._bad_char(w) for w in words), exc
        return
    # systemd's specifier (%) and variable ($) layers first, then its quoting, which for the words we write is
    # the same as POSIX shell double quotes.
    split = shlex.split(line.replace("%%", "%").replace("$$", "$"), posix=True)
    assert split == argv


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_itself_reads_the_quoted_line_without_complaint(tmp_path):
    argv = ["/bin/echo", "a b", "%h", "$HOME", 'say "hi"', "back\\slash", "semi;colon", "", "ünï"]
    unit = tmp_path / "quoted.service"
    unit.write_text(f"[Service]\nExecStart={v.systemd_exec(argv, 'argv')}\n", encoding="utf-8")
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "quoted.service" not in done.stderr, done.stderr


def test_a_line_break_cannot_add_a_unit_line():
    with pytest.raises(v.ValueProblem, match=r"^ExecStart\[1\] must be a single line"):
        v.systemd_exec(["/bin/prog", "x\nExecStartPre=/bin/sh -c id"], "ExecStart")


@HYPOTHESIS
@given(st.text(max_size=30))
def test_a_deb822_value_never_continues_or_adds_a_field(text):
    try:
        out = v.deb822_value(text, "nvidia_repo_url")
    except v.ValueProblem:
        return
    stanza = f"Types: deb\nURIs: {out}\nSuites: /\n"
    fields = [line.split(":", 1)[0] for line in stanza.splitlines() if line and not line[0].isspace()]
    assert fields == ["Types", "URIs", "Suites"] and len(stanza.splitlines()) == 3


def test_deb822_words_from_a_list_only():
    assert v.deb822_words(["main", "contrib", "non-free-firmware"], "c") == "main contrib non-free-firmware"
    for bad in ("main", ["main contrib"], ["main\nTrusted: yes"], []):
        with pytest.raises(v.ValueProblem):
            v.deb822_words(bad, "components")


@HYPOTHESIS
@given(st.lists(st.text(max_size=15), min_size=3, max_size=3))
def test_a_markdown_cell_keeps_a_table_row_to_its_columns(cells):
    # markdown-it-py, a CommonMark parser with the GFM table rule, is the independent reader.
    row = "| " + " | ".join(v.markdown_cell(c) or "-" for c in cells) + " |"
    doc = "| a | b | c |\n|---|---|---|\n" + row + "\n"
    tokens = MarkdownIt("commonmark").enable("table").parse(doc)
    assert sum(1 for t in tokens if t.type == "tr_open") == 2
    assert sum(1 for t in tokens if t.type == "td_open") == 3
    inline = [child for token in tokens for child in (token.children or [])]
    assert not any(t.type in ("link_open", "html_inline", "strong_open", "em_open") for t in inline)


def test_prometheus_label_escapes_what_the_exposition_format_names():
    # The text format's rule: in a label value, \ " and line feed are escaped as \\ \" \n.
    assert v.prometheus_label('Tesla "P10"\\x\n') == 'Tesla \\"P10\\"\\\\x\\n'
    assert v.prometheus_label("GP102\udcff") == "GP102\ufffd"
    assert v.prometheus_label(b"\xffx") == "\ufffdx"


# --- the filters' side -------------------------------------------------------------------------------------------

@HYPOTHESIS
@given(ANY)
def test_a_filter_call_never_lets_a_raw_exception_out(value):
    from ansible.errors import AnsibleFilterError

    def fragile(x):
        return {"a": 1}[x] if isinstance(x, str) else 1 / len(x)

    try:
        _filter_errors.filter_call("fragile", fragile, value)
    except AnsibleFilterError as exc:
        assert str(exc).startswith("fragile")


@pytest.mark.parametrize(("word", "written"), [("50%", "50%%"), ("%h", "%%h"), ("$HOME", "$$HOME"),
                                               ("${X}", "$${X}"), ("a b", '"a b"'), ('q"', '"q\\""')])
def test_systemd_words_follow_the_manual(word, written):
    # systemd.unit(5) "Specifiers": "%%" is a single percent sign; systemd.service(5) "Command lines": "$$" is a
    # literal dollar sign, and a word with spaces is double-quoted with C-style escapes.
    assert v.systemd_word(word, "w") == written


@pytest.mark.parametrize("value", ["fe80::1%} accept", "fe80::1%a b", "fe80::1%eth0", "fe80::%x/64"])
def test_a_scope_id_is_refused_since_ipaddress_takes_any_text_after_it(value):
    # Python's ipaddress keeps whatever follows % (spaces, braces): nft syntax, a split word.
    for check in (v.ip_address, v.cidr, v.listen_address, v.hostname):
        with pytest.raises(v.ValueProblem):
            check(value, "allow")
