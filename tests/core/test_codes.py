"""The code registry (claudio_ci/core/codes.py) is the single source of every finding code.

`python -m claudio_ci.core.codes --update README.md` rewrites the README's generated
`codes:FAMILY` blocks.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from claudio_ci.core import codes as registry
from claudio_ci.core.codes import (
    CODE_PATTERN,
    CODES,
    FAMILIES,
    Code,
    explain,
    lookup,
    markdown_table,
    readme_blocks,
    update_readme,
)
from claudio_ci.core.findings import Finding
from tests.conftest import CliResult
from tests.gitutil import REPO_ROOT

PACKAGE = REPO_ROOT / "claudio_ci"
REGISTRY = PACKAGE / "core" / "codes.py"
README = REPO_ROOT / "README.md"
# Any code-shaped string, so a code of a new family is caught too.
ANY_CODE = re.compile(r"[A-Z]{2,5}\d{3}")
REGENERATE = "python -m claudio_ci.core.codes --update README.md"


def sources() -> list[Path]:
    """claudio_ci's modules, the registry aside."""
    return [path for path in sorted(PACKAGE.rglob("*.py")) if path != REGISTRY]


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(REPO_ROOT).as_posix()}:{getattr(node, 'lineno', 0)}"


def test_no_module_spells_a_code_literal() -> None:
    """A code is written once, in the registry; modules import its constant."""
    spelled = [
        f"{_where(path, node)}: {node.value!r}: import it from claudio_ci.core.codes "
        "(add it there if it is new)"
        for path in sources()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and ANY_CODE.fullmatch(node.value.strip())
    ]
    assert not spelled, "\n".join(spelled)


def referenced_codes() -> dict[str, str]:
    """Every registry constant a module uses (`NB001`, `codes.NB001`, an import), with where."""
    found: dict[str, str] = {}
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Name):
                names = [node.id]
            elif isinstance(node, ast.Attribute):
                names = [node.attr]
            elif isinstance(node, ast.ImportFrom) and node.module == "claudio_ci.core.codes":
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                found.setdefault(name, _where(path, node))
    return {name: where for name, where in found.items() if CODE_PATTERN.fullmatch(name)}


def _registry_code(node: ast.expr, module: ModuleType) -> Code | None:
    """The registry entry a `NAME` or `module.NAME` argument stands for, if any."""
    value: object = None
    if isinstance(node, ast.Name):
        value = getattr(module, node.id, None)
    elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        value = getattr(getattr(module, node.value.id, None), node.attr, None)
    return value if isinstance(value, Code) else None


def test_a_default_severity_is_taken_from_the_registry() -> None:
    """`Finding(path, CODE, ..., CODE.severity)`, not the same severity spelled again: a call
    that passes one code and `Severity.X`, X being that code's default, is flagged."""
    spelled = []
    for path in sources():
        text = path.read_text(encoding="utf-8")
        if "Severity." not in text or path.name == "__main__.py":
            continue
        dotted = path.relative_to(REPO_ROOT).with_suffix("").as_posix().replace("/", ".")
        module = importlib.import_module(dotted)
        for call in ast.walk(ast.parse(text)):
            if not isinstance(call, ast.Call):
                continue
            args = [*call.args, *(keyword.value for keyword in call.keywords)]
            codes = [code for arg in args if (code := _registry_code(arg, module)) is not None]
            severities = [
                arg.attr
                for arg in args
                if isinstance(arg, ast.Attribute)
                and isinstance(arg.value, ast.Name)
                and arg.value.id == "Severity"
            ]
            if len(codes) == 1 and severities == [codes[0].severity.name]:
                spelled.append(f"{_where(path, call)}: pass {codes[0]}'s constant `.severity`")
    assert not spelled, "\n".join(spelled)


def test_every_registered_code_is_used_somewhere() -> None:
    used = referenced_codes()
    dead = [code for code in CODES if code not in used]
    assert not dead, f"in claudio_ci/core/codes.py but reported nowhere (remove them): {dead}"


