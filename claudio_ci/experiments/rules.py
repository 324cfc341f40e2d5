"""The `experiment-config` check: experiment configs are named, shaped and placed so that
parallel runs, in this worktree or in a sibling one, never overwrite each other.

Plain data in, findings out. The runner (`claudio_ci/experiments/command.py`) reads
the files, the sibling worktrees and branches, and the JSON Schemas.

Codes: the EXP family, in claudio_ci/core/codes.py (`claudio-ci explain EXP` lists them);
`hint` on every finding says how to fix it.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import yaml

from claudio_ci.core import codes
from claudio_ci.core.findings import Finding, Fix, Severity
from claudio_ci.core.yamlfile import PathKey, YamlDocument, YamlError, json_path, parse_yaml
from claudio_ci.experiments import interpolation
from claudio_ci.experiments.interpolation import Resolution

SYNTAX = codes.EXP001
DUPLICATE_KEY = codes.EXP002
MULTI_DOCUMENT = codes.EXP003
TOO_LARGE = codes.EXP004
ENCODING = codes.EXP005
NOT_A_MAPPING = codes.EXP006
UNREADABLE = codes.EXP007
BAD_NAME = codes.EXP101
RESERVED_NAME = codes.EXP102
NAME_MISSING = codes.EXP103
NAME_MISMATCH = codes.EXP104
DUPLICATE_NAME = codes.EXP105
SCHEMA = codes.EXP201
NUMBER_AS_STRING = codes.EXP202
NOT_FINITE = codes.EXP203
UNKNOWN_REFERENCE = codes.EXP301
MALFORMED_REFERENCE = codes.EXP302
CIRCULAR_REFERENCE = codes.EXP303
NOT_SCALAR_REFERENCE = codes.EXP304
RESOLVER = codes.EXP305
MISSING_REFERENCE = codes.EXP306
INVALID_REFERENCE = codes.EXP307
NOT_COMPOSED = codes.EXP308
OUTPUT_COLLISION = codes.EXP401
OUTPUT_NOT_NAMED = codes.EXP402
SIBLING_NAME = codes.EXP501
SIBLING_OUTPUT = codes.EXP502
SIBLING_UNREADABLE = codes.EXP503

# YamlError.code -> (finding code, hint)
_READ_ERRORS = {
    "syntax": (SYNTAX, "fix the YAML here: indent with spaces, quote values holding ': ' or '#'"),
    "duplicate-key": (
        DUPLICATE_KEY,
        "remove one of the two keys: YAML readers silently keep only the last one",
    ),
    "multi-document": (
        MULTI_DOCUMENT,
        "keep one experiment per file: remove the `---` line or split the file",
    ),
    "too-large": (
        TOO_LARGE,
        "an experiment config is a few lines: remove the anchors that multiply or split the file",
    ),
    "encoding": (ENCODING, "save the file as UTF-8"),
    "unreadable": (UNREADABLE, "make it a readable file, or add it to experiments.exclude"),
}

_REFERENCE_CODES = {
    interpolation.UNKNOWN: UNKNOWN_REFERENCE,
    interpolation.MALFORMED: MALFORMED_REFERENCE,
    interpolation.CYCLE: CIRCULAR_REFERENCE,
    interpolation.NOT_SCALAR: NOT_SCALAR_REFERENCE,
    interpolation.RESOLVER: RESOLVER,
    interpolation.MISSING: MISSING_REFERENCE,
    interpolation.INVALID: INVALID_REFERENCE,
}
# What a file Hydra composes may get from the configs merged with it.
_COMPOSED = frozenset({UNKNOWN_REFERENCE, MISSING_REFERENCE, INVALID_REFERENCE})
# What OmegaConf accepts, or a launch must supply, is not an error here.
_REFERENCE_SEVERITY = {
    RESOLVER: Severity.NOTICE,
    NOT_SCALAR_REFERENCE: Severity.WARNING,
    MISSING_REFERENCE: Severity.WARNING,
}

_TYPE_NAMES = {
    "integer": "a whole number",
    "number": "a number",
    "string": "a string",
    "object": "a mapping",
    "array": "a list",
    "boolean": "true or false",
    "null": "null",
}

# What YAML 1.2 and OmegaConf read as a float but PyYAML (YAML 1.1) as a string: `1e-3`.
_FLOAT_TEXT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")

EXPERIMENT_NAME_VARIABLE = "experiment_name"
OUTPUT_HINT = "use a directory unique to the experiment, e.g. outputs/${experiment_name}"


@dataclass(frozen=True)
class Rules:
    """The `experiments` configuration section, parsed."""

    name_pattern: re.Pattern[str]
    name_key: tuple[str, ...] | None = ("model", "name")  # None: no name key to check
    output_key: tuple[str, ...] | None = ("output", "dir")  # None: no output dir to compare
    reserved_names: frozenset[str] = frozenset()
    identity_dir: str | None = None  # set: an experiment is its path below this directory


@dataclass
class ExperimentFile:
    """One config as read: its document, or why it could not be read."""

    path: str
    document: YamlDocument | None = None
    error: YamlError | None = None
    # Hydra: the config Hydra composed for this experiment (its own document gives the
    # positions), or, without Hydra mode, whether the file is one Hydra composes.
    composed: dict[str, Any] | None = None
    package: tuple[str, ...] = ()  # where Hydra put the file's keys: () for `_global_`
    hydra_shaped: bool = False
    composition_error: str | None = None
    by_hydra: bool = False  # `composed` is Hydra's (not detectron2's `_BASE_` merge)
    unchosen: tuple[str, ...] = ()  # groups the primary config leaves to the launch (`???`)
    sources: dict[PathKey, str] = field(default_factory=dict)  # Hydra: group -> file

    def written_in(self, path: PathKey) -> str | None:
        """Hydra mode: the config that wrote `path`, when this file does not."""
        if (
            not self.sources
            or self.document is None
            or self.own_path(path) in (self.document.value_marks)
        ):
            return None
        for size in range(len(path), -1, -1):
            if path[:size] in self.sources:
                return self.sources[path[:size]]
        return None

    def own_path(self, path: PathKey) -> PathKey:
        """A path of the composed config as this file writes it (its package removed)."""
        size = len(self.package)
        return path[size:] if path[:size] == self.package else path

    @property
    def name(self) -> str:
        return experiment_name(self.path)


def experiment_name(path: str, identity_dir: str | None = None) -> str:
    """The file stem: `experiments/baseline.yaml` is the experiment `baseline`; with
    `identity_dir` set, its path below that directory: `cifar/base` and `mnist/base` are
    two experiments."""
    if identity_dir is not None:
        prefix = "" if identity_dir == "." else identity_dir.rstrip("/") + "/"
        if path.startswith(prefix):
            return posixpath.splitext(path[len(prefix) :])[0]
    return posixpath.splitext(posixpath.basename(path))[0]


BASE_KEY = "_BASE_"


def base_references(data: Any) -> list[str]:
    """detectron2's `_BASE_: ../Base-RCNN.yaml` (a list is accepted too)."""
    value = data.get(BASE_KEY) if isinstance(data, dict) else None
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def merge_bases(bases: Sequence[dict[str, Any]], own: dict[str, Any]) -> dict[str, Any]:
    """The config detectron2 (fvcore's `load_yaml_with_base`) builds: the bases merged in
    order, then the file's own keys; mappings merge, any other value replaces."""
    merged: dict[str, Any] = {}
    for layer in [*bases, own]:
        merged = _deep_merge(merged, {k: v for k, v in layer.items() if k != BASE_KEY})
    return merged


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def is_hydra_shaped(data: Any, text: str = "") -> bool:
    """A file Hydra composes: a `defaults:` list or a `# @package` header."""
    return (isinstance(data, dict) and isinstance(data.get("defaults"), list)) or (
        "@package" in text and bool(re.search(r"^#\s*@package\b", text, re.MULTILINE))
    )


