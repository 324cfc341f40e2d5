"""Shared fixtures: real git repositories, real worktrees, a real pre-commit hook repo."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import settings

from tests.gitutil import (
    EXAMPLE_PROJECT,
    GIT_IDENTITY,
    REPO_ROOT,
    commit_all,
    git,
    run_pre_commit,
)

# CI runs the property tests on the same derandomized examples every time, so a submission
# lands or fails on its own merits; locally Hypothesis explores anew at every run.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")

# --- bytecode: compiled once, kept outside every tree -----------------------------------------


def keep_bytecode_outside_the_trees() -> None:
    """Under PYTHONDONTWRITEBYTECODE (this machine and CI set it, so that no worktree fills
    with __pycache__), each run recompiles and re-rewrites every test module, and each of the
    hundreds of `claudio-ci` processes the tests start (git hooks, the CLI as a hook runs it)
    recompiles the package: about a tenth of the fast tier's CPU. Keep the bytecode in a cache
    of the tests' own instead, as an installed package keeps its own, and still out of the
    trees. A PYTHONPYCACHEPREFIX of the user's own is left alone."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE") or os.environ.get("PYTHONPYCACHEPREFIX"):
        return
    cache = Path(tempfile.gettempdir()) / f"claudio-ci-tests-pycache-{os.getuid()}"
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = str(cache)  # for the subprocesses
    sys.pycache_prefix = str(cache)  # for this one (pytest rewrites its asserts there too)
    sys.dont_write_bytecode = False


# --- test tiers: `pytest -m "not slow"` is the fast tier, plain `pytest` runs every tier -------

# Fixtures whose use (direct or through another fixture) makes a test slow, so a new test that
# asks for one lands in the right tier without a marker of its own. Values are the reasons.
SLOW_FIXTURES = {
    "hook_repo": "builds real pre-commit hook environments",
    "pre_commit_home": "builds real pre-commit hook environments",
    "try_repo": "builds real pre-commit hook environments",
    "example_project": "trains the example PyTorch project for real",
    "corpus": "a generated corpus compared with the real tool",
    "smoke": "runs training commands in subprocesses, some until their timeout",
    "hydra_repo": "composes a generated Hydra project with Hydra itself",
}
# Hypothesis property tests (`@given`) run a hundred examples each: slow tier, wherever they live.
PROPERTY_TEST_REASON = "a Hypothesis property test"
# Files (relative to the repository root) whose every test is slow.
SLOW_FILES = {
    "tests/project/test_demo.py": "runs the whole demo",
    "templates/ml-project/tests/test_ml_training.py": "trains the example project for real",
    "templates/ml-project/tests/test_ml_models.py": "imports PyTorch",
    "templates/ml-project/tests/test_ml_data.py": "imports PyTorch",
    "tests/gpu/test_run_nvml.py": "runs commands end to end under the fake NVML driver",
    "tests/smoke/test_probe.py": "imports PyTorch",
}
# Single tests over generated corpora, by file and test name (parameters ignored).
SLOW_TESTS = {
    (
        "tests/notebooks/test_sync.py",
        "test_verdicts_agree_with_jupytext_sync_on_a_varied_corpus",
    ): "a corpus of notebooks through jupytext",
    (
        "tests/smoke/test_command.py",
        "test_a_torch_checkpoint_of_a_whole_module_does_not_load",
    ): "imports PyTorch in a subprocess",
    (
        "tests/experiments/test_interpolation.py",
        "test_the_corpus_covers_every_class",
    ): "a corpus of interpolations through OmegaConf",
    (
        "tests/experiments/test_interpolation.py",
        "test_verdicts_and_values_are_omegaconfs",
    ): "a corpus of interpolations through OmegaConf",
    (
        "tests/project/test_init.py",
        "test_init_on_a_hydra_project_writes_a_config_that_fits_it",
    ): "composes a generated Hydra project with Hydra itself",
    (
        "tests/notebooks/test_fix_safety.py",
        "test_the_plain_git_hook_on_wild_notebooks",
    ): "a corpus of notebooks through jupytext",
    (
        "tests/notebooks/test_fix_safety.py",
        "test_every_edit_survives_fix",
    ): "a corpus of edits through jupytext",
    (
        "tests/worktree/test_install_hooks.py",
        "test_ten_worktrees_added_in_parallel_get_distinct_ports",
    ): "ten real worktrees added in parallel",
    ("tests/test_supply_chain.py", "test_a_tampered_hash_is_refused_by_pip"): "runs the real pip",
    ("tests/test_typing.py", "test_mypy_strict_finds_nothing_in_the_package"): (
        "mypy --strict over the whole package: about 20 s without mypy's cache"
    ),
    (
        "tests/smoke/test_runner.py",
        "test_a_child_that_ignores_sigterm_gets_sigkill",
    ): "waits out the grace period before SIGKILL",
    (
        "tests/smoke/test_runner.py",
        "test_forked_workers_sharing_their_parents_pages_count_them_once",
    ): "forks workers and samples their memory",
    (
        "tests/reviewers/test_command.py",
        "test_files_beyond_githubs_cap_are_a_warning",
    ): "thousands of files through the local GitHub server",
    (
        "tests/adapters/test_github.py",
        "test_github_lists_at_most_3000_files",
    ): "thousands of files through the local GitHub server",
    **dict.fromkeys(
        (
            ("tests/smoke/test_metrics.py", name)
            for name in (
                "test_tensorboard_scalars_written_by_a_real_summary_writer",
                "test_tensorboard_tensor_summaries_and_a_cut_off_last_record",
                "test_a_damaged_event_is_a_value_error",
            )
        ),
        "imports PyTorch (tensorboardX does, at its own import)",
    ),
}


