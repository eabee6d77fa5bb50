# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""site.yml's inventory address check (was a Jinja program in site.yml)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.filter.gpu_plan import FilterModule
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common._inventory_addresses import address_problems

CHECK = FilterModule().filters()["site_address_problems"]


def hv(**addresses):
    return {h: ({} if a is None else {"ansible_host": a}) for h, a in addresses.items()}


def test_valid_addresses_inside_the_network():
    result = address_problems(hv(a="192.168.1.10", b="192.168.1.11", c="fd00::5"), ["a", "b", "c"])
    assert result == {"count": 3, "bad": [], "duplicates": []}
    assert address_problems(hv(a="192.168.1.10"), ["a"], "192.168.1.0/24")["bad"] == []


@pytest.mark.parametrize(("address", "cidr", "sentence"), [
    ("10.0.0.5", "192.168.1.0/24", "a (10.0.0.5 is outside 192.168.1.0/24)"),
    ("fd00::5", "192.168.1.0/24", "a (fd00::5 is outside 192.168.1.0/24)"),
    ("192.168.1.0", "192.168.1.0/24", "a (192.168.1.0 is the network or broadcast address of 192.168.1.0/24)"),
    ("192.168.1.255", "192.168.1.0/24", "a (192.168.1.255 is the network or broadcast address of 192.168.1.0/24)"),
    ("192.168.1.300", "", "a (192.168.1.300 is not a valid IP address)"),
    ("10.0.0", "", "a (10.0.0 is not a valid IP address)"),
    ("fd00:::1", "", "a (fd00:::1 is not a valid IP address)"),
    ("pi5.lan", "", "a (pi5.lan is a name, and site_require_ip_addresses is true)"),
])
def test_bad_addresses_are_named(address, cidr, sentence):
    assert address_problems(hv(a=address), ["a"], cidr)["bad"] == [sentence]


def test_a_point_to_point_network_has_no_broadcast_to_refuse():
    assert address_problems(hv(a="10.0.0.0", b="10.0.0.1"), ["a", "b"], "10.0.0.0/31")["bad"] == []


def test_names_are_allowed_when_asked_and_the_host_name_is_the_default_address():
    assert address_problems(hv(a="pi5.lan", b=None), ["a", "b"], require_ip=False)["bad"] == []
    assert address_problems(hv(b=None), ["b"])["bad"] == ["b (b is a name, and site_require_ip_addresses is true)"]


def test_shared_addresses_name_every_host():
    result = address_problems(hv(a="192.168.1.5", b="192.168.1.6", c="192.168.1.5"), ["c", "b", "a"])
    assert result["duplicates"] == ["192.168.1.5: a, c"]


def test_a_bad_network_is_a_clear_error():
    with pytest.raises(AnsibleFilterError, match=r"site_network_cidr '192\.168\.1\.0/33' is not a network"):
        CHECK(hv(a="192.168.1.5"), ["a"], "192.168.1.0/33")
