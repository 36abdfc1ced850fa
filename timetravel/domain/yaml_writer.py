"""YAML, written here: fast, deterministic, and the same with or without libyaml.

Pure (no I/O): the exports and the screen's side-by-side view both write YAML with it,
so a value looks the same in a report and on the screen.
"""

from __future__ import annotations

import math
import re
from typing import Any

_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./@%+=,-]*(?::[A-Za-z0-9_./@%+=,-]+)*")
_RESERVED = frozenset({"yes", "no", "true", "false", "on", "off", "y", "n", "null", "~"})


_YAML_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _yaml_quoted(text: str) -> str:
    """A YAML double-quoted scalar: printable characters as they are, the rest escaped."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'  # nothing to escape: the common case, without a loop per character
    out = ['"']
    for ch in text:
        if ch in _YAML_ESCAPES:
            out.append(_YAML_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        else:
            point = ord(ch)
            if point < 0x100:
                out.append(f"\\x{point:02x}")
            elif point < 0x10000:
                out.append(f"\\u{point:04x}")
            else:
                out.append(f"\\U{point:08x}")
    out.append('"')
    return "".join(out)


# Map keys and one-line values repeat across objects (metadata, name, TCP, image names).
_LINES: dict[str, str] = {}


def _yaml_line(text: str) -> str:
    """A string as a one-line scalar: plain where safe, else quoted."""
    out = _LINES.get(text)
    if out is None:
        plain = _PLAIN.fullmatch(text) and text.lower() not in _RESERVED
        out = text if plain else _yaml_quoted(text)
        if len(_LINES) > 50_000:
            _LINES.clear()
        _LINES[text] = out
    return out


def _yaml_string(text: str, indent: int) -> str:
    if "\n" not in text:
        return _yaml_line(text)
    if "\r" not in text:
        lines = text.split("\n")
        body = lines[:-1] if text.endswith("\n") else lines
        while text.endswith("\n") and body and body[-1] == "" and len(body) > 1:
            body = body[:-1]
        first = next((line for line in body if line), "")
        printable = all(line.isprintable() for line in body)
        blank_with_spaces = any(line and not line.strip(" ") for line in body)
        if printable and first and not first.startswith(" ") and not blank_with_spaces:
            trailing = len(text) - len(text.rstrip("\n"))
            chomp = "-" if trailing == 0 else ("" if trailing == 1 else "+")
            pad = " " * indent
            content = [pad + line if line else "" for line in text.rstrip("\n").split("\n")]
            content += [""] * (trailing - 1 if trailing > 1 else 0)
            return f"|{chomp}\n" + "\n".join(content)
    return _yaml_quoted(text)


def _yaml_scalar(value: Any, indent: int) -> str:
    if isinstance(value, str):
        return _yaml_string(value, indent)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
        return text
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _yaml_string(str(value), indent)


def _yaml_key(key: Any) -> str:
    return _yaml_line(key) if type(key) is str else _yaml_scalar(key, 0)


def _yaml_map(value: dict[Any, Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for key, item in value.items():
        name = _yaml_key(key)
        if isinstance(item, dict | list) and item:
            out.append(f"{pad}{name}:")
            if isinstance(item, dict):
                _yaml_map(item, indent + 2, out)
            else:
                _yaml_list(item, indent, out)
        else:
            out.append(f"{pad}{name}: {_yaml_scalar(item, indent + 2)}")


def _yaml_list(items: list[Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for item in items:
        if isinstance(item, dict | list) and item:
            sub: list[str] = []
            if isinstance(item, dict):
                _yaml_map(item, indent + 2, sub)
            else:
                _yaml_list(item, indent + 2, sub)
            sub[0] = pad + "- " + sub[0][indent + 2 :]
            out.extend(sub)
        else:
            out.append(f"{pad}- {_yaml_scalar(item, indent + 2)}")


def to_yaml(value: Any) -> str:
    """``value`` (JSON-like data) as block YAML that ``yaml.safe_load`` reads back equal.

    Plain scalars only where no YAML 1.1 reader could take them for anything but a string;
    multi-line text as literal blocks; everything else JSON-quoted (valid YAML).
    """
    out: list[str] = []
    if isinstance(value, dict) and value:
        _yaml_map(value, 0, out)
    elif isinstance(value, list) and value:
        _yaml_list(value, 0, out)
    else:
        out.append(_yaml_scalar(value, 2))
    return "\n".join(out) + "\n"
