# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile input for the SSH access plan and the distro mirror: a clean error naming the input, or a file that
holds only what was meant - never an injected sshd keyword or apt field, never a lost authorized_keys line.
"""
from __future__ import annotations

import base64
import shutil
import subprocess

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.filter.ssh_access import FilterModule
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _distro_mirror as dm
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _ssh_access as ssh
from hypothesis import given, settings
from hypothesis import strategies as st

HYPOTHESIS = settings(max_examples=200, deadline=None)
FILTERS = FilterModule().filters()
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFBhEXFaqytRdHiZj9gYySDbaoODO6Z1e4HcdY29p6tz alice@lab"
POLICY = {"Port", "PubkeyAuthentication", "PasswordAuthentication", "KbdInteractiveAuthentication",
          "PermitRootLogin", "AuthenticationMethods", "AllowGroups", "AllowUsers"}
text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


def _keywords(dropin: str) -> list[str]:
    return [line.split()[0] for line in dropin.splitlines() if line.strip() and not line.startswith("#")]


@HYPOTHESIS
@given(users=st.lists(text, max_size=3), groups=st.lists(text, max_size=3),
       options=st.dictionaries(text, st.one_of(text, st.integers(), st.booleans(), st.lists(text, max_size=3)),
                               max_size=3))
def test_any_names_and_options_give_an_error_or_only_the_keywords_asked_for(users, groups, options):
    try:
        dropin = ssh.sshd_dropin({"allow_users": users, "allow_groups": groups, "extra_options": options}, [2222])
    except ssh.SshAccessError as exc:
        assert str(exc)
        return
    keywords = _keywords(dropin)
    assert keywords.count("PasswordAuthentication") == 1 and keywords.count("Port") == 1
    assert set(keywords) - POLICY == {str(k) for k in options}  # nothing else slipped in through a value


@HYPOTHESIS
@given(existing=st.lists(st.one_of(text, st.just(ED25519), st.just("# a comment")), max_size=6),
       exclusive=st.booleans())
def test_additive_never_loses_a_line_and_a_second_pass_changes_nothing(existing, exclusive):
    before = "\n".join(existing)
    first = ssh.authorized_keys_file(before, [ED25519], exclusive)
    again = ssh.authorized_keys_file(first["content"], [ED25519], exclusive)
    assert again["content"] == first["content"] and again["added"] == 0
    assert ED25519 in first["content"].splitlines() and first["usable"] >= 1
    if not exclusive:  # lines as sshd reads them: split at "\n" only (U+0085, U+2028 stay inside their line)
        kept = [line for line in before.split("\n") if line.strip(" \t\r")]
        assert first["content"].split("\n")[:len(kept)] == kept


@HYPOTHESIS
@given(key=text)
def test_any_text_as_a_key_is_refused_or_is_a_key_line(key):
    try:
        parsed = ssh.parse_public_key(key)
    except ssh.SshAccessError as exc:
        assert str(exc)
        return
    assert parsed["type"] in ssh.KEY_TYPES and "\n" not in parsed["line"]


@HYPOTHESIS
@given(mirror=text, release=text)
def test_any_mirror_or_release_gives_an_error_or_sources_without_injected_fields(mirror, release):
    try:
        out = dm.distro_sources({"distribution": "Debian", "release": release}, mirror)
    except dm.DistroMirrorError as exc:
        assert str(exc)
        return
    fields = [line.split(":", 1)[0] for line in out["content"].splitlines() if line and not line.startswith("#")]
    assert sorted(set(fields)) == ["Components", "Signed-By", "Suites", "Types", "URIs"] and len(fields) == 10


@pytest.mark.parametrize("content", ["", "not base64 at all", base64.b64encode(b"\xff\xfe").decode()])
def test_unreadable_slurps_are_kept_as_originals_not_crashes(content):
    assert dm.originals([{"item": "/etc/apt/sources.list", "content": content}]) in ([], ["/etc/apt/sources.list"])


# --- issue 31: separators in comments, the refused keywords in any case, any input type to any filter ---

SEPARATORS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029\x00\t"
comment = st.text(alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(SEPARATORS)), max_size=40)


def _entries(content: str) -> int:
    """The key entries sshd would read from an authorized_keys text: lines split at "\\n" only."""
    return sum(1 for line in content.split("\n") if line.strip(" \t\r") and not line.lstrip(" \t").startswith("#"))


@HYPOTHESIS
@given(comment=comment, then=st.sampled_from(["", " ", "ssh-ed25519 ", ED25519.split(" ", 1)[1]]))
def test_a_comment_never_becomes_a_second_entry_on_this_run_or_the_next(comment, then):
    line = f"{ED25519.rsplit(' ', 1)[0]} {comment}{then}"
    try:
        parsed = ssh.parse_public_key(line)
    except ssh.SshAccessError as exc:
        assert str(exc)
        return
    assert len(parsed["line"].splitlines()) == 1 and "\n" not in parsed["line"]  # every reader sees one line
    first = ssh.authorized_keys_file("", [parsed["line"]], exclusive=False)
    assert _entries(first["content"]) == 1
    second = ssh.authorized_keys_file(first["content"], [parsed["line"]], exclusive=False)  # the next run
    assert second["content"] == first["content"] and _entries(second["content"]) == 1


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="OpenSSH's ssh-keygen is not installed")
@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1e"])
def test_ssh_keygen_reads_one_key_from_the_file_whatever_the_existing_lines_hold(tmp_path, separator):
    """OpenSSH itself (ssh-keygen -l reads authorized_keys as sshd does) counts the keys of what the role writes:
    a line already there with a separator inside stays the one entry it was, and a new key is one more."""
    other = ("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFbpev2K9ccyPTCJ47/n14cyM343G66T"
             "2wXwxnw4oIDlTbwcyBWlRYZ5IACqk8yZ/RUo1z/2CgFOm/du4LZvQUE= bob@lab")
    existing = f"{ED25519}{separator}{other}\n"
    with pytest.raises(ssh.SshAccessError):
        ssh.parse_public_key(existing.rstrip("\n"))
    content = ssh.authorized_keys_file(existing, [ED25519], exclusive=False)["content"]
    again = ssh.authorized_keys_file(content, [ED25519], exclusive=False)["content"]
    assert again == content
    keys_file = tmp_path / "authorized_keys"
    keys_file.write_text(content, encoding="utf-8")
    listed = subprocess.run(["ssh-keygen", "-l", "-f", str(keys_file)], capture_output=True, text=True, check=False)
    assert len([ln for ln in listed.stdout.splitlines() if ln.strip()]) == 1, listed  # what the file held: one entry


@HYPOTHESIS
@given(keyword=st.sampled_from([*sorted(ssh.REFUSED), "allowusers", "passwordauthentication", "dsaauthentication"]),
       flips=st.lists(st.booleans(), min_size=40, max_size=40), value=st.one_of(text, st.integers(), st.booleans()))
def test_a_refused_keyword_in_any_case_never_reaches_the_dropin(keyword, flips, value):
    cased = "".join(c.upper() if flip else c for c, flip in zip(keyword, flips, strict=False))
    with pytest.raises(ssh.SshAccessError) as caught:
        ssh.sshd_dropin({"extra_options": {cased: value}}, [22])
    assert cased in str(caught.value) or "not an sshd keyword" in str(caught.value)


anything = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20), st.binary(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=10)
shaped = st.fixed_dictionaries({}, optional={k: anything for k in (
    "port", "current_port", "connecting_user", "connecting_user_groups", "keys", "existing_keys", "exclusive",
    "permit_root_login", "allow_groups", "allow_users", "extra_options", "initial_ports", "inventory_port", "probe",
    "host", "user", "key_file", "common_args", "extra_args", "timeout", "uids", "stats")})


@HYPOTHESIS
@given(name=st.sampled_from(sorted(FILTERS)), value=st.one_of(anything, shaped))
def test_every_filter_gives_a_result_or_a_sentence_for_any_input(name, value):
    try:
        FILTERS[name](value)
    except AnsibleFilterError as exc:
        message = str(exc)
        assert message.startswith(name) and "Traceback" not in message
        assert "cannot read its input" not in message, message  # the pure layer said why, not the last resort
