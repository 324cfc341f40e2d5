"""`claudio-ci check experiments`: the `experiment-config` pre-commit hook.

Reads the experiment configs under `experiments.dir` (the FILES given, plus every other
config in the worktree for the collision checks), the configs that sibling worktrees and
`experiments.compare_branches` add since their merge base with HEAD, and the JSON
Schemas; `claudio_ci.experiments.rules` decides. `--fix` sets the name key to the file
name, editing only that value's bytes.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import dataclasses
import functools
import json
import posixpath
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from claudio_ci import __version__
from claudio_ci.adapters.git import Repository, Worktree
from claudio_ci.check import CheckContext, run_check_command
from claudio_ci.core.cache import JsonCache, cache_key, fingerprint
from claudio_ci.core.config import Config
from claudio_ci.core.errors import ConfigError, GitError
from claudio_ci.core.fileio import read_regular, write_atomic
from claudio_ci.core.findings import Finding, Fix, Severity
from claudio_ci.core.yamlfile import MAX_BYTES, PathKey, YamlError, decode_yaml_bytes, parse_yaml
from claudio_ci.experiments import rules as exp
from claudio_ci.experiments.files import Selection

BUILTIN_SCHEMA = Path(__file__).resolve().parents[1] / "core" / "schemas" / "experiment.schema.json"
CACHE_NAME = "experiments-cache.json"
MAX_BASE_DEPTH = 20


class _BaseError(Exception):
    """A `_BASE_` config that cannot be read or merged."""


def run(args: argparse.Namespace) -> int:
    return run_check_command(args, check, "claudio-ci: experiment configs", section="experiments")


def check(ctx: CheckContext) -> list[Finding]:
    selection = Selection.from_config(ctx.config)
    composed_from = _composed_configs(ctx.config, selection, ctx.files)
    if not ctx.all_files and not selection.select(ctx.files) and not composed_from:
        return []  # nothing to do: no jsonschema, no git
    root = ctx.repo.root
    listed = selection.select(ctx.repo.files_under(selection.directory))
    present = [p for p in listed if (root / p).exists()]
    # A changed group config (configs/model/mnist.yaml) may break any experiment composed
    # with it: in Hydra mode every experiment is checked again.
    everything = ctx.all_files or bool(composed_from)
    targets = present if everything else selection.select(ctx.files)
    if not targets:
        return []
    hydra = _hydra_settings(root, selection, ctx.config)
    rules = _rules(ctx.config, selection)
    summaries = _Summaries(root, rules, ctx.config, ctx.repo.state_dir(False), hydra)
    branch_globs = list(ctx.config.settings.experiments.compare_branches)
    siblings, warnings = _sibling_states(ctx.repo, selection, branch_globs, summaries)
    chosen = set(targets)
    others = [p for p in present if p not in chosen]

    def analyse() -> list[Finding]:
        mine = [summaries.local(p) for p in targets]
        rest = [summaries.local(p) for p in others]
        summaries.cache.save()
        return exp.check_experiments(mine, rest, summaries.rules, siblings)

    try:
        findings = analyse()
        if ctx.fix:
            findings = _fix(root, findings, summaries.rules, analyse)
    finally:
        if hydra is not None:
            hydra.close()
    return warnings + findings


# --- configuration --------------------------------------------------------------------------


def _key(value: str | None) -> tuple[str, ...] | None:
    """A dotted key (`model.name`) as its parts."""
    return None if value is None else tuple(value.split("."))


def _rules(config: Config, selection: Selection | None = None) -> exp.Rules:
    section = config.settings.experiments
    raw = section.name_pattern
    try:
        pattern = re.compile(raw)
    except re.error as exc:
        origin = config.origin("experiments.name_pattern")
        raise ConfigError(
            f"{origin}: experiments.name_pattern {raw!r} is not a regular expression: {exc}"
        ) from None
    by_path = section.identity == "path" and selection is not None
    return exp.Rules(
        name_pattern=pattern,
        name_key=_key(section.name_key),
        output_key=_key(section.output_key),
        reserved_names=frozenset(section.reserved_names),
        identity_dir=selection.directory if by_path and selection else None,
    )


def _schemas(root: Path, config: Config) -> list[exp.Schema]:
    section = config.settings.experiments
    if section.schema_mode == "none":
        return []
    builtin = builtin_schema()
    location = section.schema
    if not location:
        return [builtin]
    validator = _user_validator(root / location, location)
    own = exp.Schema(location, lambda: validator)
    return [own] if section.schema_mode == "replace" else [builtin, own]


@functools.cache
def builtin_schema() -> exp.Schema:
    """The shipped schema: fastjsonschema's compiled check first, jsonschema to explain."""
    schema = json.loads(BUILTIN_SCHEMA.read_text(encoding="utf-8"))
    return exp.Schema(
        "the built-in experiment schema",
        functools.cache(lambda: _explaining_validator(schema)),
        accepts=_compiled_check(schema),
    )


