"""Every use of jupytext's and nbformat's internals, in one place, with a version check.

The notebook check answers what `jupytext --sync` would do, so it calls what jupytext's own
command line calls; some of that is not jupytext's documented API (`jupytext.read`,
`jupytext.reads`, `jupytext.writes`, which the rest of `notebooks/` may use directly). What
this module relies on, and why:

- `jupytext.paired_paths.paired_paths`, `InconsistentPath`: the twins of a notebook when the
  pairing has path prefixes (`notebooks///ipynb,scripts///py:percent`), whose rules depend
  on where jupytext.toml files are.
- `jupytext.formats.get_format_implementation`, `JupytextFormatError`: whether a configured
  format exists (a wrong one is a configuration error, exit 2).
- `jupytext.formats.rearrange_jupytext_metadata`, `check_file_version`: what `jupytext.read`
  and `--sync` do to a notebook's metadata and a text file's format version.
- `jupytext.combine.combine_inputs_with_outputs`: the notebook `--sync` builds from a text.
- `jupytext.config.find_jupytext_configuration_file`, `load_jupytext_configuration_file`,
  `notebook_formats`: a folder's configuration, found as jupytext finds it (a Python one
  inside the repository is refused before it is loaded), and the pairing it declares.
- The files `jupytext/version.py` and `nbformat/_version.py` (`VERSION_FILES`): the
  verdict cache's key includes them, read without importing either package.
- Patching, only inside `patched()`: `nbformat.validate` and `nbformat.v4.nbbase.validate`
  accept everything (a third of the time; the check validates each notebook once itself),
  and `yaml.safe_load`/`safe_load_all`, which jupytext reads headers with, are replaced by
  bounded loaders (no alias bombs).

These names are not public, so the range jupytext is known to work in is bounded here and in
pyproject.toml (the same range: `tests/notebooks/test_jupytext_compat.py` checks both). An
installed jupytext outside it is a one-line error (exit 2) at first use, not a wrong
verdict. Nothing here imports jupytext at module level: a hook with nothing to parse never
pays for it.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

from claudio_ci.core.errors import ConfigError

SUPPORTED = (">=1.16", "<1.20")
# The newest jupytext the suite ran against (the newest on PyPI at the bound's top when the
# range was last raised); the suite's corpus compares with the real `jupytext --sync`.
NEWEST_TESTED = "1.19.6"
# Where each package keeps its version, as (package, file in its folder).
VERSION_FILES = (("jupytext", "version.py"), ("nbformat", "_version.py"))


def installed_version() -> str:
    """The version of the jupytext that is imported (not the metadata of another copy)."""
    from jupytext.version import __version__

    return str(__version__)


def _release(version: str) -> tuple[int, ...]:
    """The leading release numbers: `1.19.6` and `1.19.6rc1` as (1, 19, 6)."""
    found = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(part) for part in found.group().split(".")) if found else ()


def in_range(version: str) -> bool:
    low, high = (_release(bound.lstrip("<>=")) for bound in SUPPORTED)
    return low <= _release(version) < high


@functools.cache
def require() -> None:
    """Import jupytext and check its version, once per process; exit 2 outside the range.

    (A failed check is not cached: each use raises it again.)"""
    version = installed_version()
    if not in_range(version):
        raise ConfigError(
            f"jupytext {version} is installed; claudio-ci's notebook check supports jupytext"
            f"{','.join(SUPPORTED)}: install a supported jupytext (pip install "
            f"'jupytext{','.join(SUPPORTED)}')"
        )


# --- formats and paths ---------------------------------------------------------------------


def paired_paths(path: str, fmt: dict[str, str], formats: list[dict[str, str]]) -> Any:
    """jupytext's pair of `path` read in `fmt`; None when `path` does not fit `fmt`."""
    require()
    from jupytext.paired_paths import InconsistentPath
    from jupytext.paired_paths import paired_paths as jupytext_paired_paths

    try:
        return jupytext_paired_paths(path, fmt, formats)
    except InconsistentPath:
        return None


def format_error(extension: str, format_name: str | None) -> str | None:
    """Why jupytext has no such text format; None when it has."""
    require()
    from jupytext.formats import JupytextFormatError, get_format_implementation

    try:
        get_format_implementation(extension, format_name)
    except JupytextFormatError as exc:
        return str(exc)
    return None


def rearrange_metadata(metadata: Any) -> None:
    require()
    from jupytext.formats import rearrange_jupytext_metadata

    rearrange_jupytext_metadata(metadata)


def combine(notebook: Any, outputs: Any, fmt: dict[str, str], text_path: str, nb_path: str) -> Any:
    """The notebook `jupytext --sync` builds from a text `notebook` and the `outputs` one."""
    require()
    from jupytext.combine import combine_inputs_with_outputs
    from jupytext.formats import check_file_version

    check_file_version(notebook, text_path, nb_path)
    return combine_inputs_with_outputs(notebook, outputs, fmt=fmt)


# --- configuration -------------------------------------------------------------------------


def find_config_file(path: str, search_parent_dirs: bool = True) -> str | None:
    require()
    from jupytext.config import find_jupytext_configuration_file

    found = find_jupytext_configuration_file(path, search_parent_dirs)
    return None if found is None else str(found)


def load_config_file(path: str) -> Any:
    require()
    from jupytext.config import load_jupytext_configuration_file

    return load_jupytext_configuration_file(path)


def notebook_formats(notebook: Any, config: Any, path: str) -> Any:
    """The pairing a notebook declares (its metadata, else the configuration)."""
    require()
    from jupytext.config import notebook_formats as jupytext_notebook_formats

    return jupytext_notebook_formats(notebook, config, path, fallback_on_current_fmt=False)


# --- patching ------------------------------------------------------------------------------


@contextlib.contextmanager
def patched(
    safe_load: Callable[..., Any], safe_load_all: Callable[..., Iterator[Any]]
) -> Iterator[None]:
    """nbformat's validation off, and PyYAML's safe loaders replaced, restored on exit."""
    import nbformat
    import yaml
    from nbformat.v4 import nbbase

    saved = nbformat.validate, nbbase.validate, yaml.safe_load, yaml.safe_load_all
    nbformat.validate = nbbase.validate = _accept
    yaml.safe_load, yaml.safe_load_all = safe_load, safe_load_all
    try:
        yield
    finally:
        nbformat.validate, nbbase.validate, yaml.safe_load, yaml.safe_load_all = saved


def _accept(*args: Any, **kwargs: Any) -> None:
    """`nbformat.validate`'s stand-in: every notebook is valid (claudio-ci validates its own)."""
    del args, kwargs
