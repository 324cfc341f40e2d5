"""`claudio-ci reviewers`: ask for reviews by the paths a pull request changes.

    claudio-ci reviewers [--event PATH] [--dry-run]  in GitHub Actions, on a pull request
    claudio-ci reviewers --explain [FILE ...]         locally: which rule routes each file
    claudio-ci reviewers --explain --base main        ... for what this worktree changed
    claudio-ci reviewers codeowners [--check]         the equivalent .github/CODEOWNERS
    claudio-ci reviewers validate                     rules that route nothing, unknown names

On a pull request the rules are read from the PR's *base* commit through the API, never
from its head or a checkout: a PR cannot reroute its own review, and the action runs
under `pull_request_target` without checking out PR code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claudio_ci import findings as fmt
from claudio_ci.checks.reviewers import (
    DEFAULT_RULE,
    SECTION,
    Decision,
    Kind,
    Locate,
    Reviewer,
    Rule,
    RuleSet,
    Status,
    codeowners,
    decide,
    lint,
    load_rules,
    route,
    skip_reason,
)
from claudio_ci.commands.check import command_config, relative_paths, report
from claudio_ci.config import (
    CODE_SYNTAX,
    REPO_FILE,
    Config,
    config_error,
    env_layer,
    merge_layers,
    override_layer,
    text_layer,
)
from claudio_ci.errors import UsageError
from claudio_ci.fileio import write_atomic
from claudio_ci.findings import Finding, Severity
from claudio_ci.git import Repository, discover
from claudio_ci.yamlfile import YamlError, decode_yaml_bytes

if TYPE_CHECKING:
    from claudio_ci.github import GitHub, PullRequest, ReviewOutcome

CODE_FILE_CAP = "REV003"
CODE_REFUSED = "REV004"
CODE_READ_ONLY = "REV005"
CODE_SKIPPED = "REV006"
CODE_OTHER_ORG = "REV007"
CODE_REQUESTED = "REV008"
CODE_NO_RULES = "REV009"
CODE_UNKNOWN = "REV103"
CODE_UNVERIFIED = "REV105"
CODE_STALE = "REV203"

TITLE = "claudio-ci: reviewers"
SHOWN_FILES = 3


@dataclass
class Row:
    reviewer: Reviewer
    status: str
    rules: list[str]
    files: list[str]


@dataclass
class Report:
    heading: str
    rows: list[Row] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    users: list[str] = field(default_factory=list)  # requested, or that would be
    teams: list[str] = field(default_factory=list)  # `owner/slug`
    files: dict[str, list[Rule]] | None = None  # --explain: each file and its rules
    api_calls: int | None = None  # on a pull request: requests made to GitHub


# --- entry points -----------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    local = args.explain is not None or args.base
    return _emit(_explain(args) if local else _pull_request(args), args.format)


def codeowners_command(args: argparse.Namespace) -> int:
    repo = discover()
    config = _local_config(repo, args)
    locate = _locator(config)
    ruleset, findings = load_rules(_section(config), locate)
    text, notes = codeowners(ruleset, repo.tracked_files(), locate)
    findings = [*config.warnings, *findings, *notes]
    if args.output == "-":
        sys.stdout.write(text)
        return fmt.exit_code(findings)
    target = repo.root / args.output
    current = target.read_text(encoding="utf-8") if target.is_file() else None
    if fmt.exit_code(findings):
        status = f"{args.output}: not written, fix the errors below"
    elif current == text:
        status = f"{args.output}: up to date"
    elif args.check:
        status = f"{args.output}: out of date"
        findings.append(
            Finding(
                args.output,
                CODE_STALE,
                f"{args.output} does not match pr.reviewers",
                0,
                0,
                hint="run `claudio-ci reviewers codeowners` and commit the result",
            )
        )
    else:
        write_atomic(target, text)
        lines = text.count("\n")
        status = f"{args.output}: written ({lines} lines)"
    if (args.format or fmt.default_format()) == "text":
        print(status)
    return report(findings, args.format, title=f"{TITLE} codeowners")


def validate(args: argparse.Namespace) -> int:
    repo = discover()
    config = _local_config(repo, args)
    locate = _locator(config)
    ruleset, findings = load_rules(_section(config), locate)
    findings = [*config.warnings, *findings, *lint(ruleset, repo.tracked_files(), locate)]
    checked = _check_names_on_github(ruleset, args.repo, locate, findings)
    if (args.format or fmt.default_format()) == "text" and not findings:
        names = "" if checked else " (users and teams not checked: no token or repository)"
        print(f"pr.reviewers: {len(ruleset.rules)} rules, no problem found{names}")
    return report(findings, args.format, title=f"{TITLE} validate")


# --- a pull request -----------------------------------------------------------------------------


def _pull_request(args: argparse.Namespace) -> Report:
    from claudio_ci.github import Environment, GitHub

    env = Environment.from_environ(os.environ, args.event)
    client = GitHub.from_environment(env)
    pull = client.pull_request(env.pull_number)
    config_path = args.config or REPO_FILE
    config, missing = _config_at(client, config_path, pull.base_sha, args.overrides)
    locate = _locator(config)
    ruleset, problems = load_rules(_section(config), locate)
    result = Report(f"Pull request #{pull.number} ({pull.head_ref})")
    result.findings += [*config.warnings, *problems, *missing]
    closed = pull.state != "open"
    skipped = skip_reason(ruleset, title=pull.title, draft=pull.draft, closed=closed)
    if skipped:
        message = f"pull request #{pull.number} skipped: {skipped}"
        result.findings.append(_finding(locate, [], CODE_SKIPPED, message))
    else:
        _route_pull_request(client, pull, ruleset, locate, result, dry_run=args.dry_run)
    result.api_calls = client.requests
    result.heading += f": {result.api_calls} GitHub API calls"
    _write_outputs(result, os.environ)
    return result


def _config_at(
    client: GitHub, path: str, sha: str, overrides: Sequence[str]
) -> tuple[Config, list[Finding]]:
    """The configuration with the repository file as it is at `sha`, the PR's base."""
    raw = client.read_file(path, sha)
    layers = [env_layer(os.environ), override_layer(overrides)]
    if raw is None:
        message = f"no {path} at the base commit {sha[:12]}: no reviewer rules"
        notice = Finding(path, CODE_NO_RULES, message, 0, 0, Severity.NOTICE)
        return merge_layers([layer for layer in layers if layer]), [notice]
    try:
        text = decode_yaml_bytes(raw)
    except YamlError as exc:
        raise config_error(path, CODE_SYNTAX, exc.message, exc.line, exc.col) from None
    return merge_layers([text_layer(text, path), *(layer for layer in layers if layer)]), []


