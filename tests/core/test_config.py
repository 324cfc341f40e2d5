"""config.py: defaults < user file < .claudio.yaml < environment < --set < flags."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from claudio_ci.core.config import (
    Config,
    ConfigError,
    ValidationCache,
    builtin_defaults,
    load_config,
    user_config_path,
    validate,
)
from claudio_ci.core.findings import Finding, Severity

# Claudio's own config.yaml, as its configuration reference (docs/reference/configuration.md)
# describes it: every section of Claudio's, values changed from the defaults.
CLAUDIO_CONFIG = """\
# ~/.config/claudio/config.yaml
completion:
  default_action: auto_pr
tui:
  auto_focus_on_input: true
  max_output_lines: 2000
  sidebar_width: 36
  theme: dracula
instance:
  output_buffer_size: 100000
  capture_interval_ms: 100
  tmux_width: 200
  tmux_height: 50
  activity_timeout_minutes: 45
  completion_timeout_minutes: 120
ai:
  backend: claude
  claude:
    command: claude
    skip_permissions: true
  codex:
    command: codex
    approval_mode: full-auto
branch:
  prefix: agent
  include_id: false
pr:
  draft: true
  auto_rebase: true
  use_ai: true
  template: |
    ## Summary
    {{.Summary}}
  labels:
    - ai-generated
  reviewers:
    default: [tech-lead]
    by_path:
      "src/api/**": [backend-team]
      "*.md": [docs-team]
paths:
  worktree_dir: ""  # default: .claudio/worktrees
  sparse_checkout:
    enabled: true
    directories: ["services/api/", "shared/utils/"]
    always_include: [".github/"]
    cone_mode: true
logging:
  enabled: true
  level: info
  max_size_mb: 10
  max_backups: 3
cleanup:
  warn_on_stale: true
  keep_remote_branches: true
resources:
  cost_warning_threshold: 12.50
  cost_limit: 40
  token_limit_per_instance: 0
  show_metrics_in_sidebar: true
session:
  auto_start_on_add: true
ultraplan:
  max_parallel: 2
  notifications:
    enabled: true
    use_sound: false
    sound_path: ""
tripleshot:
  auto_approve: false
  adversarial: true
adversarial:
  max_iterations: 10
  min_passing_score: 8
plan:
  output_format: issues
  multi_pass: false
  labels: [claudio-generated]
  output_file: .claudio-plan.json
experimental:
  subprocess_mode: false
"""


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    """An environment of our own: HOME and XDG_CONFIG_HOME in tmp_path, nothing else."""
    return {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A repository root (config.py only reads files: no git needed here)."""
    path = tmp_path / "repo"
    path.mkdir()
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def user_file(environ: dict[str, str], text: str) -> Path:
    return write(user_config_path(environ), text)


def repo_file(root: Path, text: str) -> Path:
    return write(root / ".claudio.yaml", text)


# --- defaults ---------------------------------------------------------------------------


def test_without_any_file_the_schema_defaults_apply(root: Path, environ: dict[str, str]) -> None:
    config = load_config(root, environ=environ)
    assert config.data == builtin_defaults()
    assert config.get("branch.prefix") == "claudio"
    assert config.get("branch.include_id") is True
    assert config.get("pr.reviewers.default") == []
    assert config.get("pr.reviewers.by_path") == {}
    assert config.get("resources.cost_warning_threshold") == 5.0
    assert config.get("resources.cost_limit") == 0
    assert {str(origin) for origin in config.origins.values()} == {"default"}
    assert str(config.origins["resources.cost_limit"]) == "default"
    assert config.warnings == []


def test_defaults_are_fresh_for_every_load(root: Path, environ: dict[str, str]) -> None:
    load_config(root, environ=environ).get("pr.reviewers.default").append("mutated")
    assert load_config(root, environ=environ).get("pr.reviewers.default") == []


def test_get_and_section_fall_back(root: Path, environ: dict[str, str]) -> None:
    config = load_config(root, environ=environ)
    assert config.get("resources.nothing", "fallback") == "fallback"
    assert config.get("branch.prefix.deeper") is None
    assert config.section("no_such_section") == {}
    assert config.section("branch") == {"prefix": "claudio", "include_id": True}


# --- precedence -------------------------------------------------------------------------

LAYERS = ["user", "repo", "env", "set", "flag"]


