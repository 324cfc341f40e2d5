"""The one adapter for what GitHub Actions gives a step: `GITHUB_*` and `INPUT_*` variables.

A step learns where it runs from variables (the repository, the event payload's path, the API
URL of GitHub Enterprise), gets its token from the action's `token` input (`INPUT_TOKEN`) or
`GITHUB_TOKEN`, and answers through files: `$GITHUB_OUTPUT` for outputs and `$GITHUB_STEP_SUMMARY`
for the job summary. Outputs use the runner's file-command format: `name=value` for one line,
`name<<DELIMITER` ... `DELIMITER` for several, with a random delimiter that is not in the value
(so a value cannot end the block early and inject outputs of its own).

`github.Environment.from_environ` (the pull request event of `--event PATH` or this step;
`reviewers/command.py`, `conflicts/command.py` and `gpu comment` use it) builds on this
class. Every command reads these variables here: the default `--format` (`default_format`),
the step summary (`append_summary`), outputs (`set_output`, the smoke-test matrix) and the
PR's base branch (`base_ref`); core stays free of the environment. The token is the `token`
input however an action passes it: gpu-cost maps its input to `GITHUB_TOKEN`, assign-reviewers
to `INPUT_TOKEN` (composite actions set no `INPUT_*` themselves). Annotations stay with the
renderers (`core.report.render_github`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claudio_ci.core.errors import UsageError

API_URL = "https://api.github.com"
# The runner refuses a step summary over 128 KiB (it uploads nothing then).
STEP_SUMMARY_LIMIT = 128 * 1024


@dataclass(frozen=True)
class ActionsEnv:
    """A snapshot of the variables one step runs with (the process's own by default)."""

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def _get(self, name: str) -> str | None:
        return self.environ.get(name) or None  # an unset input arrives as ""

    @property
    def active(self) -> bool:
        """True inside a GitHub Actions step."""
        return self.environ.get("GITHUB_ACTIONS") == "true"

    @property
    def default_format(self) -> str:
        """The `--format` a command uses when none is given: `github` in a step, else `text`."""
        return "github" if self.active else "text"

    @property
    def token(self) -> str | None:
        """The action's `token` input, else `GITHUB_TOKEN`; None when neither is set."""
        return self._get("INPUT_TOKEN") or self._get("GITHUB_TOKEN")

    @property
    def api_url(self) -> str:
        """`GITHUB_API_URL` (GitHub Enterprise, the tests' local server), else github.com's."""
        return (self._get("GITHUB_API_URL") or API_URL).rstrip("/")

    @property
    def repository(self) -> str | None:
        """`OWNER/NAME` from `GITHUB_REPOSITORY`, else from the event (as a replayed event
        carries it); None outside Actions; anything else is a usage error."""
        return self.repository_in(None)

    def repository_in(self, event: Mapping[str, Any] | None) -> str | None:
        """`repository`, falling back on `event` (one given by `--event PATH`) when not None
        instead of this step's own."""
        value = self._get("GITHUB_REPOSITORY")
        if value is None:
            named = ((self.event() if event is None else event) or {}).get("repository")
            full_name = named.get("full_name") if isinstance(named, dict) else None
            value = full_name if isinstance(full_name, str) and full_name else None
        if value is not None and (value.count("/") != 1 or "" in value.split("/")):
            raise UsageError(f"GITHUB_REPOSITORY must be OWNER/NAME, got {value!r}")
        return value

    @property
    def head_ref(self) -> str | None:
        """The PR's head branch (set on pull_request events only)."""
        return self._get("GITHUB_HEAD_REF")

    @property
    def base_ref(self) -> str | None:
        """The PR's base branch (set on pull_request events only)."""
        return self._get("GITHUB_BASE_REF")

    @property
    def event_path(self) -> Path | None:
        value = self._get("GITHUB_EVENT_PATH")
        return Path(value) if value else None

    def event(self) -> dict[str, Any] | None:
        """The event payload, None outside Actions; one readable line when it is unusable."""
        path = self.event_path
        if path is None:
            return None
        try:
            data = json.loads(path.read_bytes())
        except OSError as exc:
            raise UsageError(f"GITHUB_EVENT_PATH {path}: {exc.strerror or exc}") from None
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
            raise UsageError(f"GITHUB_EVENT_PATH {path}: not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise UsageError(f"GITHUB_EVENT_PATH {path}: the event is not a JSON object")
        return data

    def pull_request_number(self) -> int | None:
        """The PR of a pull_request(_target) event, or of an issue_comment on a PR."""
        event = self.event() or {}
        for holder in (event.get("pull_request"), event.get("issue"), event):
            number = holder.get("number") if isinstance(holder, dict) else None
            if isinstance(number, int) and not isinstance(number, bool) and number > 0:
                return number
        return None

    def set_output(self, name: str, value: str) -> bool:
        """Append one output to `$GITHUB_OUTPUT`; False when there is none (not in Actions)."""
        if not name or "=" in name or "<<" in name or any(c in name for c in "\r\n"):
            raise ValueError(f"invalid output name {name!r}")
        return self._append("GITHUB_OUTPUT", file_command(name, value))

    def append_summary(self, markdown: str) -> bool:
        """Append Markdown to the job summary; False when there is none (not in Actions)."""
        text = markdown if markdown.endswith("\n") else markdown + "\n"
        return self._append("GITHUB_STEP_SUMMARY", text)

    def _append(self, variable: str, text: str) -> bool:
        target = self._get(variable)
        if target is None:
            return False
        with Path(target).open("a", encoding="utf-8") as handle:
            handle.write(text)  # one write per entry
        return True


def file_command(name: str, value: str) -> str:
    """`name=value`, or the heredoc form when the value spans lines."""
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    import secrets  # ~3 ms (hashlib, hmac): only a multi-line value pays it

    delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    while delimiter in value:  # never in practice; a value must not hold its own end marker
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"
