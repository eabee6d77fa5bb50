#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: apt_signing_key
short_description: Install an apt repository's signing key as a Signed-By keyring, only if it is the pinned key
version_added: 0.1.0
description:
  - Reads an OpenPGP key file from O(url) or O(src), imports it into a throwaway GnuPG home (C(gpg --batch))
    and checks what gpg accepted against the pinned primary-key O(fingerprints).
  - Refuses, and writes nothing, when a pinned fingerprint is not in the file, when the file holds primary
    keys that are not pinned (it names them), when a pinned key is revoked or expired, or when the file is
    not an OpenPGP key at all (junk, HTML, empty).
  - Installs C(gpg --export) of the pinned keys, not the downloaded bytes, so only what gpg validated
    reaches the keyring; a subkey without its binding signature, a user ID without a self-signature, or
    any other packet gpg dropped never lands in O(dest).
  - Writes through a temporary file in the directory of O(dest) and an atomic rename, only when the
    exported bytes differ from the current file; a file is never half-written.
  - With check mode the key is still downloaded and checked, so a wrong key fails in check mode too;
    nothing is written.
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - homelab.nvidia_gpu.attributes.config_file
options:
  url:
    description:
      - Where to download the key file (ASCII-armored or binary), an C(https://) or C(http://) URL. TLS certificates
        are always verified.
      - Exactly one of O(url) and O(src) is required.
    type: str
  src:
    description:
      - A key file already on the managed host, instead of O(url). It must be a regular file (a link to one is
        followed); a FIFO, a device or a directory is refused without being read.
    type: path
  fingerprints:
    description:
      - The full fingerprints of the primary keys the file must hold, checked out of band. Spaces and case
        do not matter; a C(0x) prefix is dropped. 40 hexadecimal digits for a v4 key (64 for v5/v6).
      - The file must hold exactly these primary keys, no other.
      - Required unless O(keyrings) is given.
    type: list
    elements: str
  dest:
    description:
      - The keyring to write, the path apt's C(Signed-By) names. Must be absolute; its directory must exist
        (except in check mode). Required unless O(keyrings) is given.
      - A symlinked O(dest) is written through its link, as the collection's config-file modules do - the target
        changes and the link stays; O(mode), O(owner) and O(group) apply to the target. A dangling link, a link
        loop and anything that is not a regular file (a FIFO, a device, a directory) are refused.
    type: path
  keyrings:
    description:
      - Several keyrings in one step, in place of O(url)/O(src), O(fingerprints) and O(dest) - each entry has
        those four (one of C(url) and C(src)) and may have its own C(name) and C(hint); O(armor), O(mode),
        O(owner), O(group) and O(timeout) apply to all.
      - Every key is downloaded and checked before the first keyring is written, so one wrong key leaves every
        keyring as it was.
    type: list
    elements: dict
    suboptions:
      url:
        description: As O(url).
        type: str
      src:
        description: As O(src).
        type: path
      fingerprints:
        description: As O(fingerprints).
        type: list
        elements: str
        required: true
      dest:
        description: As O(dest).
        type: path
        required: true
      name:
        description: As O(name).
        type: str
      hint:
        description: As O(hint).
        type: str
  armor:
    description:
      - Write an ASCII-armored keyring instead of a binary one. apt reads both; a binary keyring suits a
        C(.gpg) name, an armored one a C(.asc) name.
    type: bool
    default: false
  mode:
    description:
      - Permissions of O(dest), as for M(ansible.builtin.file) (octal or symbolic).
      - Checked, with O(owner) and O(group), before anything is downloaded or written - a bad mode or an unknown
        user leaves O(dest) as it was.
    type: raw
    default: "0644"
  owner:
    description:
      - Owner of O(dest); unset keeps the owner of an existing file (a new file belongs to the user running the module).
    type: str
  group:
    description:
      - Group of O(dest); unset keeps the group of an existing file.
    type: str
  timeout:
    description:
      - Seconds allowed for the whole download (connecting and reading the body), and for each gpg run; 1 or more.
    type: int
    default: 30
  name:
    description:
      - What the key is called in messages, as in V(Refusing the Docker key from ...).
    type: str
    default: key
  hint:
    description:
      - A sentence appended to refusal messages, for example which variable to set if the vendor rotated its key.
    type: str
    default: ""
requirements:
  - gpg (GnuPG 2.2 or later) on the managed host
notes:
  - apt reads keyrings when it verifies a Release file; run C(apt-get update) when RV(ignore:changed) is true.
seealso:
  - module: ansible.builtin.deb822_repository
"""

EXAMPLES = r"""
- name: NVIDIA's two keys, both checked before either keyring is written
  homelab.nvidia_gpu.apt_signing_key:
    keyrings:
      - url: https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/3bf863cc.pub
        fingerprints: [EB693B3035CD5710E231E123A4B469963BF863CC]
        dest: /etc/apt/keyrings/nvidia-cuda.gpg
        name: CUDA key
      - url: https://nvidia.github.io/libnvidia-container/gpgkey
        fingerprints: [C95B321B61E88C1809C4F759DDCAE044F796ECB0]
        dest: /etc/apt/keyrings/nvidia-container-toolkit.gpg
        name: Container Toolkit key

- name: Docker's key is checked against its pinned fingerprint and installed as a keyring
  homelab.nvidia_gpu.apt_signing_key:
    url: https://download.docker.com/linux/debian/gpg
    fingerprints: ["9DC8 5822 9FC7 DD38 854A  E2D8 8D81 803C 0EBF CD88"]
    dest: /etc/apt/keyrings/docker.gpg
    name: Docker key
  register: docker_key

- name: A key file already on the host is installed armored
  homelab.nvidia_gpu.apt_signing_key:
    src: /root/vendor.asc
    fingerprints: [0123456789ABCDEF0123456789ABCDEF01234567]
    dest: /etc/apt/keyrings/vendor.asc
    armor: true
"""

RETURN = r"""
results:
  description: With O(keyrings), each keyring's RV(dest), RV(fingerprints), RV(keys) and C(changed), in order.
  returned: with O(keyrings)
  type: list
  elements: dict
dest:
  description: The keyring path.
  returned: without O(keyrings)
  type: str
  sample: /etc/apt/keyrings/docker.gpg
fingerprints:
  description: Fingerprints of the primary keys installed (or, in check mode, that would be).
  returned: success
  type: list
  elements: str
  sample: [9DC858229FC7DD38854AE2D88D81803C0EBFCD88]
keys:
  description: Each installed key as gpg read it.
  returned: success
  type: list
  elements: dict
  contains:
    fingerprint:
      description: Primary key fingerprint.
      type: str
    uids:
      description: User IDs with a valid self-signature.
      type: list
      elements: str
    expires:
      description: Expiry of the primary key in seconds since the epoch, null when it does not expire.
      type: int
    subkeys:
      description: Subkeys with a valid binding signature (fingerprint, expires).
      type: list
      elements: dict
  sample:
    - fingerprint: 9DC858229FC7DD38854AE2D88D81803C0EBFCD88
      uids: ["Docker Release (CE deb) <docker@docker.com>"]
      expires: null
      subkeys: [{fingerprint: D3306A018370199E527AE7317EA0A9C3F273FCD8, expires: null}]
"""

import contextlib
import grp
import hashlib
import os
import pwd
import shutil
import stat
import tempfile
import time
from types import SimpleNamespace

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.urls import fetch_url
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _commands, _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _config_files as cf
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _signing_keys as sk

MAX_BYTES = 4 * 1024 * 1024  # a key file is kilobytes; anything this big is not one
CHUNK = 64 * 1024


class Refused(Exception):
    """The module fails with this sentence; nothing was written."""


def read_src(src: str) -> bytes:
    """The bytes of a key file on the host. Opened without blocking and refused unless it is a regular file: a FIFO
    would otherwise block the module forever, whatever its timeout, and a device would be read as a key."""
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise Refused(f"cannot read the key file {src}: {exc.strerror or exc}") from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((k for test, k in cf._FILE_KINDS if test(mode)), "special file")
            raise Refused(f"the key file {src} is a {kind}, not a regular file; refusing to read it")
        chunks, size = [], 0
        while size <= MAX_BYTES:
            chunk = os.read(fd, CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise Refused(f"cannot read the key file {src}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def _socket_timeout(resp, seconds: float) -> None:
    """A read waits no longer than what is left of the download's time (where the socket can be reached)."""
    with contextlib.suppress(AttributeError, OSError):
        resp.fp.raw._sock.settimeout(max(seconds, 0.05))


def download(module: AnsibleModule, url: str, timeout: int) -> bytes:
    """The body at ``url``, within ``timeout`` seconds in all: a server that sends a byte now and then cannot keep
    the module waiting longer than that."""
    name = module.params["name"]
    deadline = time.monotonic() + timeout
    resp, info = fetch_url(module, url, timeout=timeout, method="GET")
    if resp is None or info.get("status") != 200:
        raise Refused(f"cannot download the {name} from {url}: "
                      f"HTTP {info.get('status')} {info.get('msg', '')}".rstrip())
    chunks, size = [], 0
    read = getattr(resp, "read1", None) or resp.read  # read1: what has arrived, so the deadline is checked often
    try:
        while size <= MAX_BYTES:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Refused(f"cannot download the {name} from {url}: not done within the timeout of {timeout} s")
            _socket_timeout(resp, left)
            chunk = read(min(CHUNK, MAX_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except Refused:
        raise
    except TimeoutError as exc:  # socket.timeout: the time left ran out inside one read
        raise Refused(f"cannot download the {name} from {url}: not done within the timeout of {timeout} s") from exc
    except Exception as exc:  # a reset in the middle of the body
        raise Refused(f"cannot download the {name} from {url}: {to_native(exc)}") from exc
    finally:
        with contextlib.suppress(Exception):
            resp.close()
    return b"".join(chunks)


def read_source(module: AnsibleModule) -> tuple[bytes, str]:
    """(bytes, where from) of the key file."""
    url, src = module.params["url"], module.params["src"]
    if src:
        data, where = read_src(src), src
    else:
        data, where = download(module, url, module.params["timeout"]), url
    if len(data) > MAX_BYTES:
        raise Refused(f"{where} is larger than {MAX_BYTES} bytes: not a key file")
    return data, where


def check_mode_value(mode) -> None:
    """Refuse a mode that set_mode_if_different would refuse only after the keyring was written."""
    if mode is None:
        return
    if isinstance(mode, bool):
        number = -1
    elif isinstance(mode, int):
        number = mode
    else:
        text = str(mode).strip()
        try:
            number = int(text, 8)
        except ValueError:
            fake = SimpleNamespace(st_mode=stat.S_IFREG | 0o644)
            try:
                number = AnsibleModule._symbolic_mode_to_octal(fake, text)
            except Exception:  # Ansible raises plain errors on a bad symbolic mode
                number = -1
    if not 0 <= number <= 0o7777:
        raise Refused(f"mode must be an octal mode such as '0644' or a symbolic one such as 'u=rw,go=r', not "
                      f"{mode!r}")


def check_owner(value, kind: str) -> None:
    if value is None:
        return
    text = str(value)
    if text.isdigit():
        return
    try:
        (pwd.getpwnam if kind == "owner" else grp.getgrnam)(text)
    except KeyError:
        what = "user" if kind == "owner" else "group"
        raise Refused(f"{kind} {text!r} is no {what} on this host") from None


def check_params(module: AnsibleModule) -> tuple[str, list[str]]:
    """Every option checked before anything is read, downloaded or written: (the real keyring path, the pinned
    fingerprints)."""
    params = module.params
    dest = params["dest"]
    if not os.path.isabs(dest):
        raise Refused(f"dest must be an absolute path (apt's Signed-By needs one), got {dest!r}")
    if params["url"] is not None:
        try:
            _values.url(params["url"], "url")
        except _values.ValueProblem as exc:
            raise Refused(str(exc)) from exc
    if not isinstance(params["timeout"], int) or params["timeout"] < 1:
        raise Refused(f"timeout must be 1 second or more, not {params['timeout']!r}")
    check_mode_value(params["mode"])
    check_owner(params["owner"], "owner")
    check_owner(params["group"], "group")
    try:
        pinned = sk.normalise_fingerprints(params["fingerprints"])
    except sk.BadFingerprint as exc:
        raise Refused(str(exc)) from exc
    if os.path.isdir(dest):
        raise Refused(f"dest {dest} is a directory; name the keyring file")
    try:
        real = cf.resolve(dest)  # through a symlink, as the config-file modules write; a FIFO or a device refused
    except cf.ConfigFileError as exc:
        raise Refused(f"dest {exc}") from exc
    return real, pinned


class Gpg:
    """gpg in a throwaway home directory, each run with a time limit."""

    def __init__(self, binary: str, timeout: int) -> None:
        self.binary = binary
        self.timeout = timeout
        self.home = tempfile.mkdtemp(prefix="apt_signing_key.")  # short path: gpg's sockets live under it

    def run(self, *args: str) -> tuple[int, str, str]:
        argv = [self.binary, "--batch", "--no-tty", "--homedir", self.home, *args]
        try:
            return _commands.run(argv, timeout=self.timeout)
        except (_commands.CommandTimeout, _commands.CommandNotRunnable) as exc:
            raise Refused(str(exc)) from exc

    def path(self, name: str) -> str:
        return os.path.join(self.home, name)

    def listing(self, *args: str) -> list[sk.Key]:
        # gpg may exit non-zero for one unreadable packet yet list the keys it read; the listing decides.
        _rc, out, _err = self.run("--with-colons", "--fixed-list-mode", *args)
        return sk.parse_colons(out)

    def close(self) -> None:
        gpgconf = shutil.which("gpgconf")
        if gpgconf:  # an agent or keyboxd started for this home would otherwise outlive it
            with contextlib.suppress(_commands.CommandTimeout, _commands.CommandNotRunnable):
                _commands.run([gpgconf, "--homedir", self.home, "--kill", "all"], timeout=10)
        shutil.rmtree(self.home, ignore_errors=True)


def describe(keys: list[sk.Key], data: bytes | None) -> str:
    """A text summary of a keyring for diff mode."""
    if data is None:
        return ""
    lines = [] if keys else [f"(not an OpenPGP keyring gpg can read, {len(data)} bytes)"]
    for key in keys:
        lines.append(f"pub {key.fingerprint} expires {key.expires or 'never'}")
        lines += [f"  uid {uid}" for uid in key.uids]
        lines += [f"  sub {s.fingerprint} expires {s.expires or 'never'}" for s in key.subkeys]
    lines.append(f"sha256 {hashlib.sha256(data).hexdigest()}")
    return "\n".join(lines) + "\n"


def write_atomic(module: AnsibleModule, dest: str, data: bytes) -> None:
    """Temp file in the same directory, fsync, rename: readers see the old file or the new one. ``dest`` is the
    real file (a symlink already resolved), so the link stays and its target changes."""
    directory = os.path.dirname(dest)
    if not os.path.isdir(directory):
        raise Refused(f"the directory of {dest} does not exist; create it first")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(dest)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        module.atomic_move(tmp, dest, unsafe_writes=False)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_current(dest: str) -> bytes | None:
    """The current keyring (``dest`` is a regular file or nothing, see ``cf.resolve``)."""
    try:
        with open(dest, "rb") as handle:
            return handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise Refused(f"cannot read the current keyring {dest}: {exc.strerror or exc}") from exc


def apply_attributes(module: AnsibleModule, dest: str, changed: bool) -> bool:
    params = module.params
    changed = module.set_mode_if_different(dest, params["mode"], changed)
    changed = module.set_owner_if_different(dest, params["owner"], changed)
    return module.set_group_if_different(dest, params["group"], changed)


def check_one(module: AnsibleModule) -> tuple[dict, str, bytes]:
    """Download (or read) and check one key against its pins: (the result, the real keyring path, gpg's export of the
    pinned keys). Nothing is written."""
    params = module.params
    dest = params["dest"]
    real, pinned = check_params(module)
    binary = module.get_bin_path("gpg")
    if not binary:
        raise Refused("gpg is not installed on the host: install the gpg package first, it checks the key")

    data, where = read_source(module)
    nothing = f"Nothing was trusted: {dest} was not written."
    hint = f" {params['hint']}" if params["hint"] else ""

    gpg = Gpg(binary, params["timeout"])
    try:
        with open(gpg.path("input"), "wb") as handle:
            handle.write(data)
        _rc, _out, err = gpg.run("--import", gpg.path("input"))
        keys = gpg.listing("--list-keys")
        verdict = sk.decide(keys, pinned, now=int(time.time()))
        if not verdict.ok:
            detail = f" (gpg: {err.strip().splitlines()[-1]})" if not keys and err.strip() else ""
            raise Refused(f"Refusing the {params['name']} from {where}: {verdict.reason}{detail}. {nothing}{hint}")

        export_args = ["--armor"] if params["armor"] else []
        rc, _out, err = gpg.run(*export_args, "--output", gpg.path("export"), "--export", *pinned)
        try:
            with open(gpg.path("export"), "rb") as handle:
                exported = handle.read()
        except OSError:
            exported = b""
        if rc != 0 or not exported:
            raise Refused(f"gpg could not export the checked {params['name']} ({err.strip()}). {nothing}")

        current = read_current(real)
        changed = current != exported
        result = {
            "changed": changed,
            "dest": dest,
            "fingerprints": [k.fingerprint for k in verdict.accepted],
            "keys": [k.summary() for k in verdict.accepted],
        }
        if module._diff:
            before_keys = gpg.listing("--show-keys", real) if current else []
            result["diff"] = {
                "before_header": dest, "after_header": dest,
                "before": describe(before_keys, current), "after": describe(verdict.accepted, exported),
            }
    finally:
        gpg.close()

    return result, real, exported


def finish(module: AnsibleModule, checked: tuple[dict, str, bytes]) -> dict:
    """Write a checked keyring where it differs (not in check mode) and set its mode and owners."""
    result, real, exported = checked
    if result["changed"] and not module.check_mode:
        write_atomic(module, real, exported)
    if os.path.exists(real):
        result["changed"] = apply_attributes(module, real, result["changed"])
    return result


def run_module(module: AnsibleModule) -> dict:
    """One keyring (O(url) or O(src), O(fingerprints), O(dest)), or every one of O(keyrings): all of them downloaded
    and checked before the first is written."""
    if not module.params["keyrings"]:
        for option in ("fingerprints", "dest"):
            if module.params[option] is None:
                raise Refused(f"{option} is required (or list every keyring in keyrings)")
        return finish(module, check_one(module))
    shared = dict(module.params)
    checked = []
    for number, entry in enumerate(shared["keyrings"]):
        if bool(entry.get("url")) == bool(entry.get("src")):
            raise Refused(f"keyrings[{number}] needs exactly one of url and src. Nothing was written.")
        module.params = {**shared, **{k: entry.get(k) for k in KEYRING_OPTIONS}, "keyrings": None}
        module.params["name"] = entry.get("name") or shared["name"]
        module.params["hint"] = entry.get("hint") or shared["hint"]
        try:
            checked.append((dict(module.params), check_one(module)))
        except Refused as exc:
            if number == 0:
                raise
            raise Refused(f"{exc} The keyrings listed before it were not written either.") from exc
    results = []
    for params, one in checked:
        module.params = params
        results.append(finish(module, one))
    module.params = shared
    return {"changed": any(r["changed"] for r in results), "results": results,
            **({"diff": [r["diff"] for r in results if "diff" in r]} if module._diff else {})}


KEYRING_OPTIONS = ("url", "src", "fingerprints", "dest")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str"},
            "src": {"type": "path"},
            "fingerprints": {"type": "list", "elements": "str"},
            "dest": {"type": "path"},
            "keyrings": {"type": "list", "elements": "dict", "no_log": False, "options": {  # keys are public
                "url": {"type": "str"}, "src": {"type": "path"},
                "fingerprints": {"type": "list", "elements": "str", "required": True},
                "dest": {"type": "path", "required": True},
                "name": {"type": "str"}, "hint": {"type": "str"}}},
            "armor": {"type": "bool", "default": False},
            "mode": {"type": "raw", "default": "0644"},
            "owner": {"type": "str"},
            "group": {"type": "str"},
            "timeout": {"type": "int", "default": 30},
            "name": {"type": "str", "default": "key"},
            "hint": {"type": "str", "default": ""},
        },
        mutually_exclusive=[("url", "src", "keyrings"), ("keyrings", "fingerprints"), ("keyrings", "dest")],
        required_one_of=[("url", "src", "keyrings")],
        supports_check_mode=True,
    )
    try:
        result = run_module(module)
    except Refused as exc:
        module.fail_json(msg=str(exc), dest=module.params.get("dest"))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
