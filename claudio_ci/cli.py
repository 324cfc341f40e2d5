"""Command line: parse arguments and call one function. No logic lives here.

Command modules are imported only when their command runs, so `--help` and a hook with
nothing to do never pay for jupytext, nbformat, jsonschema or PyGithub.
"""

from __future__ import annotations

import argparse
import codecs
import functools
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from claudio_ci import __version__
from claudio_ci.core.codes import help_epilog
from claudio_ci.core.errors import ClaudioError, UsageError
from claudio_ci.core.findings import github_safe_line, shown_path
from claudio_ci.core.report import FORMATS

Handler = Callable[[argparse.Namespace], int]

DESCRIPTION = """\
Keep parallel ML worktrees from colliding, and keep their cost in view.

Pre-commit hooks for every worktree, and GitHub Action entrypoints for every PR.
Exit codes: 0 clean, 1 findings, 2 usage or configuration error."""

EPILOG = """\
examples:
  claudio-ci demo                       every capability on a throw-away repo with 3 worktrees
  claudio-ci init                       add the hooks, CI workflow and .claudio.yaml here
  claudio-ci check notebooks --fix      pair and sync jupytext notebooks
  claudio-ci check conflicts            what sibling worktrees also change, merges predicted
  claudio-ci smoke-test                 one CPU epoch of experiments/test.yaml, checked
  claudio-ci gpu run -- python train.py GPU time, energy and cost, recorded per branch
  claudio-ci config show                the merged configuration and where each value came from

configuration: built-in defaults < ~/.config/claudio/config.yaml < .claudio.yaml
  < CLAUDIO_<SECTION>_<KEY> environment variables < --set SECTION.KEY=VALUE flags"""


def lazy(module: str, function: str) -> Handler:
    """A handler that imports its command module only when it runs."""

    def handler(args: argparse.Namespace) -> int:
        run: Handler = getattr(importlib.import_module(module), function)
        return run(args)

    return handler


class _Parser(argparse.ArgumentParser):
    """argparse's usage errors quote what was typed (`invalid choice: '...'`): on GitHub
    Actions they are made safe like every other one-line error."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, _error_line(self.prog, message) + "\n")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def _config_options(nested: bool = False) -> argparse.ArgumentParser:
    """`--config` and `--set`. `nested`: for a sub-action of a command that takes them
    too, so `reviewers --config X validate` keeps X instead of resetting it to the default."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("configuration")
    group.add_argument(
        "--config",
        default=argparse.SUPPRESS if nested else None,
        metavar="FILE",
        help="read this file instead of the repository's .claudio.yaml",
    )
    group.add_argument(
        "--set",
        dest="overrides",
        metavar="SECTION.KEY=VALUE",
        action="append",
        default=argparse.SUPPRESS if nested else [],
        help="override one setting (repeatable); VALUE is YAML, lists also take commas",
    )
    return parent


FORMAT_HELP = (
    "output format: text, github (annotations, and the step summary), json, markdown "
    "(default: github under GitHub Actions, else text)"
)


def _format_option(
    parser: argparse.ArgumentParser,
    choices: Sequence[str] = FORMATS,
    *,
    nested: bool = False,
    help_text: str = FORMAT_HELP,
) -> None:
    """The same `--format` choices for every command that prints a report (core/report.py)."""
    parser.add_argument(
        "--format",
        choices=choices,
        default=argparse.SUPPRESS if nested else None,
        help=help_text,
    )


