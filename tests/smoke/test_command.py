"""`claudio-ci smoke-test` end to end: the example project trains for real, broken variants fail
with the right finding, and any training CLI fits through the command template."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from claudio_ci.adapters import procfs
from claudio_ci.smoke.report import HEADERS
from tests.conftest import RunCli
from tests.gitutil import EXAMPLE_PROJECT, GIT_IDENTITY, REPO_ROOT, commit_all, git

FAKE_TRAIN = """\
import argparse, json, pathlib, subprocess, sys, time
import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--config", required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()
out = pathlib.Path(args.out)
out.mkdir(parents=True, exist_ok=True)
print("training", args.config, flush=True)
BEFORE
losses = LOSSES
steps = [{"step": i + 1, "loss": loss} for i, loss in enumerate(losses)]
(out / "metrics.json").write_text(json.dumps({"steps": steps, "final_loss": losses[-1]}))
SAVE
"""
GOOD = {
    "BEFORE": "",
    "LOSSES": "[1.0, 0.8, 0.6, 0.5]",
    "SAVE": 'np.savez(out / "model.npz", w=np.ones(3))',
}
SETTINGS = """\
smoke_test:
  command: python train.py --config {config} --out outputs/{name}
  checkpoint_path: outputs/{name}/model.npz
"""
SLEEPER = "import time; time.sleep(300)"

Smoke = Callable[..., tuple[int, str, str]]
Project = Callable[..., Path]


def _trainer(**parts: str) -> str:
    script = FAKE_TRAIN
    for key, value in (GOOD | parts).items():
        script = script.replace(key, value)
    return script


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A committed repository whose training script is FAKE_TRAIN with some parts replaced."""

    def make(settings: str = SETTINGS, **parts: str) -> Path:
        repo = tmp_path / "project"
        (repo / "experiments").mkdir(parents=True)
        (repo / "experiments" / "test.yaml").write_text("model: {name: test}\n", encoding="utf-8")
        (repo / "train.py").write_text(_trainer(**parts), encoding="utf-8")
        (repo / ".claudio.yaml").write_text(settings, encoding="utf-8")
        (repo / ".gitignore").write_text("outputs/\n", encoding="utf-8")
        git(repo, "init", "-q", "-b", "main")
        commit_all(repo, "fake project")
        return repo

    return make


@pytest.fixture
def smoke(run_cli: RunCli) -> Smoke:
    """`claudio-ci smoke-test ARGS` in `repo`, in process: (exit code, stdout, stderr)."""

    def run(repo: Path, *args: str) -> tuple[int, str, str]:
        return run_cli("smoke-test", *args, cwd=repo)

    return run


def _findings(out: str) -> list[dict]:
    return json.loads(out)["findings"]


# --- the example project, for real --------------------------------------------------------


