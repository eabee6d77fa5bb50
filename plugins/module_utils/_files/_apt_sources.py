# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every apt file the collection writes, rendered whole in Python (pure): deb822 sources and preferences (pins).

A role's template hands the fields and the names of the variables that feed them to a filter over ``sources_file``
or ``preferences_file``; what comes back is the whole file. Each field is checked for what it holds (URIs are http(s)
URLs, Suites, Components and Architectures lists of words - a string is refused rather than read letter by letter,
Signed-By an absolute path, Pin-Priority a whole number), and each value through ``_values.deb822_value``: one line,
so no value can add a field (``Trusted: yes``) or a second ``Pin-Priority``. The text is parsed back before it is
returned and must hold exactly the fields asked for. A problem raises ``ValueProblem`` with a sentence that names the
variable. Only these fields exist here: no ``Trusted``, no ``Allow-Insecure``, no ``Enabled: no``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _values

ValueProblem = _values.ValueProblem

SOURCE_FIELDS = ("Types", "URIs", "Suites", "Components", "Architectures", "Signed-By")
SOURCE_REQUIRED = ("Types", "URIs", "Suites", "Signed-By")
PIN_FIELDS = ("Package", "Pin", "Pin-Priority")
TYPES = ("deb", "deb-src")
_WORD = r"[A-Za-z0-9][A-Za-z0-9_.+~/-]*"
_WORD_WHAT = "letters, digits and . _ + ~ / -"
_ARCH = r"[a-z0-9][a-z0-9-]*"
_PIN_KINDS = ("release", "origin", "version")


def _name(names: Mapping[str, str] | None, field: str, what: str) -> str:
    if names and isinstance(names.get(field), str) and names[field]:
        return names[field]
    return f"the {field} field of {what}"


def _list(value: Any, name: str, check: Any) -> list[str]:
    """A list field: a list (a string is refused), each entry through ``check``; the entry is named by its index only
    when there are several (a role variable that is one value is wrapped in a list by its template)."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        _values.string_list(value, name)  # raises the shared sentence: a string is not read as a list
    items = list(value)
    if not items:
        raise ValueProblem(f"{name} must not be empty")
    return [check(item, name if len(items) == 1 else f"{name}[{index}]") for index, item in enumerate(items)]


def _word(value: Any, name: str) -> str:
    return _values.deb822_value(_values.word(value, name, _WORD, _WORD_WHAT), name)


def _suite(value: Any, name: str) -> str:
    if value == "/":
        return "/"  # a flat repository: the URI is the directory of its Release file
    return _word(value, name)


def _arch(value: Any, name: str) -> str:
    return _values.word(value, name, _ARCH, "lower-case letters, digits and -")


def _type(value: Any, name: str) -> str:
    text = _values.single_line(value, name)
    if text not in TYPES:
        raise ValueProblem(f"{name} must be deb or deb-src, not {text!r}")
    return text


def _uri(value: Any, name: str) -> str:
    return _values.deb822_value(_values.url(value, name), name)


def _signed_by(value: Any, name: str) -> str:
    return _values.deb822_value(_values.absolute_path(value, name), name)


def comment_lines(comments: Any) -> list[str]:
    """``# `` lines from text (a string or a list of them): every line of it is a comment, control characters and
    bytes that were not UTF-8 dropped, so a comment cannot end early and start a field."""
    if comments is None:
        return []
    items = [comments] if isinstance(comments, str) else list(comments) if isinstance(comments, Sequence) else [
        comments]
    out = []
    for item in items:
        for line in str(item).splitlines() or [""]:
            clean = "".join(c for c in line if unicodedata.category(c) not in ("Cc", "Cs", "Zl", "Zp"))
            out.append(f"# {clean}".rstrip())
    return out


def _stanza_text(fields: list[tuple[str, str]]) -> str:
    return "".join(f"{field}: {value}\n" for field, value in fields)


def parse(text: str) -> list[list[tuple[str, str]]]:
    """The stanzas of a deb822 file as apt reads them: ``Field: value`` lines, stanzas separated by blank lines,
    ``#`` lines ignored; a continuation line (starting with a space or a tab) is kept as its own entry ``("", line)``
    so that a caller sees it."""
    stanzas: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for line in text.split("\n"):
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current = []
            continue
        if line[0] in " \t":
            current.append(("", line))
            continue
        field, _sep, value = line.partition(":")
        current.append((field, value.strip()))
    if current:
        stanzas.append(current)
    return stanzas


def _file(comments: Any, stanzas: list[list[tuple[str, str]]]) -> str:
    head = "".join(line + "\n" for line in comment_lines(comments))
    text = head + "\n".join(_stanza_text(fields) for fields in stanzas)
    if parse(text) != stanzas:  # the last guard: what apt reads back is exactly what was meant
        raise ValueProblem("an apt file would not read back as the fields it was given; nothing is written")
    return text


def source_stanza(stanza: Any, names: Mapping[str, str] | None = None, what: str = "an apt source"
                  ) -> list[tuple[str, str]]:
    """The checked (field, value) pairs of one sources stanza, in apt's usual order."""
    if not isinstance(stanza, Mapping):
        raise ValueProblem(f"{what} must be a mapping of deb822 fields, not {type(stanza).__name__}")
    unknown = [str(k) for k in stanza if k not in SOURCE_FIELDS]
    if unknown:
        raise ValueProblem(f"{what}: the collection does not write the field(s) {', '.join(unknown)} (it writes "
                           f"{', '.join(SOURCE_FIELDS)})")
    missing = [f for f in SOURCE_REQUIRED if stanza.get(f) in (None, "", [])]
    if missing:
        named = [names[f] for f in missing if names and isinstance(names.get(f), str) and names[f]]
        raise ValueProblem((f"{' and '.join(named)} must not be empty: " if named else "")
                           + f"{what} needs {', '.join(missing)}")
    checks = {"Types": _type, "URIs": _uri, "Suites": _suite, "Components": _word, "Architectures": _arch}
    out: list[tuple[str, str]] = []
    for field in SOURCE_FIELDS:
        if field not in stanza or (field in ("Components", "Architectures") and stanza[field] in (None, [])):
            continue
        name = _name(names, field, what)
        if field == "Signed-By":
            out.append((field, _signed_by(stanza[field], name)))
        else:
            out.append((field, " ".join(_list(stanza[field], name, checks[field]))))
    suites = dict(out)["Suites"].split()
    flat = [s for s in suites if s.endswith("/")]
    if flat and (len(flat) != len(suites) or "Components" in dict(out)):
        raise ValueProblem(f"{_name(names, 'Suites', what)}: a suite that ends with / (a flat repository) stands "
                           "alone and takes no Components")
    if not flat and "Components" not in dict(out):
        raise ValueProblem(f"{_name(names, 'Components', what)} must name at least one component such as main")
    return out