def _load_with_layers(root: Path, environ: dict[str, str], present: list[str]) -> Config:
    """Every present layer sets resources.cost_limit to its own value (1..5)."""
    if "user" in present:
        user_file(environ, "resources:\n  cost_limit: 1\n")
    if "repo" in present:
        repo_file(root, "# repo\nresources:\n  cost_limit: 2\n")
    if "env" in present:
        environ = {**environ, "CLAUDIO_RESOURCES_COST_LIMIT": "3.5"}
    return load_config(
        root,
        environ=environ,
        overrides=["resources.cost_limit=4"] if "set" in present else [],
        flag_values={"resources.cost_limit": 5} if "flag" in present else None,
    )


@pytest.mark.parametrize(
    ("present", "value", "origin"),
    [
        ([], 0, "default"),
        (["user"], 1, "{user}:2"),
        (["user", "repo"], 2, ".claudio.yaml:3"),
        (["user", "repo", "env"], 3.5, "env CLAUDIO_RESOURCES_COST_LIMIT"),
        (["user", "repo", "env", "set"], 4, "--set resources.cost_limit"),
        (LAYERS, 5, "command line"),
        (["repo", "flag"], 5, "command line"),
        (["user", "env"], 3.5, "env CLAUDIO_RESOURCES_COST_LIMIT"),
        (["env", "set"], 4, "--set resources.cost_limit"),
    ],
)
def test_later_sources_win_and_say_so(
    present: list[str], value: float, origin: str, root: Path, environ: dict[str, str]
) -> None:
    config = _load_with_layers(root, environ, present)
    assert config.get("resources.cost_limit") == value
    expected = origin.format(user=user_config_path(environ))
    assert str(config.origins["resources.cost_limit"]) == expected
    assert str(config.origins["resources.cost_warning_threshold"]) == "default"


