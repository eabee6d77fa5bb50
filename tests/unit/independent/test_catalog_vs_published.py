# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The GPU catalog against sources it was not written from.

- NVIDIA's own data as Debian ships it (nvidia-driver 535.309.01, bookworm-security; 550.163.01, trixie): the
  driver README's Appendix A (current GPUs, legacy branches), its GSP firmware list and supported-gpus.json (kept
  byte for byte); Debian's nvidia-detect id lists. Extracted by tests/unit/fixtures/nvidia_driver_data/refresh.py.
- NVIDIA's CUDA GPU compute capability tables, transcribed in tests/unit/fixtures/published/.
- The last driver branch, open-module support and CUDA 13 floor per architecture, transcribed from the upstream
  facts in tests/unit/fixtures/published/nvidia_architecture_support.csv.

Where the sources and the catalog disagree, the case is an xfail(strict=True) that says which source says what:
the disagreement stays visible, and the test fails the day either side changes.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from pathlib import Path

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_catalog as catalog
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_verdict as verdict

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RELEASES = ("535.309.01", "550.163.01")


def _driver_data(release: str) -> dict:
    return json.loads((FIXTURES / "nvidia_driver_data" / f"nvidia-graphics-drivers-{release}.json").read_text())


def _supported_gpus_text(release: str) -> str:
    """NVIDIA's supported-gpus.json of that driver release, byte for byte as Debian's nvidia-driver ships it."""
    path = FIXTURES / "nvidia_driver_data" / f"supported-gpus-{release}.json.gz"
    return gzip.decompress(path.read_bytes()).decode()


def _chips(release: str) -> list[tuple[str, str | None, bool]]:
    """(devid, legacybranch, kernelopen) of each entry of NVIDIA's supported-gpus.json."""
    return [(c["devid"].lower().removeprefix("0x"), c.get("legacybranch"), "kernelopen" in c.get("features", []))
            for c in json.loads(_supported_gpus_text(release))["chips"]]


def _csv(name: str) -> list[dict]:
    lines = (FIXTURES / "published" / name).read_text().splitlines()
    return list(csv.DictReader(line for line in lines if not line.startswith("#")))


DRIVER = {release: _driver_data(release) for release in RELEASES}
CC_TABLE = _csv("cuda_gpus_compute_capability.csv")
ARCH_FACTS = {row["architecture"]: row for row in _csv("nvidia_architecture_support.csv")}


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"^nvidia ", "", name.strip().lower()))


def _ids_named(product: str) -> set[str]:
    """PCI ids of a product NVIDIA names: by the names in NVIDIA's README (both releases); failing that, by the
    catalog's own (pci.ids) name. Exact names only: 'GeForce RTX 3050' must not reach the Ada 'RTX 3050 A'."""
    wanted = _norm(product)
    found = {row[0] for data in DRIVER.values() for row in data["readme_current"] + data["readme_gsp"]
             if _norm(row[3]) == wanted}
    return found or {devid for devid, entry in catalog.CATALOG.items() if _norm(entry["name"]) == wanted}


# (product as NVIDIA's table names it, PCI id) -> why the catalog and NVIDIA's table disagree.
CC_DISPUTED = {
    ("Quadro M620", "13b4"): "NVIDIA's legacy table says 5.2; the catalog says 5.0 from pci.ids' chip GM107GLM",
    ("Quadro M5000M", "13f8"): "NVIDIA's legacy table says 5.0; the catalog says 5.2 from pci.ids' chip GM204GLM "
                               "(the GTX 980's chip, 5.2 in the same table)",
    ("Quadro M4000M", "13f9"): "NVIDIA's legacy table says 5.0; the catalog says 5.2 from pci.ids' chip GM204GLM",
    ("Quadro M3000M", "13fa"): "NVIDIA's legacy table says 5.0; the catalog says 5.2 from pci.ids' chip GM204GLM",
    ("GeForce GTX 750", "1407"): "NVIDIA's table has one GTX 750 row (5.0, the GM107 board); NVIDIA's README also "
                                 "names 10de:1407 'GeForce GTX 750', which pci.ids and the catalog give as GM206 (5.2)",
}