def slow_reason(item: pytest.Item) -> str | None:
    """Why `item` belongs to the slow tier, or None for the fast tier."""
    path = Path(item.path).resolve()
    relative = path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else ""
    if relative in SLOW_FILES:
        return SLOW_FILES[relative]
    name = getattr(item, "originalname", item.name)
    if (relative, name) in SLOW_TESTS:
        return SLOW_TESTS[relative, name]
    if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
        return PROPERTY_TEST_REASON
    used = set(getattr(item, "fixturenames", ())) & SLOW_FIXTURES.keys()
    return SLOW_FIXTURES[min(used)] if used else None


def fast_tier(config: pytest.Config) -> bool:
    """Whether this run is the fast tier, `-m "not slow"`."""
    return str(config.getoption("markexpr", "")).split() == ["not", "slow"]


def not_imported(config: pytest.Config) -> list[str]:
    """The files the fast tier does not even import: those whose every test is slow, as some
    import PyTorch at the top (about two seconds of CPU) that deselecting would not undo."""
    return (
        [str(REPO_ROOT / relative) for relative in sorted(SLOW_FILES)] if fast_tier(config) else []
    )


def pytest_configure(config: pytest.Config) -> None:
    """Before collection: the fast tier's unimported files, as `--ignore` (which holds for
    every test path, templates/ml-project/tests too, where a `pytest_ignore_collect` here would
    hold only under tests/), and the bytecode cache."""
    config.option.ignore = [*(config.option.ignore or []), *not_imported(config)]
    keep_bytecode_outside_the_trees()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the slow tier centrally, so `-m "not slow"` is the fast tier."""
    for item in items:
        reason = slow_reason(item)
        if reason is not None:
            item.add_marker(pytest.mark.slow(reason=reason))


# Variables from outside that would change what a test sees.
LEAKING_PREFIXES = ("CLAUDIO_", "GITHUB_", "GIT_DIR", "GIT_INDEX", "GIT_WORK")
GITCONFIG = (
    "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
    "[commit]\n\tgpgsign = false\n"
)


@pytest.fixture(autouse=True)
def _isolated_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test reads the developer's git or claudio config, or GitHub's variables."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)  # approvals: under this HOME
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name, value in GIT_IDENTITY.items():
        monkeypatch.setenv(name, value)
    for name in list(os.environ):
        if name.startswith(LEAKING_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.delenv("CI", raising=False)
    (home / ".gitconfig").write_text(GITCONFIG, encoding="utf-8")


def isolated_environ(home: Path) -> dict[str, str]:
    """The environment `_isolated_environment` gives a test, for session fixtures (set up
    before it) that run git: a HOME of their own, the same git config and identity."""
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text(GITCONFIG, encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(LEAKING_PREFIXES)}
    environ.pop("CI", None)
    environ.pop("XDG_DATA_HOME", None)
    return {
        **environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GIT_CONFIG_NOSYSTEM": "1",
        **GIT_IDENTITY,
    }


# --- repositories: built once a session, copied for each test ---------------------------------
# A copy is about a tenth of the cost of `git init`, `git add` and `git commit` (four processes),
# and hundreds of tests start from the same repository. Each test still owns its own.


def _committed(root: Path, fill: Callable[[Path], object], message: str) -> Path:
    """A repository at `root`/repo on main with `fill`'s files committed, made under the same
    isolated environment as a test's (this runs before `_isolated_environment`)."""
    env = isolated_environ(root / "home")
    repo = root / "repo"
    fill(repo)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", message]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    return repo


