"""`gpu run`: run a command, sample the GPUs its process tree uses, keep the ledger current.

The command runs through the process supervisor (`adapters/processes.py`), in claudio-ci's
own process group as `time` or `env` run theirs, so that it keeps the terminal. Its exit code
comes back unchanged, or 128 + N when it dies of signal N, as a shell reports it. SIGINT,
SIGTERM and SIGHUP sent to claudio-ci go on to the command; a Ctrl-C typed at the terminal
already reaches it (same process group), so that one is not sent twice.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from claudio_ci.adapters import processes
from claudio_ci.core.errors import ClaudioError
from claudio_ci.core.findings import github_safe_line
from claudio_ci.gpu import allocate
from claudio_ci.gpu.ledger import Ledger, LedgerError, PricedGpu, RunStart
from claudio_ci.gpu.nvml import NvmlSource
from claudio_ci.gpu.pricing import Pricing
from claudio_ci.gpu.readings import GpuUnavailable, Source
from claudio_ci.gpu.sampler import Sampler
from claudio_ci.gpu.trace import ReplaySource, TraceWriter
from claudio_ci.gpu.usage import GpuUsage, UsageMeter
from claudio_ci.gpu.visible import VARIABLE

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class RunRequest:
    command: Sequence[str]
    branch: str
    worktree: Path
    commit: str | None
    ledger_path: Path
    state_dir: Path
    pricing: Pricing = field(default_factory=Pricing)
    interval: float = 0.5
    gpus: int | None = None
    replay: Path | None = None
    record: Path | None = None


@dataclass
class RunResult:
    exit_code: int
    run_id: int
    gpus: list[PricedGpu]
    measured: bool  # False: no GPU could be measured, the run counts $0
    branch_cost: float | None = 0.0  # every run of the branch, this one included; None:
    # the ledger could not be written or read, so the branch's total is not known
    error: Exception | None = None  # a sample failed; the figures may be short


def open_source(replay: Path | None) -> Source:
    """The replayed trace, or NVML; GpuUnavailable when neither can be read."""
    return ReplaySource(replay) if replay is not None else NvmlSource()


def run(
    request: RunRequest,
    *,
    environ: Mapping[str, str] = os.environ,
    err: TextIO = sys.stderr,
) -> RunResult:
    env = dict(environ)
    try:
        source: Source | None = open_source(request.replay)
    except GpuUnavailable as exc:
        source = None
        line = f"claudio-ci gpu: {exc}: GPU cost not measured (recorded as $0); running the command"
        print(github_safe_line(line), file=err)
    try:
        if source is not None and request.gpus:
            first = source.read()
            devices = first.devices if first is not None else ()
            try:
                request.state_dir.mkdir(parents=True, exist_ok=True)
                chosen = allocate.reserve(
                    request.state_dir,
                    devices,
                    request.gpus,
                    branch=request.branch,
                    worktree=str(request.worktree),
                    environ=env,
                )
            except OSError as exc:  # the state dir is a file, or read-only: run unreserved
                where = exc.filename or request.state_dir
                line = f"claudio-ci gpu: GPUs not reserved ({exc.strerror or exc}: {where})"
                print(github_safe_line(f"{line}; running the command"), file=err)
            else:
                env[VARIABLE] = ",".join(chosen)
        return _run_measured(request, source, env, err)
    finally:
        if source is not None:
            for notice in source.notices:
                print(github_safe_line(f"claudio-ci gpu: {notice}"), file=err)
            source.close()
            if request.gpus:
                allocate.release(request.state_dir)


def _run_measured(
    request: RunRequest, source: Source | None, env: dict[str, str], err: TextIO
) -> RunResult:
    recorder = None
    if source is not None and request.record is not None:
        recorder = TraceWriter(request.record, source.kind, shlex.join(request.command))
    ledger, run_id = _start_run(request, source, err)
    try:
        return _supervise(request, source, env, err, ledger, run_id, recorder)
    finally:
        ledger.close()
        if recorder is not None:
            recorder.close()


class _Unrecorded:
    """Stands in for a ledger that cannot be opened or written: the command still runs,
    as it does without a GPU, and nothing is recorded."""

    def record(self, *args: object, **kwargs: object) -> None:
        return None

    def close(self) -> None:
        return None


def _start_run(
    request: RunRequest, source: Source | None, err: TextIO
) -> tuple[Ledger | _Unrecorded, int]:
    """The ledger holding this run's new row, and the row's id; when the ledger cannot be
    opened or written (damaged, too new, unwritable), a stand-in, said in one line."""
    start = RunStart(
        run_key=uuid.uuid4().hex,
        branch=request.branch,
        worktree=str(request.worktree),
        commit=request.commit,
        command=shlex.join(request.command),
        started=time.time(),
        host=socket.gethostname(),
        pid=os.getpid(),
        source=source.kind if source is not None else "none",
        note=source.label if source is not None and source.kind == "replay" else "",
    )
    ledger = None
    try:
        ledger = Ledger(request.ledger_path)
        return ledger, ledger.start(start)
    except (ClaudioError, OSError) as exc:
        if ledger is not None:
            ledger.close()
        reason = f"{exc.filename}: {exc.strerror}" if isinstance(exc, OSError) else str(exc)
        print(
            github_safe_line(
                f"claudio-ci gpu: {reason}: GPU cost not recorded; running the command"
            ),
            file=err,
        )
        return _Unrecorded(), 0


def _supervise(
    request: RunRequest,
    source: Source | None,
    env: dict[str, str],
    err: TextIO,
    ledger: Ledger | _Unrecorded,
    run_id: int,
    recorder: TraceWriter | None,
) -> RunResult:
    """Start the command, sample while it runs, keep its ledger row current."""
    measured = source is not None
    try:
        child = processes.start(request.command, env=env, own_session=False, stdin="inherit")
    except processes.StartError as exc:  # as `env` and `timeout` do: 126 cannot run, 127 not found
        code = exc.shell_status
        print(
            github_safe_line(f"claudio-ci gpu: cannot run {request.command[0]}: {exc.reason}"),
            file=err,
        )
        with contextlib.suppress(LedgerError):  # the exit code matters more
            ledger.record(run_id, [], time.time(), exit_code=code, complete=True)
        return RunResult(code, run_id, [], measured)

    def priced(usage: list[GpuUsage]) -> list[PricedGpu]:
        return [PricedGpu(u, request.pricing.cost(u)) for u in usage]

    def on_sample(usage: list[GpuUsage]) -> None:
        # a failed update is made good by the next one, or by the closing one below
        with contextlib.suppress(LedgerError):
            ledger.record(run_id, priced(usage), time.time())

    sampler = None
    if source is not None:
        meter = UsageMeter(env)
        sampler = Sampler(source, child.pid, request.interval, meter, on_sample, recorder)
    with child.forwarding(FORWARDED):
        if sampler is not None:
            sampler.start()
        try:
            code = child.wait().shell_status
        finally:
            usage = sampler.stop() if sampler is not None else []
    gpus = priced(usage)
    branch_cost: float | None = None
    try:  # the command has run: its exit code must come back whatever the ledger says
        ledger.record(run_id, gpus, time.time(), exit_code=code, complete=True)
        if isinstance(ledger, Ledger):
            branch_cost = sum(t.cost for t in ledger.branch_totals(request.branch))
    except LedgerError as exc:
        print(
            github_safe_line(f"claudio-ci gpu: {exc}: this run's figures were not recorded"),
            file=err,
        )
    error = sampler.error if sampler is not None else None
    return RunResult(code, run_id, gpus, measured, branch_cost, error)
