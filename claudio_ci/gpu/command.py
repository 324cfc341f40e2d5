"""`claudio-ci gpu run|report|comment`: wiring from arguments to `claudio_ci.gpu`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from claudio_ci.adapters.actions_env import ActionsEnv
from claudio_ci.adapters.git import Repository, discover
from claudio_ci.check import command_config, show
from claudio_ci.core import findings as fmt
from claudio_ci.core.config import Config
from claudio_ci.core.errors import UsageError
from claudio_ci.core.findings import Finding
from claudio_ci.core.report import MarkdownOnly, Report, render, render_report
from claudio_ci.gpu import ledger as gpu_ledger
from claudio_ci.gpu.pricing import Pricing, shipped_rates
from claudio_ci.gpu.report import (
    CODE_OTHER_BOT,
    as_report,
    build_report,
    cost_findings,
    parse_since,
)

if TYPE_CHECKING:
    from claudio_ci.adapters.github import GitHub, IssueComment
    from claudio_ci.gpu.runner import RunResult


def _context(args: argparse.Namespace) -> tuple[Repository, Config]:
    repo = discover()
    config = command_config(repo, overrides=args.overrides, config_file=args.config)
    for warning in config.warnings:
        line = f"{warning.location}: {warning.code} {warning.message}"
        print(fmt.github_safe_line(line), file=sys.stderr)
    return repo, config


def ledger_path(repo: Repository, config: Config) -> Path:
    configured = config.settings.gpu.ledger
    if configured:  # relative to the main worktree, so that every worktree shares it
        path = Path(configured).expanduser()
        return path if path.is_absolute() else repo.common_dir.parent / path
    return repo.state_dir(create=False) / gpu_ledger.FILENAME  # `run` creates it


def _shown(path: Path, repo: Repository) -> str:
    relative = os.path.relpath(path, repo.root)
    return str(path) if relative.startswith("..") else relative


def branch_name(repo: Repository, explicit: str | None, env: ActionsEnv) -> str:
    """`--branch`, the checked-out branch, a PR's head branch in Actions, or the commit."""
    head = repo.head()
    return (
        explicit
        or repo.current_branch()
        or env.head_ref
        or (f"detached at {head[:12]}" if head else "no commit")
    )


def _command(argv: list[str]) -> list[str]:
    command = argv[1:] if argv[:1] == ["--"] else argv
    if not command:
        raise UsageError("gpu run: give the command after --, e.g. gpu run -- python train.py")
    return command


def _describe(result: RunResult) -> str:
    if not result.gpus:
        return "no GPU used"
    models = ", ".join(dict.fromkeys(g.usage.name for g in result.gpus))
    hours = sum(g.usage.seconds * g.usage.share for g in result.gpus) / 3600
    energies = [g.usage.kwh for g in result.gpus]
    known = [kwh for kwh in energies if kwh is not None]
    energy = f"{sum(known):.3f} kWh" if len(known) == len(energies) else "energy not measurable"
    count = len(result.gpus)
    return f"{count} GPU{'s' if count > 1 else ''} ({models}), {hours:.3f} GPU-h, {energy}"