@dataclass(frozen=True)
class Summary:
    """What one config contributes: its own findings, and what the collision checks compare.

    All but `content` follows from the path, the bytes, the rules and the schemas, so a
    summary can be cached; `content` (the bytes) is only kept to compare with siblings.
    """

    path: str
    findings: tuple[Finding, ...] = ()
    readable: bool = False  # a mapping was read: the collision checks apply
    output_dir: str | None = None
    name_position: tuple[int, int] = (1, 1)
    output_position: tuple[int, int] = (1, 1)
    content: bytes | None = field(default=None, compare=False)
    identity_dir: str | None = None

    @functools.cached_property
    def name(self) -> str:
        return experiment_name(self.path, self.identity_dir)


@dataclass(frozen=True)
class SiblingState:
    """Another worktree's or branch's configs, and the names its merge base with HEAD has."""

    where: str  # "sibling worktree /repo/.claudio/worktrees/attn (branch claudio/attn)"
    state: str  # "committed at 1a2b3c4d", "uncommitted"
    files: tuple[Summary, ...]
    base_names: frozenset[str] = frozenset()
    worktree: str | None = None  # its path; None for a branch no worktree has checked out
    branch: str | None = None


@dataclass(frozen=True)
class Schema:
    """A JSON Schema to validate against.

    `validator()` gives the jsonschema validator that explains every error (built on first
    use); `accepts`, when set, is a compiled check that only answers "valid?", much faster:
    data it accepts is not explained again, so valid configs never wait for jsonschema.
    """

    label: str
    validator: Callable[[], Any]
    accepts: Callable[[Any], bool] | None = None


