"""The layers of ARCHITECTURE.md, enforced by walking every import of claudio_ci with `ast`.

Imports inside functions (lazy imports) and under `TYPE_CHECKING` count like any other: a lazy
upward import is still an upward dependency.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.gitutil import REPO_ROOT

PACKAGE = REPO_ROOT / "claudio_ci"

# Layer of every module, lowest first; a module may import only from its own layer or below.
# A module is matched by its full dotted name (without `claudio_ci.`) or by a package prefix,
# the longest first: `notebooks.rules` is a pure rule, the rest of `notebooks` its capability.
CORE, RULES, ADAPTERS, CAPABILITIES, COMMANDS, CLI = range(6)
LAYER_NAMES = ["core", "pure rules", "adapters", "capabilities", "commands", "cli"]
CAPABILITY_FOLDERS = [
    "notebooks",
    "conflicts",
    "experiments",
    "reviewers",
    "smoke",
    "gpu",
    "worktree",
    "project",
]
LAYERS = {
    # core: the data model and what every layer needs; no outside world beyond reading files
    "": CORE,  # claudio_ci/__init__.py: the version
    "core": CORE,
    # pure rules of each capability: data in, findings out
    "notebooks.rules": RULES,
    "notebooks.formats": RULES,  # jupytext formats and pairing
    "notebooks.sync": RULES,
    "notebooks.cache": RULES,
    "notebooks.jupytext_compat": RULES,  # the one home of jupytext internals
    "conflicts.rules": RULES,
    "experiments.rules": RULES,
    "experiments.interpolation": RULES,  # `${...}` as OmegaConf resolves it
    "experiments.files": RULES,  # which files are experiment configs
    "reviewers.rules": RULES,
    "reviewers.codeowners": RULES,  # GitHub's CODEOWNERS semantics over text
    "smoke.rules": RULES,
    # adapters: the only doors to git, GitHub, the Actions environment and /proc
    "adapters": ADAPTERS,
    # capabilities: what collects each capability's inputs, runs and reports it
    **dict.fromkeys(CAPABILITY_FOLDERS, CAPABILITIES),
    # commands: one per capability, and what the `check` subcommands share
    **{f"{folder}.command": COMMANDS for folder in CAPABILITY_FOLDERS if folder != "project"},
    "worktree.hooks_command": COMMANDS,  # install-hooks
    "project.init_command": COMMANDS,
    "project.demo_command": COMMANDS,
    "project.explain_command": COMMANDS,
    "project.config_command": COMMANDS,
    "check": COMMANDS,
    "cli": CLI,
    "__main__": CLI,
}

# The outside worlds, and the only modules allowed to reach each of them.
# git through `run_git`; every other command through the one supervisor
PROCESSES = {"adapters.git", "adapters.processes"}
OUTSIDE_WORLDS = {
    "runs git": {"adapters.git", "adapters.repo_builder"},
    "starts processes (subprocess)": PROCESSES,
    "reads other processes (psutil)": {"adapters.processes"},
    "calls GitHub (PyGithub, requests, http)": {"adapters.github"},
    "reads NVML (pynvml)": {"gpu.nvml"},
    "reads /proc": {"adapters.procfs"},
    # project/demo.py only sets GITHUB_ACTIONS=false for the commands it runs, as a user would
    "reads GITHUB_*/INPUT_* variables": {"adapters.actions_env", "project.demo"},
}
WORLD_OF_IMPORT = {
    "subprocess": "starts processes (subprocess)",
    "git": "runs git",  # GitPython
    "github": "calls GitHub (PyGithub, requests, http)",
    "requests": "calls GitHub (PyGithub, requests, http)",
    "urllib.request": "calls GitHub (PyGithub, requests, http)",
    "http.client": "calls GitHub (PyGithub, requests, http)",
    "pynvml": "reads NVML (pynvml)",
    "psutil": "reads other processes (psutil)",
}

# Violations that exist today, each with the reason it is tolerated and who removes it.
# An entry that no longer matches anything fails the test too: delete it when it is fixed.
KNOWN_UPWARD: set[tuple[str, str]] = set()  # none left
KNOWN_OUTSIDE: set[tuple[str, str]] = set()  # none left
ACTIONS_VARIABLE = re.compile(r"(GITHUB|INPUT)_[A-Z_]+")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, without `claudio_ci.`
    target: str  # what it imports (a claudio_ci module without the prefix, or an outside one)
    inside: bool  # True for a claudio_ci module
    line: int
    path: Path

    def where(self) -> str:
        return f"{shown(self.path)}:{self.line}"


def shown(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


@functools.cache
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute dotted name `from ... import` reads from."""
    if not node.level:
        return node.module or ""
    base = ["claudio_ci", *filter(None, module.split("."))]
    if not is_package:
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports(module: str, path: Path, known: set[str]) -> Iterator[Import]:
    """Every import in the module, lazy ones included, as `Import`s."""
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, path.name == "__init__.py", node)
            # `from claudio_ci.core import findings` imports the module claudio_ci.core.findings
            names = [
                f"{source}.{alias.name}"
                if f"{source}.{alias.name}".removeprefix("claudio_ci.") in known
                else source
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            if name == "claudio_ci" or name.startswith("claudio_ci."):
                target = name.removeprefix("claudio_ci").removeprefix(".")
                yield Import(module, target, inside=True, line=node.lineno, path=path)
            else:
                yield Import(module, name, inside=False, line=node.lineno, path=path)


def layer(module: str) -> int | None:
    parts = module.split(".")
    for end in range(len(parts), -1, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS and (end or not module):
            return LAYERS[prefix]
    return None


def outside_uses(module: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """(world, line) for every way the module reaches an outside world."""
    for found in imports(module, path, known):
        if found.inside:
            continue
        for name, world in WORLD_OF_IMPORT.items():
            if found.target == name or found.target.startswith(f"{name}."):
                yield world, found.line
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.startswith("/proc/") or node.value == "/proc":
                yield "reads /proc", node.lineno
            elif ACTIONS_VARIABLE.fullmatch(node.value):  # a variable's name, not help text
                yield "reads GITHUB_*/INPUT_* variables", node.lineno
        elif isinstance(node, ast.List | ast.Tuple) and node.elts:
            first = node.elts[0]
            if isinstance(first, ast.Constant) and first.value == "git":
                yield "runs git", node.lineno


MODULES = modules()
KNOWN = set(MODULES)


def test_every_module_has_a_layer() -> None:
    missing = [shown(path) for name, path in MODULES.items() if layer(name) is None]
    assert not missing, (
        f"modules without a layer: {missing}; add each to LAYERS in tests/test_architecture.py "
        "and to ARCHITECTURE.md"
    )


def upward_imports() -> set[tuple[str, str, str]]:
    """(module, target, where) for every import of a higher layer."""
    found = set()
    for module, path in MODULES.items():
        own = layer(module)
        for imp in imports(module, path, KNOWN):
            if imp.inside and own is not None and (layer(imp.target) or 0) > own:
                found.add((module, imp.target, imp.where()))
    return found


def test_no_module_imports_a_higher_layer() -> None:
    found = upward_imports()
    unexpected = sorted(
        f"{where}: {module} ({LAYER_NAMES[layer(module) or 0]}) imports {target} "
        f"({LAYER_NAMES[layer(target) or 0]})"
        for module, target, where in found
        if (module, target) not in KNOWN_UPWARD
    )
    assert not unexpected, "upward imports:\n" + "\n".join(unexpected)
    stale = KNOWN_UPWARD - {(module, target) for module, target, _ in found}
    assert not stale, f"fixed, remove from KNOWN_UPWARD: {sorted(stale)}"


@pytest.mark.parametrize("module", sorted(name for name in MODULES if layer(name) == RULES))
def test_pure_rules_import_only_the_core_and_each_other(module: str) -> None:
    bad = [
        f"{imp.where()}: {imp.target}"
        for imp in imports(module, MODULES[module], KNOWN)
        if imp.inside and layer(imp.target) not in (CORE, RULES)
    ]
    assert not bad, f"{shown(MODULES[module])} holds pure rules but imports: {bad}"


def test_only_the_adapters_reach_the_outside_world() -> None:
    found: dict[tuple[str, str], list[str]] = {}
    for module, path in MODULES.items():
        for world, line in outside_uses(module, path, KNOWN):
            found.setdefault((module, world), []).append(f"{shown(path)}:{line}")
    unexpected = sorted(
        f"{places[0]}: {module} {world}; only {sorted(OUTSIDE_WORLDS[world])} may"
        for (module, world), places in found.items()
        if module not in OUTSIDE_WORLDS[world] and (module, world) not in KNOWN_OUTSIDE
    )
    assert not unexpected, "outside world reached outside its adapters:\n" + "\n".join(unexpected)
    stale = KNOWN_OUTSIDE - set(found)
    assert not stale, f"fixed, remove from KNOWN_OUTSIDE: {sorted(stale)}"


def test_every_allowed_adapter_exists_and_is_used() -> None:
    """An allow-list entry for a module that is gone would hide nothing, so it must go too."""
    for world, allowed in OUTSIDE_WORLDS.items():
        for module in allowed:
            assert module in MODULES, f"{module} is allowed to {world} but does not exist"


# --- the walker itself, on small made-up modules ----------------------------------------


def test_the_walker_sees_lazy_relative_and_type_checking_imports(tmp_path: Path) -> None:
    package = tmp_path / "claudio_ci" / "smoke"
    package.mkdir(parents=True)
    source = package / "plan.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ..git import Repository\n"
        "def f():\n    from claudio_ci.commands import check\n"
        "    import subprocess\n    return ['git', 'status'], '/proc/self/stat', 'GITHUB_TOKEN'\n",
        encoding="utf-8",
    )
    known = {"git", "commands", "commands.check"}
    targets = {imp.target for imp in imports("smoke.plan", source, known) if imp.inside}
    assert targets == {"git", "commands.check"}
    worlds = {world for world, _ in outside_uses("smoke.plan", source, known)}
    assert worlds == {
        "starts processes (subprocess)",
        "runs git",
        "reads /proc",
        "reads GITHUB_*/INPUT_* variables",
    }


def test_layers_are_found_by_package_prefix() -> None:
    assert layer("") == CORE
    assert layer("core.findings") == CORE
    assert layer("notebooks.rules") == RULES
    assert layer("notebooks.command") == COMMANDS
    assert layer("notebooks") == CAPABILITIES
    assert layer("adapters.git") == ADAPTERS
    assert layer("check") == COMMANDS
    assert layer("gpu.nvml") == CAPABILITIES
    assert layer("no_such_module") is None


def test_every_capability_folder_has_its_command() -> None:
    """One shape: each capability folder holds a `command.py` (project/ holds several)."""
    for folder in CAPABILITY_FOLDERS:
        commands = [name for name in MODULES if name.startswith(f"{folder}.")]
        assert any(name.endswith("command") for name in commands), f"{folder}/ has no command"
