# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's stand-in nvidia-smi (tests/lab/packages/bin/nvidia-smi) against the real tool.

Sources, none of them the stand-in's own rule:
- Debian's real nvidia-smi (bookworm non-free, 535.309.01-0+deb12u1): what it prints without a driver, recorded in
  tests/unit/fixtures/nvidia-smi/debian-535-no-driver.json (re-record: `python <this file> --record`) and, where
  docker and the lab image are at hand, run live next to the stand-in in one container; the texts of its format and
  field errors are strings of that binary.
- Real output captured on an H100 with driver 590.48.01 (github.com/utkuozdemir/nvidia_gpu_exporter,
  internal/captures/linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01.txt at e656cd81): `--format=csv` headers with
  units in brackets, values with units, "[N/A]", and -L.
- Real output quoted in two public bug reports: github.com/Quake4/MindMiner/issues/627 (driver 442.19,
  `--query-gpu=gpu_name,... --format=csv,nounits`: the alias answers under its canonical name, the header keeps its
  units, the values lose them) and github.com/CoHDI/composable-resource-operator/issues/37 (an unknown field: exit
  code 2, nothing on stderr, 'Field "device_minor" is not a valid field to query.' and a blank line on stdout).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "tests/lab/packages/bin/nvidia-smi"
LAB_FIXTURE = ROOT / "molecule/gpu_metrics/files/nvidia-smi-query.csv"
TRANSCRIPT = ROOT / "tests/unit/fixtures/nvidia-smi/debian-535-no-driver.json"
FIXTURE_PATH = "/etc/nvgpu-lab/nvidia-smi-query.csv"
IMAGE = "nvgpu-lab/debian:bookworm-amd64"
# Debian's packages (bookworm-security non-free; after the next point release also in bookworm's own pool).
DEBS = {
    "nvidia-smi_535.309.01-0+deb12u1_amd64.deb": "d69e98af0f81761983d833f78b3ae5a4b5317894e08c43ba87659b535425b279",
    "libnvidia-ml1_535.309.01-0+deb12u1_amd64.deb": "51d55d68bcba1c568f2fb071ef0479b559f78a7ea8c7f286e824f11deedd7ed5",
}
POOLS = ("http://deb.debian.org/debian-security/pool/updates/non-free/n/nvidia-graphics-drivers/",
         "http://deb.debian.org/debian/pool/non-free/n/nvidia-graphics-drivers/")
CACHE = Path("/var/cache/nvgpu-lab/debian-nvidia-smi")
REAL_BIN = "usr/lib/nvidia/current/nvidia-smi"
REAL_LIB = "usr/lib/x86_64-linux-gnu/nvidia/current"
# What the comparison asks, without a driver: the brief's list, the collector's query and validate.yml's.
ARGVS = [
    [],
    ["-L"],
    ["--query-gpu=name,memory.total", "--format=csv"],
    ["--query-gpu=bogus", "--format=csv"],
    ["--query-gpu=name"],
    ["--bogus-option"],
    ["-q"],
    ["--help-query-gpu"],
    ["--version"],
    ["-h"],
    ["--help"],
    ["--query-gpu=index,name,driver_version,pci.bus_id", "--format=csv,noheader"],
    ["--query-gpu=index,pci.bus_id,name,uuid,driver_version,temperature.gpu,power.draw,power.limit,utilization.gpu,"
     "utilization.memory,memory.used,memory.total,clocks.sm,clocks.mem,pcie.link.gen.current,pcie.link.gen.max,"
     "pcie.link.width.current,pcie.link.width.max,ecc.errors.uncorrected.volatile.total,fan.speed",
     "--format=csv,noheader,nounits"],
]
HELP = {"-h", "--help"}  # the stand-in answers the real help's first line only, not NVIDIA's usage text


def standin_text(version: str, fixture: Path | str = FIXTURE_PATH) -> str:
    text = SCRIPT.read_text(encoding="utf-8").replace("@VERSION@", version).replace("@PACKAGE@", "nvidia-driver-cuda")
    return text.replace(f'"{FIXTURE_PATH}"', repr(str(fixture)))