@dataclass
class _Analysis:
    file: ExperimentFile
    resolution: Resolution | None = None
    output_dir: str | None = None

    @property
    def data(self) -> Any:
        return None if self.resolution is None else self.resolution.data


@dataclass
class _Worktree:
    """Every config of the worktree, indexed by experiment name and by output directory."""

    by_name: dict[str, list[Summary]]
    by_output: dict[str, list[Summary]]

    @classmethod
    def index(cls, summaries: Iterable[Summary]) -> _Worktree:
        by_name: dict[str, list[Summary]] = {}
        by_output: dict[str, list[Summary]] = {}
        for summary in summaries:
            by_name.setdefault(summary.name, []).append(summary)
            if summary.output_dir is not None:
                by_output.setdefault(summary.output_dir, []).append(summary)
        return cls(by_name, by_output)


def dotted(key: Sequence[str]) -> str:
    return ".".join(key)


def _get(data: Any, path: Sequence[str | int] | None) -> Any:
    if path is None:
        return None
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _analyse(file: ExperimentFile, rules: Rules) -> _Analysis:
    doc = file.document
    if doc is None or not isinstance(doc.data, dict):
        return _Analysis(file)
    name = file.name  # what `${experiment_name}` means to the trainer: the stem
    if file.composed is None:
        resolution = interpolation.resolve(
            doc.data, {EXPERIMENT_NAME_VARIABLE: name}, doc.omegaconf_values
        )
    else:  # OmegaConf typed the composed values already
        # Nothing defines `${experiment_name}` under Hydra: the composition is all there is.
        variables = {} if file.by_hydra else {EXPERIMENT_NAME_VARIABLE: name}
        resolution = interpolation.resolve(file.composed, variables)
        # What the other files of the composition leave to run time (`${hydra:...}`) is
        # theirs to answer for; what fails, or what this file writes, is reported.
        resolution.problems = [
            p
            for p in resolution.problems
            if p.kind in interpolation.FAILING_KINDS or file.own_path(p.path) in doc.value_marks
        ]
    out = _get(resolution.data, rules.output_key)
    output_dir = None
    if (
        rules.output_key is not None
        and isinstance(out, str)
        and out
        and resolution.is_resolved(rules.output_key)
    ):
        output_dir = posixpath.normpath(out)
    return _Analysis(file, resolution, output_dir)


