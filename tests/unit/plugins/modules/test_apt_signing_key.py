# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""apt_signing_key with the real gpg, on keys generated once per test session."""
from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils import _signing_keys as sk
from ansible_collections.homelab.nvidia_gpu.plugins.modules import apt_signing_key

pytestmark = pytest.mark.skipif(shutil.which("gpg") is None, reason="needs gpg (Debian package gpg)")

ROOT = Path(__file__).resolve().parents[4]


def gpg(home: Path, *args: str, data: bytes | None = None) -> bytes:
    return subprocess.run(["gpg", "--batch", "--no-tty", "--homedir", str(home), *args], input=data,
                          capture_output=True, check=True).stdout


def listing(path: Path) -> list[sk.Key]:
    home = Path(os.environ.get("TMPDIR", "/tmp")) / f"lst.{os.getpid()}"
    home.mkdir(mode=0o700, exist_ok=True)
    try:
        out = gpg(home, "--with-colons", "--fixed-list-mode", "--show-keys", str(path)).decode()
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
    return sk.parse_colons(out)


def packets(data: bytes) -> list[tuple[int, bytes]]:
    """(tag, whole packet) of each OpenPGP packet (RFC 4880 4.2, old and new headers, no partial lengths)."""
    out, pos = [], 0
    while pos < len(data):
        start, head = pos, data[pos]
        assert head & 0x80, "not an OpenPGP packet"
        if head & 0x40:  # new format
            tag, first = head & 0x3F, data[pos + 1]
            if first < 192:
                length, pos = first, pos + 2
            elif first < 224:
                length, pos = ((first - 192) << 8) + data[pos + 2] + 192, pos + 3
            else:
                assert first == 255, "partial body length in a key packet"
                length, pos = int.from_bytes(data[pos + 2:pos + 6], "big"), pos + 6
        else:
            tag, ltype = (head >> 2) & 0x0F, head & 0x03
            size = {0: 1, 1: 2, 2: 4}[ltype]
            length, pos = int.from_bytes(data[pos + 1:pos + 1 + size], "big"), pos + 1 + size
        pos += length
        out.append((tag, data[start:pos]))
    return out


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    """Keys A, B (each with an encryption subkey) and C: fingerprints, binary and armored exports."""
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    out = {}
    try:
        for name in "ABC":
            uid = f"Lab {name} <{name.lower()}@lab.invalid>"
            gpg(home, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never")
            fpr = sk.parse_colons(gpg(home, "--with-colons", "--fixed-list-mode", "--list-keys", uid).decode())[0]
            gpg(home, "--passphrase", "", "--quick-add-key", fpr.fingerprint, "cv25519", "encr", "never")
            key = sk.parse_colons(gpg(home, "--with-colons", "--fixed-list-mode", "--list-keys", uid).decode())[0]
            out[name] = {"fpr": key.fingerprint, "sub": key.subkeys[0].fingerprint,
                         "bin": gpg(home, "--export", key.fingerprint),
                         "asc": gpg(home, "--armor", "--export", key.fingerprint)}
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False, capture_output=True)
    return out


def spaced(fpr: str) -> str:
    return " ".join(fpr[i:i + 4] for i in range(0, 40, 4)).lower()


def run(run_module, tmp_path, data: bytes, fprs: list[str], **extra):
    src = tmp_path / "download.key"
    src.write_bytes(data)
    dest = extra.pop("dest", str(tmp_path / "keyrings" / "vendor.gpg"))
    (tmp_path / "keyrings").mkdir(exist_ok=True)
    return run_module(apt_signing_key, {"src": str(src), "fingerprints": fprs, "dest": dest, **extra})


def test_pinned_armored_key_is_installed_binary_then_idempotent(run_module, tmp_path, keys):
    dest = tmp_path / "keyrings" / "vendor.gpg"
    failed, result = run(run_module, tmp_path, keys["A"]["asc"], [spaced(keys["A"]["fpr"])], _ansible_diff=True)
    assert not failed and result["changed"], result
    assert result["fingerprints"] == [keys["A"]["fpr"]]
    assert result["keys"][0]["uids"] == ["Lab A <a@lab.invalid>"] and result["keys"][0]["expires"] is None
    assert not dest.read_bytes().startswith(b"-----BEGIN")
    assert [k.fingerprint for k in listing(dest)] == [keys["A"]["fpr"]]
    assert oct(dest.stat().st_mode & 0o777) == "0o644"
    assert result["diff"]["before"] == "" and f"pub {keys['A']['fpr']}" in result["diff"]["after"]
    assert "uid Lab A <a@lab.invalid>" in result["diff"]["after"]
    data, mtime = dest.read_bytes(), dest.stat().st_mtime_ns
    failed, result = run(run_module, tmp_path, keys["A"]["asc"], [keys["A"]["fpr"]])
    assert not failed and not result["changed"]
    assert dest.read_bytes() == data and dest.stat().st_mtime_ns == mtime
    assert sorted(os.listdir(dest.parent)) == ["vendor.gpg"]


