# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`apt-cache policy P1 P2 ...` read as data (pure): installed version, candidate and every known version.

One command answers for many packages, so the roles ask apt once instead of once per package, and the
pins and holds apt applies are already in the candidate it prints.
"""

from __future__ import annotations

import fnmatch
import re

NONE = "(none)"
_HEADER = re.compile(r"^(\S+):$")
_FIELD = re.compile(r"^ {2}(Installed|Candidate): (\S+)$")
_VERSION = re.compile(r"^ (?:\*\*\*| {3}) (\S+) -?\d+$")


def parse(text: str, wanted: list[str] | tuple[str, ...] = ()) -> dict[str, dict]:
    """{package: {installed: version or '', candidate: version or '(none)', versions: [..]}}.

    Every name in ``wanted`` is in the result; one apt does not know gets no installed version and
    candidate ``(none)``.
    """
    found: dict[str, dict] = {}
    current = None
    for line in str(text or "").splitlines():
        header = _HEADER.match(line)
        if header:
            current = found.setdefault(header.group(1), {"installed": "", "candidate": NONE, "versions": []})
            continue
        if current is None:
            continue
        field = _FIELD.match(line)
        if field:
            value = field.group(2)
            if field.group(1) == "Installed":
                current["installed"] = "" if value == NONE else value
            else:
                current["candidate"] = value
            continue
        version = _VERSION.match(line)
        if version and version.group(1) not in current["versions"]:
            current["versions"].append(version.group(1))
    for name in wanted:
        found.setdefault(name, {"installed": "", "candidate": NONE, "versions": []})
    return found


def upstream_version(version: str) -> str:
    """The upstream part of a Debian version: no epoch, no Debian revision (1:580.95.05-1 -> 580.95.05)."""
    version = re.sub(r"^[0-9]+:", "", str(version or ""))
    return re.sub(r"-[^-]*$", "", version)


# What `dpkg-query -W -f="$DPKG_QUERY_FORMAT" -- P1 P2 ...` prints, one line per package instance.
DPKG_QUERY_FORMAT = "${db:Status-Abbrev}\\t${Package}\\t${Version}\\n"
_SPEC = re.compile(r"^([a-z0-9][a-z0-9+.-]*)(?:=(\S+))?$")


def dpkg_query_argv(packages: list[str]) -> list[str]:
    """The dpkg-query command line that prints PACKAGES' state in DPKG_QUERY_FORMAT (names only, no versions).

    It exits 1 when dpkg knows some name not at all: the caller treats rc 1 as an answer, not a failure.
    """
    names = [re.split(r"[=<>:]", str(name), maxsplit=1)[0] for name in packages]
    if not names:
        raise ValueError("dpkg-query needs at least one package name (without one it lists every package)")
    return ["dpkg-query", "-W", "-f=" + DPKG_QUERY_FORMAT, "--", *dict.fromkeys(names)]


def _dpkg_rows(text: str):
    """(status abbreviation, package, version) for each line of dpkg-query's output in DPKG_QUERY_FORMAT."""
    for line in str(text or "").splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            yield parts[0], parts[1], parts[2]


def installed_versions(text: str) -> dict[str, list[str]]:
    """{package: [installed versions]} from dpkg-query's output in DPKG_QUERY_FORMAT.

    Installed means dpkg's status is "installed" (second letter ``i``) with no reinstall-required flag:
    config-files only (``rc``), half-installed or unpacked packages do not count.
    """
    found: dict[str, list[str]] = {}
    for abbrev, name, version in _dpkg_rows(text):
        if len(abbrev) >= 2 and abbrev[1] == "i" and "R" not in abbrev[2:] and version:
            found.setdefault(name, []).append(version)
    return found


def status(text: str, packages: list[str] | tuple[str, ...]) -> dict[str, str]:
    """{package: dpkg's status abbreviation and version, "hi 1.18.1-1"} for each name; "" when dpkg has none.

    The first letter is the selection (``h`` held, ``i`` install), the second the state (``i`` installed).
    """
    found: dict[str, str] = {}
    for abbrev, name, version in _dpkg_rows(text):
        found.setdefault(name, abbrev + version)
    return {str(name): found.get(str(name), "") for name in packages}