def _route_pull_request(
    client: GitHub,
    pull: PullRequest,
    ruleset: RuleSet,
    locate: Locate,
    result: Report,
    *,
    dry_run: bool,
) -> None:
    from claudio_ci.github import FILES_CAP, ReadOnlyTokenError

    listed = client.changed_files(pull.number)
    if pull.changed_files > len(listed):
        message = (
            f"GitHub lists {len(listed):,} of the {pull.changed_files:,} changed files "
            f"(its limit is {FILES_CAP:,}): the others are not routed"
        )
        result.findings.append(_finding(locate, [], CODE_FILE_CAP, message, Severity.WARNING))
    routing = route(ruleset, [path for f in listed for path in f.paths])
    reviewed = client.reviewers(pull.number) if routing.reviewers else set()
    decisions = decide(
        routing,
        ruleset,
        author=pull.author,
        owner=client.owner,
        requested=pull.requested,
        reviewed=reviewed,
        branch=pull.head_ref,
    )
    wanted = [d for d in decisions if d.status is Status.REQUEST]
    outcome_status: dict[str, str]
    if dry_run or not wanted:
        outcome_status = {d.route.reviewer.key: "would request" for d in wanted}
        _collect(result, [d.route.reviewer for d in wanted])
    else:
        try:
            outcome = client.request_reviews(
                pull.number,
                users=_names(wanted, Kind.USER),
                teams=_names(wanted, Kind.TEAM),
                users_or_teams=_names(wanted, Kind.USER_OR_TEAM),
            )
        except ReadOnlyTokenError as exc:
            message = (
                "the token may not request reviews (a fork's pull request under "
                "`pull_request`?): run the action on `pull_request_target`; the summary "
                f"lists who would be asked. GitHub: {exc.reason}"
            )
            result.findings.append(_finding(locate, [], CODE_READ_ONLY, message))
            outcome_status = {
                d.route.reviewer.key: "not requested (read-only token)" for d in wanted
            }
        else:
            outcome_status = _apply(outcome, wanted, client.owner, locate, result)
    for decision in decisions:
        _add_row(result, decision, outcome_status, locate)