@pytest.fixture(scope="session")
def example_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example PyTorch project, committed (copy it before changing it)."""
    repo = tmp_path_factory.mktemp("smoke-example") / "ml-project"
    shutil.copytree(EXAMPLE_PROJECT, repo, ignore=shutil.ignore_patterns("outputs", "__pycache__"))
    git(repo, "init", "-q", "-b", "main", env=GIT_IDENTITY)
    git(repo, "add", "-A", env=GIT_IDENTITY)
    git(repo, "commit", "-q", "-m", "example project", env=GIT_IDENTITY)
    return repo


@pytest.fixture
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Torch's threads only fight over a busy CI machine's cores for so small a model."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.mark.usefixtures("one_thread")
def test_the_example_project_passes_for_real(example_project: Path, smoke: Smoke) -> None:
    code, out, err = smoke(example_project, "--format", "json")
    assert code == 0, out + err
    report = json.loads(out)
    [result] = report["experiments"]
    assert result["experiment"] == "test"
    assert result["command"] == (
        "python src/training/train.py --config experiments/test.yaml --epochs 1 --batch-size 2 "
        "--device cpu"
    )
    assert set(result["checks"].values()) == {"pass"}
    assert result["exit_code"] == 0
    first, last = result["loss_trend"][1:]
    assert last < first
    assert 0 < result["final_loss"] < 5
    assert result["peak_rss_mb"] > 50  # torch is loaded
    assert report["findings"] == []
    assert "epoch 1/1 loss=" in err  # the live log goes to stderr when stdout is JSON
    metrics = json.loads((example_project / "outputs/test/metrics.json").read_text("utf-8"))
    assert metrics["device"] == "cpu"
    assert len(metrics["steps"]) == 1024  # 2048 samples, batch size 2


@pytest.mark.usefixtures("one_thread")
def test_an_exception_in_forward_is_annotated_at_its_line(
    example_project: Path, tmp_path: Path, smoke: Smoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "broken"
    shutil.copytree(example_project, repo, ignore=shutil.ignore_patterns("outputs"))
    model = repo / "src" / "models" / "baseline.py"
    source = model.read_text(encoding="utf-8")
    forward = "        return self.mlp(x.mean(dim=1))\n"
    assert forward in source
    model.write_text(
        source.replace(forward, '        raise RuntimeError("shape mismatch in forward")\n'),
        encoding="utf-8",
    )
    line = source[: source.index(forward)].count("\n") + 1
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    code, out, _ = smoke(repo)

    assert code == 1
    assert out.startswith("::group::smoke test test: python src/training/train.py --config ")
    assert "<== test: FAILED in " in out and "::endgroup::\n" in out
    assert (
        f"::error file=src/models/baseline.py,line={line},col=1,title=SMK001::"
        "test: the training command exited with 1: RuntimeError: shape mismatch in forward%0A"
        "reproduce with: CUDA_VISIBLE_DEVICES= python src/training/train.py" in out
    )
    markdown = summary.read_text(encoding="utf-8")
    assert "| `test` | failed |" in markdown
    assert "| ❌ 1 | ➖ | ➖ | ➖ | ➖ | ➖ |" in markdown
    assert "<details><summary>test: last " in markdown
    assert 'raise RuntimeError("shape mismatch in forward")' in markdown


# --- broken variants, with a tiny training script -------------------------------------------


def test_a_fake_trainer_passes_and_shows_its_table(project: Project, smoke: Smoke) -> None:
    code, out, _ = smoke(project())
    assert code == 0, out
    assert out.startswith("==> smoke test test: python train.py --config experiments/test.yaml")
    header, row = (
        re.split(r"\s{2,}", line) for line in out.split("<== test: passed in ")[1].splitlines()[1:]
    )
    assert header == list(HEADERS)
    assert row[:2] == ["test", "passed"]
    assert row[2].endswith(" s")
    assert row[3].endswith(" MB")
    assert row[4:] == ["0.5", "ok 0", "ok", "ok", "ok 1 → 0.5", "ok", "ok 1 arrays"]


@pytest.mark.parametrize(
    ("parts", "code", "message"),
    [
        (
            {"LOSSES": '[1.0, float("nan"), 0.6]'},
            "SMK103",
            "test: outputs/test/metrics.json holds 1 NaN or infinite value(s), first at "
            "$.steps[1].loss = nan",
        ),
        (
            {"LOSSES": "[0.5, 0.6, 0.9, 1.2]"},
            "SMK104",
            "test: the loss rose: mean of the first 1 logged value(s) 0.5, of the last 1 1.2 "
            "(+140%)",
        ),
        ({"SAVE": ""}, "SMK201", "test: no checkpoint at outputs/test/model.npz"),
        (
            {"SAVE": 'np.savez(out / "model.npz", w=np.array([1.0, np.inf]))'},
            "SMK203",
            "test: outputs/test/model.npz holds NaN or infinite weights: w",
        ),
        (
            {"SAVE": '(out / "model.npz").write_bytes(b"not a zip")'},
            "SMK202",
            f"test: outputs/test/model.npz does not load with {sys.executable}: ",
        ),
    ],
    ids=["nan-loss", "rising-loss", "no-checkpoint", "nan-weights", "corrupt-checkpoint"],
)
def test_a_broken_run_fails_with_the_right_finding(
    project: Project, smoke: Smoke, parts: dict[str, str], code: str, message: str
) -> None:
    exit_code, out, _ = smoke(project(**parts), "--format", "json")
    assert exit_code == 1
    [finding] = _findings(out)
    assert (finding["code"], finding["path"]) == (code, "experiments/test.yaml")
    assert finding["message"].startswith(message)


def test_a_checkpoint_left_by_an_earlier_run_does_not_count(project: Project, smoke: Smoke) -> None:
    repo = project()
    assert smoke(repo)[0] == 0
    (repo / "train.py").write_text(_trainer(SAVE=""), encoding="utf-8")
    code, out, _ = smoke(repo, "--format", "json")
    assert code == 1
    [finding] = _findings(out)
    assert finding["code"] == "SMK201"
    assert finding["message"] == (
        "test: outputs/test/model.npz was not written by this run (it is left from an earlier one)"
    )


def test_a_torch_checkpoint_of_a_whole_module_does_not_load(project: Project, smoke: Smoke) -> None:
    save = (
        "import torch\nclass Net(torch.nn.Linear):\n    pass\n"
        'torch.save(Net(2, 2), out / "model.pt")'
    )
    settings = SETTINGS.replace("model.npz", "model.pt")
    code, out, _ = smoke(project(settings, SAVE=save), "--format", "json")
    assert code == 1
    [finding] = _findings(out)
    assert finding["code"] == "SMK202"
    assert finding["message"].startswith(
        f"test: outputs/test/model.pt does not load with {sys.executable}: UnpicklingError: "
    )
    assert "weights_only=True" in finding["hint"]


def test_safetensors_checkpoints_load_with_safetensors(project: Project, smoke: Smoke) -> None:
    settings = SETTINGS.replace("model.npz", "model.safetensors") + "  env: {PYTHONPATH: stubs}\n"
    repo = project(settings, SAVE='(out / "model.safetensors").write_bytes(b"weights")')
    stub = repo / "stubs" / "safetensors"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("", encoding="utf-8")
    (stub / "torch.py").write_text(
        "def load_file(path, device):\n"
        "    assert open(path, 'rb').read() == b'weights' and device == 'cpu'\n"
        "    return {'w': float('nan'), 'b': 0.5}\n",
        encoding="utf-8",
    )
    code, out, _ = smoke(repo, "--format", "json")
    assert code == 1
    [finding] = _findings(out)
    assert finding["message"] == (
        "test: outputs/test/model.safetensors holds NaN or infinite weights: w"
    )


def test_a_hang_is_stopped_with_its_children(project: Project, smoke: Smoke) -> None:
    hang = (
        f"child = subprocess.Popen([sys.executable, '-c', {SLEEPER!r}])\n"
        "print('child', child.pid, flush=True)\ntime.sleep(300)"
    )
    code, out, _ = smoke(project(BEFORE=hang), "--timeout", "1", "--format", "json")
    assert code == 1
    [finding] = _findings(out)
    assert finding["code"] == "SMK002"
    assert finding["message"].startswith("test: still running after 1 s: stopped the process tree")
    child = int(finding["message"].rsplit("child ", 1)[1])
    assert procfs.read_process(child) is None
    checks = json.loads(out)["experiments"][0]["checks"]
    assert (checks["time"], checks["exit"], checks["metrics"]) == ("fail", "skip", "skip")


def test_a_memory_hog_is_stopped(project: Project, smoke: Smoke) -> None:
    hog = "hog = b'x' * (300 * 1024 * 1024)\ntime.sleep(300)"
    code, out, _ = smoke(
        project(BEFORE=hog), "--set", "smoke_test.max_memory_mb=100", "--format", "json"
    )
    assert code == 1
    [finding] = _findings(out)
    assert finding["code"] == "SMK003"
    assert finding["message"].endswith(
        "MB of memory, over max_memory_mb 100: stopped the process tree"
    )
    assert json.loads(out)["experiments"][0]["peak_rss_mb"] > 100


def test_processes_left_running_are_a_warning_not_a_failure(project: Project, smoke: Smoke) -> None:
    leak = f"subprocess.Popen([sys.executable, '-c', {SLEEPER!r}])"
    code, out, _ = smoke(project(BEFORE=leak))
    assert code == 0
    assert (
        "experiments/test.yaml: SMK004 [warning] test: the training command exited but left 1"
        in out
    )


def test_any_training_cli_fits_the_template(tmp_path: Path, smoke: Smoke) -> None:
    """Not our train.py: a positional name, `--cfg=`, JSON Lines metrics under runs/."""
    repo = tmp_path / "theirs"
    (repo / "scripts").mkdir(parents=True)
    (repo / "configs").mkdir()
    (repo / "configs" / "tiny.toml").write_text("lr = 0.1\n", encoding="utf-8")
    (repo / "scripts" / "fit.py").write_text(
        "import json, pathlib, sys\nimport numpy as np\n"
        "name, cfg = sys.argv[1], sys.argv[2].removeprefix('--cfg=')\n"
        "run = pathlib.Path('runs', name)\nrun.mkdir(parents=True, exist_ok=True)\n"
        "with open(run / 'log.jsonl', 'w') as log:\n"
        "    for step, loss in enumerate([2.0, 1.5, 1.2, 1.0, 0.9]):\n"
        "        log.write(json.dumps({'step': step, 'loss': loss, 'cfg': cfg}) + '\\n')\n"
        "np.save(run / 'weights.npy', np.zeros(4))\n",
        encoding="utf-8",
    )
    (repo / ".claudio.yaml").write_text(
        "smoke_test:\n"
        "  command: python3 scripts/fit.py {name} --cfg={config}\n"
        "  configs: [configs/*.toml]\n"
        "  metrics_path: runs/{name}/log.jsonl\n"
        "  checkpoint_path: runs/{name}/weights.npy\n",
        encoding="utf-8",
    )
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "their project")
    code, out, err = smoke(repo, "--format", "json")
    assert code == 0, out + err
    [result] = json.loads(out)["experiments"]
    assert (result["experiment"], result["config"]) == ("tiny", "configs/tiny.toml")
    assert result["final_loss"] == 0.9
    assert result["checks"]["loads"] == "pass"
    assert json.loads((repo / "runs/tiny/log.jsonl").read_text().splitlines()[0])["cfg"] == (
        "configs/tiny.toml"
    )


def test_the_import_check_runs_once_before_training(project: Project, smoke: Smoke) -> None:
    settings = SETTINGS + "  import_check: models:Net\n"
    repo = project(settings, BEFORE="sys.exit('training must not run')")
    (repo / "models.py").write_text(
        "class Net:\n    def __init__(self):\n        raise ValueError('no weights')\n",
        encoding="utf-8",
    )
    code, out, _ = smoke(repo, "--format", "json")
    assert code == 1
    by_code = {finding["code"]: finding for finding in _findings(out)}
    assert set(by_code) == {"SMK001", "SMK301"}
    import_failure = by_code["SMK301"]
    assert (import_failure["code"], import_failure["path"], import_failure["line"]) == (
        "SMK301",
        "models.py",
        3,
    )
    assert import_failure["message"] == "import check models:Net failed: ValueError: no weights"

    (repo / "models.py").write_text("class Net:\n    pass\n", encoding="utf-8")
    (repo / "train.py").write_text(_trainer(), encoding="utf-8")
    code, out, _ = smoke(repo, "--format", "markdown")
    assert code == 0, out
    assert "Import check `models:Net`: passed." in out
    assert "| `test` | passed |" in out


MODELS = """\
from dataclasses import dataclass


