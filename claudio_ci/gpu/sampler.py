"""A thread that samples a source at a fixed rate while the command runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from claudio_ci.adapters.procfs import ProcessTree
from claudio_ci.gpu.readings import Snapshot, Source
from claudio_ci.gpu.trace import TraceWriter
from claudio_ci.gpu.usage import GpuUsage, UsageMeter

OnSample = Callable[[list[GpuUsage]], None]


class Sampler:
    """Reads `source` every `interval` seconds and feeds `meter` with the command's tree.

    `on_sample` runs on the sampling thread after each reading (the ledger update); an
    error there is kept in `error` and sampling goes on. `cpu_seconds` is the CPU time the
    thread used, for the overhead benchmark.
    """

    def __init__(
        self,
        source: Source,
        root_pid: int,
        interval: float,
        meter: UsageMeter,
        on_sample: OnSample | None = None,
        recorder: TraceWriter | None = None,
    ) -> None:
        self._source = source
        self._tree = ProcessTree(root_pid)
        self._interval = interval
        self._meter = meter
        self._on_sample = on_sample
        self._recorder = recorder
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="claudio-ci-gpu-sampler")
        self.cpu_seconds = 0.0
        self.samples = 0
        self.error: Exception | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> list[GpuUsage]:
        """Stop sampling, take the closing readings, and return the usage; never raises,
        so that the command's exit code always comes back."""
        self._stop.set()
        self._thread.join()
        try:
            for snapshot in self._source.drain():
                self._add(snapshot)
        except Exception as exc:  # a failed closing reading: the usage so far stands
            self.error = self.error or exc
        return self._meter.usage()

    def _add(self, snapshot: Snapshot) -> None:
        self._tree.refresh(pid for device in snapshot.devices for pid in device.pids())
        tree = snapshot.tree if snapshot.tree is not None else self._tree
        ours = self._meter.add(snapshot, tree)
        self.samples += 1
        if self._recorder is not None:
            self._recorder.write(snapshot, ours)

    def _loop(self) -> None:
        started = time.thread_time()
        try:
            while True:
                try:
                    snapshot = self._source.read()
                    if snapshot is not None:
                        self._add(snapshot)
                        if self._on_sample is not None:
                            self._on_sample(self._meter.usage())
                except Exception as exc:  # a failed sample must not end the run
                    self.error = self.error or exc
                if self._stop.wait(self._interval):
                    return
        finally:
            self.cpu_seconds = time.thread_time() - started
