"""Every finding code, once: its default severity, what it means and the way out.

The single source for the modules that report a code (they import its constant:
`from claudio_ci.core.codes import NB004`), for `claudio-ci explain CODE`, for the code list
in each command's `--help`, and for the README's code tables, which
`python -m claudio_ci.core.codes --update README.md` rewrites between their
`<!-- codes:FAMILY:start -->` and `<!-- codes:FAMILY:end -->` markers.
`tests/core/test_codes.py` keeps all of them in step.

To add a code, add its constant in its family below: `Code(code, default severity, summary,
hint=the way out a user takes, in general (a finding's own hint may be more exact),
details=optional further explanation for the README and `explain`)`, then report it from its
module and run the command above. The severity is the default: some checks raise or lower it
by configuration (for example `conflicts.fail_on` or `notebooks.ipynb_tracked`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from typing import NamedTuple

from claudio_ci.core.findings import Severity


class Family(NamedTuple):
    about: str  # what its codes are about
    section: str  # the README section that holds its table
    command: str  # the command whose `--help` lists its codes


FAMILIES = {
    "CFG": Family("configuration files and flags", "Configuration", "config validate"),
    "NB": Family(
        "notebooks paired with jupytext, and in sync", "jupytext-pairing", "check notebooks"
    ),
    "CR": Family(
        "conflict risk between parallel worktrees, branches and PRs",
        "conflict-risk",
        "check conflicts",
    ),
    "EXP": Family("experiment configs", "experiment-config", "check experiments"),
    "WT": Family("worktree setup", "Worktree setup and plain git hooks", "worktree setup"),
    "REV": Family("reviewers by changed path", "actions/assign-reviewers", "reviewers"),
    "SMK": Family("the training smoke test", "actions/smoke-test", "smoke-test"),
    "GPU": Family("GPU cost per branch", "actions/gpu-cost", "gpu"),
}

CODE_PATTERN = re.compile(rf"\b(?:{'|'.join(FAMILIES)})\d{{3}}\b")

ERROR, WARNING, NOTICE = Severity.ERROR, Severity.WARNING, Severity.NOTICE


class Code(str):
    """A finding code: the string a user sees, greps and suppresses (`NB004`), carrying its
    registry entry. A `str`, so that a `Finding` holds it as its code and compares, hashes
    and serialises it as the plain string."""

    severity: Severity
    summary: str
    hint: str
    details: str

    def __new__(
        cls, code: str, severity: Severity, summary: str, *, hint: str, details: str = ""
    ) -> Code:
        entry = super().__new__(cls, code)
        entry.severity, entry.summary, entry.hint, entry.details = severity, summary, hint, details
        return entry

    def __reduce__(self) -> tuple[object, tuple[str]]:
        """Pickled by name (findings cross process boundaries): the registry's own entry."""
        return _registered, (str(self),)

    @property
    def family(self) -> str:
        return self.rstrip("0123456789")


# --- CFG: configuration files and flags ---------------------------------------------------

CFG001 = Code(
    "CFG001",
    ERROR,
    "a configuration file cannot be read or is not valid YAML",
    hint="fix the file at the line shown; `claudio-ci config validate` lists every problem",
)
CFG002 = Code(
    "CFG002",
    ERROR,
    "a key appears twice in a configuration file",
    hint="keep one of the two; YAML readers silently keep the last",
)
CFG003 = Code(
    "CFG003",
    ERROR,
    "a configuration value breaks the schema (or a --set is malformed)",
    hint="`claudio-ci config schema` shows what each key takes",
)
CFG004 = Code(
    "CFG004",
    WARNING,
    "unknown configuration key (a typo?); ignored",
    hint="the hint names the nearest known key; `claudio-ci config schema` lists them all",
)
CFG005 = Code(
    "CFG005",
    NOTICE,
    "a `# claudio-ci: ignore` comment that cannot be read; it silences nothing",
    hint="write `# claudio-ci: ignore[EXP301]` with codes in upper case, as in the config",
)

# --- NB: notebooks paired with jupytext, and in sync --------------------------------------

