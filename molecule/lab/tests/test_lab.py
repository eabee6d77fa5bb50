"""Lab scenario: the fixture mirror is reachable, trusted by fingerprint, and tampering is refused."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

KEYRING = "/etc/apt/keyrings/nvidia-container-toolkit-lab.asc"
PACKAGE = "nvidia-container-toolkit-base"
MIRROR = "http://mirror.lab"
TAMPER = "/tmp/lab-tamper"  # inside the test container


def _fingerprints() -> dict[str, str]:
    project = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
    text = (project / ".cache/lab/mirror/fingerprints.yml").read_text(encoding="utf-8")
    return dict(re.findall(r"^(lab_\w+_fingerprint):\s*([0-9A-F]{40})\s*$", text, re.MULTILINE))


def _deb_arch(host) -> str:
    return host.check_output("dpkg --print-architecture")


def _repo_path(host) -> str:
    return f"libnvidia-container/stable/deb/{_deb_arch(host)}"


def test_systemd_is_up(host):
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state in ("running", "degraded")


def test_package_is_installed_from_the_mirror(host):
    assert host.package(PACKAGE).is_installed
    policy = host.check_output(f"apt-cache policy {PACKAGE}")
    lines = policy.splitlines()
    installed = [i for i, line in enumerate(lines) if line.lstrip().startswith("***")]
    assert installed, policy
    sources = []
    for line in lines[installed[0] + 1 :]:
        if not line.startswith("        "):
            break
        sources.append(line)
    assert any(f"{MIRROR}/{_repo_path(host)}" in s for s in sources), policy
    assert host.run("nvidia-ctk --version").stdout.startswith("NVIDIA Container Toolkit CLI version")


def test_keyring_fingerprint_matches_the_mirror(host):
    colons = host.check_output(f"gpg --batch --show-keys --with-colons {KEYRING}")
    fprs = [line.split(":")[9] for line in colons.splitlines() if line.startswith("fpr:")]
    assert fprs == [_fingerprints()["lab_toolkit_key_fingerprint"]]


def _apt_update(host, repo: str):
    """apt-get update against only the local copy `repo` (a file: source), own lists dir."""
    lists = f"{TAMPER}/lists-{Path(repo).name}"
    host.check_output(f"rm -rf {lists} && mkdir -p {lists}/partial")
    host.check_output(f"echo 'deb [signed-by={KEYRING}] file:{repo} /' > {TAMPER}/{Path(repo).name}.list")
    return host.run(
        "apt-get update -q"
        f" -o Dir::Etc::SourceList={TAMPER}/{Path(repo).name}.list -o Dir::Etc::SourceParts=-"
        f" -o Dir::State::Lists={lists} -o APT::Sandbox::User=root -o APT::Get::List-Cleanup=false"
    )


def _copy_repo(host, name: str) -> str:
    repo = f"{TAMPER}/{name}"
    files = "Release InRelease Release.gpg Packages Packages.gz"
    host.check_output(
        f"rm -rf {repo} && mkdir -p {repo} && cd {repo} && "
        f"for f in {files}; do curl -fsS -o $f {MIRROR}/{_repo_path(host)}/$f; done"
    )
    return repo


def test_untampered_copy_is_accepted(host):
    """Control case: the copy mechanics work, so the refusals below are about tampering."""
    repo = _copy_repo(host, "intact")
    result = _apt_update(host, repo)
    assert result.rc == 0, result.stdout + result.stderr
    assert not re.search(r"^(W|E):", result.stdout + result.stderr, re.MULTILINE), result.stderr


TAMPERING = {
    # a signed line of InRelease changes: the signature no longer verifies
    "inrelease-edited": (
        "sed -i 's/^Label: .*/Label: Tampered/' InRelease Release",
        r"BADSIG|signatures were invalid|is not signed",
    ),
    # no signature at all
    "unsigned": ("rm -f InRelease Release.gpg", r"is not signed|NO_PUBKEY|no longer signed"),
    # Release intact and signed, but the index it vouches for was altered
    "packages-altered": (
        "sed -i 's/^Version: .*/Version: 99.0.0-1/' Packages && gzip -9nc Packages > Packages.gz",
        r"Hash Sum mismatch|[Ff]ile has unexpected size|Hashes of expected file",
    ),
    # signed by another key than the trusted one
    "foreign-key": (
        "export GNUPGHOME=$(mktemp -d) && gpg --batch --quiet --passphrase '' --quick-gen-key "
        "'Intruder <intruder@example.invalid>' ed25519 sign never && "
        "sed -i 's/^Label: .*/Label: Intruder/' Release && rm -f InRelease Release.gpg && "
        "gpg --batch --quiet --clearsign -o InRelease Release && "
        "gpg --batch --quiet -abs -o Release.gpg Release && gpgconf --kill gpg-agent",
        r"NO_PUBKEY|not signed|signatures couldn't be verified|Missing key",
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_tampered_copy_is_refused(host, case):
    edit, expected = TAMPERING[case]
    repo = _copy_repo(host, case)
    host.check_output(f"cd {repo} && {edit}")
    result = _apt_update(host, repo)
    output = result.stdout + result.stderr
    assert result.rc != 0, f"apt-get update accepted a tampered repo ({case}):\n{output}"
    assert re.search(expected, output), output