def make_standin(directory: Path, version: str, fixture: Path | str = FIXTURE_PATH) -> Path:
    path = directory / "nvidia-smi"
    path.write_text(standin_text(version, fixture), encoding="utf-8")
    path.chmod(0o755)
    return path


def run(path: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(path), *argv], capture_output=True, text=True, check=False)


def comparable(case: dict) -> tuple:
    """rc and output as compared: the help's first line only (see HELP)."""
    if set(case["argv"]) & HELP:
        return case["rc"], case["stdout"].splitlines()[0], case["stderr"]
    return case["rc"], case["stdout"], case["stderr"]


# --- Debian's real nvidia-smi --------------------------------------------------------------------------------------
def real_debs() -> Path | None:
    """Debian's two packages, sha256-checked, from a cache outside the checkout (fetched once); None if unreachable."""
    for directory in (CACHE, Path.home() / ".cache/nvgpu-lab/debian-nvidia-smi"):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            for name, sha in DEBS.items():
                target = directory / name
                if not target.exists() or hashlib.sha256(target.read_bytes()).hexdigest() != sha:
                    data = None
                    for pool in POOLS:
                        try:
                            with urllib.request.urlopen(pool + name.replace("+", "%2b"), timeout=30) as answer:
                                data = answer.read()
                            break
                        except OSError:
                            continue
                    if data is None or hashlib.sha256(data).hexdigest() != sha:
                        return None
                    target.write_bytes(data)
            return directory
        except PermissionError:
            continue
    return None


def extract_real(into: Path) -> Path | None:
    debs = real_debs()
    if debs is None or not shutil.which("dpkg-deb"):
        return None
    for name in DEBS:
        subprocess.run(["dpkg-deb", "-x", str(debs / name), str(into)], check=True)
    return into


RUNNER = """
import json, subprocess, sys
argvs, out = json.loads(sys.argv[1]), []
for argv in argvs:
    for who, cmd in (("real", ["/real/REAL_BIN"]), ("standin", ["python3", "/standin/nvidia-smi"])):
        p = subprocess.run(cmd + argv, capture_output=True, text=True,
                           env={"LD_LIBRARY_PATH": "/real/REAL_LIB", "PATH": "/usr/bin:/bin"})
        out.append({"who": who, "argv": argv, "rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr})
print(json.dumps(out))
""".replace("REAL_BIN", REAL_BIN).replace("REAL_LIB", REAL_LIB)


def run_in_container(real: Path, standin_dir: Path) -> list[dict]:
    """Both tools, the same argv, one container as a host without the nvidia module sees it: root, and char devices
    of major 195 allowed (the real tool creates /dev/nvidiactl and opening it answers ENXIO, as on such a host;
    docker's default device rules would answer EPERM, which NVML reports as "Unknown Error", exit 255)."""
    (standin_dir / "runner.py").write_text(RUNNER, encoding="utf-8")
    proc = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--device-cgroup-rule", "c 195:* rmw",
         "-v", f"{real}:/real:ro", "-v", f"{standin_dir}:/standin:ro", IMAGE,
         "python3", "/standin/runner.py", json.dumps(ARGVS)],
        capture_output=True, text=True, check=True, timeout=120)
    return json.loads(proc.stdout)


def docker_ready() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False).returncode == 0


# --- the recorded transcript ---------------------------------------------------------------------------------------
def test_without_a_driver_the_standin_answers_as_debians_recorded_nvidia_smi(tmp_path):
    transcript = json.loads(TRANSCRIPT.read_text(encoding="utf-8"))
    standin = make_standin(tmp_path, transcript["origin"]["version"], tmp_path / "no-fixture.csv")
    assert [case["argv"] for case in transcript["cases"]] == ARGVS  # re-record when the list changes
    for case in transcript["cases"]:
        got = run(standin, *case["argv"])
        assert comparable({"argv": case["argv"], "rc": got.returncode, "stdout": got.stdout, "stderr": got.stderr}) \
            == comparable(case), case["argv"]


