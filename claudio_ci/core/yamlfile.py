"""Read YAML the way a checker needs it: every value keeps its line and column.

PyYAML builds plain data and forgets where it came from, silently keeps the last of two
duplicate keys, and expands aliases without limit. Here the node tree is composed by
PyYAML (the C parser when available) and turned into data by a small walk that records
positions, rejects duplicate keys and stops alias bombs after a bounded number of nodes
(and recursive aliases after a bounded depth).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from claudio_ci.core.fileio import read_regular

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_NODES = 200_000
MAX_DEPTH = 100
MAX_BYTES = 1_000_000

PathKey = tuple[str | int, ...]
_STR_TAG = "tag:yaml.org,2002:str"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_SET_TAG = "tag:yaml.org,2002:set"
_FLOAT_START = frozenset("-+0123456789.")
_COLLECTION_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("map", "seq", "omap", "pairs", "set")
)
# OmegaConf's own float resolver (omegaconf/_utils.py, get_yaml_loader): YAML 1.2 floats.
_OMEGACONF_FLOAT = re.compile(
    r"""^(?:[-+]?[0-9]+(?:_[0-9]+)*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9]+(?:_[0-9]+)*(?:[eE][-+]?[0-9]+)
    |\.[0-9]+(?:_[0-9]+)*(?:[eE][-+][0-9]+)?
    |[-+]?[0-9]+(?:_[0-9]+)*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class YamlError(Exception):
    """A YAML file that cannot be read; carries the 1-based line and column."""

    def __init__(self, message: str, line: int = 1, col: int = 1, code: str = "syntax") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col
        self.code = code


@dataclass
class YamlDocument:
    """Data from one YAML document plus the position of every key and value in it."""

    data: Any
    source: str
    value_marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    # Values OmegaConf's YAML loader reads differently: `1e-3` is a float to it (YAML 1.2),
    # a string to PyYAML; a timestamp stays the text it is.
    omegaconf_values: dict[PathKey, Any] = field(default_factory=dict)

    def position(self, path: Sequence[str | int], *, key: bool = False) -> tuple[int, int]:
        """Line and column of `path`, or of its nearest ancestor that exists."""
        marks = self.key_marks if key else self.value_marks
        current = tuple(path)
        while current:
            if current in marks:
                return marks[current]
            if not key and current in self.key_marks:
                return self.key_marks[current]
            current = current[:-1]
        return self.value_marks.get((), (1, 1))


