"""The configuration, typed: one frozen dataclass per section of the schema, built once.

`Config.data` is the merged configuration, already checked against
`schemas/config.schema.json`; these sections hold the same values with Python types (an
array is a tuple, a number a float), so that a command reads
`config.settings.notebooks.paths`, never `config.data["notebooks"]["paths"]`. Each field's
default is the schema's: `tests/core/test_settings.py` walks the schema and these classes
and fails when a property, a type or a default disagrees. Claudio's own sections, accepted
as they are and never read by claudio-ci, stay plain mappings.

Checks that need more than the schema (a regular expression that compiles, a port range in
order, a path inside the repository) stay with the capability that uses the value, where the
setting's `Config.origin` is at hand for the message.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

ReviewerLists = Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class BranchSection:
    """Claudio's branch naming; `prefix` recognises agent branches."""

    prefix: str = "claudio"
    include_id: bool = True


@dataclass(frozen=True)
class ReviewersSection:
    """`pr.reviewers`: path-based reviewer assignment."""

    default: tuple[str, ...] = ()
    by_path: ReviewerLists = field(default_factory=dict)
    groups: ReviewerLists = field(default_factory=dict)
    syntax: str = "codeowners"
    codeowners: bool | str = False
    last_match_wins: bool = False
    max_reviewers: int = 0
    skip_draft: bool = True
    skip_title_keywords: tuple[str, ...] = ("WIP", "DO NOT REVIEW")


@dataclass(frozen=True)
class PrSection:
    """`pr`: what claudio-ci does on pull requests."""

    reviewers: ReviewersSection = field(default_factory=ReviewersSection)


@dataclass(frozen=True)
class ResourcesSection:
    """Cost thresholds in USD, shared with Claudio; 0 means none."""

    cost_warning_threshold: float = 5.0
    cost_limit: float = 0.0


@dataclass(frozen=True)
class GpuSection:
    """`gpu`: prices and sampling for the GPU cost of a branch."""

    hourly_rates: Mapping[str, float] = field(default_factory=dict)
    default_hourly_rate: float | None = None
    energy_price_per_kwh: float | None = None
    sample_interval_seconds: float = 0.5
    ledger: str | None = None


@dataclass(frozen=True)
class NotebooksSection:
    """`notebooks`: which notebooks are paired with jupytext, and how."""

    paths: tuple[str, ...] = ("notebooks/**",)
    formats: str = "ipynb,py:percent"
    ipynb_tracked: bool = True
    strip_outputs: bool = False
    allow_unpaired: tuple[str, ...] = ()
    max_file_mb: float = 100.0


@dataclass(frozen=True)
class HydraSection:
    """`experiments.hydra`: the Hydra config tree that experiments compose from."""

    config_dir: str
    config_name: str


@dataclass(frozen=True)
class ExperimentsSection:
    """`experiments`: naming and outputs of experiment configs."""

    dir: str = "experiments/"
    name_pattern: str = "^[a-z][a-z0-9_]*$"
    name_key: str | None = "model.name"
    output_key: str | None = "output.dir"
    reserved_names: tuple[str, ...] = ("default", "latest", "outputs")
    exclude: tuple[str, ...] = ("experiments/template.yaml",)
    schema: str | None = None
    schema_mode: str = "extend"
    compare_branches: tuple[str, ...] = ()
    identity: str = "stem"
    hydra: HydraSection | None = None
    ignore: tuple[str, ...] = ()
    per_file_ignores: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class WorktreeSection:
    """`worktree`: what `worktree setup` gives each new worktree."""

    shared_data: Mapping[str, str] = field(default_factory=dict)
    directories: tuple[str, ...] = ("outputs/", "processed/")
    output_root: str = "outputs/"
    setup_commands: tuple[str, ...] = ()
    setup_timeout_seconds: float = 600.0
    jupyter_ports: str | None = "8888-8987"
    env_file: str | None = ".env"


@dataclass(frozen=True)
class ExpectSection:
    """`smoke_test.expect`: which checks apply to a run that exited 0."""

    metrics: bool = True
    finite: bool = True
    loss_not_increasing: bool = True
    checkpoint: bool = True
    checkpoint_loads: bool = True


@dataclass(frozen=True)
class SmokeTestSection:
    command: str = (
        "python src/training/train.py --config {config} --epochs 1 --batch-size 2 --device cpu"
    )
    configs: tuple[str, ...] = ("experiments/test.yaml",)
    shared_paths: tuple[str, ...] = (
        "*.py",
        "src/**",
        "requirements*",
        "pyproject.toml",
        "setup.cfg",
        "environment.y*ml",
    )
    timeout_seconds: float = 600.0
    max_memory_mb: int = 4096
    env: Mapping[str, str] = field(default_factory=dict)
    python: str | None = None
    import_check: str | None = None
    import_kwargs: Mapping[str, Any] = field(default_factory=dict)
    import_config: str | None = None
    metrics_path: str = "outputs/{name}/metrics.json"
    checkpoint_path: str = "outputs/{name}/model.pt"
    trusted_checkpoints: bool = False
    loss_tolerance: float = 0.1
    loss_key: str | tuple[str, ...] | None = None
    loss_pattern: str = "loss[=: ]"
    expect: ExpectSection = field(default_factory=ExpectSection)