def test_user_file_lives_under_xdg_config_home(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert user_config_path(environ) == tmp_path / "xdg" / "claudio" / "config.yaml"


def test_user_file_defaults_to_dot_config_in_home(tmp_path: Path, root: Path) -> None:
    environ = {"HOME": str(tmp_path / "home")}
    path = tmp_path / "home" / ".config" / "claudio" / "config.yaml"
    assert user_config_path(environ) == path
    write(path, "branch:\n  prefix: mine\n")
    config = load_config(root, environ=environ)
    assert config.get("branch.prefix") == "mine"
    assert str(config.origins["branch.prefix"]) == f"{path}:2"


def test_user_file_under_home_is_ignored_when_xdg_is_set(
    tmp_path: Path, root: Path, environ: dict[str, str]
) -> None:
    write(tmp_path / "home" / ".config" / "claudio" / "config.yaml", "branch:\n  prefix: x\n")
    assert load_config(root, environ=environ).get("branch.prefix") == "claudio"


def test_layers_merge_deeply(root: Path, environ: dict[str, str]) -> None:
    user_file(
        environ,
        "pr:\n  reviewers:\n    default: [lead]\n    by_path:\n      'src/**': [core]\n"
        "resources:\n  cost_limit: 9\n",
    )
    repo_file(
        root,
        "pr:\n  reviewers:\n    by_path:\n      'docs/**': [docs]\n"
        "resources:\n  cost_warning_threshold: 2\n",
    )
    config = load_config(
        root, environ={**environ, "CLAUDIO_BRANCH_PREFIX": "agent"}, overrides=["branch.x=1"]
    )
    assert config.get("pr.reviewers.default") == ["lead"]
    assert config.get("pr.reviewers.by_path") == {"src/**": ["core"], "docs/**": ["docs"]}
    assert config.section("resources") == {"cost_warning_threshold": 2, "cost_limit": 9}
    assert config.section("branch") == {"prefix": "agent", "include_id": True, "x": 1}


def test_a_list_is_replaced_not_appended(root: Path, environ: dict[str, str]) -> None:
    user_file(environ, "pr:\n  reviewers:\n    default: [a, b]\n")
    repo_file(root, "pr:\n  reviewers:\n    default: [c]\n")
    assert load_config(root, environ=environ).get("pr.reviewers.default") == ["c"]


def test_origins_point_at_the_line_of_each_leaf(root: Path, environ: dict[str, str]) -> None:
    repo_file(
        root,
        "pr:\n"
        "  reviewers:\n"
        "    default: [lead]\n"
        "    by_path:\n"
        "      'src/**': [core]\n"
        "\n"
        "branch:\n"
        "  prefix: agent\n",
    )
    origins = {k: str(v) for k, v in load_config(root, environ=environ).origins.items()}
    assert origins["pr.reviewers.default"] == ".claudio.yaml:3"
    assert origins["pr.reviewers.by_path.src/**"] == ".claudio.yaml:5"
    assert origins["branch.prefix"] == ".claudio.yaml:8"
    assert origins["branch.include_id"] == "default"
    assert "pr.reviewers.by_path" not in origins  # no stale entry for the default `{}`


def test_a_later_scalar_replaces_the_origins_below_it(root: Path, environ: dict[str, str]) -> None:
    repo_file(root, "paths:\n  sparse_checkout:\n    enabled: true\n    cone_mode: true\n")
    config = load_config(root, environ=environ, overrides=["paths.sparse_checkout=off"])
    assert config.get("paths.sparse_checkout") is False
    assert str(config.origins["paths.sparse_checkout"]) == "--set paths.sparse_checkout"
    assert not any(key.startswith("paths.sparse_checkout.") for key in config.origins)


def test_an_empty_mapping_merges_nothing(root: Path, environ: dict[str, str]) -> None:
    repo_file(root, "pr:\n  reviewers:\n    by_path:\n      'src/**': [core]\n")
    config = load_config(root, environ=environ, overrides=["pr.reviewers.by_path={}"])
    assert config.get("pr.reviewers.by_path") == {"src/**": ["core"]}
    assert str(config.origins["pr.reviewers.by_path.src/**"]) == ".claudio.yaml:4"


def test_an_empty_section_keeps_the_defaults(root: Path, environ: dict[str, str]) -> None:
    repo_file(root, "branch:\n  # prefix: agent\nresources:\npr:\n  reviewers:\n")
    config = load_config(root, environ=environ)
    assert config.data == builtin_defaults()
    assert str(config.origins["branch.prefix"]) == "default"
    assert config.warnings == []


# --- a real Claudio config ----------------------------------------------------------------


def test_claudios_own_config_loads_cleanly(root: Path, environ: dict[str, str]) -> None:
    user_file(environ, CLAUDIO_CONFIG)
    config = load_config(root, environ=environ)
    assert config.warnings == []
    assert config.get("pr.reviewers.default") == ["tech-lead"]
    assert config.get("pr.reviewers.by_path") == {
        "src/api/**": ["backend-team"],
        "*.md": ["docs-team"],
    }
    assert config.get("resources.cost_warning_threshold") == 12.5
    assert config.get("resources.cost_limit") == 40
    assert config.get("branch.prefix") == "agent"
    assert config.get("paths.sparse_checkout.directories") == ["services/api/", "shared/utils/"]
    assert config.get("pr.template") == "## Summary\n{{.Summary}}\n"
    assert str(config.origins["resources.cost_limit"]) == f"{user_config_path(environ)}:58"
    assert validate(root, environ=environ) == []


def test_claudios_config_as_the_repo_file_also_validates(
    root: Path, environ: dict[str, str]
) -> None:
    repo_file(root, CLAUDIO_CONFIG)
    assert validate(root, environ=environ) == []
    assert str(load_config(root, environ=environ).origins["pr.reviewers.default"]) == (
        ".claudio.yaml:37"
    )


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "branch:\n  prefix: [claudio\n",
            ".claudio.yaml:3:1: CFG001 did not find expected ',' or ']' "
            "(while parsing a flow sequence)",
        ),
        ("a:\n\tb: 1\n", ".claudio.yaml:2:1: CFG001 a tab cannot indent YAML; use spaces"),
        (
            "pr:\n  draft: true\n  draft: false\n",
            ".claudio.yaml:3:3: CFG002 duplicate key 'draft' (first defined on line 2)",
        ),
        (
            "branch:\n  include_id: maybe\n",
            ".claudio.yaml:2:15: CFG003 $.branch.include_id: 'maybe' is not of type 'boolean'",
        ),
        (
            "resources:\n  cost_limit: cheap\n  cost_warning_threshold: -1\n",
            ".claudio.yaml:2:15: CFG003 $.resources.cost_limit: 'cheap' is not of type "
            "'number' (and 1 more)",
        ),
        (
            "pr:\n  reviewers:\n    default: lead\n",
            ".claudio.yaml:3:14: CFG003 $.pr.reviewers.default: 'lead' is not of type 'array'",
        ),
        (
            "pr:\n  reviewers:\n    by_path:\n      'src/**': core\n",
            ".claudio.yaml:4:17: CFG003 $.pr.reviewers.by_path.src/**: 'core' is not of type "
            "'array'",
        ),
        ("branch: main\n", ".claudio.yaml:1:9: CFG003 $.branch: 'main' is not of type 'object'"),
        ("- a\n- b\n", ".claudio.yaml:1:1: CFG003 the file must hold a mapping of sections"),
        ("just text\n", ".claudio.yaml:1:1: CFG003 the file must hold a mapping of sections"),
        ("a: 2024-13-45\n", ".claudio.yaml:1:4: CFG001 '2024-13-45' is not a valid timestamp"),
        (
            "a: &a [*a]\n",
            ".claudio.yaml:1:4: CFG001 values nested more than 100 levels deep "
            "(a recursive alias?); refusing to read it",
        ),
    ],
)
def test_a_broken_repo_file_is_one_error_line(
    text: str, message: str, root: Path, environ: dict[str, str]
) -> None:
    repo_file(root, text)
    with pytest.raises(ConfigError) as caught:
        load_config(root, environ=environ)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_a_broken_user_file_names_its_path(root: Path, environ: dict[str, str]) -> None:
    path = user_file(environ, "resources:\n  cost_limit: [1\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3:1: CFG001 "):
        load_config(root, environ=environ)


