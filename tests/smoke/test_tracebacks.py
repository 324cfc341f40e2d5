"""Finding the failing project line in a training log."""

from __future__ import annotations

import sys
from pathlib import Path

from claudio_ci.smoke.tracebacks import Frame, last_traceback

ROOT = Path("/work/project")
LOG = """\
epoch 1/1 loss=0.7
Traceback (most recent call last):
  File "/work/project/src/data.py", line 10, in load
    raise KeyError("x")
KeyError: 'x'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/work/project/src/training/train.py", line 309, in <module>
    sys.exit(main())
             ^^^^^^
  File "/work/project/src/models/baseline.py", line 33, in forward
    raise RuntimeError("shape mismatch")
  File "/work/project/.venv/lib/python3.11/site-packages/torch/nn/functional.py", line 5, in f
    return g()
  File "<frozen importlib._bootstrap>", line 241, in _call_with_frames_removed
RuntimeError: shape mismatch
  in layer 2
""".splitlines()


def test_the_last_traceback_and_its_first_exception_line() -> None:
    traceback = last_traceback(LOG)
    assert traceback is not None
    assert traceback.exception == "RuntimeError: shape mismatch"
    assert traceback.frames[0] == Frame("/work/project/src/training/train.py", 309, "<module>")
    assert len(traceback.frames) == 4


def test_the_innermost_project_frame_skips_libraries_and_frozen_code() -> None:
    traceback = last_traceback(LOG)
    assert traceback is not None
    assert traceback.project_frame([ROOT]) == ("src/models/baseline.py", 33)
    assert traceback.project_frame([Path("/elsewhere")]) is None


def test_relative_frames_are_relative_to_the_project() -> None:
    log = ["Traceback (most recent call last):", '  File "train.py", line 3, in <module>', "E: x"]
    traceback = last_traceback(log)
    assert traceback is not None
    assert traceback.project_frame([ROOT]) == ("train.py", 3)


def test_no_traceback() -> None:
    assert last_traceback(["train.py: error: bad config", "exit"]) is None
    assert last_traceback(["Traceback (most recent call last):"]) is None


def test_a_traceback_right_after_a_progress_bar_is_found(tmp_path: Path) -> None:
    """tqdm redraws its bar with `\\r` and no newline; the traceback starts on the bar's line."""
    from claudio_ci.smoke.runner import Limits, run_process

    script = tmp_path / "train.py"
    script.write_text(
        "import sys\n"
        "for i in range(3):\n"
        "    sys.stderr.write(f'\\r{i}/3 [00:00<00:00, loss=0.5]')\n"
        "    sys.stderr.flush()\n"
        "raise ValueError('bad batch')\n",
        encoding="utf-8",
    )
    run = run_process([sys.executable, str(script)], cwd=tmp_path, env={}, limits=Limits(60))

    traceback = last_traceback(run.tail)
    assert traceback is not None
    assert traceback.exception == "ValueError: bad batch"
    assert traceback.project_frame([tmp_path]) == ("train.py", 5)
