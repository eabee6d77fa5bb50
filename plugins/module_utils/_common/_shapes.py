# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shapes the pure layers read from Ansible (pure, standard library only): a dict, a list of dicts, a registered
command result, a command's output, its lines.

The companion of ``_values`` (which checks the scalar values that leave for a file, a unit or a command line): each
function takes the value and the variable's name, returns it in the shape the caller reads, or raises
``_values.ValueProblem`` with a sentence that names the variable - a registered result that is a string, a list of
problems that is a dict, hostvars that are a number - instead of a Python error deep inside the caller.
``text`` reads any command output, bytes that were not UTF-8 (surrogate escapes) made U+FFFD, since such output is
reported, never refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common._values import ValueProblem, _shown


def mapping(value: Any, name: str, what: str = "a dict") -> Mapping:
    """A mapping; None (an unset fact) reads as an empty one."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueProblem(f"{name} must be {what}, not {_shown(value)}")
    return value


def sequence(value: Any, name: str, what: str = "a list") -> list:
    """A list (None reads as empty); a string or a dict is refused rather than read letter by letter or key by key."""
    if value is None:
        return []
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        hint = f" (a single string is not read as a list: write [{_shown(value)}])" if isinstance(value, str) else ""
        raise ValueProblem(f"{name} must be {what}, not {_shown(value)}{hint}")
    return list(value)


def mappings(value: Any, name: str, what: str = "a dict") -> list[Mapping]:
    """A list of mappings, each checked (``name[i]`` in the sentence)."""
    return [mapping(entry, f"{name}[{index}]", what) if entry is not None else {}
            for index, entry in enumerate(sequence(value, name, f"a list of {what.removeprefix('a ')}s"))]


def registered(value: Any, name: str) -> Mapping:
    """A registered command result (``rc``, ``stdout``, ``stderr``...); a string (a result's stdout passed in its
    place) is refused."""
    return mapping(value, name, "a registered result (a dict with rc, stdout, stderr)")


def registered_list(value: Any, name: str) -> list[Mapping]:
    """The results of a looped task: its ``results`` list, or the registered variable itself."""
    if isinstance(value, Mapping) and "results" in value:
        return mappings(value["results"], f"{name}.results", "a registered result")
    return mappings(value, name, "a registered result")


def text(value: Any, name: str) -> str:
    """A command's output or a message: a string (None reads as empty; a number as its digits); bytes that were not
    UTF-8 become U+FFFD."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueProblem(f"{name} must be text (a command's output), not {_shown(value)}")
    return plain(value)


def lines(value: Any, name: str) -> list[str]:
    """A list of lines (``stdout_lines``), each through ``text``."""
    return [text(line, f"{name}[{index}]") for index, line in enumerate(sequence(value, name, "a list of lines"))]


def plain(value: Any) -> str:
    """Any scalar as text for a sentence or a report (a GPU name, a host name): never fails; bytes that were not
    UTF-8 (surrogate escapes) become U+FFFD."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    try:
        string = "" if value is None else str(value)
    except Exception:
        string = "?"
    return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in string)
