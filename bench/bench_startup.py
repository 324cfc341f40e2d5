"""Start-up time: `claudio-ci --help` and a check with nothing to do, against `python -c pass`.

A hook runs on every commit, so the fixed cost of starting it matters. Goal: under 150 ms.
Run: python bench/bench_startup.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import Row, best_of, command, print_table

GOAL = "< 150 ms"


def _repo(tmp: Path) -> Path:
    repo = tmp / "repo"
    repo.mkdir()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@b",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@b",
    }
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True, env=env)
    (repo / "README.md").write_text("# bench\n", encoding="utf-8")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=repo, check=True, env=env)
    return repo


def main() -> None:
    python = sys.executable
    script = shutil.which("claudio-ci", path=str(Path(python).parent))
    claudio = [script] if script else [python, "-m", "claudio_ci"]
    with tempfile.TemporaryDirectory() as tmp:
        repo = str(_repo(Path(tmp)))
        anchor = best_of(command([python, "-c", "pass"]), repeat=15)
        cases = {"claudio-ci --help": [*claudio, "--help"]}
        checks = [
            ("check notebooks", "README.md"),
            ("check experiments", "README.md"),
        ]
        for name, file in checks:
            args = [*claudio, *name.split(), file]
            if subprocess.run(args, cwd=repo, capture_output=True, check=False).returncode != 2:
                cases[f"claudio-ci {name} {file} (nothing to do)"] = args
        rows = []
        for label, args in cases.items():
            seconds = best_of(command(args, cwd=repo, ok_codes=(0,)), repeat=15)
            rows.append(
                Row(
                    label,
                    seconds,
                    "python -c pass",
                    anchor,
                    GOAL,
                    "ok" if seconds < 0.150 else "over goal",
                )
            )
    print_table("Start-up", rows)


if __name__ == "__main__":
    main()
