"""The smoke test on what real trainers write, without changing their code.

Each project below trains a tiny model with real PyTorch on CPU and leaves its results the
way one framework does: a Lightning-like run (CSVLogger `metrics.csv`, a `.ckpt` whose
`state_dict` is the model and whose callback state holds `kth_value = inf`), a Hugging
Face Trainer-like run (`checkpoint-N/trainer_state.json` + `model.safetensors`), a print-only
loop like nanoGPT's and minGPT's (losses only in the log, `out/ckpt.pt` with the weights under
`model`), a JSON Lines logger with `train_loss`, appended across runs, saving the whole
model, a TensorBoard writer (tensorboardX, detected), and Hydra-like dated run directories.
Each passes when healthy and fails with the right code when broken.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import invoke_cli
from tests.gitutil import commit_all, git

pytestmark = pytest.mark.slow

CORE = """\
import json, os, pathlib, sys
import torch

MODE = os.environ.get("SMOKE_MODE", "healthy")
torch.manual_seed(0)
torch.set_num_threads(1)
x = torch.randn(64, 4)
y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
# "rising": gradient ascent, a sign error in the loss
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, maximize=MODE == "rising")


def train(steps=24):
    for step in range(steps):
        inputs = x.clone()
        if MODE == "nan" and step >= steps // 2:
            inputs[0, 0] = float("nan")
        loss = torch.nn.functional.mse_loss(model(inputs), y)
        optimizer.zero_grad()
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), 1e9))
        optimizer.step()
        yield step, float(loss), grad_norm
    if MODE == "nan_weights":
        with torch.no_grad():
            model[0].weight[0, 0] = float("nan")


def save_checkpoint(path, obj):
    if MODE == "no_checkpoint":
        return
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
"""

LIGHTNING = """\
root = pathlib.Path("lightning_logs")
version = len(list(root.glob("version_*"))) if root.exists() else 0
run = root / f"version_{version}"
run.mkdir(parents=True)
(run / "hparams.yaml").write_text("lr: 0.05\\n")
rows = ["epoch,step,train_loss,val_loss"]
for step, loss, _ in train():
    rows.append(f"0,{step},{loss},")
rows.append(f"0,{step},,{loss}")
(run / "metrics.csv").write_text("\\n".join(rows) + "\\n")
monitor = "ModelCheckpoint{'monitor': None, 'mode': 'min', 'every_n_train_steps': 0}"
save_checkpoint(run / "checkpoints" / f"epoch=0-step={step + 1}.ckpt", {
    "epoch": 0,
    "global_step": step + 1,
    "pytorch-lightning_version": "2.5.0",
    "state_dict": model.state_dict(),
    "loops": {"fit_loop": {"epoch_progress": {"total": {"completed": 1}}}},
    "callbacks": {monitor: {
        "monitor": None, "best_model_score": None, "best_model_path": "",
        "kth_value": torch.tensor(float("inf")), "best_k_models": {},
    }},
    "optimizer_states": [optimizer.state_dict()],
    "lr_schedulers": [],
})
print("`Trainer.fit` stopped: `max_epochs=1` reached.")
"""

HUGGING_FACE = """\
from safetensors.torch import save_file
out = pathlib.Path("out")
history = []
for step, loss, grad_norm in train():
    if (step + 1) % 4 == 0:
        history.append({"epoch": (step + 1) / 24, "grad_norm": grad_norm,
                        "learning_rate": 0.05, "loss": loss, "step": step + 1})
        print({"loss": loss, "grad_norm": grad_norm, "learning_rate": 0.05})
history.append({"epoch": 1.0, "step": 24, "total_flos": 0.0, "train_loss": loss,
                "train_runtime": 0.5, "train_samples_per_second": 128.0})
checkpoint = out / "checkpoint-24"
checkpoint.mkdir(parents=True, exist_ok=True)
state = {"best_metric": None, "epoch": 1.0, "global_step": 24, "log_history": history,
         "max_steps": 24, "num_train_epochs": 1, "trial_name": None}
(checkpoint / "trainer_state.json").write_text(json.dumps(state, indent=2))
if MODE != "no_checkpoint":
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(checkpoint / "model.safetensors"))
"""

NANOGPT = """\
for step, loss, _ in train():
    print(f"iter {step}: loss {loss:.4f}, time 12.34ms, mfu -100.00%")
    if step % 8 == 0:
        print(f"step {step}: train loss {loss:.4f}, val loss {loss:.4f}")
        print("\\r 50%|#####     | 5/10 [00:00<00:00]", end="")
        print()
