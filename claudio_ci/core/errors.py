"""Errors that end a command with exit code 2 and one readable line, never a traceback."""

from __future__ import annotations


class ClaudioError(Exception):
    """A usage, configuration or environment problem the user must fix (exit 2)."""

    exit_code = 2


class UsageError(ClaudioError):
    """The command line asks for something that cannot be done."""


class ConfigError(ClaudioError):
    """A configuration file or value is invalid; the message names file:line:col."""

    def __init__(self, message: str, finding: object | None = None) -> None:
        super().__init__(message)
        self.finding = finding


class GitError(ClaudioError):
    """git could not answer: not a repository, a corrupt object, a missing revision."""