def sources_file(stanzas: Any, names: Mapping[str, str] | None = None, comments: Any = None) -> str:
    """A whole ``.sources`` file: ``comments`` first, then each stanza. ``names`` maps a field to the variable that
    feeds it, for the sentence of a refusal. A single mapping is one stanza."""
    if isinstance(stanzas, Mapping):
        stanzas = [stanzas]
    if isinstance(stanzas, (str, bytes)) or not isinstance(stanzas, Sequence) or not stanzas:
        raise ValueProblem("an apt sources file needs a list of stanzas (mappings of deb822 fields)")
    if names is not None and not isinstance(names, Mapping):
        raise ValueProblem("the names of an apt source's variables must be a mapping of field to variable")
    return _file(comments, [source_stanza(s, names, f"apt source stanza {i + 1}") for i, s in enumerate(stanzas)])


def pin_stanza(pin: Any, names: Mapping[str, str] | None = None, what: str = "an apt pin") -> list[tuple[str, str]]:
    if not isinstance(pin, Mapping):
        raise ValueProblem(f"{what} must be a mapping of Package, Pin and Pin-Priority, not {type(pin).__name__}")
    unknown = [str(k) for k in pin if k not in PIN_FIELDS]
    missing = [f for f in PIN_FIELDS if f not in pin]
    if unknown or missing:
        raise ValueProblem(f"{what} has exactly the fields {', '.join(PIN_FIELDS)}"
                           + (f"; not {', '.join(unknown)}" if unknown else "")
                           + (f"; {', '.join(missing)} missing" if missing else ""))
    package = _values.deb822_value(pin["Package"], _name(names, "Package", what))
    selector_name = _name(names, "Pin", what)
    selector = _values.deb822_value(pin["Pin"], selector_name)
    if selector.split()[0] not in _PIN_KINDS or len(selector.split()) < 2:
        raise ValueProblem(f"{selector_name} must be a selector of apt_preferences(5) that starts with release, "
                           f"origin or version (such as 'release l=NVIDIA CUDA'), not {selector!r}")
    priority = _values.integer(pin["Pin-Priority"], _name(names, "Pin-Priority", what), -32768, 32767)
    if priority == 0:
        raise ValueProblem(f"{_name(names, 'Pin-Priority', what)} must not be 0 (apt ignores such a pin)")
    return [("Package", package), ("Pin", selector), ("Pin-Priority", str(priority))]


def preferences_file(pins: Any, names: Mapping[str, str] | None = None, comments: Any = None) -> str:
    """A whole file of ``/etc/apt/preferences.d``: ``comments`` first, then each pin."""
    if isinstance(pins, Mapping):
        pins = [pins]
    if isinstance(pins, (str, bytes)) or not isinstance(pins, Sequence) or not pins:
        raise ValueProblem("an apt preferences file needs a list of pins (Package, Pin, Pin-Priority)")
    return _file(comments, [pin_stanza(p, names, f"apt pin {i + 1}") for i, p in enumerate(pins)])