def _cc_cases():
    by_cc: dict[str, list[tuple[str, str]]] = {}
    disputed = []
    for row in CC_TABLE:
        for devid in sorted(_ids_named(row["product"])):
            if verdict.lookup(devid)["source"] == "unknown":
                continue
            if (row["product"], devid) in CC_DISPUTED:
                disputed.append(pytest.param(row["product"], devid, row["compute_capability"],
                                             id=f"{row['product']}-{devid}", marks=pytest.mark.xfail(
                                                 strict=True, reason=CC_DISPUTED[row["product"], devid])))
            else:
                by_cc.setdefault(row["compute_capability"], []).append((row["product"], devid))
    return by_cc, disputed


CC_CASES, CC_DISPUTED_CASES = _cc_cases()


def test_the_transcribed_tables_reach_every_architecture_of_the_catalog():
    """Not a vacuous join: NVIDIA's table names cards of every compute capability the catalog's chips have."""
    assert set(CC_CASES) >= {cc for _arch, cc in catalog.CHIPS.values()}, sorted(CC_CASES)
    assert sum(len(v) for v in CC_CASES.values()) >= 100
    by_range = [(p, d) for pairs in CC_CASES.values() for p, d in pairs if d not in catalog.CATALOG]
    assert by_range, "no id known only by the catalog's id ranges is checked"
    # the lab's seed card and the cards are among them
    assert ("Tesla P40", "1b38") in CC_CASES["6.1"] and ("Tesla P4", "1bb3") in CC_CASES["6.1"]


@pytest.mark.parametrize("compute_capability", sorted(CC_CASES, key=lambda v: tuple(map(int, v.split(".")))))
def test_compute_capability_is_the_one_nvidia_publishes(compute_capability):
    """For the catalog's cards, and for ids it knows only by its id ranges (the README's newer boards)."""
    found = {(product, devid): verdict.lookup(devid) for product, devid in CC_CASES[compute_capability]}
    wrong = [(product, devid, entry["source"], entry["compute_capability"])
             for (product, devid), entry in found.items() if entry["compute_capability"] != compute_capability]
    assert not wrong, f"NVIDIA publishes {compute_capability} for these; the catalog says otherwise: {wrong}"


@pytest.mark.parametrize(("product", "devid", "compute_capability"), CC_DISPUTED_CASES)
def test_compute_capability_where_nvidias_table_and_the_catalog_disagree(product, devid, compute_capability):
    assert verdict.lookup(devid)["compute_capability"] == compute_capability, product


@pytest.mark.parametrize("release", RELEASES)
def test_every_gpu_nvidias_readme_lists_as_current_is_known(release):
    """NVIDIA's driver supports these ids: the collection must not call one an unknown GPU."""
    current = sorted({row[0] for row in DRIVER[release]["readme_current"]})
    assert len(current) > 350
    unknown = [devid for devid in current if verdict.lookup(devid)["source"] == "unknown"]
    assert not unknown, f"ids NVIDIA's {release} README lists as current that the catalog does not know: {unknown}"


@pytest.mark.parametrize("release", RELEASES)
def test_no_catalog_card_is_one_nvidia_moved_to_a_legacy_branch(release):
    """The catalog says every card it holds runs on 580 or newer; NVIDIA's README and supported-gpus.json of an older
    branch must not already list one of them as legacy (470.xx, 390.xx, ...)."""
    data = DRIVER[release]
    legacy = {row[0]: branch for branch, rows in data["readme_legacy"].items() for row in rows}
    assert "470.xx" in data["readme_legacy"] and len(legacy) > 600
    assert not sorted(set(catalog.CATALOG) & set(legacy))
    json_legacy = {devid: branch for devid, branch, _open in _chips(release) if branch}
    assert json_legacy and not sorted(set(catalog.CATALOG) & set(json_legacy))
    # and NVIDIA's legacy branches are what the catalog's architectures say they are not: Kepler and older
    assert all(verdict.lookup(devid)["source"] == "unknown" for devid in legacy), "a legacy id falls in an id range"


