# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""apt_signing_key with the real gpg, on keys generated once per test session."""
from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _signing_keys as sk
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


ROLE_KEY_TASKS = ["roles/kernel_headers/tasks/raspberrypi_archive.yml", "roles/container_runtime/tasks/docker_repo.yml",
                  "roles/nvidia_repo/tasks/keyrings.yml"]


@pytest.mark.parametrize("path", ROLE_KEY_TASKS)
def test_roles_install_keys_only_through_the_module(path):
    # One mechanism: no role dearmors or copies downloaded key bytes itself.
    text = (ROOT / path).read_text()
    assert "homelab.nvidia_gpu.apt_signing_key" in text
    for copy in ("--dearmor", "ansible.builtin.get_url", "--show-keys", "remote_src"):
        assert copy not in text, f"{path} still has its own key procedure ({copy})"


# --- hostile input (issue #31): nothing is read from a FIFO, nothing written before every option is checked ----


def tree(root: Path) -> dict[str, tuple]:
    """Every entry under root with its kind, link target, mode and bytes."""
    out = {}
    for directory, dirs, names in os.walk(root):
        for name in dirs + names:
            path = os.path.join(directory, name)
            st_ = os.lstat(path)
            if os.path.islink(path):
                out[path] = ("link", os.readlink(path))
            elif os.path.isfile(path):
                out[path] = ("file", st_.st_mode, Path(path).read_bytes())
            else:
                out[path] = ("other", st_.st_mode)
    return out


def test_src_fifo_is_refused_without_blocking(run_module, tmp_path, keys, deadline):
    fifo = tmp_path / "download.key"
    os.mkfifo(fifo)  # nobody ever writes to it: an open() for reading would block forever
    (tmp_path / "keyrings").mkdir()
    before = tree(tmp_path)
    with deadline(10):
        failed, result = run_module(apt_signing_key, {"src": str(fifo), "fingerprints": [keys["A"]["fpr"]],
                                                      "dest": str(tmp_path / "keyrings" / "vendor.gpg"),
                                                      "timeout": 1})
    assert failed and result["msg"] == f"the key file {fifo} is a FIFO (named pipe), not a regular file; refusing " \
                                       "to read it", result
    assert tree(tmp_path) == before


def test_src_link_to_a_fifo_or_a_device_is_refused(run_module, tmp_path, keys, deadline):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "via-link.key").symlink_to(tmp_path / "pipe")
    (tmp_path / "keyrings").mkdir()
    for src, kind in ((tmp_path / "via-link.key", "FIFO"), (Path("/dev/zero"), "character device"),
                      (tmp_path, "directory")):
        with deadline(10):
            failed, result = run_module(apt_signing_key, {"src": str(src), "fingerprints": [keys["A"]["fpr"]],
                                                          "dest": str(tmp_path / "keyrings" / "vendor.gpg")})
        assert failed and f"is a {kind}" in result["msg"], result
    assert os.listdir(tmp_path / "keyrings") == []


def test_dest_fifo_is_refused_and_left_alone(run_module, tmp_path, keys, deadline):
    (tmp_path / "keyrings").mkdir()
    os.mkfifo(tmp_path / "keyrings" / "vendor.gpg")
    before = tree(tmp_path / "keyrings")
    with deadline(10):
        failed, result = run(run_module, tmp_path, keys["A"]["bin"], [keys["A"]["fpr"]])
    assert failed and "is a FIFO (named pipe), not a regular file" in result["msg"], result
    assert tree(tmp_path / "keyrings") == before


def test_slow_download_is_cut_at_the_timeout(run_module, tmp_path, keys, deadline):
    """A server that sends a byte every 0.3 s: each read is within a 1 s socket timeout, the whole is not."""
    class Drip(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(keys["A"]["asc"])))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the module hangs up at its timeout
                for byte in keys["A"]["asc"][:40]:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.3)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        started = time.monotonic()
        with deadline(15):
            failed, result = run_module(apt_signing_key, {
                "url": f"http://127.0.0.1:{httpd.server_address[1]}/gpgkey", "fingerprints": [keys["A"]["fpr"]],
                "dest": str(tmp_path / "vendor.gpg"), "timeout": 2})
        took = time.monotonic() - started
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert failed and "not done within the timeout of 2 s" in result["msg"], result
    assert took < 5 and not (tmp_path / "vendor.gpg").exists()


@pytest.mark.parametrize("mode", ["0999", "rwxr-xr-x", "u=rwq", "-1", 0o10644, "0o", True, "077777"])
def test_bad_mode_is_refused_before_anything_is_written(run_module, tmp_path, keys, mode):
    failed, result = run(run_module, tmp_path, keys["A"]["bin"], [keys["A"]["fpr"]], mode=mode)
    assert failed and result["msg"].startswith("mode must be an octal mode"), result
    assert os.listdir(tmp_path / "keyrings") == []


def test_bad_mode_leaves_an_existing_keyring_unchanged(run_module, tmp_path, keys):
    dest = tmp_path / "keyrings" / "vendor.gpg"
    (tmp_path / "keyrings").mkdir()
    dest.write_bytes(keys["C"]["bin"])
    dest.chmod(0o600)
    before = tree(tmp_path / "keyrings")
    failed, result = run(run_module, tmp_path, keys["A"]["bin"], [keys["A"]["fpr"]], mode="0x644")
    assert failed and "mode must be" in result["msg"]
    assert tree(tmp_path / "keyrings") == before


