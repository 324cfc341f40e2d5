"""Configuration: built-in defaults < user file < repo `.claudio.yaml` < environment < flags.

The schema (`schemas/config.schema.json`) is the single source of truth: it holds the
defaults, the types and the documentation of every key. A Claudio `config.yaml` is read
as is: Claudio's own sections are accepted, `pr.reviewers.*` and `resources.cost_*`
mean the same here. Unknown keys are warnings (typos), never crashes; wrong types and
broken YAML are errors that name file:line:col.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import functools
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claudio_ci.core import codes
from claudio_ci.core.cache import JsonCache, cache_key, fingerprint
from claudio_ci.core.errors import ConfigError
from claudio_ci.core.findings import Finding, Severity, sort_findings
from claudio_ci.core.yamlfile import (
    YamlDocument,
    YamlError,
    decode_yaml_bytes,
    json_path,
    load_yaml_file,
    parse_yaml,
)

if TYPE_CHECKING:
    from claudio_ci.core.settings import Settings

SCHEMA_PATH = Path(__file__).parent / "schemas" / "config.schema.json"
REPO_FILE = ".claudio.yaml"
ENV_PREFIX = "CLAUDIO_"

CODE_SYNTAX = codes.CFG001
CODE_DUPLICATE = codes.CFG002
CODE_INVALID = codes.CFG003
CODE_UNKNOWN = codes.CFG004


@functools.cache
def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def _defaults(schema: Mapping[str, Any]) -> Any:
    if "default" in schema:
        return copy.deepcopy(schema["default"])
    props = schema.get("properties")
    if not props:
        return None
    out = {}
    for name, sub in props.items():
        value = _defaults(sub)
        if value is not None or "default" in sub:
            out[name] = value
    return out


def builtin_defaults() -> dict[str, Any]:
    return _defaults(load_schema()) or {}


def user_config_path(environ: Mapping[str, str] = os.environ) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return Path(base).expanduser() / "claudio" / "config.yaml"


@dataclass(frozen=True)
class Origin:
    """Where a setting was set: a file and the line and column of its key, or a source
    without lines (`default`, `env CLAUDIO_...`, `--set ...`, `command line`) with line 0."""

    path: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        """`path:line` (as `config show` has always printed it), or the source alone."""
        return f"{self.path}:{self.line}" if self.line > 0 else self.path


@dataclass
class Layer:
    """One source of configuration values, with where each came from."""

    label: str
    data: dict[str, Any]
    document: YamlDocument | None = None
    key_labels: dict[tuple[str, ...], str] = field(default_factory=dict)

    def origin(self, path: Sequence[str]) -> Origin:
        for end in range(len(path), 0, -1):
            if tuple(path[:end]) in self.key_labels:
                return Origin(self.key_labels[tuple(path[:end])])
        if self.document is None:
            return Origin(self.label)
        line, col = self.document.position(path, key=True)
        return Origin(self.label, line, col)


@dataclass
class Config:
    data: dict[str, Any]
    origins: dict[str, Origin] = field(default_factory=dict)
    warnings: list[Finding] = field(default_factory=list)
    layers: list[Layer] = field(default_factory=list)

    def get(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def section(self, name: str) -> dict[str, Any]:
        return self.data.get(name) or {}

    def origin(self, dotted: str, fallback: str = "configuration") -> Origin:
        """Where the setting `dotted` (`smoke_test.command`) was set."""
        return self.origins.get(dotted) or Origin(fallback)

    @functools.cached_property
    def settings(self) -> Settings:
        """Every section, typed (`config.settings.notebooks.paths`), built once."""
        from claudio_ci.core.settings import Settings

        return Settings.from_data(self.data)


# --- reading layers -----------------------------------------------------------------------


def _empty_sections_as_mappings(data: dict[str, Any], schema: Mapping[str, Any]) -> None:
    """`notebooks:` with every key commented out is an empty section, not a wrong type."""
    props = schema.get("properties") or {}
    for key, value in data.items():
        sub = props.get(key) or {}
        if value is None and sub.get("type") == "object":
            data[key] = {}
        elif isinstance(value, dict):
            _empty_sections_as_mappings(value, sub)


def _layer_from_document(doc: YamlDocument, label: str) -> Layer:
    if doc.data is None:
        return Layer(label, {}, doc)
    if not isinstance(doc.data, dict):
        line, col = doc.position(())
        raise config_error(
            label, CODE_INVALID, "the file must hold a mapping of sections", line, col
        )
    _empty_sections_as_mappings(doc.data, load_schema())
    return Layer(label, doc.data, doc)


def read_file_layer(
    path: Path, label: str | None = None, *, required: bool = False
) -> Layer | None:
    """The layer of a YAML file, or None when it does not exist and is not `required`."""
    label = label or str(path)
    try:
        doc = load_yaml_file(path)
    except FileNotFoundError:
        if required:
            raise config_error(label, CODE_SYNTAX, "no such file") from None
        return None
    except IsADirectoryError:
        raise config_error(label, CODE_SYNTAX, "is a directory, expected a YAML file") from None
    except OSError as exc:
        raise config_error(label, CODE_SYNTAX, f"cannot read: {exc.strerror}") from None
    except YamlError as exc:
        raise _yaml_error(label, exc) from None
    return _layer_from_document(doc, label)


def text_layer(text: str, label: str) -> Layer:
    """A layer from YAML text, e.g. `.claudio.yaml` read at a PR's base commit."""
    try:
        doc = parse_yaml(text, label)
    except YamlError as exc:
        raise _yaml_error(label, exc) from None
    return _layer_from_document(doc, label)


