"""The one exception type for user errors.

The CLI turns a :class:`UserError` into a single line on stderr and exit status 2;
anything else is a bug and may show a traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix: bad input, a wrong path, an unreachable cluster."""
