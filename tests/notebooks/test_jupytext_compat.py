"""jupytext's internals have one home (`notebooks/jupytext_compat.py`), whose version range
matches pyproject.toml, is checked at first use, and tops out at the jupytext installed here."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomllib

from claudio_ci.core.errors import ConfigError
from claudio_ci.notebooks import jupytext_compat
from tests.gitutil import REPO_ROOT, commit_all
from tests.notebooks.test_command import make_pair

PACKAGE = REPO_ROOT / "claudio_ci"
COMPAT = PACKAGE / "notebooks" / "jupytext_compat.py"
# What the rest of claudio_ci may use of jupytext and nbformat: their documented API.
PUBLIC = {
    "jupytext": {"read", "reads", "write", "writes", "__version__"},
    "nbformat": {"read", "reads", "write", "writes", "NO_CONVERT", "NotebookNode", "validator"},
    "nbformat.validator": {"validate", "ValidationError"},
}
PATCHABLE = {"jupytext", "nbformat", "nbbase", "yaml"}  # modules no one else may assign into


@pytest.fixture
def other_version(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """jupytext 1.20.0 installed, as far as the compat module can tell."""
    monkeypatch.setattr(jupytext_compat, "installed_version", lambda: "1.20.0")
    jupytext_compat.require.cache_clear()
    yield
    jupytext_compat.require.cache_clear()


def test_supported_range_is_pyprojects() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    declared = [d for d in project["dependencies"] if d.startswith("jupytext")]
    assert declared == ["jupytext" + ",".join(jupytext_compat.SUPPORTED)]


@pytest.mark.parametrize(
    ("version", "supported"),
    [
        ("1.15.2", False),
        ("1.16.0", True),
        ("1.17.3", True),
        ("1.19.6", True),
        ("1.19.7rc1", True),
        ("1.20.0", False),
        ("1.20.0rc1", False),
        ("2.0.0", False),
    ],
)
def test_in_range(version: str, supported: bool) -> None:
    assert jupytext_compat.in_range(version) is supported


def test_installed_jupytext_is_the_newest_at_the_bounds_top() -> None:
    """`pip index versions jupytext` (by hand, December 2026): 1.19.6 is the newest on PyPI,
    and 1.20 is not out. Raise NEWEST_TESTED and the bound together."""
    installed = jupytext_compat.installed_version()
    top = jupytext_compat._release(jupytext_compat.SUPPORTED[1].lstrip("<"))
    assert jupytext_compat.in_range(installed)
    assert jupytext_compat._release(installed)[:2] == (top[0], top[1] - 1)
    assert jupytext_compat._release(installed) >= jupytext_compat._release(
        jupytext_compat.NEWEST_TESTED
    )


@pytest.mark.usefixtures("other_version")
def test_a_version_outside_the_range_is_a_config_error() -> None:
    with pytest.raises(
        ConfigError, match=r"jupytext 1\.20\.0 is installed.*jupytext>=1\.16,<1\.20"
    ):
        jupytext_compat.format_error(".py", "percent")
    with pytest.raises(ConfigError):  # not remembered as checked
        jupytext_compat.require()


@pytest.mark.usefixtures("other_version")
def test_a_version_outside_the_range_exits_2_with_one_line(git_repo: Path, run_cli) -> None:
    make_pair(git_repo, "notebooks/eda", "x = 1")
    commit_all(git_repo)
    result = run_cli("check", "notebooks", "notebooks/eda.ipynb", cwd=git_repo)
    assert result.code == 2, result
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "jupytext 1.20.0 is installed" in lines[0], result.err


def test_the_installed_version_passes_the_check(git_repo: Path, run_cli) -> None:
    jupytext_compat.require.cache_clear()
    make_pair(git_repo, "notebooks/eda", "x = 1")
    commit_all(git_repo)
    assert run_cli("check", "notebooks", "notebooks/eda.ipynb", cwd=git_repo).code == 0


# --- no other module uses jupytext's or nbformat's internals -------------------------------


def internals_used(source: str) -> list[str]:
    """Each use of a jupytext/nbformat name outside `PUBLIC`, and each assignment into
    jupytext, nbformat or yaml (monkeypatching), as `line: what`."""
    tree = ast.parse(source)
    modules: dict[str, str] = {}  # local name -> the module it stands for
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += _imported(node, modules)
        elif isinstance(node, ast.ImportFrom) and node.module:
            allowed = PUBLIC.get(node.module, set())
            if node.module.split(".")[0] in ("jupytext", "nbformat"):
                found += [
                    f"{node.lineno}: from {node.module} import {alias.name}"
                    for alias in node.names
                    if alias.name not in allowed
                ]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            module = modules.get(node.value.id)
            if module in PUBLIC and node.attr not in PUBLIC[module]:
                found.append(f"{node.lineno}: {node.value.id}.{node.attr}")
        found += _assigned_into(node, {*modules, "nbbase"})
    return found


def _imported(node: ast.Import, modules: dict[str, str]) -> list[str]:
    found = []
    for alias in node.names:
        top = alias.name.split(".")[0]
        if top in ("jupytext", "nbformat", "yaml"):
            modules[alias.asname or top] = top
        if top in ("jupytext", "nbformat") and alias.name != top:
            found.append(f"{node.lineno}: import {alias.name}")
    return found


def _assigned_into(node: ast.AST, names: set[str]) -> list[str]:
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        targets = [node.target]
    return [
        f"{leaf.lineno}: assigns {leaf.value.id}.{leaf.attr}"
        for target in targets
        for leaf in ast.walk(target)
        if isinstance(leaf, ast.Attribute)
        and isinstance(leaf.value, ast.Name)
        and leaf.value.id in PATCHABLE & names
    ]


def test_only_the_compat_module_uses_internals() -> None:
    offenders = {
        path.relative_to(REPO_ROOT).as_posix(): used
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != COMPAT and (used := internals_used(path.read_text()))
    }
    assert offenders == {}


def test_the_compat_module_is_where_they_are() -> None:
    """The walk finds what it looks for (so the test above can fail)."""
    used = internals_used(COMPAT.read_text())
    assert any("jupytext.config" in u for u in used)
    assert any("assigns nbformat.validate" in u for u in used)


@pytest.mark.parametrize(
    "source",
    [
        "from jupytext.formats import long_form_one_format",
        "import jupytext.paired_paths",
        "import jupytext as jt\njt.combine",
        "from nbformat.v4 import nbbase",
        "import nbformat\nnbformat.validate = None",
        "import yaml\nyaml.safe_load = len",
    ],
)
def test_the_walk_flags(source: str) -> None:
    assert internals_used(source)


def test_the_walk_allows_the_documented_api() -> None:
    source = (
        "import jupytext\nimport nbformat\nfrom nbformat.validator import validate\n"
        "jupytext.reads('', fmt='py')\nnbformat.reads('{}', nbformat.NO_CONVERT)\n"
    )
    assert internals_used(source) == []
