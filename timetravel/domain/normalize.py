"""Strip server bookkeeping and redact Secret values before anything is stored.

Everything that reaches the store passes through :func:`normalize`, so no Secret value
(nor its copy inside ``last-applied-configuration``) ever reaches disk, an export or the
screen. Redaction is a keyed hash, so a rotated value is still visibly a change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
REDACTED_PREFIX = "redacted:"

# Bookkeeping the API server writes on every object; it is never part of what anyone
# declared, and keeping it would make every write look like a content change.
_BOOKKEEPING = ("resourceVersion", "uid", "generation", "creationTimestamp", "selfLink")
_MANAGED_FIELDS = "managedFields"


@dataclass(frozen=True)
class Redaction:
    """The key Secret values are hashed with (kept outside the database: see
    store.secret_key), and whether a hash binds each value to its Secret and key name:
    then two Secrets holding the same password show different hashes, and the same
    Secret in git and in the cluster still compares equal. Databases begun before that
    keep hashing values alone, so their history stays comparable."""

    key: bytes
    per_object: bool = True


Key = bytes | Redaction


def _redaction(key: Key) -> Redaction:
    return key if isinstance(key, Redaction) else Redaction(key, per_object=False)


def redact_value(key: Key, value: bytes, where: str = "") -> str:
    """``redacted:<hex>``: HMAC-SHA256 of the value under the key; with a per-object
    redaction, of the value together with ``where`` (namespace/name/key name)."""
    redaction = _redaction(key)
    message = value
    if redaction.per_object:
        message = where.encode("utf-8", "surrogatepass") + b"\0" + value
    return REDACTED_PREFIX + hmac.new(redaction.key, message, hashlib.sha256).hexdigest()


def _identity(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


def _decoded(value: Any) -> bytes:
    """The bytes a Secret ``data`` entry stands for (base64), or its text when not base64."""
    text = value if isinstance(value, str) else json.dumps(value)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text.encode("utf-8", "surrogatepass")


_HASHED = re.compile(re.escape(REDACTED_PREFIX) + "[0-9a-f]{64}")


def is_redacted(value: Any) -> bool:
    """Whether ``value`` is a hash this module wrote (``redacted:`` and 64 hex digits)."""
    return isinstance(value, str) and _HASHED.fullmatch(value) is not None


def _redact_secret_fields(
    obj: dict[str, Any], key: Key, *, keep_hashed: bool = False
) -> dict[str, Any]:
    """A copy of a Secret with every ``data``/``stringData`` value replaced by its hash
    (``keep_hashed``: but a value that is a hash already, see :func:`redact_stored`).

    ``data`` is hashed on its decoded bytes and ``stringData`` on its UTF-8 bytes, so the
    same secret value written either way hashes the same.
    """

    def hashed(value: Any, raw: Any, where: str) -> Any:
        if keep_hashed and is_redacted(value):
            return value
        return redact_value(key, raw(value), where)

    out = dict(obj)
    at = _identity(obj)
    data = obj.get("data")
    if isinstance(data, dict):
        out["data"] = {k: hashed(v, _decoded, f"{at}/{k}") for k, v in data.items()}
    elif data is not None:
        out["data"] = hashed(data, _dumped, f"{at}/")
    string_data = obj.get("stringData")
    if isinstance(string_data, dict):
        out["stringData"] = {k: hashed(v, _utf8, f"{at}/{k}") for k, v in string_data.items()}
    elif string_data is not None:
        out["stringData"] = hashed(string_data, _dumped, f"{at}/")
    return out


def _dumped(value: Any) -> bytes:
    return json.dumps(value).encode()


def _utf8(value: Any) -> bytes:
    return str(value).encode("utf-8", "surrogatepass")


def _redact_last_applied(text: str, key: Key, at: str, *, keep_hashed: bool = False) -> str:
    """The annotation with the Secret values inside it redacted; unparsable -> one hash."""
    if keep_hashed and is_redacted(text):
        return text
    try:
        applied = json.loads(text)
    except ValueError:
        return redact_value(key, text.encode("utf-8", "surrogatepass"), f"{at}/")
    if not isinstance(applied, dict):
        return redact_value(key, text.encode("utf-8", "surrogatepass"), f"{at}/")
    redacted = _redact_secret_fields(applied, key, keep_hashed=keep_hashed)
    return json.dumps(redacted, sort_keys=True, separators=(",", ":"))


def is_secret(obj: dict[str, Any]) -> bool:
    """Whether ``obj`` may hold Secret values: then they are redacted before it is kept.

    One rule with identity, never a narrower one. Identity (``ResourceKey.of``) reads only
    the group out of ``apiVersion`` (``split_api_version``) and files every ``kind: Secret``
    whose apiVersion names no group as the core Secret, whatever the version text says:
    ``v1``, ``v1beta1``, ``/v1``, `` v1``, ``V1``, ``""``. Each of those is redacted, and so,
    on purpose, is every object whose kind names a Secret, so the apiVersion is not read:

    - apiVersion missing, null, a number, unparsable: no group can be trusted; redacted
      rather than risk a plaintext value (a List item without one is this case too);
    - another group (``example.com/v1``, ``v1/``): a custom resource named Secret may hold
      values as secret as the core one's. Redacting it is the safe side and costs only its
      readable values: a change still shows, as a changed hash;
    - the kind in another case or with blanks (``secret``, ``SECRET``, `` Secret``): no API
      server serves it, but a manifest or an import may say it.

    ``kind: SealedSecret``, ``ExternalSecret`` and the like hold no plaintext and are kept.
    ``tests/test_secret_identity.py`` checks that every core Secret by identity is redacted.
    """
    return is_secret_kind(obj.get("kind"))


def is_secret_kind(kind: object) -> bool:
    """The rule of :func:`is_secret` on a kind alone (the export guard has only keys)."""
    return isinstance(kind, str) and kind.strip().casefold() == "secret"


def redact(obj: dict[str, Any], key: Key) -> dict[str, Any]:
    """A copy of ``obj`` with no Secret value left in it; non-Secrets come back as they are."""
    return _redact(obj, key, keep_hashed=False)


def redact_stored(obj: dict[str, Any], key: Key) -> dict[str, Any]:
    """:func:`redact` for an object already stored, which may hold values hashed when it
    was stored and values an older rule left plain (a Secret whose apiVersion was not
    exactly ``v1``): the plain values are hashed, those already hashed are kept as they
    are (hashing a hash would show a change that never happened). Stored again, a whole
    redacted object comes back equal to itself.

    A plain value that is itself ``redacted:`` and 64 hex digits is taken for a hash and
    kept: nobody's password has that form by accident."""
    return _redact(obj, key, keep_hashed=True)


def _redact(obj: dict[str, Any], key: Key, *, keep_hashed: bool) -> dict[str, Any]:
    if not is_secret(obj):
        return obj
    out = _redact_secret_fields(obj, key, keep_hashed=keep_hashed)
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        annotations = meta.get("annotations")
        if isinstance(annotations, dict) and LAST_APPLIED in annotations:
            annotations = dict(annotations)
            annotations[LAST_APPLIED] = _redact_last_applied(
                str(annotations[LAST_APPLIED]), key, _identity(obj), keep_hashed=keep_hashed
            )
            out["metadata"] = {**meta, "annotations": annotations}
    return out


def normalize(obj: dict[str, Any], key: Key) -> dict[str, Any]:
    """The object as timetravel stores it: bookkeeping removed, Secret values redacted.

    ``status`` is kept: it is part of what was running. managedFields are removed here
    and kept separately as a summary (see ``domain.managed_fields``).
    """
    out = redact(obj, key)
    if out is obj:
        out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k not in _BOOKKEEPING and k != _MANAGED_FIELDS}
        out["metadata"] = meta
    return out


def strip_status(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without ``status``: what was declared or set, not what was reported."""
    return {k: v for k, v in obj.items() if k != "status"}
