"""Every finding code, once: its default severity, what it means and the way out.

The single source for `claudio-ci explain CODE` and for the README's code tables (which
`tests/core/test_codes.py` checks against it, as it checks that every code the sources emit is
here). `python -m claudio_ci.core.codes --readme` prints the tables as Markdown.

To add a code, add two lines in its family below: `CODE severity summary`, then an indented
`hint:` line (the way out a user takes, in general; a finding's own hint may be more exact).
The severity is the default: some checks raise or lower it by configuration (for example
`conflicts.fail_on` or `notebooks.ipynb_tracked`).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from claudio_ci.core.findings import Severity

CODE_PATTERN = re.compile(r"\b(?:CFG|NB|CR|EXP|WT|REV|SMK|GPU)\d{3}\b")

# Family prefix: (what it covers, the README section that holds its table).
FAMILIES = {
    "CFG": ("configuration files and flags", "Configuration"),
    "NB": ("notebooks paired with jupytext, and in sync", "jupytext-pairing"),
    "CR": ("conflict risk between parallel worktrees, branches and PRs", "conflict-risk"),
    "EXP": ("experiment configs", "experiment-config"),
    "WT": ("worktree setup", "Worktree setup and plain git hooks"),
    "REV": ("reviewers by changed path", "actions/assign-reviewers"),
    "SMK": ("the training smoke test", "actions/smoke-test"),
    "GPU": ("GPU cost per branch", "actions/gpu-cost"),
}

_TABLE = """
CFG001 error   a configuration file cannot be read or is not valid YAML
       hint:   fix the file at the line shown; `claudio-ci config validate` lists every problem
CFG002 error   a key appears twice in a configuration file
       hint:   keep one of the two; YAML readers silently keep the last
CFG003 error   a configuration value breaks the schema (or a --set is malformed)
       hint:   `claudio-ci config schema` shows what each key takes
CFG004 warning unknown configuration key (a typo?); ignored
       hint:   the hint names the nearest known key; `claudio-ci config schema` lists them all
CFG005 notice  a `# claudio-ci: ignore` comment that cannot be read; it silences nothing
       hint:   write `# claudio-ci: ignore[EXP301]` with codes in upper case, as in the config

NB001  error   a notebook without its text twin, or the twin is not added to git
       hint:   `jupytext --sync NOTEBOOK` (or --fix) creates the twin; `git add` it
NB002  error   a text twin without its notebook (notebooks tracked), or it is not added to git
       hint:   --fix creates the notebook; or delete the twin, or allow it: notebooks.allow_unpaired
NB003  error   pairing metadata missing, or different from notebooks.formats
       hint:   `jupytext --set-formats FORMATS NOTEBOOK` (or --fix) records the pairing
NB004  error   notebook and text twin out of sync (a warning when notebooks are not tracked)
       hint:   --fix syncs from the staged or newer file, as `jupytext --sync` would
NB005  error   both members staged and out of sync: which one is the edit is ambiguous
       hint:   keep one: `jupytext --to FORMAT NOTEBOOK` or `jupytext --update --to ipynb TWIN`
NB006  error   a file of the pair cannot be read: not UTF-8, not JSON, not nbformat 4, invalid
       hint:   the message points at the line; restore the file from git if it is damaged
NB007  error   code cells with outputs while notebooks.strip_outputs is true
       hint:   --fix clears outputs and execution counts (so does nbstripout)
NB008  error   a notebook is in git while notebooks.ipynb_tracked is false
       hint:   `git rm --cached NOTEBOOK` and add *.ipynb to .gitignore
NB009  error   a notebook or twin larger than notebooks.max_file_mb: reported, not read
       hint:   strip its outputs (nbstripout), or raise notebooks.max_file_mb

CR001  error   a high-risk file also changed in a sibling worktree, branch or PR
       hint:   agree with the other branch who changes it, or merge theirs first
CR002  error   a single_writer file also changed elsewhere
       hint:   only one branch at a time may change it: coordinate, or rebase on theirs
CR003  warning a file also changed elsewhere, and the merge would conflict
       hint:   the message names the other branch; merge or rebase on it before it grows
CR004  notice  a file also changed elsewhere; the merge is clean or not predicted
       hint:   nothing to do now; worth a look before merging