save_checkpoint("out/ckpt.pt", {
    "model": model.state_dict(),
    "optimizer": optimizer.state_dict(),
    "model_args": {"n_layer": 2, "n_embd": 8},
    "iter_num": step,
    "best_val_loss": torch.tensor(float("inf")),
    "config": {"learning_rate": 0.05},
})
"""

JSONL_LOGGER = """\
log = pathlib.Path("runs/log.jsonl")
log.parent.mkdir(parents=True, exist_ok=True)
with log.open("a") as handle:
    for step, loss, _ in train():
        handle.write(json.dumps({"step": step, "train_loss": loss}) + "\\n")
save_checkpoint("runs/model.pt", model)  # the whole module: a trusted load
"""

TENSORBOARD = """\
from tensorboardX import SummaryWriter
writer = SummaryWriter("runs/tiny")
for step, loss, grad_norm in train():
    writer.add_scalar("train/loss", loss, step)
    writer.add_scalar("train/grad_norm", grad_norm, step)
writer.close()
save_checkpoint("runs/tiny/model.pt", {"model_state_dict": model.state_dict(), "step": step})
"""

HYDRA = """\
import time
now = time.time_ns()  # Hydra's outputs/DATE/TIME, one directory per run
run = pathlib.Path("outputs", time.strftime("%Y-%m-%d"), f"{time.strftime('%H-%M-%S')}-{now}")
run.mkdir(parents=True)
with (run / "metrics.jsonl").open("w") as handle:
    for step, loss, _ in train():
        handle.write(json.dumps({"step": step, "train/loss": loss}) + "\\n")
save_checkpoint(run / "model.pt", model.state_dict())
"""

FRAMEWORKS = {
    "lightning": (
        LIGHTNING,
        "  checkpoint_path: lightning_logs/*/checkpoints/*.ckpt\n",
    ),
    "hugging_face": (
        HUGGING_FACE,
        "  checkpoint_path: out/checkpoint-*/model.safetensors\n",
    ),
    "nanogpt": (NANOGPT, "  checkpoint_path: out/ckpt.pt\n"),
    "jsonl": (
        JSONL_LOGGER,
        "  metrics_path: runs/log.jsonl\n"
        "  loss_key: train_loss\n"
        "  checkpoint_path: runs/model.pt\n"
        "  trusted_checkpoints: true\n",
    ),
    "tensorboard": (TENSORBOARD, "  checkpoint_path: runs/*/model.pt\n"),
    "hydra": (
        HYDRA,
        "  metrics_path: outputs/*/*/metrics.jsonl\n  checkpoint_path: outputs/**/model.pt\n",
    ),
}

Run = Callable[..., tuple[int, dict]]


@pytest.fixture
def run_framework(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Run:
    """A committed project training like `framework`, smoke-tested in `mode`."""

    def run(
        framework: str,
        mode: str = "healthy",
        *,
        again: bool = False,
        body: str | None = None,
        settings: str | None = None,
        script: str | None = None,
    ) -> tuple[int, dict]:
        """`again`: in the same repository, after the previous run. `script`: the whole
        training script, instead of CORE and the framework's part."""
        default_body, default_settings = FRAMEWORKS[framework]
        body, settings = body or default_body, default_settings if settings is None else settings
        repo = tmp_path / framework
        if not again:
            (repo / "experiments").mkdir(parents=True)
            (repo / "experiments" / "tiny.yaml").write_text("model: {name: tiny}\n")
            (repo / "train.py").write_text(script or CORE + "\n" + body, encoding="utf-8")
            (repo / ".gitignore").write_text(
                "lightning_logs/\nout/\nruns/\noutputs/\n", encoding="utf-8"
            )
            git(repo, "init", "-q", "-b", "main")
        (repo / ".claudio.yaml").write_text(
            "smoke_test:\n"
            "  command: python train.py\n"
            "  configs: [experiments/tiny.yaml]\n"
            "  timeout_seconds: 120\n"
            f"  env: {{SMOKE_MODE: {mode}, OMP_NUM_THREADS: '1'}}\n" + settings,
            encoding="utf-8",
        )
        if not again:
            commit_all(repo, "project")
        code, out, _ = invoke_cli(monkeypatch, capsys, "smoke-test", "--format", "json", cwd=repo)
        return code, json.loads(out)

    return run


