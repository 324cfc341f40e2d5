"""The smoke test's checks, on plain data: runs, metrics, checkpoints, the import check."""

from __future__ import annotations

import json
import math

import pytest

from claudio_ci.core.findings import Severity
from claudio_ci.smoke import rules as smoke
from claudio_ci.smoke.rules import Expectations, Experiment, RunFacts

EXPERIMENT = Experiment("test", "experiments/test.yaml", "python train.py --config x")
METRICS = "outputs/test/metrics.json"


def _facts(**changes: object) -> RunFacts:
    values: dict[str, object] = {
        "exit_code": 0,
        "peak_rss_mb": 300.0,
        "timeout_seconds": 60,
        "max_memory_mb": 1000,
    }
    return RunFacts(**(values | changes))  # type: ignore[arg-type]


def _steps(*losses: float) -> dict[str, object]:
    return {"steps": [{"step": i + 1, "loss": x} for i, x in enumerate(losses)]}


def _codes(findings: list) -> list[str]:
    return [f.code for f in findings]


# --- the run ------------------------------------------------------------------------------


def test_a_clean_run_has_no_finding() -> None:
    assert smoke.check_run(EXPERIMENT, _facts()) == []


def test_a_crash_is_reported_at_the_project_line_with_the_exception() -> None:
    facts = _facts(
        exit_code=1,
        exception="RuntimeError: shape mismatch",
        crash_site=("src/models/baseline.py", 33),
        last_line="RuntimeError: shape mismatch",
    )
    [finding] = smoke.check_run(EXPERIMENT, facts)
    assert (finding.code, finding.path, finding.line) == (
        "SMK001",
        "src/models/baseline.py",
        33,
    )
    assert (
        finding.message == "test: the training command exited with 1: RuntimeError: shape mismatch"
    )
    assert finding.hint == "reproduce with: CUDA_VISIBLE_DEVICES= python train.py --config x"


def test_a_failure_without_traceback_sits_on_the_config_with_the_last_line() -> None:
    [finding] = smoke.check_run(EXPERIMENT, _facts(exit_code=-9, last_line="epoch 1/1"))
    assert (finding.path, finding.line) == ("experiments/test.yaml", 0)
    assert finding.message == "test: the training command was killed by SIGKILL: epoch 1/1"


def test_a_timeout_reports_the_limit_and_nothing_else() -> None:
    [finding] = smoke.check_run(
        EXPERIMENT, _facts(exit_code=-15, timed_out=True, timeout_seconds=1.5, last_line="step 3")
    )
    assert finding.code == "SMK002"
    assert finding.message == "test: still running after 1.5 s: stopped the process tree; " + (
        "last output: step 3"
    )


def test_memory_over_the_limit_whether_stopped_or_only_seen_after_the_fact() -> None:
    [killed] = smoke.check_run(
        EXPERIMENT, _facts(exit_code=-15, memory_exceeded=True, peak_rss_mb=1500.4)
    )
    assert killed.code == "SMK003"
    assert killed.message.endswith(
        "used 1500 MB of memory, over max_memory_mb 1000: stopped the process tree"
    )
    [spike] = smoke.check_run(EXPERIMENT, _facts(peak_rss_mb=1200))
    assert spike.message == "test: peaked at 1200 MB of memory, over max_memory_mb 1000"
    assert smoke.check_run(EXPERIMENT, _facts(peak_rss_mb=1e6, max_memory_mb=0)) == []


def test_processes_left_running_are_a_warning() -> None:
    [finding] = smoke.check_run(EXPERIMENT, _facts(leftovers=("python3 (123)",)))
    assert (finding.code, finding.severity) == ("SMK004", Severity.WARNING)
    assert "left 1 process(es) running: python3 (123)" in finding.message


# --- metrics --------------------------------------------------------------------------------


def test_loss_trend_compares_the_first_and_last_quarters() -> None:
    assert smoke.loss_trend([1.0]) is None
    assert smoke.loss_trend([1.0, 2.0]) == (1, 1.0, 2.0)
    assert smoke.loss_trend([4, 2, 9, 9, 9, 9, 1, 3]) == (2, 3.0, 2.0)
    assert smoke.loss_trend([1.0, math.nan, 0.5]) is None


@pytest.mark.parametrize(
    ("losses", "rose"),
    [
        ((1.0, 0.9, 0.8, 0.7), False),
        ((1.0, 1.2, 0.9, 1.05), False),  # noisy but within the 10 % tolerance
        ((1.0, 0.9, 1.3, 1.5), True),
        ((0.5, 2.0), True),
        ((-1.0, -0.5), True),  # negative losses (log-likelihoods) compare by magnitude
    ],
)
def test_a_rising_loss_fails(losses: tuple[float, ...], rose: bool) -> None:
    findings = smoke.check_metrics(EXPERIMENT, METRICS, "written", _steps(*losses), Expectations())
    assert _codes(findings) == (["SMK104"] if rose else [])


def test_the_loss_rule_message_and_its_switch() -> None:
    [finding] = smoke.check_metrics(EXPERIMENT, METRICS, "written", _steps(1, 2), Expectations())
    assert finding.message == (
        "test: the loss rose: mean of the first 1 logged value(s) 1, of the last 1 2 (+100%)"
    )
    off = Expectations(loss_not_increasing=False)
    assert smoke.check_metrics(EXPERIMENT, METRICS, "written", _steps(1, 2), off) == []


