# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared attribute documentation for the collection's modules."""

from __future__ import annotations


class ModuleDocFragment:
    """Attributes of the modules that edit a configuration file."""

    # Modules that edit a file: full check mode and diff mode, POSIX hosts.
    CONFIG_FILE = r"""
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
"""

    # Facts modules: they read only, so check mode is full and there is no diff.
    FACTS = r"""
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
"""