def bytes_layer(raw: bytes, label: str) -> Layer:
    """A layer from a YAML file's bytes, for a caller that reads them once to hash them too."""
    try:
        doc = parse_yaml(decode_yaml_bytes(raw), label)
    except YamlError as exc:
        raise _yaml_error(label, exc) from None
    return _layer_from_document(doc, label)


def config_error(path: str, code: str, message: str, line: int = 1, col: int = 1) -> ConfigError:
    """A fatal configuration problem, as one `path:line:col: CODE message` line."""
    finding = Finding(path, code, message, line, col)
    return ConfigError(f"{finding.location}: {code} {message}", finding)


def _yaml_error(label: str, exc: YamlError) -> ConfigError:
    code = CODE_DUPLICATE if exc.code == "duplicate-key" else CODE_SYNTAX
    return config_error(label, code, exc.message, exc.line, exc.col)


def _resolve_key(schema: Mapping[str, Any], name: str, top: bool = True) -> list[str] | None:
    """Map `pr_reviewers_default` to `["pr", "reviewers", "default"]` using the schema."""
    props = schema.get("properties") or {}
    for prop in sorted(props, key=len, reverse=True):
        sub = props[prop]
        if name == prop:
            return [prop]
        if name.startswith(prop + "_") and sub.get("type") == "object":
            rest = _resolve_key(sub, name[len(prop) + 1 :], top=False)
            if rest:
                return [prop, *rest]
    if not top and not isinstance(schema.get("additionalProperties"), dict):
        return [name]  # an unknown key of a known section: validation warns about it
    return None


def _schema_at(path: Sequence[str]) -> Mapping[str, Any]:
    node: Mapping[str, Any] = load_schema()
    for part in path:
        node = (node.get("properties") or {}).get(part) or {}
    return node


def _parse_value(raw: str, path: Sequence[str]) -> Any:
    """Environment and `--set` values are YAML scalars or flow lists; lists also take commas."""
    expected = _schema_at(path).get("type")
    try:
        value = parse_yaml(raw, "value").data if raw.strip() else ""
    except YamlError:
        value = raw
    if expected == "string" and not isinstance(value, str):
        return raw
    if expected == "array" and not isinstance(value, list):
        return [item.strip() for item in raw.split(",") if item.strip()]
    if expected in ("number", "integer") and isinstance(value, str):
        return _number(raw)
    return value


def _number(raw: str) -> Any:
    """YAML 1.1 reads `1e3` as a string; a setting typed as a number means the number."""
    for kind in (int, float):
        try:
            return kind(raw.strip())
        except ValueError:
            continue
    return raw


def _nest(path: Sequence[str], value: Any) -> dict[str, Any]:
    out: Any = value
    for part in reversed(path):
        out = {part: out}
    nested: dict[str, Any] = out
    return nested


def env_layer(environ: Mapping[str, str]) -> Layer | None:
    """`CLAUDIO_<SECTION>_<KEY>` variables.

    Ones that name no known section (`CLAUDIO_HOME`, `CLAUDIO_SECTION`) are ignored; an
    unknown key of one of our sections is a warning; a key of one of Claudio's sections
    is accepted as is (`CLAUDIO_SESSION_ID` becomes `session.id`, which nothing reads).
    """
    layer = Layer("environment", {})
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        path = _resolve_key(load_schema(), name[len(ENV_PREFIX) :].lower())
        if path is None or len(path) < 2:
            continue
        _require_utf8(environ[name], "environment", f"{name}=")
        _deep_merge(layer.data, _nest(path, _parse_value(environ[name], path)))
        layer.key_labels[tuple(path)] = f"env {name}"
    return layer if layer.data else None