def _explaining_validator(schema: dict[str, Any]) -> Any:
    import jsonschema  # ~70 ms: paid only when a config breaks the schema

    return jsonschema.Draft202012Validator(schema)


def _compiled_check(schema: dict[str, Any]) -> Callable[[Any], bool]:
    """The schema compiled to Python by fastjsonschema (~20 ms, then microseconds a file).

    The built-in schema uses only keywords draft-07 already has, with the same meaning;
    `tests/experiments/test_rules.py` checks that the two validators agree.
    """
    import fastjsonschema

    validate = fastjsonschema.compile(
        {**schema, "$schema": "http://json-schema.org/draft-07/schema#"}
    )

    def accepts(data: Any) -> bool:
        try:
            validate(data)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    return accepts


def _user_validator(path: Path, label: str) -> Any:
    import jsonschema

    def fail(reason: str) -> ConfigError:
        return ConfigError(f"{label}: experiments.schema {reason}")

    try:
        text = read_regular(path).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        schema = json.loads(text) if path.suffix == ".json" else parse_yaml(text, label).data
    except json.JSONDecodeError as exc:
        raise fail(
            f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except YamlError as exc:
        raise fail(
            f"is not valid YAML: {exc.message} (line {exc.line}, column {exc.col})"
        ) from None
    if not isinstance(schema, dict | bool):
        raise fail("must hold a JSON Schema object")
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)  # type: ignore[arg-type]  # true/false are schemas too
    except jsonschema.SchemaError as exc:
        raise fail(f"is not a valid JSON Schema: {exc.message}") from None
    return cls(schema)


# --- reading and summarising ---------------------------------------------------------------


class _Summaries:
    """Summaries of configs, from the cache when path, bytes, rules and schemas match."""

    def __init__(
        self,
        root: Path,
        rules: exp.Rules,
        config: Config,
        state_dir: Path,
        hydra: HydraComposer | None = None,
    ) -> None:
        self.root = root
        self.rules = rules
        self.config = config
        self.hydra = hydra
        self.cache = JsonCache(state_dir / CACHE_NAME)
        self.fingerprint = _fingerprint(root, rules, config, hydra)

    @functools.cached_property
    def schemas(self) -> list[exp.Schema]:
        return _schemas(self.root, self.config)

    def local(self, path: str) -> exp.Summary:
        """A config of this worktree."""
        try:
            raw = _read(self.root / path)
        except OSError as exc:
            reason = f"cannot read the file: {exc.strerror or exc}"
            error = YamlError(reason, 0, 0, code="unreadable")
            return exp.summarize(exp.ExperimentFile(path, error=error), self.rules, [])
        parsed = None
        bases: list[bytes] = []
        if exp.BASE_KEY.encode() in raw:  # the bases' bytes are part of the cache key
            parsed = _parse(path, raw)
            parsed, bases = self._with_bases(parsed)
        if self.hydra is not None and b"defaults" in raw:  # may build on other experiments
            bases += self.hydra.built_on(path, raw)
        key = cache_key(self.fingerprint, path, raw, *bases)
        entry = self.cache.get(key)
        summary = None if entry is None else _summary_from_json(path, entry)
        if summary is None:
            file = parsed or _parse(path, raw)
            if self.hydra is not None and file.document is not None:
                file = self.hydra.compose(file)
            summary = exp.summarize(file, self.rules, self.schemas)
            self.cache.put(key, _summary_to_json(summary))
        return dataclasses.replace(summary, content=raw)

    def _with_bases(self, file: exp.ExperimentFile) -> tuple[exp.ExperimentFile, list[bytes]]:
        """`file` with its `_BASE_` configs merged under it, and the bytes read for them."""
        if file.document is None or not exp.base_references(file.document.data):
            return file, []
        read: list[bytes] = []
        try:
            merged = self._merged(file.path, file.document.data, read, [file.path])
        except _BaseError as exc:
            return dataclasses.replace(file, composition_error=f"{exp.BASE_KEY}: {exc}"), read
        return dataclasses.replace(file, composed=merged), read

    def _merged(self, path: str, data: dict[str, Any], read: list[bytes], chain: list[str]) -> Any:
        bases = []
        for reference in exp.base_references(data):
            base = posixpath.normpath(posixpath.join(posixpath.dirname(path), reference))
            if base.startswith("../") or base == ".." or posixpath.isabs(reference):
                raise _BaseError(f"{reference} is outside the repository")
            if base in chain or len(chain) > MAX_BASE_DEPTH:
                raise _BaseError(f"{' -> '.join([*chain, base])} never ends")
            try:
                raw = _read(self.root / base)
                read.append(raw)
                doc = parse_yaml(decode_yaml_bytes(raw), base)
            except OSError as exc:
                raise _BaseError(f"{reference} cannot be read: {exc.strerror or exc}") from None
            except YamlError as exc:
                raise _BaseError(f"{base}:{exc.line}:{exc.col}: {exc.message}") from None
            if not isinstance(doc.data, dict):
                raise _BaseError(f"{base} is not a mapping")
            bases.append(self._merged(base, doc.data, read, [*chain, base]))
        return exp.merge_bases(bases, data)

    def sibling(self, path: str, raw: bytes) -> exp.Summary:
        """A sibling's config: only its name and output directory matter, not its schema."""
        summary = exp.summarize(_parse(path, raw), self.rules, [])
        return dataclasses.replace(summary, content=raw)