def summarize(file: ExperimentFile, rules: Rules, schemas: Sequence[Schema]) -> Summary:
    """Everything one config says about itself; no other file is needed."""
    identity = rules.identity_dir
    if file.error is not None:
        return Summary(file.path, (_read_error(file.path, file.error),), identity_dir=identity)
    if file.composition_error is not None:
        return Summary(file.path, (_not_composed(file),), identity_dir=identity)
    analysis = _analyse(file, rules)
    if analysis.resolution is None:
        return Summary(file.path, (_not_a_mapping(file),), identity_dir=identity)
    naming = _naming(analysis, rules)
    name_reported = any(f.code in {NAME_MISSING, NAME_MISMATCH} for f in naming)
    findings = [
        *_unchosen(file),
        *naming,
        *_references(analysis),
        *_schema(analysis, schemas, rules.name_key if name_reported else None),
        *_not_finite(analysis),
        *_output_named(analysis, rules),
    ]
    assert file.document is not None
    return Summary(
        file.path,
        tuple(findings),
        readable=True,
        output_dir=analysis.output_dir,
        name_position=file.document.position(rules.name_key or ()),
        output_position=file.document.position(rules.output_key or ()),
        identity_dir=identity,
    )


def check_experiments(
    targets: Sequence[Summary],
    others: Sequence[Summary],
    rules: Rules,
    siblings: Sequence[SiblingState] = (),
) -> list[Finding]:
    """Findings for `targets`: their own, and their collisions with `others` (the rest of
    the worktree) and with what `siblings` add that their merge base lacks."""
    worktree = _Worktree.index([*targets, *others])
    added = [
        (state, theirs)
        for state in siblings
        for theirs in state.files
        if theirs.name not in state.base_names
    ]
    findings: list[Finding] = []
    for summary in targets:
        if not summary.readable:
            findings += summary.findings
            continue
        collisions = _worktree_collisions(summary, worktree, rules)
        collided = any(f.code == OUTPUT_COLLISION for f in collisions)
        findings += [f for f in summary.findings if not (collided and f.code == OUTPUT_NOT_NAMED)]
        findings += collisions
        findings += _sibling_collisions(summary, worktree, added, rules)
    return findings


# --- reading --------------------------------------------------------------------------------


def _read_error(path: str, error: YamlError) -> Finding:
    code, hint = _READ_ERRORS.get(error.code, _READ_ERRORS["syntax"])
    return Finding(path, code, error.message, error.line, error.col, hint=hint)


def _not_composed(file: ExperimentFile) -> Finding:
    assert file.composition_error is not None
    if file.composition_error.startswith(BASE_KEY):
        line, col = file.document.position((BASE_KEY,)) if file.document else (1, 1)
        hint = f"make {BASE_KEY} name a readable YAML file, relative to this one"
    else:
        line, col = 1, 1
        hint = (
            "fix the defaults list or the override it names; "
            "`python train.py experiment=NAME --cfg job` shows the same error"
        )
    return Finding(file.path, NOT_COMPOSED, file.composition_error, line, col, hint=hint)


def _unchosen(file: ExperimentFile) -> list[Finding]:
    """`- logger: ???` in the primary defaults list: chosen at launch, checked without."""
    return [
        Finding(
            file.path,
            NOT_COMPOSED,
            f"the primary config leaves '{group}' to be chosen at launch ({group}: ???); "
            "this experiment was composed without it",
            severity=Severity.NOTICE,
            hint=f"choose one in the experiment (`- override /{group}: NAME`) or pass "
            f"{group}=NAME when launching",
        )
        for group in file.unchosen
    ]


def _not_a_mapping(file: ExperimentFile) -> Finding:
    assert file.document is not None
    data = file.document.data
    what = "is empty" if data is None else f"holds {_describe(data)}"
    line, col = file.document.position(())
    return Finding(
        file.path,
        NOT_A_MAPPING,
        f"the file {what}; an experiment config is a mapping",
        line,
        col,
        hint="start from an existing experiment: top-level `model:`, `training:` and `output:`",
    )


# --- naming ---------------------------------------------------------------------------------


def _suggest_name(name: str, pattern: re.Pattern[str]) -> str | None:
    candidate = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
    if candidate and not candidate[0].isalpha():
        candidate = f"exp_{candidate}"
    return candidate if candidate != name and pattern.search(candidate) else None