def _names(decisions: Sequence[Decision], kind: Kind) -> list[str]:
    return [d.route.reviewer.name for d in decisions if d.route.reviewer.kind is kind]


def _apply(
    outcome: ReviewOutcome, wanted: Sequence[Decision], owner: str, locate: Locate, result: Report
) -> dict[str, str]:
    """Statuses and findings from what GitHub accepted and refused."""
    statuses = {}
    for decision in wanted:
        reviewer = decision.route.reviewer
        where = _rule_path(decision.route.rules[0])
        if reviewer.name in outcome.refused:
            reason = outcome.refused[reviewer.name]
            statuses[reviewer.key] = f"refused ({CODE_REFUSED})"
            message = f"GitHub refused to request a review from {reviewer.label}: {reason}"
            hint = "is it a collaborator, or a team of the repository's owner with access?"
            result.findings.append(
                _finding(locate, where, CODE_REFUSED, message, Severity.WARNING, hint)
            )
            continue
        as_team = reviewer.kind is not Kind.USER and reviewer.name in outcome.teams
        if as_team:
            result.teams.append(f"{owner}/{reviewer.name}")
        else:
            result.users.append(reviewer.name)
        statuses[reviewer.key] = (
            f"requested (team {owner}/{reviewer.name})"
            if as_team and reviewer.kind is Kind.USER_OR_TEAM
            else "requested"
        )
        message = f"requested a review from {reviewer.label}: {', '.join(decision.route.rules)}"
        result.findings.append(_finding(locate, where, CODE_REQUESTED, message))
    return statuses


def _collect(result: Report, reviewers: Sequence[Reviewer]) -> None:
    """The users and teams that would be requested (a bare name counts as a user)."""
    for reviewer in reviewers:
        if reviewer.kind is Kind.TEAM:
            result.teams.append(reviewer.label)
        else:
            result.users.append(reviewer.name)


def _add_row(
    result: Report, decision: Decision, outcome: Mapping[str, str], locate: Locate
) -> None:
    entry = decision.route
    status = outcome.get(entry.reviewer.key, decision.status.value)
    result.rows.append(Row(entry.reviewer, status, entry.rules, entry.files))
    if decision.status is Status.OTHER_ORG:
        message = f"{entry.reviewer.label}: GitHub only requests teams of the repository's owner"
        path = _rule_path(entry.rules[0])
        result.findings.append(_finding(locate, path, CODE_OTHER_ORG, message, Severity.WARNING))


def _write_outputs(result: Report, environ: Mapping[str, str]) -> None:
    target = environ.get("GITHUB_OUTPUT")
    if not target:
        return
    with Path(target).open("a", encoding="utf-8") as handle:
        handle.write(f"users={','.join(result.users)}\n")
        handle.write(f"teams={','.join(result.teams)}\n")


# --- locally --------------------------------------------------------------------------------------


