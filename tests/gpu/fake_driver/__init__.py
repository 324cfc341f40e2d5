"""A stand-in NVIDIA driver (`libnvidia-ml.so.1`) for the real nvidia-ml-py bindings.

`fake_nvml.c` is compiled against NVIDIA's own `nvml.h` (the nvidia-nvml-dev wheel, a test
dependency), so its entry points have the prototypes of the real library. The machine it
pretends to be is a text file, `Machine`, re-read at every NVML call. A process loads it
either through `LD_LIBRARY_PATH` (a `claudio-ci gpu run` subprocess, as a driver install
would) or, in the test process itself, by `load_in_process`: once a library with the
soname `libnvidia-ml.so.1` is loaded, the bindings' own `CDLL("libnvidia-ml.so.1")` finds it.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

SOURCE = Path(__file__).with_name("fake_nvml.c")
LIBRARY = "libnvidia-ml.so.1"
VARIABLE = "CLAUDIO_FAKE_NVML"
GIB = 1 << 30


class CannotBuild(Exception):
    """No C compiler, no nvml.h, or not Linux: the reason, for pytest.skip."""


def nvml_header_dir() -> Path:
    try:
        files = importlib.metadata.files("nvidia-nvml-dev") or []
    except importlib.metadata.PackageNotFoundError:
        raise CannotBuild("nvidia-nvml-dev (NVIDIA's nvml.h) is not installed") from None
    for file in files:
        if file.name == "nvml.h":
            return Path(str(file.locate())).parent
    raise CannotBuild("nvidia-nvml-dev holds no nvml.h")


def build(directory: Path, *, old_driver: bool = False) -> Path:
    """Compile the fake driver into `directory/libnvidia-ml.so.1`; `old_driver`: one that
    predates the process lists' `_v3` calls."""
    if not sys.platform.startswith("linux"):
        raise CannotBuild("the fake NVIDIA driver is a Linux shared library")
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        raise CannotBuild("no C compiler (cc) to build the fake NVIDIA driver")
    directory.mkdir(parents=True, exist_ok=True)
    library = directory / LIBRARY
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-Werror",
         *(["-DFAKE_NVML_OLD_DRIVER"] if old_driver else []),
         f"-I{nvml_header_dir()}", f"-Wl,-soname,{LIBRARY}", "-o", str(library), str(SOURCE)],
        check=True,
    )  # fmt: skip
    return library


def library_environ(directory: Path) -> dict[str, str]:
    """The environment under which a subprocess loads the driver library in `directory`."""
    paths = [str(directory), os.environ.get("LD_LIBRARY_PATH", "")]
    return {**os.environ, "LD_LIBRARY_PATH": os.pathsep.join(p for p in paths if p)}


def unused_pid() -> int:
    """A pid no process here has: what a driver unaware of pid namespaces lists for a
    process of a container, as the host numbers it."""
    pid = 4_000_000
    while os.path.exists(f"/proc/{pid}"):
        pid += 1
    return pid


def load_in_process(library: Path) -> None:
    """Make `import pynvml` in this process find the fake driver, as it would the real one."""
    ctypes.CDLL(str(library), mode=ctypes.RTLD_GLOBAL)


@dataclass
class Machine:
    """The GPUs the fake driver reports; `write()` after a change, even mid-run."""

    path: Path
    lines: list[str] = field(default_factory=list)

    def gpu(
        self,
        uuid: str,
        name: str = "NVIDIA H100 80GB HBM3",
        *,
        memory: int = 80 * GIB,
        watts: float = 0,
        energy: int | None = 0,
        power: bool = True,
        processes: bool = True,
        mig: bool = False,
        slices: int = 7,
        private: bool = False,
        lost: bool = False,
    ) -> Machine:
        """`mig`: MIG enabled, `slices` compute slices in all; `private`: the board's memory
        totals and GPU-instance profiles need privileges in MIG mode; `lost`: fallen off
        the bus."""
        fields = [f"uuid={uuid}", f"memory={memory}", f"watts={watts}"]
        fields.append(f"energy={'none' if energy is None else energy}")
        fields += [] if power else ["power=none"]
        fields += [] if processes else ["processes=none"]
        fields += [f"mig=1 slices={slices}"] if mig else []
        fields += ["private=1"] if private else []
        fields += ["lost=1"] if lost else []
        return self._add("gpu", *fields, f"name={name}")

    def mig(
        self, parent: str, slot: int, uuid: str, name: str, memory: int, slices: int = 1
    ) -> Machine:
        """A MIG slice of `parent` with `slices` compute slices (0: NVML does not say)."""
        return self._add(
            "mig", f"parent={parent}", f"slot={slot}", f"uuid={uuid}", f"memory={memory}",
            f"slices={slices}", f"name={name}",
        )  # fmt: skip

    def proc(self, gpu: str, pid: int, memory: int | None = GIB, kind: str = "compute") -> Machine:
        used = "none" if memory is None else str(memory)
        return self._add("proc", f"gpu={gpu}", f"pid={pid}", f"memory={used}", f"kind={kind}")

    def init_error(self, code: int) -> Machine:
        return self._add("init", f"error={code}")

    def _add(self, kind: str, *fields: str) -> Machine:
        self.lines.append(" ".join((kind, *fields)))
        return self

    def write(self) -> Machine:
        self.path.write_text("".join(line + "\n" for line in self.lines), encoding="utf-8")
        return self

    def register_line(self, gpu: str, memory: int = GIB, pid: str = "$$") -> str:
        """A shell line with which the measured command lists itself (or `pid`) on `gpu`."""
        return f'echo "proc gpu={gpu} pid={pid} memory={memory} kind=compute" >> "${VARIABLE}"'