def test_armor_option_writes_armored_keyring(run_module, tmp_path, keys):
    dest = tmp_path / "keyrings" / "vendor.asc"
    failed, result = run(run_module, tmp_path, keys["A"]["bin"], [keys["A"]["fpr"]], dest=str(dest), armor=True)
    assert not failed and result["changed"]
    assert dest.read_bytes().startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert [k.fingerprint for k in listing(dest)] == [keys["A"]["fpr"]]


def test_wrong_fingerprint_is_refused_and_nothing_written(run_module, tmp_path, keys):
    failed, result = run(run_module, tmp_path, keys["B"]["asc"], [keys["A"]["fpr"]], name="toolkit key",
                         hint="No apt source was written.")
    assert failed
    assert result["msg"].startswith(f"Refusing the toolkit key from {tmp_path / 'download.key'}: ")
    assert f"its fingerprint is {keys['B']['fpr']}, the pinned fingerprint is {keys['A']['fpr']}" in result["msg"]
    assert result["msg"].endswith("was not written. No apt source was written.")
    assert "Nothing was trusted" in result["msg"]
    assert os.listdir(tmp_path / "keyrings") == []


def test_extra_unpinned_primary_key_is_refused_and_named(run_module, tmp_path, keys):
    failed, result = run(run_module, tmp_path, keys["A"]["bin"] + keys["C"]["bin"], [keys["A"]["fpr"]])
    assert failed
    assert f"not pinned: {keys['C']['fpr']} (Lab C <c@lab.invalid>)" in result["msg"]
    assert os.listdir(tmp_path / "keyrings") == []


def test_two_pinned_keys_are_both_installed(run_module, tmp_path, keys):
    dest = tmp_path / "keyrings" / "vendor.gpg"
    both = keys["A"]["asc"] + keys["C"]["asc"]
    failed, result = run(run_module, tmp_path, both, [keys["C"]["fpr"], keys["A"]["fpr"]])
    assert not failed and sorted(result["fingerprints"]) == sorted([keys["A"]["fpr"], keys["C"]["fpr"]])
    assert sorted(k.fingerprint for k in listing(dest)) == sorted([keys["A"]["fpr"], keys["C"]["fpr"]])


BROKEN_ARMOR = b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot base64\n-----END PGP PUBLIC KEY BLOCK-----\n"


@pytest.mark.parametrize("data", [b"", b"<html>404 Not Found</html>\n", os.urandom(300), BROKEN_ARMOR])
def test_junk_and_empty_files_are_refused(run_module, tmp_path, keys, data):
    failed, result = run(run_module, tmp_path, data, [keys["A"]["fpr"]])
    assert failed and "no OpenPGP public key gpg accepts" in result["msg"], result
    assert "Traceback" not in result["msg"] and os.listdir(tmp_path / "keyrings") == []


def test_unbound_subkey_is_not_installed(run_module, tmp_path, keys):
    # Key A followed by key B's encryption subkey packet (tag 14) without B's binding signature.
    foreign = [pkt for tag, pkt in packets(keys["B"]["bin"]) if tag == 14]
    assert len(foreign) == 1
    crafted = keys["A"]["bin"] + foreign[0]
    assert foreign[0] in crafted and 14 in [tag for tag, _pkt in packets(crafted)][-1:]
    dest = tmp_path / "keyrings" / "vendor.gpg"
    failed, result = run(run_module, tmp_path, crafted, [keys["A"]["fpr"]])
    assert not failed, result
    installed = dest.read_bytes()
    assert foreign[0] not in installed
    [key] = listing(dest)
    assert key.fingerprint == keys["A"]["fpr"]
    assert [s.fingerprint for s in key.subkeys] == [keys["A"]["sub"]]
    assert keys["B"]["sub"] not in [s.fingerprint for s in key.subkeys]
    assert [s["fingerprint"] for s in result["keys"][0]["subkeys"]] == [keys["A"]["sub"]]


def test_check_mode_checks_but_writes_nothing(run_module, tmp_path, keys):
    dest = tmp_path / "keyrings" / "vendor.gpg"
    failed, result = run(run_module, tmp_path, keys["A"]["bin"], [keys["A"]["fpr"]], _ansible_check_mode=True,
                         _ansible_diff=True)
    assert not failed and result["changed"] and not dest.exists()
    assert f"pub {keys['A']['fpr']}" in result["diff"]["after"]
    failed, result = run(run_module, tmp_path, keys["B"]["bin"], [keys["A"]["fpr"]], _ansible_check_mode=True)
    assert failed and "Refusing" in result["msg"]
    # Check mode without the keyring directory (a first run): no failure, nothing created.
    failed, result = run(run_module, tmp_path, keys["A"]["bin"], [keys["A"]["fpr"]], _ansible_check_mode=True,
                         dest=str(tmp_path / "missing" / "vendor.gpg"))
    assert not failed and result["changed"] and not (tmp_path / "missing").exists()