def _codes(report: dict) -> set[str]:
    return {f["code"] for f in report["findings"]}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_healthy_run_passes_as_the_framework_writes_it(
    framework: str, run_framework: Run
) -> None:
    code, report = run_framework(framework)
    assert code == 0, report
    [result] = report["experiments"]
    assert result["checks"] == dict.fromkeys(result["checks"], "pass"), result
    first, last = result["loss_trend"][1:]
    assert last < first
    assert report["findings"] == []


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize(
    ("mode", "code"),
    [
        ("nan", "SMK103"),
        ("rising", "SMK104"),
        ("nan_weights", "SMK203"),
        ("no_checkpoint", "SMK201"),
    ],
)
def test_a_broken_run_fails_with_the_right_code(
    framework: str, mode: str, code: str, run_framework: Run
) -> None:
    exit_code, report = run_framework(framework, mode)
    assert exit_code == 1
    assert code in _codes(report), report["findings"]


def test_lightning_checkpoints_are_checked_by_their_weights_only(run_framework: Run) -> None:
    """Every healthy Lightning checkpoint holds `kth_value = inf`: not a model weight."""
    _, report = run_framework("lightning", "nan_weights")
    [finding] = [f for f in report["findings"] if f["code"] == "SMK203"]
    assert "state_dict.0.weight" in finding["message"]
    assert "kth_value" not in finding["message"]


def test_the_newest_lightning_version_counts(run_framework: Run, tmp_path: Path) -> None:
    code, _ = run_framework("lightning", "rising")
    assert code == 1
    code, report = run_framework("lightning", again=True)
    assert code == 0, report["findings"]
    assert (tmp_path / "lightning/lightning_logs/version_1/metrics.csv").is_file()


def test_the_newest_hydra_run_directory_counts(run_framework: Run) -> None:
    code, _ = run_framework("hydra", "nan_weights")
    assert code == 1
    code, report = run_framework("hydra", again=True)
    assert code == 0, report["findings"]


def test_only_the_records_this_run_appended_count(run_framework: Run, tmp_path: Path) -> None:
    code, _ = run_framework("jsonl", "rising")
    assert code == 1
    code, report = run_framework("jsonl", again=True)
    assert code == 0, report["findings"]
    assert report["experiments"][0]["loss_trend"][0] == 6  # a quarter of this run's 24 records
    assert len((tmp_path / "jsonl/runs/log.jsonl").read_text().splitlines()) == 48


def test_a_whole_model_pickle_is_refused_with_torchs_reason_unless_trusted(
    run_framework: Run,
) -> None:
    untrusted = FRAMEWORKS["jsonl"][1].replace("  trusted_checkpoints: true\n", "")
    code, report = run_framework("jsonl", settings=untrusted)
    assert code == 1
    [finding] = report["findings"]
    assert finding["code"] == "SMK202"
    assert "Unsupported global" in finding["message"]
    assert "torch.nn.modules.container.Sequential" in finding["message"]
    assert "\x1b" not in finding["message"]


def test_the_print_only_loop_reads_its_losses_from_the_log(run_framework: Run) -> None:
    code, report = run_framework("nanogpt")
    assert code == 0
    [result] = report["experiments"]
    assert result["final_loss"] < result["loss_trend"][1]
    assert result["loss_trend"][0] == 27 // 4  # 24 iterations and 3 evaluations printed


def test_no_loss_anywhere_names_where_it_looked(run_framework: Run) -> None:
    quiet = NANOGPT.replace("loss {loss", "{loss")
    code, report = run_framework("nanogpt", body=quiet)
    assert code == 1
    [finding] = report["findings"]
    assert finding["code"] == "SMK101"
    assert "trainer_state.json" in finding["message"]
    assert "`loss[=: ]` and a number in the training log" in finding["message"]


def test_a_metrics_file_without_a_loss_is_a_notice(run_framework: Run) -> None:
    code, report = run_framework(
        "jsonl",
        settings=FRAMEWORKS["jsonl"][1].replace(
            "loss_key: train_loss", "loss_key: [loss, val_loss]"
        ),
    )
    assert code == 0
    [finding] = report["findings"]
    assert finding["code"] == "SMK105"
    assert finding["severity"] == "notice"
    assert "runs/log.jsonl" in finding["message"] and "val_loss" in finding["message"]


# --- the real frameworks, where they install -------------------------------------------------

REAL_LIGHTNING = """\
import os
import torch
import lightning as L
from lightning.pytorch.loggers import CSVLogger

MODE = os.environ.get("SMOKE_MODE", "healthy")


class Model(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        if MODE == "nan" and batch_idx >= 8:
            x = x * float("nan")
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return -loss if MODE == "rising" else loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


torch.manual_seed(0)
torch.set_num_threads(1)
x = torch.randn(64, 4)
data = torch.utils.data.TensorDataset(x, x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]))
trainer = L.Trainer(
    max_epochs=1, accelerator="cpu", logger=CSVLogger("."), log_every_n_steps=1,
    enable_progress_bar=False, enable_model_summary=False,
)
trainer.fit(Model(), torch.utils.data.DataLoader(data, batch_size=4))
"""


