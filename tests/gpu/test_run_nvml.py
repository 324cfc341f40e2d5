"""`claudio-ci gpu run` end to end on NVML: the real nvidia-ml-py bindings in the CLI's own
process, loading the fake driver (tests/gpu/fake_driver) as they would the real one."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from claudio_ci.gpu.nvml import FOREIGN_PIDS
from claudio_ci.gpu.pricing import Pricing
from claudio_ci.gpu.usage import GpuUsage
from tests.gpu.fake_driver import GIB, Machine, library_environ, unused_pid
from tests.gpu.runs import claudio, rows

H100 = "NVIDIA H100 80GB HBM3"
WATTS = 350
FAST = ["--set", "gpu.sample_interval_seconds=0.05"]


def gpu_run(
    repo: Path, environ: dict[str, str], *args: str, script: str
) -> subprocess.CompletedProcess[str]:
    """`gpu run ... -- sh -c SCRIPT` under the fake driver."""
    return claudio(repo, "gpu", "run", *FAST, *args, "--", "sh", "-c", script, env=environ)


def on_gpu(machine: Machine, seconds: float, gpu: str = "GPU-0", memory: int = 2 * GIB) -> str:
    """The command: list itself on `gpu` (as CUDA would create a context), then work."""
    return f"{machine.register_line(gpu, memory)}; sleep {seconds}"


def test_the_command_is_charged_for_its_own_gpu_only(
    git_repo: Path, fake_nvml: Machine, driver_environ: dict[str, str]
) -> None:
    fake_nvml.gpu("GPU-0", watts=WATTS).gpu("GPU-1", watts=WATTS)
    fake_nvml.proc("GPU-1", os.getpid(), 30 * GIB).write()  # someone else's training
    proc = gpu_run(git_repo, driver_environ, script=on_gpu(fake_nvml, 1.0))
    assert proc.returncode == 0, proc.stderr
    (run,) = rows(git_repo)
    (used,) = rows(git_repo, "run_gpus")
    assert (run["source"], run["complete"], run["exit_code"]) == ("nvml", 1, 0)
    assert (used["uuid"], used["model"], used["peak_memory"]) == ("GPU-0", H100, 2 * GIB)
    assert 0.7 < run["gpu_seconds"] < 1.6
    # the total-energy counter's delta over the time held, in joules
    assert run["energy_j"] == pytest.approx(WATTS * run["gpu_seconds"], rel=0.03)
    expected = Pricing().cost(GpuUsage("GPU-0", H100, seconds=run["gpu_seconds"]))
    assert run["cost"] == pytest.approx(expected.cost)
    assert proc.stderr.startswith(f"claudio-ci gpu: main: 1 GPU ({H100}), 0.000 GPU-h, 0.000 kWh,")


def test_gpus_n_takes_a_free_gpu_and_the_command_sees_only_it(
    git_repo: Path, fake_nvml: Machine, driver_environ: dict[str, str]
) -> None:
    fake_nvml.gpu("GPU-0").gpu("GPU-1").proc("GPU-0", os.getpid()).write()
    script = f'printf %s "$CUDA_VISIBLE_DEVICES" > seen; {on_gpu(fake_nvml, 0.3, "GPU-1")}'
    proc = gpu_run(git_repo, driver_environ, "--gpus", "1", script=script)
    assert proc.returncode == 0, proc.stderr
    assert (git_repo / "seen").read_text() == "GPU-1"
    assert [g["uuid"] for g in rows(git_repo, "run_gpus")] == ["GPU-1"]

    fake_nvml.proc("GPU-1", os.getpid()).write()
    busy = gpu_run(git_repo, driver_environ, "--gpus", "1", script="true")
    assert busy.returncode == 2
    assert busy.stderr == (
        "claudio-ci: error: --gpus 1: only 0 of 2 GPUs are free "
        "(GPU-0 1 process(es) on it; GPU-1 1 process(es) on it)\n"
    )


def test_a_recorded_nvml_run_replays_to_the_same_figures(
    git_repo: Path, fake_nvml: Machine, driver_environ: dict[str, str], tmp_path: Path
) -> None:
    fake_nvml.gpu("GPU-0", watts=WATTS).gpu("GPU-1", "Tesla V100-SXM2-16GB", energy=None).write()
    trace = tmp_path / "recorded.jsonl"
    script = f"{fake_nvml.register_line('GPU-1')}; {on_gpu(fake_nvml, 0.5)}"
    live = gpu_run(git_repo, driver_environ, "--record", str(trace), script=script)
    assert live.returncode == 0, live.stderr
    replayed = gpu_run(git_repo, dict(os.environ), "--replay", str(trace), script="true")
    assert replayed.returncode == 0, replayed.stderr
    first, second = rows(git_repo)
    figures = ("gpu_seconds", "energy_j", "cost", "peak_memory")  # a trace keeps times to 1 µs
    assert [first[k] for k in figures] == pytest.approx([second[k] for k in figures], rel=1e-5)
    assert first["energy_j"] > 0  # the V100 has no counter: integrated power (0 W here)
    assert (first["source"], second["source"]) == ("nvml", "replay")
    header = json.loads(trace.read_text(encoding="utf-8").splitlines()[0])
    assert header["origin"] == "nvml"


@pytest.mark.parametrize("reserve", [True, False])
def test_in_a_container_that_cannot_see_nvml_pids_the_named_gpus_are_charged(
    git_repo: Path, fake_nvml: Machine, driver_environ: dict[str, str], reserve: bool
) -> None:
    host_pid = unused_pid()  # the command's pid as the host sees it: not a pid in here
    fake_nvml.gpu("GPU-0", watts=WATTS).gpu("GPU-1", watts=WATTS).write()
    listed = f"{fake_nvml.register_line('GPU-0', pid=str(host_pid))}; sleep 0.5"
    args = ["--gpus", "1"] if reserve else []
    proc = gpu_run(git_repo, driver_environ, *args, script=listed)
    assert proc.returncode == 0, proc.stderr
    assert f"claudio-ci gpu: {FOREIGN_PIDS}\n" in proc.stderr
    (run,) = rows(git_repo)
    if reserve:  # --gpus set CUDA_VISIBLE_DEVICES=GPU-0: its time is the command's
        assert [g["uuid"] for g in rows(git_repo, "run_gpus")] == ["GPU-0"]
        assert run["gpu_seconds"] > 0.3
    else:  # nothing names a GPU: nothing can be charged, and the notice says why
        assert run["gpu_seconds"] == 0


def test_a_driver_older_than_the_v3_process_calls_is_measured_the_same(
    git_repo: Path, fake_nvml: Machine, old_driver_dir: Path
) -> None:
    fake_nvml.gpu("GPU-0", watts=WATTS).write()
    script = f"{on_gpu(fake_nvml, 0.5)}; exit 3"
    proc = gpu_run(git_repo, library_environ(old_driver_dir), script=script)
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr
    (run,) = rows(git_repo)
    assert (run["exit_code"], run["source"]) == (3, "nvml")
    assert run["gpu_seconds"] > 0.3
    assert run["energy_j"] == pytest.approx(WATTS * run["gpu_seconds"], rel=0.05)