def test_losses_come_from_steps_then_epochs_then_records() -> None:
    assert smoke.loss_series({"steps": [], "epochs": [{"loss": 2}, {"loss": 1}]}) == [2.0, 1.0]
    assert smoke.loss_series([{"loss": 3}, {"accuracy": 1}, {"loss": True}]) == [3.0]
    assert smoke.final_loss({"final_loss": 0.25, "steps": [{"loss": 1}]}) == 0.25
    assert smoke.final_loss([{"loss": 3}, {"loss": 2}]) == 2.0
    assert smoke.final_loss({"epochs": []}) is None


def test_nan_and_infinity_are_found_wherever_they_are() -> None:
    metrics = json.loads('{"steps": [{"loss": 1.0}, {"loss": NaN}], "val": {"acc": "inf"}}')
    [finding] = smoke.check_metrics(EXPERIMENT, METRICS, "written", metrics, Expectations())
    assert finding.code == "SMK103"
    assert finding.message == (
        "test: outputs/test/metrics.json holds 2 NaN or infinite value(s), first at "
        "$.steps[1].loss = nan"
    )


def test_json_lines_are_records() -> None:
    assert smoke.parse_metrics('{"loss": 2}\n\n{"loss": 1}\n') == [{"loss": 2}, {"loss": 1}]
    with pytest.raises(ValueError, match=r"^line 3: Expecting value"):
        smoke.parse_metrics('{"loss": 2}\n{"loss": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r"^Expecting ',' delimiter: line 3"):
        smoke.parse_metrics('{\n  "steps": [1, 2\n')  # a JSON file cut short
    with pytest.raises(ValueError, match=r"^Expecting value"):
        smoke.parse_metrics("")


def test_missing_stale_and_unreadable_metrics() -> None:
    [missing] = smoke.check_metrics(EXPERIMENT, METRICS, "missing", None, Expectations())
    assert missing.code == "SMK101"
    assert missing.message == "test: no metrics file at outputs/test/metrics.json"
    [stale] = smoke.check_metrics(EXPERIMENT, METRICS, "stale", None, Expectations())
    assert "was not written by this run" in stale.message
    [bad] = smoke.check_metrics(EXPERIMENT, METRICS, "written", None, Expectations(), "oops")
    assert (bad.code, bad.message) == (
        "SMK102",
        "test: outputs/test/metrics.json is not readable metrics: oops",
    )
    [shape] = smoke.check_metrics(EXPERIMENT, METRICS, "written", 3, Expectations())
    assert shape.message.endswith("expected a JSON object or a list of records")
    off = Expectations(metrics=False, loss_not_increasing=False)
    assert smoke.check_metrics(EXPERIMENT, METRICS, "missing", None, off) == []
    optional = Expectations(metrics=False)
    [notice] = smoke.check_metrics(EXPERIMENT, METRICS, "missing", None, optional, looked="nor X")
    assert (notice.code, notice.severity) == ("SMK105", Severity.NOTICE)
    assert notice.message == (
        "test: no metrics file at outputs/test/metrics.json, nor X: the loss trend is not checked"
    )


# --- checkpoint and import ------------------------------------------------------------------


def test_checkpoint_findings() -> None:
    path = "outputs/test/model.pt"
    assert (
        smoke.check_checkpoint(EXPERIMENT, path, "written", {"ok": True, "arrays": 6}, "py") == []
    )
    [missing] = smoke.check_checkpoint(EXPERIMENT, path, "missing", None, "py")
    assert (missing.code, missing.message) == (
        "SMK201",
        "test: no checkpoint at outputs/test/model.pt",
    )
    assert smoke.check_checkpoint(EXPERIMENT, path, "missing", None, "py", required=False) == []
    [broken] = smoke.check_checkpoint(
        EXPERIMENT, path, "written", {"ok": False, "error": "UnpicklingError: bad"}, "py"
    )
    assert (broken.code, broken.message) == (
        "SMK202",
        "test: outputs/test/model.pt does not load with py: UnpicklingError: bad",
    )
    [nan] = smoke.check_checkpoint(
        EXPERIMENT, path, "written", {"ok": True, "nonfinite": ["model_state.w"]}, "py"
    )
    assert (nan.code, nan.message) == (
        "SMK203",
        "test: outputs/test/model.pt holds NaN or infinite weights: model_state.w",
    )


def test_import_check_finding_sits_at_the_crash_or_at_the_setting() -> None:
    spec = "src.models:Net"
    assert smoke.check_import(spec, (".claudio.yaml", 4), {"ok": True}, None) == []
    error = {"ok": False, "error": "Traceback ...\nImportError: cannot import name 'Net'\n"}
    [finding] = smoke.check_import(spec, (".claudio.yaml", 4), error, None)
    assert (finding.code, finding.path, finding.line) == ("SMK301", ".claudio.yaml", 4)
    assert (
        finding.message
        == "import check src.models:Net failed: ImportError: cannot import name 'Net'"
    )
    assert (
        finding.hint
        == 'python -c "import src.models as m; m.Net()" in the project root shows the same error'
    )
    [at_crash] = smoke.check_import(spec, (".claudio.yaml", 4), error, ("src/models/net.py", 7))
    assert (at_crash.path, at_crash.line) == ("src/models/net.py", 7)