@pytest.fixture(scope="session")
def _git_repo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    def fill(repo: Path) -> None:
        repo.mkdir()
        (repo / "README.md").write_text("# test\n", encoding="utf-8")

    return _committed(tmp_path_factory.mktemp("git-repo-template"), fill, "initial")


@pytest.fixture(scope="session")
def _ml_repo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    def fill(repo: Path) -> None:
        ignore = shutil.ignore_patterns("outputs", "__pycache__", ".pytest_cache")
        shutil.copytree(EXAMPLE_PROJECT, repo, ignore=ignore)

    return _committed(tmp_path_factory.mktemp("ml-repo-template"), fill, "example project")


def _copy(template: Path, repo: Path) -> Path:
    """A test's own copy of a template repository (without git's inert sample hooks)."""
    shutil.copytree(template, repo, symlinks=True, ignore=shutil.ignore_patterns("*.sample"))
    return repo


@pytest.fixture
def git_repo(tmp_path: Path, _git_repo_template: Path) -> Path:
    """An empty repository on branch main with one commit."""
    return _copy(_git_repo_template, tmp_path / "repo")


@pytest.fixture
def ml_repo(tmp_path: Path, _ml_repo_template: Path) -> Path:
    """A repository holding the example ML project, committed on main."""
    return _copy(_ml_repo_template, tmp_path / "ml-repo")


# --- the command line, in process ------------------------------------------------------------


class CliResult(NamedTuple):
    """What `claudio-ci ARGS` did: `code, out, err = run_cli(...)` or `.code`, `.out`, ..."""

    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        """stdout then stderr, as a terminal shows them."""
        return self.out + self.err


RunCli = Callable[..., CliResult]


def invoke_cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
    cwd: Path | None = None,
) -> CliResult:
    """What `run_cli` does, for a helper that already holds `monkeypatch` and `capsys`.

    argparse's own exits (`--help`, `--version`, a usage error) come back as exit codes too,
    as from the console script."""
    from claudio_ci.cli import main

    if cwd is not None:
        monkeypatch.chdir(cwd)
    capsys.readouterr()  # only this command's output
    try:
        code = main(list(args))
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> RunCli:
    """`run_cli(*args, cwd=None)`: `claudio-ci ARGS` in this process (in `cwd` when given),
    returning its exit code and what it printed. One fixture for every command's tests."""
    return functools.partial(invoke_cli, monkeypatch, capsys)


# --- the real pre-commit framework against this repository ------------------------------


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One PRE_COMMIT_HOME for the whole session, so hook environments are built once."""
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A committed snapshot of this working tree (uncommitted edits included).

    A `.pre-commit-config.yaml` naming this snapshot and sha lets every test that runs
    `pre-commit install` / `pre-commit run` share one hook environment (in
    `pre_commit_home`); `try-repo` always builds a fresh one, so it is kept for the few
    tests that must run exactly `pre-commit try-repo`.
    """
    snapshot = tmp_path_factory.mktemp("hook-repo") / "claudio-ci"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            target = snapshot / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    git(snapshot, "init", "-q", "-b", "main")
    sha = commit_all(snapshot, "snapshot for pre-commit tests")
    return snapshot, sha


@pytest.fixture
def try_repo(hook_repo: tuple[Path, str], pre_commit_home: Path) -> Iterator[object]:
    """`try_repo(cwd, hook_id, *files)`: the real `pre-commit try-repo` with this repo's hooks.

    try-repo builds its hook environment in a temporary store at every call (about 10 s,
    less with the shared pip cache): use it once per hook, not for every case.
    """
    snapshot, sha = hook_repo

    def run(
        cwd: Path, hook_id: str, *files: str, all_files: bool = False
    ) -> subprocess.CompletedProcess[str]:
        args = ["try-repo", str(snapshot), hook_id, "--ref", sha, "--verbose"]
        args += ["--all-files"] if all_files else ["--files", *files]
        return run_pre_commit(cwd, *args, home=pre_commit_home)

    yield run


# --- a local server that answers like GitHub's REST API ---------------------------------


@pytest.fixture
def github_server() -> Iterator[object]:
    """A `tests.github_server.GitHubServer` on 127.0.0.1: seed it, run, assert its requests."""
    from tests.github_server import GitHubServer

    with GitHubServer() as server:
        yield server