def test_every_code_named_in_the_sources_and_the_docs_is_registered() -> None:
    """Prose too: a docstring, a help text, the README, a hook's description, a template's
    comment or an action naming a code that does not exist (CHANGELOG.md is history)."""
    shipped = ["templates/**/*.y*ml", "templates/**/*.md", "actions/**/*.y*ml", "hooks/*"]
    texts = [
        *sources(),
        README,
        REPO_ROOT / ".pre-commit-hooks.yaml",
        *(path for pattern in shipped for path in sorted(REPO_ROOT.glob(pattern))),
    ]
    unknown = [
        f"{path.relative_to(REPO_ROOT).as_posix()}: {code}"
        for path in texts
        for code in sorted(set(CODE_PATTERN.findall(path.read_text(encoding="utf-8"))))
        if code not in CODES
    ]
    assert not unknown, f"codes that claudio_ci/core/codes.py does not have: {unknown}"


def test_every_code_is_its_constants_name_once_and_in_a_known_family() -> None:
    tree = ast.parse(REGISTRY.read_text(encoding="utf-8"))
    defined = [
        (node.targets[0].id, node.value.args[0].value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id == "Code"
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value.args[0], ast.Constant)
    ]
    assert len(defined) == len(CODES) > 0
    assert [name for name, _ in defined] == [code for _, code in defined] == list(CODES)
    for name, entry in CODES.items():
        assert getattr(registry, name) is entry
        assert isinstance(entry, Code) and str(entry) == name
        assert CODE_PATTERN.fullmatch(entry), f"{entry}: not a known family's code"
        assert entry.family in FAMILIES and entry.summary and entry.hint
        assert entry.summary == entry.summary.strip() and "\n" not in entry.summary


def test_a_code_is_the_plain_string_wherever_a_finding_goes() -> None:
    """Findings are compared, cached as JSON and pickled (notebook workers) with their code."""
    import pickle

    finding = Finding("a.ipynb", registry.NB004, "out of sync", severity=registry.NB004.severity)
    assert finding.code == "NB004" and hash(finding.code) == hash("NB004")
    assert json.loads(json.dumps(finding.to_dict()))["code"] == "NB004"
    assert Finding.from_dict(finding.to_dict()) == finding
    copy = pickle.loads(pickle.dumps(finding))
    assert copy == finding and copy.code is registry.NB004
    assert f"{registry.NB004:<7}|" == "NB004  |" and repr(registry.NB004) == "'NB004'"


# --- the README ---------------------------------------------------------------------------


def test_each_familys_table_sits_in_its_readme_section() -> None:
    """Under the nearest heading (levels 1-3) that names the family's README section."""
    lines = README.read_text(encoding="utf-8").splitlines()
    for family, (_, section, _) in FAMILIES.items():
        start = lines.index(f"<!-- codes:{family}:start -->")
        heading = next(line for line in reversed(lines[:start]) if re.match(r"#{1,3} ", line))
        assert section in heading, f"{family}'s table is under {heading!r}, not {section!r}"


def test_every_family_has_a_generated_readme_table_and_each_is_up_to_date() -> None:
    text = README.read_text(encoding="utf-8")
    blocks = readme_blocks(text)
    assert sorted(blocks) == sorted(FAMILIES), f"README's codes:FAMILY blocks: {list(blocks)}"
    stale = [family for family, block in blocks.items() if block != markdown_table(family)]
    assert not stale, f"README's code tables {stale} are stale; run `{REGENERATE}`"
    assert update_readme(text) == text


def test_update_readme_rewrites_only_between_the_markers() -> None:
    stale = "prose\n<!-- codes:GPU:start -->\n| old |\n<!-- codes:GPU:end -->\nmore prose\n"
    fresh = update_readme(stale)
    assert fresh == (
        f"prose\n<!-- codes:GPU:start -->\n{markdown_table('GPU')}<!-- codes:GPU:end -->\n"
        "more prose\n"
    )
    assert update_readme(fresh) == fresh


