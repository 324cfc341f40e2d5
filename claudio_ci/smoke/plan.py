"""From the `smoke_test` configuration and the command line to the experiments to run."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claudio_ci.adapters.git import Repository, relative_paths
from claudio_ci.core.config import Config, Origin
from claudio_ci.core.errors import ConfigError, GitError, UsageError
from claudio_ci.core.globs import gitignore_spec
from claudio_ci.experiments.files import Selection
from claudio_ci.smoke.metrics import NUMBER
from claudio_ci.smoke.rules import LOSS_KEYS, Expectations, Experiment
from claudio_ci.smoke.runner import Limits

PYTHON_WORDS = ("python", "python3")
GLOB_CHARACTERS = set("*?[")


@dataclass(frozen=True)
class Job:
    """One experiment's run: the command and where its results land (repo-relative)."""

    experiment: Experiment
    argv: tuple[str, ...]
    metrics_path: str
    checkpoint_path: str


@dataclass(frozen=True)
class Settings:
    root: Path  # the worktree: commands run here, paths are relative to it
    command: tuple[str, ...]  # the template, split
    configs: tuple[str, ...]
    shared_paths: tuple[str, ...]
    limits: Limits
    env: Mapping[str, str]
    python: str
    import_check: str | None
    metrics_path: str
    checkpoint_path: str
    expect: Expectations
    loss_pattern: str = "loss[=: ]"
    trusted_checkpoints: bool = False
    import_kwargs: Mapping[str, Any] = field(default_factory=dict)
    import_config: str | None = None

    @property
    def loss_regex(self) -> re.Pattern[str]:
        """A log line that prints the loss: `loss_pattern`, then a number."""
        return re.compile(f"(?:{self.loss_pattern})\\s*{NUMBER}", re.IGNORECASE)

    @classmethod
    def from_config(cls, config: Config, root: Path) -> Settings:
        section = config.settings.smoke_test
        expect = section.expect
        return cls(
            root=root,
            command=_split_command(section.command, config),
            configs=section.configs,
            shared_paths=section.shared_paths,
            limits=Limits(section.timeout_seconds, section.max_memory_mb),
            env=dict(section.env),
            python=_interpreter(section.python, root, config),
            import_check=section.import_check,
            metrics_path=section.metrics_path,
            checkpoint_path=section.checkpoint_path,
            expect=Expectations(
                metrics=expect.metrics,
                finite=expect.finite,
                loss_not_increasing=expect.loss_not_increasing,
                checkpoint=expect.checkpoint,
                checkpoint_loads=expect.checkpoint_loads,
                loss_tolerance=section.loss_tolerance,
                loss_keys=_loss_keys(section.loss_key),
            ),
            loss_pattern=_pattern(section.loss_pattern, config),
            trusted_checkpoints=section.trusted_checkpoints,
            import_kwargs=dict(section.import_kwargs),
            import_config=section.import_config,
        )

    def environment(self, base: Mapping[str, str] = os.environ) -> dict[str, str]:
        """Ours, unbuffered output (live logs, nothing lost on a kill), `env`, and no GPU."""
        return {**base, "PYTHONUNBUFFERED": "1", **self.env, "CUDA_VISIBLE_DEVICES": ""}

    def job(self, config_path: str) -> Job:
        name = Path(config_path).stem
        words = [_fill(word, name, config_path) for word in self.command]
        argv = [self.python, *words[1:]] if words[0] in PYTHON_WORDS else words
        return Job(
            Experiment(name, config_path, shlex.join(words)),
            tuple(argv),
            _fill(self.metrics_path, name, config_path),
            _fill(self.checkpoint_path, name, config_path),
        )


def _fill(template: str, name: str, config_path: str) -> str:
    """Only `{name}` and `{config}`: other braces (`${HOME}`, JSON) stay as they are."""
    return template.replace("{name}", name).replace("{config}", config_path)


