"""`${...}` interpolation as OmegaConf 2.1-2.3 resolves it, without importing omegaconf.

The lexer follows the modes of OmegaConf's grammar (`OmegaConfGrammarLexer.g4`: top
level, interpolation, resolver arguments, quoted strings), so a string OmegaConf rejects at
load (`${a..b}`, `${a b}`, `${:x}`) is malformed here too; references are looked up as
OmegaConf's `_select_impl` does (relative dots, `split_key`, list indices through `int()`,
intermediate nodes dereferenced, `???` refused, a reference to its own parent refused).
Resolvers (`${oc.env:HOME}`, `${now:%Y}`) depend on the machine or on code registered at
run time: their value is "not checked", but the references in their arguments and in the
rest of the string are. `tests/test_interpolation_omegaconf.py` holds the verdicts to
OmegaConf's own on a generated corpus. omegaconf itself costs ~60 ms to import and ~1.5 ms
a config; this walk costs tens of microseconds, which a pre-commit hook can pay.
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
MISSING = "missing"
INVALID = "invalid"

MISSING_VALUE = "???"
MAX_CHAIN = 50  # values a reference may lead through; Python's stack holds ~1,000 frames
# Kinds that OmegaConf turns into an exception when it resolves the config.
FAILING_KINDS = frozenset({UNKNOWN, MALFORMED, CYCLE, MISSING, INVALID})


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


def has_references(text: str) -> bool:
    """What OmegaConf treats as an interpolation: any string holding `${`."""
    return "${" in text


# --- lexer ------------------------------------------------------------------------------------

# Token types (the grammar's names; ATOM stands for every primitive piece of a resolver
# argument: ID, NULL, INT, FLOAT, BOOL, UNQUOTED_CHAR, ESC and WS are alike to the parser).
INTER_OPEN, INTER_CLOSE, BRACE_OPEN, BRACE_CLOSE = "${", "}i", "{", "}"
BRACKET_OPEN, BRACKET_CLOSE, DOT, COLON, COMMA = "[", "]", ".", ":", ","
ID, INTER_KEY, ATOM, QUOTE_OPEN, QUOTE_CLOSE = "ID", "KEY", "ATOM", "Q(", "Q)"
ANY_STR, ESC_INTER, TOP_ESC, QUOTED_ESC, ESC = "STR", "ESC_INTER", "TOP_ESC", "QESC", "ESC"

_WS = " \t"
_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_INTER_KEY = re.compile(r"""[^\\{}()\[\]:. \t'"]+""")
_ATOM_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_/-+.$%*@?|")
_ESCAPABLE = frozenset("\\()[]{}:=, \t")


class _Syntax(Exception):
    """OmegaConf's GrammarParseError."""


@dataclass(frozen=True)
class _Token:
    type: str
    text: str


def _ws_end(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def _backslashes(text: str, i: int) -> int:
    j = i
    while j < len(text) and text[j] == "\\":
        j += 1
    return j - i


def _plain_run(text: str, i: int, stops: str) -> int:
    """End of ANY_STR from `i`: the longest run without `stops` that does not end in `\\`."""
    j = i
    while j < len(text) and text[j] not in stops:
        j += 1
    while j > i and text[j - 1] == "\\":
        j -= 1
    return j


def _lex(text: str) -> list[_Token]:  # noqa: C901, PLR0912, PLR0915
    # One state machine over OmegaConf's lexer modes: split, its branches would read apart.
    tokens: list[_Token] = []
    modes = ["top"]
    i, n = 0, len(text)

    def add(kind: str, end: int) -> int:
        tokens.append(_Token(kind, text[i:end]))
        return end

    while i < n:
        mode = modes[-1]
        if text.startswith("${", i):
            i = add(INTER_OPEN, _ws_end(text, i + 2))
            modes.append("inter")
        elif mode in {"top", "'", '"'}:
            quote = "" if mode == "top" else mode
            if quote and text[i] == quote:
                i = add(QUOTE_CLOSE, i + 1)
                modes.pop()
            elif text[i] == "\\":
                run = _backslashes(text, i)
                after = text[i + run : i + run + 1]
                if run % 2 and text.startswith("${", i + run):
                    i = add(ESC_INTER, i + run + 2)
                elif run % 2 and quote and after == quote:
                    i = add(ESC, i + run + 1)
                elif after in {"", "$"} or (quote and after == quote):
                    kind = (QUOTED_ESC if quote else TOP_ESC) if run % 2 == 0 else ANY_STR
                    i = add(kind, i + run)
                else:
                    i = add(ANY_STR, _plain_run(text, i, "$" + quote))
            elif text[i] == "$":
                i = add(ANY_STR, i + 1)
            else:
                i = add(ANY_STR, _plain_run(text, i, "$" + quote))
        elif mode == "inter":
            j = _ws_end(text, i)
            char = text[j : j + 1]
            if char == ":":
                i = add(COLON, _ws_end(text, j + 1))
                modes[-1] = "value"
            elif char == "}":
                i = add(INTER_CLOSE, j + 1)
                modes.pop()
            elif j > i:
                raise _Syntax(f"unexpected whitespace at character {i + 1}")
            elif char in {".", "[", "]"}:
                i = add({".": DOT, "[": BRACKET_OPEN, "]": BRACKET_CLOSE}[char], i + 1)
            else:
                key = _INTER_KEY.match(text, i)
                if key is None:
                    raise _Syntax(f"{char!r} cannot appear in a key (character {i + 1})")
                name = _ID.match(text, i)
                kind = ID if name is not None and name.end() == key.end() else INTER_KEY
                i = add(kind, key.end())
        else:  # "value": the arguments of a resolver
            j = _ws_end(text, i)
            char = text[j : j + 1]
            if char in {",", ":"}:
                i = add(COMMA if char == "," else COLON, _ws_end(text, j + 1))
            elif char in {"]", "}"}:
                i = add(BRACKET_CLOSE if char == "]" else BRACE_CLOSE, j + 1)
                if char == "}":
                    modes.pop()
            elif j > i:
                i = add(ATOM, j)
            elif char in {"{", "["}:
                i = add(BRACE_OPEN if char == "{" else BRACKET_OPEN, _ws_end(text, i + 1))
                if char == "{":
                    modes.append("value")
            elif char in {"'", '"'}:
                i = add(QUOTE_OPEN, i + 1)
                modes.append(char)
            elif char == "\\" and text[i + 1 : i + 2] in _ESCAPABLE:
                i = add(ATOM, i + 2)
            elif char in _ATOM_CHARS or char == "\\":
                i = add(ATOM, i + 1)
            else:
                raise _Syntax(f"{char!r} cannot appear unquoted in a resolver's arguments")
    if len(modes) > 1:
        raise _Syntax(
            "a '}' is missing" if modes[-1] != "'" and modes[-1] != '"' else "a quote is not closed"
        )
    return tokens


# --- parser -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _NodeRef:
    """`${a.b[0]}`: the key's pieces as the grammar has them (a piece may be a reference)."""

    pieces: tuple[str | _Ref, ...]
    text: str


@dataclass(frozen=True)
class _ResolverRef:
    """`${oc.env:HOME,${x}}`: the name's pieces and every reference in the arguments."""

    name: tuple[str | _Ref, ...]
    arguments: tuple[_Ref, ...]
    text: str


_Ref = _NodeRef | _ResolverRef
_Piece = str | tuple[str, str] | _Ref  # literal text, (escape token type, text), a reference


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _lex(text)
        self.i = 0
        self.memo: dict[int, tuple[_Ref | _Syntax, int]] = {}

    def peek(self) -> str | None:
        return self.tokens[self.i].type if self.i < len(self.tokens) else None

    def take(self, *kinds: str) -> _Token:
        if self.peek() not in kinds:
            got = "the end" if self.peek() is None else repr(self.tokens[self.i].text)
            raise _Syntax(f"unexpected {got} in {self.text!r}")
        self.i += 1
        return self.tokens[self.i - 1]

    def value(self) -> list[_Piece]:
        pieces = self.text_pieces(top=True)
        if self.peek() is not None:
            self.take()  # raises: an unexpected token
        return pieces

    def text_pieces(self, *, top: bool) -> list[_Piece]:
        pieces: list[_Piece] = []
        while (kind := self.peek()) in {INTER_OPEN, ANY_STR, ESC_INTER, TOP_ESC, QUOTED_ESC, ESC}:
            if kind == INTER_OPEN:
                pieces.append(self.reference())
            else:
                token = self.take(kind)
                pieces.append(token.text if kind == ANY_STR else (kind, token.text))
        if top and not pieces:
            self.take(ANY_STR)  # raises
        return pieces

    def reference(self) -> _Ref:
        """A resolver, else a node reference; memoised by position, as the resolver attempt
        re-reads the nested references a node reference then reads again."""
        start = self.i
        if start in self.memo:
            outcome, self.i = self.memo[start]
            if isinstance(outcome, _Syntax):
                raise outcome
            return outcome
        try:
            try:
                ref: _Ref = self.resolver(start)
            except _Syntax:
                self.i = start
                ref = self.node(start)
        except _Syntax as exc:
            self.memo[start] = (exc, self.i)
            raise
        self.memo[start] = (ref, self.i)
        return ref

    def _source(self, start: int) -> str:
        return "".join(t.text for t in self.tokens[start : self.i])

    def resolver(self, start: int) -> _ResolverRef:
        self.take(INTER_OPEN)
        name: list[str | _Ref] = [self.name_part()]
        while self.peek() == DOT:
            self.take(DOT)
            name.append(self.name_part())
        self.take(COLON)
        arguments: list[_Ref] = []
        if self.peek() != BRACE_CLOSE:
            self.sequence(arguments)
        self.take(BRACE_CLOSE)
        return _ResolverRef(tuple(name), tuple(arguments), self._source(start))

    def name_part(self) -> str | _Ref:
        return self.reference() if self.peek() == INTER_OPEN else self.take(ID).text

    def node(self, start: int) -> _NodeRef:
        self.take(INTER_OPEN)
        pieces: list[str | _Ref] = []
        while self.peek() == DOT:
            pieces.append(self.take(DOT).text)
        pieces += self.key_part(first=True)
        while self.peek() in {DOT, BRACKET_OPEN}:
            pieces += self.key_part(first=False)
        self.take(INTER_CLOSE)
        return _NodeRef(tuple(pieces), self._source(start))

    def key_part(self, *, first: bool) -> list[str | _Ref]:
        """`[key]`, `key` (first) or `.key`."""
        if self.peek() == BRACKET_OPEN:
            self.take(BRACKET_OPEN)
            key = self.config_key()
            self.take(BRACKET_CLOSE)
            return ["[", key, "]"]
        dot = [] if first else [self.take(DOT).text]
        return [*dot, self.config_key()]

    def config_key(self) -> str | _Ref:
        if self.peek() == INTER_OPEN:
            return self.reference()
        return self.take(ID, INTER_KEY).text

    # resolver arguments: only the references they hold matter here

    def sequence(self, out: list[_Ref]) -> None:
        self.element(out, optional=True)
        while self.peek() == COMMA:
            self.take(COMMA)
            self.element(out, optional=True)

    def element(self, out: list[_Ref], *, optional: bool = False) -> None:
        kind = self.peek()
        if kind == QUOTE_OPEN:
            self.take(QUOTE_OPEN)
            out += [p for p in self.text_pieces(top=False) if isinstance(p, _Ref)]
            self.take(QUOTE_CLOSE)
        elif kind == BRACKET_OPEN:
            self.take(BRACKET_OPEN)
            if self.peek() != BRACKET_CLOSE:
                self.sequence(out)
            self.take(BRACKET_CLOSE)
        elif kind == BRACE_OPEN:
            self.mapping(out)
        elif kind in {ATOM, ID, COLON, INTER_OPEN}:
            while (kind := self.peek()) in {ATOM, ID, COLON, INTER_OPEN}:
                if kind == INTER_OPEN:
                    out.append(self.reference())
                else:
                    self.take(kind)
        elif not optional:
            self.take(ATOM)  # raises

    def mapping(self, out: list[_Ref]) -> None:
        self.take(BRACE_OPEN)
        if self.peek() != BRACE_CLOSE:
            self.pair(out)
            while self.peek() == COMMA:
                self.take(COMMA)
                self.pair(out)
        self.take(BRACE_CLOSE)

    def pair(self, out: list[_Ref]) -> None:
        self.take(ATOM, ID)
        while self.peek() in {ATOM, ID}:
            self.take(ATOM, ID)
        self.take(COLON)
        self.element(out)


# `${model.name}`, `${.sibling}`: most references; such strings skip the lexer (OmegaConf
# has the same shortcut, SIMPLE_INTERPOLATION_PATTERN).
_SIMPLE_REFERENCE = re.compile(r"\$\{(\.*[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*)\}", re.ASCII)


def _simple(text: str) -> list[_Piece] | None:
    if "\\" in text:
        return None
    parts = _SIMPLE_REFERENCE.split(text)
    if any("${" in literal for literal in parts[::2]):
        return None
    return [
        _NodeRef((part,), f"${{{part}}}") if index % 2 else part
        for index, part in enumerate(parts)
        if part
    ]


def parse(text: str) -> list[_Piece]:
    """The pieces of a string holding `${`; raises ValueError where OmegaConf's grammar
    would raise GrammarParseError."""
    simple = _simple(text)
    if simple is not None:
        return simple
    try:
        return _Parser(text).value()
    except _Syntax as exc:
        raise ValueError(str(exc)) from None
    except RecursionError:
        raise ValueError("references nested too deep to read") from None


# --- resolution -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    """A reference that reached a node of the config (OmegaConf returns the node itself)."""

    path: PathKey


class _Failure(Exception):
    """A problem found while resolving one string, to be reported at that string."""

    def __init__(self, kind: str, message: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.suggestion = suggestion


class _Unresolved(Exception):
    """A value that depends on a string that could not be resolved (reported there)."""


class _Opaque(_Unresolved):
    """A resolver's value: only known at run time; reported at the string as not checked."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_KEY_HEAD = re.compile(r"(\.)*[^.[]*")
_KEY_OTHER = re.compile(r"\.([^.[]*)|\[(.*?)\]")


def split_key(key: str) -> list[str]:
    """A dotted key's parts as OmegaConf splits them: `a.b[c].d` -> a, b, c, d."""
    head = _KEY_HEAD.match(key)
    assert head is not None
    stop = head.end()
    tokens = key[:stop].split(".")
    if stop == len(key):
        return tokens
    if key[stop] == "[" and not tokens[-1]:
        tokens.pop()
    return tokens + [dot or bracket for dot, bracket in _KEY_OTHER.findall(key[stop:])]


def _plain_arguments(text: str) -> list[str] | None:
    """A resolver's arguments when they are plain words (`${oc.dict.keys:model}`), else
    None; `[]` for none at all (`${oc.env:}`)."""
    body = text[text.index(":") + 1 : -1]
    if any(c in body for c in "$'\"\\[]{}"):
        return None
    return [part.strip() for part in body.split(",")] if body.strip() else []


def _relative_base(key: str, text: str, parent: PathKey) -> tuple[PathKey, str]:
    """`.x` starts at the parent, each further dot one level up; `x` at the top."""
    if not key.startswith("."):
        return (), key
    base, key = parent, key[1:]
    while key.startswith("."):
        if not base:
            raise _Failure(UNKNOWN, f"{text} goes above the top of the file")
        base, key = base[:-1], key[1:]
    return base, key


def _unescape(piece: tuple[str, str], following: _Piece | None) -> str:
    """An escape token's text as OmegaConf writes it into the string."""
    kind, raw = piece
    if kind == ESC_INTER:
        return raw[-(len(raw) // 2 + 1) :]
    if kind == ESC or (kind == TOP_ESC and isinstance(following, _NodeRef | _ResolverRef)):
        return raw[1::2]
    return raw


def _not_scalar(piece: _Ref, value: Any) -> _Failure | None:
    if not isinstance(value, dict | list):
        return None
    kind = "a mapping" if isinstance(value, dict) else "a list"
    return _Failure(
        NOT_SCALAR, f"{piece.text} is {kind}; OmegaConf writes its raw text into the string"
    )


def _as_int(token: str) -> int | None:
    try:
        return int(token)
    except ValueError:
        return None


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
    return out or "the whole config"


class _Resolver:
    def __init__(
        self, root: Any, variables: Mapping[str, Any], typed: Mapping[PathKey, Any]
    ) -> None:
        self.root = root
        self.variables = variables
        self.typed = typed
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
                value = self.string(node, path)
            except _Unresolved:
                return node
            return (
                self.tree(self.node(value.path), value.path) if isinstance(value, _Found) else value
            )
        return node

    def node(self, path: PathKey) -> Any:
        """The value at `path`, typed as OmegaConf's YAML loader types it."""
        if path in self.typed:
            return self.typed[path]
        node = self.root
        for part in path:
            node = node[part]
        return node

    # --- one string -----------------------------------------------------------------------

    def string(self, text: str, path: PathKey) -> Any:
        """The string's value: a `_Found` node for a lone node reference, else the text."""
        if path in self.done:
            return self.done[path]
        if path in self.failed:
            raise _Unresolved
        if path in self.active:
            chain = " -> ".join(_dotted(p) for p in [*self.active[self.active.index(path) :], path])
            raise _Failure(CYCLE, f"circular reference: {chain}")
        if len(self.active) >= MAX_CHAIN:
            raise _Failure(INVALID, f"references lead through more than {MAX_CHAIN} values")
        self.active.append(path)
        try:
            try:
                pieces = parse(text)
            except ValueError as exc:
                raise _Failure(MALFORMED, f"{text!r} is not a valid interpolation: {exc}") from None
            value = self._text(pieces, path)
        except _Failure as failure:
            self.failed.add(path)
            self.problems.append(Problem(path, failure.kind, failure.message, failure.suggestion))
            raise _Unresolved from None
        except _Opaque as opaque:
            self.failed.add(path)
            self.problems.append(Problem(path, RESOLVER, opaque.message))
            raise _Unresolved from None
        except _Unresolved:
            self.failed.add(path)
            raise
        finally:
            self.active.pop()
        self.done[path] = value
        return value

    def _text(self, pieces: list[_Piece], here: PathKey) -> Any:
        if len(pieces) == 1 and isinstance(pieces[0], _NodeRef | _ResolverRef):
            return self._reference(pieces[0], here)
        out: list[str] = []
        unresolved: _Unresolved | None = None
        not_scalar: _Failure | None = None
        for index, piece in enumerate(pieces):
            if isinstance(piece, str):
                out.append(piece)
            elif isinstance(piece, tuple):
                following = pieces[index + 1] if index + 1 < len(pieces) else None
                out.append(_unescape(piece, following))
            else:
                # A resolver or a failed reference must not hide the references after it.
                try:
                    value = self._reference(piece, here)
                except _Unresolved as exc:
                    if unresolved is None or isinstance(exc, _Opaque):
                        unresolved = exc
                    continue
                if isinstance(value, _Found):
                    value = self.node(value.path)
                    not_scalar = not_scalar or _not_scalar(piece, value)
                out.append(_as_text(value))
        if not_scalar is not None:
            raise not_scalar
        if unresolved is not None:
            raise unresolved
        return "".join(out)

    def _reference(self, ref: _Ref, here: PathKey) -> Any:
        if isinstance(ref, _ResolverRef):
            return self._resolver(ref, here)
        key = self._key(ref, here)
        if key in self.variables:
            return self.variables[key]
        return self._select(key, ref.text, here)

    def _resolver(self, ref: _ResolverRef, here: PathKey) -> Any:
        """Its value is only known at run time; its name and arguments are checked."""
        failed: list[_Unresolved] = []
        name = []
        for part in ref.name:
            try:
                name.append(part if isinstance(part, str) else self._key_piece(part, here))
            except _Unresolved as exc:
                failed.append(exc)
                name.append("?")
        for argument in ref.arguments:
            try:
                self._reference(argument, here)
            except _Unresolved as exc:
                failed.append(exc)
        # A value this one depends on failed: reported there. Otherwise: not checked.
        dependency = next((e for e in failed if not isinstance(e, _Opaque)), None)
        if dependency is not None:
            raise dependency
        if not failed:
            self._builtin(".".join(name), ref, here)
        raise _Opaque(f"{ref.text} uses the resolver '{'.'.join(name)}'; its value is not checked")

    def _key(self, ref: _NodeRef, here: PathKey) -> str:
        """The dotted key of a node reference, its nested references resolved.

        A resolver inside the key (`${d.${now:%Y}}`) leaves it unknown, but does not hide
        what fails whatever it returns: another nested reference that fails, or the
        complete keys before it (`${nope.${oc.env:USER}}`)."""
        parts: list[str] = []
        opaque: _Opaque | None = None
        prefix = ""
        for piece in ref.pieces:
            if isinstance(piece, str):
                parts.append(piece)
                continue
            try:
                parts.append(self._key_piece(piece, here))
            except _Opaque as exc:
                if opaque is None:
                    opaque, prefix = exc, "".join(parts)
                parts.append("?")
        if opaque is None:
            return "".join(parts)
        cut = max(prefix.rfind("."), prefix.rfind("["))
        if prefix[:cut].lstrip("."):
            found = self._select(prefix[:cut], ref.text, here)
            node = self.node(found.path) if isinstance(found, _Found) else found
            if not isinstance(node, dict | list):
                raise _Failure(UNKNOWN, f"{ref.text}: {prefix[:cut]} is not a mapping or list")
        raise opaque

    def _builtin(self, name: str, ref: _ResolverRef, here: PathKey) -> None:
        """What OmegaConf's own `oc.*` resolvers refuse whatever the machine: no argument,
        a key that does not exist (`oc.dict.keys`, `oc.dict.values`, `oc.deprecated`), a
        key that is not a mapping (`oc.dict.*`), an empty key (`oc.select`)."""
        if not name.startswith("oc."):
            return
        arguments = _plain_arguments(ref.text)
        if arguments == []:
            raise _Failure(INVALID, f"{ref.text}: the resolver '{name}' needs an argument")
        if not arguments:
            return  # quoted, nested or structured arguments: not read here
        key = arguments[0]
        if name == "oc.select":
            self._oc_select(key, ref.text, here)
            return
        if name not in {"oc.dict.keys", "oc.dict.values", "oc.deprecated"} or not key.strip("."):
            return  # `.`, `..`: an enclosing node, which exists
        try:
            found = self._select(key, ref.text, here)
        except _Failure as failure:
            if failure.kind == CYCLE:
                return  # listing an enclosing mapping's keys reads no value: no cycle
            raise
        node = self.node(found.path) if isinstance(found, _Found) else found
        if name != "oc.deprecated" and not isinstance(node, dict):
            raise _Failure(INVALID, f"{ref.text}: {key} is {type(node).__name__}, not a mapping")

    def _oc_select(self, key: str, text: str, here: PathKey) -> None:
        if not key:
            raise _Failure(INVALID, f"{text}: oc.select needs a key")
        try:  # a key that is not there gives the default; a cycle fails
            self._select(key, text, here)
        except _Failure as failure:
            if failure.kind not in {UNKNOWN, MISSING}:
                raise

    def _key_piece(self, ref: _Ref, here: PathKey) -> str:
        value = self._reference(ref, here)
        if isinstance(value, _Found):
            value = self.node(value.path)
        if not isinstance(value, str):
            raise _Failure(
                INVALID,
                f"{ref.text} is used as a key but is {type(value).__name__} {value!r}, "
                "not a string",
            )
        return value

    def _select(self, key: str, text: str, here: PathKey) -> Any:
        """OmegaConf's `_resolve_key_and_root` and `_select_impl`."""
        parent = here[:-1]
        base, key = _relative_base(key, text, parent)
        path = base
        tokens = split_key(key)
        for position, token in enumerate(tokens):
            last = position == len(tokens) - 1
            path = self._child(path, token, text, key, base)
            value = self.node(path)
            if value == MISSING_VALUE:
                raise _Failure(
                    MISSING,
                    f"{text} refers to {_dotted(path)}, a mandatory value (???) "
                    "that must be set when the experiment is launched",
                )
            if isinstance(value, str) and has_references(value):
                value = self.string(value, path)
                if not isinstance(value, _Found):
                    if last:
                        return value
                    raise _Failure(
                        UNKNOWN, f"{text}: {_dotted(path)} is {value!r}, not a mapping or list"
                    )
                path = value.path
                value = self.node(path)
            if not last and not isinstance(value, dict | list):
                raise _Failure(
                    UNKNOWN,
                    f"{text}: {_dotted(path)} is {value!r}, not a mapping or list",
                )
        if parent[: len(path)] == path:
            raise _Failure(
                CYCLE, f"circular reference: {text} contains the value that refers to it"
            )
        return _Found(path)

    def _child(self, path: PathKey, token: str, text: str, key: str, base: PathKey) -> PathKey:
        """The path one step below `path`, as `_select_impl` takes it."""
        container = self.node(path)
        if isinstance(container, list):
            index = _as_int(token)
            if index is None:
                raise _Failure(UNKNOWN, f"{text}: '{token}' is not a list index")
            if not 0 <= index < len(container):
                raise _Failure(UNKNOWN, f"{text}: list index {index} is out of range")
            return (*path, index)
        if token in container:
            return (*path, token)
        raise _Failure(
            UNKNOWN, f"{text} refers to a key that does not exist", self._suggest(key, base)
        )

    def _suggest(self, key: str, base: PathKey) -> str | None:
        known = [*self.variables, *(_dotted(p) for p, _ in _walk(self.root) if p)]
        close = difflib.get_close_matches(key.lstrip("."), known, n=1)
        return f"${{{close[0]}}}" if close and not base else None


def resolve(
    data: Any,
    variables: Mapping[str, Any] | None = None,
    typed: Mapping[PathKey, Any] | None = None,
) -> Resolution:
    """Resolve every `${...}` in `data`; problems are reported at the string that has them.

    `typed` holds the values OmegaConf's YAML loader reads differently from PyYAML's
    (`1e-3` is the float 0.001 to OmegaConf): references see those.
    """
    resolver = _Resolver(data, variables or {}, typed or {})
    resolved = resolver.tree(data, ())
    return Resolution(resolved, resolver.problems, resolver.failed)
