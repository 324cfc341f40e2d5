"""OmegaConf/Hydra-style `${...}` interpolation, the subset a config checker can resolve.

Supported: absolute dotted references (`${model.name}`, `${layers[0]}`), relative ones
(`${.sibling}`, `${..uncle}`), nested references (`${models.${model.kind}}`), variables
supplied by the caller (`${experiment_name}`), and the `\\${` escape. Resolvers such as
`${oc.env:HOME}` depend on the machine that runs the experiment, so they are reported as
"not checked", never as errors. No dependency on omegaconf.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

PathKey = tuple[str | int, ...]

UNKNOWN = "unknown"
MALFORMED = "malformed"
CYCLE = "cycle"
NOT_SCALAR = "not-scalar"
RESOLVER = "resolver"

_KEY_TOKEN = re.compile(r"[^.\[\]]+")


@dataclass(frozen=True)
class Problem:
    """Why the string at `path` could not be resolved."""

    path: PathKey
    kind: str
    message: str
    suggestion: str | None = None


@dataclass
class Resolution:
    """The data with every resolvable reference filled in; the rest stays as written."""

    data: Any
    problems: list[Problem] = field(default_factory=list)
    unresolved: set[PathKey] = field(default_factory=set)

    def is_resolved(self, path: PathKey) -> bool:
        return not any(path[: len(p)] == p for p in self.unresolved)


@dataclass(frozen=True)
class _Reference:
    parts: tuple[str | _Reference, ...]

    @property
    def text(self) -> str:
        return "${" + "".join(p if isinstance(p, str) else p.text for p in self.parts) + "}"

    @property
    def resolver(self) -> str | None:
        """`oc.env` for `${oc.env:HOME}`; None for a key reference."""
        head = self.parts[0] if self.parts and isinstance(self.parts[0], str) else ""
        name, colon, _ = head.partition(":")
        return name.strip() if colon else None


class _Failure(Exception):
    """A problem found while resolving one string, to be reported at that string."""

    def __init__(self, kind: str, message: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.suggestion = suggestion


class _Unresolved(Exception):
    """A string depends on another one that failed; reported there, not here."""


def has_references(text: str) -> bool:
    return "${" in text


_TOKEN = re.compile(r"\\\\\$\{|\\\$\{|\$\{|\}")  # \\${  \${  ${  }


def _parse(text: str, start: int, *, nested: bool) -> tuple[list[str | _Reference], int]:
    """Literal text and references from `start` to the end (or to the `}` closing a nested
    reference); raises _Failure when a reference is not closed."""
    parts: list[str | _Reference] = []
    literal: list[str] = []
    i = start
    while (match := _TOKEN.search(text, i)) is not None:
        literal.append(text[i : match.start()])
        token, i = match.group(), match.end()
        if token == "}":
            if nested:
                i = match.start()
                break
            literal.append(token)
        elif token == "\\${":
            literal.append("${")
        elif token == "\\\\${":
            literal.append("\\")
            i = match.start() + 2  # the ${ after the escaped backslash is a reference
        else:
            parts.append("".join(literal))
            literal = []
            inner, i = _parse(text, i, nested=True)
            if i >= len(text):
                raise _Failure(MALFORMED, f"unterminated reference in {text!r}: a '}}' is missing")
            parts.append(_Reference(tuple(inner)))
            i += 1
    else:
        literal.append(text[i:])
        i = len(text)
    parts.append("".join(literal))
    return [part for part in parts if part != ""], i


def _as_text(value: Any) -> str:
    """How OmegaConf puts a value into a string (`True`, `None`, `0.001`)."""
    return value if isinstance(value, str) else str(value)


def _walk(data: Any, path: PathKey = ()) -> Iterator[tuple[PathKey, Any]]:
    yield path, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _walk(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _walk(value, (*path, index))


def _dotted(path: PathKey) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Resolver:
    def __init__(self, root: Any, variables: Mapping[str, Any]) -> None:
        self.root = root
        self.variables = variables
        self.done: dict[PathKey, Any] = {}
        self.failed: set[PathKey] = set()
        self.active: list[PathKey] = []
        self.problems: list[Problem] = []

    # --- whole tree ---------------------------------------------------------------------

    def tree(self, node: Any, path: PathKey) -> Any:
        if isinstance(node, dict):
            return {key: self.tree(value, (*path, key)) for key, value in node.items()}
        if isinstance(node, list):
            return [self.tree(value, (*path, i)) for i, value in enumerate(node)]
        if isinstance(node, str) and has_references(node):
            try:
                return self.string(node, path)
            except _Unresolved:
                return node
        return node

    # --- one string -----------------------------------------------------------------------

    def string(self, text: str, path: PathKey) -> Any:
        if path in self.done:
            return self.done[path]
        if path in self.failed:
            raise _Unresolved
        if path in self.active:
            chain = " -> ".join(_dotted(p) for p in [*self.active[self.active.index(path) :], path])
            raise _Failure(CYCLE, f"circular reference: {chain}")
        self.active.append(path)
        try:
            value = self._interpolate(_parse(text, 0, nested=False)[0], path)
        except _Failure as failure:
            self.failed.add(path)
            self.problems.append(Problem(path, failure.kind, failure.message, failure.suggestion))
            raise _Unresolved from None
        except _Unresolved:
            self.failed.add(path)
            raise
        finally:
            self.active.pop()
        self.done[path] = value
        return value

    def _interpolate(self, parts: list[str | _Reference], here: PathKey) -> Any:
        if len(parts) == 1 and isinstance(parts[0], _Reference):
            return self._reference(parts[0], here)
        out = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = self._reference(part, here)
            if isinstance(value, dict | list):
                kind = "a mapping" if isinstance(value, dict) else "a list"
                raise _Failure(
                    NOT_SCALAR, f"{part.text} is {kind}; only a single value can go into a string"
                )
            out.append(_as_text(value))
        return "".join(out)

    def _reference(self, ref: _Reference, here: PathKey) -> Any:
        if ref.resolver is not None:
            raise _Failure(
                RESOLVER, f"{ref.text} uses the resolver '{ref.resolver}'; its value is not checked"
            )
        key = "".join(
            p if isinstance(p, str) else _as_text(self._reference(p, here)) for p in ref.parts
        ).strip()
        if not key.strip("."):
            raise _Failure(MALFORMED, f"{ref.text} names no key")
        if key in self.variables:
            return self.variables[key]
        target = self._locate(key, here)
        node = self._node(target)
        if isinstance(node, str) and has_references(node):
            return self.string(node, target)
        return self.tree(node, target)

    def _locate(self, key: str, here: PathKey) -> PathKey:
        dots = len(key) - len(key.lstrip("."))
        if dots > len(here):
            raise _Failure(UNKNOWN, f"${{{key}}} goes above the top of the file")
        path: PathKey = here[: len(here) - dots] if dots else ()
        node = self._node(path)
        for token in _KEY_TOKEN.findall(key[dots:]):
            if isinstance(node, dict) and token in node:
                path, node = (*path, token), node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                path, node = (*path, int(token)), node[int(token)]
            else:
                raise _Failure(
                    UNKNOWN, f"${{{key}}} refers to a key that does not exist", self._suggest(key)
                )
        return path

    def _node(self, path: PathKey) -> Any:
        node = self.root
        for part in path:
            node = node[part]
        return node

    def _suggest(self, key: str) -> str | None:
        known = [*self.variables, *(_dotted(p) for p, _ in _walk(self.root) if p)]
        close = difflib.get_close_matches(key.lstrip("."), known, n=1)
        return f"${{{close[0]}}}" if close else None


def resolve(data: Any, variables: Mapping[str, Any] | None = None) -> Resolution:
    """Resolve every `${...}` in `data`; problems are reported at the string that has them."""
    resolver = _Resolver(data, variables or {})
    resolved = resolver.tree(data, ())
    return Resolution(resolved, resolver.problems, resolver.failed)
