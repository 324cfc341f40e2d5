"""Hostile notebooks and twins: an alias bomb in a YAML header or a jupytext configuration, a
notebook nested a thousand levels deep, files over the size limit, and a `.jupytext.py` that
a read-only check must never run. Each is a finding or a one-line error, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gitutil import commit_all
from tests.notebooks.test_command import cli, files_of, make_pair  # noqa: F401

BOMB_LEVELS = 9  # 9 ** 9 values once expanded: hours and gigabytes for a plain safe_load


def alias_bomb(prefix: str) -> list[str]:
    lines = [f"{prefix}a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, BOMB_LEVELS):
        lines.append(f"{prefix}a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return lines


@pytest.fixture
def pair(git_repo: Path) -> Path:
    make_pair(git_repo, "notebooks/nb", "a = 1")
    commit_all(git_repo, "pair")
    return git_repo


@pytest.mark.timeout(60)
def test_an_alias_bomb_in_a_percent_header_is_not_expanded(pair: Path, cli) -> None:  # noqa: F811
    twin = pair / "notebooks" / "nb.py"
    lines = twin.read_text("utf-8").splitlines()
    at = lines.index("# jupyter:") + 1
    twin.write_text("\n".join([*lines[:at], *alias_bomb("#   "), *lines[at:]]) + "\n", "utf-8")
    before = files_of(pair)
    code, out = cli(pair, "--fix")
    assert (code, out.splitlines()[0]) == (
        1,
        "notebooks/nb.py:1:1: NB006 YAML expands to more than 200,000 values (an alias bomb?): "
        "not read",
    )
    assert files_of(pair) == before


@pytest.mark.timeout(60)
def test_an_alias_bomb_in_a_myst_header_is_not_expanded(git_repo: Path, cli) -> None:  # noqa: F811
    make_pair(git_repo, "notebooks/doc", "a = 1", formats="ipynb,md:myst")
    commit_all(git_repo, "pair")
    doc = git_repo / "notebooks" / "doc.md"
    lines = doc.read_text("utf-8").splitlines()
    doc.write_text("\n".join([lines[0], *alias_bomb(""), *lines[1:]]) + "\n", "utf-8")
    code, out = cli(git_repo, "--set=notebooks.formats=ipynb,md:myst")
    assert code == 1
    assert "NB006 YAML expands to more than 200,000 values (an alias bomb?)" in out


@pytest.mark.timeout(60)
def test_an_alias_bomb_in_a_jupytext_yaml_configuration(pair: Path, cli) -> None:  # noqa: F811
    (pair / "jupytext.yml").write_text("\n".join(alias_bomb("")) + "\n", "utf-8")
    code, out = cli(pair)
    assert (code, out) == (
        2,
        "claudio-ci: error: jupytext.yml: jupytext cannot read it: YAML expands to more than "
        "200,000 values (an alias bomb?): not read\n",
    )


def test_a_header_nested_too_deeply_is_a_finding(pair: Path, cli) -> None:  # noqa: F811
    twin = pair / "notebooks" / "nb.py"
    lines = twin.read_text("utf-8").splitlines()
    at = lines.index("# jupyter:") + 1
    deep = "#   deep: " + "[" * 3000 + "]" * 3000
    twin.write_text("\n".join([*lines[:at], deep, *lines[at:]]) + "\n", "utf-8")
    code, out = cli(pair)
    assert code == 1
    assert "notebooks/nb.py:1:1: NB006 " in out
    assert "Traceback" not in out


@pytest.mark.parametrize("depth", [150, 990, 5000])
def test_a_notebook_nested_too_deeply_is_a_finding(pair: Path, cli, depth: int) -> None:  # noqa: F811
    notebook = pair / "notebooks" / "nb.ipynb"
    data = json.loads(notebook.read_text("utf-8"))
    data["metadata"]["deep"] = "here"
    nested = "[" * depth + "]" * depth
    notebook.write_text(json.dumps(data).replace('"here"', nested), "utf-8")
    before = files_of(pair)
    code, out = cli(pair, "--fix")
    assert (code, out.splitlines()[0]) == (
        1,
        "notebooks/nb.ipynb:1:1: NB006 values nested more than 100 levels deep: not read",
    )
    assert files_of(pair) == before


def test_files_over_the_size_limit_are_reported_not_read(
    pair: Path,
    cli,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    size = (pair / "notebooks" / "nb.ipynb").stat().st_size
    limit = f"--set=notebooks.max_file_mb={(size - 1) / 1e6}"
    code, out = cli(pair, limit, "--fix")
    assert code == 1
    assert out.splitlines()[0] == (
        f"notebooks/nb.ipynb:1:1: NB009 {size / 1e6:,.1f} MB, over notebooks.max_file_mb "
        f"({(size - 1) / 1e6:g} MB): not read"
    )
    assert "raise notebooks.max_file_mb" in out
    assert cli(pair, f"--set=notebooks.max_file_mb={size / 1e6}") == (0, "")
    monkeypatch.setenv("CLAUDIO_NOTEBOOKS_MAX_FILE_MB", str((size - 1) / 1e6))
    assert "NB009" in cli(pair)[1]


def test_a_python_jupytext_configuration_is_never_run(pair: Path, cli) -> None:  # noqa: F811
    ran = pair / "ran"
    (pair / ".jupytext.py").write_text(
        f"open({str(ran)!r}, 'w').write('executed')\nc.formats = 'ipynb,py:percent'\n", "utf-8"
    )
    code, out = cli(pair)
    assert (code, out) == (
        2,
        "claudio-ci: error: .jupytext.py: a Python jupytext configuration is not run: "
        "claudio-ci never executes repository code in a check; write it as jupytext.toml\n",
    )
    assert not ran.exists()


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("pyproject.toml", "[tool.black\nline-length = 99\n"),  # jupytext reads every one
        ("notebooks/pyproject.toml", "[tool.jupytext]\nformats = \n"),
        ("jupytext.toml", "formats = 3\n"),
        ("notebooks/jupytext.yml", "formats: [\n"),
        ("notebooks/.jupytext.json", '{"formats": '),
    ],
)
def test_a_configuration_jupytext_cannot_read_is_one_error_on_that_file(
    pair: Path,
    cli,  # noqa: F811
    name: str,
    text: str,
) -> None:
    (pair / name).write_text(text, "utf-8")
    real = subprocess.run(
        [sys.executable, "-m", "jupytext", "--sync", "notebooks/nb.py"],
        cwd=pair,
        capture_output=True,
        text=True,
        check=False,
    )
    assert real.returncode != 0  # the real tool cannot sync this pair either
    before = files_of(pair)
    for args in ((), ("--fix",)):
        code, out = cli(pair, *args)
        assert code == 2
        assert out.startswith(f"claudio-ci: error: {name}: jupytext cannot read it: ")
        assert len(out.splitlines()) == 1 and "NB006" not in out
    assert files_of(pair) == before