CR005  notice  a low-risk file also changed elsewhere
       hint:   nothing to do; listed so the overlap is known
CR101  notice  a sibling worktree is unreachable: only its commits were compared
       hint:   `git worktree prune` if it is gone; unlock or remount it otherwise
CR102  notice  a sibling or branch was not compared (no common history, shallow clone, no commit)
       hint:   fetch with full history (`git fetch --unshallow`) to compare it
CR103  notice  this branch has no commit yet: there is no fork point to compare from
       hint:   commit once; later commits are compared
CR104  notice  the other open pull requests could not be compared (--pr)
       hint:   check the token's pull-request read permission and the network
CR105  notice  a sibling's untracked files over conflicts.untracked_max_mb were left out
       hint:   nothing to do for a checkpoint or data dump; raise the limit to compare such files

EXP001 error   YAML syntax error (tabs, bad tags, unclosed quotes)
       hint:   fix the syntax at the line shown
EXP002 error   a key appears twice in the experiment config
       hint:   keep one; YAML readers silently keep the last
EXP003 error   several YAML documents in one experiment config
       hint:   one experiment per file: split the documents into files
EXP004 error   file too large, or an alias bomb
       hint:   an experiment config is small: remove the repeated aliases or the bulk data
EXP005 error   the file is not UTF-8
       hint:   save it as UTF-8
EXP006 error   the file is not a mapping
       hint:   start from an existing experiment: top-level `model:`, `training:` and `output:`
EXP007 error   not a readable regular file (a directory, FIFO or dangling link)
       hint:   replace it with a regular file, or remove it from the experiment globs
EXP101 error   the file name breaks experiments.name_pattern
       hint:   rename the file (and its name key) to match the pattern
EXP102 error   the experiment name is reserved
       hint:   rename the file and its name key; tools use these names for other things
EXP103 error   the name key is missing or empty
       hint:   add the name key, holding the file's stem
EXP104 error   the name key differs from the file stem (fixable)
       hint:   --fix sets the name key to the file's stem; or rename the file
EXP105 error   two files define one experiment name
       hint:   give each experiment its own name: rename one of the files and its name key
EXP201 error   the config breaks the experiment schema (the message gives the JSON path)
       hint:   the message says what the schema requires at that path
EXP202 warning a number PyYAML reads as a string (`1e-3`)
       hint:   write it with a dot (`1.0e-3`) and without quotes, so every YAML reader sees a number
EXP203 error   NaN or infinity in a config
       hint:   write a finite number: NaN and infinity break comparisons and experiment trackers
EXP301 error   ${...} refers to nothing
       hint:   fix the dotted path, or define the value it refers to