NB001 = Code(
    "NB001",
    ERROR,
    "a notebook without its text twin, or the twin is not added to git",
    hint="`jupytext --sync NOTEBOOK` (or --fix) creates the twin; `git add` it",
)
NB002 = Code(
    "NB002",
    ERROR,
    "a text twin without its notebook (notebooks tracked), or it is not added to git",
    hint="--fix creates the notebook; or delete the twin, or allow it: notebooks.allow_unpaired",
)
NB003 = Code(
    "NB003",
    ERROR,
    "pairing metadata missing, or different from `notebooks.formats`",
    hint="`jupytext --set-formats FORMATS NOTEBOOK` (or --fix) records the pairing",
)
NB004 = Code(
    "NB004",
    ERROR,
    "notebook and text twin out of sync (a warning when notebooks are not tracked)",
    hint="--fix syncs from the staged or newer file, as `jupytext --sync` would",
    details=(
        "`jupytext --sync` would rewrite one. The first differing cell is named, and the "
        "finding points at its line."
    ),
)
NB005 = Code(
    "NB005",
    ERROR,
    "both members changed since the last commit and out of sync: --fix will not choose",
    hint="keep one: `jupytext --to FORMAT NOTEBOOK` or `jupytext --update --to ipynb TWIN`",
    details=(
        "Changed means staged, unstaged or new, either one; the hint says how to keep one. A "
        "file that is byte for byte what jupytext writes from the other is not an edit of its "
        "own (a notebook `jupytext --sync` just wrote from the text), nor is a new text that "
        "holds nothing the notebook lacks, or that reads back as what jupytext writes from "
        "the notebook (a pair `jupytext --set-formats` just wrote, even where the format's "
        "round trip changes cells, as MyST drops a markdown cell's trailing blank lines): the "
        "other is the source."
    ),
)
NB006 = Code(
    "NB006",
    ERROR,
    "a file of the pair cannot be read: not UTF-8, not JSON, not nbformat 4, invalid",
    hint="the message points at the line; restore the file from git if it is damaged",
    details=(
        "The finding gives a JSON error's line and column. Invalid means a validation error "
        "Jupyter also reports, judged as nbformat's reader upgrades the notebook (4.0-4.4 "
        "notebooks with cell ids are valid); a UTF-8 BOM and nbformat 3 are refused too."
    ),
)
NB007 = Code(
    "NB007",
    ERROR,
    "code cells with outputs while `notebooks.strip_outputs` is true",
    hint="--fix clears outputs and execution counts (so does nbstripout)",
)
NB008 = Code(
    "NB008",
    ERROR,
    "a notebook is in git while `notebooks.ipynb_tracked` is false",
    hint="`git rm --cached NOTEBOOK` and add `*.ipynb` to .gitignore",
)
NB009 = Code(
    "NB009",
    ERROR,
    "a notebook or twin larger than `notebooks.max_file_mb`: reported, not read",
    hint="strip its outputs (nbstripout), or raise notebooks.max_file_mb",
)

# --- CR: conflict risk between parallel worktrees, branches and PRs -----------------------

CR001 = Code(
    "CR001",
    ERROR,
    "a high-risk file also changed in a sibling worktree, branch or PR",
    hint="agree with the other branch who changes it, or merge theirs first",
    details="The message gives the merge git predicts.",
)
CR002 = Code(
    "CR002",
    ERROR,
    "a `single_writer` file also changed elsewhere",
    hint="only one branch at a time may change it: coordinate, or rebase on theirs",
)
CR003 = Code(
    "CR003",
    WARNING,
    "a file also changed elsewhere, and the merge would conflict",
    hint="the message names the other branch; merge or rebase on it before it grows",
)
CR004 = Code(
    "CR004",
    NOTICE,
    "a file also changed elsewhere; the merge is clean or not predicted",
    hint="nothing to do now; worth a look before merging",
)
CR005 = Code(
    "CR005",
    NOTICE,
    "a low-risk file also changed elsewhere",
    hint="nothing to do; listed so the overlap is known",
)
CR101 = Code(
    "CR101",
    NOTICE,
    (
        "a sibling worktree is unreachable (prunable, or locked and missing): only its "
        "commits were compared"
    ),
    hint="`git worktree prune` if it is gone; unlock or remount it otherwise",
)
CR102 = Code(
    "CR102",
    NOTICE,
    "a sibling or branch was not compared (no common history, shallow clone, no commit yet)",
    hint="fetch with full history (`git fetch --unshallow`) to compare it",
)
CR103 = Code(
    "CR103",
    NOTICE,
    "this branch has no commit yet: there is no fork point to compare from",
    hint="commit once; later commits are compared",
)
CR104 = Code(
    "CR104",
    NOTICE,
    "the other open pull requests could not be compared (--pr)",
    hint="check the token's pull-request read permission and the network",
)
CR105 = Code(
    "CR105",
    NOTICE,
    "a sibling's untracked files over `conflicts.untracked_max_mb` were left out of its prediction",
    hint="nothing to do for a checkpoint or data dump; raise the limit to compare such files",
)

