"""Which workflow commands the GitHub Actions runner would find in a program's output.

Written for these tests from the runner's documented behaviour (actions/runner,
ActionCommandManager and ActionCommand; GitHub's "Workflow commands" page), not copied:

- output is read line by line: `\\r\\n`, `\\n` and a lone `\\r` each end a line (.NET ReadLine);
- the modern form: after leading whitespace (.NET `char.IsWhiteSpace`) a line starts with
  `::`, and a second `::` ends the command part; the name runs to the first space, then
  comma-separated `key=value` properties; the rest is the data;
- else the legacy form: `##[` anywhere in the line, the command part running to the next
  `]`, properties separated by `;`;
- .NET's culture-aware StartsWith/IndexOf may skip characters the collation ignores, so
  controls, format characters and the default-ignorable marks are dropped before matching;
- names are compared without case; after `stop-commands` with data TOKEN, nothing is a
  command until a line whose command name is TOKEN.

It errs on the side of finding too much: any non-empty name counts, registered with the
runner or not, so a test that finds no stray command here has none in the runner either.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

LINE_BREAK = re.compile(r"\r\n|\r|\n")
# char.IsWhiteSpace: U+0009-U+000D, U+0085, and the Unicode separators (Zs, Zl, Zp).
DOTNET_WHITESPACE = (
    "\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
DEFAULT_IGNORABLE_MARKS = (
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u3164\uffa0"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
)
DATA_ESCAPES = (("%0D", "\r"), ("%0A", "\n"), ("%25", "%"))
PROPERTY_ESCAPES = (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%"))
LEGACY_ESCAPES = (("%3B", ";"), ("%0D", "\r"), ("%0A", "\n"), ("%5D", "]"), ("%25", "%"))


@dataclass(frozen=True)
class Command:
    name: str
    data: str
    properties: dict[str, str] = field(default_factory=dict, compare=True, hash=False)
    legacy: bool = False


def _unescape(value: str, mapping: tuple[tuple[str, str], ...]) -> str:
    for escaped, plain in mapping:
        value = value.replace(escaped, plain)
    return value


def _properties(text: str, separator: str, mapping: tuple[tuple[str, str], ...]) -> dict:
    found = {}
    for item in (part for part in text.split(separator) if part):
        pair = [piece for piece in item.split("=", 1) if piece]
        if len(pair) == 2:
            found[pair[0]] = _unescape(pair[1], mapping)
    return found


def ignored(char: str) -> bool:
    """A character a culture-aware comparison may skip (erring towards more)."""
    if char in DEFAULT_IGNORABLE_MARKS:
        return True
    return unicodedata.category(char) in ("Cc", "Cf") and char not in DOTNET_WHITESPACE


def parse_line(line: str) -> Command | None:
    """The command this one line holds for the runner, if any."""
    line = "".join(c for c in line if not ignored(c))
    body = line.lstrip(DOTNET_WHITESPACE)
    if body.startswith("::"):
        end = body.find("::", 2)
        if end >= 0:
            info = body[2:end]
            name, _, props = info.partition(" ")
            if name:
                properties = _properties(props.strip(DOTNET_WHITESPACE), ",", PROPERTY_ESCAPES)
                return Command(name.lower(), _unescape(body[end + 2 :], DATA_ESCAPES), properties)
    start = line.find("##[")
    if start < 0:
        return None
    end = line.find("]", start)
    if end < 0:
        return None
    name, _, props = line[start + 3 : end].partition(" ")
    if not name:
        return None
    properties = _properties(props, ";", LEGACY_ESCAPES)
    return Command(name.lower(), _unescape(line[end + 1 :], LEGACY_ESCAPES), properties, True)


def runner_commands(output: str) -> list[Command]:
    """Every command the runner would act on in `output`, in order, with stop-commands."""
    found: list[Command] = []
    stop_token: str | None = None
    for line in LINE_BREAK.split(output):
        command = parse_line(line)
        if command is None:
            continue
        if stop_token is not None:
            if command.name == stop_token.lower():
                stop_token = None
                found.append(command)
            continue
        if command.name == "stop-commands":
            stop_token = command.data
        found.append(command)
    return found