def test_a_non_utf8_file_is_a_config_error(root: Path, environ: dict[str, str]) -> None:
    (root / ".claudio.yaml").write_bytes(b"branch:\n  prefix: caf\xe9\n")
    with pytest.raises(ConfigError) as caught:
        load_config(root, environ=environ)
    assert str(caught.value) == ".claudio.yaml:2:14: CFG001 not UTF-8: byte 0xe9 cannot be decoded"


def test_the_config_error_carries_its_finding(root: Path, environ: dict[str, str]) -> None:
    repo_file(root, "branch:\n  prefix: 7\n")
    with pytest.raises(ConfigError) as caught:
        load_config(root, environ=environ)
    assert caught.value.finding == Finding(
        ".claudio.yaml", "CFG003", "$.branch.prefix: 7 is not of type 'string'", 2, 11
    )


def test_an_explicit_config_file_must_exist(root: Path, environ: dict[str, str]) -> None:
    missing = root / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(root, environ=environ, repo_file=missing)
    assert str(caught.value) == f"{missing}:1:1: CFG001 no such file"


def test_a_directory_is_not_a_config_file(root: Path, environ: dict[str, str]) -> None:
    (root / ".claudio.yaml").mkdir()
    with pytest.raises(ConfigError) as caught:
        load_config(root, environ=environ)
    assert str(caught.value) == ".claudio.yaml:1:1: CFG001 is a directory, expected a YAML file"


def test_an_explicit_config_file_replaces_the_repo_file(
    root: Path, environ: dict[str, str]
) -> None:
    repo_file(root, "branch:\n  prefix: repo\n")
    other = write(root / "ci" / "claudio.yaml", "\nbranch:\n  prefix: other\n")
    config = load_config(root, environ=environ, repo_file=other)
    assert config.get("branch.prefix") == "other"
    assert str(config.origins["branch.prefix"]) == f"{other}:3"


def test_repo_text_is_read_as_the_repo_file(root: Path, environ: dict[str, str]) -> None:
    repo_file(root, "branch:\n  prefix: head\n")
    config = load_config(root, environ=environ, repo_text="branch:\n  prefix: base\n")
    assert config.get("branch.prefix") == "base"
    assert str(config.origins["branch.prefix"]) == ".claudio.yaml:2"


def test_outside_a_repository_only_user_file_and_environment_count(
    environ: dict[str, str],
) -> None:
    user_file(environ, "branch:\n  prefix: mine\n")
    config = load_config(None, environ={**environ, "CLAUDIO_RESOURCES_COST_LIMIT": "2"})
    assert (config.get("branch.prefix"), config.get("resources.cost_limit")) == ("mine", 2)