def _naming(analysis: _Analysis, rules: Rules) -> list[Finding]:
    file, doc, resolution = analysis.file, analysis.file.document, analysis.resolution
    assert doc is not None and resolution is not None
    name, key = file.name, dotted(rules.name_key or ())
    findings = []
    name_ok = bool(rules.name_pattern.search(name))
    if not name_ok:
        better = _suggest_name(name, rules.name_pattern)
        target = f"e.g. {PurePosixPath(file.path).with_stem(better)}" if better else "a new name"
        findings.append(
            Finding(
                file.path,
                BAD_NAME,
                f"experiment name '{name}' (the file name) does not match "
                f"experiments.name_pattern {rules.name_pattern.pattern}",
                hint=f"rename the file to {target} and set {key} to match",
            )
        )
    if name in rules.reserved_names:
        findings.append(
            Finding(
                file.path,
                RESERVED_NAME,
                f"experiment name '{name}' is reserved ({', '.join(sorted(rules.reserved_names))})",
                hint="rename the file and its name key; tools use these names for other things",
            )
        )
    if rules.name_key is None:
        return findings
    value = _get(analysis.data, rules.name_key)
    if value is None:
        line, col = doc.position(rules.name_key, key=True)
        parent = f"under `{rules.name_key[-2]}:`" if len(rules.name_key) > 1 else "at the top"
        state = "empty" if rules.name_key in doc.key_marks else "missing"
        findings.append(
            Finding(
                file.path,
                NAME_MISSING,
                f"{key} is {state}; it must hold the experiment's name '{name}'",
                line,
                col,
                hint=f"add `{rules.name_key[-1]}: {name}` {parent}",
            )
        )
    elif value != name and resolution.is_resolved(rules.name_key):
        line, col = doc.position(rules.name_key)
        fixable = name_ok and not isinstance(_get(doc.data, rules.name_key), dict | list)
        got = repr(value) if isinstance(value, str) else _describe(value)
        findings.append(
            Finding(
                file.path,
                NAME_MISMATCH,
                f"{key} is {got} but the file is named {PurePosixPath(file.path).name}; "
                "they must match",
                line,
                col,
                hint=f"set {key}: {name} (or rename the file to match the name)",
                fix=Fix(f"set {key} to '{name}'") if fixable else None,
            )
        )
    return findings


# --- references -----------------------------------------------------------------------------


def _references(analysis: _Analysis) -> list[Finding]:
    doc, resolution = analysis.file.document, analysis.resolution
    assert doc is not None and resolution is not None
    findings = []
    for problem in resolution.problems:
        line, col = doc.position(analysis.file.own_path(problem.path))
        code = _REFERENCE_CODES[problem.kind]
        severity = _REFERENCE_SEVERITY.get(code, Severity.ERROR)
        hint = _reference_hint(code, problem.suggestion, hydra=analysis.file.by_hydra)
        unchosen = [
            g for g in analysis.file.unchosen if "${" + g.replace("/", ".") in problem.message
        ]
        if unchosen and code in _COMPOSED:
            severity = Severity.NOTICE
            hint = f"'{unchosen[0]}' is chosen at launch; this reference is checked then"
        elif analysis.file.hydra_shaped and analysis.file.composed is None and code in _COMPOSED:
            # The key may come from a config Hydra merges in: only the composition knows.
            severity = Severity.NOTICE
            hint = (
                "Hydra may merge this key in from the defaults list; set experiments.hydra "
                "(config_dir, config_name) to check the composed config"
            )
        elsewhere = analysis.file.written_in(problem.path)
        where = f" (written in {elsewhere})" if elsewhere else ""
        findings.append(
            Finding(
                analysis.file.path,
                code,
                f"{json_path(problem.path)}: {problem.message}{where}",
                line,
                col,
                severity,
                hint=hint,
            )
        )
    return findings


def _reference_hint(code: str, suggestion: str | None, hydra: bool = False) -> str:
    if suggestion:
        return f"did you mean {suggestion}?"
    if code == UNKNOWN_REFERENCE and hydra:  # no `${experiment_name}` in a Hydra config
        return "refer to a key of the composed config (`python train.py experiment=NAME --cfg job`)"
    hints: dict[str, str] = {
        UNKNOWN_REFERENCE: "refer to an existing key (`${model.name}`, `${.sibling}`) "
        "or to ${experiment_name}",
        MALFORMED_REFERENCE: "write references as ${dotted.key}; escape a literal one as \\${",
        MISSING_REFERENCE: "set the value in the file, or pass it when launching (key=value)",
        INVALID_REFERENCE: "a key built from a reference must come from a string value; "
        "an oc.* resolver needs the arguments it takes",
        CIRCULAR_REFERENCE: "make one of these values a literal",
        NOT_SCALAR_REFERENCE: "refer to a single value inside it, e.g. ${model.name}",
        RESOLVER: "the value is only known when the experiment runs; nothing to do",
    }
    return hints[code]


