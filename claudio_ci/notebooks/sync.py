"""A pair read, compared and written exactly as `jupytext --sync` does it.

Every notebook is read and written through jupytext here (jupytext and nbformat take about
0.2 s to import); the check comes here only for pairs whose verdict is not cached. The
semantics are jupytext's own: the text file is read with the notebook's outputs combined
in (`read_pair`), then every file is written again (`write_pair`); a file whose new text
differs is one `jupytext --sync` would rewrite.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claudio_ci.core.errors import ConfigError
from claudio_ci.core.yamlfile import json_path
from claudio_ci.notebooks import jupytext_compat
from claudio_ci.notebooks.formats import Format, Member, PairingFormats

_MAX_MESSAGE = 200
# Deeper values make nbformat, jupytext or jsonschema exceed Python's recursion limit; real
# notebooks (widget state and plot specs included) nest a few dozen levels at most.
MAX_NOTEBOOK_DEPTH = 100


@dataclass(frozen=True)
class Problem:
    """Why a file cannot be read as a member of a pair, at a 1-based line and column."""

    message: str
    line: int = 1
    col: int = 1


def decode(data: bytes) -> str:
    """The text jupytext reads from a file: UTF-8, universal newlines.

    Raises UnicodeDecodeError; `unicode_problem` turns it into a Problem.
    """
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8").read()


def unicode_problem(data: bytes, error: UnicodeDecodeError) -> Problem:
    line = data.count(b"\n", 0, error.start) + 1
    col = error.start - data.rfind(b"\n", 0, error.start)
    return Problem(f"not UTF-8: byte 0x{data[error.start]:02x} cannot be decoded", line, col)


def notebook_problem(text: str) -> Problem | None:
    """JSON syntax (with its line) and the nbformat version; the schema is checked on parsing."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return Problem(f"not valid JSON: {exc.msg}", exc.lineno, exc.colno)
    except RecursionError:
        data = None
    if data is None or _deeper_than(data, MAX_NOTEBOOK_DEPTH):
        return Problem(f"values nested more than {MAX_NOTEBOOK_DEPTH} levels deep: not read")
    version = data.get("nbformat") if isinstance(data, dict) else None
    if type(version) is not int:
        return Problem("not a Jupyter notebook: no integer `nbformat` at the top level")
    if version != 4:
        return Problem(f"nbformat {version} notebook: jupytext reads nbformat 4 only")
    return None


def _deeper_than(data: Any, limit: int) -> bool:
    """Whether JSON data nests more than `limit` lists and objects deep (without recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack += [(v, depth + 1) for v in children if isinstance(v, (dict, list))]
    return False


def _shorten(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """nbformat and jupytext warn and log on stderr; a check reports through findings only."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


@contextlib.contextmanager
def session() -> Iterator[None]:
    """Where jupytext runs: quiet, and without costs that do not change what it writes.

    nbformat validates a notebook on every read and write, and every cell jupytext creates
    on its own (through jsonschema's slow path): a third of the time here. A pair's notebook
    is validated once, when it is parsed (`PairNotebooks`); validation only ever reports.
    jupytext parses each YAML header twice with PyYAML's pure-Python loader; libyaml's
    loader gives the same data (and the pure one still reads what libyaml rejects).
    """
    with jupytext_compat.patched(bounded_safe_load, _bounded_safe_load_all), _quiet():
        yield


def bounded_safe_load(stream: Any) -> Any:
    """`yaml.safe_load` within the YAML limits of every file claudio-ci reads
    (`claudio_ci.core.yamlfile`): an alias bomb or a recursive alias in a text twin's header or a
    jupytext configuration raises `YamlError` before anything is expanded."""
    return _bounded_load(stream)


def _bounded_safe_load_all(stream: Any) -> Iterator[Any]:
    """`yaml.safe_load_all` within the same limits; lazy, as jupytext reads only the first
    document of a Markdown file (what follows its header need not be YAML)."""
    import yaml

    loader = yaml.SafeLoader(stream)
    try:
        while loader.check_node():
            yield _construct(loader, loader.get_node())
    finally:
        loader.dispose()