# --- unknown keys are warnings ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "warning"),
    [
        (
            "notebook:\n  formats: ipynb,md\n",
            Finding(
                ".claudio.yaml",
                "CFG004",
                "unknown key $.notebook",
                1,
                1,
                Severity.WARNING,
                "did you mean 'notebooks'?",
            ),
        ),
        (
            "notebooks:\n  formatz: ipynb,md\n",
            Finding(
                ".claudio.yaml",
                "CFG004",
                "unknown key $.notebooks.formatz",
                2,
                3,
                Severity.WARNING,
                "did you mean 'formats'?",
            ),
        ),
        (
            "experiments:\n  dir: experiments/\n  name_patern: x\n",
            Finding(
                ".claudio.yaml",
                "CFG004",
                "unknown key $.experiments.name_patern",
                3,
                3,
                Severity.WARNING,
                "did you mean 'name_pattern'?",
            ),
        ),
    ],
)
def test_an_unknown_key_is_a_warning_with_a_hint(
    text: str, warning: Finding, root: Path, environ: dict[str, str]
) -> None:
    repo_file(root, text)
    config = load_config(root, environ=environ)
    assert config.warnings == [warning]
    assert validate(root, environ=environ) == [warning]


def test_an_unknown_key_without_a_close_match_lists_the_known_keys(
    root: Path, environ: dict[str, str]
) -> None:
    repo_file(root, "zzz: 1\n")
    (warning,) = load_config(root, environ=environ).warnings
    assert warning.hint is not None
    assert warning.hint.startswith("known keys here: completion, tui, instance, ai, branch, pr")


def test_keys_inside_claudios_sections_are_accepted(root: Path, environ: dict[str, str]) -> None:
    repo_file(root, "pr:\n  labels: [x]\n  reviewers:\n    team_reviewers: [y]\nbranch:\n  z: 1\n")
    config = load_config(root, environ=environ)
    assert config.warnings == []
    assert config.get("pr.reviewers.team_reviewers") == ["y"]


# --- environment --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "dotted", "expected"),
    [
        ("CLAUDIO_RESOURCES_COST_LIMIT", "3.5", "resources.cost_limit", 3.5),
        ("CLAUDIO_RESOURCES_COST_WARNING_THRESHOLD", "10", "resources.cost_warning_threshold", 10),
        ("CLAUDIO_PR_REVIEWERS_DEFAULT", "a,b", "pr.reviewers.default", ["a", "b"]),
        ("CLAUDIO_PR_REVIEWERS_DEFAULT", " a , b ,", "pr.reviewers.default", ["a", "b"]),
        ("CLAUDIO_PR_REVIEWERS_DEFAULT", "@alice", "pr.reviewers.default", ["@alice"]),
        ("CLAUDIO_PR_REVIEWERS_DEFAULT", "[a, '@org/t']", "pr.reviewers.default", ["a", "@org/t"]),
        ("CLAUDIO_NOTEBOOKS_FORMATS", "ipynb,md:myst", "notebooks.formats", "ipynb,md:myst"),
        ("CLAUDIO_NOTEBOOKS_IPYNB_TRACKED", "false", "notebooks.ipynb_tracked", False),
        ("CLAUDIO_BRANCH_PREFIX", "agent", "branch.prefix", "agent"),
        ("CLAUDIO_BRANCH_PREFIX", "2024", "branch.prefix", "2024"),
        ("CLAUDIO_BRANCH_INCLUDE_ID", "false", "branch.include_id", False),
        ("CLAUDIO_EXPERIMENTS_SCHEMA_MODE", "replace", "experiments.schema_mode", "replace"),
        ("CLAUDIO_COMPLETION_DEFAULT_ACTION", "auto_pr", "completion.default_action", "auto_pr"),
        ("CLAUDIO_ULTRAPLAN_MAX_PARALLEL", "2", "ultraplan.max_parallel", 2),
    ],
)
def test_environment_variables_set_one_key(
    name: str, value: str, dotted: str, expected: Any, root: Path, environ: dict[str, str]
) -> None:
    config = load_config(root, environ={**environ, name: value})
    assert config.get(dotted) == expected
    assert str(config.origins[dotted]) == f"env {name}"
    assert config.warnings == []


def test_a_mapping_in_the_environment_is_yaml(root: Path, environ: dict[str, str]) -> None:
    name = "CLAUDIO_PR_REVIEWERS_BY_PATH"
    config = load_config(root, environ={**environ, name: '{"src/**": [ml-team], "*.md": [d]}'})
    assert config.get("pr.reviewers.by_path") == {"src/**": ["ml-team"], "*.md": ["d"]}
    assert str(config.origins["pr.reviewers.by_path.*.md"]) == f"env {name}"