def unsatisfied(text: str, specs: list[str] | tuple[str, ...]) -> list[str]:
    """The specs that ``apt: state=present`` would act on, given dpkg-query's output.

    A spec is ``name`` (any installed version satisfies it), ``name=version`` (that version) or
    ``name=glob`` (a version matching it, as the apt module matches ``580.*``). A spec this does not
    understand (``name>=1``, an architecture) is reported unsatisfied, so apt decides: skipping apt is
    only ever an answer for packages already there.
    """
    installed = installed_versions(text)
    left = []
    for spec in specs:
        match = _SPEC.match(str(spec))
        if not match:
            left.append(spec)
            continue
        name, version = match.groups()
        versions = installed.get(name, [])
        if not any(version is None or fnmatch.fnmatchcase(have, version) for have in versions):
            left.append(spec)
    return left


def split_spec(spec: str) -> tuple[str, str | None]:
    """(name, version or glob or None) of a package spec ``name`` or ``name=version``; ValueError otherwise."""
    match = _SPEC.match(str(spec))
    if not match:
        raise ValueError(
            f"{spec!r} is not a package spec: a Debian package name, optionally followed by =version or =glob "
            "(such as cuda-drivers=580.*)"
        )
    return match.group(1), match.group(2)


def package_actions(dpkg_text: str, specs: list[str], state: str = "present", hold: bool | None = None,
                    purge: bool = False) -> dict[str, list[str]]:
    """What an apt run must still do for SPECS, given dpkg-query's output (DPKG_QUERY_FORMAT).

    ``install``: the specs dpkg does not satisfy (state present); ``remove``: the names installed, or with PURGE
    also left as config files (state absent); ``hold``: the names not yet held, with HOLD true; ``unhold``: the names
    held, with HOLD false (HOLD None leaves holds as they are). Every list empty means a no-op.
    """
    for spec in specs:
        split_spec(spec)
    names = list(dict.fromkeys(split_spec(spec)[0] for spec in specs))
    states = status(dpkg_text, names)
    if state == "absent":
        remove = [name for name in names if states[name][1:2] not in ("", "n", "c")]
        if purge:
            remove += [name for name in names if states[name][1:2] == "c"]
        return {"install": [], "remove": remove, "hold": [], "unhold": []}
    install = unsatisfied(dpkg_text, specs)
    to_hold = [name for name in names if hold is True and not states[name].startswith("h")]
    to_unhold = [name for name in names if hold is False and states[name].startswith("h")]
    return {"install": install, "remove": [], "hold": to_hold, "unhold": to_unhold}


def resolve_versions(specs: list[str], policy_text: str) -> list[str]:
    """SPECS with every version glob replaced by the newest version apt knows that matches it.

    ``apt-cache policy`` lists a package's versions newest first. A name apt does not know, or a glob no known
    version matches, is a ValueError that names what apt knows.
    """
    names = [split_spec(spec)[0] for spec in specs]
    policy = parse(policy_text, names)
    resolved = []
    for spec in specs:
        name, version = split_spec(spec)
        known = policy[name]["versions"]
        if not known and policy[name]["candidate"] == NONE:
            raise ValueError(
                f"apt knows no package {name}: is the repository that carries it configured, and its lists updated?"
            )
        if version is None or not any(ch in version for ch in "*?["):
            resolved.append(spec)
            continue
        matching = [have for have in known if fnmatch.fnmatchcase(have, version)]
        if not matching:
            raise ValueError(f"no version of {name} matches {version}: apt knows {', '.join(known) or 'none'}")
        resolved.append(f"{name}={matching[0]}")
    return resolved


APT_GET_OPTIONS = ("-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
                   "-o", "DPkg::Lock::Timeout=300")


def apt_get_argv(action: str, packages: list[str], install_recommends: bool = False, allow_downgrade: bool = False,
                 allow_change_held_packages: bool = False) -> list[str]:
    """The apt-get command line that installs, removes or purges PACKAGES, unattended."""
    if action not in ("install", "remove", "purge"):
        raise ValueError(f"apt-get action {action!r} is not install, remove or purge")
    argv = ["apt-get", action, "-y", "-q", *APT_GET_OPTIONS]
    if action == "install":
        argv.append("--install-recommends" if install_recommends else "--no-install-recommends")
        if allow_downgrade:
            argv.append("--allow-downgrades")
    if allow_change_held_packages:
        argv.append("--allow-change-held-packages")
    return [*argv, "--", *packages]