@pytest.mark.parametrize(
    ("mode", "code"), [("healthy", None), ("nan", "SMK103"), ("rising", "SMK104")]
)
def test_real_lightning_with_its_csv_logger_and_checkpoint(
    mode: str, code: str | None, run_framework: Run
) -> None:
    """Metrics detected (`lightning_logs/version_0/metrics.csv`), no `metrics_path` set."""
    pytest.importorskip("lightning")
    exit_code, report = run_framework("lightning", mode, script=REAL_LIGHTNING)
    [result] = report["experiments"]
    if code is None:
        assert exit_code == 0, report["findings"]
        assert result["metrics_source"] == "lightning_logs/version_0/metrics.csv"
        assert result["checks"]["loads"] == "pass"
    else:
        assert exit_code == 1
        assert code in _codes(report), report["findings"]


def test_a_trusted_load_finds_the_scripts_own_classes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """pytorch/examples' word_language_model: `torch.save(model)` of a class in model.py next
    to main.py, run as `python word_language_model/main.py`."""
    repo = tmp_path / "examples"
    (repo / "word_language_model").mkdir(parents=True)
    (repo / "word_language_model" / "model.py").write_text(
        "import torch\n\nclass RNNModel(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.decoder = torch.nn.Linear(2, 2)\n",
        encoding="utf-8",
    )
    (repo / "word_language_model" / "main.py").write_text(
        "import torch\nfrom model import RNNModel\n"
        "for step, loss in enumerate([2.0, 1.5, 1.0]):\n"
        "    print(f'| batch {step} | loss {loss:5.2f}')\n"
        "torch.save(RNNModel(), 'model.pt')\n",
        encoding="utf-8",
    )
    (repo / "experiments").mkdir()
    (repo / "experiments" / "tiny.yaml").write_text("a: 1\n", encoding="utf-8")
    (repo / ".claudio.yaml").write_text(
        "smoke_test:\n  command: python word_language_model/main.py\n"
        "  configs: [experiments/tiny.yaml]\n  checkpoint_path: model.pt\n"
        "  trusted_checkpoints: true\n",
        encoding="utf-8",
    )
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "examples")
    code, out, _ = invoke_cli(monkeypatch, capsys, "smoke-test", "--format", "json", cwd=repo)
    report = json.loads(out)
    assert code == 0, report["findings"]
    assert report["experiments"][0]["checks"]["loads"] == "pass"


REAL_HUGGING_FACE = """\
import os
import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

MODE = os.environ.get("SMOKE_MODE", "healthy")
torch.manual_seed(0)
torch.set_num_threads(1)


class Smoke(Trainer):
    def compute_loss(self, model, inputs, return_outputs=False, **kwargs):
        loss = super().compute_loss(model, inputs, return_outputs, **kwargs)
        if MODE == "nan" and self.state.global_step >= 10:
            loss = loss * float("nan")
        return loss


config = GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=64, n_positions=32)
data = [{"input_ids": (torch.arange(16) + i) % 64} for i in range(64)]
for row in data:
    row["labels"] = row["input_ids"]
args = TrainingArguments(
    output_dir="out", max_steps=20, logging_steps=2, save_steps=20,
    per_device_train_batch_size=8, learning_rate=5e-3, use_cpu=True, report_to=[],
)
Smoke(model=GPT2LMHeadModel(config), args=args, train_dataset=data).train()
"""


@pytest.mark.parametrize(("mode", "code"), [("healthy", None), ("nan", "SMK103")])
def test_real_hugging_face_trainer_state_and_safetensors(
    mode: str, code: str | None, run_framework: Run
) -> None:
    """Metrics detected (`out/checkpoint-20/trainer_state.json`). The Trainer logs a NaN
    loss as 0 (`logging_nan_inf_filter`), but its `grad_norm` is NaN."""
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    exit_code, report = run_framework("hugging_face", mode, script=REAL_HUGGING_FACE)
    [result] = report["experiments"]
    assert result["metrics_source"] == "out/checkpoint-20/trainer_state.json"
    if code is None:
        assert exit_code == 0, report["findings"]
        assert result["checks"]["loads"] == "pass"
    else:
        assert exit_code == 1
        assert code in _codes(report), report["findings"]