def _after_run(result: RunResult, branch: str, config: Config) -> None:
    """One summary line, and the branch's threshold findings, on stderr."""
    cost = sum(g.price.cost for g in result.gpus)
    total = result.branch_cost
    recorded = (
        "not recorded in the ledger"
        if total is None
        else f"branch total ${total:.2f} (claudio-ci gpu report)"
    )
    line = f"claudio-ci gpu: {branch}: {_describe(result)}, ${cost:.2f}; {recorded}"
    print(fmt.github_safe_line(line), file=sys.stderr)
    resources = config.settings.resources
    for finding in cost_findings({} if total is None else {branch: total}, resources):
        label = finding.severity.label
        line = f"claudio-ci gpu: {finding.location}: {finding.code} [{label}] {finding.message}"
        print(fmt.github_safe_line(line), file=sys.stderr)
    if result.error is not None:
        line = f"claudio-ci gpu: warning: figures may be short: {result.error}"
        print(fmt.github_safe_line(line), file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from claudio_ci.gpu.runner import RunRequest
    from claudio_ci.gpu.runner import run as run_measured

    command = _command(args.argv)
    if args.gpus is not None and args.gpus < 1:
        raise UsageError(f"--gpus {args.gpus}: ask for at least one GPU")
    if args.gpus and args.replay:
        raise UsageError("--gpus reserves real GPUs; it cannot be combined with --replay")
    repo, config = _context(args)
    branch = branch_name(repo, args.branch, ActionsEnv())
    request = RunRequest(
        command=command,
        branch=branch,
        worktree=repo.root,
        commit=repo.head(),
        ledger_path=ledger_path(repo, config),
        state_dir=repo.state_dir(create=False),  # made when needed: a bad one never stops the run
        pricing=Pricing.from_config(config.settings.gpu),
        interval=config.settings.gpu.sample_interval_seconds,
        gpus=args.gpus,
        replay=Path(args.replay) if args.replay else None,
        record=Path(args.record) if args.record else None,
    )
    result = run_measured(request)
    if result.measured:
        _after_run(result, branch, config)
    return result.exit_code


def report(args: argparse.Namespace) -> int:
    repo, config = _context(args)
    since = parse_since(args.since)
    path = ledger_path(repo, config)
    resources = config.settings.resources
    if path.exists():
        with gpu_ledger.Ledger(path) as ledger:
            result = build_report(
                ledger, _shown(path, repo), resources, branch=args.branch, since=since
            )
    else:
        result = build_report(None, _shown(path, repo), resources, branch=args.branch, since=since)
    show(as_report(result), args.format)
    return result.exit_code


def _pull_number(explicit: int | None, env: ActionsEnv) -> int:
    if explicit is not None:
        if explicit < 1:
            raise UsageError(f"gpu comment: --pr {explicit}: a pull request number is 1 or more")
        return explicit
    if env.event_path is None:
        raise UsageError("gpu comment: no pull request: pass --pr N (or run on pull_request)")
    from claudio_ci.adapters.github import Environment

    return Environment.from_environ(env.environ).pull_number


def _client(args: argparse.Namespace, env: ActionsEnv) -> GitHub:
    from claudio_ci.adapters.github import GitHub

    repository = args.repo or env.repository or ""
    if repository.count("/") != 1:
        raise UsageError(f"gpu comment: --repo must be OWNER/NAME, got {repository!r}")
    return GitHub(repository, token=env.token, api_url=env.api_url)


def _upsert(
    client: GitHub, number: int, existing: IssueComment | None, body: str
) -> tuple[str, str | None]:
    """Update the sticky comment, or create it: what was done, in a few words, and the
    login a newly created comment was written as (None when none was created)."""
    from claudio_ci.adapters.github import ReadOnlyTokenError

    try:
        if existing is None:
            created = client.create_issue_comment(number, body)
            return f"created the GPU cost comment on #{number}", created.author
        client.update_issue_comment(existing.id, body)
    except ReadOnlyTokenError:
        return f"this token may not comment on #{number} (a fork?): see the step summary", None
    return f"updated the GPU cost comment on #{number}", None


def _other_bot(number: int, assumed: str, actual: str) -> Finding:
    """The token turned out to be another bot's (a GitHub App's) than the one assumed: its
    comment will not be found again, so every run would start a new one from $0."""
    return Finding(
        f"#{number}",
        CODE_OTHER_BOT,
        f"this token comments as {actual}, not {assumed}: its GPU cost comment is not found "
        "again, so each run starts a new one",
        0,
        0,
        CODE_OTHER_BOT.severity,
        hint=f"set the gpu-cost action's comment-author input to {actual} "
        f"(gpu comment --author {actual})",
    )


def comment(args: argparse.Namespace) -> int:
    from claudio_ci.adapters.github import ACTIONS_BOT
    from claudio_ci.gpu import comment as sticky

    repo, config = _context(args)
    env = ActionsEnv()
    branch = args.branch or env.head_ref or branch_name(repo, None, env)
    path = ledger_path(repo, config)
    local = []
    if path.exists():
        with gpu_ledger.Ledger(path) as ledger:
            local = ledger.runs(branch)
    resources = config.settings.resources

    def body_after(previous: str) -> tuple[str, list[Finding]]:
        carried = sticky.merge(sticky.parse(previous, branch), local)
        findings = cost_findings({branch: carried.cost}, resources)
        return sticky.render(carried, findings, shipped_rates().date), findings

    chosen = args.format or env.default_format
    live = chosen in ("text", "github")  # else stdout holds the document alone
    number, done = None, None
    if args.dry_run or args.no_comment:
        body, findings = body_after("")
        if args.dry_run and live:
            sys.stdout.write(body)
    else:
        number = _pull_number(args.pr, env)
        client = _client(args, env)
        author = args.author or client.identity() or ACTIONS_BOT
        existing = sticky.find_sticky(client.issue_comments(number), author)
        body, findings = body_after(existing.body if existing is not None else "")
        done, created_as = _upsert(client, number, existing, body)
        print(f"claudio-ci gpu: {done}", file=sys.stdout if live else sys.stderr)
        if created_as and created_as.lower() != author.lower():
            findings.append(_other_bot(number, author, created_as))
    visible = sticky.visible_part(body)
    env.append_summary(visible)
    data = {"branch": branch, "pull_request": number, "done": done, "comment": visible}
    sys.stdout.write(_comment_output(chosen, findings, visible, data))
    return fmt.exit_code(findings)


def _comment_output(
    chosen: str, findings: list[Finding], visible: str, data: dict[str, object]
) -> str:
    """The findings (annotations under Actions); in json, the whole outcome; in markdown,
    the comment, which already says the findings."""
    if chosen in ("text", "github"):
        return render(findings, chosen)
    shown = Report("claudio-ci gpu comment", findings, [MarkdownOnly(visible)], data=data)
    shown.markdown_omits = frozenset(f.code for f in findings)
    return render_report(shown, chosen)