@pytest.mark.skipif(not docker_ready(), reason=f"needs docker and the lab image {IMAGE} (make setup)")
def test_live_debians_nvidia_smi_and_the_standin_answer_alike_without_a_driver(tmp_path):
    real = extract_real(tmp_path / "real")
    if real is None:
        pytest.skip("Debian's nvidia-smi 535.309.01 packages are neither cached nor downloadable")
    standin_dir = tmp_path / "standin"
    standin_dir.mkdir()
    make_standin(standin_dir, "535.309.01")
    results = run_in_container(real, standin_dir)
    pairs = {}
    for result in results:
        pairs.setdefault(json.dumps(result["argv"]), {})[result["who"]] = result
    assert len(pairs) == len(ARGVS)
    for argv, pair in pairs.items():
        assert comparable(pair["standin"]) == comparable(pair["real"]), argv


def test_the_texts_it_prints_are_the_real_binarys(tmp_path):
    """Each fixed message of the stand-in is a string of Debian's real nvidia-smi binary, %s filled in."""
    real = extract_real(tmp_path / "real")
    if real is None:
        pytest.skip("Debian's nvidia-smi 535.309.01 packages are neither cached nor downloadable")
    binary = (real / REAL_BIN).read_bytes()
    fixture = tmp_path / "query.csv"
    fixture.write_text("name\nTesla P10\n", encoding="utf-8")
    without, with_fixture = make_standin(tmp_path, "535.309.01", tmp_path / "none.csv"), tmp_path / "with"
    with_fixture.mkdir()
    with_fixture = make_standin(with_fixture, "535.309.01", fixture)
    for standin, argv, template, value in (
        (without, ["-L"], "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure"
                          " that the latest NVIDIA driver is installed and running.", None),
        (without, ["-h"], "NVIDIA System Management Interface -- v%s", "535.309.01"),
        (with_fixture, ["--query-gpu=bogus", "--format=csv"], 'Field "%s" is not a valid field to query.', "bogus"),
        (with_fixture, ["--query-gpu=name"], "\"--format=\" switch is missing. Please run 'nvidia-smi -h' for help.",
         None),
        (with_fixture, ["--query-gpu=name", "--format=nounits"], "Format modifier --format=csv is mandatory.", None),
        (with_fixture, ["--query-gpu=name", "--format=csv,xml"], "Format modifier is not recognized.", None),
    ):
        assert template.encode() in binary, template
        out = run(standin, *argv)
        assert out.stdout.splitlines()[0] == (template.replace("%s", value) if value else template), argv


# --- with a fixture: the real tool's --format=csv, from published real output --------------------------------------
# internal/captures/linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01.txt (utkuozdemir/nvidia_gpu_exporter @ e656cd81),
# section "idle :: query-gpu": these header cells and the values under them, as nvidia-smi printed them.
H100_HEADER = ("index, pci.bus_id, name, driver_version, pstate, fan.speed [%], memory.total [MiB], memory.used [MiB], "
               "utilization.gpu [%], temperature.gpu, power.draw [W], power.limit [W], clocks.current.sm [MHz], "
               "clocks.current.memory [MHz], pcie.link.width.max, ecc.errors.uncorrected.volatile.total")
H100_ROW = ("0, 00000000:00:09.0, NVIDIA H100 80GB HBM3, 590.48.01, P0, [N/A], 81559 MiB, 0 MiB, 0 %, 41, 69.85 W, "
            "700.00 W, 345 MHz, 2619 MHz, 16, 0")
H100_UUID = "GPU-00000000-0000-0000-0000-000000000000"  # the capture's masked UUID; its -L section:
H100_LIST = f"GPU 0: NVIDIA H100 80GB HBM3 (UUID: {H100_UUID})\n"