def _check_parser(
    checks: Any,
    name: str,
    help_text: str,
    description: str,
    handler: Handler,
    *,
    family: str,
    fixable: bool = True,
    default_files: str = "every file in the repository",
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = checks.add_parser(
        name,
        help=help_text,
        description=description,
        epilog=help_epilog(family),
        parents=[_config_options()],
        formatter_class=_Formatter,
    )
    parser.add_argument(
        "filenames",
        nargs="*",
        metavar="FILE",
        help=f"files to check, as pre-commit passes them (default: {default_files})",
    )
    if fixable:
        parser.add_argument("--fix", action="store_true", help="fix what can be fixed safely")
    _format_option(parser)
    parser.set_defaults(handler=handler)
    return parser


def _add_check_commands(sub: Any) -> None:
    check = sub.add_parser(
        "check",
        help="run a pre-commit check: notebooks, experiments, conflicts",
        description="Checks that run in every worktree at commit time (pre-commit hooks).",
        formatter_class=_Formatter,
    )
    checks = check.add_subparsers(dest="check", metavar="CHECK", required=True)
    _check_parser(
        checks,
        "notebooks",
        "notebooks paired with their jupytext text twin, and in sync",
        "Check notebooks (the `jupytext-pairing` hook): each notebook under notebooks.paths has "
        "its text twin in notebooks.formats, declares that pairing, and is in sync with it "
        "(jupytext --sync would change nothing). --fix creates missing twins, sets the pairing "
        "and syncs from the staged or most recently committed file; it refuses when both "
        "files changed differently.",
        lazy("claudio_ci.notebooks.command", "run"),
        family="NB",
    )
    _check_parser(
        checks,
        "experiments",
        "experiment configs: names, schema, output dirs, sibling worktrees",
        "Check experiment configs (the `experiment-config` hook): the name key equals the file "
        "name, the config fits the schema, ${...} references resolve, and no two experiments "
        "(here, in a sibling worktree or in experiments.compare_branches) share a name or an "
        "output directory. --fix sets the name key to the file name.",
        lazy("claudio_ci.experiments.command", "run"),
        family="EXP",
    )
    conflicts = _check_parser(
        checks,
        "conflicts",
        "files a sibling worktree or branch also changes, with the merge git predicts",
        "Check conflict risk (the `conflict-risk` hook): the files being committed (FILES, "
        "else the staged files) against every sibling worktree's changes since its fork point "
        "plus its uncommitted edits, and the branches in conflicts.compare. Each overlap names "
        "the other worktree and branch, and the outcome `git merge-tree` predicts. Risk comes "
        "from conflicts.high/low/ignore/single_writer globs; conflicts.fail_on decides what "
        "fails.",
        lazy("claudio_ci.conflicts.command", "run"),
        family="CR",
        fixable=False,
        default_files="the staged files",
    )
    conflicts.add_argument(
        "--pr",
        action="store_true",
        help="in CI on a pull request: compare its changed files with the other open PRs'",
    )


def _add_config_commands(sub: Any) -> None:
    config = sub.add_parser(
        "config",
        help="show, validate or describe the configuration",
        description="Configuration sources, later wins: built-in defaults, "
        "~/.config/claudio/config.yaml ($XDG_CONFIG_HOME), the repository's .claudio.yaml, "
        "CLAUDIO_<SECTION>_<KEY> environment variables, --set flags.",
        formatter_class=_Formatter,
    )
    actions = config.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser(
        "show",
        help="print the merged configuration and where each value came from",
        parents=[_config_options()],
    )
    _format_option(
        show,
        (*FORMATS, "yaml"),
        help_text="output format: text (KEY = VALUE  # ORIGIN), github (the same lines), json "
        "(the configuration and the origins), markdown (a table), or yaml (the configuration "
        "alone, as a file would hold it) (default: github under GitHub Actions, else text)",
    )
    show.set_defaults(handler=lazy("claudio_ci.project.config_command", "show"))
    validate = actions.add_parser(
        "validate",
        help="check every configuration source: errors, unknown keys (exit 1 on errors)",
        epilog=help_epilog("CFG"),
        parents=[_config_options()],
        formatter_class=_Formatter,
    )
    _format_option(validate)
    validate.set_defaults(handler=lazy("claudio_ci.project.config_command", "validate"))
    schema = actions.add_parser(
        "schema", help="print the JSON Schema (for editor completion and validation)"
    )
    schema.set_defaults(handler=lazy("claudio_ci.project.config_command", "schema"))


def _add_init_command(sub: Any) -> None:
    init = sub.add_parser(
        "init",
        help="add claudio-ci's pre-commit config, CI workflow and .claudio.yaml to a repo",
        description="Write .pre-commit-config.yaml, .github/workflows/ml-ci.yml, .claudio.yaml "
        "and experiments/template.yaml into the repository. Existing files are kept "
        "unless --force is given.",
        formatter_class=_Formatter,
    )
    init.add_argument("directory", nargs="?", default=".", help="repository (default: .)")
    init.add_argument("--force", action="store_true", help="overwrite files that differ")
    init.add_argument("--dry-run", action="store_true", help="say what would be written")
    init.set_defaults(handler=lazy("claudio_ci.project.init_command", "run"))


def _add_demo_command(sub: Any) -> None:
    demo = sub.add_parser(
        "demo",
        help="every capability on a throw-away repo with three parallel worktrees",
        description="Build a git repository from the bundled example ML project, add three "
        "worktrees on claudio/* branches with realistic parallel edits, run every check "
        "against them and print a report. Exits 0 when the demo itself ran.",
        formatter_class=_Formatter,
    )
    demo.add_argument("--keep", metavar="DIR", help="build the demo repo in DIR and keep it")
    demo.set_defaults(handler=lazy("claudio_ci.project.demo_command", "run"))


def _add_install_hooks_command(sub: Any) -> None:
    hooks = sub.add_parser(
        "install-hooks",
        help="install the plain git hooks: worktree setup at `git worktree add`, checks at commit",
        description="Install claudio-ci's post-checkout hook (sets up each worktree that "
        "`git worktree add` creates) and pre-commit hook (runs `claudio-ci check ...` on the "
        "staged files) where git looks for hooks: the common git dir, shared by every "
        "worktree, or core.hooksPath when that is an absolute directory. A hook already there "
        "keeps running first (renamed NAME.pre-claudio); one installed by the pre-commit "
        "framework is left alone. The hooks record this Python to run claudio-ci with.",
        formatter_class=_Formatter,
    )
    hooks.add_argument(
        "--uninstall",
        action="store_true",
        help="remove claudio-ci's hooks and put back the ones they replaced",
    )
    hooks.add_argument(
        "--hook",
        action="append",
        choices=("post-checkout", "pre-commit"),
        help="only this hook (repeatable; default: both)",
    )
    hooks.set_defaults(handler=lazy("claudio_ci.worktree.hooks_command", "run"))


def _add_worktree_command(sub: Any) -> None:
    worktree = sub.add_parser(
        "worktree",
        help="set up a worktree (data links, directories, Jupyter port, .env), or list them all",
        description="Each worktree gets the shared-data links, directories and setup commands "
        "of the `worktree` config section, a Jupyter port of its own (recorded in the common git "
        "dir) and an env file with JUPYTER_PORT and EXPERIMENT_OUTPUT_ROOT. The post-checkout "
        "hook (`claudio-ci install-hooks`) runs `worktree setup` when `git worktree add` "
        "creates a worktree.",
        formatter_class=_Formatter,
    )
    actions = worktree.add_subparsers(dest="action", metavar="ACTION", required=True)
    setup = actions.add_parser(
        "setup",
        help="set up this worktree; idempotent, never deletes a file (exit 1: a command failed)",
        epilog=help_epilog("WT"),
        parents=[_config_options()],
        formatter_class=_Formatter,
    )
    setup.add_argument(
        "--commands",
        choices=("auto", "always", "never"),
        default="auto",
        help="run worktree.setup_commands: auto (unless they already succeeded here), always, "
        "never (default: auto)",
    )
    setup.add_argument(
        "--post-checkout",
        nargs="*",
        metavar="ARG",
        help="as a post-checkout hook: only set up when git's arguments (OLD-HEAD NEW-HEAD FLAG, "
        "or the pre-commit framework's PRE_COMMIT_FROM_REF and PRE_COMMIT_CHECKOUT_TYPE) say "
        "`git worktree add` created this worktree",
    )
    _format_option(setup)
    setup.set_defaults(handler=lazy("claudio_ci.worktree.command", "setup"))
    allow = actions.add_parser(
        "allow",
        help="show, then approve, the setup commands of this .claudio.yaml (this content "
        "only, as direnv)",
        description="Setup commands from the repository's .claudio.yaml run only once you "
        "approved that file's content: a branch checked out by `git worktree add` could "
        "otherwise run anything. Commands from your own config, the environment or --set "
        "always run. Approvals are kept in $XDG_DATA_HOME/claudio/allow.",
    )
    shown = allow.add_mutually_exclusive_group()
    shown.add_argument(
        "--show", action="store_true", help="only show the commands, approve nothing"
    )
    shown.add_argument("--revoke", action="store_true", help="withdraw the approval")
    allow.set_defaults(handler=lazy("claudio_ci.worktree.command", "allow"))
    status = actions.add_parser(
        "status",
        help="every worktree: branch, Jupyter port, data links, setup state "
        "(exit 1: a broken link or a failed setup)",
        parents=[_config_options()],
    )
    _format_option(status)
    status.set_defaults(handler=lazy("claudio_ci.worktree.command", "status"))


def _add_gpu_command(sub: Any) -> None:
    gpu = sub.add_parser(
        "gpu",
        help="GPU time, energy and cost per branch: run a command measured, report, PR comment",
        description="Measure what a command spends on GPUs (NVML, through nvidia-ml-py), keep "
        "it in a ledger shared by every worktree (<git common dir>/claudio/gpu-ledger.sqlite3), "
        "price it, and report it per branch against resources.cost_warning_threshold and "
        "resources.cost_limit.",
        epilog=help_epilog("GPU"),
        formatter_class=_Formatter,
    )
    actions = gpu.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = actions.add_parser(
        "run",
        help="run a command and record its GPU time, energy and cost (exit: the command's)",
        description="Run CMD, sampling the GPUs its process tree uses; exit with its exit code "
        "(128+N when it dies of signal N). Without a GPU or driver it still runs, at $0.",
        parents=[_config_options()],
        formatter_class=_Formatter,
    )
    run.add_argument("--branch", help="charge this branch (default: the checked-out one)")
    run.add_argument(
        "--gpus",
        type=int,
        metavar="N",
        help="reserve N free GPUs (no other run or process on them) and set CUDA_VISIBLE_DEVICES",
    )
    run.add_argument(
        "--replay",
        metavar="TRACE",
        help="read GPU readings from a recorded trace instead of NVML (tests, demos); "
        "the run is marked replayed",
    )
    run.add_argument("--record", metavar="FILE", help="also write the readings as a trace")
    run.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD ...")
    run.set_defaults(handler=lazy("claudio_ci.gpu.command", "run"))
    report = actions.add_parser(
        "report",
        help="runs, GPU-hours, kWh and cost per branch, the costliest runs (exit 1: over "
        "resources.cost_limit)",
        parents=[_config_options()],
        formatter_class=_Formatter,
    )
    report.add_argument("--branch", help="only this branch")
    report.add_argument("--since", metavar="T", help="only runs started since T: 7d, 12h, or ISO")
    _format_option(report)
    report.set_defaults(handler=lazy("claudio_ci.gpu.command", "report"))
    comment = actions.add_parser(
        "comment",
        help="keep one sticky PR comment with the branch's cumulative GPU cost (GitHub Actions)",
        description="Merge this branch's runs from the ledger into the figures carried by the "
        "PR's sticky comment, update it (or create it), write the step summary and annotate "
        "the thresholds. Exit 1 over resources.cost_limit.",
        parents=[_config_options()],
        formatter_class=_Formatter,
    )
    comment.add_argument("--branch", help="the PR's head branch (default: $GITHUB_HEAD_REF)")
    comment.add_argument("--pr", type=int, metavar="N", help="default: from $GITHUB_EVENT_PATH")
    comment.add_argument("--repo", metavar="OWNER/NAME", help="default: $GITHUB_REPOSITORY")
    comment.add_argument(
        "--author",
        metavar="LOGIN",
        help="the login the token comments as; only its comment is trusted and edited "
        "(default: the token's user, or github-actions[bot]; a GitHub App's is SLUG[bot]: "
        "pass it, GitHub does not tell an App's token its login)",
    )
    posting = comment.add_mutually_exclusive_group()
    posting.add_argument(
        "--dry-run", action="store_true", help="print the comment instead of posting it"
    )
    posting.add_argument(
        "--no-comment",
        action="store_true",
        help="only the step summary and the threshold annotations (e.g. on push)",
    )
    _format_option(comment)
    comment.set_defaults(handler=lazy("claudio_ci.gpu.command", "comment"))


def _add_smoke_test_command(sub: Any) -> None:
    smoke = sub.add_parser(
        "smoke-test",
        help="train each experiment briefly on CPU and check that it still trains",
        description="Run smoke_test.command (default: one epoch, batch size 2, on CPU) for each\n"
        "experiment config, in its own process group with CUDA hidden, under a timeout and a\n"
        "memory limit on the whole process tree; then check the exit code, that the metrics\n"
        "are written and finite, that the loss did not rise, and that the checkpoint loads\n"
        "with the project's interpreter.\n"
        "Exit codes: 0 passed, 1 a check failed, 2 usage or configuration error.",
        epilog=help_epilog("SMK"),
        parents=[_config_options()],
        formatter_class=_Formatter,
    )
    which = smoke.add_mutually_exclusive_group()
    which.add_argument(
        "--experiment",
        nargs="+",
        metavar="NAME",
        help="these experiments: a config's file stem or its path (default: smoke_test.configs)",
    )
    which.add_argument(
        "--changed-only",
        action="store_true",
        help="the experiments whose config changed since the merge base with --base; "
        "all of them when shared code (smoke_test.shared_paths) changed",
    )
    which.add_argument(
        "--all",
        action="store_true",
        help="smoke_test.configs and every config under experiments.dir",
    )
    smoke.add_argument(
        "--base",
        metavar="REF",
        help="base branch for --changed-only (default: origin/$GITHUB_BASE_REF on GitHub, "
        "else main)",
    )
    smoke.add_argument(
        "--matrix",
        action="store_true",
        help="print the selection as JSON for a GitHub Actions strategy.matrix and run nothing "
        "(also written to $GITHUB_OUTPUT as matrix= and count=)",
    )
    smoke.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="seconds per experiment (overrides smoke_test.timeout_seconds)",
    )
    _format_option(smoke)
    smoke.set_defaults(handler=lazy("claudio_ci.smoke.command", "run"))