def _bounded_load(stream: Any) -> Any:
    import yaml

    loaders: list[type[yaml.SafeLoader] | type[yaml.CSafeLoader]] = [yaml.SafeLoader]
    if getattr(yaml, "__with_libyaml__", False):  # the same data, faster; the pure one reads
        loaders.insert(0, yaml.CSafeLoader)  # what libyaml rejects
    text = stream if isinstance(stream, (str, bytes)) else stream.read()
    for number, loader_class in enumerate(loaders, 1):
        loader = loader_class(text)
        try:
            node = loader.get_single_node()
            return None if node is None else _construct(loader, node)
        except yaml.YAMLError:
            if number == len(loaders):
                raise
        finally:
            loader.dispose()
    raise AssertionError("unreachable")


def _construct(loader: Any, node: Any) -> Any:
    check_yaml_size(node)
    return loader.construct_document(node)


def check_yaml_size(root: Any) -> None:
    """Count a YAML node tree as expanded (each alias as often as it is used), without
    expanding it; raise YamlError past `yamlfile`'s limits of values and depth."""
    import yaml

    from claudio_ci.core.yamlfile import MAX_DEPTH, MAX_NODES, YamlError

    stack = [(root, 1)]
    visited = 0
    while stack:
        node, depth = stack.pop()
        visited += 1
        if visited > MAX_NODES:
            raise YamlError(
                f"YAML expands to more than {MAX_NODES:,} values (an alias bomb?): not read",
                node.start_mark.line + 1,
                code="too-large",
            )
        if depth > MAX_DEPTH:
            raise YamlError(
                f"YAML values nested more than {MAX_DEPTH} levels deep (a recursive alias?): "
                "not read",
                node.start_mark.line + 1,
                code="too-large",
            )
        if isinstance(node, yaml.SequenceNode):
            stack += [(child, depth + 1) for child in node.value]
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack += [(key, depth + 1), (value, depth + 1)]


def validate_as_jupyter_reads(notebook: Any) -> None:
    """Validate as Jupyter opens a notebook: nbformat's reader upgrades a 4.0-4.4 notebook
    to 4.5, so cell ids (which jupytext and JupyterLab write into such notebooks) are
    tolerated, and missing ones repaired. Raises nbformat's ValidationError.

    The schema is checked on a shallow copy: the notebook itself is left as read, since
    jupytext writes back what it read. (`session()` turns nbformat's own calls off.)
    """
    from nbformat.validator import validate

    cells = notebook.get("cells")
    minor = notebook.get("nbformat_minor")
    if not isinstance(cells, list) or type(minor) is not int or minor >= 5:
        validate(notebook)
        return
    taken = {c.get("id") for c in cells if isinstance(c, dict)}
    upgraded = [
        {**cell, "id": _free_id(index, taken)}
        if isinstance(cell, dict) and "id" not in cell
        else cell
        for index, cell in enumerate(cells)
    ]
    validate({**notebook, "cells": upgraded, "nbformat_minor": 5}, version=4, version_minor=5)


def _free_id(index: int, taken: set[Any]) -> str:
    candidate = f"cell-{index}"
    while candidate in taken:
        candidate += "-"
    taken.add(candidate)
    return candidate


class Jupytext:
    """jupytext for one run: the configured pairing is checked, and each folder's jupytext
    configuration read, once; nothing is imported before the first pair is parsed."""

    def __init__(self, pairing: PairingFormats) -> None:
        self.pairing = pairing
        self._pairing_checked = False
        self._configs: dict[Path, Any] = {}

    def pair(
        self, root: Path, members: Sequence[Member], files: Mapping[str, str]
    ) -> PairNotebooks:
        if not self._pairing_checked:
            self._check_pairing()
            self._pairing_checked = True
        notebook_path = root / members[0].path
        if notebook_path.parent not in self._configs:
            self._configs[notebook_path.parent] = _jupytext_config(root, notebook_path)
        return PairNotebooks(root, members, files, self._configs[notebook_path.parent])

    def _check_pairing(self) -> None:
        jupytext_compat.require()
        for fmt in self.pairing.formats:
            if fmt.is_notebook:
                continue
            error = jupytext_compat.format_error(fmt.extension, fmt.format_name)
            if error is not None:
                raise ConfigError(f"notebooks.formats: {fmt.short}: {error}")