# --- Hydra mode -----------------------------------------------------------------------------


def _hydra_config_dir(config: Config) -> str | None:
    hydra = config.settings.experiments.hydra
    if hydra is None:
        return None
    return PurePosixPath(hydra.config_dir).as_posix().strip("/") or "."


def _composed_configs(config: Config, selection: Selection, files: list[str]) -> list[str]:
    """The given files that Hydra composes experiments with: YAML under the config dir
    that is not an experiment itself (Hydra mode only)."""
    config_dir = _hydra_config_dir(config)
    if config_dir is None:
        return []
    prefix = "" if config_dir == "." else f"{config_dir}/"
    experiments = set(selection.select(files))
    return [
        p
        for p in files
        if p.startswith(prefix) and p.endswith((".yaml", ".yml")) and p not in experiments
    ]


def _hydra_settings(root: Path, selection: Selection, config: Config) -> HydraComposer | None:
    hydra = config.settings.experiments.hydra
    config_dir = _hydra_config_dir(config)
    if hydra is None or config_dir is None:
        return None
    origin = config.origin("experiments.hydra")
    prefix = "" if config_dir == "." else f"{config_dir}/"
    if not f"{selection.directory}/".startswith(prefix) or selection.directory == config_dir:
        raise ConfigError(
            f"{origin}: experiments.dir {selection.directory!r} must be a config group under "
            f"experiments.hydra.config_dir {config_dir!r} (e.g. {prefix}experiment)"
        )
    group = selection.directory[len(prefix) :]
    name = hydra.config_name.removesuffix(".yaml")
    if not (root / config_dir / f"{name}.yaml").is_file():
        raise ConfigError(
            f"{origin}: experiments.hydra.config_name {name!r}: there is no "
            f"{prefix}{name}.yaml (the primary config, as in @hydra.main(config_name=...))"
        )
    return HydraComposer(root, root / config_dir, name, group, selection.directory)


# Hydra's own plugin groups: a plugin the project names (hydra-colorlog, a Submitit launcher,
# the Optuna sweeper) need not be installed where the hook runs. Its options stand in as empty
# configs, so that the project's keys for it still merge; the `hydra` node is not checked.
PLUGIN_GROUPS = ("hydra/",)
MAX_STAND_INS = 20