# --- EXP: experiment configs --------------------------------------------------------------

EXP001 = Code(
    "EXP001",
    ERROR,
    "YAML syntax error (tabs, bad tags, unclosed quotes)",
    hint="fix the syntax at the line shown",
)
EXP002 = Code(
    "EXP002",
    ERROR,
    "a key appears twice in the experiment config",
    hint="keep one; YAML readers silently keep the last",
)
EXP003 = Code(
    "EXP003",
    ERROR,
    "several YAML documents in one experiment config",
    hint="one experiment per file: split the documents into files",
)
EXP004 = Code(
    "EXP004",
    ERROR,
    "file too large, or an alias bomb, or nested too deep",
    hint="an experiment config is small: remove the repeated aliases or the bulk data",
)
EXP005 = Code("EXP005", ERROR, "the file is not UTF-8", hint="save it as UTF-8")
EXP006 = Code(
    "EXP006",
    ERROR,
    "the file is not a mapping (empty, a list)",
    hint="start from an existing experiment: top-level `model:`, `training:` and `output:`",
)
EXP007 = Code(
    "EXP007",
    ERROR,
    "not a readable regular file (a directory, FIFO or dangling link)",
    hint="replace it with a regular file, or remove it from the experiment globs",
)
EXP101 = Code(
    "EXP101",
    ERROR,
    "the file name breaks `experiments.name_pattern` (snake_case by default)",
    hint="rename the file (and its name key) to match the pattern",
)
EXP102 = Code(
    "EXP102",
    ERROR,
    "the experiment name is reserved",
    hint="rename the file and its name key; tools use these names for other things",
)
EXP103 = Code(
    "EXP103",
    ERROR,
    "the name key is missing or empty",
    hint="add the name key, holding the file's stem",
)
EXP104 = Code(
    "EXP104",
    ERROR,
    "the name key differs from the file stem (fixable)",
    hint="--fix sets the name key to the file's stem; or rename the file",
)
EXP105 = Code(
    "EXP105",
    ERROR,
    "two files define one experiment name",
    hint="give each experiment its own name: rename one of the files and its name key",
)
EXP201 = Code(
    "EXP201",
    ERROR,
    "the config breaks the experiment schema (the message gives the JSON path)",
    hint="the message says what the schema requires at that path",
    details="For example `$.training.epochs: must be greater than 0, got -1`.",
)
EXP202 = Code(
    "EXP202",
    WARNING,
    "a number PyYAML reads as a string (`1e-3`)",
    hint="write it with a dot (`1.0e-3`) and without quotes, so every YAML reader sees a number",
)
EXP203 = Code(
    "EXP203",
    ERROR,
    "NaN or infinity (`.nan`, `.inf`) in a config",
    hint="write a finite number: NaN and infinity break comparisons and experiment trackers",
)
EXP301 = Code(
    "EXP301",
    ERROR,
    "${...} refers to nothing",
    hint="fix the dotted path, or define the value it refers to",
)
EXP302 = Code(
    "EXP302",
    ERROR,
    "malformed ${...} (OmegaConf's grammar)",
    hint="close the braces; write `\\${` for a literal `${`",
)
EXP303 = Code(
    "EXP303",
    ERROR,
    "circular ${...} references (or one to its own parent)",
    hint="break the cycle: one of the values must not refer back",
)
EXP304 = Code(
    "EXP304",
    WARNING,
    "${...} inside a string refers to a mapping or list: OmegaConf writes its raw text",
    hint="refer to a scalar, or make the whole value the reference",
)
EXP305 = Code(
    "EXP305",
    NOTICE,
    "a resolver (`${oc.env:X}`, `${now:...}`) is noted, its value not checked",
    hint="nothing to do; its value depends on the machine that runs the experiment",
)
EXP306 = Code(
    "EXP306",
    WARNING,
    "${...} refers to a mandatory `???` value: it must be set at launch",
    hint="set the value in the file, or pass it when launching (key=value)",
)
EXP307 = Code(
    "EXP307",
    ERROR,
    "${...} OmegaConf refuses: a key from a non-string value, an oc.* resolver misused",
    hint="build keys from string values; give an oc.* resolver the arguments it takes",
    details=(
        "For example `${a.${n}}` with `n: 1` (a key built from a value that is not a string), "
        "`${oc.dict.keys:missing}` or `${oc.select:}`."
    ),
)
EXP308 = Code(
    "EXP308",
    ERROR,
    "the experiment cannot be composed (Hydra mode, or a `_BASE_` config)",
    hint="fix the defaults list or the _BASE_ it names; Hydra's own message says where",
    details="Hydra's composition fails, or a `_BASE_` is missing, unreadable or circular.",
)
EXP401 = Code(
    "EXP401",
    ERROR,
    "output directory shared with another config in this worktree",
    hint="put ${experiment_name} in the output directory, so every experiment has its own",
)
EXP402 = Code(
    "EXP402",
    WARNING,
    "output directory not parameterised by `${experiment_name}`",
    hint="put ${experiment_name} in the output directory, so a copied config writes elsewhere",
)
EXP501 = Code(
    "EXP501",
    ERROR,
    "the same experiment name added with different content in a sibling worktree or branch",
    hint="rename one of them (file and name key) before merging, or make both identical",
)
EXP502 = Code(
    "EXP502",
    ERROR,
    "output directory shared with a sibling's new experiment",
    hint="put ${experiment_name} in the output directory, so every experiment has its own",
)
EXP503 = Code(
    "EXP503",
    WARNING,
    "a sibling worktree's experiment configs could not be read",
    hint="`git worktree prune` if the worktree is gone; otherwise check it by hand",
)