# --- schema ---------------------------------------------------------------------------------


def _schema(
    analysis: _Analysis, schemas: Sequence[Schema], reported: PathKey | None
) -> list[Finding]:
    """Schema errors on the resolved data; none at `reported`, which has its own finding."""
    doc, resolution = analysis.file.document, analysis.resolution
    assert doc is not None and resolution is not None
    data = resolution.data
    errors = _schema_errors(schemas, data)
    findings = []
    floats: dict[PathKey, float] = {}
    for _, error in errors:
        path = tuple(error.absolute_path)
        if _is_float_text(error) and resolution.is_resolved(path):
            floats[path] = float(error.instance)
            findings.append(_number_as_string(analysis.file.path, doc, path, error.instance))
    if floats:
        data = copy.deepcopy(data)
        for path, value in floats.items():
            _get(data, path[:-1])[path[-1]] = value
        errors = _schema_errors(schemas, data)
    for label, error in errors:
        path = tuple(error.absolute_path)
        if resolution.is_resolved(path) and path != reported:
            findings.append(_schema_finding(analysis.file.path, doc, label, error))
    return findings


def _schema_errors(schemas: Sequence[Schema], data: Any) -> list[tuple[str, Any]]:
    unique: dict[tuple[PathKey, str], tuple[str, Any]] = {}
    for schema in schemas:
        if schema.accepts is not None and schema.accepts(data):
            continue
        for error in schema.validator().iter_errors(data):
            unique.setdefault((tuple(error.absolute_path), error.message), (schema.label, error))
    return list(unique.values())


def _expected_types(error: Any) -> list[str]:
    value = error.validator_value
    return [value] if isinstance(value, str) else list(value)


def _is_float_text(error: Any) -> bool:
    return (
        error.validator == "type"
        and "number" in _expected_types(error)
        and isinstance(error.instance, str)
        and bool(_FLOAT_TEXT.match(error.instance))
    )


def _number_as_string(path: str, doc: YamlDocument, key: PathKey, text: str) -> Finding:
    mantissa, e, exponent = text.lower().partition("e")
    written = f"{mantissa}.0e{exponent}" if e and "." not in mantissa else text
    line, col = doc.position(key)
    return Finding(
        path,
        NUMBER_AS_STRING,
        f"{json_path(key)}: {text!r} is a string to YAML 1.1 readers such as PyYAML",
        line,
        col,
        NUMBER_AS_STRING.severity,
        hint=f"write {written} without quotes, so every YAML reader sees a number",
    )


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()} (YAML reads yes/no/on/off as booleans)"
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int):
        return f"the whole number {value}"
    if isinstance(value, float):
        return f"the number {value}"
    return "a mapping" if isinstance(value, dict) else "a list"


def _schema_finding(path: str, doc: YamlDocument, label: str, error: Any) -> Finding:
    where: PathKey = tuple(error.absolute_path)
    here = json_path(where)
    keyword, limit, value = error.validator, error.validator_value, error.instance
    hint = error.schema.get("description") if isinstance(error.schema, dict) else None
    line, col = doc.position(where)
    if keyword == "required":
        missing = next((k for k in limit if k not in value and repr(k) in error.message), "?")
        line, col = doc.position(where, key=True)
        place = f"under `{where[-1]}:`" if where else "at the top level"
        described = (error.schema.get("properties") or {}).get(missing, {}).get("description")
        message = f"{here}: missing required key '{missing}'"
        hint = f"add `{missing}:` {place}" + (f"; {described}" if described else "")
    elif keyword == "type":
        expected = " or ".join(_TYPE_NAMES.get(t, t) for t in _expected_types(error))
        message = f"{here}: expected {expected}, got {_describe(value)}"
    elif keyword in {"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"}:
        bound = {
            "minimum": "at least",
            "exclusiveMinimum": "greater than",
            "maximum": "at most",
            "exclusiveMaximum": "less than",
        }[keyword]
        message = f"{here}: must be {bound} {limit}, got {value}"
    elif keyword == "minLength" and limit == 1:
        message = f"{here}: must not be empty"
    elif keyword == "enum":
        message = f"{here}: must be one of {', '.join(map(repr, limit))}, got {_describe(value)}"
    else:
        message = f"{here}: {error.message}"
    return Finding(path, SCHEMA, message, line, col, hint=hint or f"required by {label}")


