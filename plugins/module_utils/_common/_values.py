# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one rule for every value that leaves the inventory or Python for a file, a unit or a command line.

Two halves, both pure and standard library only (module_utils: filters on the controller and modules on the host
import it alike):
- checks where a value enters: ``port``, ``boolean``, ``integer``, ``finite``, ``single_line``, ``word``,
  ``string_list``, ``hostname``, ``ip_address``, ``listen_address``, ``absolute_path``, ``url``, ``cidr`` and
  ``address_list``. Each takes the value and the variable's name, returns the value in its one safe form, or raises
  ``ValueProblem`` with a sentence that names the variable and says what was given and what is wanted;
- quoting for where it goes: ``systemd_word``/``systemd_exec`` (a unit's command line), ``systemd_value`` (a unit's
  other settings), ``deb822_value``/``deb822_words`` (apt's sources and preferences), ``prometheus_label`` (the
  text exposition format), ``markdown_cell`` (a report's table), ``nft_set`` (an nftables set of addresses).

Nothing here converts with ``str()`` or ``int()`` outside a try: the sentence names the variable, never a Python
type. Strings that came from bytes that were not UTF-8 (surrogate escapes) are refused as text, and a line break
is any of what Python's ``str.splitlines`` breaks on (the Unicode separators U+2028 and U+2029, U+0085 included),
since sshd, apt and systemd each split on some of them.
"""

from __future__ import annotations

import ipaddress
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit


class ValueProblem(ValueError):
    """A value that cannot be made safe for where it goes; the message names the variable."""


_TRUE = ("true", "yes", "on", "1", "y")
_FALSE = ("false", "no", "off", "0", "n", "")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def boolean(value: Any, name: str) -> bool:
    """True or False; the strings that Ansible reads as booleans (``-e x=false`` arrives as "false") are read as
    such, anything else (a list, 2, "maybe") is refused instead of being truthy."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueProblem(f"{name} must be true or false, not {_shown(value)}")


def integer(value: Any, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number within [minimum, maximum]: an int or a string of digits; never a boolean or a float."""
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif (isinstance(value, str) and re.fullmatch(r" *[+-]?[0-9]{1,19} *", value)) or (
            isinstance(value, float) and math.isfinite(value) and value.is_integer()):
        number = int(value)
    low = "" if minimum is None else f" of {minimum} or more"
    high = "" if maximum is None else f" up to {maximum}"
    if number is None or (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ValueProblem(f"{name} must be a whole number{low}{high}, not {_shown(value)}")
    return number


def port(value: Any, name: str) -> int:
    """A TCP/UDP port, 1-65535 (0 would let the kernel pick one, which no firewall or client can know)."""
    try:
        return integer(value, name, 1, 65535)
    except ValueProblem:
        raise ValueProblem(f"{name} must be a port between 1 and 65535, not {_shown(value)}") from None


def finite(value: Any, name: str, minimum: float | None = None) -> float:
    """A finite real number (no inf, no nan, nothing that overflows a float)."""
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = None
    elif isinstance(value, str) and len(value) < 64:
        try:
            number = float(value)
        except (ValueError, OverflowError):
            number = None
    if number is None or not math.isfinite(number) or (minimum is not None and number < minimum):
        low = "" if minimum is None else f" of {minimum:g} or more"
        raise ValueProblem(f"{name} must be a finite number{low}, not {_shown(value)}")
    return number


_BIDI = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")  # reads one way, means another


def _bad_char(text: str) -> str | None:
    """The first character of ``text`` that no single-line value may hold, or None."""
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in _BIDI:
            return char
    return None


def single_line(value: Any, name: str, allow_empty: bool = False, max_length: int = 4096) -> str:
    """Text of one line: a string (an int is taken as its digits) with no line break, no control character, no
    bidirectional override and no byte that was not UTF-8."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueProblem(f"{name} must be a string, not {_shown(value)}")
    text = str(value)
    bad = _bad_char(text)
    if bad is not None:
        what = "a byte that is not UTF-8" if unicodedata.category(bad) == "Cs" else f"the character U+{ord(bad):04X}"
        raise ValueProblem(f"{name} must be a single line of text; it holds {what}: {_shown(text)}")
    if not allow_empty and not text.strip():
        raise ValueProblem(f"{name} must not be empty")
    if len(text) > max_length:
        raise ValueProblem(f"{name} is {len(text)} characters long; at most {max_length} are taken")
    return text


def word(value: Any, name: str, pattern: str = r"[A-Za-z0-9][A-Za-z0-9_.+:@~-]*",
         what: str = "letters, digits and . _ + : @ ~ -") -> str:
    """One word of a fixed shape (a package name, a component, a user): no space, nothing a file format or a shell
    would read as syntax."""
    text = single_line(value, name)
    if not re.fullmatch(pattern, text):
        raise ValueProblem(f"{name} must be one word of {what}, not {_shown(text)}")
    return text


def string_list(value: Any, name: str, item: Any = None, allow_empty: bool = True) -> list[str]:
    """A list of strings. A single string is refused rather than read letter by letter (a group name given where
    its hosts belong); ``item(value, name)`` checks each entry (default: ``single_line``)."""
    check = item or single_line
    if value is None:
        value = []
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise ValueProblem(f"{name} must be a list, not {_shown(value)} (a single string is not read as a list:"
                           f" write [{_shown(value)}])" if isinstance(value, str) else
                           f"{name} must be a list, not {_shown(value)}")
    out = [check(entry, f"{name}[{index}]") for index, entry in enumerate(value)]
    if not allow_empty and not out:
        raise ValueProblem(f"{name} must not be empty")
    return out


_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def ip_address(value: Any, name: str, version: int | None = None) -> str:
    """An IP address in its canonical form (IPv6 without brackets)."""
    text = single_line(value, name) if not isinstance(value, int) or isinstance(value, bool) else "not-an-address"
    try:  # a scope ID (fe80::1%eth0) is refused: ipaddress takes any text after % (spaces, braces, quotes)
        address = None if "%" in text else ipaddress.ip_address(
            text.strip().strip("[]") if text.startswith("[") else text.strip())
    except ValueError:
        address = None
    if address is None or (version is not None and address.version != version):
        kind = f"an IPv{version} address" if version else "an IP address"
        raise ValueProblem(f"{name} must be {kind}, not {_shown(value)}")
    return str(address)


def hostname(value: Any, name: str) -> str:
    """A host name (RFC 1123 labels) or an IP address."""
    text = single_line(value, name).strip()
    try:
        return ip_address(text, name)
    except ValueProblem:
        pass
    labels = text.rstrip(".").split(".")
    if len(text) > 253 or not all(_LABEL.fullmatch(label) for label in labels) or text.replace(".", "").isdigit():
        raise ValueProblem(f"{name} must be a host name or an IP address, not {_shown(value)}")
    return text


def listen_address(value: Any, name: str) -> str:
    """An address a service binds: an IP address (0.0.0.0 and :: included: the callers decide whether every
    address is allowed, and say what it exposes) or ``localhost``."""
    text = single_line(value, name).strip()
    if text == "localhost":
        return text
    try:
        return ip_address(text, name)
    except ValueProblem:
        raise ValueProblem(f"{name} must be an IP address to listen on (127.0.0.1, this host's address on the"
                           f" cluster network, or 0.0.0.0 for every address), not {_shown(value)}") from None


def is_wildcard(address: str) -> bool:
    return address in ("0.0.0.0", "::", "")


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def host_port(address: str, port_number: int) -> str:
    """``address:port``, IPv6 in brackets."""
    return f"[{address}]:{port_number}" if ":" in address else f"{address}:{port_number}"


def cidr(value: Any, name: str) -> str:
    """A network or a single address (``10.0.0.0/24``, ``10.0.0.5``), canonical, host bits allowed."""
    text = single_line(value, name).strip()
    try:
        if "%" in text:
            raise ValueError(text)
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise ValueProblem(f"{name} must be an address or a network such as 192.168.1.0/24, not {_shown(value)}"
                           ) from None


def address_list(value: Any, name: str) -> list[str]:
    """A list of addresses or networks, canonical and without repeats, in the order given."""
    out: list[str] = []
    for entry in string_list(value, name, cidr):
        if entry not in out:
            out.append(entry)
    return out


def absolute_path(value: Any, name: str) -> str:
    """An absolute, normalized path: starts with /, no ``..``, no empty or ``.`` component, one line."""
    text = single_line(value, name)
    parts = text.split("/")
    if not text.startswith("/") or any(part in ("..", ".") for part in parts) or "//" in text:
        raise ValueProblem(f"{name} must be an absolute path with no '.', '..' or '//' in it, not {_shown(value)}")
    return text.rstrip("/") or "/"


def url(value: Any, name: str, schemes: Sequence[str] = ("https", "http")) -> str:
    """A URL with one of ``schemes``, a host, and no space, quote or angle bracket (a URL of a file keeps them
    percent-encoded)."""
    text = single_line(value, name).strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in schemes or (parts.scheme != "file" and not host) \
            or re.search(r"[\s\"'<>\\`]", text):
        raise ValueProblem(f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)} with a"
                           f" host and no space or quote in it, not {_shown(value)}")
    if host:
        hostname(host, f"the host of {name}")
    return text