# --- WT: worktree setup -------------------------------------------------------------------

WT001 = Code(
    "WT001",
    WARNING,
    "the shared-data target does not exist (the link is made anyway)",
    hint="create or mount the target, or fix worktree.shared_data",
)
WT002 = Code(
    "WT002",
    WARNING,
    "the link path exists and is not that link (kept as is)",
    hint="move the file or directory away and run `claudio-ci worktree setup` again",
)
WT003 = Code(
    "WT003",
    WARNING,
    "a directory path exists as a file (kept as is)",
    hint="move the file away and run `claudio-ci worktree setup` again",
)
WT004 = Code(
    "WT004",
    WARNING,
    "no free Jupyter port in `worktree.jupyter_ports`",
    hint="widen worktree.jupyter_ports, or prune worktrees that are gone (`git worktree prune`)",
)
WT005 = Code(
    "WT005",
    WARNING,
    "the env file or `info/exclude` was not updated: tracked, a symlink, or a damaged block",
    hint="the message names the file; untrack it, or repair its claudio-ci block",
)
WT006 = Code(
    "WT006",
    ERROR,
    "a setup command failed",
    hint="the command's output is shown; fix it and run `claudio-ci worktree setup` again",
)
WT007 = Code(
    "WT007",
    ERROR,
    "the setup commands ran past `setup_timeout_seconds` and were stopped",
    hint="make them faster, or raise worktree.setup_timeout_seconds",
)
WT008 = Code(
    "WT008",
    NOTICE,
    "the repository's setup commands were not run: its `.claudio.yaml` is not approved",
    hint="review them with `claudio-ci worktree allow`, which approves that exact content",
)
WT009 = Code(
    "WT009",
    WARNING,
    (
        "a directory, link or env file path leads outside the worktree through a symlink: "
        "nothing is written there"
    ),
    hint="a committed symlink must not redirect setup: remove it or change the setting",
)