def _add_reviewers_command(sub: Any) -> None:
    reviewers = sub.add_parser(
        "reviewers",
        help="request PR reviewers by changed path (pr.reviewers), or explain the routing",
        description="On a pull request (GitHub Actions: the `assign-reviewers` action), request "
        "reviews from pr.reviewers.default and from every pr.reviewers.by_path rule that matches "
        "a changed file. The rules are read from the PR's base commit through the API, never "
        "from its head. Locally, --explain shows which rule routes each file and who would be "
        "asked, without GitHub. On a pull request, --config names a path in the repository, "
        "read at the base commit.",
        epilog=help_epilog("REV"),
        parents=[_config_options()],
        formatter_class=_Formatter,
    )
    reviewers.add_argument(
        "--event", metavar="PATH", help="the event payload (default: $GITHUB_EVENT_PATH)"
    )
    reviewers.add_argument(
        "--dry-run", action="store_true", help="read everything from GitHub, request nobody"
    )
    reviewers.add_argument(
        "--explain",
        nargs="*",
        metavar="FILE",
        help="locally, without GitHub: route these files (default: every tracked file)",
    )
    reviewers.add_argument(
        "--base",
        metavar="REV",
        help="with --explain: route what this worktree changed since its merge base with REV",
    )
    _format_option(reviewers)
    reviewers.set_defaults(handler=lazy("claudio_ci.reviewers.command", "run"))
    actions = reviewers.add_subparsers(dest="action", metavar="ACTION")
    codeowners = actions.add_parser(
        "codeowners",
        help="write the .github/CODEOWNERS that requests the same reviewers",
        parents=[_config_options(nested=True)],
        formatter_class=_Formatter,
    )
    codeowners.add_argument(
        "--output", default=".github/CODEOWNERS", metavar="PATH", help="'-' prints it"
    )
    codeowners.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when the file is stale"
    )
    codeowners.add_argument(
        "--force", action="store_true", help="replace a CODEOWNERS file written by hand"
    )
    _format_option(codeowners, nested=True)
    codeowners.set_defaults(handler=lazy("claudio_ci.reviewers.command", "codeowners_command"))
    validate = actions.add_parser(
        "validate",
        help="patterns that match no tracked file, shadowed rules, unknown users or teams",
        description="Check pr.reviewers against the tracked files; with a token "
        "($GITHUB_TOKEN) and a repository, also ask GitHub whether every user and team exists.",
        parents=[_config_options(nested=True)],
        formatter_class=_Formatter,
    )
    validate.add_argument("--repo", metavar="OWNER/NAME", help="default: $GITHUB_REPOSITORY")
    _format_option(validate, nested=True)
    validate.set_defaults(handler=lazy("claudio_ci.reviewers.command", "validate"))