def json_path(path: Sequence[str | int]) -> str:
    """`$.output.dir`, `$.layers[0]`: the notation check-jsonschema users know."""
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    def __init__(
        self, doc: YamlDocument, max_nodes: int, max_depth: int = MAX_DEPTH, text: str = ""
    ) -> None:
        self.doc = doc
        self.text = text
        self.max_nodes = max_nodes
        self.max_depth = max_depth
        self.visited = 0
        self.depth = 0
        self.constructor = yaml.SafeLoader("")  # only its scalar construction is used

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.visited += 1
        if self.visited > self.max_nodes:
            line, col = _mark(node)
            raise YamlError(
                f"document expands to more than {self.max_nodes:,} values "
                "(an alias bomb?); refusing to read it",
                line,
                col,
                code="too-large",
            )
        if self.depth >= self.max_depth:
            line, col = _mark(node)
            raise YamlError(
                f"values nested more than {self.max_depth} levels deep "
                "(a recursive alias?); refusing to read it",
                line,
                col,
                code="too-large",
            )
        self.doc.value_marks.setdefault(path, _mark(node))
        self.depth += 1
        try:
            if not isinstance(node, yaml.ScalarNode) and node.tag not in _COLLECTION_TAGS:
                line, col = _mark(node)  # `!!python/object/apply:eval [...]`: safe_load refuses
                raise YamlError(
                    f"could not determine a constructor for the tag {node.tag!r}", line, col
                )
            if node.tag == _SET_TAG or (node.tag == _TIMESTAMP_TAG and self._explicit_tag(node)):
                line, col = _mark(node)  # a set, a date: values OmegaConf cannot hold
                what = "a set (!!set)" if node.tag == _SET_TAG else "a date (!!timestamp)"
                raise YamlError(f"{what} is not a value OmegaConf can hold", line, col)
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            value = self._scalar(node)
            self._omegaconf_value(node, path, value)
            return value
        finally:
            self.depth -= 1

    def _scalar(self, node: yaml.Node) -> Any:
        """A scalar's value; a tag it cannot satisfy (`!!int abc`, `2024-13-45`) is an error."""
        if node.tag == _STR_TAG:  # most scalars: nothing to convert
            return node.value
        construct = self.constructor.yaml_constructors.get(node.tag)
        try:
            if construct is None:  # an unknown tag: let PyYAML say so
                return self.constructor.construct_object(node, deep=True)
            return construct(self.constructor, node)
        except yaml.constructor.ConstructorError as exc:
            message = str(exc.problem)
        except (ValueError, TypeError, AttributeError, OverflowError):
            message = f"{node.value!r} is not a valid {node.tag.rsplit(':', 1)[-1]}"
        line, col = _mark(node)
        raise YamlError(message, line, col)

    def _omegaconf_value(self, node: yaml.Node, path: PathKey, value: Any) -> None:
        if not isinstance(node, yaml.ScalarNode):
            return
        if node.style not in {None, ""} or node.tag not in {_STR_TAG, _TIMESTAMP_TAG}:
            return
        if node.tag == _TIMESTAMP_TAG:
            self.doc.omegaconf_values[path] = node.value
        elif (
            value[:1] in _FLOAT_START
            and _OMEGACONF_FLOAT.match(value)
            and not self._explicit_tag(node)
        ):
            self.doc.omegaconf_values[path] = self.constructor.construct_yaml_float(node)

    def _omegaconf_key(self, node: yaml.Node, key: Any) -> Any:
        """A key as OmegaConf's loader types it: `2024-01-01` stays text, `1e3` is 1000.0."""
        if not isinstance(node, yaml.ScalarNode):
            return key
        if node.style not in {None, ""} or node.tag not in {_STR_TAG, _TIMESTAMP_TAG}:
            return key
        if node.tag == _TIMESTAMP_TAG:
            return node.value
        if key[:1] in _FLOAT_START and _OMEGACONF_FLOAT.match(key) and not self._explicit_tag(node):
            return self.constructor.construct_yaml_float(node)
        return key

    def _explicit_tag(self, node: yaml.Node) -> bool:
        """`!!str 1e-3`: a tag written in the file, which OmegaConf keeps."""
        line, col = _mark(node)
        return _char_at(self.text, line, col) == "!"

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[Any, Any]:
        # Own keys are recorded before merged ones, so their positions win.
        result: dict[Any, Any] = {}
        merge_sources: list[yaml.Node] = []
        seen: dict[Any, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merge_sources.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                line, col = _mark(key_node)
                raise YamlError("a mapping key must be a scalar", line, col)
            key = self._scalar(key_node)
            if key is None:
                line, col = _mark(key_node)
                raise YamlError("a null key (~, null, or none) is refused by OmegaConf", line, col)
            if key in seen:
                line, col = _mark(key_node)
                first_line, _ = _mark(seen[key])
                raise YamlError(
                    f"duplicate key {key!r} (first defined on line {first_line})",
                    line,
                    col,
                    code="duplicate-key",
                )
            seen[key] = key_node
            key = self._omegaconf_key(key_node, key)
            key_path = (*path, key if isinstance(key, (str, int)) else str(key))
            self.doc.key_marks.setdefault(key_path, _mark(key_node))
            result[key] = self.build(value_node, key_path)
        merged: dict[Any, Any] = {}
        for source in merge_sources:
            merged.update(self._merge_source(source, path))
        return {**merged, **result}

    def _merge_source(self, node: yaml.Node, path: PathKey) -> dict[Any, Any]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[Any, Any] = {}
        for source in reversed(sources):
            value = self.build(source, path)
            if not isinstance(value, dict):
                line, col = _mark(source)
                raise YamlError("a merge key (<<) must refer to a mapping", line, col)
            merged.update(value)
        return merged


def parse_yaml(text: str, source: str = "<string>", max_nodes: int = MAX_NODES) -> YamlDocument:
    """Parse one YAML document; an empty document gives `data=None`."""
    try:
        documents = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or "invalid YAML"
        if _char_at(text, line, col) == "\t":
            problem = "a tab cannot indent YAML; use spaces"
        elif exc.context:
            problem = f"{problem} ({exc.context})"
        raise YamlError(problem, line, col) from None
    except yaml.reader.ReaderError as exc:
        line, col = _line_col(text, exc.position)
        raise YamlError(
            f"character #x{exc.character:04x} is not allowed: {exc.reason}", line, col
        ) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}") from None
    if "\t" in text or _BLOCK_COMMENT.search(text):
        _check_tabs(text)
    if len(documents) > 1:
        line, col = _mark(documents[1])
        raise YamlError(
            f"{len(documents)} YAML documents in one file; expected one",
            line,
            col,
            code="multi-document",
        )
    doc = YamlDocument(data=None, source=source)
    if documents:
        doc.data = _Builder(doc, max_nodes, text=text).build(documents[0], ())
    return doc