# --- quoting for where a value goes -------------------------------------------------------------------------------

def systemd_word(value: Any, name: str) -> str:
    """One word of a unit's ExecStart=: quoted where it needs to be, with systemd's specifiers (%) and variables ($)
    made literal. A line break cannot be quoted there and is refused."""
    text = single_line(value, name, allow_empty=True)
    text = text.replace("%", "%%").replace("$", "$$")
    if not text or re.search(r"[\s\"'\\;]", text):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def systemd_exec(argv: Sequence[Any], name: str) -> str:
    """A whole command line for ExecStart=, each word one argument whatever it holds."""
    words = string_list(argv, name, lambda v, n: single_line(v, n, allow_empty=True), allow_empty=False)
    if not words[0].startswith("/") and "/" in words[0]:
        raise ValueProblem(f"{name}: the program must be an absolute path or a bare name, not {_shown(words[0])}")
    return " ".join(systemd_word(w, f"{name}[{i}]") for i, w in enumerate(words))


def systemd_value(value: Any, name: str) -> str:
    """A setting's value in a unit file (Description=, User=, WorkingDirectory=...): one line, specifiers made
    literal."""
    return single_line(value, name).replace("%", "%%")


def deb822_value(value: Any, name: str) -> str:
    """One field value of an apt deb822 file (sources, preferences): one line, not empty, no leading space (that
    would read as a continuation), no '#' starting it."""
    text = single_line(value, name).strip()
    if text.startswith("#"):
        raise ValueProblem(f"{name} must not start with '#': {_shown(value)}")
    return text