def _not_finite(analysis: _Analysis) -> list[Finding]:
    doc = analysis.file.document
    assert doc is not None
    findings = []
    for path, value in _leaves(analysis.data):
        if isinstance(value, float) and not math.isfinite(value):
            line, col = doc.position(path)
            findings.append(
                Finding(
                    analysis.file.path,
                    NOT_FINITE,
                    f"{json_path(path)}: {value} is not a finite number",
                    line,
                    col,
                    hint="write a finite number: NaN and infinity break comparisons, "
                    "JSON export and experiment trackers",
                )
            )
    return findings


def _leaves(data: Any, path: PathKey = ()) -> Iterator[tuple[PathKey, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _leaves(value, (*path, index))
    else:
        yield path, data


# --- output directories ---------------------------------------------------------------------


def _output_named(analysis: _Analysis, rules: Rules) -> list[Finding]:
    out = analysis.output_dir
    name_value = _get(analysis.data, rules.name_key)
    if out is None or analysis.file.name in out or (name_value and str(name_value) in out):
        return []
    assert analysis.file.document is not None
    line, col = analysis.file.document.position(rules.output_key or ())
    return [
        Finding(
            analysis.file.path,
            OUTPUT_NOT_NAMED,
            f"{dotted(rules.output_key or ())} '{out}' does not depend on the experiment's name; "
            "a copy of this config would write into the same directory",
            line,
            col,
            OUTPUT_NOT_NAMED.severity,
            hint=OUTPUT_HINT,
        )
    ]


def _worktree_collisions(summary: Summary, worktree: _Worktree, rules: Rules) -> list[Finding]:
    same_name = [s.path for s in worktree.by_name[summary.name] if s is not summary]
    shared_dir = [
        s.path
        for s in worktree.by_output.get(summary.output_dir or "", [])
        if s.name != summary.name
    ]
    findings = []
    if same_name:
        findings.append(
            Finding(
                summary.path,
                DUPLICATE_NAME,
                f"experiment '{summary.name}' is also defined by {', '.join(sorted(same_name))}",
                *summary.name_position,
                hint="give each experiment its own name: rename one of the files and its name key",
            )
        )
    if shared_dir:
        findings.append(
            Finding(
                summary.path,
                OUTPUT_COLLISION,
                f"{dotted(rules.output_key or ())} '{summary.output_dir}' is also the output "
                f"directory of {', '.join(sorted(shared_dir))}; their runs would overwrite "
                "each other's checkpoints and metrics",
                *summary.output_position,
                hint=OUTPUT_HINT,
            )
        )
    return findings


def _sibling_collisions(
    summary: Summary,
    worktree: _Worktree,
    added: Sequence[tuple[SiblingState, Summary]],
    rules: Rules,
) -> list[Finding]:
    reported: dict[tuple[str, str], Finding] = {}
    for state, theirs in added:
        extra: dict[str, object] = {
            key: value
            for key, value in [
                ("worktree", state.worktree),
                ("branch", state.branch),
                ("state", state.state),
                ("sibling_path", theirs.path),
            ]
            if value is not None
        }
        if theirs.name == summary.name and theirs.content != summary.content:
            reported.setdefault(
                (SIBLING_NAME, state.where),
                Finding(
                    summary.path,
                    SIBLING_NAME,
                    f"experiment '{summary.name}' is also added in {state.where}, "
                    f"{state.state} as {theirs.path}, with different content",
                    *summary.name_position,
                    hint="rename one of them (file and name key) before merging, "
                    "or make both configs identical",
                    extra=extra,
                ),
            )
        elif (
            theirs.name not in worktree.by_name
            and summary.output_dir is not None
            and theirs.output_dir == summary.output_dir
        ):
            reported.setdefault(
                (SIBLING_OUTPUT, state.where),
                Finding(
                    summary.path,
                    SIBLING_OUTPUT,
                    f"{dotted(rules.output_key or ())} '{summary.output_dir}' is also the output "
                    f"directory of experiment '{theirs.name}' added in {state.where}, "
                    f"{state.state} as {theirs.path}",
                    *summary.output_position,
                    hint=OUTPUT_HINT,
                    extra=extra,
                ),
            )
    return list(reported.values())


def sibling_unreadable(where: str, reason: str) -> Finding:
    return Finding(
        where,
        SIBLING_UNREADABLE,
        f"could not read its experiment configs: {reason}",
        0,
        0,
        SIBLING_UNREADABLE.severity,
        hint="run `git worktree prune` if the worktree is gone; otherwise check it by hand",
    )


# --- the one fix ----------------------------------------------------------------------------


class FixRefused(Exception):
    """Why `--fix` leaves a value alone, in words for the finding's hint."""


def set_name(text: str, key: Sequence[str], name: str) -> str | None:
    """`text` with the scalar at `key` replaced by `name`; None when `edit_name` refuses."""
    try:
        return edit_name(text, key, name)
    except FixRefused:
        return None


_PROPERTIES = re.compile(r"(?:[&!]\S*\s+)+")  # `&anchor !!tag ` before a scalar


def edit_name(text: str, key: Sequence[str], name: str) -> str:
    """`text` with the scalar at `key` replaced by `name`, every other byte kept (an anchor
    or a tag on the value too); raises FixRefused saying why that cannot be done safely."""
    try:
        before = parse_yaml(text).data  # bounded first: no alias bomb reaches compose()
        node = yaml.compose(text, Loader=yaml.SafeLoader)  # the pure loader: character marks
    except YamlError as exc:
        raise FixRefused(
            f"the file cannot be parsed: {exc.message} (line {exc.line}, column {exc.col})"
        ) from None
    except yaml.YAMLError as exc:
        raise FixRefused(f"the file cannot be parsed: {exc}") from None
    node = _written_scalar(node, key)
    start, end = node.start_mark.index, node.end_mark.index
    properties = _PROPERTIES.match(text, start, end)
    if properties is not None:
        start = properties.end()
    expected = copy.deepcopy(before)
    _get(expected, key[:-1])[key[-1]] = name
    for replacement in _scalar_spellings(name, node.style):
        edited = text[:start] + replacement + text[end:]
        try:
            if parse_yaml(edited).data == expected:
                return edited
        except YamlError:
            continue
    raise FixRefused("an alias elsewhere uses this value: editing it would change that too")


def _written_scalar(node: yaml.Node | None, key: Sequence[str]) -> yaml.ScalarNode:
    """The plain or quoted scalar written at `key`; FixRefused when it is not one."""
    where = dotted([str(k) for k in key])
    key_end = 0
    for part in key:
        if not isinstance(node, yaml.MappingNode):
            raise FixRefused(f"{where} is not inside a mapping")
        pairs = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]
        matches = [(k, v) for k, v in pairs if k.value == part]
        if len(matches) != 1:
            merged = any(k.tag == "tag:yaml.org,2002:merge" for k, _ in pairs)
            raise FixRefused(
                f"{where} comes from a merge key (<<)" if merged else f"{where} is not written here"
            )
        key_node, node = matches[0]
        key_end = key_node.end_mark.index
    if not isinstance(node, yaml.ScalarNode):
        raise FixRefused(f"{where} holds a mapping or a list")
    if node.start_mark.index < key_end:
        raise FixRefused("the value comes from an alias (*name) of a value written elsewhere")
    if node.style in {"|", ">"}:
        raise FixRefused("the value is a block scalar (| or >)")
    return node


def _scalar_spellings(name: str, style: str | None) -> list[str]:
    quoted = json.dumps(name, ensure_ascii=False)
    if style == "'":
        return ["'" + name.replace("'", "''") + "'"]
    if style == '"':
        return [quoted]
    return [name, quoted]