def test_existing_other_key_is_replaced_with_diff(run_module, tmp_path, keys):
    dest = tmp_path / "keyrings" / "vendor.gpg"
    (tmp_path / "keyrings").mkdir()
    dest.write_bytes(keys["C"]["bin"])
    dest.chmod(0o600)
    failed, result = run(run_module, tmp_path, keys["A"]["bin"], [keys["A"]["fpr"]], _ansible_diff=True)
    assert not failed and result["changed"]
    assert f"pub {keys['C']['fpr']}" in result["diff"]["before"] and keys["C"]["fpr"] not in result["diff"]["after"]
    assert [k.fingerprint for k in listing(dest)] == [keys["A"]["fpr"]]
    assert oct(dest.stat().st_mode & 0o777) == "0o644"


def test_mode_change_alone_is_a_change(run_module, tmp_path, keys):
    dest = tmp_path / "keyrings" / "vendor.gpg"
    assert not run(run_module, tmp_path, keys["A"]["bin"], [keys["A"]["fpr"]])[0]
    dest.chmod(0o600)
    failed, result = run(run_module, tmp_path, keys["A"]["bin"], [keys["A"]["fpr"]])
    assert not failed and result["changed"] and oct(dest.stat().st_mode & 0o777) == "0o644"


def test_failed_rename_leaves_old_file_and_no_temp(run_module, tmp_path, keys, monkeypatch):
    dest = tmp_path / "keyrings" / "vendor.gpg"
    (tmp_path / "keyrings").mkdir()
    dest.write_bytes(keys["C"]["bin"])

    def broken_move(self, src, dst, unsafe_writes=False):
        raise OSError("disk full")

    monkeypatch.setattr(apt_signing_key.AnsibleModule, "atomic_move", broken_move)
    with pytest.raises(OSError):
        run(run_module, tmp_path, keys["A"]["bin"], [keys["A"]["fpr"]])
    assert dest.read_bytes() == keys["C"]["bin"]
    assert os.listdir(tmp_path / "keyrings") == ["vendor.gpg"]


@pytest.mark.parametrize(("args", "needle"), [
    ({"dest": "keyrings/vendor.gpg"}, "dest must be an absolute path"),
    ({"fingerprints": ["3BF863CC"]}, "is not a key fingerprint"),
    ({"fingerprints": [""]}, "a pinned fingerprint is empty"),
])
def test_bad_arguments_fail_clearly(run_module, tmp_path, keys, args, needle):
    fprs = args.pop("fingerprints", [keys["A"]["fpr"]])
    failed, result = run(run_module, tmp_path, keys["A"]["bin"], fprs, **args)
    assert failed and needle in result["msg"], result
    assert not (tmp_path / "keyrings" / "vendor.gpg").exists()


def test_missing_src_and_missing_directory(run_module, tmp_path, keys):
    failed, result = run_module(apt_signing_key, {"src": str(tmp_path / "nope.key"), "fingerprints": [keys["A"]["fpr"]],
                                                  "dest": str(tmp_path / "vendor.gpg")})
    assert failed and "cannot read the key file" in result["msg"]
    failed, result = run(run_module, tmp_path, keys["A"]["bin"], [keys["A"]["fpr"]],
                         dest=str(tmp_path / "missing" / "vendor.gpg"))
    assert failed and "does not exist; create it first" in result["msg"]


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_by_url_and_http_error(run_module, tmp_path, keys, server):
    root, base = server
    (root / "gpgkey").write_bytes(keys["A"]["asc"])
    dest = tmp_path / "vendor.gpg"
    failed, result = run_module(apt_signing_key, {"url": f"{base}/gpgkey", "fingerprints": [keys["A"]["fpr"]],
                                                  "dest": str(dest), "timeout": 10})
    assert not failed and result["changed"] and [k.fingerprint for k in listing(dest)] == [keys["A"]["fpr"]]
    failed, result = run_module(apt_signing_key, {"url": f"{base}/missing", "fingerprints": [keys["A"]["fpr"]],
                                                  "dest": str(dest), "name": "Docker key"})
    assert failed and result["msg"].startswith(f"cannot download the Docker key from {base}/missing: HTTP 404")


def test_no_validate_certs_option():
    # Certificates are always verified: the module offers no way to turn that off.
    assert "validate_certs" not in apt_signing_key.DOCUMENTATION


ROLE_KEY_TASKS = ["roles/kernel_headers/tasks/raspberrypi_repo.yml", "roles/container_runtime/tasks/docker_repo.yml",
                  "roles/nvidia_repo/tasks/configure.yml"]


@pytest.mark.parametrize("path", ROLE_KEY_TASKS)
def test_roles_install_keys_only_through_the_module(path):
    # One mechanism: no role dearmors or copies downloaded key bytes itself.
    text = (ROOT / path).read_text()
    assert "homelab.nvidia_gpu.apt_signing_key" in text
    for copy in ("--dearmor", "ansible.builtin.get_url", "--show-keys", "remote_src"):
        assert copy not in text, f"{path} still has its own key procedure ({copy})"