def _loss_keys(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if value is None:
        return LOSS_KEYS
    return (value,) if isinstance(value, str) else tuple(value)


def _pattern(value: str, config: Config) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ConfigError(
            f"{_origin(config, 'loss_pattern')}: smoke_test.loss_pattern: {value!r} is not a "
            f"regular expression: {exc}"
        ) from None
    return value


def _origin(config: Config, key: str) -> Origin:
    return config.origin(f"smoke_test.{key}")


def _split_command(command: str, config: Config) -> tuple[str, ...]:
    try:
        words = tuple(shlex.split(command))
    except ValueError as exc:
        raise ConfigError(f"{_origin(config, 'command')}: smoke_test.command: {exc}") from None
    if not words:
        raise ConfigError(f"{_origin(config, 'command')}: smoke_test.command is empty")
    return words


def _interpreter(value: str | None, root: Path, config: Config) -> str:
    if value is None:
        return sys.executable
    found = shutil.which(value) if os.sep not in value else None
    path = Path(found) if found else root / value
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ConfigError(
            f"{_origin(config, 'python')}: smoke_test.python: {value!r} is not an executable "
            "(a path relative to the repository root, or a command on PATH)"
        )
    return str(path)


# --- which experiments ---------------------------------------------------------------------


def _expand(
    patterns: Iterable[str], root: Path, config: Config, *, missing_ok: bool = False
) -> list[str]:
    """The configured configs: literal paths must exist (unless `missing_ok`: they are not
    what runs), globs may match nothing."""
    found: list[str] = []
    for pattern in patterns:
        if GLOB_CHARACTERS & set(pattern):
            found += sorted(p.relative_to(root).as_posix() for p in root.glob(pattern))
        elif (root / pattern).is_file():
            found.append(Path(pattern).as_posix())
        elif not missing_ok:
            raise ConfigError(
                f"{_origin(config, 'configs')}: smoke_test.configs: {pattern} does not exist "
                "(list the configs to smoke-test in .claudio.yaml, or pass --experiment)"
            )
    return list(dict.fromkeys(found))


def unmatched_globs(settings: Settings) -> list[str]:
    """The `configs` globs that match no file: a typo would otherwise pass in silence."""
    return [
        pattern
        for pattern in settings.configs
        if GLOB_CHARACTERS & set(pattern) and not any(settings.root.glob(pattern))
    ]


def _experiment_configs(repo: Repository, config: Config) -> list[str]:
    """Every experiment config under `experiments.dir`, as the experiment-config hook sees it."""
    selection = Selection.from_config(config)
    listed = selection.select(repo.files_under(selection.directory))
    return sorted(p for p in listed if (repo.root / p).is_file())


def _by_name(names: Sequence[str], known: Sequence[str], repo: Repository) -> list[str]:
    """`--experiment` values: a config's file stem, or a path to a config file."""
    chosen = []
    for name in names:
        if os.path.isfile(name):
            chosen += relative_paths(repo, [name])
            continue
        matches = [path for path in known if Path(path).stem == name]
        if len(matches) != 1:
            problem = "is ambiguous" if matches else "is not an experiment"
            listed = ", ".join(sorted(matches or {Path(p).stem for p in known})) or "none"
            raise UsageError(f"--experiment {name}: {problem} (known: {listed})")
        chosen += matches
    return list(dict.fromkeys(chosen))


def select_configs(
    repo: Repository,
    config: Config,
    settings: Settings,
    *,
    names: Sequence[str] = (),
    changed_only: bool = False,
    every: bool = False,
    base: str = "main",
) -> list[str]:
    """The experiment configs to smoke-test, repo-relative, in a stable order.

    Default: `smoke_test.configs`. `every`: those plus every config under `experiments.dir`.
    `changed_only`: the ones the worktree changed since its merge base with `base`, or all
    of them when a `shared_paths` file changed.
    """
    default = _expand(settings.configs, repo.root, config, missing_ok=bool(names))
    if not (names or changed_only or every):
        return default
    known = list(dict.fromkeys([*default, *_experiment_configs(repo, config)]))
    if names:
        return _by_name(names, known, repo)
    if every:
        return known
    try:
        since = repo.changed_in_worktree_since(base)
    except GitError as exc:
        raise UsageError(
            f"--changed-only: cannot compare with the base {base}: {exc}; name the branch to "
            "compare with with --base"
        ) from None
    changed = {c.path for c in since if not c.deleted}
    changed |= set(repo.untracked_files())
    if any(gitignore_spec(settings.shared_paths).match_file(path) for path in changed):
        return known
    return [path for path in known if path in changed]


def matrix(jobs: Sequence[Job]) -> dict[str, list[dict[str, str]]]:
    """`strategy.matrix` for GitHub Actions: one runner per experiment."""
    return {
        "include": [{"experiment": j.experiment.name, "config": j.experiment.config} for j in jobs]
    }
