# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _signing_keys as sk

A = "EB693B3035CD5710E231E123A4B469963BF863CC"
B = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
SUB = "D3306A018370199E527AE7317EA0A9C3F273FCD8"

LISTING = f"""tru::1:1700000000:0:3:1:5
pub:-:255:22:A4B469963BF863CC:1700000000:1900000000::-:::scSC::::::23::0:
fpr:::::::::{A}:
uid:-::::1700000000::0123::CUDA Tools \\x3a lab <cuda@lab>::::::::::0:
sub:-:255:18:7EA0A9C3F273FCD8:1700000000::::::e::::::23:
fpr:::::::::{SUB}:
pub:-:255:22:8D81803C0EBFCD88:1700000000:::-:::scSC::::::23::0:
fpr:::::::::{B}:
uid:-::::1700000000::0456::Docker <docker@lab>::::::::::0:
"""


@pytest.mark.parametrize("text", [A, A.lower(), "EB69 3B30 35CD 5710 E231  E123 A4B4 6996 3BF8 63CC", "0x" + A,
                                  f" {A}\n"])
def test_fingerprints_are_normalised(text):
    assert sk.normalise_fingerprint(text) == A


@pytest.mark.parametrize("text", ["", "   ", "3BF863CC", "A4B469963BF863CC", A[:-1], A + "0", "G" * 40])
def test_short_or_bad_fingerprints_are_refused(text):
    with pytest.raises(sk.BadFingerprint):
        sk.normalise_fingerprint(text)


def test_v5_fingerprint_and_duplicates():
    assert sk.normalise_fingerprints(["ab" * 32, A, A.lower()]) == ["AB" * 32, A]
    with pytest.raises(sk.BadFingerprint):
        sk.normalise_fingerprints([])


def test_listing_is_parsed():
    keys = sk.parse_colons(LISTING)
    assert [k.fingerprint for k in keys] == [A, B]
    assert keys[0].uids == ["CUDA Tools : lab <cuda@lab>"]
    assert keys[0].expires == 1900000000 and keys[1].expires is None
    assert [s.fingerprint for s in keys[0].subkeys] == [SUB] and keys[1].subkeys == []
    assert keys[0].summary()["subkeys"] == [{"fingerprint": SUB, "expires": None}]


def test_exactly_the_pinned_key_is_accepted():
    keys = sk.parse_colons(LISTING)
    verdict = sk.decide(keys[:1], [A], now=1800000000)
    assert verdict.ok and [k.fingerprint for k in verdict.accepted] == [A]
    both = sk.decide(keys, [B, A], now=1800000000)
    assert both.ok and [k.fingerprint for k in both.accepted] == [B, A]


def test_wrong_key_names_both_fingerprints():
    verdict = sk.decide(sk.parse_colons(LISTING)[1:], [A])
    assert not verdict.ok and verdict.accepted == []
    assert verdict.reason == f"its fingerprint is {B}, the pinned fingerprint is {A}"


def test_extra_primary_key_is_named():
    verdict = sk.decide(sk.parse_colons(LISTING), [A])
    assert not verdict.ok
    assert f"not pinned: {B} (Docker <docker@lab>)" in verdict.reason


def test_no_key_and_subkey_pin():
    assert "no OpenPGP public key" in sk.decide([], [A]).reason
    verdict = sk.decide(sk.parse_colons(LISTING)[:1], [SUB])
    assert not verdict.ok and f"{SUB} is a subkey there" in verdict.reason


def test_expired_and_revoked_keys_are_refused():
    keys = sk.parse_colons(LISTING)
    assert "expired" in sk.decide(keys[:1], [A], now=1900000001).reason
    revoked = sk.parse_colons(LISTING.replace("pub:-:255:22:A4B4", "pub:r:255:22:A4B4"))
    assert "revoked" in sk.decide(revoked[:1], [A]).reason