def _explain(args: argparse.Namespace) -> Report:
    repo = discover()
    config = _local_config(repo, args)
    ruleset, problems = load_rules(_section(config), _locator(config))
    if args.base and args.explain:
        raise UsageError("give FILE arguments or --base REV, not both")
    if args.base:
        files = [c.path for c in repo.changed_in_worktree_since(args.base)]
        where = f"{_files(len(files))} changed since the merge base with {args.base}"
    elif args.explain:
        files = relative_paths(repo, args.explain)
        where = _files(len(files))
    else:
        files = repo.tracked_files()
        where = f"all {_files(len(files))} tracked"
    routing = route(ruleset, files)
    decisions = decide(routing, ruleset, branch=repo.current_branch() or "")
    branch = repo.current_branch() or "detached HEAD"
    result = Report(f"{where} ({branch})", files=routing.files)
    result.findings += [*config.warnings, *problems]
    for decision in decisions:
        status = "would request" if decision.status is Status.REQUEST else decision.status.value
        result.rows.append(
            Row(decision.route.reviewer, status, decision.route.rules, decision.route.files)
        )
    _collect(result, [d.route.reviewer for d in decisions if d.status is Status.REQUEST])
    return result


def _local_config(repo: Repository, args: argparse.Namespace) -> Config:
    return command_config(repo, overrides=args.overrides, config_file=args.config)


def _check_names_on_github(
    ruleset: RuleSet, repository: str | None, locate: Locate, findings: list[Finding]
) -> bool:
    """Add a finding for every user or team GitHub does not know; False when not checked."""
    from claudio_ci.github import GitHub, GitHubError

    repository = repository or os.environ.get("GITHUB_REPOSITORY")
    token = os.environ.get("INPUT_TOKEN") or os.environ.get("GITHUB_TOKEN")
    if not repository or not token:
        return False
    api_url = os.environ.get("GITHUB_API_URL") or "https://api.github.com"
    client = GitHub(repository, token=token, api_url=api_url)
    seen: set[str] = set()
    for rule in ruleset.all_rules:
        for reviewer in rule.reviewers:
            if reviewer.key in seen:
                continue
            seen.add(reviewer.key)
            path = _rule_path(rule.pattern)
            try:
                known = _known(client, reviewer)
            except GitHubError as exc:
                message = f"cannot check users and teams with this token: {exc}"
                findings.append(_finding(locate, path, CODE_UNVERIFIED, message))
                return True
            if not known:
                message = f"{reviewer.label}: GitHub knows no such {reviewer.kind.value} here"
                hint = f"reviewers must be collaborators or teams of {client.owner} with access"
                findings.append(_finding(locate, path, CODE_UNKNOWN, message, Severity.ERROR, hint))
    return True


def _known(client: GitHub, reviewer: Reviewer) -> bool:
    if reviewer.kind is Kind.TEAM:
        same_org = reviewer.org is not None and reviewer.org.lower() == client.owner.lower()
        return same_org and client.team_exists(reviewer.org, reviewer.name)
    if client.is_collaborator(reviewer.name):
        return True
    return reviewer.kind is Kind.USER_OR_TEAM and client.team_exists(client.owner, reviewer.name)


# --- configuration positions --------------------------------------------------------------------


def _section(config: Config) -> dict[str, Any]:
    return config.get(".".join(SECTION)) or {}


def _rule_path(pattern: str) -> list[str]:
    return ["default"] if pattern == DEFAULT_RULE else ["by_path", pattern]


def _defines(data: Any, path: Sequence[str | int]) -> bool:
    node = data
    for part in path:
        in_mapping = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if not (in_mapping or in_list):
            return False
        node = node[part]
    return True


def _locator(config: Config) -> Locate:
    """Where a `pr.reviewers` key is set: the last layer that sets it, with its line."""

    def locate(path: Sequence[str | int]) -> tuple[str, int, int]:
        for layer in reversed(config.layers):
            if not _defines(layer.data, path):
                continue
            if layer.document is None:
                return layer.origin([str(p) for p in path]), 0, 0
            line, col = layer.document.position(path, key=True)
            return layer.label, line, col
        return REPO_FILE, 0, 0

    return locate