# --- REV: reviewers by changed path -------------------------------------------------------

REV001 = Code(
    "REV001",
    ERROR,
    "invalid path pattern or `syntax` in `pr.reviewers`",
    hint="patterns are CODEOWNERS globs: fix the pattern at the line shown",
)
REV002 = Code(
    "REV002",
    ERROR,
    "invalid reviewer name",
    hint="write a user as `name` and a team as `org/team`",
)
REV003 = Code(
    "REV003",
    WARNING,
    "files beyond GitHub's 3,000-file cap are not routed",
    hint="split the pull request, or review the hidden files by hand",
)
REV004 = Code(
    "REV004",
    WARNING,
    "GitHub refused a reviewer",
    hint="reviewers must be collaborators, or teams of the repository's owner with access",
)
REV005 = Code(
    "REV005",
    NOTICE,
    "read-only token: nobody was requested (exit 0)",
    hint="give the workflow `pull-requests: write`; PRs from forks get a read-only token",
)
REV006 = Code(
    "REV006",
    NOTICE,
    "the pull request was skipped (closed, draft or a title keyword)",
    hint="nothing to do; it is routed when it is ready",
)
REV007 = Code(
    "REV007",
    WARNING,
    "a team of another organization cannot review here",
    hint="use a team of the repository's own organization",
)
REV008 = Code("REV008", NOTICE, "reviews requested", hint="nothing to do")
REV009 = Code(
    "REV009",
    NOTICE,
    "no rules file, or no CODEOWNERS file, at the base commit: nobody requested",
    hint="commit .claudio.yaml with pr.reviewers on the base branch",
)
REV010 = Code(
    "REV010",
    ERROR,
    "a CODEOWNERS line GitHub skips (invalid pattern or owner), with its line",
    hint="fix the line shown: GitHub ignores the whole line, so its files lose those owners",
)
REV011 = Code(
    "REV011",
    WARNING,
    "teams refused to this token (no `read:org`): one warning, users were still requested",
    hint="pass a GitHub App token or a PAT with read:org through the action's `token:` input",
)
REV101 = Code(
    "REV101",
    WARNING,
    "`validate`: a pattern matches no tracked file",
    hint="fix the pattern, or remove the rule",
)
REV102 = Code(
    "REV102",
    WARNING,
    "`validate`: a pattern is shadowed by later rules",
    hint="reorder the rules (the last match wins) or remove the shadowed one",
)
REV103 = Code(
    "REV103",
    ERROR,
    "`validate`: GitHub does not know a reviewer",
    hint="fix the name: users by login, teams as `org/team-slug`",
)
REV104 = Code(
    "REV104",
    WARNING,
    "`validate`: a group is never used",
    hint="use the group in a rule, or remove it",
)
REV105 = Code(
    "REV105",
    NOTICE,
    "`validate`: reviewers could not be checked with GitHub",
    hint="pass a token (GITHUB_TOKEN) and --repo to check names",
)
REV201 = Code(
    "REV201",
    WARNING,
    "`codeowners`: a bare name is written as a user",
    hint="if it is a team, write it `org/team` in .claudio.yaml",
)
REV202 = Code(
    "REV202",
    NOTICE,
    "`codeowners`: a pattern CODEOWNERS cannot express; its files are listed one by one",
    hint="nothing to do; a simpler pattern keeps CODEOWNERS short",
)
REV203 = Code(
    "REV203",
    ERROR,
    "`codeowners --check`: the CODEOWNERS file is stale",
    hint="run `claudio-ci reviewers codeowners` and commit the result",
)
REV204 = Code(
    "REV204",
    ERROR,
    "`codeowners`: the CODEOWNERS file was written by hand and is not overwritten",
    hint="set pr.reviewers.codeowners: true to route by it, or pass --force to replace it",
)

# --- SMK: the training smoke test ---------------------------------------------------------