@dataclass
class HydraComposer:
    """Composes experiments as `python train.py experiment=NAME` would, with Hydra's
    compose API (hydra-core, the `hydra` extra: ~0.5 s to import, paid only in this mode)."""

    root: Path
    config_dir: Path
    config_name: str
    group: str  # the experiments' config group, e.g. "experiment"
    directory: str  # the experiments dir, repository-relative
    _stack: contextlib.ExitStack | None = None

    def fingerprint(self) -> list[str]:
        """Every config an experiment may be composed with; the experiments themselves are
        left out (each one's own bytes key its entry, with the experiments it builds on),
        so editing one recomposes only it and those that build on it."""
        experiments = self.config_dir / self.group
        files = sorted(
            p
            for p in (self.config_dir.rglob("*.yaml") if self.config_dir.is_dir() else [])
            if experiments not in p.parents
        )
        return [fingerprint(files, str(self.config_dir), self.config_name, self.group)]

    def built_on(self, path: str, raw: bytes, seen: frozenset[str] = frozenset()) -> list[bytes]:
        """The names and bytes of the experiments this one's defaults list composes it with
        (`defaults: [exp_1, _self_]`, `/experiment/exp_1`, `override /experiment: exp_1`),
        and theirs in turn: its cache entry depends on them."""
        try:
            data = parse_yaml(decode_yaml_bytes(raw), path).data
        except YamlError:
            return []
        defaults = data.get("defaults") if isinstance(data, dict) else None
        out: list[bytes] = []
        for other in self._experiments_named(path, defaults if isinstance(defaults, list) else []):
            if other in seen or len(seen) > MAX_BASE_DEPTH:
                continue
            try:
                other_raw = _read(self.root / other)
            except OSError:
                out.append(f"{other}: unreadable".encode())
                continue
            out += [other.encode(), other_raw]
            out += self.built_on(other, other_raw, seen | {path, other})
        return out

    def _experiments_named(self, path: str, defaults: list[Any]) -> list[str]:
        here = posixpath.dirname(path)
        found = []
        for entry in defaults:
            if isinstance(entry, str):
                pairs = [(None, entry)]
            elif isinstance(entry, dict):
                pairs = list(entry.items())
            else:
                continue
            for key, value in pairs:
                for option in value if isinstance(value, list) else [value]:
                    target = self._default_target(here, key, option)
                    if target is not None:
                        found.append(target)
        return found

    def _default_target(self, here: str, key: Any, option: Any) -> str | None:
        """The experiment file a defaults entry names, if it names one."""
        if not isinstance(option, str) or option in {"_self_", ""}:
            return None
        config_dir = self.config_dir.relative_to(self.root).as_posix()
        prefix = "" if config_dir == "." else f"{config_dir}/"
        if key is None:  # `- exp_1` (this group) or `- /experiment/exp_1`
            name = option.removeprefix("optional ").strip()
            base = prefix.rstrip("/") if name.startswith("/") else here
            target = posixpath.normpath(posixpath.join(base, name.lstrip("/")))
        else:  # `experiment: exp_1`, `override /experiment: exp_1`
            group = str(key).removeprefix("override ").removeprefix("optional ").strip()
            group = group.split("@")[0]
            if not group.startswith("/"):
                group = posixpath.join(here[len(prefix) :], group)
            target = posixpath.normpath(f"{prefix}{group.lstrip('/')}/{option}")
        target += ".yaml"
        inside = target.startswith(f"{self.directory}/")
        return target if inside and (self.root / target).is_file() else None

    def _start(self) -> Any:
        try:
            import hydra
            from omegaconf import OmegaConf
        except ImportError:
            raise ConfigError(
                "experiments.hydra needs hydra-core: pip install 'claudio-ci[hydra]' "
                "(in .pre-commit-config.yaml: additional_dependencies: [hydra-core])"
            ) from None
        if self._stack is None:
            self._stack = contextlib.ExitStack()
            self._stack.enter_context(warnings.catch_warnings())
            warnings.simplefilter("ignore")
            try:
                self._stack.enter_context(
                    hydra.initialize_config_dir(
                        config_dir=str(self.config_dir.resolve()), version_base=None
                    )
                )
            except Exception as exc:  # Hydra's own: a missing or unreadable directory
                self.close()
                raise ConfigError(
                    f"experiments.hydra.config_dir: Hydra refuses it: {exc}"
                ) from None
        return hydra.compose, OmegaConf

    def _compose_choosing(self, override: str) -> tuple[Any, tuple[str, ...]]:
        """`_compose`, with the groups the primary config leaves to the launch (`- logger:
        ???`) left out, and their names."""
        unchosen: list[str] = []
        for _ in range(MAX_STAND_INS):
            try:
                return self._compose([override, *(f"~{g}" for g in unchosen)]), tuple(unchosen)
            except Exception as exc:
                found = re.match(r"You must specify '([^']+)'", str(exc))
                if found is None or found.group(1) in unchosen:
                    raise
                unchosen.append(found.group(1))
        return self._compose([override, *(f"~{g}" for g in unchosen)]), tuple(unchosen)

    def _compose(self, overrides: list[str]) -> Any:
        """The config Hydra composes with `override`; a plugin option that is not installed
        here is stood in for by an empty config (see PLUGIN_GROUPS)."""
        compose, _ = self._start()
        from hydra.core.config_store import ConfigStore
        from hydra.errors import MissingConfigException

        for _ in range(MAX_STAND_INS):
            try:
                return compose(
                    config_name=self.config_name, overrides=overrides, return_hydra_config=True
                )
            except MissingConfigException as exc:
                missing = exc.missing_cfg_file or ""
                group, _, option = missing.rpartition("/")
                if not missing.startswith(PLUGIN_GROUPS) or not option:
                    raise
                ConfigStore.instance().store(
                    group=group, name=option, node={}, provider="claudio-ci stand-in"
                )
        return compose(config_name=self.config_name, overrides=overrides, return_hydra_config=True)

    def compose(self, file: exp.ExperimentFile) -> exp.ExperimentFile:
        _, omegaconf = self._start()
        option = posixpath.splitext(file.path[len(self.directory) + 1 :])[0]
        try:
            try:
                composed, unchosen = self._compose_choosing(f"{self.group}={option}")
            except Exception as exc:
                # No `experiment:` entry in the primary defaults list: `+experiment=NAME`.
                if f"Could not override '{self.group}'" not in str(exc):
                    raise
                composed, unchosen = self._compose_choosing(f"+{self.group}={option}")
            sources = self.sources(composed.hydra.runtime.choices)
            data = omegaconf.to_container(composed, resolve=False)
            data.pop("hydra", None)  # Hydra's own node: not the experiment's to answer for
        except Exception as exc:  # Hydra's and OmegaConf's errors: reported, not raised
            reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            message = f"Hydra cannot compose this experiment: {reason or type(exc).__name__}"
            return dataclasses.replace(file, composition_error=message)
        return dataclasses.replace(
            file,
            composed=data,
            package=self.package(file),
            by_hydra=True,
            unchosen=unchosen,
            sources=sources,
        )

    def sources(self, choices: Any) -> dict[PathKey, str]:
        """The file each chosen group option came from, by the group's path (`model` ->
        configs/model/mnist.yaml), and the primary config's at (): where a value the
        experiment does not write was written."""
        config_dir = self.config_dir.relative_to(self.root).as_posix()
        prefix = "" if config_dir == "." else f"{config_dir}/"
        found: dict[PathKey, str] = {(): f"{prefix}{self.config_name}.yaml"}
        for group, option in choices.items():
            if option is None or group == self.group or group.startswith(PLUGIN_GROUPS):
                continue
            path = f"{prefix}{group}/{option}.yaml"
            if (self.root / path).is_file():
                found[tuple(group.split("/"))] = path
        return found

    def package(self, file: exp.ExperimentFile) -> tuple[str, ...]:
        """Where Hydra puts the file's keys: its `# @package` header, else its group."""
        assert file.document is not None
        text = (self.root / file.path).read_text(encoding="utf-8", errors="replace")
        header = re.search(r"^#\s*@package\s+(\S+)", text, re.MULTILINE)
        group = self.group.replace("/", ".")
        package = header.group(1) if header else "_group_"
        package = package.replace("_group_", group).replace("_global_", "")
        return tuple(part for part in package.split(".") if part)

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None