def _require_utf8(text: str, label: str, prefix: str) -> None:
    """Bytes that are not UTF-8 reach Python as lone surrogates, which no YAML or JSON holds."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        message = f"{prefix}'{shown}' is not valid UTF-8"
        raise config_error(label, CODE_INVALID, message, 0, 0) from None


def override_layer(assignments: Iterable[str], label: str = "command line") -> Layer | None:
    """`--set section.key=value` flags."""
    layer = Layer(label, {})
    for assignment in assignments:
        _require_utf8(assignment, label, "--set ")
        key, sep, raw = assignment.partition("=")
        path = key.strip().split(".")
        if not sep or len(path) < 2 or not all(path):
            raise config_error(
                label, CODE_INVALID, f"--set expects SECTION.KEY=VALUE, got {assignment!r}", 0, 0
            )
        _deep_merge(layer.data, _nest(path, _parse_value(raw, path)))
        layer.key_labels[tuple(path)] = f"--set {key.strip()}"
    return layer if layer.data else None


def values_layer(values: Mapping[str, Any], label: str = "command line") -> Layer | None:
    """Already-typed values from a command's own flags, keyed by dotted path."""
    data: dict[str, Any] = {}
    for dotted, value in values.items():
        if value is not None:
            _deep_merge(data, _nest(dotted.split("."), value))
    return Layer(label, data) if data else None


# --- validation -----------------------------------------------------------------------------


def _validator() -> Any:
    import jsonschema  # ~80 ms: only paid when there is something to validate

    return jsonschema.Draft202012Validator(load_schema())


def check_layer(layer: Layer) -> tuple[list[Finding], list[Finding]]:
    """Errors and warnings of one layer, each at the file:line:col it came from."""
    errors: list[Finding] = []
    warnings: list[Finding] = []
    for error in _validator().iter_errors(layer.data):
        path = [str(p) if not isinstance(p, int) else p for p in error.absolute_path]
        if error.validator == "additionalProperties":
            known = list((error.schema.get("properties") or {}).keys())
            for key in sorted(set(error.instance) - set(known), key=str):
                warnings.append(_unknown_key(layer, [*path, key], known))
            continue
        errors.append(_finding(layer, path, CODE_INVALID, f"{json_path(path)}: {error.message}"))
    for path in _nan_paths(layer.data, []):  # JSON Schema takes NaN for a number; no limit is met
        message = f"{json_path(path)}: NaN is not a number"
        errors.append(_finding(layer, path, CODE_INVALID, message))
    return sort_findings(errors), sort_findings(warnings)


def _nan_paths(value: Any, path: list[Any]) -> Iterator[list[Any]]:
    if isinstance(value, float) and math.isnan(value):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _nan_paths(item, [*path, str(key)])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nan_paths(item, [*path, index])


def _unknown_key(layer: Layer, path: list[Any], known: list[str]) -> Finding:
    key = str(path[-1])
    message = f"unknown key {json_path(path)!s}"
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"known keys here: {', '.join(known)}"
    return _finding(layer, path, CODE_UNKNOWN, message, CODE_UNKNOWN.severity, hint, key=True)


def _finding(
    layer: Layer,
    path: Sequence[Any],
    code: str,
    message: str,
    severity: Severity = Severity.ERROR,
    hint: str | None = None,
    *,
    key: bool = False,
) -> Finding:
    if layer.document is None:  # environment or flags: no line to point at
        return Finding(layer.origin(path).path, code, message, 0, 0, severity, hint)
    line, col = layer.document.position(path, key=key)
    return Finding(layer.label, code, message, line, col, severity, hint)


# --- merging --------------------------------------------------------------------------------


def _deep_merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _record_origins(
    origins: dict[str, Origin],
    layer: Layer,
    data: Mapping[str, Any],
    merged: Mapping[str, Any],
    prefix: tuple[str, ...] = (),
) -> None:
    """Point every leaf of the merged data that `layer` set at `layer`."""
    for key, value in data.items():
        path = (*prefix, str(key))
        dotted = ".".join(path)
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and merged[key]:
            origins.pop(dotted, None)  # a leaf (an empty mapping) in an earlier layer
            _record_origins(origins, layer, value, merged[key], path)
        else:
            for stale in [k for k in origins if k.startswith(dotted + ".")]:
                del origins[stale]
            origins[dotted] = layer.origin(path)