def _jupytext_config(root: Path, notebook_path: Path) -> Any:
    """jupytext's configuration for a notebook, found as `load_jupytext_config` finds it; a
    Python one (`.jupytext.py`) inside the repository is never run: a check runs no code
    that a branch brings (the user's own, outside the repository, is theirs to run). A
    configuration file jupytext cannot read is a configuration error, not every notebook's."""
    try:
        found = jupytext_compat.find_config_file(str(notebook_path))
    except (ValueError, OSError) as exc:  # it parses each pyproject.toml on the way up
        broken = _unreadable_pyproject(notebook_path.parent)
        name = _shown(root, broken) if broken else "pyproject.toml"
        raise ConfigError(f"{name}: jupytext cannot read it: {exc}") from None
    if found is None:
        return None
    config_file = Path(found)
    name = _shown(root, config_file)
    if config_file.suffix == ".py" and config_file.resolve().is_relative_to(root.resolve()):
        raise ConfigError(
            f"{name}: a Python jupytext configuration is not run: claudio-ci never executes "
            "repository code in a check; write it as jupytext.toml"
        )
    try:
        return jupytext_compat.load_config_file(found)
    except ImportError:
        raise
    except Exception as exc:  # TOML, YAML or JSON syntax, or a value jupytext refuses
        message = " ".join(str(exc).split())[:_MAX_MESSAGE]
        raise ConfigError(f"{name}: jupytext cannot read it: {message}") from None


def _unreadable_pyproject(directory: Path) -> Path | None:
    """The folder at or above `directory` where jupytext's configuration search failed: its
    pyproject.toml (jupytext parses each one on the way up)."""
    for folder in (directory, *directory.parents):
        try:
            jupytext_compat.find_config_file(str(folder), search_parent_dirs=False)
        except (ValueError, OSError):
            return folder / "pyproject.toml"
    return None


