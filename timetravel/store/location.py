"""Where a store is: a SQLite file, or a PostgreSQL database named by a URL.

``--db`` and ``TIMETRAVEL_DB`` take either. A value with a scheme is a URL, and only
``postgresql://`` (and libpq's ``postgres://``) is one this product reads; any other scheme
is a user error, never a file path (``--db mysql://x`` must not create a folder named
``mysql:``). A URL is shown with its password masked, wherever it is shown.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from timetravel.errors import UserError

POSTGRES_SCHEMES = ("postgresql", "postgres")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True)
class SqliteLocation:
    path: Path

    def display(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return self.display()


@dataclass(frozen=True)
class PostgresLocation:
    url: str  # as given: libpq reads its credentials (and PGPASSWORD, ~/.pgpass, PGSERVICE)

    def display(self) -> str:
        return mask_password(self.url)

    def __str__(self) -> str:
        return self.display()


Location = SqliteLocation | PostgresLocation


def parse_location(value: str | Path) -> Location:
    """A ``--db`` value as a location; an unsupported URL scheme is a UserError."""
    if isinstance(value, Path):
        text = str(value)
        if not _SCHEME.match(text):
            return SqliteLocation(value.expanduser())
    else:
        text = value
    match = _SCHEME.match(text)
    if match is None:
        if text.startswith(("postgresql:", "postgres:")):
            raise UserError(f"{text!r}: a PostgreSQL URL starts with postgresql://")
        return SqliteLocation(Path(text).expanduser())
    scheme = match.group(1).lower()
    if scheme in POSTGRES_SCHEMES:
        return PostgresLocation(text)
    if scheme == "file":
        return SqliteLocation(Path(urllib.parse.unquote(text[len("file://") :])).expanduser())
    raise UserError(
        f"{mask_password(text)}: unsupported database URL scheme {scheme!r}; "
        "use a file path or postgresql://"
    )


def as_location(where: str | Path | Location) -> Location:
    """``where`` as a location (a location stays as it is)."""
    if isinstance(where, SqliteLocation | PostgresLocation):
        return where
    return parse_location(where)


def mask_password(url: str) -> str:
    """``url`` with the password (in the authority or a ``password=`` parameter) masked."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:***@{host}"
    query = re.sub(r"(?i)(^|&)(password)=[^&]*", r"\1\2=***", parts.query)
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