def deb822_words(value: Any, name: str) -> str:
    """A space-separated field (Components:, Suites:, URIs:, Architectures:) from a list of words; a string is
    refused rather than read letter by letter."""
    words = string_list(value, name, lambda v, n: word(v, n, r"[A-Za-z0-9][A-Za-z0-9_.+:@~/-]*",
                                                       "letters, digits and . _ + : @ ~ / -"),
                        allow_empty=False)
    return " ".join(words)


def prometheus_label(value: Any) -> str:
    """A label value for the text exposition format: \\ " and line feed escaped as the format says (it knows no
    other escape); any other control character and any byte that was not UTF-8 become U+FFFD, so a label never
    makes the file unreadable."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = "".join("\ufffd" if unicodedata.category(c) in ("Cs", "Cc") and c != "\n" else c
                   for c in ("" if value is None else str(value)))
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def markdown_cell(value: Any) -> str:
    """Text for one cell of a Markdown table: line breaks become spaces, and | \\ ` * _ [ ] < > are escaped, so a
    GPU name cannot add a column, a link or markup."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = "".join(" " if c in "\r\n\x85\u2028\u2029" or unicodedata.category(c) in ("Cc", "Cs") else c
                   for c in ("" if value is None else str(value)))
    return re.sub(r"([\\|`*_\[\]<>])", r"\\\1", text)


def nft_set(addresses: Sequence[str]) -> str:
    """The elements of an nftables anonymous set, from canonical addresses (``address_list``)."""
    return "{ " + ", ".join(addresses) + " }"