@dataclass(frozen=True)
class CompareSection:
    """`conflicts.compare`: what the files being committed are compared with."""

    siblings: bool = True
    branches: tuple[str, ...] = ()
    remote_branches: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConflictsSection:
    """`conflicts`: which files carry merge risk, and what they are compared with."""

    high: tuple[str, ...] = (
        "requirements*.txt",
        "requirements*.in",
        "pyproject.toml",
        "setup.cfg",
        "environment*.yml",
        "environment*.yaml",
        "*.lock",
        "package-lock.json",
        "pnpm-lock.yaml",
        "conda-lock.yml",
        "*.ipynb",
        ".pre-commit-config.yaml",
        ".github/workflows/**",
    )
    low: tuple[str, ...] = ("src/models/**", "experiments/**")
    ignore: tuple[str, ...] = ("CLAUDE.md", "AGENTS.md", "GEMINI.md", ".claudio/**")
    single_writer: tuple[str, ...] = ()
    compare: CompareSection = field(default_factory=CompareSection)
    fail_on: str = "high"
    untracked_max_mb: float = 10.0


Passthrough = Mapping[str, Any]  # one of Claudio's sections, accepted as is


@dataclass(frozen=True)
class Settings:
    """Every section of the configuration, typed."""

    completion: Passthrough = field(default_factory=dict)
    tui: Passthrough = field(default_factory=dict)
    instance: Passthrough = field(default_factory=dict)
    ai: Passthrough = field(default_factory=dict)
    branch: BranchSection = field(default_factory=BranchSection)
    pr: PrSection = field(default_factory=PrSection)
    paths: Passthrough = field(default_factory=dict)
    logging: Passthrough = field(default_factory=dict)
    cleanup: Passthrough = field(default_factory=dict)
    resources: ResourcesSection = field(default_factory=ResourcesSection)
    session: Passthrough = field(default_factory=dict)
    ultraplan: Passthrough = field(default_factory=dict)
    tripleshot: Passthrough = field(default_factory=dict)
    adversarial: Passthrough = field(default_factory=dict)
    plan: Passthrough = field(default_factory=dict)
    experimental: Passthrough = field(default_factory=dict)
    gpu: GpuSection = field(default_factory=GpuSection)
    notebooks: NotebooksSection = field(default_factory=NotebooksSection)
    experiments: ExperimentsSection = field(default_factory=ExperimentsSection)
    worktree: WorktreeSection = field(default_factory=WorktreeSection)
    smoke_test: SmokeTestSection = field(default_factory=SmokeTestSection)
    conflicts: ConflictsSection = field(default_factory=ConflictsSection)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Settings:
        """The typed form of merged, schema-checked configuration data."""
        return build(cls, data)


# --- from data to sections -------------------------------------------------------------------


def build(cls: type[T], data: Mapping[str, Any]) -> T:
    """`cls` (a section) from a mapping: keys it lacks take the field's default, and keys
    it does not know (Claudio's extras in `branch`, `pr`, `resources`) are left out."""
    hints = _hints(typing.cast(Any, cls))  # a class is hashable; mypy cannot tell for type[T]
    values = {
        f.name: _convert(hints[f.name], data[f.name])
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.name in data
    }
    return cls(**values)


@functools.cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(hint: Any, value: Any) -> Any:
    """`value`, as the schema has checked it, in the Python type `hint` names."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        chosen = next((arg for arg in args if _fits(arg, value)), args[0])
        return _convert(chosen, value)
    if origin is tuple:
        return tuple(_convert(args[0], item) for item in value)
    if origin is Mapping:
        return {str(key): _convert(args[1], item) for key, item in value.items()}
    if dataclasses.is_dataclass(hint):
        return build(hint, value)  # type: ignore[arg-type]
    if hint is float:
        return float(value)
    return value


def _fits(hint: Any, value: Any) -> bool:
    """Whether `value` is of the JSON type that the union member `hint` stands for."""
    origin = typing.get_origin(hint) or hint
    if origin is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if origin is tuple:
        return isinstance(value, list | tuple)
    if origin is Mapping or dataclasses.is_dataclass(origin):
        return isinstance(value, Mapping)
    return isinstance(value, origin)