# PCI id -> why NVIDIA's supported-gpus.json and the catalog disagree on the open kernel modules.
OPEN_DISPUTED = {
    devid: f"NVIDIA's supported-gpus.json (535.309.01 and 550.163.01) lists 10de:{devid} ({name}, Turing) without "
           "the 'kernelopen' feature: the open kernel modules do not support it, but the catalog gives every Turing "
           "card open_modules=True (from the architecture)"
    for devid, name in (("1e09", "CMP 50HX"), ("1f0b", "CMP 40HX"), ("2189", "CMP 30HX"))
}


def _open_modules_by_nvidia() -> dict[str, bool]:
    """devid -> whether NVIDIA's supported-gpus.json gives it 'kernelopen', where both releases agree."""
    seen: dict[str, set[bool]] = {}
    for release in RELEASES:
        for devid, _legacy, kernelopen in _chips(release):
            seen.setdefault(devid, set()).add(kernelopen)
    return {devid: values.pop() for devid, values in seen.items() if len(values) == 1}


OPEN_BY_NVIDIA = _open_modules_by_nvidia()


def test_open_kernel_modules_are_what_nvidias_supported_gpus_json_says():
    both = sorted(set(OPEN_BY_NVIDIA) & set(catalog.CATALOG) - set(OPEN_DISPUTED))
    assert len(both) > 300 and {OPEN_BY_NVIDIA[d] for d in both} == {True, False}
    wrong = [(devid, catalog.CATALOG[devid]["name"], catalog.CATALOG[devid]["open_modules"]) for devid in both
             if catalog.CATALOG[devid]["open_modules"] is not OPEN_BY_NVIDIA[devid]]
    assert not wrong, f"the catalog's open_modules differs from NVIDIA's 'kernelopen' feature: {wrong}"


@pytest.mark.parametrize("devid", [pytest.param(d, marks=pytest.mark.xfail(strict=True, reason=why))
                                   for d, why in OPEN_DISPUTED.items()])
def test_open_kernel_modules_where_nvidia_and_the_catalog_disagree(devid):
    assert catalog.CATALOG[devid]["open_modules"] is OPEN_BY_NVIDIA[devid]


@pytest.mark.parametrize("release", RELEASES)
def test_the_collection_reads_nvidias_own_supported_gpus_json(release):
    """The file the driver installs (nvidia-driver-assistant, the .run's docs) read by the collection's parser: every
    chip is read, the plain entry speaks for a chip with board variants, and it overrides the catalog as NVIDIA says."""
    supported, errors = verdict.parse_supported_gpus(_supported_gpus_text(release), "supported-gpus.json")
    assert errors == [] and set(supported) == {devid for devid, _b, _o in _chips(release)}
    p40 = verdict.lookup("1b38", supported)  # NVIDIA: "Tesla P40", no kernelopen, no legacy branch
    assert (p40["name"], p40["open_modules"], p40["last_branch"], p40["compute_capability"]) == (
        "Tesla P40", False, 580, "6.1")
    rtx = verdict.lookup("2204", supported)
    assert (rtx["name"], rtx["open_modules"], rtx["last_branch"]) == ("NVIDIA GeForce RTX 3090", True, None)
    v100 = verdict.lookup("1db4", supported)  # also listed with subsystem 10de:1306 as "Tesla V100-PCIE-16GB-LS"
    assert v100["name"] == "Tesla V100-PCIE-16GB"
    kepler = verdict.lookup("0fc6", supported)  # "GeForce GTX 650", legacybranch "470.xx"
    assert (kepler["name"], kepler["last_branch"], kepler["architecture"]) == ("GeForce GTX 650", 470, None)
    cmp_50hx = verdict.lookup("1e09", supported)  # no kernelopen: NVIDIA's word wins over the catalog's Turing rule
    assert cmp_50hx["open_modules"] is False and cmp_50hx["architecture"] == "Turing"


@pytest.mark.parametrize("release", RELEASES)
def test_debians_open_flavour_list_holds_only_cards_the_catalog_gives_open_modules(release):
    """Debian's nvidia-open.ids: the cards Debian's open-module packages are meant for."""
    ids = DRIVER[release]["nvidia_detect_ids"]["nvidia-open.ids"]
    assert len(ids) >= 20
    entries = {devid: verdict.lookup(devid) for devid in ids}
    assert all(entry["open_modules"] is True for entry in entries.values()), entries


