"""The one Whoosh version the engine is written against.

whoosh-reloaded's repository has been unmaintained since 2025-05, and the
engine relies on its private internals (listed in the package docstring), so
another release could rename one and break every index silently. The
package pins ``whoosh-reloaded==2.7.5``; this guard refuses, in one line,
an environment where something else got installed anyway.
"""

from __future__ import annotations

import whoosh

from ..errors import IndexVersionError

__all__ = ["WHOOSH_VERSION", "check_whoosh_version"]

WHOOSH_VERSION = (2, 7, 5)


def check_whoosh_version(installed: tuple[int, ...] | None = None) -> None:
    """Raise :class:`IndexVersionError` unless the installed Whoosh is :data:`WHOOSH_VERSION`."""
    installed = tuple(whoosh.__version__) if installed is None else installed
    if installed[:3] != WHOOSH_VERSION:
        wanted = ".".join(map(str, WHOOSH_VERSION))
        found = ".".join(map(str, installed))
        raise IndexVersionError(
            f"searchkit needs whoosh-reloaded {wanted} (its storage engine relies on that version's internals), "
            f"but {found} is installed: run `pip install whoosh-reloaded=={wanted}`"
        )