def test_the_generator_rewrites_a_stale_readme(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- codes:WT:start -->\n<!-- codes:WT:end -->\n", encoding="utf-8")
    command = [sys.executable, "-m", "claudio_ci.core.codes", "--update", str(readme)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    assert readme_blocks(readme.read_text(encoding="utf-8")) == {"WT": markdown_table("WT")}
    assert "`WT009`" in markdown_table("WT")
    missing = subprocess.run(
        [*command[:-1], str(tmp_path / "absent.md")], capture_output=True, text=True, check=False
    )
    assert missing.returncode == 2 and missing.stderr.splitlines()[-1].startswith(
        "python -m claudio_ci.core.codes: error: --update: cannot rewrite"
    )


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


@pytest.mark.parametrize("flag", ["--all", "--list"])
def test_explain_all_lists_every_code(flag: str, run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("explain", flag)
    assert result.code == 0
    lines = result.out.splitlines()
    assert [line.split()[0] for line in lines] == list(CODES)
    assert lines[0].split(maxsplit=2)[1:] == [
        CODES["CFG001"].severity.label,
        CODES["CFG001"].summary,
    ]


def test_explain_all_as_json_is_the_whole_registry(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("explain", "--all", "--format", "json")
    assert (result.code, result.err) == (0, "")
    entries = json.loads(result.out)
    assert [entry["code"] for entry in entries] == list(CODES)
    nb005 = next(entry for entry in entries if entry["code"] == "NB005")
    assert nb005 == {
        "code": "NB005",
        "family": "NB",
        "severity": "error",
        "summary": CODES["NB005"].summary,
        "details": CODES["NB005"].details,
        "hint": CODES["NB005"].hint,
    }
    assert "MyST" in nb005["details"]


def test_explain_one_code_as_json(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("explain", "smk104", "--format", "json")
    assert result.code == 0
    entry = CODES["SMK104"]
    assert json.loads(result.out) == {
        "code": "SMK104",
        "family": "SMK",
        "severity": "error",
        "summary": entry.summary,
        "details": "",
        "hint": entry.hint,
    }


def test_explain_all_as_json_is_the_array_of_each_codes_own_json(
    run_cli: Callable[..., CliResult],
) -> None:
    """As `ruff rule --all --output-format json`: the same objects `rule CODE` prints."""
    every = json.loads(run_cli("explain", "--all", "--format", "json").out)
    one_by_one = [json.loads(run_cli("explain", code, "--format", "json").out) for code in CODES]
    assert every == one_by_one


def test_explain_of_a_family_lists_its_codes(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("explain", "wt")
    assert result.code == 0
    assert [line.split()[0] for line in result.out.splitlines()] == [
        f"WT{n:03d}" for n in range(1, 10)
    ]


def test_explain_shows_the_details_wrapped(run_cli: Callable[..., CliResult]) -> None:
    out = run_cli("explain", "NB005").out
    assert "MyST drops a markdown cell's" in " ".join(out.split())
    assert max(len(line) for line in out.splitlines()[1:-2]) <= 88


# --- each command's --help lists its family ------------------------------------------------


@pytest.mark.parametrize("family", list(FAMILIES))
def test_the_help_of_a_familys_command_lists_every_code_of_it(
    family: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from claudio_ci.cli import main

    command = FAMILIES[family].command.split()
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    help_text = capsys.readouterr().out
    listed = help_text.split("\ncodes (`claudio-ci explain CODE` says more):\n", 1)[1]
    entries = [line.split(maxsplit=2) for line in listed.splitlines()]
    assert entries == [
        [code, entry.severity.label, entry.summary]
        for code, entry in CODES.items()
        if entry.family == family
    ]


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
