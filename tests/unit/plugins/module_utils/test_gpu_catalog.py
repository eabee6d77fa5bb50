# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import itertools
import json
import re

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_catalog as catalog
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_verdict as verdict

CC_PREFIX = {
    "Maxwell": ("5.",), "Pascal": ("6.",), "Volta": ("7.0",), "Turing": ("7.5",), "Ampere": ("8.0", "8.6", "8.7"),
    "Ada Lovelace": ("8.9",), "Hopper": ("9.0",), "Blackwell": ("10.", "12."),
}


@pytest.mark.parametrize(("devid", "name", "architecture", "cc"), [
    ("1bb3", "Tesla P4", "Pascal", "6.1"),
    ("1b39", "Tesla P10", "Pascal", "6.1"),
    ("1b38", "Tesla P40", "Pascal", "6.1"),
    ("15f7", "Tesla P100 PCIe 12GB", "Pascal", "6.0"),
    ("15f8", "Tesla P100 PCIe 16GB", "Pascal", "6.0"),
    ("15f9", "Tesla P100 SXM2 16GB", "Pascal", "6.0"),
    ("1db4", "Tesla V100 PCIe 16GB", "Volta", "7.0"),
    ("13bc", "Quadro K1200", "Maxwell", "5.0"),
    ("17fd", "Tesla M40", "Maxwell", "5.2"),
    ("1eb8", "Tesla T4", "Turing", "7.5"),
    ("1e04", "GeForce RTX 2080 Ti", "Turing", "7.5"),
    ("1e07", "GeForce RTX 2080 Ti Rev. A", "Turing", "7.5"),
    ("2484", "GeForce RTX 3070", "Ampere", "8.6"),
    ("2488", "GeForce RTX 3070 Lite Hash Rate", "Ampere", "8.6"),
    ("20b0", "A100 SXM4 40GB", "Ampere", "8.0"),
    ("20b2", "A100 SXM4 80GB", "Ampere", "8.0"),
    ("20f1", "A100 PCIe 40GB", "Ampere", "8.0"),
    ("2236", "A10", "Ampere", "8.6"),
    ("2330", "H100 SXM5 80GB", "Hopper", "9.0"),
    ("2331", "H100 PCIe", "Hopper", "9.0"),
    ("2339", "H100", "Hopper", "9.0"),
    ("2335", "H200 SXM 141GB", "Hopper", "9.0"),
    ("2342", "GH200 480GB", "Hopper", "9.0"),
    ("26b9", "L40S", "Ada Lovelace", "8.9"),
    ("27b8", "L4", "Ada Lovelace", "8.9"),
    ("2684", "GeForce RTX 4090", "Ada Lovelace", "8.9"),
    ("2901", "B200", "Blackwell", "10.0"),
    ("2b85", "GeForce RTX 5090", "Blackwell", "12.0"),
])
def test_seed_cards(devid, name, architecture, cc):
    entry = catalog.CATALOG[devid]
    assert (entry["name"], entry["architecture"], entry["compute_capability"]) == (name, architecture, cc)
    # open_modules and last_branch: checked against NVIDIA's data in tests/unit/independent/test_catalog_vs_published.py


def test_every_entry_is_consistent():
    assert len(catalog.CATALOG) > 400
    for devid, entry in catalog.CATALOG.items():
        assert re.fullmatch(r"[0-9a-f]{4}", devid), devid
        assert set(entry) == {"name", "architecture", "compute_capability", "open_modules", "last_branch"}, devid
        assert entry["name"], devid
        assert entry["compute_capability"].startswith(CC_PREFIX[entry["architecture"]]), devid


def test_every_architecture_and_product_line_is_covered():
    names = [e["name"] for e in catalog.CATALOG.values()]
    assert {e["architecture"] for e in catalog.CATALOG.values()} == set(catalog.ARCHITECTURES)
    for pattern in (r"GeForce GTX 9[5-8]0", r"GeForce GTX 10[5-8]0", r"GeForce GTX 16[56]0", r"GeForce RTX 20[6-8]0",
                    r"GeForce RTX 30[5-9]0", r"GeForce RTX 40[6-9]0", r"GeForce RTX 50[6-9]0", r"Quadro M\d",
                    r"Quadro P\d", r"Quadro RTX", r"RTX A\d", r"Ada Generation", r"Tesla M", r"Tesla P", r"Tesla V",
                    r"^A(2|30|40) ", r"^L40", r"^H100", r"^H200", r"^GH200", r"^B200", r"^GB200"):
        assert any(re.search(pattern, n) for n in names), pattern


