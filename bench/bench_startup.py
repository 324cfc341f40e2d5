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

from benchlib import Row, best_of, command, installed_env, print_table

GOAL = "< 150 ms"


def _repo(repo: Path) -> Path:
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
        env = installed_env(Path(tmp) / "pycache")
        bare = str(_repo(Path(tmp) / "bare"))
        configured = str(_repo(Path(tmp) / "configured"))
        subprocess.run([*claudio, "init"], cwd=configured, env=env, check=True, capture_output=True)
        anchor = best_of(command([python, "-c", "pass"], env=env), repeat=15)
        cases = [("claudio-ci --help", [*claudio, "--help"], bare)]
        for check in ("notebooks", "experiments"):
            args = [*claudio, "check", check, "README.md"]
            cases.append((f"claudio-ci check {check} README.md (nothing to do)", args, bare))
            cases.append(("same, repo with the .claudio.yaml of `init`", args, configured))
        rows = []
        for label, args, repo in cases:
            seconds = best_of(command(args, cwd=repo, env=env), repeat=15)
            note = "ok" if seconds < 0.150 else "over goal"
            rows.append(Row(label, seconds, "python -c pass", anchor, GOAL, note))
    print_table("Start-up (bytecode compiled once, as an installed copy)", rows)


if __name__ == "__main__":
    main()
