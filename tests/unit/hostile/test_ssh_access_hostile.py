# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile input for the SSH access plan and the distro mirror: a clean error naming the input, or a file that
holds only what was meant - never an injected sshd keyword or apt field, never a lost authorized_keys line.
"""
from __future__ import annotations

import base64

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils import _distro_mirror as dm
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils import _ssh_access as ssh
from hypothesis import given, settings
from hypothesis import strategies as st

HYPOTHESIS = settings(max_examples=200, deadline=None)
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