@pytest.fixture
def h100(tmp_path):
    fixture = tmp_path / "query.csv"
    fixture.write_text(f"# from the H100 capture\n{H100_HEADER}, uuid\n{H100_ROW}, {H100_UUID}\n", encoding="utf-8")
    return make_standin(tmp_path, "590.48.01", fixture)


def test_csv_prints_the_real_header_and_values_in_the_order_asked(h100):
    out = run(h100, "--query-gpu=temperature.gpu,power.draw,memory.total,fan.speed,name", "--format=csv")
    assert out.returncode == 0 and out.stderr == ""
    assert out.stdout == ("temperature.gpu, power.draw [W], memory.total [MiB], fan.speed [%], name\n"
                          "41, 69.85 W, 81559 MiB, [N/A], NVIDIA H100 80GB HBM3\n")


def test_noheader_drops_the_header_line_only(h100):
    out = run(h100, "--query-gpu=index,utilization.gpu,clocks.current.memory", "--format=csv,noheader")
    assert (out.returncode, out.stdout) == (0, "0, 0 %, 2619 MHz\n")


def test_list_gpus_is_the_captures_line(h100):
    out = run(h100, "-L")
    assert (out.returncode, out.stdout) == (0, H100_LIST)


# Quake4/MindMiner#627, driver 442.19 (a GeForce RTX 2080 Ti), the reporter's command and its output:
MINDMINER_QUERY = ("gpu_name,utilization.gpu,utilization.memory,temperature.gpu,power.draw,power.limit,fan.speed,"
                   "clocks.current.graphics,clocks.current.memory,power.default_limit")
MINDMINER_OUT = ("name, utilization.gpu [%], utilization.memory [%], temperature.gpu, power.draw [W], power.limit [W], "
                 "fan.speed [%], clocks.current.graphics [MHz], clocks.current.memory [MHz], power.default_limit [W]\n"
                 "GeForce RTX 2080 Ti, 100, 37, 56, 228.82, 210.00, 56, 1560, 6800, [Unknown Error]\n")


def test_nounits_keeps_the_header_units_and_an_alias_answers_under_its_canonical_name(tmp_path):
    fixture = tmp_path / "query.csv"
    header, values = MINDMINER_OUT.splitlines()
    with_units = ["GeForce RTX 2080 Ti", "100 %", "37 %", "56", "228.82 W", "210.00 W", "56 %", "1560 MHz", "6800 MHz",
                  "[Unknown Error]"]  # the --format=csv form of the same readings, as the H100 capture writes units
    fixture.write_text(f"{header}\n{', '.join(with_units)}\n", encoding="utf-8")
    standin = make_standin(tmp_path, "442.19", fixture)
    out = run(standin, f"--query-gpu={MINDMINER_QUERY}", "--format=csv,nounits")
    assert (out.returncode, out.stdout, out.stderr) == (0, MINDMINER_OUT, "")
    assert values.split(", ")[0] == with_units[0]


def test_an_unknown_field_is_refused_as_cohdi_37_shows(h100):
    out = run(h100, "--query-gpu=device_minor,gpu_uuid,pci.bus_id", "--format=csv,noheader,nounits")
    expected = 'Field "device_minor" is not a valid field to query.\n\n'
    assert (out.returncode, out.stdout, out.stderr) == (2, expected, "")


@pytest.mark.parametrize(("fmt", "message"), [
    (None, "\"--format=\" switch is missing. Please run 'nvidia-smi -h' for help.\n\n"),
    ("--format=noheader,nounits", "Format modifier --format=csv is mandatory.\n\n"),
    ("--format=csv,json", "Format modifier is not recognized.\n\n"),
])
def test_format_errors_are_the_real_binarys_texts(h100, fmt, message):
    out = run(h100, "--query-gpu=name", *([fmt] if fmt else []))
    assert (out.returncode, out.stdout) == (2, message)


def test_a_real_field_the_fixture_lacks_is_a_standin_error_not_an_invalid_field(h100):
    out = run(h100, "--query-gpu=serial", "--format=csv")  # "serial" is in the capture's --help-query-gpu
    assert out.returncode == 255 and out.stdout == ""
    assert "LAB STAND-IN" in out.stderr and "does not cover" in out.stderr


