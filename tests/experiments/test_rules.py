"""The `experiment-config` check: the pure check, the command in real repositories and
worktrees, and the hook through the real pre-commit."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from claudio_ci.adapters.git import discover
from claudio_ci.core.findings import Finding, Severity
from claudio_ci.core.yamlfile import YamlError, parse_yaml
from claudio_ci.experiments import rules as exp
from claudio_ci.experiments.command import builtin_schema
from tests.gitutil import EXAMPLE_PROJECT, add_worktree, commit_all, git, run_pre_commit

RULES = exp.Rules(re.compile("^[a-z][a-z0-9_]*$"), reserved_names=frozenset({"latest"}))
SCHEMAS = [builtin_schema()]


def config(name: str, *, out: str = "outputs/${experiment_name}", extra: str = "") -> str:
    return textwrap.dedent(
        f"""\
        # experiments/{name}.yaml
        model:
          name: {name}
          hidden_size: 64
          layers: 2

        training:
          epochs: 10
          batch_size: 32
          learning_rate: 0.001

        output:
          dir: {out}
          checkpoint_freq: 5
        """
    ) + textwrap.dedent(extra)


def summary(path: str, text: str) -> exp.Summary:
    try:
        file = exp.ExperimentFile(path, parse_yaml(text, path))
    except YamlError as error:
        file = exp.ExperimentFile(path, error=error)
    return dataclasses.replace(exp.summarize(file, RULES, SCHEMAS), content=text.encode())


def check(
    files: dict[str, str],
    targets: list[str] | None = None,
    siblings: tuple[exp.SiblingState, ...] = (),
) -> list[Finding]:
    chosen = list(files) if targets is None else targets
    mine = [summary(p, files[p]) for p in chosen]
    rest = [summary(p, t) for p, t in files.items() if p not in chosen]
    return exp.check_experiments(mine, rest, RULES, siblings)


def lines(findings: list[Finding]) -> list[str]:
    return sorted(f"{f.location}: {f.code} {f.message}" for f in findings)


def codes(findings: list[Finding]) -> list[str]:
    return sorted(f.code for f in findings)


# --- the pure check -------------------------------------------------------------------------


def test_the_example_project_configs_pass() -> None:
    files = {
        f"experiments/{p.name}": p.read_text(encoding="utf-8")
        for p in sorted((EXAMPLE_PROJECT / "experiments").glob("*.yaml"))
    }
    assert {"experiments/baseline.yaml", "experiments/test.yaml"} <= set(files)
    assert check(files) == []


def test_every_finding_has_a_stable_code_a_location_and_a_hint() -> None:
    text = config("attn", out="outputs/baseline").replace("name: attn", "name: baseline")
    findings = check({"experiments/attn.yaml": text, "experiments/baseline.yaml": config("b")})
    assert findings
    for finding in findings:
        assert re.fullmatch(r"EXP\d{3}", finding.code)
        assert finding.line > 0 and finding.col > 0
        assert finding.hint


BAD_INPUTS = [
    ("model: [unclosed\n", "EXP001", "2:1", "expected ',' or ']'"),
    ("model:\n\tname: x\n", "EXP001", "2:1", "a tab cannot indent YAML; use spaces"),
    ("model: !!python/object:os.system x\n", "EXP001", "1:8", "constructor"),
    ("a: 1\na: 2\n", "EXP002", "2:1", "duplicate key 'a' (first defined on line 1)"),
    ("a: 1\n---\nb: 2\n", "EXP003", "3:1", "2 YAML documents in one file"),
    ("", "EXP006", "1:1", "the file is empty"),
    ("# only a comment\n", "EXP006", "1:1", "the file is empty"),
    ("- model\n- training\n", "EXP006", "1:1", "the file holds a list"),
    ("just text\n", "EXP006", "1:1", "the file holds the string 'just text'"),
    ("[" * 150 + "]" * 150, "EXP004", "1:101", "nested more than 100 levels"),
]


@pytest.mark.parametrize(("text", "code", "where", "message"), BAD_INPUTS)
def test_bad_input_is_one_clear_finding(text: str, code: str, where: str, message: str) -> None:
    (finding,) = check({"experiments/bad.yaml": text})
    assert finding.code == code
    assert f"{finding.line}:{finding.col}" == where
    assert message in finding.message
    assert finding.hint


def test_name_key_must_equal_the_file_name_and_is_fixable() -> None:
    text = config("attention").replace("name: attention", "name: attn")
    (finding,) = check({"experiments/attention.yaml": text})
    assert finding.location == "experiments/attention.yaml:3:9"
    assert finding.code == exp.NAME_MISMATCH
    assert finding.message == (
        "model.name is 'attn' but the file is named attention.yaml; they must match"
    )
    assert finding.fix is not None and not finding.fix.applied
    assert finding.fix.description == "set model.name to 'attention'"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model:\n  hidden_size: 1\n", "experiments/a.yaml:1:1: EXP103 model.name is missing"),
        ("model:\n  name:\n", "experiments/a.yaml:2:3: EXP103 model.name is empty"),
        ("model:\n  name: 7\n", "experiments/a.yaml:2:9: EXP104 model.name is the whole number 7"),
    ],
)
def test_name_key_missing_empty_or_not_a_string(text: str, expected: str) -> None:
    found = [line for line in lines(check({"experiments/a.yaml": text})) if "model.name" in line]
    assert len(found) == 1
    assert found[0].startswith(expected)


def test_name_from_a_reference_counts_as_the_name() -> None:
    text = config("attn").replace("name: attn", "name: ${experiment_name}")
    assert check({"experiments/attn.yaml": text}) == []


def test_file_name_must_match_the_pattern_and_not_be_reserved() -> None:
    findings = check(
        {
            "experiments/Attn-V2.yaml": config("Attn-V2"),
            "experiments/latest.yaml": config("latest"),
        }
    )
    assert lines(findings) == [
        "experiments/Attn-V2.yaml:1:1: EXP101 experiment name 'Attn-V2' (the file name) does "
        "not match experiments.name_pattern ^[a-z][a-z0-9_]*$",
        "experiments/latest.yaml:1:1: EXP102 experiment name 'latest' is reserved (latest)",
    ]
    assert findings[0].hint == (
        "rename the file to e.g. experiments/attn_v2.yaml and set model.name to match"
    )


def test_schema_violations_name_the_json_path_and_say_how_to_fix() -> None:
    text = (
        config("a").replace("epochs: 10", "epochs: -1").replace("batch_size: 32", "batch_size: yes")
    )
    text = text.replace("  checkpoint_freq: 5\n", "")
    findings = check({"experiments/a.yaml": text})
    assert lines(findings) == [
        "experiments/a.yaml:12:1: EXP201 $.output: missing required key 'checkpoint_freq'",
        "experiments/a.yaml:8:11: EXP201 $.training.epochs: must be greater than 0, got -1",
        "experiments/a.yaml:9:15: EXP201 $.training.batch_size: expected a whole number, got "
        "the boolean true (YAML reads yes/no/on/off as booleans)",
    ]
    hints = {f.message.split(":")[0]: f.hint for f in findings}
    assert hints["$.output"] == (
        "add `checkpoint_freq:` under `output:`; "
        "Save a checkpoint every N epochs: a whole number above 0, e.g. 10."
    )
    assert hints["$.training.epochs"].startswith("Passes over the training set")


def test_missing_sections_and_wrong_shapes() -> None:
    findings = check({"experiments/a.yaml": "model: {name: a}\ntraining: 5\n"})
    assert lines(findings) == [
        "experiments/a.yaml:1:1: EXP201 $: missing required key 'output'",
        "experiments/a.yaml:2:11: EXP201 $.training: expected a mapping, got the whole number 5",
    ]


def test_extra_keys_are_allowed() -> None:
    extra = "extra:\n  anything: [1, 2]\n"
    text = config("a", extra=extra).replace("layers: 2", "layers: 2\n  architecture: baseline")
    assert check({"experiments/a.yaml": text}) == []


def test_scientific_notation_is_a_warning_and_still_checked_as_a_number() -> None:
    ok = config("a").replace("learning_rate: 0.001", "learning_rate: 1e-3")
    (warning,) = check({"experiments/a.yaml": ok})
    assert (warning.code, warning.severity, warning.location) == (
        exp.NUMBER_AS_STRING,
        Severity.WARNING,
        "experiments/a.yaml:10:18",
    )
    assert warning.hint == "write 1.0e-3 without quotes, so every YAML reader sees a number"
    negative = config("a").replace("learning_rate: 0.001", "learning_rate: -1e-3")
    assert codes(check({"experiments/a.yaml": negative})) == ["EXP201", "EXP202"]


def test_nan_and_infinity_are_errors() -> None:
    text = config("a").replace("learning_rate: 0.001", "learning_rate: .inf")
    text += "  scale: .nan\n"
    assert lines(check({"experiments/a.yaml": text})) == [
        "experiments/a.yaml:10:18: EXP203 $.training.learning_rate: inf is not a finite number",
        "experiments/a.yaml:15:10: EXP203 $.output.scale: nan is not a finite number",
    ]


def test_reference_problems_have_their_own_codes() -> None:
    extra = """\
      a: ${model.nmae}
      b: ${c}
      c: x/${b}
      d: x/${model}
      e: ${model.name
      f: ${oc.env:HOME}/runs
    """
    findings = check({"experiments/a.yaml": config("a", extra=extra)})
    assert lines(findings) == [
        "experiments/a.yaml:15:4: EXP301 $.a: ${model.nmae} refers to a key that does not exist",
        "experiments/a.yaml:17:4: EXP303 $.c: circular reference: b -> c -> b",
        "experiments/a.yaml:18:4: EXP304 $.d: ${model} is a mapping; OmegaConf writes its "
        "raw text into the string",
        "experiments/a.yaml:19:4: EXP302 $.e: '${model.name' is not a valid interpolation: "
        "a '}' is missing",
        "experiments/a.yaml:20:4: EXP305 $.f: ${oc.env:HOME} uses the resolver 'oc.env'; "
        "its value is not checked",
    ]
    by_code = {f.code: f for f in findings}
    assert by_code["EXP301"].hint == "did you mean ${model.name}?"
    assert by_code["EXP305"].severity is Severity.NOTICE


def test_a_reference_resolving_to_a_bad_value_is_checked_after_resolution() -> None:
    extra = "defaults:\n  epochs: 0\n"
    text = config("a", extra=extra).replace("epochs: 10", "epochs: ${defaults.epochs}")
    assert lines(check({"experiments/a.yaml": text})) == [
        "experiments/a.yaml:8:11: EXP201 $.training.epochs: must be greater than 0, got 0"
    ]


@pytest.mark.parametrize(
    ("old", "new"), [("epochs: 10", "epochs: ${oc.env:EPOCHS}"), ("name: a", "name: ${oc.env:N}")]
)
def test_a_value_from_a_resolver_is_not_checked(old: str, new: str) -> None:
    text = config("a").replace(old, new)
    assert codes(check({"experiments/a.yaml": text})) == ["EXP305"]


def test_output_collision_is_reported_on_the_checked_file_only() -> None:
    files = {
        "experiments/attn.yaml": config("attn", out="outputs/baseline/"),
        "experiments/baseline.yaml": config("baseline"),
        "experiments/other.yaml": config("other"),
    }
    findings = check(files, targets=["experiments/attn.yaml"])
    assert lines(findings) == [
        "experiments/attn.yaml:13:8: EXP401 output.dir 'outputs/baseline' is also the output "
        "directory of experiments/baseline.yaml; their runs would overwrite each other's "
        "checkpoints and metrics"
    ]
    assert check(files, targets=["experiments/other.yaml"]) == []


def test_output_dir_without_the_name_is_a_warning() -> None:
    (finding,) = check({"experiments/a.yaml": config("a", out="outputs/run")})
    assert (finding.code, finding.severity) == (exp.OUTPUT_NOT_NAMED, Severity.WARNING)


def test_two_files_with_one_experiment_name() -> None:
    files = {"experiments/a.yaml": config("a"), "experiments/old/a.yml": config("a")}
    assert lines(check(files, targets=["experiments/a.yaml"])) == [
        "experiments/a.yaml:3:9: EXP105 experiment 'a' is also defined by experiments/old/a.yml"
    ]


def _sibling(files: dict[str, str], base: frozenset[str] = frozenset()) -> exp.SiblingState:
    summaries = tuple(summary(p, t) for p, t in files.items())
    return exp.SiblingState("sibling worktree /w (branch b)", "uncommitted", summaries, base)


def test_same_experiment_added_in_a_sibling_with_other_content() -> None:
    mine = {"experiments/attn.yaml": config("attn")}
    theirs = {"experiments/attn.yaml": config("attn").replace("layers: 2", "layers: 3")}
    (finding,) = check(mine, siblings=(_sibling(theirs),))
    assert finding.location == "experiments/attn.yaml:3:9"
    assert finding.message == (
        "experiment 'attn' is also added in sibling worktree /w (branch b), uncommitted as "
        "experiments/attn.yaml, with different content"
    )
    assert check(mine, siblings=(_sibling(mine),)) == []
    assert check(mine, siblings=(_sibling(theirs, frozenset({"attn"})),)) == []


def test_output_dir_shared_with_a_sibling_experiment() -> None:
    mine = {"experiments/attn.yaml": config("attn", out="outputs/shared")}
    theirs = {"experiments/attn2.yaml": config("attn2", out="outputs/shared")}
    findings = check(mine, siblings=(_sibling(theirs),))
    assert codes(findings) == ["EXP402", "EXP502"]
    assert "experiment 'attn2' added in sibling worktree /w (branch b)" in findings[1].message


# --- the one fix ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("model:\n  name: attn   # old\n", "model:\n  name: attention   # old\n"),
        ("model:\r\n  name: attn\r\n  x: 1\r\n", "model:\r\n  name: attention\r\n  x: 1\r\n"),
        ('model: {name: "attn", x: 1}\n', 'model: {name: "attention", x: 1}\n'),
        ("model:\n  name: 'attn'\n", "model:\n  name: 'attention'\n"),
        ("model:\n  name: 12\n", "model:\n  name: attention\n"),
        ("model:\n  name:   ünï  \n# tail\n", "model:\n  name:   attention  \n# tail\n"),
        ("model:\n  name: &n attn\n", "model:\n  name: &n attention\n"),
        ("model:\n  name: !!str attn\n", "model:\n  name: !!str attention\n"),
        ("model:\n  name: &n !!str 'attn'\n", "model:\n  name: &n !!str 'attention'\n"),
    ],
)
def test_set_name_edits_only_the_value(before: str, after: str) -> None:
    assert exp.set_name(before, ("model", "name"), "attention") == after
    assert exp.set_name(after, ("model", "name"), "attention") == after


@pytest.mark.parametrize(
    "text",
    [
        "base: &b attn\nmodel:\n  name: *b\n",
        "base: &b {name: attn}\nmodel:\n  <<: *b\n",
        "model:\n  name: |\n    attn\n",
        "model:\n  name: [attn]\n",
        "model: [unclosed\n",
    ],
)
def test_set_name_refuses_what_it_cannot_edit_safely(text: str) -> None:
    assert exp.set_name(text, ("model", "name"), "attention") is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("base: &b attn\nmodel:\n  name: *b\n", "the value comes from an alias"),
        ("base: &b {name: attn}\nmodel:\n  <<: *b\n", "model.name comes from a merge key"),
        ("model:\n  name: |\n    attn\n", "block scalar"),
        ("model:\n  name: [attn]\n", "model.name holds a mapping or a list"),
        ("model: [unclosed\n", "the file cannot be parsed: did not find expected ',' or ']'"),
        ("model:\n  name: &n attn\nother: *n\n", "an alias elsewhere uses this value"),
    ],
)
def test_a_refused_fix_says_why(text: str, reason: str) -> None:
    with pytest.raises(exp.FixRefused) as refused:
        exp.edit_name(text, ("model", "name"), "attention")
    assert reason in str(refused.value)


# --- the command, in real repositories ------------------------------------------------------


@pytest.fixture
def cli(run_cli):
    """`cli(cwd, *args)`: `claudio-ci check experiments ARGS` in `cwd`; (exit, all output)."""

    def run(cwd: Path, *args: str) -> tuple[int, str]:
        result = run_cli("check", "experiments", *args, cwd=cwd)
        return result.code, result.output

    return run


def test_example_project_is_clean(ml_repo: Path, cli) -> None:
    assert cli(ml_repo) == (0, "")
    assert cli(ml_repo, "experiments/baseline.yaml", "experiments/test.yaml") == (0, "")


def test_a_changed_config_is_checked_against_every_other_config(ml_repo: Path, cli) -> None:
    copy = ml_repo / "experiments" / "attn.yaml"
    copy.write_text(
        (ml_repo / "experiments" / "baseline.yaml")
        .read_text(encoding="utf-8")
        .replace("outputs/${experiment_name}", "outputs/${model.name}"),
        encoding="utf-8",
    )
    code, out = cli(ml_repo, "experiments/attn.yaml")
    assert code == 1
    assert out.splitlines()[0] == (
        "experiments/attn.yaml:3:9: EXP104 model.name is 'baseline' but the file is named "
        "attn.yaml; they must match"
    )
    assert (
        "experiments/attn.yaml:13:8: EXP401 output.dir 'outputs/baseline' is also the output "
        "directory of experiments/baseline.yaml;"
    ) in out
    assert "experiments/baseline.yaml:" not in out
    assert out.splitlines()[-1] == "Found 2 problems (2 errors). 1 fixable with `--fix`."


def test_fix_sets_the_name_byte_for_byte_and_twice_changes_nothing(ml_repo: Path, cli) -> None:
    path = ml_repo / "experiments" / "attention.yaml"
    original = path.read_bytes()
    broken = b"\xef\xbb\xbf" + original.replace(b"\n", b"\r\n").replace(
        b"name: attention", b'name: "attn"  # copied'
    )
    path.write_bytes(broken)
    path.chmod(0o640)
    code, out = cli(ml_repo, "--fix", "experiments/attention.yaml")
    assert code == 0
    assert out.splitlines() == [
        "experiments/attention.yaml:3:9: EXP104 [notice] model.name is 'attn' but the file is "
        "named attention.yaml; they must match",
        "  fixed: set model.name to 'attention'",
        "Found 1 problem (1 notice). Fixed 1.",
    ]
    assert path.read_bytes() == broken.replace(b'"attn"', b'"attention"')
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "attention.yaml",
        "baseline.yaml",
        "test.yaml",
    ]
    assert cli(ml_repo, "--fix", "experiments/attention.yaml") == (0, "")


def test_fix_leaves_an_alias_alone_and_fails(ml_repo: Path, cli) -> None:
    path = ml_repo / "experiments" / "baseline.yaml"
    text = "name_of: &n base\n" + path.read_text(encoding="utf-8").replace(
        "name: baseline", "name: *n"
    )
    path.write_text(text, encoding="utf-8")
    code, out = cli(ml_repo, "--fix", "experiments/baseline.yaml")
    assert code == 1
    assert "EXP104 model.name is 'base'" in out
    assert "--fix leaves it alone: the value comes from an alias" in out
    assert "fixable with `--fix`" not in out
    assert path.read_text(encoding="utf-8") == text


def test_fix_refuses_a_symlinked_config_and_keeps_the_link(ml_repo: Path, cli) -> None:
    target = ml_repo / "shared" / "attn.yaml"
    target.parent.mkdir()
    text = config("attn").replace("name: attn", "name: attention")
    target.write_text(text, encoding="utf-8")
    link = ml_repo / "experiments" / "attn.yaml"
    link.symlink_to("../shared/attn.yaml")
    code, out = cli(ml_repo, "--fix", "experiments/attn.yaml")
    assert code == 1
    assert "EXP104 model.name is 'attention'" in out
    assert "--fix leaves it alone: the file is a symbolic link" in out
    assert link.is_symlink()
    assert target.read_text(encoding="utf-8") == text


def test_fix_then_checks_again(ml_repo: Path, cli) -> None:
    path = ml_repo / "experiments" / "attn.yaml"
    path.write_text(
        config("attn", out="outputs/${model.name}").replace("name: attn", "name: baseline")
    )
    code, out = cli(ml_repo, "--fix", "experiments/attn.yaml")
    assert (code, "EXP401" in out, "fixed: set model.name to 'attn'" in out) == (0, False, True)


def test_nothing_to_do_does_not_import_jsonschema(ml_repo: Path) -> None:
    probe = (
        "import sys\nfrom claudio_ci.cli import main\n"
        "code = main(['check', 'experiments', 'README.md', 'src/x.py', 'notes/e.yaml'])\n"
        "print(code, 'jsonschema' in sys.modules, 'pathspec' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=ml_repo, capture_output=True, text=True, check=False
    )
    assert (proc.stdout, proc.stderr) == ("0 False False\n", "")


@pytest.mark.timeout(20)
def test_billion_laughs_is_refused_quickly(ml_repo: Path, cli) -> None:
    lines_ = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines_ += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    (ml_repo / "experiments" / "lol.yaml").write_text("\n".join(lines_) + "\n")
    code, out = cli(ml_repo, "experiments/lol.yaml")
    assert code == 1
    assert out.splitlines()[0].startswith(
        "experiments/lol.yaml:1:66: EXP004 document expands to more than 200,000 values"
    )


@pytest.mark.timeout(60)
def test_unreadable_oversized_and_undecodable_files(ml_repo: Path, cli) -> None:
    experiments = ml_repo / "experiments"
    (experiments / "folder.yaml").mkdir()
    (experiments / "huge.yaml").write_text("a: " + "x" * 1_100_000 + "\n")
    (experiments / "latin.yaml").write_bytes(b"model:\n  name: caf\xe9\n")
    (experiments / "gone.yaml").symlink_to(experiments / "missing.yaml")
    os.mkfifo(experiments / "pipe.yaml")  # nobody writes to it: reading it would block
    names = ["folder", "huge", "latin", "gone", "pipe"]
    code, out = cli(ml_repo, *[f"experiments/{n}.yaml" for n in names])
    assert code == 1
    found = sorted(line for line in out.splitlines() if line.startswith("experiments/"))
    assert found == [
        "experiments/folder.yaml: EXP007 cannot read the file: Is a directory",
        "experiments/gone.yaml: EXP007 cannot read the file: No such file or directory",
        "experiments/huge.yaml:1:1: EXP004 file is over the 1,000,000-byte limit for YAML here",
        "experiments/latin.yaml:2:12: EXP005 not UTF-8: byte 0xe9 cannot be decoded",
        "experiments/pipe.yaml: EXP007 cannot read the file: not a regular file",
    ]


def test_configuration_dir_exclude_pattern_and_keys(ml_repo: Path, cli) -> None:
    (ml_repo / "configs" / "runs").mkdir(parents=True)
    (ml_repo / "configs" / "runs" / "Run-1.yaml").write_text(
        "meta:\n  id: Run-1\nrun:\n  out: /shared/out\n"
    )
    (ml_repo / "configs" / "template.yaml").write_text("not: an experiment\n")
    (ml_repo / ".claudio.yaml").write_text(
        "experiments:\n  dir: configs\n  exclude: [template.yaml]\n"
        "  name_pattern: '^[A-Z][a-z]+-[0-9]+$'\n  name_key: meta.id\n  output_key: run.out\n"
        "  schema: configs.schema.json\n  schema_mode: replace\n"
    )
    (ml_repo / "configs.schema.json").write_text(
        json.dumps({"type": "object", "required": ["meta", "run"]})
    )
    code, out = cli(ml_repo)
    assert (code, out.splitlines()[0]) == (
        0,
        "configs/runs/Run-1.yaml:4:8: EXP402 [warning] run.out '/shared/out' does not depend on "
        "the experiment's name; a copy of this config would write into the same directory",
    )
    assert cli(ml_repo, "experiments/baseline.yaml") == (0, "")


def test_own_schema_extends_the_built_in_one(ml_repo: Path, cli) -> None:
    (ml_repo / ".claudio.yaml").write_text("experiments:\n  schema: exp.schema.yaml\n")
    (ml_repo / "exp.schema.yaml").write_text(
        "type: object\nrequired: [seed]\nproperties:\n  seed: {type: integer}\n"
    )
    code, out = cli(ml_repo, "experiments/test.yaml")
    assert code == 1
    assert out.splitlines()[:2] == [
        "experiments/test.yaml:3:1: EXP201 $: missing required key 'seed'",
        "  hint: add `seed:` at the top level",
    ]


@pytest.mark.parametrize(
    ("setting", "file", "error"),
    [
        ("name_pattern: '[a-'", None, ".claudio.yaml:2: experiments.name_pattern '[a-' is not a "),
        ("schema: missing.json", None, "missing.json: experiments.schema cannot be read: "),
        ("schema: s.json", "{oops", "s.json: experiments.schema is not valid JSON: "),
        ("schema: s.json", '{"type": 12}', "s.json: experiments.schema is not a valid JSON Schema"),
        ("dir: ../elsewhere", None, ".claudio.yaml:2: experiments.dir '../elsewhere' must be "),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(
    ml_repo: Path, cli, setting: str, file: str | None, error: str
) -> None:
    (ml_repo / ".claudio.yaml").write_text(f"experiments:\n  {setting}\n")
    if file is not None:
        (ml_repo / "s.json").write_text(file)
    code, out = cli(ml_repo, "experiments/baseline.yaml")
    assert code == 2
    assert out.startswith(f"claudio-ci: error: {error}")
    assert len(out.splitlines()) == 1


# --- the cache in the common git dir --------------------------------------------------------


def _probe(repo: Path, *files: str) -> str:
    """Run the check in a fresh process; report its exit code and whether it validated."""
    probe = (
        "import sys\nfrom claudio_ci.cli import main\n"
        f"code = main(['check', 'experiments', *{list(files)!r}])\n"
        "print(code, 'jsonschema' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=repo, capture_output=True, text=True, check=False
    )
    return proc.stdout.splitlines()[-1]


def test_unchanged_configs_come_from_the_cache_shared_by_worktrees(ml_repo: Path, cli) -> None:
    bad = config("x").replace("epochs: 10", "epochs: 0")
    (ml_repo / "experiments" / "x.yaml").write_text(bad)
    first = cli(ml_repo)
    assert first[0] == 1 and "EXP201 $.training.epochs: must be greater than 0, got 0" in first[1]
    cache = ml_repo / ".git" / "claudio" / "experiments-cache.json"
    assert len(json.loads(cache.read_text())["entries"]) == 4
    assert _probe(ml_repo) == "1 False"  # every config from the cache: no validation
    assert cli(ml_repo) == first
    linked = add_worktree(ml_repo, "kl34", "claudio/kl34")
    (linked / "experiments" / "x.yaml").write_text(bad)
    assert _probe(linked, "experiments/x.yaml") == "1 False"


def test_a_changed_config_or_schema_is_checked_again(ml_repo: Path, cli) -> None:
    assert cli(ml_repo) == (0, "")
    path = ml_repo / "experiments" / "test.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("epochs: 1", "epochs: -1"))
    assert _probe(ml_repo, "experiments/test.yaml") == "1 True"
    path.write_text(path.read_text(encoding="utf-8").replace("epochs: -1", "epochs: 1"))
    (ml_repo / ".claudio.yaml").write_text("experiments:\n  schema: s.json\n")
    (ml_repo / "s.json").write_text('{"required": ["seed"]}')
    assert cli(ml_repo, "experiments/test.yaml")[0] == 1
    (ml_repo / "s.json").write_text("{}")
    assert cli(ml_repo, "experiments/test.yaml") == (0, "")


def test_a_corrupt_cache_is_an_empty_one(ml_repo: Path, cli) -> None:
    cache = ml_repo / ".git" / "claudio" / "experiments-cache.json"
    cache.parent.mkdir()
    for junk in ["{not json", '{"format": 1, "entries": []}', '{"format": 1, "entries": {}}']:
        cache.write_text(junk)
        assert cli(ml_repo) == (0, "")
    key = next(iter(json.loads(cache.read_text())["entries"]))
    cache.write_text(json.dumps({"format": 1, "entries": {key: {"findings": "nonsense"}}}))
    assert cli(ml_repo) == (0, "")


# --- sibling worktrees and branches ---------------------------------------------------------


def _variant(repo: Path, name: str, layers: int) -> str:
    text = (repo / "experiments" / "attention.yaml").read_text(encoding="utf-8")
    return text.replace("name: attention", f"name: {name}").replace(
        "layers: 2", f"layers: {layers}"
    )


def test_sibling_worktree_adding_the_same_experiment(ml_repo: Path, cli) -> None:
    sibling = add_worktree(ml_repo, "ab12", "claudio/ab12-attn")
    (sibling / "experiments" / "attn2.yaml").write_text(_variant(ml_repo, "attn2", 3))
    commit_all(sibling, "attn2 on the sibling")
    (ml_repo / "experiments" / "attn2.yaml").write_text(_variant(ml_repo, "attn2", 4))
    code, out = cli(ml_repo, "experiments/attn2.yaml")
    head = git(sibling, "rev-parse", "HEAD").strip()
    assert code == 1
    assert out.splitlines()[0] == (
        f"experiments/attn2.yaml:3:9: EXP501 experiment 'attn2' is also added in sibling "
        f"worktree {sibling} (branch claudio/ab12-attn), committed at {head[:8]} as "
        "experiments/attn2.yaml, with different content"
    )
    code, out = cli(ml_repo, "--format", "json", "experiments/attn2.yaml")
    assert json.loads(out)[0]["extra"] == {
        "worktree": str(sibling),
        "branch": "claudio/ab12-attn",
        "state": f"committed at {head[:8]}",
        "sibling_path": "experiments/attn2.yaml",
    }
    (ml_repo / "experiments" / "attn2.yaml").write_text(_variant(ml_repo, "attn2", 3))
    assert cli(ml_repo, "experiments/attn2.yaml") == (0, "")


def test_uncommitted_config_in_a_sibling_seen_from_a_linked_worktree(ml_repo: Path, cli) -> None:
    linked = add_worktree(ml_repo, "cd34", "claudio/cd34-optim")
    (ml_repo / "experiments" / "optim.yaml").write_text(_variant(ml_repo, "optim", 3))
    (linked / "experiments" / "optim.yaml").write_text(_variant(ml_repo, "optim", 5))
    code, out = cli(linked, "experiments/optim.yaml")
    assert code == 1
    assert (
        f"EXP501 experiment 'optim' is also added in sibling worktree {ml_repo} (branch main), "
        "uncommitted as experiments/optim.yaml, with different content"
    ) in out


def test_existing_experiments_changed_in_a_sibling_are_not_collisions(ml_repo: Path, cli) -> None:
    sibling = add_worktree(ml_repo, "ef56", "claudio/ef56")
    (sibling / "experiments" / "baseline.yaml").write_text(_variant(ml_repo, "baseline", 9))
    commit_all(sibling, "tune the baseline")
    assert cli(ml_repo) == (0, "")


def test_a_removed_worktree_directory_is_skipped(ml_repo: Path, cli) -> None:
    gone = add_worktree(ml_repo, "gone", "claudio/gone")
    shutil.rmtree(gone)
    assert cli(ml_repo, "experiments/baseline.yaml") == (0, "")


def test_configured_branches_are_compared_too(ml_repo: Path, cli) -> None:
    git(ml_repo, "branch", "claudio/gh78")
    git(ml_repo, "checkout", "-q", "claudio/gh78")
    (ml_repo / "experiments" / "wide.yaml").write_text(_variant(ml_repo, "wide", 3))
    commit_all(ml_repo, "wide on a branch")
    git(ml_repo, "checkout", "-q", "main")
    (ml_repo / "experiments" / "wide.yaml").write_text(_variant(ml_repo, "wide", 4))
    assert cli(ml_repo, "experiments/wide.yaml") == (0, "")
    (ml_repo / ".claudio.yaml").write_text("experiments:\n  compare_branches: ['claudio/*']\n")
    code, out = cli(ml_repo, "experiments/wide.yaml")
    assert code == 1
    assert "EXP501 experiment 'wide' is also added in branch claudio/gh78, at " in out


def test_inside_a_commit_hook_the_sibling_is_read_with_its_own_git_state(
    ml_repo: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    sibling = add_worktree(ml_repo, "gh90", "claudio/gh90")
    (sibling / "experiments" / "deep.yaml").write_text(_variant(ml_repo, "deep", 6))
    (ml_repo / "experiments" / "deep.yaml").write_text(_variant(ml_repo, "deep", 7))
    git(ml_repo, "add", "experiments/deep.yaml")
    monkeypatch.setenv("GIT_DIR", str(ml_repo / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(ml_repo))
    monkeypatch.setenv("GIT_INDEX_FILE", str(ml_repo / ".git" / "index"))
    code, out = cli(ml_repo, "experiments/deep.yaml")
    assert code == 1
    assert f"sibling worktree {sibling} (branch claudio/gh90), uncommitted as" in out


def test_git_layer_lists_and_reads_files_under_a_directory(ml_repo: Path) -> None:
    (ml_repo / "experiments" / "new.yaml").write_text("x: 1\n")
    (ml_repo / ".gitignore").write_text("experiments/ignored.yaml\n")
    (ml_repo / "experiments" / "ignored.yaml").write_text("x: 2\n")
    repo = discover(ml_repo, environ=dict(os.environ))
    listed = repo.files_under("experiments")
    assert sorted(listed) == [
        "experiments/attention.yaml",
        "experiments/baseline.yaml",
        "experiments/new.yaml",
        "experiments/test.yaml",
    ]
    committed = repo.tree_files("HEAD", "experiments")
    assert "experiments/new.yaml" not in committed and len(committed) == 3
    blobs = repo.read_blobs("HEAD", ["experiments/test.yaml", "experiments/new.yaml", "no\npe"])
    assert blobs == {"experiments/test.yaml": (ml_repo / "experiments/test.yaml").read_bytes()}


# --- the hook, through the real pre-commit --------------------------------------------------


@pytest.mark.slow
def test_pre_commit_hook_in_a_linked_worktree(ml_repo: Path, try_repo) -> None:
    linked = add_worktree(ml_repo, "ij12", "claudio/ij12")
    (linked / "experiments" / "x.yaml").write_text(
        (linked / "experiments" / "baseline.yaml").read_text(encoding="utf-8")
    )
    (ml_repo / "experiments" / "mix.yaml").write_text(_variant(ml_repo, "mix", 3))
    (linked / "experiments" / "mix.yaml").write_text(_variant(ml_repo, "mix", 8))
    files = ["experiments/baseline.yaml", "experiments/x.yaml", "experiments/mix.yaml"]
    proc = try_repo(linked, "experiment-config", *files, "README.md")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert re.search(r"experiment configs \(names, schema, output dirs\)\.+Failed", proc.stdout)
    found = [line for line in proc.stdout.splitlines() if line.startswith("experiments/")]
    assert found == [
        f"experiments/mix.yaml:3:9: EXP501 experiment 'mix' is also added in sibling worktree "
        f"{ml_repo} (branch main), uncommitted as experiments/mix.yaml, with different content",
        "experiments/x.yaml:3:9: EXP104 model.name is 'baseline' but the file is named x.yaml; "
        "they must match",
    ]
    assert "Found 2 problems (2 errors). 1 fixable with `--fix`." in proc.stdout


TRICKY_VALUES = [
    True, False, None, 0, 1, -1, 1.0, 1.5, 0.0, -0.5, 1e-9, 10**30, float("inf"),
    "1", "", "x", [], [1], {}, {"a": 1},
]  # fmt: skip


@pytest.mark.parametrize(
    "path",
    [
        ("model",),
        ("model", "name"),
        ("model", "hidden_size"),
        ("model", "layers"),
        ("training",),
        ("training", "epochs"),
        ("training", "batch_size"),
        ("training", "learning_rate"),
        ("output",),
        ("output", "dir"),
        ("output", "checkpoint_freq"),
    ],
)
def test_the_compiled_check_never_accepts_what_jsonschema_rejects(path: tuple[str, ...]) -> None:
    """Valid data skips jsonschema, so the fast check must agree with it on every value."""
    schema = builtin_schema()
    base = {
        "model": {"name": "baseline", "hidden_size": 256, "layers": 4},
        "training": {"epochs": 100, "batch_size": 32, "learning_rate": 0.001},
        "output": {"dir": "outputs/x", "checkpoint_freq": 10},
    }
    assert schema.accepts(base)
    for value in [*TRICKY_VALUES, "__missing__"]:
        data = copy.deepcopy(base)
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        if value == "__missing__":
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
        explained = list(schema.validator().iter_errors(data))
        assert schema.accepts(data) == (not explained), (path, value, explained)


# --- OmegaConf's reading of values and references -------------------------------------------


def test_1e_3_and_0_001_give_the_same_output_directory_as_omegaconf_types_them() -> None:
    a = config("a", out="outputs/lr_${training.learning_rate}").replace("0.001", "1e-3")
    b = config("b", out="outputs/lr_${training.learning_rate}")
    findings = check({"experiments/a.yaml": a, "experiments/b.yaml": b})
    collisions = [f for f in findings if f.code == exp.OUTPUT_COLLISION]
    assert {f.path for f in collisions} == {"experiments/a.yaml", "experiments/b.yaml"}
    assert "outputs/lr_0.001" in collisions[0].message


def test_a_reference_to_a_mandatory_value_is_a_warning_not_a_resolved_text() -> None:
    text = config("a", out="outputs/${data.name}/${experiment_name}", extra="data:\n  name: ???\n")
    (finding,) = check({"experiments/a.yaml": text})
    assert (finding.code, finding.severity) == (exp.MISSING_REFERENCE, Severity.WARNING)
    assert "mandatory value (???)" in finding.message


def test_a_resolver_does_not_hide_the_references_beside_it() -> None:
    text = config("a", out="/ckpt/${oc.env:USER,me}/${experiment_nmae}")
    assert codes(check({"experiments/a.yaml": text})) == [exp.UNKNOWN_REFERENCE]


def test_a_tab_that_omegaconf_rejects_is_a_syntax_error_at_its_place() -> None:
    text = config("a").replace("epochs: 10\n", "epochs: 10\t\n")
    (finding,) = check({"experiments/a.yaml": text})
    assert (finding.code, finding.line, finding.col) == (exp.SYNTAX, 8, 13)
    assert "OmegaConf" in finding.message


# --- silencing findings: config, per file, inline ---------------------------------------------


def _shared_output(ml_repo: Path, name: str, subdir: str = "") -> Path:
    path = ml_repo / "experiments" / subdir / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config(name, out="outputs/shared"), encoding="utf-8")
    return path


def test_ignore_silences_a_code_everywhere(ml_repo: Path, cli) -> None:
    _shared_output(ml_repo, "solo")
    code, out = cli(ml_repo)
    assert (code, "EXP402" in out) == (0, True)
    (ml_repo / ".claudio.yaml").write_text("experiments:\n  ignore: [EXP402]\n")
    assert cli(ml_repo) == (0, "")
    (ml_repo / ".claudio.yaml").write_text("experiments:\n  ignore: [EXP4]\n")  # a prefix
    assert cli(ml_repo) == (0, "")


def test_per_file_ignores_silence_matching_files_only(ml_repo: Path, cli) -> None:
    _shared_output(ml_repo, "solo", "legacy")
    _shared_output(ml_repo, "other")
    (ml_repo / ".claudio.yaml").write_text(
        'experiments:\n  per_file_ignores:\n    "experiments/legacy/*": [EXP401, EXP402]\n'
    )
    code, out = cli(ml_repo)
    assert code == 1
    assert "experiments/legacy/solo.yaml:" not in out
    assert "experiments/other.yaml:13:8: EXP401" in out


def test_an_inline_comment_silences_its_line_and_the_codes_it_names(ml_repo: Path, cli) -> None:
    path = _shared_output(ml_repo, "solo")
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("dir: outputs/shared", "dir: outputs/shared  # claudio-ci: ignore[EXP301]")
    )
    assert "EXP402" in cli(ml_repo)[1]  # another code: still reported
    path.write_text(
        text.replace("dir: outputs/shared", "dir: outputs/shared  # claudio-ci: ignore[EXP402]")
    )
    assert cli(ml_repo) == (0, "")
    path.write_text("# claudio-ci: ignore-file[EXP402]\n" + text)
    assert cli(ml_repo) == (0, "")


def test_an_unknown_ignore_entry_is_a_config_error(ml_repo: Path, cli) -> None:
    (ml_repo / ".claudio.yaml").write_text("experiments:\n  ignore: [exp402]\n")
    code, out = cli(ml_repo)
    assert code == 2
    assert "ignore" in out


# --- Hydra: a project shaped like lightning-hydra-template, of this project's own writing -------

HYDRA_FILES = {
    "configs/train.yaml": """\
        # @package _global_
        defaults:
          - _self_
          - data: mnist
          - model: mnist
          - callbacks: default
          - logger: null
          - trainer: default
          - paths: default
          - extras: default
          - hydra: default
          - experiment: null
          - debug: null

        task_name: "train"
        tags: ["dev"]
        train: True
        test: True
        ckpt_path: null
        seed: null
        """,
    "configs/data/mnist.yaml": """\
        _target_: src.data.mnist_datamodule.MNISTDataModule
        data_dir: ${paths.data_dir}
        batch_size: 128
        train_val_test_split: [55_000, 5_000, 10_000]
        num_workers: 0
        pin_memory: False
        """,
    "configs/data/cifar.yaml": """\
        _target_: src.data.cifar_datamodule.CIFARDataModule
        data_dir: ${paths.data_dir}/cifar
        batch_size: 64
        num_workers: 4
        """,
    "configs/model/mnist.yaml": """\
        _target_: src.models.mnist_module.MNISTLitModule
        optimizer:
          _target_: torch.optim.Adam
          _partial_: true
          lr: 0.001
          weight_decay: 0.0
        scheduler:
          _target_: torch.optim.lr_scheduler.ReduceLROnPlateau
          _partial_: true
          mode: min
          factor: 0.1
          patience: 10
        net:
          _target_: src.models.components.simple_dense_net.SimpleDenseNet
          input_size: 784
          lin1_size: 64
          lin2_size: 128
          lin3_size: 64
          output_size: 10
        compile: false
        """,
    "configs/model/resnet.yaml": """\
        _target_: src.models.resnet_module.ResNetLitModule
        optimizer:
          _target_: torch.optim.SGD
          _partial_: true
          lr: 0.1
          momentum: 0.9
        net:
          _target_: torchvision.models.resnet18
          num_classes: 10
        compile: false
        """,
    "configs/callbacks/default.yaml": """\
        model_checkpoint:
          _target_: lightning.pytorch.callbacks.ModelCheckpoint
          dirpath: ${paths.output_dir}/checkpoints
          filename: "epoch_{epoch:03d}"
          monitor: "val/acc"
          mode: "max"
          save_last: True
        early_stopping:
          _target_: lightning.pytorch.callbacks.EarlyStopping
          monitor: ${callbacks.model_checkpoint.monitor}
          patience: 100
          mode: ${callbacks.model_checkpoint.mode}
        """,
    "configs/logger/wandb.yaml": """\
        wandb:
          _target_: lightning.pytorch.loggers.wandb.WandbLogger
          save_dir: "${paths.output_dir}"
          offline: False
          project: "lightning-hydra-template"
          tags: ${tags}
          group: ""
        """,
    "configs/logger/csv.yaml": """\
        csv:
          _target_: lightning.pytorch.loggers.csv_logs.CSVLogger
          save_dir: "${paths.output_dir}"
          name: "csv/"
        """,
    "configs/trainer/default.yaml": """\
        _target_: lightning.pytorch.trainer.Trainer
        default_root_dir: ${paths.output_dir}
        min_epochs: 1
        max_epochs: 10
        accelerator: cpu
        devices: 1
        check_val_every_n_epoch: 1
        deterministic: False
        """,
    "configs/trainer/gpu.yaml": """\
        defaults:
          - default
        accelerator: gpu
        devices: 1
        """,
    "configs/paths/default.yaml": """\
        root_dir: ${oc.env:PROJECT_ROOT}
        data_dir: ${paths.root_dir}/data/
        log_dir: ${paths.root_dir}/logs/
        output_dir: ${hydra:runtime.output_dir}
        work_dir: ${hydra:runtime.cwd}
        """,
    "configs/extras/default.yaml": """\
        ignore_warnings: False
        enforce_tags: True
        print_config: True
        """,
    "configs/hydra/default.yaml": """\
        run:
          dir: ${paths.log_dir}/${task_name}/runs/${now:%Y-%m-%d}_${now:%H-%M-%S}
        sweep:
          dir: ${paths.log_dir}/${task_name}/multiruns/${now:%Y-%m-%d}_${now:%H-%M-%S}
          subdir: ${hydra.job.num}
        job_logging:
          handlers:
            file:
              filename: ${hydra.runtime.output_dir}/${task_name}.log
        """,
}

HYDRA_EXPERIMENT = """\
    # @package _global_

    # to execute this experiment run:
    # python train.py experiment={name}

    defaults:
      - override /data: {data}
      - override /model: {model}
      - override /callbacks: default
      - override /trainer: {trainer}
      - override /logger: {logger}

    tags: ["{data}", "{name}"]

    seed: {seed}

    trainer:
      min_epochs: 10
      max_epochs: {epochs}
      gradient_clip_val: 0.5

    model:
      optimizer:
        lr: {lr}
    {model_extra}
    data:
      batch_size: {batch}

    logger:
      {logger}:
        {logger_extra}
    """


def hydra_experiments() -> dict[str, str]:
    out = {}
    for i in range(12):
        model = "mnist" if i % 3 else "resnet"
        logger = "wandb" if i % 2 else "csv"
        extra = (
            "  net:\n        lin1_size: ${data.batch_size}\n        lin2_size: 256\n"
            if model == "mnist"
            else "  compile: ${trainer.deterministic}\n"
        )
        logger_extra = (
            'group: "${data._target_}"\n        tags: ${tags}'
            if logger == "wandb"
            else "name: ${task_name}_${seed}"
        )
        name = f"exp_{i:02d}_{model}"
        out[f"configs/experiment/{name}.yaml"] = HYDRA_EXPERIMENT.format(
            name=name,
            data="mnist" if i % 4 else "cifar",
            model=model,
            trainer="gpu" if i % 5 == 0 else "default",
            logger=logger,
            seed=12345 + i,
            epochs=10 + i,
            lr="1e-3" if i % 2 else "0.002",
            batch=64 * (1 + i % 3),
            model_extra=extra,
            logger_extra=logger_extra,
        )
    return out


HYDRA_CONFIG = """\
experiments:
  dir: configs/experiment
  identity: path
  name_key: null
  output_key: null
  schema_mode: none
  exclude: []
"""


@pytest.fixture
def hydra_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "hydra-project"
    files = {**HYDRA_FILES, **hydra_experiments()}
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(textwrap.dedent(text), encoding="utf-8")
    (repo / ".claudio.yaml").write_text(
        HYDRA_CONFIG + "  hydra:\n    config_dir: configs\n    config_name: train\n"
    )
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "hydra project")
    return repo


def test_hydra_mode_composes_every_experiment_with_no_false_finding(hydra_repo: Path, cli) -> None:
    pytest.importorskip("hydra")
    assert len(list((hydra_repo / "configs" / "experiment").iterdir())) >= 10
    assert cli(hydra_repo) == (0, "")


def test_hydra_mode_reports_what_the_composition_breaks(hydra_repo: Path, cli) -> None:
    pytest.importorskip("hydra")
    path = hydra_repo / "configs" / "experiment" / "exp_01_mnist.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("lin2_size: 256", "lin2_size: ${data.batch_sise}"))
    broken = hydra_repo / "configs" / "experiment" / "exp_02_mnist.yaml"
    broken.write_text(broken.read_text(encoding="utf-8").replace("/model: mnist", "/model: mnsit"))
    code, out = cli(hydra_repo)
    assert code == 1
    assert "configs/experiment/exp_01_mnist.yaml:27:16: EXP301 $.model.net.lin2_size:" in out
    assert "configs/experiment/exp_02_mnist.yaml:1:1: EXP308 Hydra cannot compose" in out
    assert out.count("EXP") == 2


def test_without_hydra_mode_keys_from_the_composition_are_notices(hydra_repo: Path, cli) -> None:
    (hydra_repo / ".claudio.yaml").write_text(HYDRA_CONFIG)
    code, out = cli(hydra_repo)
    assert code == 0
    assert "EXP301 [notice]" in out
    assert "[error]" not in out and "warning" not in out


# --- detectron2's _BASE_, and experiments named by their path -------------------------------------


def test_base_configs_are_merged_under_the_experiment(ml_repo: Path, cli) -> None:
    base = ml_repo / "configs" / "Base-Model.yaml"
    base.parent.mkdir()
    base.write_text(
        "model:\n  hidden_size: 64\n  layers: 2\ntraining:\n  epochs: 10\n  batch_size: 32\n"
        "  learning_rate: 0.001\noutput:\n  checkpoint_freq: 5\n"
    )
    child = ml_repo / "configs" / "Child.yaml"
    child.write_text("_BASE_: Base-Model.yaml\ntraining:\n  epochs: 20\n")
    exp_file = ml_repo / "experiments" / "cnn.yaml"
    exp_file.write_text(
        '_BASE_: "../configs/Child.yaml"\nmodel:\n  name: cnn\n'
        "output:\n  dir: outputs/${experiment_name}/e${training.epochs}\n"
    )
    assert cli(ml_repo, "experiments/cnn.yaml") == (0, "")
    child.write_text("_BASE_: Missing.yaml\n")
    code, out = cli(ml_repo, "experiments/cnn.yaml")
    assert code == 1
    assert out.startswith(
        "experiments/cnn.yaml:1:9: EXP308 _BASE_: Missing.yaml cannot be read: "
        "No such file or directory"
    )
    child.write_text("_BASE_: ../experiments/cnn.yaml\n")
    assert "never ends" in cli(ml_repo, "experiments/cnn.yaml")[1]


def test_identity_by_path_lets_two_datasets_share_a_stem(ml_repo: Path, cli) -> None:
    for dataset in ("cifar", "mnist"):
        path = ml_repo / "experiments" / dataset / "base.yaml"
        path.parent.mkdir()
        path.write_text(config("base", out=f"outputs/{dataset}/${{experiment_name}}"))
    code, out = cli(ml_repo)
    assert (code, "EXP105 experiment 'base' is also defined by" in out) == (1, True)
    (ml_repo / ".claudio.yaml").write_text("experiments:\n  identity: path\n")
    assert cli(ml_repo) == (0, "")


def test_hydra_mode_composes_an_experiment_in_a_subfolder_of_the_group(
    hydra_repo: Path, cli
) -> None:
    pytest.importorskip("hydra")
    source = hydra_repo / "configs" / "experiment" / "exp_01_mnist.yaml"
    nested = hydra_repo / "configs" / "experiment" / "mnist" / "exp_01_mnist.yaml"
    nested.parent.mkdir()
    nested.write_text(source.read_text(encoding="utf-8").replace("seed: 12346", "seed: 7"))
    assert cli(hydra_repo) == (0, "")  # identity by path: not the same experiment as the other
    nested.write_text(nested.read_text(encoding="utf-8").replace("${tags}", "${tagz}"))
    code, out = cli(hydra_repo)
    assert code == 1
    assert "configs/experiment/mnist/exp_01_mnist.yaml:" in out
    assert "EXP301 $.logger.wandb.tags: ${tagz} refers to a key that does not exist" in out


def test_hydra_mode_places_findings_of_an_experiment_in_its_group_package(
    hydra_repo: Path, cli
) -> None:
    """Without `# @package _global_`, Hydra puts the file's keys under its group."""
    pytest.importorskip("hydra")
    path = hydra_repo / "configs" / "experiment" / "grouped.yaml"
    path.write_text("note: ok\nrun_name: ${.note}_${experiment.missing}\n", encoding="utf-8")
    code, out = cli(hydra_repo, "configs/experiment/grouped.yaml")
    assert code == 1
    assert out.startswith(
        "configs/experiment/grouped.yaml:2:11: EXP301 $.experiment.run_name: "
        "${experiment.missing} refers to a key that does not exist"
    )


def test_hydra_mode_a_changed_group_config_checks_the_experiments_composing_it(
    hydra_repo: Path, cli
) -> None:
    """pre-commit passes `configs/model/mnist.yaml` alone: the experiments composed with it
    are checked again."""
    pytest.importorskip("hydra")
    model = hydra_repo / "configs" / "model" / "mnist.yaml"
    assert cli(hydra_repo, "configs/model/mnist.yaml") == (0, "")
    model.write_text(
        model.read_text(encoding="utf-8").replace("patience: 10", "patience: ${nope.p}")
    )
    code, out = cli(hydra_repo, "configs/model/mnist.yaml")
    assert code == 1
    assert "EXP301" in out and "configs/experiment/exp_01_mnist.yaml" in out
    assert (  # the file that wrote the reference is named
        "EXP301 $.model.scheduler.patience: ${nope.p} refers to a key that does not exist "
        "(written in configs/model/mnist.yaml)" in out
    )
    (hydra_repo / ".claudio.yaml").write_text(HYDRA_CONFIG)  # no Hydra mode: nothing composed
    assert cli(hydra_repo, "configs/model/mnist.yaml") == (0, "")


@pytest.mark.slow
def test_pre_commit_hook_in_a_hydra_layout_checks_a_staged_group_config(
    hydra_repo: Path, hook_repo: tuple[Path, str], pre_commit_home: Path, run_cli
) -> None:
    """The real pre-commit, with the hook as `claudio-ci init` lists it, on a Hydra project:
    a commit that only changes configs/model/mnist.yaml fails when it breaks an experiment."""
    snapshot, sha = hook_repo
    (hydra_repo / ".claudio.yaml").unlink()
    assert run_cli("init", str(hydra_repo)).code == 0
    written = yaml.safe_load((hydra_repo / ".pre-commit-config.yaml").read_text("utf-8"))
    (hook,) = [h for r in written["repos"] for h in r["hooks"] if h["id"] == "experiment-config"]
    assert hook == {"id": "experiment-config", "additional_dependencies": ["hydra-core"]}
    ours = {"repos": [{"repo": str(snapshot), "rev": sha, "hooks": [hook]}]}
    (hydra_repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(ours))
    model = hydra_repo / "configs" / "model" / "mnist.yaml"
    model.write_text(
        model.read_text(encoding="utf-8").replace("patience: 10", "patience: ${nope.p}")
    )
    git(hydra_repo, "add", "-A")
    proc = run_pre_commit(
        hydra_repo, "run", "--files", "configs/model/mnist.yaml", home=pre_commit_home
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert re.search(r"experiment configs \(names, schema, output dirs\)\.+Failed", proc.stdout)
    assert "configs/experiment/exp_01_mnist.yaml" in proc.stdout
    assert "EXP301" in proc.stdout


def test_hydra_mode_experiment_name_is_not_a_variable(hydra_repo: Path, cli) -> None:
    """Under Hydra nothing defines `${experiment_name}`: Hydra itself fails on it."""
    pytest.importorskip("hydra")
    path = hydra_repo / "configs" / "experiment" / "exp_01_mnist.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "run_name: ${experiment_name}\n")
    code, out = cli(hydra_repo, "configs/experiment/exp_01_mnist.yaml")
    assert code == 1
    assert "EXP301 $.run_name: ${experiment_name} refers to a key that does not exist" in out
    assert "or to ${experiment_name}" not in out
    from hydra import compose, initialize_config_dir  # the judge agrees
    from omegaconf.errors import InterpolationKeyError

    with initialize_config_dir(str(hydra_repo / "configs"), version_base=None):
        cfg = compose("train", overrides=["experiment=exp_01_mnist"])
    with pytest.raises(InterpolationKeyError):
        _ = cfg.run_name


def test_hydra_mode_plugins_the_project_sets_are_not_forced_away(hydra_repo: Path, cli) -> None:
    """A Submitit launcher and the Optuna sweeper with their own keys, not installed here:
    no experiment fails to compose; a real error in the `hydra` node names its key."""
    pytest.importorskip("hydra")
    hydra_config = hydra_repo / "configs" / "hydra" / "default.yaml"
    hydra_config.write_text(
        "defaults:\n  - override launcher: submitit_slurm\n  - override job_logging: colorlog\n"
        + hydra_config.read_text(encoding="utf-8")
        + "launcher:\n  timeout_min: 60\n  partition: gpu\n"
    )
    search = hydra_repo / "configs" / "experiment" / "exp_05_mnist.yaml"
    search.write_text(
        search.read_text(encoding="utf-8").replace(
            "defaults:\n", "defaults:\n  - override /hydra/sweeper: optuna\n"
        )
        + "hydra:\n  sweeper:\n    n_trials: 20\n    direction: maximize\n"
    )
    assert cli(hydra_repo) == (0, "")
    broken = hydra_repo / "configs" / "experiment" / "exp_07_mnist.yaml"
    broken.write_text(broken.read_text(encoding="utf-8") + "hydra:\n  job:\n    chdirr: true\n")
    code, out = cli(hydra_repo)
    assert code == 1
    assert out.count("EXP308") == 1
    assert "configs/experiment/exp_07_mnist.yaml:1:1: EXP308 Hydra cannot compose" in out
    assert "chdirr" in out.splitlines()[0]


def test_hydra_mode_cache_sees_an_experiment_another_builds_on(hydra_repo: Path, cli) -> None:
    """`defaults: [exp_01_mnist, _self_]`: editing exp_01 changes what child composes."""
    pytest.importorskip("hydra")
    base = hydra_repo / "configs" / "experiment" / "exp_01_mnist.yaml"
    child = hydra_repo / "configs" / "experiment" / "child.yaml"
    child.write_text("# @package _global_\ndefaults:\n  - exp_01_mnist\n  - _self_\nseed: 1\n")
    grandchild = hydra_repo / "configs" / "experiment" / "sub" / "grandchild.yaml"
    grandchild.parent.mkdir()
    grandchild.write_text("# @package _global_\ndefaults:\n  - /experiment/child\n  - _self_\n")
    both = ["configs/experiment/child.yaml", "configs/experiment/sub/grandchild.yaml"]
    assert cli(hydra_repo, *both) == (0, "")
    base.write_text(base.read_text(encoding="utf-8").replace("${tags}", "${tagz}"))
    code, out = cli(hydra_repo, *both)
    assert code == 1, out
    assert "configs/experiment/child.yaml" in out and "${tagz}" in out
    assert "configs/experiment/sub/grandchild.yaml" in out


def test_hydra_mode_reports_the_composition_error_of_the_experiment_itself(
    hydra_repo: Path, cli
) -> None:
    """An override of a group the primary config lacks: Hydra's own reason, not the one
    from retrying with `+experiment=`."""
    pytest.importorskip("hydra")
    path = hydra_repo / "configs" / "experiment" / "exp_01_mnist.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("defaults:\n", "defaults:\n  - override /optimizer: adam\n"))
    code, out = cli(hydra_repo, "configs/experiment/exp_01_mnist.yaml")
    assert code == 1
    first = out.splitlines()[0]
    assert "EXP308" in first and "'optimizer'" in first, first
    assert "+experiment" not in out and "append" not in out


def test_hydra_mode_a_group_left_to_the_launch_is_a_notice(hydra_repo: Path, cli) -> None:
    """`- logger: ???` in the primary defaults list: Hydra wants `logger=NAME` at launch."""
    pytest.importorskip("hydra")
    train = hydra_repo / "configs" / "train.yaml"
    train.write_text(train.read_text(encoding="utf-8").replace("logger: null", "logger: ???"))
    plain = hydra_repo / "configs" / "experiment" / "plain.yaml"
    plain.write_text("# @package _global_\nseed: 3\nrun: ${logger.csv.name}\n")
    code, out = cli(hydra_repo)
    assert code == 0, out
    assert "configs/experiment/plain.yaml:1:1: EXP308 [notice] the primary config leaves " in out
    assert "EXP301 [notice] $.run: ${logger.csv.name}" in out
    assert out.count("plain.yaml") == 2 and "exp_01" not in out  # the others choose one


def test_hydra_mode_a_missing_primary_config_is_one_line_exit_2(hydra_repo: Path, cli) -> None:
    (hydra_repo / ".claudio.yaml").write_text(
        HYDRA_CONFIG + "  hydra:\n    config_dir: configs\n    config_name: trian\n"
    )
    code, out = cli(hydra_repo)
    assert code == 2
    assert out.count("\n") == 1 and "config_name 'trian'" in out and "configs/trian.yaml" in out
