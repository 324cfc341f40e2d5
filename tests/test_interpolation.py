"""`${...}` references: what resolves, and what is reported where."""

from __future__ import annotations

from typing import Any

import pytest

from claudio_ci import interpolation
from claudio_ci.interpolation import resolve


def _problems(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    return [(p.path, p.kind) for p in resolve(data, {"experiment_name": "exp"}).problems]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("outputs/${experiment_name}", "outputs/exp"),
        ("${model.name}", "base"),
        ("${model.layers}", [64, 32]),
        ("${model.layers[1]}", 32),
        ("${model.layers.0}/x", "64/x"),
        ("${.sibling}/ckpt", "s/ckpt"),
        ("${..model.name}", "base"),
        ("${model.${output.which}}", "base"),
        ("${model.flag}-${model.none}", "True-None"),
        ("\\${literal}", "${literal}"),
        ("\\\\${model.name}", "\\base"),
        ("no references $ { } here", "no references $ { } here"),
        ("${ model.name }", "base"),
    ],
)
def test_references_resolve(value: str, expected: Any) -> None:
    data = {
        "model": {"name": "base", "layers": [64, 32], "flag": True, "none": None},
        "output": {"sibling": "s", "which": "name", "value": value},
    }
    result = resolve(data, {"experiment_name": "exp"})
    assert result.problems == []
    assert result.data["output"]["value"] == expected
    assert result.is_resolved(("output", "value"))


def test_a_reference_to_a_reference_resolves_through_the_chain() -> None:
    data = {"a": "${b}/a", "b": "${c}/b", "c": "${experiment_name}"}
    assert resolve(data, {"experiment_name": "x"}).data == {"a": "x/b/a", "b": "x/b", "c": "x"}


def test_unknown_key_is_reported_with_a_suggestion() -> None:
    result = resolve({"model": {"name": "n"}, "dir": "out/${model.nmae}"})
    (problem,) = result.problems
    assert (problem.path, problem.kind) == (("dir",), interpolation.UNKNOWN)
    assert problem.message == "${model.nmae} refers to a key that does not exist"
    assert problem.suggestion == "${model.name}"
    assert result.data["dir"] == "out/${model.nmae}"
    assert not result.is_resolved(("dir",))


def test_cycle_is_reported_once_and_both_ends_stay_unresolved() -> None:
    result = resolve({"a": "${b}", "b": "x${a}"})
    assert [(p.path, p.kind) for p in result.problems] == [(("b",), interpolation.CYCLE)]
    assert result.problems[0].message == "circular reference: a -> b -> a"
    assert result.unresolved == {("a",), ("b",)}


def test_a_mapping_that_refers_to_itself_is_a_cycle() -> None:
    assert _problems({"a": {"b": "${a}"}}) == [(("a", "b"), interpolation.CYCLE)]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("out/${model.name", interpolation.MALFORMED),
        ("${}", interpolation.MALFORMED),
        ("${.}", interpolation.MALFORMED),
        ("out/${model}", interpolation.NOT_SCALAR),
        ("${.....x}", interpolation.UNKNOWN),
        ("${model.name.deeper}", interpolation.UNKNOWN),
        ("${oc.env:HOME}", interpolation.RESOLVER),
        ("${oc.env:HOME,${model.name}}", interpolation.RESOLVER),
        ("${now:%Y-%m-%d}", interpolation.RESOLVER),
    ],
)
def test_problems_are_reported_at_the_string_that_has_them(value: str, kind: str) -> None:
    assert _problems({"model": {"name": "n"}, "out": {"dir": value}}) == [(("out", "dir"), kind)]


def test_a_value_that_depends_on_a_failed_one_is_unresolved_but_not_reported_again() -> None:
    data = {"tag": "${oc.env:TAG}", "dir": "out/${tag}", "ok": "${experiment_name}"}
    result = resolve(data, {"experiment_name": "exp"})
    assert [p.path for p in result.problems] == [("tag",)]
    assert result.unresolved == {("tag",), ("dir",)}
    assert result.data["dir"] == "out/${tag}"
    assert result.data["ok"] == "exp"


def test_variables_win_over_keys_of_the_same_name() -> None:
    data = {"experiment_name": "from-config", "dir": "${experiment_name}"}
    assert resolve(data, {"experiment_name": "stem"}).data["dir"] == "stem"
