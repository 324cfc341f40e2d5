"""What `claudio-ci init` writes into a repository, decided without touching anything."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from claudio_ci.core.errors import UsageError
from claudio_ci.core.fileio import write_atomic


class Action(enum.Enum):
    CREATE = "created"
    OVERWRITE = "overwritten"
    UNCHANGED = "unchanged"
    SKIP = "skipped (exists and differs; --force overwrites)"


@dataclass(frozen=True)
class PlannedFile:
    target: Path
    relative: str
    content: bytes
    action: Action


def template_files(template_root: Path) -> Iterator[tuple[str, bytes]]:
    for source in sorted(template_root.rglob("*")):
        if source.is_file() and "__pycache__" not in source.parts:
            yield source.relative_to(template_root).as_posix(), source.read_bytes()


CONFIG_DIRS = ("configs", "config", "conf")
TUTORIAL_TEMPLATE = "experiments/template.yaml"
HOOK_LINE = b"      - id: experiment-config\n"
HYDRA_DEPENDENCY = (
    b"        additional_dependencies: [hydra-core] # Hydra mode composes each experiment\n"
)
PRIMARY_NAMES = ("train", "config", "main", "default")


@dataclass(frozen=True)
class HydraLayout:
    """A Hydra project: its config directory, primary config and experiment group."""

    config_dir: str  # "configs"
    config_name: str | None  # "train"; None: no primary config found, no Hydra mode
    experiment_dir: str  # "configs/experiment"
    hydra_shaped: bool = True  # False: plain configs in configs/experiments/, no Hydra

    @property
    def is_hydra(self) -> bool:
        return self.config_name is not None or self.hydra_shaped


def detect_hydra(root: Path) -> HydraLayout | None:
    """`configs/experiment/` next to a primary config with a `defaults:` list (the
    lightning-hydra-template layout), or such a config alone."""
    for name in CONFIG_DIRS:
        directory = root / name
        if not directory.is_dir():
            continue
        primaries = [p for p in sorted(directory.glob("*.yaml")) if _has_defaults_list(p)]
        group = next((g for g in ("experiment", "experiments") if (directory / g).is_dir()), None)
        if not primaries and group is None:
            continue
        ranked = sorted(primaries, key=lambda p: (p.stem not in PRIMARY_NAMES, p.name))
        experiment_dir = f"{name}/{group or 'experiment'}"
        shaped = bool(primaries) or any(
            _is_hydra_file(p) for p in sorted((directory / (group or "")).rglob("*.yaml"))[:200]
        )
        return HydraLayout(name, ranked[0].stem if ranked else None, experiment_dir, shaped)
    return None


def _is_hydra_file(path: Path) -> bool:
    """A `defaults:` list or a `# @package` header: a config Hydra composes."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return bool(re.search(r"^(#\s*@package\b|defaults\s*:)", text, re.MULTILINE))


def _has_defaults_list(path: Path) -> bool:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and isinstance(data.get("defaults"), list)


def fit_config(text: str, layout: HydraLayout | None) -> str:
    """The `.claudio.yaml` template with its experiments section fitted to the project:
    the tutorial layout keeps the defaults; a Hydra project gets Hydra mode."""
    if layout is None:
        return text
    if not layout.is_hydra:  # plain configs elsewhere: only the directory differs
        values = {"dir": f"{layout.experiment_dir}/ # where this project keeps them"}
        return _set_experiments(text, values)
    values = {
        "dir": f"{layout.experiment_dir}/ # Hydra's experiment config group",
        "name_pattern": '"^[A-Za-z0-9][A-Za-z0-9_.-]*$" # experiment names (path below dir)',
        "name_key": "null # Hydra experiments hold no name key",
        "output_key": "null # the run directory (hydra.run.dir) is chosen at launch",
        "exclude": "[]",
        "schema_mode": "none # the built-in schema fits the tutorial layout only",
        "identity": "path # configs/experiment/a/x.yaml and b/x.yaml are two experiments",
        "hydra": f"{{config_dir: {layout.config_dir}, config_name: {layout.config_name}}}"
        " # compose each experiment as `train.py experiment=NAME` does",
    }
    if layout.config_name is None:
        values["hydra"] = "null # no primary config with a defaults list was found"
    return _set_experiments(text, values)


def _set_experiments(text: str, values: dict[str, str]) -> str:
    head, marker, section = text.partition("\nexperiments:\n")
    if not marker:
        return text
    body, blank, rest = section.partition("\n\n")
    for key, value in values.items():

        def keep_key(match: re.Match[str], value: str = value) -> str:
            return f"{match.group(1)} {value}"

        body = re.sub(rf"(?m)^(  {key}:) .*$", keep_key, body)
    return head + marker + body + blank + rest


def plan(template_root: Path, destination: Path, force: bool) -> list[PlannedFile]:
    planned = []
    layout = detect_hydra(destination)
    for relative, template in template_files(template_root):
        if relative == TUTORIAL_TEMPLATE and layout is not None and layout.is_hydra:
            continue  # a tutorial-layout experiment: it fits no Hydra experiment group
        content = template
        if relative == ".claudio.yaml":
            content = fit_config(template.decode("utf-8"), layout).encode("utf-8")
        elif relative == ".pre-commit-config.yaml" and layout and layout.config_name:
            content = template.replace(HOOK_LINE, HOOK_LINE + HYDRA_DEPENDENCY)
        target = destination / relative
        if not target.exists():
            action = Action.CREATE
        elif target.is_file() and target.read_bytes() == content:
            action = Action.UNCHANGED
        else:
            action = Action.OVERWRITE if force else Action.SKIP
        if action in (Action.CREATE, Action.OVERWRITE):
            _check_writable(destination, relative)
        planned.append(PlannedFile(target, relative, content, action))
    return planned


def _check_writable(destination: Path, relative: str) -> None:
    """Refuse before anything is written, rather than leave half of the files behind."""
    path = destination
    parts = Path(relative).parts
    for depth, part in enumerate(parts, 1):
        path = path / part
        if depth < len(parts) and path.exists() and not path.is_dir():
            raise UsageError(f"{relative}: cannot be written: {path} is not a directory")
    if path.is_dir():
        raise UsageError(f"{relative}: cannot be written: {path} is a directory")


def apply(planned: list[PlannedFile]) -> None:
    for item in planned:
        if item.action in (Action.CREATE, Action.OVERWRITE):
            write_atomic(item.target, item.content)