@pytest.mark.parametrize(
    "name", ["CLAUDIO_HOME", "CLAUDIO_", "CLAUDIO_PR", "CLAUDIO_NO_SUCH_THING", "CLAUDIOX_PR_A"]
)
def test_variables_that_name_no_section_are_ignored(
    name: str, root: Path, environ: dict[str, str]
) -> None:
    config = load_config(root, environ={**environ, name: "[unbalanced"})
    assert config.data == builtin_defaults()
    assert config.warnings == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("4f1c-77", "4f1c-77"),
        ("", ""),
        ("42", 42),
        ("a: b: c", "a: b: c"),
        ("[1, 2", "[1, 2"),
        ("*alias", "*alias"),
        ("!!int x", "!!int x"),
        ("\x07", "\x07"),
    ],
)
def test_claudios_own_variables_are_accepted_as_is(
    value: str, expected: Any, root: Path, environ: dict[str, str]
) -> None:
    """Claudio's sections take any key, so `CLAUDIO_SESSION_ID` is `session.id`: shown by
    `config show`, read by nothing, never a warning or an error whatever its value."""
    config = load_config(root, environ={**environ, "CLAUDIO_SESSION_ID": value})
    assert config.get("session.id") == expected
    assert str(config.origins["session.id"]) == "env CLAUDIO_SESSION_ID"
    assert config.warnings == []


def test_an_unknown_key_of_our_sections_in_the_environment_is_a_warning(
    root: Path, environ: dict[str, str]
) -> None:
    config = load_config(root, environ={**environ, "CLAUDIO_NOTEBOOKS_FORMAT": "ipynb,md"})
    assert config.warnings == [
        Finding(
            "env CLAUDIO_NOTEBOOKS_FORMAT",
            "CFG004",
            "unknown key $.notebooks.format",
            0,
            0,
            Severity.WARNING,
            "did you mean 'formats'?",
        )
    ]
    assert config.get("notebooks.formats") == "ipynb,py:percent"


def test_a_wrong_type_in_the_environment_is_an_error(root: Path, environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(root, environ={**environ, "CLAUDIO_RESOURCES_COST_LIMIT": "lots"})
    assert str(caught.value) == (
        "env CLAUDIO_RESOURCES_COST_LIMIT: CFG003 $.resources.cost_limit: "
        "'lots' is not of type 'number'"
    )


# --- --set and typed flags ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("assignment", "dotted", "expected"),
    [
        ("resources.cost_limit=4", "resources.cost_limit", 4),
        ("pr.reviewers.default=a,b", "pr.reviewers.default", ["a", "b"]),
        (" notebooks.formats = ipynb,md:myst", "notebooks.formats", "ipynb,md:myst"),
        ("branch.prefix=", "branch.prefix", ""),
        ("branch.prefix=a=b", "branch.prefix", "a=b"),
        ("experiments.schema=null", "experiments.schema", None),
    ],
)
def test_set_overrides_one_key(
    assignment: str, dotted: str, expected: Any, root: Path, environ: dict[str, str]
) -> None:
    config = load_config(root, environ=environ, overrides=[assignment])
    assert config.get(dotted, "missing") == expected
    assert str(config.origins[dotted]) == f"--set {dotted}"


