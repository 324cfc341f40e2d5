"""The test tiers of tests/conftest.py: `pytest -m "not slow"` is the fast tier."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import (
    PROPERTY_TEST_REASON,
    SLOW_FILES,
    SLOW_FIXTURES,
    SLOW_TESTS,
    not_imported,
    slow_reason,
)
from tests.gitutil import REPO_ROOT


def _item(path: Path, name: str, *fixtures: str) -> pytest.Item:
    """As much of a collected test as `slow_reason` reads."""
    item = SimpleNamespace(path=path, name=f"{name}[x]", originalname=name, fixturenames=fixtures)
    return cast(pytest.Item, item)


def test_a_test_asking_for_a_slow_fixture_is_slow_wherever_it_lives() -> None:
    item = _item(REPO_ROOT / "tests" / "test_new.py", "test_x", "tmp_path", "try_repo")
    assert slow_reason(item) == SLOW_FIXTURES["try_repo"]
    assert slow_reason(_item(REPO_ROOT / "tests" / "test_new.py", "test_x", "tmp_path")) is None


def test_slow_files_and_single_tests_are_slow() -> None:
    assert (
        slow_reason(_item(REPO_ROOT / "tests" / "project" / "test_demo.py", "test_any")) is not None
    )
    (path, name), reason = next(iter(SLOW_TESTS.items()))
    assert slow_reason(_item(REPO_ROOT / path, name)) == reason
    assert slow_reason(_item(REPO_ROOT / path, "test_another_one")) is None


@pytest.mark.parametrize("markexpr", ["not slow", "", "slow", "not slow and not x"])
def test_the_fast_tier_does_not_import_the_slow_files(markexpr: str) -> None:
    config = cast(pytest.Config, SimpleNamespace(getoption=lambda name, default=None: markexpr))
    skipped = not_imported(config)
    if markexpr == "not slow":
        assert skipped and {Path(p).relative_to(REPO_ROOT).as_posix() for p in skipped} == set(
            SLOW_FILES
        )
    else:
        assert skipped == []


@pytest.mark.parametrize("relative", sorted(SLOW_FILES))
def test_every_slow_file_exists(relative: str) -> None:
    """A renamed file would silently move its tests into the fast tier."""
    assert (REPO_ROOT / relative).is_file(), f"{relative} is named in SLOW_FILES but is gone"


@pytest.mark.parametrize(("relative", "name"), sorted(SLOW_TESTS))
def test_every_slow_test_exists(relative: str, name: str) -> None:
    tree = ast.parse((REPO_ROOT / relative).read_text(encoding="utf-8"))
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert name in defined, f"{relative}::{name} is named in SLOW_TESTS but is gone"


def test_a_hypothesis_property_test_is_slow_wherever_it_lives() -> None:
    @given(st.integers())
    def test_property(value: int) -> None:
        assert isinstance(value, int)

    def test_example() -> None:
        pass

    new_file = REPO_ROOT / "tests" / "test_new.py"
    item = SimpleNamespace(path=new_file, name="test_property", fixturenames=(), obj=test_property)
    assert slow_reason(cast(pytest.Item, item)) == PROPERTY_TEST_REASON
    item = SimpleNamespace(path=new_file, name="test_example", fixturenames=(), obj=test_example)
    assert slow_reason(cast(pytest.Item, item)) is None


def test_every_slow_fixture_is_defined() -> None:
    """A renamed fixture would silently move its tests into the fast tier."""
    defined = {
        node.name
        for path in (REPO_ROOT / "tests").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef)
    }
    missing = sorted(SLOW_FIXTURES.keys() - defined)
    assert not missing, f"named in SLOW_FIXTURES but no test file defines them: {missing}"
