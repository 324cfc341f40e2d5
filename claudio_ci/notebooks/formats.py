"""jupytext pairing formats (`ipynb,py:percent`) and the paths of a notebook's twins.

Parsed without importing jupytext (~0.3 s), so that a hook whose pairs are all known to be
good never pays for it. Formats with a path prefix (`notebooks///ipynb,scripts///py:percent`)
are resolved by jupytext itself: its prefix rules depend on where jupytext.toml files are.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claudio_ci.notebooks import jupytext_compat

NOTEBOOK_EXTENSION = ".ipynb"
# jupytext's `long_form_one_format` accepts these names for a format.
_ALIASES = {
    "notebook": "ipynb",
    "rmarkdown": "Rmd",
    "quarto": "qmd",
    "marimo": "py",
    "markdown": "md",
    "script": "auto",
    "c++": "cpp",
    "myst": "md:myst",
    "pandoc": "md:pandoc",
}
# jupytext leaves the format name out of a Markdown format's short form, except these.
_MARKDOWN_EXTENSIONS = (".md", ".markdown", ".Rmd")
_NAMED_MARKDOWN_FORMATS = ("pandoc", "myst")


@dataclass(frozen=True)
class Format:
    """One jupytext format: `[prefix/][suffix]extension[:format_name]`."""

    extension: str
    format_name: str | None = None
    suffix: str = ""
    prefix: str = ""

    @classmethod
    def parse(cls, text: str) -> Format:
        spec = text.strip()
        spec = _ALIASES.get(spec.lower(), spec)
        prefix = ""
        if spec.rfind("/") > 0:
            prefix, spec = spec.rsplit("/", 1)
        format_name = None
        if ":" in spec:
            spec, format_name = spec.rsplit(":", 1)
            format_name = "nomarker" if format_name == "bare" else format_name
        suffix = ""
        if spec.rfind(".") > 0:
            suffix, spec = os.path.splitext(spec)
        extension = spec if spec.startswith(".") else "." + spec
        if extension in (".", ".auto"):
            raise ValueError(f"'{text}' names no file extension (write e.g. py:percent)")
        return cls(extension, format_name or None, suffix, prefix)

    @classmethod
    def from_jupytext(cls, fmt: dict[str, Any]) -> Format:
        return cls(
            fmt["extension"], fmt.get("format_name"), fmt.get("suffix", ""), fmt.get("prefix", "")
        )

    def to_jupytext(self) -> dict[str, str]:
        fmt = {"extension": self.extension}
        if self.format_name:
            fmt["format_name"] = self.format_name
        if self.suffix:
            fmt["suffix"] = self.suffix
        if self.prefix:
            fmt["prefix"] = self.prefix
        return fmt

    @property
    def is_notebook(self) -> bool:
        return self.extension == NOTEBOOK_EXTENSION

    @property
    def slot(self) -> tuple[str, str, str]:
        """Where the file lies relative to the notebook, whatever its format name."""
        return self.prefix, self.suffix, self.extension

    @property
    def short(self) -> str:
        """The short form jupytext writes in `formats` metadata (`short_form_one_format`)."""
        text = self.suffix + self.extension if self.suffix else self.extension[1:]
        if self.prefix:
            text = f"{self.prefix}/{text}"
        if self.format_name and (
            self.extension not in _MARKDOWN_EXTENSIONS
            or self.format_name in _NAMED_MARKDOWN_FORMATS
        ):
            text += f":{self.format_name}"
        return text

    def base_of(self, path: str) -> str | None:
        """The pair's base path when `path` is this format's file, else None (no prefix)."""
        stem, extension = posixpath.splitext(path)
        if extension != self.extension or not stem.endswith(self.suffix):
            return None
        return stem[: len(stem) - len(self.suffix)]

    def path_for(self, base: str) -> str:
        return base + self.suffix + self.extension


@dataclass(frozen=True)
class Member:
    """One file of a pair: where it is and in which format jupytext reads it."""

    path: str
    format: Format


@dataclass(frozen=True)
class PairingFormats:
    """A formats string such as `ipynb,py:percent`: one notebook and its text twins."""

    formats: tuple[Format, ...]

    @classmethod
    def parse(cls, text: str) -> PairingFormats:
        """Raises ValueError with a one-line reason."""
        formats = tuple(Format.parse(part) for part in text.split(",") if part.strip())
        notebooks = [f for f in formats if f.is_notebook]
        if len(notebooks) != 1 or len(formats) < 2:
            raise ValueError(f"'{text}' must pair one ipynb with text formats (ipynb,py:percent)")
        if len({f.slot for f in formats}) != len(formats):
            raise ValueError(f"'{text}' gives two formats the same file name")
        return cls(formats)

    @property
    def short(self) -> str:
        return ",".join(f.short for f in self.formats)

    @property
    def extensions(self) -> frozenset[str]:
        return frozenset(f.extension for f in self.formats)

    def same_pairing(self, other: PairingFormats) -> bool:
        """Equal as jupytext reads them: order and spelling aside."""
        return {f.short for f in self.formats} == {f.short for f in other.formats}

    def members(self, path: str, root: Path) -> tuple[Member, ...] | None:
        """The pair that repo-relative `path` belongs to (the notebook first); None if none."""
        if any(f.prefix for f in self.formats):
            return self._members_by_jupytext(path, root)
        for fmt in self.formats:
            base = fmt.base_of(path)
            if base is not None:
                members = tuple(Member(f.path_for(base), f) for f in self._notebook_first())
                return members if len({m.path for m in members}) == len(members) else None
        return None

    def _notebook_first(self) -> Iterator[Format]:
        yield from (f for f in self.formats if f.is_notebook)
        yield from (f for f in self.formats if not f.is_notebook)

    def _members_by_jupytext(self, path: str, root: Path) -> tuple[Member, ...] | None:
        long_forms = [f.to_jupytext() for f in self.formats]
        absolute = str(root / path)
        for fmt in long_forms:
            pairs = jupytext_compat.paired_paths(absolute, fmt, long_forms)
            if pairs is None:
                continue
            try:
                members = [
                    Member(
                        Path(os.path.normpath(alt)).relative_to(root).as_posix(),
                        Format.from_jupytext(alt_fmt),
                    )
                    for alt, alt_fmt in pairs
                ]
            except ValueError:  # a twin outside the repository
                return None
            return tuple(sorted(members, key=lambda m: not m.format.is_notebook))
        return None