EXP302 error   malformed ${...}
       hint:   close the braces; write \\${ for a literal ${
EXP303 error   circular ${...} references
       hint:   break the cycle: one of the values must not refer back
EXP304 warning ${...} inside a string refers to a mapping or list
       hint:   refer to a scalar, or make the whole value the reference
EXP305 notice  a resolver (`${oc.env:X}`) is noted, not checked
       hint:   nothing to do; its value depends on the machine that runs the experiment
EXP306 warning ${...} refers to a mandatory `???` value
       hint:   set the value in the file, or pass it when launching (key=value)
EXP307 error   ${...} OmegaConf refuses: a key from a non-string value, an oc.* resolver misused
       hint:   build keys from string values; give an oc.* resolver the arguments it takes
EXP308 error   the experiment cannot be composed (Hydra mode, or a `_BASE_` config)
       hint:   fix the defaults list or the _BASE_ it names; Hydra's own message says where
EXP401 error   output directory shared with another config in this worktree
       hint:   put ${experiment_name} in the output directory, so every experiment has its own
EXP402 warning output directory not parameterised by ${experiment_name}
       hint:   put ${experiment_name} in the output directory, so a copied config writes elsewhere
EXP501 error   the same experiment name added with different content in a sibling worktree or branch
       hint:   rename one of them (file and name key) before merging, or make both identical
EXP502 error   output directory shared with a sibling's new experiment
       hint:   put ${experiment_name} in the output directory, so every experiment has its own
EXP503 warning a sibling worktree's experiment configs could not be read
       hint:   `git worktree prune` if the worktree is gone; otherwise check it by hand

WT001  warning the shared-data target does not exist (the link is made anyway)
       hint:   create or mount the target, or fix worktree.shared_data
WT002  warning the link path exists and is not that link (kept as is)
       hint:   move the file or directory away and run `claudio-ci worktree setup` again
WT003  warning a directory path exists as a file (kept as is)
       hint:   move the file away and run `claudio-ci worktree setup` again
WT004  warning no free Jupyter port in worktree.jupyter_ports
       hint:   widen worktree.jupyter_ports, or prune worktrees that are gone (`git worktree prune`)
WT005  warning the env file or info/exclude was not updated: tracked, a symlink, or a damaged block
       hint:   the message names the file; untrack it, or repair its claudio-ci block
WT006  error   a setup command failed
       hint:   the command's output is shown; fix it and run `claudio-ci worktree setup` again
WT007  error   the setup commands ran past setup_timeout_seconds and were stopped
       hint:   make them faster, or raise worktree.setup_timeout_seconds
WT008  notice  the repository's setup commands were not run: its configuration is not approved
       hint:   review them with `claudio-ci worktree allow`, which approves that exact content
WT009  warning a directory, link or env file path leads outside the worktree through a symlink
       hint:   a committed symlink must not redirect setup: remove it or change the setting

REV001 error   invalid path pattern in pr.reviewers
       hint:   patterns are CODEOWNERS globs: fix the pattern at the line shown
REV002 error   invalid reviewer name
       hint:   write a user as `name` and a team as `org/team`
REV003 warning files beyond GitHub's 3,000-file cap are not routed
       hint:   split the pull request, or review the hidden files by hand
REV004 warning GitHub refused a reviewer
       hint:   reviewers must be collaborators, or teams of the repository's owner with access
REV005 notice  read-only token: nobody was requested
       hint:   give the workflow `pull-requests: write`; PRs from forks get a read-only token
REV006 notice  the pull request was skipped (closed, draft or a title keyword)
       hint:   nothing to do; it is routed when it is ready
REV007 warning a team of another organization cannot review here
       hint:   use a team of the repository's own organization
REV008 notice  reviews requested
       hint:   nothing to do
REV009 notice  no rules file at the base commit: nobody requested
       hint:   commit .claudio.yaml with pr.reviewers on the base branch
REV010 error   a CODEOWNERS line GitHub skips (invalid pattern or owner)
       hint:   fix the line shown: GitHub ignores the whole line, so its files lose those owners
REV011 warning teams refused to this token (no read:org): users were still requested
       hint:   pass a GitHub App token or a PAT with read:org through the action's `token:` input
REV101 warning `validate`: a pattern matches no tracked file
       hint:   fix the pattern, or remove the rule
REV102 warning `validate`: a pattern is shadowed by later rules
       hint:   reorder the rules (the last match wins) or remove the shadowed one
REV103 error   `validate`: GitHub does not know a reviewer
       hint:   fix the name: users by login, teams as `org/team-slug`
REV104 warning `validate`: a group is never used
       hint:   use the group in a rule, or remove it
REV105 notice  `validate`: reviewers could not be checked with GitHub
       hint:   pass a token (GITHUB_TOKEN) and --repo to check names
REV201 warning `codeowners`: a bare name is written as a user
       hint:   if it is a team, write it `org/team` in .claudio.yaml
REV202 notice  `codeowners`: a pattern CODEOWNERS cannot express; its files are listed one by one
       hint:   nothing to do; a simpler pattern keeps CODEOWNERS short
REV203 error   `codeowners --check`: the CODEOWNERS file is stale
       hint:   run `claudio-ci reviewers codeowners` and commit the result
REV204 error   `codeowners`: the CODEOWNERS file was written by hand and is not overwritten
       hint:   set pr.reviewers.codeowners: true to route by it, or pass --force to replace it

SMK001 error   the training command failed (annotated at the failing line)
       hint:   the message shows the command to reproduce it locally
SMK002 error   the training timed out; its process tree was stopped
       hint:   shrink the smoke config (fewer steps, a smaller model), or raise timeout_seconds
SMK003 error   the process tree went over max_memory_mb
       hint:   a smaller batch or model, fewer DataLoader workers, or a higher max_memory_mb
SMK004 warning the training left processes running (stopped)
       hint:   join or terminate worker processes before exiting (DataLoader workers, pools)
SMK005 error   a smoke_test.configs glob matches no file
       hint:   fix the glob (relative to the repository root), or remove it
SMK101 error   metrics missing anywhere it looked, or left by an earlier run
       hint:   save them at smoke_test.metrics_path, or point that setting at where they land
SMK102 error   the metrics are not readable (damaged JSON/CSV/event file, too deep, too large)
       hint:   the message names the file and the reason (event files: the tensorboard extra)
SMK103 error   NaN or infinity in the metrics
       hint:   the loss diverged: lower the learning rate, clip gradients, look for NaN inputs
SMK104 error   the loss rose
       hint:   often a too high learning rate or a sign error; loss_tolerance sets what is noise
SMK105 notice  no loss found in the metrics or the log: the loss trend is not checked
       hint:   set smoke_test.loss_key (or loss_pattern) to the name your trainer logs it under
SMK201 error   checkpoint missing, or left by an earlier run
       hint:   save it at smoke_test.checkpoint_path, or point that setting at where it lands
SMK202 error   the checkpoint does not load
       hint:   save state_dict() (loads with weights_only=True), or set trusted_checkpoints: true
SMK203 error   NaN or infinite weights in the checkpoint
       hint:   training diverged before the checkpoint was saved
SMK301 error   the import check failed
       hint:   run the import shown in the project root to see the same error

GPU001 error   a branch's GPU cost is over resources.cost_limit
       hint:   stop or shorten runs on this branch, or raise resources.cost_limit
GPU002 warning a branch's GPU cost is over resources.cost_warning_threshold
       hint:   review the runs in `claudio-ci gpu report`; raise the threshold if this is expected
GPU003 notice  a GPU model has no hourly rate: its time is counted at $0
       hint:   set gpu.hourly_rates for the model, or gpu.default_hourly_rate
GPU004 notice  energy not measurable for some runs (MIG, or no counter and no power reading)
       hint:   nothing to do; time and cost are still counted
GPU005 notice  runs that did not finish (killed, or still running)
       hint:   their figures stop at their last sample
GPU006 warning the token comments as another bot than assumed: its comment is not found again
       hint:   set the gpu-cost action's comment-author input (gpu comment --author) to it
"""


@dataclass(frozen=True)
class Code:
    code: str
    severity: Severity
    summary: str
    hint: str

    @property
    def family(self) -> str:
        return self.code.rstrip("0123456789")


def _parse(table: str) -> dict[str, Code]:
    codes: dict[str, Code] = {}
    entry: list[str] = []
    for line in table.splitlines():
        if line.startswith(" ") and line.split(maxsplit=1)[0] == "hint:":
            code, severity, summary = entry
            codes[code] = Code(code, Severity[severity.upper()], summary, line.split(None, 1)[1])
        elif line.strip():
            entry = line.split(maxsplit=2)
    return codes


CODES = _parse(_TABLE)


def lookup(code: str) -> Code | None:
    return CODES.get(code.strip().upper())


def explain(entry: Code) -> str:
    """What `claudio-ci explain CODE` prints."""
    about, where = FAMILIES[entry.family]
    return (
        f"{entry.code} ({entry.severity.label} by default): {entry.summary}\n"
        f"hint: {entry.hint}\n"
        f"family: {entry.family}, {about}; documented under {where} in the README\n"
    )


def markdown_table(family: str) -> str:
    """The README's table for one family, as the registry has it."""
    rows = ["| code | severity | meaning | hint |", "|---|---|---|---|"]
    rows += [
        f"| `{c.code}` | {c.severity.label} | {_cell(c.summary)} | {_cell(c.hint)} |"
        for c in CODES.values()
        if c.family == family
    ]
    return "\n".join(rows) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m claudio_ci.core.codes", description="Print the code registry."
    )
    parser.add_argument("--readme", action="store_true", help="as the README's Markdown tables")
    args = parser.parse_args(argv)
    if args.readme:
        text = "".join(
            f"\n`{f}`: {about}\n\n{markdown_table(f)}" for f, (about, _) in FAMILIES.items()
        )
    else:
        text = "".join(f"{c.code:<7} {c.severity.label:<8} {c.summary}\n" for c in CODES.values())
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head` stopped reading: not an error (as in cli.main)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
