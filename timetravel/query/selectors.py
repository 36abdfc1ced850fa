"""Label selectors as kubectl takes them (``-l``): equality and set-based requirements.

The grammar of ``k8s.io/apimachinery/pkg/labels.Parse``, requirements joined by commas::

    a=b   a==b   a!=b   a in (x,y)   a notin (x,y)   a   !a   a>3   a<3

Semantics as the API server's: ``!=`` and ``notin`` also match objects without the label,
``in`` and ``=`` need it, ``>``/``<`` compare whole numbers. Keys and values are checked
as the API server checks them (a qualified name, a value of at most 63 characters), so a
typo is an error, not an empty answer. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# A qualified name: an optional DNS-subdomain prefix and a slash, then a name of at most 63.
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_KEY = re.compile(rf"({_PREFIX}/)?{_NAME}")
_VALUE = re.compile(rf"({_NAME})?")
_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|>|<|[^\s!=(),<>]+)")
_WORDS = ("in", "notin")


class SelectorError(ValueError):
    """A selector that does not parse; the message says where."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # = != in notin exists !exists > <
    values: tuple[str, ...] = ()

    def admits(self, labels: Mapping[str, str]) -> bool:
        has = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return has
        if self.op == "!exists":
            return not has
        if self.op in ("=", "in"):
            return has and value in self.values
        if self.op in ("!=", "notin"):
            return not has or value not in self.values
        # > and <: both sides whole numbers, as the API server compares them
        try:
            number = int(str(value))
        except ValueError:
            return False
        bound = int(self.values[0])
        return number > bound if self.op == ">" else number < bound


@dataclass(frozen=True)
class Selector:
    requirements: tuple[Requirement, ...] = ()

    def admits(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with these labels is selected (every requirement holds)."""
        found = labels or {}
        return all(r.admits(found) for r in self.requirements)


EVERYTHING = Selector()


def _tokens(text: str) -> list[str]:
    out = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # only whitespace is left, which rstrip removed
            break
        out.append(match.group(1))
        position = match.end()
    return out


def _key(word: str | None, text: str) -> str:
    if word is None or word in ("!=", "==", "=", "!", "(", ")", ",", ">", "<"):
        raise SelectorError(f"{text!r}: a label key expected, found {word or 'the end'!r}")
    if not _KEY.fullmatch(word):
        raise SelectorError(f"{text!r}: {word!r} is not a valid label key")
    return word


def _value(word: str, text: str) -> str:
    if not _VALUE.fullmatch(word):
        raise SelectorError(f"{text!r}: {word!r} is not a valid label value")
    return word


def parse_selector(text: str) -> Selector:
    """``text`` as a :class:`Selector`; :class:`SelectorError` when it is not one."""
    tokens = _tokens(text)
    if not tokens:
        return EVERYTHING
    requirements: list[Requirement] = []
    i = 0

    def peek(offset: int = 0) -> str | None:
        return tokens[i + offset] if i + offset < len(tokens) else None

    while True:
        if peek() == "!":
            i += 1
            requirements.append(Requirement(_key(peek(), text), "!exists"))
            i += 1
        else:
            key = _key(peek(), text)
            i += 1
            op = peek()
            if op is None or op == ",":
                requirements.append(Requirement(key, "exists"))
            elif op in ("=", "==", "!="):
                i += 1
                word = peek()
                if word is None or word == ",":
                    value = ""  # a=  selects an empty value, as the API server reads it
                else:
                    value = _value(word, text)
                    i += 1
                requirements.append(Requirement(key, "!=" if op == "!=" else "=", (value,)))
            elif op in (">", "<"):
                i += 1
                word = peek()
                if word is None or not re.fullmatch(r"-?[0-9]+", word):
                    raise SelectorError(f"{text!r}: {key}{op} needs a whole number")
                i += 1
                requirements.append(Requirement(key, op, (word,)))
            elif op in _WORDS:
                i += 1
                if peek() != "(":
                    raise SelectorError(f"{text!r}: {key} {op} needs a list: {key} {op} (a,b)")
                i += 1
                values: list[str] = []
                while True:
                    word = peek()
                    if word is None:
                        raise SelectorError(f"{text!r}: a list without its closing ')'")
                    if word in (",", ")"):
                        values.append("")  # an empty value between commas
                    else:
                        values.append(_value(word, text))
                        i += 1
                        word = peek()
                    if word == ")":
                        i += 1
                        break
                    if word is None:
                        raise SelectorError(f"{text!r}: a list without its closing ')'")
                    if word != ",":
                        raise SelectorError(f"{text!r}: ',' or ')' expected in {key} {op} (...)")
                    i += 1
                if op == "in" and values == [""]:
                    raise SelectorError(f"{text!r}: {key} in (): a list of at least one value")
                requirements.append(Requirement(key, op, tuple(values)))
            else:
                raise SelectorError(
                    f"{text!r}: after {key!r} one of =, ==, !=, in, notin, >, < or ','"
                )
        word = peek()
        if word is None:
            break
        if word != ",":
            raise SelectorError(f"{text!r}: ',' expected between requirements, found {word!r}")
        i += 1
        if peek() is None:
            raise SelectorError(f"{text!r}: a requirement expected after the last ','")
    return Selector(tuple(requirements))
