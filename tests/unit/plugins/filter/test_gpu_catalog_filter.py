# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.filter.gpu_catalog import FilterModule

LOOKUP = FilterModule().filters()["gpu_catalog_lookup"]


def test_filter_is_registered_under_its_documented_name():
    assert set(FilterModule().filters()) == {"gpu_catalog_lookup", "board_platform"}


@pytest.mark.parametrize("value", ["1bb3", "0x1BB3", "10de:1bb3", 0x1BB3])
def test_known_card(value):
    assert LOOKUP(value) == {"name": "Tesla P4", "architecture": "Pascal", "compute_capability": "6.1",
                             "open_modules": False, "last_branch": 580, "source": "catalog"}


def test_range_and_unknown():
    assert LOOKUP("2fff")["source"] == "catalog id range"
    assert LOOKUP("0fff") == {"name": None, "architecture": None, "compute_capability": None, "open_modules": None,
                              "last_branch": None, "source": "unknown"}


@pytest.mark.parametrize("value", ["nvidia", "12345", None, ""])
def test_not_a_device_id(value):
    with pytest.raises(AnsibleFilterError, match="is not a PCI device id"):
        LOOKUP(value)


@pytest.mark.parametrize(("model", "platform"), [
    ("Raspberry Pi 5 Model B Rev 1.0", "raspberry_pi_5"),
    # Regression: kernel_headers matched the prefix "Raspberry Pi 5" and missed the Compute Module 5,
    # which lspci_gpu_facts counts as a Pi 5 (same BCM2712, same 16K-page default kernel).
    ("Raspberry Pi Compute Module 5 Rev 1.0", "raspberry_pi_5"),
    ("Raspberry Pi 4 Model B Rev 1.5", "raspberry_pi_4"),
    ("Raspberry Pi 3 Model B Plus Rev 1.3", "raspberry_pi_3"),
    ("Raspberry Pi 500", "generic"),  # not a board the catalog knows: never guessed to be a Pi 5
    ("", "generic"),
    (None, "generic"),
])
def test_board_platform(model, platform):
    assert FilterModule().filters()["board_platform"](model) == platform