def _shown(root: Path, path: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


class PairNotebooks:
    """The existing files of one pair, as jupytext reads and writes them.

    `files` maps the repo-relative path of each existing member to its decoded text;
    `members` lists the whole pair, the notebook first; `config` is jupytext's configuration
    for the notebook's folder (None when there is none). Use inside `session()`.
    """

    def __init__(
        self, root: Path, members: Sequence[Member], files: Mapping[str, str], config: Any
    ) -> None:
        self.root = root
        self.members = tuple(members)
        self.files = dict(files)
        self.config = config
        self.notebook = members[0] if members[0].path in files else None
        self.texts = [m for m in members[1:] if m.path in files]
        self.problem: Problem | None = None
        self._notebook = self._parse_notebook() if self.notebook else None
        # The pairing the files declare (metadata, else jupytext's configuration).
        self.declared: PairingFormats | None = None
        if self.problem is None:
            self.declared = self._declared_formats()

    def _parse_notebook(self) -> Any:
        """The notebook as `jupytext.read` returns it, parsed and validated once."""
        import nbformat

        assert self.notebook is not None
        try:
            notebook = nbformat.reads(self.files[self.notebook.path], nbformat.NO_CONVERT)
            validate_as_jupyter_reads(notebook)
        except Exception as exc:  # a schema error, or nbformat giving up on a broken notebook
            path = list(getattr(exc, "absolute_path", []))
            where = f"{json_path(path)}: " if path else ""
            message = getattr(exc, "message", str(exc))
            self.problem = Problem(f"invalid notebook: {where}{_shorten(message)}")
            return None
        jupytext_compat.rearrange_metadata(notebook.metadata)
        return notebook

    # --- reading and writing as jupytext's command line does -------------------------------

    def fmt(self, member: Member) -> dict[str, str]:
        """The format a member is read in: the one its pairing metadata declares for its slot."""
        declared = self.declared.formats if self.declared else ()
        chosen = next((f for f in declared if f.slot == member.format.slot), member.format)
        return chosen.to_jupytext()

    def read(self, member: Member) -> Any:
        """A fresh notebook read from `member` (jupytext and nbformat change what they get)."""
        import jupytext

        if member == self.notebook:
            return _copy_notebook(self._notebook)
        text = io.StringIO(self.files[member.path])
        return jupytext.read(text, fmt=self.fmt(member), config=self.config)

    def write(self, notebook: Any, fmt: dict[str, str]) -> str:
        import jupytext

        text: str = jupytext.writes(notebook, fmt=dict(fmt), config=self.config)
        return text if text.endswith("\n") else text + "\n"

    def from_text(self, member: Member) -> Any:
        """The notebook `jupytext --sync` builds when `member` is the newest file."""
        notebook = self.read(member)
        if self.notebook is None:
            return notebook
        outputs = self.read(self.notebook)
        return jupytext_compat.combine(
            notebook, outputs, self.fmt(member), member.path, self.notebook.path
        )

    # --- what the check asks --------------------------------------------------------------

    def _declared_formats(self) -> PairingFormats | None:
        source = self.notebook or (self.texts[0] if self.texts else None)
        if source is None:
            return None
        notebook = self._notebook if source == self.notebook else self.read(source)
        formats = jupytext_compat.notebook_formats(
            notebook, self.config, str(self.root / source.path)
        )
        if not formats:
            return None
        return PairingFormats(tuple(Format.from_jupytext(f) for f in formats))

    def stale(self) -> bool:
        """Whether `jupytext --sync` would rewrite a file, whichever file is newest."""
        return self.rewriting_source() is not None

    def rewriting_source(self) -> Member | None:
        """A file from which `jupytext --sync` (that file newest) rewrites another; None when
        the pair is in sync. From a text file, read with the notebook's outputs combined in,
        every file is written again; from the notebook, the text files. Both are needed: a
        MyST header keeps the key order of the notebook it is written from, which the ipynb
        (keys sorted) never shows, so a text read back can agree with the notebook and still
        be rewritten from it (a Julia kernelspec written `name` first, for one).
        """
        existing = self._existing()
        same_order = True
        for member in self.texts:
            notebook = self.from_text(member)
            if any(self.write(notebook, self.fmt(m)) != self.files[m.path] for m in existing):
                return member
            same_order = same_order and self._same_key_order(notebook)
        if self.notebook is None or same_order:
            # Written from the notebook, each text would be the one just written from the
            # text: the notebook file is that notebook (ipynb written alike), keys in order.
            return None
        notebook = self.read(self.notebook)
        if any(self.write(notebook, self.fmt(m)) != self.files[m.path] for m in self.texts):
            return self.notebook
        return None

    def _same_key_order(self, combined: Any) -> bool:
        """Whether a notebook read from a text has the notebook's metadata keys in the same
        order (`text_representation` aside: writing a text sets it, writing an ipynb drops it)."""
        assert self._notebook is not None
        ours = self._notebook
        if len(ours.cells) != len(combined.cells):
            return False
        metadata = dict(combined.metadata)
        if "jupytext" in metadata:
            jupytext = {k: v for k, v in metadata["jupytext"].items() if k != "text_representation"}
            metadata["jupytext"] = jupytext
            if not jupytext:
                del metadata["jupytext"]
        return _same_order(metadata, ours.metadata) and all(
            _same_order(a.metadata, b.metadata)
            for a, b in zip(combined.cells, ours.cells, strict=True)
        )

    def difference(self, member: Member) -> tuple[str, int]:
        """How `member` (a text file) differs from the notebook, and the first line that does."""
        assert self.notebook is not None
        notebook = self.read(self.notebook)
        expected = self.write(notebook, self.fmt(member))
        line = _first_different_line(expected, self.files[member.path])
        ours = [(c.cell_type, c.source) for c in notebook.cells]
        theirs = [(c.cell_type, c.source) for c in self.read(member).cells]
        nb_name, text_name = Path(self.notebook.path).name, Path(member.path).name
        for index, (mine, other) in enumerate(zip(ours, theirs, strict=False)):
            if mine != other:
                kinds = "" if mine[0] == other[0] else f": {mine[0]} in {nb_name}, {other[0]} here"
                return f"cell {index + 1} differs from {nb_name}{kinds}", line
        if len(ours) != len(theirs):
            return f"{len(theirs)} cells here, {len(ours)} in {nb_name}", line
        return f"same cells as {nb_name}; metadata or layout differ from {text_name}", line

    def adds_nothing(self, member: Member) -> bool:
        """Whether text `member` holds no cell, cell metadata or notebook metadata (jupytext's
        own aside) that the notebook lacks, in any order: what `jupytext --set-formats`
        writes (from the notebook's keys in file order, while it saves the notebook sorted)."""
        assert self.notebook is not None
        return _content(self.from_text(member)) == _content(self.read(self.notebook))

    def reads_as_written(self, member: Member) -> bool:
        """Whether text `member` reads back as the notebook does once jupytext writes it in
        that format: it holds nothing but what jupytext writes from the notebook, up to what
        jupytext's own reader normalises (a MyST markdown cell's trailing blank lines, which
        MyST drops; a header's key order, kept from the notebook `--set-formats` read before
        it saved the notebook with keys sorted)."""
        import jupytext

        assert self.notebook is not None
        written = self.write(self.read(self.notebook), self.fmt(member))
        normalised = jupytext.reads(written, fmt=self.fmt(member), config=self.config)
        return _content(self.read(member)) == _content(normalised)

    def cells_with_outputs(self) -> int:
        if self._notebook is None:
            return 0
        cells = self._notebook.cells
        return sum(1 for c in cells if c.cell_type == "code" and c.get("outputs"))

    def synced(
        self,
        source: Member,
        pairing: PairingFormats,
        members: Sequence[Member],
        *,
        strip_outputs: bool,
    ) -> dict[str, str]:
        """The text of each of `members` once synced from `source`, declaring `pairing`."""
        notebook = self.read(source) if source == self.notebook else self.from_text(source)
        settings = notebook.metadata.setdefault("jupytext", {})
        if settings.get("formats") != pairing.short:
            # As `jupytext --set-formats` does: the text file must be able to show its pairing.
            if settings.get("notebook_metadata_filter") == "-all":
                del settings["notebook_metadata_filter"]
            settings["formats"] = pairing.short
        if strip_outputs:
            for cell in notebook.cells:
                if cell.cell_type == "code":
                    cell.outputs = []
                    cell.execution_count = None
        return {m.path: self.write(notebook, m.format.to_jupytext()) for m in members}

    def _existing(self) -> list[Member]:
        return [m for m in self.members if m.path in self.files]


def _same_order(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same_order(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same_order, a, b))
    return True


def _copy_notebook(notebook: Any) -> Any:
    """A copy to hand to jupytext, which changes metadata and cells in place but never the
    outputs (only ever replaced whole): these are shared, as copying them is most of the
    cost of a deep copy."""
    from nbformat import NotebookNode

    cells = [
        NotebookNode({**cell, "metadata": copy.deepcopy(cell.metadata)}) for cell in notebook.cells
    ]
    return NotebookNode({**notebook, "metadata": copy.deepcopy(notebook.metadata), "cells": cells})


def _content(notebook: Any) -> tuple[Any, ...]:
    cells = [(c.cell_type, c.source, c.metadata) for c in notebook.cells]
    metadata = {k: v for k, v in notebook.metadata.items() if k != "jupytext"}
    return cells, metadata


def _first_different_line(a: str, b: str) -> int:
    for number, (left, right) in enumerate(zip(a.splitlines(), b.splitlines(), strict=False), 1):
        if left != right:
            return number
    return min(len(a.splitlines()), len(b.splitlines())) + 1