@pytest.mark.parametrize(("args", "needle"), [
    ({"owner": "no-such-user-31"}, "owner 'no-such-user-31' is no user on this host"),
    ({"group": "no-such-group-31"}, "group 'no-such-group-31' is no group on this host"),
    ({"timeout": 0}, "timeout must be 1 second or more"),
])
def test_unknown_owner_group_and_zero_timeout_write_nothing(run_module, tmp_path, keys, args, needle):
    failed, result = run(run_module, tmp_path, keys["A"]["bin"], [keys["A"]["fpr"]], **args)
    assert failed and needle in result["msg"], result
    assert os.listdir(tmp_path / "keyrings") == []


@pytest.mark.parametrize("mode", ["0640", "u=rw,g=r,o=", 0o640])
def test_good_modes_in_every_form_are_taken(run_module, tmp_path, keys, mode):
    failed, result = run(run_module, tmp_path, keys["A"]["bin"], [keys["A"]["fpr"]], mode=mode)
    assert not failed, result
    assert oct((tmp_path / "keyrings" / "vendor.gpg").stat().st_mode & 0o777) == "0o640"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/key", "http://host/key\nx",
                                 "http://exa mple.org/key", "https://example.org:99999/key"])
def test_url_that_is_not_http_is_refused(run_module, tmp_path, keys, url):
    failed, result = run_module(apt_signing_key, {"url": url, "fingerprints": [keys["A"]["fpr"]],
                                                  "dest": str(tmp_path / "vendor.gpg")})
    assert failed and result["msg"].startswith("url must be "), result
    assert "https://" in result["msg"] or "single line" in result["msg"]
    assert not (tmp_path / "vendor.gpg").exists()


def test_symlinked_dest_is_written_through_and_the_link_stays(run_module, tmp_path, keys):
    (tmp_path / "keyrings").mkdir()
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "vendor.gpg"
    target.write_bytes(keys["C"]["bin"])
    target.chmod(0o600)
    link = tmp_path / "keyrings" / "vendor.gpg"
    link.symlink_to("../real/vendor.gpg")
    failed, result = run(run_module, tmp_path, keys["A"]["bin"], [keys["A"]["fpr"]])
    assert not failed and result["changed"], result
    assert link.is_symlink() and os.readlink(link) == "../real/vendor.gpg"
    assert [k.fingerprint for k in listing(target)] == [keys["A"]["fpr"]]
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert sorted(os.listdir(tmp_path / "real")) == ["vendor.gpg"]  # no temp file left beside the target
    failed, result = run(run_module, tmp_path, keys["A"]["bin"], [keys["A"]["fpr"]])
    assert not failed and not result["changed"] and link.is_symlink()


@pytest.mark.parametrize(("make", "needle"), [
    (lambda link, tmp: link.symlink_to(tmp / "missing" / "vendor.gpg"), "dangling link"),
    (lambda link, tmp: (link.symlink_to(tmp / "other"), (tmp / "other").symlink_to(link)), "symlink loop"),
    (lambda link, tmp: link.symlink_to("/dev/null"), "character device (through the link to /dev/null)"),
])
def test_symlinked_dest_that_leads_nowhere_regular_is_refused(run_module, tmp_path, keys, make, needle):
    (tmp_path / "keyrings").mkdir()
    make(tmp_path / "keyrings" / "vendor.gpg", tmp_path)
    (tmp_path / "download.key").write_bytes(keys["A"]["bin"])
    before = tree(tmp_path)
    failed, result = run(run_module, tmp_path, keys["A"]["bin"], [keys["A"]["fpr"]])
    assert failed and needle in result["msg"], result
    assert tree(tmp_path) == before


def test_keyrings_are_all_checked_before_the_first_is_written(run_module, tmp_path, keys):
    """keyrings: two keys in one step; the second wrong leaves the first keyring unwritten too (real gpg)."""
    (tmp_path / "keyrings").mkdir()
    (tmp_path / "a.key").write_bytes(keys["A"]["asc"])
    (tmp_path / "b.key").write_bytes(keys["B"]["asc"])
    first = {"src": str(tmp_path / "a.key"), "fingerprints": [keys["A"]["fpr"]],
             "dest": str(tmp_path / "keyrings/a.gpg"), "name": "CUDA key"}
    wrong = {"src": str(tmp_path / "b.key"), "fingerprints": [keys["C"]["fpr"]],
             "dest": str(tmp_path / "keyrings/b.gpg"), "name": "toolkit key", "hint": "Set the pin."}
    failed, result = run_module(apt_signing_key, {"keyrings": [first, wrong]})
    assert failed and result["msg"].startswith("Refusing the toolkit key from ") and "Set the pin." in result["msg"]
    assert result["msg"].endswith("The keyrings listed before it were not written either.")
    assert os.listdir(tmp_path / "keyrings") == []
    right = {**wrong, "fingerprints": [keys["B"]["fpr"]]}
    failed, result = run_module(apt_signing_key, {"keyrings": [first, right]})
    assert not failed and result["changed"] and [r["changed"] for r in result["results"]] == [True, True]
    assert [k.fingerprint for k in listing(tmp_path / "keyrings/b.gpg")] == [keys["B"]["fpr"]]
    failed, result = run_module(apt_signing_key, {"keyrings": [first, right]})
    assert not failed and not result["changed"]


def test_keyrings_entry_needs_one_source_and_excludes_the_single_options(run_module, tmp_path, keys):
    entry = {"fingerprints": [keys["A"]["fpr"]], "dest": str(tmp_path / "a.gpg")}
    failed, result = run_module(apt_signing_key, {"keyrings": [entry]})
    assert failed and "needs exactly one of url and src" in result["msg"]
    failed, result = run_module(apt_signing_key, {"keyrings": [{**entry, "src": "/x"}], "dest": str(tmp_path / "b")})
    assert failed and "mutually exclusive" in result["msg"]
    failed, result = run_module(apt_signing_key, {"src": "/x"})
    assert failed and "fingerprints is required" in result["msg"]
