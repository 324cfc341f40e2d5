"""The fake NVIDIA driver, built once per session (see tests/gpu/fake_driver)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gpu import fake_driver


def _built(factory: pytest.TempPathFactory, name: str, *, old_driver: bool = False) -> Path:
    directory = factory.mktemp(name)
    try:
        fake_driver.build(directory, old_driver=old_driver)
    except fake_driver.CannotBuild as exc:
        pytest.skip(str(exc))
    return directory


@pytest.fixture(scope="session")
def fake_driver_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory holding the built `libnvidia-ml.so.1`."""
    return _built(tmp_path_factory, "fake-nvidia-driver")


@pytest.fixture(scope="session")
def old_driver_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same, as a driver that predates the process lists' `_v3` calls."""
    return _built(tmp_path_factory, "old-nvidia-driver", old_driver=True)


@pytest.fixture
def fake_nvml(
    fake_driver_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> fake_driver.Machine:
    """A GPU machine for this test process's real `pynvml`: add GPUs, then `write()`."""
    fake_driver.load_in_process(fake_driver_dir / fake_driver.LIBRARY)
    machine = fake_driver.Machine(tmp_path / "fake-machine.txt")
    monkeypatch.setenv(fake_driver.VARIABLE, str(machine.path))
    return machine


@pytest.fixture
def driver_environ(fake_nvml: fake_driver.Machine, fake_driver_dir: Path) -> dict[str, str]:
    """The environment under which a subprocess loads the fake driver, as an install would."""
    return fake_driver.library_environ(fake_driver_dir)
