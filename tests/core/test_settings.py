"""The typed settings agree with the JSON Schema: every property has a field and every field a
property, each field's type takes the schema's types, and the defaults are the schema's.

`disagreements` walks both; the tests below also feed it altered copies of the schema, so that
a walk that silently compared nothing would fail.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from claudio_ci.core import settings as settings_module
from claudio_ci.core.config import Origin, builtin_defaults, load_config, load_schema
from claudio_ci.core.settings import (
    ExperimentsSection,
    HydraSection,
    Settings,
    SmokeTestSection,
)

NONE = type(None)


def _members(hint: Any) -> tuple[Any, ...]:
    """The members of a union (`str | None`), or the hint itself."""
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        return typing.get_args(hint)
    return (hint,)


def _type_problems(hint: Any, schema: Mapping[str, Any], where: str) -> list[str]:
    """What the schema allows at `where` that the field's type `hint` does not take."""
    kinds = schema.get("type", [])
    problems: list[str] = []
    members = _members(hint)
    for kind in [kinds] if isinstance(kinds, str) else kinds:
        if kind == "object":
            problems += _object_problems(members, schema, where)
            continue
        if kind == "array":
            tuples = [m for m in members if typing.get_origin(m) is tuple]
            if not tuples:
                problems.append(f"{where}: the schema allows an array, the field no tuple")
            else:
                item = typing.get_args(tuples[0])[0]
                problems += _type_problems(item, schema.get("items", {}), f"{where}[]")
            continue
        wanted = {"string": str, "boolean": bool, "integer": int, "number": float, "null": NONE}
        if hint is not Any and wanted[kind] not in members:
            problems.append(f"{where}: the schema allows {kind}, the field is {hint}")
    return problems


def _object_problems(members: tuple[Any, ...], schema: Mapping[str, Any], where: str) -> list[str]:
    sections = [m for m in members if dataclasses.is_dataclass(m)]
    if "properties" in schema:
        if not sections:
            return [f"{where}: the schema has properties, the field is no section dataclass"]
        return disagreements(schema, typing.cast(type, sections[0]), f"{where}.")
    mappings = [m for m in members if typing.get_origin(m) is Mapping]
    if not mappings:
        return [f"{where}: the schema allows an object, the field is no Mapping"]
    value_schema = schema.get("additionalProperties", True)
    value_hint = typing.get_args(mappings[0])[1]
    if isinstance(value_schema, dict):
        return _type_problems(value_hint, value_schema, f"{where}.*")
    return [] if value_hint is Any else [f"{where}.*: the schema allows anything, the field not"]


def _plain(value: Any) -> Any:
    """A field's default as JSON would hold it: tuples as lists, sections as mappings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def _schema_default(schema: Mapping[str, Any]) -> Any:
    """The schema's default; an object without one has its properties' defaults (as
    `builtin_defaults` merges them), or none when a property has none."""
    if "default" in schema:
        return schema["default"]
    if schema.get("type") == "object" and "properties" not in schema:
        return {}  # one of Claudio's sections, or a free mapping: empty until set
    if "properties" not in schema:
        return dataclasses.MISSING
    out = {}
    for name, sub in schema["properties"].items():
        out[name] = _schema_default(sub)
        if out[name] is dataclasses.MISSING:
            return dataclasses.MISSING
    return out


def _same_default(default: Any, expected: Any) -> bool:
    """Equal as JSON values; the field's float 100.0 stands for the schema's 100."""
    if default is dataclasses.MISSING or expected is dataclasses.MISSING:
        return default is expected
    plain = _plain(default)
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        return isinstance(plain, int | float) and not isinstance(plain, bool) and plain == expected
    return bool(type(plain) is type(expected) and plain == expected)


def disagreements(schema: Mapping[str, Any], cls: type, prefix: str = "") -> list[str]:
    """Every way the section dataclass `cls` and the schema object disagree."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    problems = [
        f"{prefix}{name}: no field in {cls.__name__}" for name in properties.keys() - fields
    ]
    problems += [
        f"{prefix}{name}: no property in the schema" for name in fields - properties.keys()
    ]
    for name in sorted(properties.keys() & fields.keys()):
        where, sub = f"{prefix}{name}", properties[name]
        problems += _type_problems(hints[name], sub, where)
        default, expected = _default(fields[name]), _schema_default(sub)
        if not _same_default(default, expected):
            problems.append(f"{where}: default {_plain(default)!r}, schema {expected!r}")
    return problems


def test_the_settings_agree_with_the_schema() -> None:
    assert disagreements(load_schema(), Settings) == []