SMK001 = Code(
    "SMK001",
    ERROR,
    "the training command failed (exit code or signal; annotated at the failing line)",
    hint="the message shows the command to reproduce it locally",
)
SMK002 = Code(
    "SMK002",
    ERROR,
    "the training timed out; its process tree was stopped",
    hint="shrink the smoke config (fewer steps, a smaller model), or raise timeout_seconds",
)
SMK003 = Code(
    "SMK003",
    ERROR,
    "the process tree went over `max_memory_mb`",
    hint="a smaller batch or model, fewer DataLoader workers, or a higher max_memory_mb",
)
SMK004 = Code(
    "SMK004",
    WARNING,
    "the training left processes running, daemons that `setsid()` away included (stopped)",
    hint="join or terminate worker processes before exiting (DataLoader workers, pools)",
)
SMK005 = Code(
    "SMK005",
    ERROR,
    "a `smoke_test.configs` glob matches no file",
    hint="fix the glob (relative to the repository root), or remove it",
)
SMK101 = Code(
    "SMK101",
    ERROR,
    "no metrics anywhere it looked (the finding says where), or left by an earlier run",
    hint="save them at smoke_test.metrics_path, or point that setting at where they land",
)
SMK102 = Code(
    "SMK102",
    ERROR,
    "the metrics are not readable (damaged JSON/CSV/event file, too deep, too large, no reader)",
    hint="the message names the file and the reason (event files: the tensorboard extra)",
)
SMK103 = Code(
    "SMK103",
    ERROR,
    "NaN or infinity in the metrics",
    hint="the loss diverged: lower the learning rate, clip gradients, look for NaN inputs",
)
SMK104 = Code(
    "SMK104",
    ERROR,
    "the loss rose",
    hint="often a too high learning rate or a sign error; loss_tolerance sets what is noise",
)
SMK105 = Code(
    "SMK105",
    NOTICE,
    "no loss found in the metrics or the log: the loss trend is not checked",
    hint="set smoke_test.loss_key (or loss_pattern) to the name your trainer logs it under",
    details=(
        "Metrics without one under `loss_key`, or no metrics where they are optional; the "
        "finding names where it looked."
    ),
)
SMK201 = Code(
    "SMK201",
    ERROR,
    "checkpoint missing, or left by an earlier run (stale)",
    hint="save it at smoke_test.checkpoint_path, or point that setting at where it lands",
)
SMK202 = Code(
    "SMK202",
    ERROR,
    "the checkpoint does not load with the project's interpreter",
    hint="save state_dict() (loads with weights_only=True), or set trusted_checkpoints: true",
)
SMK203 = Code(
    "SMK203",
    ERROR,
    "NaN or infinite weights in the checkpoint",
    hint="training diverged before the checkpoint was saved",
)
SMK301 = Code(
    "SMK301",
    ERROR,
    "the import check (`module:Class`, imported and instantiated) failed",
    hint="run the import shown in the project root to see the same error",
)

# --- GPU: GPU cost per branch -------------------------------------------------------------

GPU001 = Code(
    "GPU001",
    ERROR,
    "a branch's GPU cost is over `resources.cost_limit`",
    hint="stop or shorten runs on this branch, or raise resources.cost_limit",
)
GPU002 = Code(
    "GPU002",
    WARNING,
    "a branch's GPU cost is over `resources.cost_warning_threshold`",
    hint="review the runs in `claudio-ci gpu report`; raise the threshold if this is expected",
)
GPU003 = Code(
    "GPU003",
    NOTICE,
    "a GPU model has no hourly rate: its time is counted at $0",
    hint="set gpu.hourly_rates for the model, or gpu.default_hourly_rate",
)
GPU004 = Code(
    "GPU004",
    NOTICE,
    "energy not measurable for some runs (MIG, or no counter and no power reading)",
    hint="nothing to do; time and cost are still counted",
)
GPU005 = Code(
    "GPU005",
    NOTICE,
    "runs that did not finish (killed, or still running)",
    hint="their figures stop at their last sample",
)
GPU006 = Code(
    "GPU006",
    WARNING,
    "the token comments as another bot than assumed: its comment is not found again",
    hint="set the gpu-cost action's comment-author input (gpu comment --author) to it",
)


