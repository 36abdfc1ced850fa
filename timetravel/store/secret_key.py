"""The key Secret values are hashed with, kept outside the database.

A Secret value is never stored: a keyed hash of it is (domain.normalize), so a rotation
still shows as a change. Whoever holds the key can test guesses of a value against a
hash, so the key is not in the database (a copy of the file, or a team store's reader,
must not get it): the database keeps only the key's id. Writers find the key in, first:

1. ``TIMETRAVEL_SECRET_KEY``: the key itself (64 hex digits), or any passphrase;
2. ``TIMETRAVEL_SECRET_KEY_FILE``: a file holding it (a mounted Kubernetes Secret);
3. ``<data dir>/keys/<key id>.key``: made (mode 0600) for a new database when neither is
   set. Recorders of one team store, on several machines, share it through 1 or 2.

Readers (the screen, exports) never need it. A database written before the key moved
out of it had it in ``meta``: the first writer moves it to the key file and deletes it
from the database (the file's old pages may still hold it until SQLite reuses them).
Hashes made since then also bind each value to its Secret (namespace, name) and key
name, so two Secrets holding one password show different hashes; a database that began
with the old scheme keeps it, so its history stays comparable.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from timetravel.domain.normalize import Redaction
from timetravel.errors import UserError
from timetravel.host import data_dir
from timetravel.store.handle import StoreDB

ENV_KEY = "TIMETRAVEL_SECRET_KEY"
ENV_KEY_FILE = "TIMETRAVEL_SECRET_KEY_FILE"
_ID = "redaction_key_id"
_SCHEME = "redaction_scheme"
_LEGACY = "redaction_key"
PER_OBJECT = "2"  # values hashed with their Secret's identity and key name


def key_id(key: bytes) -> str:
    """A key's public name: reveals nothing of the key."""
    return hashlib.sha256(b"timetravel redaction key id\0" + key).hexdigest()[:16]


def _from_text(text: str) -> bytes:
    text = text.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    if not text:
        raise UserError(f"{ENV_KEY}: empty")
    return hashlib.sha256(b"timetravel passphrase\0" + text.encode()).digest()


def configured_key() -> bytes | None:
    """The key the environment names, or None."""
    text = os.environ.get(ENV_KEY)
    if text:
        return _from_text(text)
    path = os.environ.get(ENV_KEY_FILE)
    if path:
        try:
            return _from_text(Path(path).expanduser().read_text())
        except OSError as exc:
            raise UserError(f"{ENV_KEY_FILE}={path}: cannot read ({exc.strerror})") from None
    return None


def key_dir() -> Path:
    return data_dir() / "keys"


def key_file(kid: str) -> Path:
    return key_dir() / f"{kid}.key"


def save_key(key: bytes) -> str:
    """Keep ``key`` as a key file of the data directory (0600, written whole); its id."""
    kid = key_id(key)
    path = key_file(kid)
    if path.exists():
        return kid
    directory = key_dir()
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key.hex() + "\n")
    os.replace(temporary, path)
    return kid


def _load(kid: str) -> bytes | None:
    try:
        return _from_text(key_file(kid).read_text())
    except OSError:
        return None


def _meta(db: StoreDB, name: str) -> str | None:
    row = db.conn.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
    return str(row[0]) if row else None


def _set(db: StoreDB, name: str, value: str) -> None:
    db.conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (name, value),
    )


def writer_redaction(db: StoreDB) -> Redaction:
    """The key (and scheme) a writer of ``db`` hashes Secret values with, set up on the
    first write: a UserError when the database's key is not to be found here."""
    with db.conn:
        legacy = _meta(db, _LEGACY)
        if legacy is not None:
            # Written before the key left the database: move it out, keep its scheme.
            kid = save_key(bytes.fromhex(legacy))
            _set(db, _ID, kid)
            db.conn.execute("DELETE FROM meta WHERE key = ?", (_LEGACY,))
        stored_id = _meta(db, _ID)
        configured = configured_key()
        if stored_id is None:
            key = configured or secrets.token_bytes(32)
            kid = save_key(key) if configured is None else key_id(key)
            _set(db, _ID, kid)
            _set(db, _SCHEME, PER_OBJECT)
            return Redaction(key, per_object=True)
        kid = stored_id
        per_object = _meta(db, _SCHEME) == PER_OBJECT
    if configured is not None:
        if key_id(configured) != kid:
            raise UserError(
                f"the Secret-hashing key in {ENV_KEY}/{ENV_KEY_FILE} is {key_id(configured)}, "
                f"but this database's values are hashed with key {kid}: give that key, or "
                "record into a new database"
            )
        return Redaction(configured, per_object=per_object)
    found = _load(kid)
    if found is None or key_id(found) != kid:
        raise UserError(
            f"this database's Secret values are hashed with key {kid}, which is not here: "
            f"set {ENV_KEY} or {ENV_KEY_FILE} to it, or copy {key_file(kid)} from the "
            "machine that recorded it"
        )
    return Redaction(found, per_object=per_object)


def stored_redaction(db: StoreDB) -> Redaction | None:
    """The key (and scheme) ``db``'s Secret values are hashed with, when it can be found
    here without writing anything: a legacy database's own key (still in ``meta``), the
    configured key when it is the database's, or its key file. None when it cannot (no
    key set up yet, or recorded on another machine). A migration that must hash values
    asks this: it moves no key and refuses no one."""
    per_object = _meta(db, _SCHEME) == PER_OBJECT
    legacy = _meta(db, _LEGACY)
    if legacy is not None:
        return Redaction(bytes.fromhex(legacy), per_object=per_object)
    kid = _meta(db, _ID)
    if kid is None:
        return None
    try:
        configured = configured_key()
    except UserError:
        configured = None  # an unreadable key file is said by the writer that needs it
    if configured is not None and key_id(configured) == kid:
        return Redaction(configured, per_object=per_object)
    found = _load(kid)
    if found is not None and key_id(found) == kid:
        return Redaction(found, per_object=per_object)
    return None