# `a: |#note`: a comment glued to a block scalar's header, which libyaml accepts and
# PyYAML's scanner (safe_load, OmegaConf, Hydra) rejects.
_BLOCK_COMMENT = re.compile(r"[|>][-+0-9]*#")


def _compose(text: str) -> list[yaml.Node]:
    """The documents as libyaml composes them; where libyaml refuses a tab inside a block
    scalar's text (`a: |` then ` <TAB>x`), PyYAML's own scanner, the loaders' judge, decides."""
    try:
        return list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError:
        if "\t" not in text or not yaml.__with_libyaml__:  # _Loader is PyYAML's own
            raise
        try:
            return list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        except yaml.YAMLError:
            pass
        raise


def _check_tabs(text: str) -> None:
    """libyaml accepts a tab between tokens (`epochs: 100<TAB>`, `name:<TAB>x`) that
    PyYAML's pure-Python scanner, which `yaml.safe_load`, OmegaConf and Hydra use, rejects:
    scan such a file with that scanner too (only files holding a tab pay for it)."""
    try:
        for _ in yaml.scan(text, Loader=yaml.SafeLoader):
            pass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        if _char_at(text, line, col) == "\t":
            raise YamlError(
                "a tab here is accepted by libyaml but rejected by PyYAML's safe_load, "
                "OmegaConf and Hydra; use spaces",
                line,
                col,
            ) from None
        raise YamlError(exc.problem or "invalid YAML", line, col) from None


def _line_col(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of a character index."""
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _char_at(text: str, line: int, col: int) -> str:
    lines = text.split("\n")
    if line > len(lines) or col > len(lines[line - 1]):
        return ""
    return lines[line - 1][col - 1]


def decode_yaml_bytes(raw: bytes) -> str:
    """UTF-8 (with or without BOM) as YAML 1.2 requires; a readable error otherwise.

    The position of an undecodable byte is given in characters, as YAML positions are.
    """
    body = raw.removeprefix(codecs.BOM_UTF8)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = body[: exc.start].decode("utf-8")
        line, col = _line_col(before, len(before))
        raise YamlError(
            f"not UTF-8: byte 0x{body[exc.start]:02x} cannot be decoded",
            line,
            col,
            code="encoding",
        ) from None


def load_yaml_file(path: Path, max_bytes: int = MAX_BYTES) -> YamlDocument:
    """Read and parse a YAML file; raises `YamlError` (and `OSError` for I/O, or for a FIFO)."""
    raw = read_regular(path, max_bytes)
    if len(raw) > max_bytes:
        size = path.stat().st_size
        raise YamlError(
            f"file is {size:,} bytes, over the {max_bytes:,}-byte limit for YAML here",
            code="too-large",
        )
    return parse_yaml(decode_yaml_bytes(raw), str(path))