@dataclass
class GPTConfig:
    n_layer: int = 12
    vocab_size: int = 50304


class GPT:
    def __init__(self, config):
        assert config.n_layer == 2, config


class MLP:
    def __init__(self, hidden, layers=1):
        assert (hidden, layers) == (8, 3)
"""


@pytest.mark.parametrize(
    "settings",
    [
        "  import_check: models:GPT\n  import_config: models:GPTConfig\n"
        "  import_kwargs: {n_layer: 2}\n",
        "  import_check: models:MLP\n  import_kwargs: {hidden: 8, layers: 3}\n",
    ],
    ids=["config-object", "kwargs"],
)
def test_the_import_check_builds_models_that_need_arguments(
    project: Project, smoke: Smoke, settings: str
) -> None:
    repo = project(SETTINGS + settings)
    (repo / "models.py").write_text(MODELS, encoding="utf-8")
    code, out, _ = smoke(repo, "--format", "markdown")
    assert code == 0, out
    assert "`: passed." in out

    (repo / ".claudio.yaml").write_text(
        SETTINGS + settings.replace(": 2}", ": 4}").replace("layers: 3", "layers: 1"),
        encoding="utf-8",
    )
    code, out, _ = smoke(repo, "--format", "json")
    assert code == 1
    [finding] = _findings(out)
    assert (finding["code"], finding["path"]) == ("SMK301", "models.py")
    assert "AssertionError" in finding["message"]


# --- selection, matrix and errors -----------------------------------------------------------


def test_matrix_lists_the_selection_for_github(
    project: Project, smoke: Smoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = project()
    (repo / "experiments" / "wide.yaml").write_text("model: {name: wide}\n", encoding="utf-8")
    output = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    code, out, _ = smoke(repo, "--all", "--matrix")
    assert code == 0
    expected = (
        '{"include":[{"experiment":"test","config":"experiments/test.yaml"},'
        '{"experiment":"wide","config":"experiments/wide.yaml"}]}'
    )
    assert out == expected + "\n"
    assert output.read_text(encoding="utf-8") == f"matrix={expected}\ncount=2\n"
    assert not (repo / "outputs").exists()


def test_changed_only_with_nothing_changed_runs_nothing(project: Project, smoke: Smoke) -> None:
    repo = project()
    git(repo, "switch", "-q", "-c", "claudio/ab12-docs")
    (repo / "README.md").write_text("# docs\n", encoding="utf-8")
    code, out, _ = smoke(repo, "--changed-only")
    assert code == 0
    assert out == (
        "No experiment to smoke-test: no experiment config, nor shared code, changed since main.\n"
    )


@pytest.mark.parametrize(
    ("args", "settings", "error"),
    [
        (
            ["--experiment", "nope"],
            SETTINGS,
            "claudio-ci: error: --experiment nope: is not an experiment (known: test)\n",
        ),
        (
            [],
            "smoke_test:\n  command: no-such-trainer {config}\n",
            "claudio-ci: error: smoke_test.command: cannot run 'no-such-trainer': "
            "No such file or directory\n",
        ),
    ],
    ids=["unknown-experiment", "command-not-found"],
)
def test_usage_and_configuration_errors_exit_2(
    project: Project, smoke: Smoke, args: list[str], settings: str, error: str
) -> None:
    code, _, err = smoke(project(settings), *args)
    assert (code, err.splitlines()[-1] + "\n") == (2, error)


def test_an_unknown_experiment_is_one_line_whatever_the_names(
    project: Project, smoke: Smoke
) -> None:
    repo = project()
    (repo / "experiments" / "two\nlines.yaml").write_text("model: {}\n", encoding="utf-8")
    code, _, err = smoke(repo, "--experiment", "no\npe")
    assert (code, err) == (
        2,
        "claudio-ci: error: --experiment no\\npe: is not an experiment "
        "(known: test, two\\nlines)\n",
    )


def test_the_action_passes_inputs_through_env_only() -> None:
    action = REPO_ROOT / "actions" / "smoke-test" / "action.yml"
    proc = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-actions",
         str(action)],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    import yaml

    steps = yaml.safe_load(action.read_text(encoding="utf-8"))["runs"]["steps"]
    scripts = [step["run"] for step in steps if "run" in step]
    assert len(scripts) == 3
    assert not any("${{" in script for script in scripts)
    assert 'claudio-ci "${args[@]}"' in scripts[-1]


def test_changed_only_counts_code_outside_src(project: Project, smoke: Smoke) -> None:
    """A flat repository like nanoGPT: `train.py` at the root is code every experiment runs."""
    repo = project()
    git(repo, "switch", "-q", "-c", "claudio/ab12-model")
    (repo / "model.py").write_text("LAYERS = 2\n", encoding="utf-8")
    code, out, _ = smoke(repo, "--changed-only", "--format", "json")
    assert code == 0, out
    assert [e["experiment"] for e in json.loads(out)["experiments"]] == ["test"]


def test_a_configs_glob_that_matches_nothing_is_a_finding(project: Project, smoke: Smoke) -> None:
    repo = project(SETTINGS + "  configs: [experiments/test.yaml, experiment/*.yaml]\n")
    code, out, _ = smoke(repo, "--format", "json")
    assert code == 1
    [finding] = _findings(out)
    assert finding["code"] == "SMK005"
    assert (finding["path"], finding["line"]) == (".claudio.yaml", 4)
    assert "experiment/*.yaml matches no file" in finding["message"]


def test_changed_only_without_the_base_names_the_base_option(
    project: Project, smoke: Smoke
) -> None:
    repo = project()
    git(repo, "branch", "-q", "-m", "trunk")
    code, _, err = smoke(repo, "--changed-only")
    assert code == 2
    assert err.splitlines()[-1].startswith("claudio-ci: error: --changed-only: cannot compare")
    assert err.splitlines()[-1].endswith("name the branch to compare with with --base")


def test_a_loss_without_a_trend_says_so_in_the_table(project: Project, smoke: Smoke) -> None:
    code, out, _ = smoke(project(LOSSES="[1.0]"))
    assert code == 0
    [row] = [line for line in out.splitlines() if line.startswith("test ")]
    assert "- one value, no trend" in row