def _read(file: Path) -> bytes:
    """The file's bytes; of a file over MAX_BYTES, only enough to tell that it is."""
    return read_regular(file, MAX_BYTES)


def _parse(path: str, raw: bytes) -> exp.ExperimentFile:
    try:
        if len(raw) > MAX_BYTES:
            limit = f"over the {MAX_BYTES:,}-byte limit for YAML here"
            raise YamlError(f"file is {limit}", code="too-large")
        text = decode_yaml_bytes(raw)
        doc = parse_yaml(text, path)
        return exp.ExperimentFile(path, doc, hydra_shaped=exp.is_hydra_shaped(doc.data, text))
    except YamlError as error:
        return exp.ExperimentFile(path, error=error)


def _fingerprint(
    root: Path, rules: exp.Rules, config: Config, hydra: HydraComposer | None = None
) -> str:
    """What every summary depends on besides its path and bytes: code, schemas, rules, and
    in Hydra mode every config Hydra may compose with it."""
    package = Path(exp.__file__).resolve().parents[1]
    code = [package / "experiments" / "rules.py", package / "experiments" / "interpolation.py"]
    code += [
        package / "core" / "yamlfile.py",
        Path(__file__).resolve(),
    ]  # Hydra and _BASE_ live here
    section = config.settings.experiments
    location = section.schema
    own = root / location if location else None
    return fingerprint(
        [*code, BUILTIN_SCHEMA, *([own] if own is not None and own.is_file() else [])],
        __version__,
        repr((rules.name_pattern.pattern, rules.name_key, rules.output_key, rules.identity_dir)),
        *(hydra.fingerprint() if hydra is not None else ()),
        repr(sorted(rules.reserved_names)),  # a set's order changes between processes
        f"{location}:{section.schema_mode}",
    )


