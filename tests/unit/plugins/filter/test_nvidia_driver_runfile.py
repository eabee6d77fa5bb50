# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible_collections.homelab.nvidia_gpu.plugins.filter.nvidia_driver_runfile import FilterModule

PROBLEMS = FilterModule().filters()["nvidia_driver_runfile_problems"]
ROOT = Path(__file__).resolve().parents[4]
URL = "https://download.nvidia.com/XFree86/Linux-x86_64/580.95.05/NVIDIA-Linux-x86_64-580.95.05.run"
SHA256 = "sha256:" + "ab" * 32
SHA512 = "sha512:" + "CD" * 64


@pytest.mark.parametrize("checksum", [SHA256, SHA512, " SHA256:" + "ab" * 32 + " "])
def test_inline_sha256_and_sha512_over_https_are_accepted(checksum):
    assert PROBLEMS(URL, checksum) == []


@pytest.mark.parametrize(("checksum", "needle"), [
    ("", "is empty"),
    (None, "is empty"),
    ("sha256:" + URL + ".sha256sum", "is a checksum URL"),
    ("sha256:https://example.invalid/SHA256SUMS", "is a checksum URL"),
    ("md5:" + "0" * 32, "uses md5"),
    ("sha1:" + "0" * 40, "uses sha1"),
    ("sha256:" + "0" * 63, "is not sha256:<64 hex>"),
    ("sha256:" + "g" * 64, "is not sha256:<64 hex>"),
    ("sha512:" + "0" * 64, "is not sha256:<64 hex>"),
    ("ab" * 32, "is not sha256:<64 hex>"),
    ("sha384:" + "0" * 96, "is not sha256:<64 hex>"),
])
def test_weak_remote_or_malformed_checksums_are_refused(checksum, needle):
    problems = PROBLEMS(URL, checksum)
    assert len(problems) == 1 and needle in problems[0], problems


def test_http_only_with_the_mirror_allowance():
    url = "http://mirror.lab/XFree86/Linux-x86_64/580.95.05/NVIDIA-Linux-x86_64-580.95.05.run"
    [problem] = PROBLEMS(url, SHA256)
    assert "is http: use https, or set nvidia_driver_runfile_allow_http: true" in problem
    assert PROBLEMS(url, SHA256, allow_http=True) == []


@pytest.mark.parametrize("url", [f"{base}/NVIDIA-Linux-x86_64-580.95.05.run"
                                 for base in ("ftp://mirror.lab", "file:///root", "/root")])
def test_other_schemes_are_refused(url):
    [problem] = PROBLEMS(url, SHA256, allow_http=True)
    assert "is not an https URL" in problem


def test_empty_url_and_checksum_give_two_problems():
    assert len(PROBLEMS("", "")) == 2


def test_role_refuses_through_its_plan_and_no_checksum_url_is_documented():
    preflight = yaml.safe_load((ROOT / "roles/nvidia_driver/tasks/plan.yml").read_text())
    text = yaml.safe_dump(preflight)
    # The plan (nvidia_driver_plan) refuses with the same sentences as this filter: one function in module_utils.
    assert "homelab.nvidia_gpu.nvidia_driver_plan" in text and "runfile_checksum" in text
    specs = yaml.safe_load((ROOT / "roles/nvidia_driver/meta/argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    assert options["nvidia_driver_runfile_allow_http"]["default"] is False
    assert "URL of a checksum file" not in " ".join(options["nvidia_driver_runfile_checksum"]["description"])


VERSION = FilterModule().filters()["nvidia_driver_runfile_version"]


@pytest.mark.parametrize(("url", "version"), [
    (URL, "580.95.05"),
    ("/srv/NVIDIA-Linux-aarch64-590.48.01.run", "590.48.01"),
    ("https://mirror/x/driver.run", ""),
    ("https://mirror/NVIDIA-Linux-x86_64-580.run.sha256", ""),
    ("", ""),
    (None, ""),
])
def test_version_is_read_from_the_file_name_once(url, version):
    assert VERSION(url) == version


def test_a_url_without_the_runfile_name_is_refused():
    problems = PROBLEMS("https://mirror/x/driver.run", SHA256)
    assert len(problems) == 1 and "NVIDIA-Linux-<arch>-<version>.run" in problems[0], problems
