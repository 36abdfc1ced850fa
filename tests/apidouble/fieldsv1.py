"""managedFields for the API double: the FieldsV1 format and Update-operation ownership.

The real server derives field sets from OpenAPI schemas (structured-merge-diff). The double has
no schemas, so a small table stands in for them: lists of objects are keyed by their list-map key
(`name` unless the table says otherwise), other lists are atomic leaves, and a few known maps get
the `.` marker that the real server writes when a manager creates the map itself.
"""

from __future__ import annotations

from typing import Any

import orjson

Path = tuple[str, ...]

# Server bookkeeping, never part of any manager's field set.
SKIP_META = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
        "managedFields",
        "deletionTimestamp",
        "selfLink",
    }
)
# x-kubernetes-list-map-keys of built-in lists whose key is not `name`.
_LIST_KEYS: dict[str, tuple[str, ...]] = {
    "volumeMounts": ("mountPath",),
    "conditions": ("type",),
    "ownerReferences": ("uid",),
}
# map[string]string fields: the real server lists the map node itself (".") when it is created.
_MAPS = frozenset({"labels", "annotations", "data", "binaryData", "stringData", "nodeSelector"})
_MISSING = object()


def leaves(obj: dict[str, Any]) -> dict[Path, Any]:
    """Every managed leaf path of an object (kind/apiVersion and bookkeeping excluded)."""
    out: dict[Path, Any] = {}
    for k, v in obj.items():
        if k in ("apiVersion", "kind"):
            continue
        if k == "metadata":
            for mk, mv in v.items():
                if mk not in SKIP_META:
                    _walk(("f:metadata", "f:" + mk), mk, mv, out)
        else:
            _walk(("f:" + k,), k, v, out)
    return out


def _walk(path: Path, name: str, v: Any, out: dict[Path, Any]) -> None:
    # metav1.LabelSelector is `+structType=atomic`; a Service's plain selector map is not.
    atomic_selector = (
        name == "selector"
        and isinstance(v, dict)
        and ("matchLabels" in v or "matchExpressions" in v)
    )
    if isinstance(v, dict) and v and not atomic_selector:
        if name in _MAPS:
            out[(*path, ".")] = None
        for k, c in v.items():
            _walk((*path, "f:" + k), k, c, out)
    elif isinstance(v, list) and v and (keys := _list_keys(name, v)):
        out[(*path, ".")] = None
        for item in v:
            ipath = (*path, "k:" + _key(item, keys))
            out[(*ipath, ".")] = None
            for k, c in item.items():
                _walk((*ipath, "f:" + k), k, c, out)
    else:
        out[path] = v


def _list_keys(name: str, items: list[Any]) -> tuple[str, ...] | None:
    if not all(isinstance(i, dict) for i in items):
        return None
    if name == "ports":  # container ports and service ports have different keys
        keys = (
            ("containerPort", "protocol") if "containerPort" in items[0] else ("port", "protocol")
        )
    else:
        keys = _LIST_KEYS.get(name, ("name",))
    return keys if all(keys[0] in i for i in items) else None


def _key(item: dict[str, Any], keys: tuple[str, ...]) -> str:
    # protocol is defaulted to TCP by the real server before field management runs.
    values = {k: item.get(k, "TCP" if k == "protocol" else None) for k in keys}
    return orjson.dumps(values, option=orjson.OPT_SORT_KEYS).decode()


def diff(old: dict[Path, Any], new: dict[Path, Any]) -> tuple[set[Path], set[Path]]:
    """(added or modified, removed) leaf paths between two `leaves()` results."""
    changed = {p for p, v in new.items() if old.get(p, _MISSING) != v}
    return changed, set(old.keys() - new.keys())


def to_paths(tree: dict[str, Any], prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    for k, v in tree.items():
        if v:
            out |= to_paths(v, (*prefix, k))
        else:
            out.add((*prefix, k))
    return out


def to_tree(paths: set[Path]) -> dict[str, Any]:
    # The real encoding orders "." first, then f: fields, then k: keys: plain string order,
    # which inserting the paths in sorted order gives at every level.
    root: dict[str, Any] = {}
    for p in sorted(paths):
        node = root
        for el in p:
            node = node.setdefault(el, {})
    return root


def update_managed(
    entries: list[dict[str, Any]],
    changed: set[Path],
    removed: set[Path],
    *,
    manager: str,
    operation: str,
    subresource: str | None,
    api_version: str,
    time: str,
) -> list[dict[str, Any]]:
    """New managedFields after an Update by `manager` (structured-merge-diff's Updater.Update).

    Fields the write changed move to the writer; removed fields leave every set; an entry whose
    set becomes empty is dropped.
    """
    ident = (manager, operation, subresource or "")
    mine: set[Path] = set()
    out: list[dict[str, Any]] = []
    for e in entries:
        fields = to_paths(e.get("fieldsV1", {}))
        if (e["manager"], e["operation"], e.get("subresource", "")) == ident:
            mine = fields
            continue
        kept = fields - changed - removed
        if kept == fields:
            out.append(e)
        elif kept:
            out.append({**e, "fieldsV1": to_tree(kept)})
    mine = (mine | changed) - removed
    if mine:
        entry: dict[str, Any] = {
            "manager": manager,
            "operation": operation,
            "apiVersion": api_version,
            "time": time,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_tree(mine),
        }
        if subresource:
            entry["subresource"] = subresource
        out.append(entry)
    # Order as the real server's sortEncodedManagedFields: operation, time, manager, ...
    out.sort(
        key=lambda e: (
            e["operation"],
            e["time"],
            e["manager"],
            e["apiVersion"],
            e.get("subresource", ""),
        )
    )
    return out