def test_what_it_does_not_emulate_says_so(h100):
    out = run(h100, "-q")
    assert out.returncode == 255 and "LAB STAND-IN" in out.stderr and "not emulated" in out.stderr


# --- the lab's fixture and the collector that reads it -------------------------------------------------------------
def test_the_lab_fixture_header_names_real_fields_with_their_units(tmp_path):
    """Every cell of molecule/gpu_metrics's header is a canonical name of --help-query-gpu (the stand-in refuses
    others), with a unit exactly where the H100 capture's header carries one for that field."""
    real_units = {cell.split(" [")[0]: cell for cell in H100_HEADER.split(", ")}
    header = next(line for line in LAB_FIXTURE.read_text(encoding="utf-8").splitlines() if not line.startswith("#"))
    standin = make_standin(tmp_path, "580.95.05", LAB_FIXTURE)
    for cell in header.split(", "):
        name = cell.split(" [")[0]
        if name in real_units:
            assert cell == real_units[name]
        out = run(standin, f"--query-gpu={name}", "--format=csv")
        assert out.returncode == 0 and out.stdout.splitlines()[0] == cell, out.stdout + out.stderr


def test_the_collector_reads_the_standin_as_it_would_read_the_real_tool(tmp_path):
    """The collector's own command line (roles/gpu_metrics/files/collect.py) on the lab's P10 fixture: every field
    answered, numbers without units, the passive card's fan not a number."""
    from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _gpu_metrics as gm

    standin = make_standin(tmp_path, "580.95.05", LAB_FIXTURE)
    out = run(standin, f"--query-gpu={gm.QUERY}", "--format=csv,noheader,nounits")
    assert out.returncode == 0, out.stderr
    parsed = gm.parse_query(out.stdout, out.returncode)
    assert parsed["error"] == "" and parsed["unread"] == []
    (gpu,) = parsed["gpus"]
    assert gpu["name"] == "Tesla P10" and gpu["temperature.gpu"] == 41 and gpu["memory.total"] == 23040
    assert gpu["power.draw"] == pytest.approx(27.93) and gpu["clocks.sm"] == 544 and gpu["fan.speed"] is None


# --- re-recording ---------------------------------------------------------------------------------------------------
def record() -> None:
    """Run Debian's real nvidia-smi over ARGVS (as test_live does) and write the transcript with its origin."""
    import datetime
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        real = extract_real(Path(tmp) / "real")
        if real is None:
            sys.exit("cannot fetch Debian's nvidia-smi packages")
        standin_dir = Path(tmp) / "standin"
        standin_dir.mkdir()
        make_standin(standin_dir, "535.309.01")
        results = [r for r in run_in_container(real, standin_dir) if r["who"] == "real"]
    for result in results:
        del result["who"]
        if set(result["argv"]) & HELP:  # NVIDIA's usage text stays NVIDIA's: its first line only
            result["stdout"] = result["stdout"].splitlines()[0] + "\n[... NVIDIA's usage text, not kept ...]\n"
    origin = {
        "package": "nvidia-smi + libnvidia-ml1 (Debian bookworm-security, non-free)",
        "version": "535.309.01",
        "debs": DEBS,
        "recorded": datetime.date.today().isoformat(),
        "how": f"python {Path(__file__).relative_to(ROOT)} --record: docker run --device-cgroup-rule 'c 195:* rmw' "
               f"{IMAGE}, as root, {REAL_BIN} with LD_LIBRARY_PATH={REAL_LIB}, no nvidia module loaded",
    }
    TRANSCRIPT.parent.mkdir(parents=True, exist_ok=True)
    TRANSCRIPT.write_text(json.dumps({"origin": origin, "cases": results}, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {TRANSCRIPT}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--record"]:
        record()
    else:
        sys.exit(f"usage: python {sys.argv[0]} --record")
