"""Where the files that ship with claudio-ci live, installed or in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # claudio_ci/, above core/


def _shipped(name: str) -> Path:
    """`claudio_ci/_<name>` in a wheel, `<checkout>/<name>` in an editable install."""
    installed = _PACKAGE / f"_{name}"
    return installed if installed.is_dir() else _PACKAGE.parent / name


def templates_dir() -> Path:
    return _shipped("templates")


def hooks_dir() -> Path:
    """The plain git hooks `claudio-ci install-hooks` installs (`hooks/` in a checkout)."""
    return _shipped("hooks")


def repo_templates_dir() -> Path:
    """What `claudio-ci init` writes into a user repository, laid out as it lands there."""
    return templates_dir() / "repo"


def example_project_dir() -> Path:
    """The small PyTorch project used by `claudio-ci demo` and the tests."""
    return templates_dir() / "ml-project"
