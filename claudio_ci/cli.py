"""Command line: parse arguments and call one function. No logic lives here.

Command modules are imported only when their command runs, so `--help` and a hook with
nothing to do never pay for jupytext, nbformat, GitPython or PyGithub.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from claudio_ci import __version__
from claudio_ci.errors import ClaudioError
from claudio_ci.findings import FORMATS

Handler = Callable[[argparse.Namespace], int]

DESCRIPTION = """\
Keep parallel ML worktrees from colliding, and keep their cost in view.

Pre-commit hooks for every worktree, and GitHub Action entrypoints for every PR.
Exit codes: 0 clean, 1 findings, 2 usage or configuration error."""

EPILOG = """\
examples:
  claudio-ci demo                       see every check on a throw-away example repo
  claudio-ci init                       add the hooks, CI workflow and .claudio.yaml here
  claudio-ci check notebooks --fix      pair and sync jupytext notebooks
  claudio-ci config show                the merged configuration and where each value came from

configuration: built-in defaults < ~/.config/claudio/config.yaml < .claudio.yaml
  < CLAUDIO_<SECTION>_<KEY> environment variables < --set SECTION.KEY=VALUE flags"""


def lazy(module: str, function: str) -> Handler:
    """A handler that imports its command module only when it runs."""

    def handler(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(module), function)(args)

    return handler


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def _config_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("configuration")
    group.add_argument(
        "--config",
        metavar="FILE",
        help="read this file instead of the repository's .claudio.yaml",
    )
    group.add_argument(
        "--set",
        dest="overrides",
        metavar="SECTION.KEY=VALUE",
        action="append",
        default=[],
        help="override one setting (repeatable); VALUE is YAML, lists also take commas",
    )
    return parent


def _format_option(parser: argparse.ArgumentParser, choices: Sequence[str] = FORMATS) -> None:
    parser.add_argument(
        "--format",
        choices=choices,
        default=None,
        help="output format (default: github under GitHub Actions, else text)",
    )


def _check_parser(
    checks: Any, name: str, help_text: str, description: str, handler: Handler
) -> argparse.ArgumentParser:
    parser = checks.add_parser(
        name,
        help=help_text,
        description=description,
        parents=[_config_options()],
        formatter_class=_Formatter,
    )
    parser.add_argument(
        "filenames",
        nargs="*",
        metavar="FILE",
        help="files to check, as pre-commit passes them (default: every file in the repository)",
    )
    parser.add_argument("--fix", action="store_true", help="fix what can be fixed safely")
    _format_option(parser)
    parser.set_defaults(handler=handler)
    return parser


def _add_check_commands(sub: Any) -> None:
    check = sub.add_parser(
        "check",
        help="run a pre-commit check (notebooks, experiments, ...)",
        description="Checks that run in every worktree at commit time (pre-commit hooks).",
        formatter_class=_Formatter,
    )
    checks = check.add_subparsers(dest="check", metavar="CHECK", required=True)
    del checks  # each check adds itself below as it lands


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
    _format_option(show, ("text", "json", "yaml"))
    show.set_defaults(handler=lazy("claudio_ci.commands.config", "show"))
    validate = actions.add_parser(
        "validate",
        help="check every configuration source: errors, unknown keys (exit 1 on errors)",
        parents=[_config_options()],
    )
    _format_option(validate)
    validate.set_defaults(handler=lazy("claudio_ci.commands.config", "validate"))
    schema = actions.add_parser(
        "schema", help="print the JSON Schema (for editor completion and validation)"
    )
    schema.set_defaults(handler=lazy("claudio_ci.commands.config", "schema"))


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
    init.set_defaults(handler=lazy("claudio_ci.commands.init", "run"))


def _add_demo_command(sub: Any) -> None:
    demo = sub.add_parser(
        "demo",
        help="run every check on a throw-away repo with parallel worktrees",
        description="Build a git repository from the bundled example ML project, add three "
        "worktrees on claudio/* branches with realistic parallel edits, run every check "
        "against them and print a report. Exits 0 when the demo itself ran.",
        formatter_class=_Formatter,
    )
    demo.add_argument("--keep", metavar="DIR", help="build the demo repo in DIR and keep it")
    demo.set_defaults(handler=lazy("claudio_ci.commands.demo", "run"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="claudio-ci", description=DESCRIPTION, epilog=EPILOG, formatter_class=_Formatter
    )
    parser.add_argument("--version", action="version", version=f"claudio-ci {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_check_commands(sub)
    _add_config_commands(sub)
    _add_init_command(sub)
    _add_demo_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ClaudioError as exc:
        print(f"claudio-ci: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("claudio-ci: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