def _add_explain_command(sub: Any) -> None:
    explain = sub.add_parser(
        "explain",
        help="what a finding code means and the way out (NB004, CR001, ...)",
        description="Explain a finding code: its default severity, its meaning and the way "
        "out (as `ruff rule`). A family prefix (NB, CR, ...) lists that family's codes. Exits 2 "
        "for a code that does not exist.",
        formatter_class=_Formatter,
    )
    explain.add_argument("code", nargs="?", metavar="CODE", help="a code such as NB004")
    explain.add_argument("--all", "--list", action="store_true", help="list every code")
    explain.add_argument("--format", choices=("text", "json"), default="text", help="default: text")
    explain.set_defaults(handler=lazy("claudio_ci.project.explain_command", "run"))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="claudio-ci", description=DESCRIPTION, epilog=EPILOG, formatter_class=_Formatter
    )
    parser.add_argument("--version", action="version", version=f"claudio-ci {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_check_commands(sub)
    _add_reviewers_command(sub)
    _add_smoke_test_command(sub)
    _add_gpu_command(sub)
    _add_install_hooks_command(sub)
    _add_worktree_command(sub)
    _add_config_commands(sub)
    _add_init_command(sub)
    _add_demo_command(sub)
    _add_explain_command(sub)
    return parser


def _tolerate_undecodable_names() -> None:
    """A file name that is not UTF-8 reaches Python as lone surrogates; under a UTF-8 locale
    stdout would raise on them. Write them back as the bytes they came from, as `ls` does.
    Under another encoding (PYTHONIOENCODING=ascii, a C locale) a name it cannot encode is
    shown escaped (`\xe9`) instead of raising."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            utf8 = codecs.lookup(getattr(stream, "encoding", None) or "utf-8").name == "utf-8"
            stream.reconfigure(errors="surrogateescape" if utf8 else "backslashreplace")


def _error_line(prog: str, message: str) -> str:
    """One line, whatever a path or value in `message` holds; on GitHub Actions also one
    that the runner cannot take for a workflow command (a value quoting `##[stop-commands]`)."""
    from claudio_ci.adapters.actions_env import ActionsEnv  # the error path only

    line = f"{prog}: error: {shown_path(message)}"
    return github_safe_line(line) if ActionsEnv().active else line


def _error(message: str) -> None:
    print(_error_line("claudio-ci", message), file=sys.stderr)


def _files_after_separator(args: argparse.Namespace, argv: Sequence[str]) -> None:
    """Under pre-commit, file names come after the hook's `args:`; without a `--` between
    them a staged file named `--fix` would become the flag."""
    if os.environ.get("PRE_COMMIT") and getattr(args, "filenames", None) and "--" not in argv:
        raise UsageError(
            "under pre-commit, end the hook's `args:` with `--` (e.g. `args: [--fix, --]`) "
            "so that a file name cannot become an option"
        )


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """Built once a process: a build costs about 7 ms (argparse looks up a translation of
    every help string), once for the console script but at every in-process `main()` of the
    test suite. Parsing leaves the parser as it was."""
    return build_parser()


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    _tolerate_undecodable_names()
    try:
        _files_after_separator(args, argv)
        handler: Handler = args.handler
        return handler(args)
    except ClaudioError as exc:
        _error(str(exc))
        return exc.exit_code
    except BrokenPipeError:  # `| head` stopped reading: not an error (an OSError, so first)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush
        return 0
    except OSError as exc:  # a file we cannot read or write: the user's to fix, not a bug
        where = f": {exc.filename}" if exc.filename else ""
        _error(f"{exc.strerror or exc}{where}")
        return 2
    except KeyboardInterrupt:
        print("claudio-ci: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
