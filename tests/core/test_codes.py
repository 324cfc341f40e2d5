"""The code registry (claudio_ci/core/codes.py) is the single source of every finding code.

`python -m tests.core.test_codes` rewrites the README's generated `codes:FAMILY` blocks.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from claudio_ci.core.codes import CODE_PATTERN, CODES, FAMILIES, explain, lookup, markdown_table
from claudio_ci.core.findings import Severity
from tests.conftest import CliResult
from tests.gitutil import REPO_ROOT

PACKAGE = REPO_ROOT / "claudio_ci"
README = REPO_ROOT / "README.md"
# Any code-shaped string, so a code of a new family is caught too.
ANY_CODE = re.compile(r"""["']([A-Z]{2,5}\d{3})["']""")
SEVERITIES = {s.label for s in Severity}


def emitted_codes() -> dict[str, list[str]]:
    """Every quoted code in claudio_ci's sources (codes.py aside), with where it is."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "codes.py" and path.parent == PACKAGE / "core":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for code in ANY_CODE.findall(line):
                where = f"{path.relative_to(REPO_ROOT).as_posix()}:{number}"
                found.setdefault(code, []).append(where)
    return found


def test_every_code_in_the_sources_is_in_the_registry() -> None:
    missing = [
        f"{places[0]}: {code} is not in claudio_ci/core/codes.py; add it to its family there "
        "(`CODE severity summary`, then an indented `hint:` line)"
        for code, places in sorted(emitted_codes().items())
        if code not in CODES
    ]
    assert not missing, "\n".join(missing)


def test_every_registered_code_is_emitted_somewhere() -> None:
    emitted = emitted_codes()
    dead = [code for code in CODES if code not in emitted]
    assert not dead, f"in claudio_ci/core/codes.py but emitted nowhere (remove them): {dead}"


def test_every_code_is_well_formed_once_and_in_a_known_family() -> None:
    text = (PACKAGE / "core" / "codes.py").read_text(encoding="utf-8")
    table = text.split('_TABLE = """', 1)[1].split('"""', 1)[0]
    entries = [line.split()[0] for line in table.splitlines() if line[:1].isalpha()]
    duplicates = sorted({code for code in entries if entries.count(code) > 1})
    assert not duplicates, f"codes registered twice in claudio_ci/core/codes.py: {duplicates}"
    assert len(entries) == len(CODES), (
        "an entry without its `hint:` line in claudio_ci/core/codes.py"
    )
    for entry in CODES.values():
        assert CODE_PATTERN.fullmatch(entry.code), f"{entry.code}: not a known family's code"
        assert entry.family in FAMILIES and entry.summary and entry.hint


# --- the README ---------------------------------------------------------------------------


def _expand(cell: str) -> list[str]:
    """`EXP001`–`EXP007` (a range), `SMK101` / `SMK102` and single codes, as listed codes."""
    codes = re.findall(r"[A-Z]{2,5}\d{3}", cell)
    if len(codes) == 2 and re.search(r"`\s*[–-]\s*`", cell):
        family = codes[0].rstrip("0123456789")
        first, last = int(codes[0][len(family) :]), int(codes[1][len(family) :])
        return [f"{family}{n:03d}" for n in range(first, last + 1)]
    return codes


def readme_code_rows() -> list[tuple[list[str], list[str]]]:
    """(codes, other cells) for each README table row whose first cell names codes."""
    rows = []
    for line in README.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and re.fullmatch(r"[`A-Z0-9 /–-]+", cells[0]):
            codes = _expand(cells[0])
            if codes:
                rows.append((codes, cells[1:]))
    return rows


def test_readme_tables_list_every_code_and_only_registered_ones() -> None:
    listed = [code for codes, _ in readme_code_rows() for code in codes]
    unknown = sorted(set(listed) - set(CODES))
    assert not unknown, f"README lists codes that claudio_ci/core/codes.py does not have: {unknown}"
    undocumented = [code for code in CODES if code not in listed]
    assert not undocumented, f"codes missing from the README's code tables: {undocumented}"


def _stated_severity(cells: list[str]) -> str | None:
    """A severity column, or a `(warning ...)` remark in the meaning."""
    for cell in cells:
        if cell in SEVERITIES:
            return cell
    remark = re.search(r"\((error|warning|notice)\b", " ".join(cells))
    return remark.group(1) if remark else None


def test_readme_severities_agree_with_the_registry() -> None:
    disagree = [
        f"{code}: README says {stated}, claudio_ci/core/codes.py says {CODES[code].severity.label}"
        for codes, cells in readme_code_rows()
        if (stated := _stated_severity(cells)) is not None
        for code in codes
        if code in CODES and CODES[code].severity.label != stated
    ]
    assert not disagree, "\n".join(disagree)


def test_each_family_names_a_readme_section_that_exists() -> None:
    headings = [line for line in README.read_text(encoding="utf-8").splitlines() if line[:1] == "#"]
    for family, (_, section) in FAMILIES.items():
        assert any(section in heading for heading in headings), f"{family}: no README {section!r}"


def generated_blocks(text: str) -> dict[str, str]:
    return dict(re.findall(r"<!-- codes:(\w+):start -->\n(.*?)<!-- codes:\1:end -->", text, re.S))


def test_generated_readme_tables_are_up_to_date() -> None:
    blocks = generated_blocks(README.read_text(encoding="utf-8"))
    assert blocks, "README has no generated codes:FAMILY block"
    for family, block in blocks.items():
        assert block == markdown_table(family), (
            f"README's codes:{family} table is stale; run `python -m tests.core.test_codes`"
        )


def update_readme() -> None:
    text = README.read_text(encoding="utf-8")
    for family, block in generated_blocks(text).items():
        start = f"<!-- codes:{family}:start -->\n"
        text = text.replace(start + block, start + markdown_table(family))
    README.write_text(text, encoding="utf-8")


# --- claudio-ci explain ---------------------------------------------------------------------


def test_explain_prints_severity_summary_and_hint(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("explain", "nb004")
    assert (result.code, result.err) == (0, "")
    out = result.out
    assert out == explain(CODES["NB004"])
    assert out.startswith("NB004 (error by default): notebook and text twin out of sync")
    assert "\nhint: --fix syncs" in out and "jupytext-pairing" in out


@pytest.mark.parametrize("argv", [["explain", "NB999"], ["explain", "bogus"], ["explain"]])
def test_explain_of_an_unknown_or_missing_code_is_one_line_and_exit_2(
    argv: list[str], run_cli: Callable[..., CliResult]
) -> None:
    result = run_cli(*argv)
    assert (result.code, result.out) == (2, "")
    assert result.err.count("\n") == 1 and result.err.startswith("claudio-ci: error: explain")


def test_explain_all_lists_every_code(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("explain", "--all")
    assert result.code == 0
    lines = result.out.splitlines()
    assert [line.split()[0] for line in lines] == list(CODES)


def test_explain_has_help_and_is_listed_in_the_top_level_help() -> None:
    run = [sys.executable, "-m", "claudio_ci"]
    own = subprocess.run([*run, "explain", "--help"], capture_output=True, text=True, check=False)
    assert own.returncode == 0 and "usage: claudio-ci explain" in own.stdout
    top = subprocess.run([*run, "--help"], capture_output=True, text=True, check=False)
    assert re.search(r"^\s+explain\s", top.stdout, re.M), top.stdout


def test_lookup_ignores_case_and_spaces() -> None:
    assert lookup(" cr001 ") is CODES["CR001"]
    assert lookup("CR999") is None


def test_the_readme_printer_prints_a_table_per_family() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "claudio_ci.core.codes", "--readme"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(REPO_ROOT),
    )
    assert proc.returncode == 0, proc.stderr
    for family in FAMILIES:
        assert markdown_table(family) in proc.stdout


if __name__ == "__main__":
    update_readme()