def _finding(
    locate: Locate,
    path: Sequence[str | int],
    code: str,
    message: str,
    severity: Severity = Severity.NOTICE,
    hint: str | None = None,
) -> Finding:
    where, line, col = locate([*SECTION, *path])
    return Finding(where, code, message, line, col, severity, hint)


# --- output ------------------------------------------------------------------------------------


def _emit(result: Report, output_format: str | None) -> int:
    chosen = output_format or fmt.default_format()
    markdown = _markdown(result)
    if chosen == "json":
        sys.stdout.write(json.dumps(_as_json(result), indent=2) + "\n")
    elif chosen == "markdown":
        sys.stdout.write(markdown)
    else:
        sys.stdout.write(_text(result) + fmt.render(result.findings, chosen))
    fmt.write_step_summary(markdown)
    return fmt.exit_code(result.findings)


def _files(count: int) -> str:
    return f"{count:,} file{'' if count == 1 else 's'}"


def _shorten(items: Sequence[str], shown: int = SHOWN_FILES) -> str:
    if len(items) <= shown:
        return ", ".join(items)
    return f"{', '.join(items[:shown])} and {len(items) - shown:,} more"


def _text(result: Report) -> str:
    lines = [result.heading]
    if result.files is not None:
        width = max((len(path) for path in result.files), default=0)
        for path, rules in result.files.items():
            routed = "; ".join(
                f"{r.pattern} -> {', '.join(x.label for x in r.reviewers) or 'nobody'}"
                for r in rules
            )
            lines.append(f"  {path:<{width}}  {routed or 'no rule'}")
        lines.append(f"Would ask: {', '.join(result.users + result.teams) or 'nobody'}")
    if not result.rows:
        lines.append("  no reviewer: no rule matched and pr.reviewers.default is empty")
    width = max((len(row.reviewer.label) for row in result.rows), default=0)
    status_width = max((len(row.status) for row in result.rows), default=0)
    for row in result.rows:
        files = f" ({_shorten(row.files)})" if row.files else ""
        lines.append(
            f"  {row.reviewer.label:<{width}}  {row.status:<{status_width}}  "
            f"{', '.join(row.rules)}{files}"
        )
    return "\n".join(lines) + "\n"


def _markdown(result: Report) -> str:
    cell = fmt.markdown_cell
    rows = [f"### {TITLE}", "", cell(result.heading), ""]
    if result.rows:
        rows += ["| Reviewer | Status | Rules that matched | Files |", "|---|---|---|---|"]
        for row in result.rows:
            rules = ", ".join(f"`{cell(r)}`" for r in row.rules)
            files = _shorten([f"`{cell(f)}`" for f in row.files]) or "every pull request"
            rows.append(
                f"| `{cell(row.reviewer.label)}` | {cell(row.status)} | {rules} | {files} |"
            )
    else:
        rows.append("No reviewer: no rule matched and `pr.reviewers.default` is empty.")
    text = "\n".join(rows) + "\n"
    notes = [f for f in result.findings if f.code != CODE_REQUESTED]  # the table says it
    if notes:
        text += "\n" + fmt.render_markdown(notes, "Notes").replace("### Notes", "#### Notes")
    return text


def _as_json(result: Report) -> dict[str, Any]:
    data: dict[str, Any] = {
        "heading": result.heading,
        "api_calls": result.api_calls,
        "users": result.users,
        "teams": result.teams,
        "reviewers": [
            {
                "reviewer": row.reviewer.label,
                "kind": row.reviewer.kind.value,
                "status": row.status,
                "rules": row.rules,
                "files": row.files,
            }
            for row in result.rows
        ],
        "findings": [f.to_dict() for f in fmt.sort_findings(result.findings)],
    }
    if result.files is not None:
        data["files"] = {path: [r.pattern for r in rules] for path, rules in result.files.items()}
    return data