def _summary_to_json(summary: exp.Summary) -> dict[str, Any]:
    return {
        "findings": [f.to_dict() for f in summary.findings],
        "readable": summary.readable,
        "output_dir": summary.output_dir,
        "name_position": summary.name_position,
        "output_position": summary.output_position,
        "identity_dir": summary.identity_dir,
    }


def _summary_from_json(path: str, entry: Any) -> exp.Summary | None:
    """None for an entry this version cannot read: a miss, not an error."""
    try:
        findings = tuple(
            Finding(
                path,
                f["code"],
                f["message"],
                f["line"],
                f["col"],
                Severity[f["severity"].upper()],
                f["hint"],
                None if f["fix"] is None else Fix(**f["fix"]),
                f["end_line"],
                f.get("extra") or {},
            )
            for f in entry["findings"]
        )
        return exp.Summary(
            path,
            findings,
            readable=entry["readable"],
            output_dir=entry["output_dir"],
            name_position=tuple(entry["name_position"]),
            output_position=tuple(entry["output_position"]),
            identity_dir=entry.get("identity_dir"),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


# --- sibling worktrees and branches ---------------------------------------------------------


def _sibling_states(
    repo: Repository, selection: Selection, branch_globs: list[str], summaries: _Summaries
) -> tuple[list[exp.SiblingState], list[Finding]]:
    """What each sibling worktree (committed and uncommitted) and each configured branch
    adds under the experiments dir since its merge base with HEAD."""
    reader = _SiblingReader(repo, selection, summaries, repo.head())
    states: list[exp.SiblingState] = []
    problems: list[Finding] = []
    worktrees = repo.worktrees()
    here = repo.root.resolve()
    for worktree in worktrees:
        if worktree.bare or worktree.path.resolve() == here:
            continue
        if worktree.prunable is not None or not worktree.path.is_dir():
            continue  # its directory is gone; `git worktree prune` forgets it
        branch = f"branch {worktree.branch}" if worktree.branch else worktree.label
        where = f"sibling worktree {worktree.path} ({branch})"
        try:
            states += reader.worktree(worktree, where)
        except GitError as exc:
            problems.append(exp.sibling_unreadable(where, str(exc)))
    if branch_globs:
        checked_out = {w.branch for w in worktrees if w.branch}
        for branch in repo.branches(branch_globs):
            tip = repo.resolve(f"refs/heads/{branch}")
            if branch not in checked_out and tip is not None:
                states += reader.branch(branch, tip)
    return states, problems


@dataclass
class _SiblingReader:
    """Reads sibling states; siblings usually share a merge base, so its names are cached."""

    repo: Repository
    selection: Selection
    summaries: _Summaries
    head: str | None
    names_at: dict[str, frozenset[str]] = field(default_factory=dict)

    def worktree(self, worktree: Worktree, where: str) -> list[exp.SiblingState]:
        base, names = self._base(worktree.head)
        identity = {"worktree": str(worktree.path), "branch": worktree.branch}
        states = []
        committed = self._added(base, worktree.head, names) if worktree.head else {}
        if committed and worktree.head:
            states.append(
                self._state(
                    where, f"committed at {worktree.head[:8]}", committed, names, **identity
                )
            )
        uncommitted = {}
        sibling = self.repo.open_worktree(worktree)
        for path in self.selection.select(sibling.files_under(self.selection.directory)):
            if exp.experiment_name(path, self.summaries.rules.identity_dir) in names:
                continue
            try:
                raw = (worktree.path / path).read_bytes()
            except OSError:
                continue  # deleted there, or not a file: nothing to collide with
            if committed.get(path) != raw:
                uncommitted[path] = raw
        if uncommitted:
            states.append(self._state(where, "uncommitted", uncommitted, names, **identity))
        return states

    def branch(self, branch: str, tip: str) -> list[exp.SiblingState]:
        base, names = self._base(tip)
        added = self._added(base, tip, names)
        if not added:
            return []
        return [self._state(f"branch {branch}", f"at {tip[:8]}", added, names, branch=branch)]

    def _state(
        self,
        where: str,
        state: str,
        files: dict[str, bytes],
        names: frozenset[str],
        worktree: str | None = None,
        branch: str | None = None,
    ) -> exp.SiblingState:
        summaries = tuple(self.summaries.sibling(path, raw) for path, raw in files.items())
        return exp.SiblingState(where, state, summaries, names, worktree, branch)

    def _base(self, tip: str | None) -> tuple[str | None, frozenset[str]]:
        """The merge base of HEAD and `tip`, and the experiment names it has."""
        if not self.head or not tip:
            return None, frozenset()
        base = self.head if tip == self.head else self.repo.merge_base(self.head, tip)
        if base is None:
            return None, frozenset()
        if base not in self.names_at:
            paths = self.selection.select(self.repo.tree_files(base, self.selection.directory))
            self.names_at[base] = frozenset(
                exp.experiment_name(p, self.summaries.rules.identity_dir) for p in paths
            )
        return base, self.names_at[base]

    def _added(self, base: str | None, tip: str, names: frozenset[str]) -> dict[str, bytes]:
        """Configs at `tip` whose experiment name `base` lacks."""
        if base == tip:
            return {}
        if base is None:
            paths = self.repo.tree_files(tip, self.selection.directory)
        else:
            changed = self.repo.changed_since(base, tip)
            paths = [c.path for c in changed if not c.deleted]
        identity = self.summaries.rules.identity_dir
        chosen = [
            p for p in self.selection.select(paths) if exp.experiment_name(p, identity) not in names
        ]
        return self.repo.read_blobs(tip, chosen)


# --- --fix ----------------------------------------------------------------------------------


def _fix(
    root: Path, findings: list[Finding], rules: exp.Rules, analyse: Callable[[], list[Finding]]
) -> list[Finding]:
    """Set the name key of every mismatched config, then check again."""
    fixable = [f for f in findings if f.code == exp.NAME_MISMATCH and f.fix and not f.fix.applied]
    if not fixable:
        return findings
    done: list[Finding] = []
    failed: dict[str, str] = {}
    for finding in fixable:
        path = root / finding.path
        if path.is_symlink():
            failed[finding.path] = (
                "the file is a symbolic link; --fix never replaces a link with a file "
                "(edit its target)"
            )
            continue
        raw = path.read_bytes()
        bom = codecs.BOM_UTF8 if raw.startswith(codecs.BOM_UTF8) else b""
        try:
            edited = exp.edit_name(
                decode_yaml_bytes(raw), rules.name_key or (), exp.experiment_name(finding.path)
            )
        except (exp.FixRefused, YamlError) as exc:
            failed[finding.path] = str(exc) if isinstance(exc, exp.FixRefused) else exc.message
            continue
        write_atomic(path, bom + edited.encode("utf-8"))
        assert finding.fix is not None
        applied = Fix(finding.fix.description, applied=True)
        done.append(dataclasses.replace(finding, fix=applied, severity=Severity.NOTICE))
    return done + [_unfixable(f, failed[f.path]) if f.path in failed else f for f in analyse()]


def _unfixable(finding: Finding, why: str) -> Finding:
    if finding.fix is None:
        return finding
    hint = f"{finding.hint}; --fix leaves it alone: {why}"
    return dataclasses.replace(finding, fix=None, hint=hint)