def test_id_ranges_are_ordered_disjoint_and_agree_with_the_catalog():
    ranges = catalog.ID_RANGES
    assert all(r["first"] <= r["last"] for r in ranges)
    assert all(a["last"] < b["first"] for a, b in itertools.pairwise(ranges))
    for devid, entry in catalog.CATALOG.items():
        for span in ranges:
            if span["first"] <= int(devid, 16) <= span["last"]:
                assert span["architecture"] == entry["architecture"], devid
                assert span["compute_capability"] <= entry["compute_capability"] or \
                    span["architecture"] == "Blackwell", devid


def test_source_and_known_paths():
    assert "pci.ids" in catalog.SOURCE and "supported-gpus.json" in catalog.SOURCE
    assert catalog.SUPPORTED_GPUS_JSON_PATHS == [
        "/usr/share/nvidia-driver-assistant/supported-gpus/supported-gpus.json",
        "/usr/share/doc/NVIDIA_GLX-1.0/supported-gpus/supported-gpus.json",
    ]


# --- lookup and the driver's supported-gpus.json --------------------------------------------------


@pytest.mark.parametrize("value", ["1bb3", "1BB3", "0x1BB3", "10de:1bb3", 0x1BB3])
def test_lookup_normalizes_ids(value):
    assert verdict.lookup(value) == dict(catalog.CATALOG["1bb3"], source="catalog")


def test_lookup_falls_back_to_id_range():
    assert verdict.lookup("2fff") == {"name": None, "architecture": "Blackwell", "compute_capability": "12.0",
                                      "open_modules": True, "last_branch": None, "source": "catalog id range"}
    assert verdict.lookup("1d7f")["architecture"] == "Pascal"


@pytest.mark.parametrize("value", ["0fff", "ffff", "zzzz", "", None, True, 70000])
def test_lookup_unknown(value):
    entry = verdict.lookup(value)
    assert entry["source"] == "unknown" and entry["architecture"] is None and entry["open_modules"] is None


SUPPORTED = {"chips": [
    {"devid": "0x1BB3", "name": "Tesla P4", "features": [], "legacybranch": "580.xx"},
    {"devid": "0x1E04", "subdevid": "0x12FA", "name": "NVIDIA GeForce RTX 2080 Ti (vendor board)",
     "features": ["kernelopen"]},
    {"devid": "0x1E04", "name": "NVIDIA GeForce RTX 2080 Ti", "features": ["kernelopen", "vgpu"]},
    {"devid": "0x1E04", "subdevid": "0x1234", "name": "NVIDIA GeForce RTX 2080 Ti (other)", "features": []},
    {"devid": "0x2FFE", "name": "NVIDIA Future GPU", "features": ["kernelopen"]},
    {"devid": "bogus"}, "not a dict",
]}


def test_supported_gpus_json_wins(tmp_path):
    path = tmp_path / "supported-gpus.json"
    path.write_text(json.dumps(SUPPORTED))
    supported, errors = verdict.load_supported_gpus([str(tmp_path / "missing.json"), str(path)])
    assert errors == []
    p4 = verdict.lookup("1bb3", supported)
    assert (p4["name"], p4["open_modules"], p4["last_branch"], p4["source"]) == ("Tesla P4", False, 580, str(path))
    rtx = verdict.lookup("1e04", supported)
    assert (rtx["name"], rtx["open_modules"], rtx["architecture"]) == ("NVIDIA GeForce RTX 2080 Ti", True, "Turing")
    future = verdict.lookup("2ffe", supported)
    assert (future["name"], future["architecture"], future["source"]) == ("NVIDIA Future GPU", "Blackwell", str(path))
    # not in the file: the catalog answers
    assert verdict.lookup("2484", supported)["source"] == "catalog"


def test_supported_gpus_json_keeps_catalog_branch_when_driver_is_silent():
    supported, _unused = verdict.parse_supported_gpus(json.dumps({"chips": [{"devid": "0x1B39", "features": []}]}), "x")
    entry = verdict.lookup("1b39", supported)
    assert entry["last_branch"] == 580 and entry["name"] == "Tesla P10" and entry["source"] == "x"


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "is not valid JSON"), ("[]", "has no 'chips' list"), ('{"chips": 3}', "has no 'chips' list"),
])
def test_bad_supported_gpus_json_is_reported(tmp_path, text, message):
    path = tmp_path / "s.json"
    path.write_text(text)
    supported, errors = verdict.load_supported_gpus([str(path)])
    assert supported == {}
    assert len(errors) == 1 and message in errors[0] and str(path) in errors[0]


def test_no_supported_gpus_json_anywhere(tmp_path):
    assert verdict.load_supported_gpus([str(tmp_path / "a"), str(tmp_path / "b")]) == ({}, [])