CODES: dict[str, Code] = {
    str(entry): entry for entry in list(globals().values()) if isinstance(entry, Code)
}


def _registered(code: str) -> Code:
    return CODES[code]


def lookup(code: str) -> Code | None:
    return CODES.get(code.strip().upper())


def family_codes(family: str) -> list[Code]:
    return [entry for entry in CODES.values() if entry.family == family]


def explain(entry: Code) -> str:
    """What `claudio-ci explain CODE` prints."""
    family = FAMILIES[entry.family]
    import textwrap  # only here: importing the registry stays cheap for every hook

    details = textwrap.fill(entry.details, 88) + "\n" if entry.details else ""
    return (
        f"{entry} ({entry.severity.label} by default): {entry.summary}\n"
        f"{details}"
        f"hint: {entry.hint}\n"
        f"family: {entry.family}, {family.about} (`claudio-ci {family.command}`); "
        f"documented under {family.section} in the README\n"
    )


def as_dict(entry: Code) -> dict[str, str]:
    """One code for `claudio-ci explain --format json`."""
    return {
        "code": str(entry),
        "family": entry.family,
        "severity": entry.severity.label,
        "summary": entry.summary,
        "details": entry.details,
        "hint": entry.hint,
    }


def listing(entries: Sequence[Code], fmt: str = "text") -> str:
    """One line a code (`explain --all`), or a JSON array of them."""
    if fmt == "json":
        return json.dumps([as_dict(entry) for entry in entries], indent=2) + "\n"
    return "".join(f"{entry:<7} {entry.severity.label:<8} {entry.summary}\n" for entry in entries)


def help_epilog(*families: str) -> str:
    """The code list at the end of a command's `--help`."""
    lines = ["codes (`claudio-ci explain CODE` says more):"]
    for family in families:
        lines += [f"  {line}" for line in listing(family_codes(family)).splitlines()]
    return "\n".join(lines)


# --- the README ---------------------------------------------------------------------------


def markdown_table(family: str) -> str:
    """The README's table for one family, as the registry has it."""
    rows = ["| code | severity | meaning | hint |", "|---|---|---|---|"]
    rows += [
        f"| `{c}` | {c.severity.label} | {_cell(_meaning(c))} | {_cell(c.hint)} |"
        for c in family_codes(family)
    ]
    return "\n".join(rows) + "\n"


def _meaning(entry: Code) -> str:
    return f"{entry.summary}. {entry.details}" if entry.details else entry.summary


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


_BLOCK = re.compile(r"(<!-- codes:(\w+):start -->\n)(.*?)(<!-- codes:\2:end -->)", re.S)


def readme_blocks(text: str) -> dict[str, str]:
    """The generated blocks of a README: family -> the text between its markers."""
    return {match[2]: match[3] for match in _BLOCK.finditer(text)}


def update_readme(text: str) -> str:
    """The README with every `codes:FAMILY` block rewritten from the registry."""
    return _BLOCK.sub(lambda m: m[1] + markdown_table(m[2]) + m[4], text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m claudio_ci.core.codes", description="Print the code registry."
    )
    parser.add_argument("--readme", action="store_true", help="as the README's Markdown tables")
    parser.add_argument(
        "--update",
        metavar="README",
        help="rewrite the generated code tables of this README in place",
    )
    args = parser.parse_args(argv)
    if args.update is not None:
        from pathlib import Path

        from claudio_ci.core.fileio import write_atomic

        readme = Path(args.update)
        try:
            before = readme.read_text(encoding="utf-8")
            after = update_readme(before)
            if after != before:
                write_atomic(readme, after)
        except (OSError, UnicodeDecodeError) as exc:
            parser.error(f"--update: cannot rewrite {args.update}: {exc}")
        sys.stdout.write(f"{args.update}: {'updated' if after != before else 'up to date'}\n")
        return 0
    if args.readme:
        text = "".join(
            f"\n`{name}`: {family.about}\n\n{markdown_table(name)}"
            for name, family in FAMILIES.items()
        )
    else:
        text = listing(list(CODES.values()))
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head` stopped reading: not an error (as in cli.main)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