# Cards the catalog holds that Debian's nvidia-detect lists only for the Tesla 470 branch, not for 535/550 (nor does
# NVIDIA's 535/550 README Appendix A name them): Debian's data would send them to a branch trixie no longer ships,
# the catalog says 580. Neither is shown wrong by the other; the disagreement is recorded.
DEBIAN_ONLY_470 = {
    "137d": "GeForce 940A", "1bb3": "Tesla P4", "1df5": "Tesla V100 SXM2 16GB", "1f09": "GeForce GTX 1660 SUPER",
}


def _newest_debian_branch(release: str, devid: str) -> str | None:
    """The branch nvidia-detect would pick, in its own order: current (nvidia.ids), then Tesla 535, then Tesla 470."""
    lists = DRIVER[release]["nvidia_detect_ids"]
    for name, branch in (("nvidia.ids", release), ("nvidia-tesla-535.ids", "535"), ("nvidia-tesla-470.ids", "470")):
        if devid in lists[name]:
            return branch
    return None


@pytest.mark.parametrize("release", RELEASES)
def test_debian_puts_every_catalog_card_it_lists_on_branch_535_or_newer(release):
    """Maxwell, Pascal and Volta cards (580 per the catalog) and every newer card Debian knows run on 535/550."""
    listed = {devid: _newest_debian_branch(release, devid) for devid in catalog.CATALOG}
    listed = {devid: branch for devid, branch in listed.items() if branch and devid not in DEBIAN_ONLY_470}
    by_arch = {catalog.CATALOG[d]["architecture"] for d in listed}
    assert by_arch == set(catalog.ARCHITECTURES) - {"Blackwell"}, by_arch  # 550 predates Blackwell
    assert sum(catalog.CATALOG[d]["architecture"] == "Pascal" for d in listed) > 60
    old = {devid: branch for devid, branch in listed.items() if int(branch.split(".")[0]) < 535}
    assert not old, f"Debian's nvidia-detect ({release}) lists these catalog cards only for an older branch: {old}"


@pytest.mark.parametrize("devid", [
    pytest.param(d, marks=pytest.mark.xfail(strict=True, reason=(
        f"Debian's nvidia-detect 535.309.01/550.163.01 lists 10de:{d} ({name}) in nvidia-tesla-470.ids only (NVIDIA's "
        "535/550 README Appendix A leaves it out too); the catalog says the 580 branch supports it")))
    for d, name in DEBIAN_ONLY_470.items()])
def test_cards_debian_lists_only_for_the_470_branch(devid):
    assert all(_newest_debian_branch(release, devid) not in (None, "470") for release in RELEASES)


@pytest.mark.parametrize("architecture", list(ARCH_FACTS))
def test_each_architectures_last_branch_and_open_modules_are_nvidias(architecture):
    assert architecture in catalog.ARCHITECTURES
    facts = ARCH_FACTS[architecture]
    last = int(facts["last_driver_branch"]) if facts["last_driver_branch"] else None
    cards = [e for e in catalog.CATALOG.values() if e["architecture"] == architecture]
    ranges = [r for r in catalog.ID_RANGES if r["architecture"] == architecture]
    assert cards and ranges
    assert {e["last_branch"] for e in cards + ranges} == {last}
    assert {e["open_modules"] for e in cards + ranges} == {facts["open_kernel_modules"] == "yes"}


@pytest.mark.parametrize("architecture", list(ARCH_FACTS))
def test_cuda_13_is_refused_below_turing_and_allowed_from_turing(architecture):
    """The card's CUDA ceiling (what the toolkit choice is capped by): 12.x where CUDA 13 dropped the architecture."""
    allowed = ARCH_FACTS[architecture]["cuda_13"] == "yes"
    ccs = {e["compute_capability"] for e in catalog.CATALOG.values() if e["architecture"] == architecture}
    ceilings = {cc: verdict.cuda_ceiling(cc) for cc in ccs}
    if allowed:
        assert set(ceilings.values()) == {None}, ceilings
    else:
        assert all(c is not None and c.startswith("12.") for c in ceilings.values()), ceilings