class ValidationCache:
    """Earlier verdicts on unchanged layers, kept in the common git dir.

    Importing jsonschema costs about 80 ms, more than everything else a hook with nothing
    to do costs; an unchanged `.claudio.yaml` is validated once, not at every commit.
    """

    FILE = "config-validation.json"
    CHECK_REVISION = "2"  # bump when check_layer finds more: earlier verdicts are then misses

    def __init__(self, directory: Path) -> None:
        self.store = JsonCache(directory / self.FILE, max_entries=32)

    @staticmethod
    def key(layer: Layer) -> str:
        marks = (layer.document.key_marks, layer.document.value_marks) if layer.document else None
        return cache_key(
            fingerprint([SCHEMA_PATH], ValidationCache.CHECK_REVISION),
            repr((layer.label, layer.data, marks, layer.key_labels)),
        )

    def check(self, layer: Layer) -> tuple[list[Finding], list[Finding]]:
        key = self.key(layer)
        cached = self.store.get(key)
        with contextlib.suppress(KeyError, TypeError, ValueError, AttributeError):
            return (
                [Finding.from_dict(f) for f in cached["errors"]],
                [Finding.from_dict(f) for f in cached["warnings"]],
            )
        errors, warnings = check_layer(layer)
        self.store.put(
            key,
            {
                "errors": [f.to_dict() for f in errors],
                "warnings": [f.to_dict() for f in warnings],
            },
        )
        return errors, warnings

    def save(self) -> None:
        self.store.save()


def merge_layers(layers: Sequence[Layer], cache_dir: Path | None = None) -> Config:
    """Validate each layer (errors are fatal, unknown keys warn) and merge them in order."""
    defaults = Layer("default", builtin_defaults())
    config = Config(data={}, layers=[defaults, *layers])
    cache = ValidationCache(cache_dir) if cache_dir is not None else None
    problems: list[Finding] = []
    for layer in config.layers:
        if layer is not defaults:
            errors, warnings = cache.check(layer) if cache else check_layer(layer)
            problems.extend(errors)
            config.warnings.extend(warnings)
        _deep_merge(config.data, layer.data)
        _record_origins(config.origins, layer, layer.data, config.data)
    if cache:
        cache.save()
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(f"{first.location}: {first.code} {first.message}{more}", first)
    return config


LayerReader = Callable[[], Layer | None]


def layer_readers(
    root: Path | None,
    *,
    environ: Mapping[str, str] = os.environ,
    overrides: Iterable[str] = (),
    flag_values: Mapping[str, Any] | None = None,
    repo_file: Path | None = None,
    repo_text: str | None = None,
) -> list[LayerReader]:
    """How to read every layer above the defaults, lowest precedence first.

    Each is read on its own so that `validate` can report every source's problems.
    """
    readers: list[LayerReader] = [functools.partial(read_file_layer, user_config_path(environ))]
    if repo_text is not None:
        readers.append(functools.partial(text_layer, repo_text, REPO_FILE))
    elif repo_file is not None:
        readers.append(functools.partial(read_file_layer, repo_file, required=True))
    elif root is not None:
        readers.append(functools.partial(read_file_layer, root / REPO_FILE, REPO_FILE))
    readers += [
        functools.partial(env_layer, environ),
        functools.partial(override_layer, list(overrides)),
        functools.partial(values_layer, flag_values or {}),
    ]
    return readers


def collect_layers(root: Path | None, **kwargs: Any) -> list[Layer]:
    """Every layer above the defaults, lowest precedence first."""
    layers = [read() for read in layer_readers(root, **kwargs)]
    return [layer for layer in layers if layer is not None]


def load_config(root: Path | None, *, cache_dir: Path | None = None, **kwargs: Any) -> Config:
    """The merged configuration for a repository root (None: outside any repository).

    `cache_dir` (the repository's state dir) lets unchanged layers skip validation.
    """
    return merge_layers(collect_layers(root, **kwargs), cache_dir)


def validate(root: Path | None, **kwargs: Any) -> list[Finding]:
    """Every error and warning of every layer, for `claudio-ci config validate`."""
    findings: list[Finding] = []
    for read in layer_readers(root, **kwargs):
        try:
            layer = read()
        except ConfigError as exc:
            findings += [exc.finding] if isinstance(exc.finding, Finding) else []
            continue
        if layer is not None:
            errors, warnings = check_layer(layer)
            findings += errors + warnings
    return findings
