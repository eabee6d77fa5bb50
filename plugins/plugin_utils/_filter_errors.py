# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller side of the one rule (plugins/module_utils/_common/_values.py): every filter of the collection raises
AnsibleFilterError with a sentence, never a raw Python exception.

``filter_call(name, fn, *args)`` runs a pure function; the errors the pure layers raise on purpose (ValueProblem and
the other ValueError subclasses, TypeError from a wrong shape) become the filter's error with their sentence, and
anything else (a KeyError, an AttributeError, a RecursionError from a hostile structure) becomes an error that says
which filter was given input it cannot read, instead of a traceback. ``safe_filters`` wraps a whole table.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError


def filter_call(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except AnsibleFilterError:
        raise
    except (ValueError, TypeError) as exc:  # ValueProblem and the pure layers' own errors are ValueErrors
        raise AnsibleFilterError(f"{name}: {exc}") from exc
    except Exception as exc:  # the last line of defence: a sentence, never a traceback
        raise AnsibleFilterError(f"{name} cannot read its input ({type(exc).__name__}: {exc})") from exc


def safe_filters(table: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """The same filters, each through ``filter_call`` under its own name."""
    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return filter_call(name, fn, *args, **kwargs)
        return wrapper
    return {name: wrap(name, fn) for name, fn in table.items()}


def safe_filter(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``safe_filters`` for one function, as a decorator: the filter function raises AnsibleFilterError with a
    sentence when a test or another plugin calls it directly too."""
    return safe_filters({fn.__name__: fn})[fn.__name__]
