"""`claudio-ci smoke-test`: one short CPU training run per experiment, checked.

Exit 0 when every experiment passed, 1 when a check failed, 2 for a usage or configuration
error (an unknown experiment, a command that cannot start, a bad `smoke_test` section).
"""

from __future__ import annotations

import argparse
import json
import sys

from claudio_ci.adapters.actions_env import ActionsEnv
from claudio_ci.adapters.git import discover
from claudio_ci.check import command_config, show
from claudio_ci.core import findings as fmt
from claudio_ci.core.config import Config
from claudio_ci.core.errors import ConfigError
from claudio_ci.core.findings import Finding, markdown_code
from claudio_ci.core.report import Cell, Text
from claudio_ci.smoke import plan, report
from claudio_ci.smoke import rules as smoke
from claudio_ci.smoke.runner import StartError
from claudio_ci.smoke.session import ExperimentResult, import_check, run_experiment


def default_base(env: ActionsEnv) -> str:
    """The PR's base branch on GitHub (`origin/<base>`), else `main`."""
    base = env.base_ref
    return f"origin/{base}" if base else "main"


def _configured_at(config: Config, key: str) -> tuple[str, int]:
    origin = config.origin(key)
    return origin.path, origin.line


def _emit_matrix(jobs: list[plan.Job], env: ActionsEnv) -> int:
    text = json.dumps(plan.matrix(jobs), separators=(",", ":"))
    print(text)
    env.set_output("matrix", text)
    env.set_output("count", str(len(jobs)))
    return 0


def run(args: argparse.Namespace) -> int:
    repo = discover()
    config = command_config(
        repo,
        overrides=args.overrides,
        config_file=args.config,
        flag_values={"smoke_test.timeout_seconds": args.timeout},
    )
    settings = plan.Settings.from_config(config, repo.root)
    env = ActionsEnv()
    base = args.base or default_base(env)
    configs = plan.select_configs(
        repo,
        config,
        settings,
        names=args.experiment or (),
        changed_only=args.changed_only,
        every=args.all,
        base=base,
    )
    jobs = [settings.job(path) for path in configs]
    if args.matrix:
        return _emit_matrix(jobs, env)
    chosen = args.format or env.default_format
    findings: list[Finding] = list(config.warnings)
    if not args.experiment:
        where = _configured_at(config, "smoke_test.configs")
        findings += [smoke.glob_matches_nothing(p, where) for p in plan.unmatched_globs(settings)]
    notes: list[Cell] = []
    if not jobs:
        why = (
            f"no experiment config, nor shared code, changed since {base}"
            if args.changed_only
            else "smoke_test.configs matches no file"
        )
        notes.append(f"No experiment to smoke-test: {why}.")
    elif settings.import_check:
        spec = settings.import_check
        found = import_check(settings, spec, _configured_at(config, "smoke_test.import_check"))
        findings += found
        verdict = "failed" if found else "passed"
        notes.append(
            Text(
                f"Import check `{spec}`: {verdict}.",
                f"Import check {markdown_code(spec, table=False)}: {verdict}.",
            )
        )
    machine = chosen in ("json", "markdown")
    live = report.LiveLog(sys.stderr.buffer if machine else sys.stdout.buffer, chosen == "github")
    results = [_run_one(job, settings, live) for job in jobs]
    findings += [f for result in results for f in result.findings]
    code = fmt.exit_code(findings)
    show(report.as_report(results, findings, notes, passed=code == 0), chosen, env=env)
    return code


def _run_one(job: plan.Job, settings: plan.Settings, live: report.LiveLog) -> ExperimentResult:
    live.begin(job)
    try:
        result = run_experiment(job, settings, echo=live.write)
    except StartError as exc:
        raise ConfigError(f"smoke_test.command: {exc}") from None
    live.end(result)
    return result