@pytest.mark.parametrize(
    "assignment", ["notebooks.formats", "formats=x", ".=x", "=x", "notebooks..formats=x"]
)
def test_set_needs_section_key_and_value(
    assignment: str, root: Path, environ: dict[str, str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(root, environ=environ, overrides=[assignment])
    assert str(caught.value) == (
        f"command line: CFG003 --set expects SECTION.KEY=VALUE, got {assignment!r}"
    )


def test_set_and_environment_values_that_are_not_utf8_are_config_errors(
    root: Path, environ: dict[str, str]
) -> None:
    undecodable = b"caf\xe9".decode("utf-8", "surrogateescape")  # how argv and environ hold it
    with pytest.raises(ConfigError) as caught:
        load_config(root, environ=environ, overrides=[f"notebooks.formats={undecodable}"])
    assert str(caught.value) == (
        "command line: CFG003 --set 'notebooks.formats=caf\\xe9' is not valid UTF-8"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(root, environ={**environ, "CLAUDIO_NOTEBOOKS_FORMATS": undecodable})
    assert str(caught.value) == (
        "environment: CFG003 CLAUDIO_NOTEBOOKS_FORMATS='caf\\xe9' is not valid UTF-8"
    )


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        (
            "resources:\n  cost_limit: .nan\n",
            [],
            ".claudio.yaml:2:15: CFG003 $.resources.cost_limit",
        ),
        ("", ["smoke_test.timeout_seconds=nan"], "--set smoke_test.timeout_seconds: CFG003 "),
    ],
)
def test_nan_is_not_a_number(
    text: str, overrides: list[str], message: str, root: Path, environ: dict[str, str]
) -> None:
    (root / ".claudio.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(root, environ=environ, overrides=overrides)
    assert str(caught.value).startswith(message)
    assert str(caught.value).endswith(": NaN is not a number")


def test_set_of_an_unknown_key_warns(root: Path, environ: dict[str, str]) -> None:
    (warning,) = load_config(root, environ=environ, overrides=["notebooks.fromats=x"]).warnings
    assert (warning.path, warning.line, warning.hint) == (
        "--set notebooks.fromats",
        0,
        "did you mean 'formats'?",
    )


def test_typed_flag_values_win_over_set(root: Path, environ: dict[str, str]) -> None:
    config = load_config(
        root,
        environ=environ,
        overrides=["notebooks.formats=ipynb,py:light", "resources.cost_limit=4"],
        flag_values={"notebooks.formats": "ipynb,md:myst", "resources.cost_limit": None},
    )
    assert config.get("notebooks.formats") == "ipynb,md:myst"
    assert str(config.origins["notebooks.formats"]) == "command line"
    assert config.get("resources.cost_limit") == 4  # None: the flag was not given
    assert str(config.origins["resources.cost_limit"]) == "--set resources.cost_limit"


# --- validate -----------------------------------------------------------------------------


def test_validate_returns_every_finding_of_every_source(
    root: Path, environ: dict[str, str]
) -> None:
    user = user_file(environ, "pr:\n  draft: 1\n  draft: 2\n")
    repo_file(
        root,
        "resources:\n  cost_limit: cheap\n  cost_warning_threshold: -1\nnotebook: {}\n",
    )
    found = validate(
        root, environ={**environ, "CLAUDIO_BRANCH_INCLUDE_ID": "maybe"}, overrides=["x"]
    )
    assert [(f.path, f.line, f.col, f.code, f.severity) for f in found] == [
        (str(user), 3, 3, "CFG002", Severity.ERROR),
        (".claudio.yaml", 2, 15, "CFG003", Severity.ERROR),
        (".claudio.yaml", 3, 27, "CFG003", Severity.ERROR),
        (".claudio.yaml", 4, 1, "CFG004", Severity.WARNING),
        ("env CLAUDIO_BRANCH_INCLUDE_ID", 0, 0, "CFG003", Severity.ERROR),
        ("command line", 0, 0, "CFG003", Severity.ERROR),
    ]


def test_validate_of_a_clean_configuration_is_empty(root: Path, environ: dict[str, str]) -> None:
    repo_file(root, "branch:\n  prefix: agent\n")
    assert validate(root, environ=environ) == []


def test_validation_cache_skips_jsonschema_for_an_unchanged_file(tmp_path: Path) -> None:
    repo_file = tmp_path / ".claudio.yaml"
    repo_file.write_text("notebooks:\n  formatz: x\n", encoding="utf-8")
    state = tmp_path / "state"
    state.mkdir()
    first = load_config(None, repo_file=repo_file, cache_dir=state)
    assert [w.code for w in first.warnings] == ["CFG004"]
    assert len(ValidationCache(state).store.entries) == 1

    # A fresh interpreter with the cache warm must not import jsonschema at all.
    probe = (
        "import sys; from pathlib import Path; from claudio_ci.core.config import load_config; "
        f"c = load_config(None, repo_file=Path({str(repo_file)!r}), "
        f"cache_dir=Path({str(state)!r})); "
        "print([w.code for w in c.warnings], 'jsonschema' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['CFG004'] False"

    repo_file.write_text("notebooks:\n  formats: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="CFG003"):
        load_config(None, repo_file=repo_file, cache_dir=state)
    assert len(ValidationCache(state).store.entries) == 2