def _altered(change: typing.Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    schema = copy.deepcopy(load_schema())
    change(schema["properties"])
    return schema


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda p: p["notebooks"]["properties"].update(extra={"type": "string", "default": ""}),
            "notebooks.extra: no field in NotebooksSection",
        ),
        (
            lambda p: p["conflicts"]["properties"].pop("fail_on"),
            "conflicts.fail_on: no property in the schema",
        ),
        (lambda p: p.update(lint={"type": "object"}), "lint: no field in Settings"),
        (
            lambda p: p["gpu"]["properties"]["ledger"].update(type=["string", "integer", "null"]),
            "gpu.ledger: the schema allows integer, the field is str | None",
        ),
        (
            lambda p: p["smoke_test"]["properties"]["configs"].update(default=["train.yaml"]),
            "smoke_test.configs: default ['experiments/test.yaml'], schema ['train.yaml']",
        ),
        (
            lambda p: p["smoke_test"]["properties"]["expect"]["properties"]["finite"].update(
                default=False
            ),
            "smoke_test.expect.finite: default True, schema False",
        ),
        (
            lambda p: p["worktree"]["properties"]["shared_data"].update(
                additionalProperties={"type": "array", "items": {"type": "string"}}
            ),
            "worktree.shared_data.*: the schema allows an array, the field no tuple",
        ),
        (
            lambda p: p["experiments"]["properties"]["hydra"]["properties"].update(
                version_base={"type": "string"}
            ),
            "experiments.hydra.version_base: no field in HydraSection",
        ),
        (
            lambda p: p["experiments"]["properties"]["reserved_names"]["items"].update(
                type="integer"
            ),
            "experiments.reserved_names[]: the schema allows integer, the field is <class 'str'>",
        ),
    ],
)
def test_a_disagreement_is_found(
    change: typing.Callable[[dict[str, Any]], None], expected: str
) -> None:
    assert expected in disagreements(_altered(change), Settings)


def test_the_defaults_build_the_default_settings() -> None:
    assert Settings.from_data(builtin_defaults()) == Settings()


def test_sections_hold_python_types(tmp_path: Path) -> None:
    (tmp_path / ".claudio.yaml").write_text(
        "experiments:\n"
        "  reserved_names: [base]\n"
        "  per_file_ignores: {'legacy/*': [EXP402]}\n"
        "  hydra: {config_dir: configs, config_name: train}\n"
        "smoke_test:\n"
        "  timeout_seconds: 30\n"
        "  loss_key: [loss, val_loss]\n"
        "pr:\n"
        "  reviewers:\n"
        "    codeowners: docs/CODEOWNERS\n"
        "    team_reviewers: [ignored]\n",
        encoding="utf-8",
    )
    config = load_config(tmp_path, environ={})
    settings = config.settings
    assert settings is config.settings  # built once
    assert settings.experiments.reserved_names == ("base",)
    assert settings.experiments.per_file_ignores == {"legacy/*": ("EXP402",)}
    assert settings.experiments.hydra == HydraSection("configs", "train")
    assert settings.smoke_test.timeout_seconds == 30.0
    assert isinstance(settings.smoke_test.timeout_seconds, float)
    assert settings.smoke_test.loss_key == ("loss", "val_loss")
    assert settings.pr.reviewers.codeowners == "docs/CODEOWNERS"
    assert settings.conflicts.compare.siblings is True
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.smoke_test.command = "x"  # type: ignore[misc]


def test_a_union_takes_the_member_of_the_value_s_type() -> None:
    assert Settings.from_data({"pr": {"reviewers": {"codeowners": True}}}).pr.reviewers.codeowners
    assert Settings.from_data({"smoke_test": {"loss_key": "l"}}).smoke_test.loss_key == "l"
    assert SmokeTestSection().loss_key is None
    assert ExperimentsSection().hydra is None


def test_origins_are_path_line_and_column(tmp_path: Path) -> None:
    (tmp_path / ".claudio.yaml").write_text(
        "branch:\n  prefix: agent\nsmoke_test:\n    command: python t.py\n", encoding="utf-8"
    )
    config = load_config(
        tmp_path, environ={"CLAUDIO_BRANCH_INCLUDE_ID": "false"}, overrides=["gpu.ledger=x"]
    )
    assert config.origins["branch.prefix"] == Origin(".claudio.yaml", 2, 3)
    assert config.origins["smoke_test.command"] == Origin(".claudio.yaml", 4, 5)
    assert config.origins["branch.include_id"] == Origin("env CLAUDIO_BRANCH_INCLUDE_ID")
    assert config.origins["gpu.ledger"] == Origin("--set gpu.ledger")
    assert config.origin("resources.cost_limit") == Origin("default")
    assert config.origin("no.such.key") == Origin("configuration")
    assert [str(config.origins[k]) for k in ("branch.prefix", "branch.include_id")] == [
        ".claudio.yaml:2",
        "env CLAUDIO_BRANCH_INCLUDE_ID",
    ]


def test_every_section_is_frozen() -> None:
    sections = [
        cls
        for cls in vars(settings_module).values()
        if isinstance(cls, type) and dataclasses.is_dataclass(cls)
    ]
    assert len(sections) > 10
    assert [cls.__name__ for cls in sections if not cls.__dataclass_params__.frozen] == []  # type: ignore[attr-defined]
