"""The actions and the `init` workflow: third-party actions pinned by commit SHA, claudio-ci's
dependencies installed from a hash-checked lock, and zizmor and actionlint clean."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.gitutil import REPO_ROOT

ACTIONS = sorted((REPO_ROOT / "actions").glob("*/action.yml"))
WORKFLOW = REPO_ROOT / "templates" / "repo" / ".github" / "workflows" / "ml-ci.yml"
LOCK = REPO_ROOT / "actions" / "requirements.lock"
FIRST_PARTY = "claudio-ci/claudio-ci/"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")


def uses_lines() -> list[tuple[Path, str]]:
    found = []
    for path in [*ACTIONS, WORKFLOW]:
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.match(r"^\s*(?:-\s+)?uses:\s*(.+)$", line)
            if match:
                found.append((path, match.group(1).strip()))
    return found


def test_every_third_party_action_is_pinned_by_commit_with_its_version() -> None:
    uses = uses_lines()
    assert len(uses) >= 10
    for path, ref in uses:
        if ref.startswith(FIRST_PARTY):
            assert "# zizmor: ignore[unpinned-uses]" in ref, (path, ref)
        else:
            assert PINNED.match(ref), f"{path.name}: {ref}"


def test_the_readme_snippets_pin_third_party_actions_as_the_templates_do() -> None:
    """Users copy these snippets: a tag there is as movable as a tag in a workflow."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    refs = re.findall(r"^\s*(?:-\s+)?uses:\s*(.+)$", readme, re.MULTILINE)
    third_party = [ref.strip() for ref in refs if not ref.startswith(FIRST_PARTY)]
    assert len(third_party) >= 2
    for ref in third_party:
        assert PINNED.match(ref), ref


def test_a_tag_reference_would_be_caught() -> None:
    assert not PINNED.match("actions/checkout@v4")
    assert not PINNED.match("actions/checkout@11d5960a326750d5838078e36cf38b85af677262")


# --- the lock ---------------------------------------------------------------------------------


def lock_entries() -> dict[str, list[str]]:
    """Requirement line -> its hashes."""
    entries: dict[str, list[str]] = {}
    current = None
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            current = line.rstrip(" \\")
            entries[current] = []
        else:
            entries[current].extend(re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
    return entries


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_lock_pins_every_package_with_hashes_and_covers_pyproject() -> None:
    entries = lock_entries()
    for requirement, hashes in entries.items():
        assert re.match(r"^[\w.-]+==[\w.]+( ; .+)?$", requirement), requirement
        assert hashes, f"{requirement} has no hash"
    locked = {_name(r) for r in entries}
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["actions"],
        *project["project"]["optional-dependencies"]["gpu"],
        *project["build-system"]["requires"],
    ]
    assert {_name(r) for r in wanted} <= locked


def test_every_action_installs_from_the_lock_with_hashes_and_itself_offline() -> None:
    for path in ACTIONS:
        steps = yaml.safe_load(path.read_text(encoding="utf-8"))["runs"]["steps"]
        scripts = "\n".join(step.get("run", "") for step in steps)
        assert '--require-hashes --no-deps -r "$ACTION_PATH/../requirements.lock"' in scripts
        assert '--no-deps --no-build-isolation --no-index "$ACTION_PATH/../..' in scripts


def pip(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PIP_CONSTRAINT": ""},
    )


def test_a_tampered_hash_is_refused_by_pip(tmp_path: Path) -> None:
    """The attack: PyPI (or a mirror) serves another file for a locked version."""
    (entry,) = [(r, h) for r, h in lock_entries().items() if _name(r) == "smmap"]
    requirement, hashes = entry
    good = f"{requirement} " + " ".join(f"--hash=sha256:{h}" for h in hashes)
    bad = f"{requirement} --hash=sha256:{'0' * 64}"
    target = tmp_path / "site"
    for name, text in (("good.txt", good), ("bad.txt", bad)):
        (tmp_path / name).write_text(text + "\n", encoding="utf-8")

    refused = pip(
        "--require-hashes", "--no-deps", "--target", str(target), "-r", "bad.txt", cwd=tmp_path
    )
    unreachable = "No matching distribution" in refused.stderr or "Could not" in refused.stderr
    if unreachable and "DO NOT MATCH THE HASHES" not in refused.stderr:
        pytest.skip("no package index reachable")
    assert refused.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in refused.stderr
    assert not (target / "smmap").exists()

    accepted = pip(
        "--require-hashes", "--no-deps", "--target", str(target), "-r", "good.txt", cwd=tmp_path
    )
    assert accepted.returncode == 0, accepted.stderr
    assert (target / "smmap").is_dir()


@pytest.mark.slow
def test_the_smoke_action_installs_claudio_ci_in_its_own_venv_and_keeps_the_projects_python(
    tmp_path: Path,
) -> None:
    """The smoke action's install step, run with bash as the runner runs it."""
    steps = yaml.safe_load((REPO_ROOT / "actions/smoke-test/action.yml").read_text("utf-8"))
    (install,) = [s for s in steps["runs"]["steps"] if s.get("id") == "install"]
    script = tmp_path / "install.sh"
    script.write_text(install["run"], encoding="utf-8")
    outputs = tmp_path / "github_output"
    project_bin = tmp_path / "project-bin"
    project_bin.mkdir()
    (project_bin / "python").symlink_to(sys.executable)
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=tmp_path,
        env={
            **os.environ,
            "PATH": f"{project_bin}{os.pathsep}{os.environ['PATH']}",
            "RUNNER_TEMP": str(tmp_path),
            "GITHUB_OUTPUT": str(outputs),
            "ACTION_PATH": str(REPO_ROOT / "actions" / "smoke-test"),
            "PIP_CONSTRAINT": "",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = dict(line.split("=", 1) for line in outputs.read_text("utf-8").splitlines())
    assert written["python"] == str(project_bin / "python")  # the project's, on PATH
    claudio = Path(written["claudio-ci"])
    assert claudio.parent.parent == tmp_path / "claudio-ci-smoke-venv"
    version = subprocess.run([claudio, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("claudio-ci ")


# --- zizmor and actionlint ----------------------------------------------------------------------


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install '.[test]')")
    return found


@pytest.mark.parametrize("persona", ["regular", "pedantic"])
def test_zizmor_finds_nothing(persona: str) -> None:
    zizmor = _tool("zizmor")
    files = [str(p) for p in [*ACTIONS, WORKFLOW]]
    proc = subprocess.run(
        [zizmor, "--offline", "--no-progress", f"--persona={persona}", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr


def test_zizmor_would_catch_an_unpinned_action(tmp_path: Path) -> None:
    zizmor = _tool("zizmor")
    workflow = tmp_path / ".github" / "workflows" / "ci.yml"
    workflow.parent.mkdir(parents=True)
    text = WORKFLOW.read_text(encoding="utf-8")
    workflow.write_text(re.sub(r"actions/checkout@\S+ # v[\d.]+", "actions/checkout@v4", text))
    proc = subprocess.run(
        [zizmor, "--offline", "--no-progress", str(workflow)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert "unpinned-uses" in proc.stdout + proc.stderr


def test_actionlint_finds_nothing() -> None:
    actionlint = _tool("actionlint")
    proc = subprocess.run(
        [actionlint, "-no-color", str(WORKFLOW)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_shellcheck_finds_nothing_in_the_actions_scripts(tmp_path: Path) -> None:
    """actionlint checks a workflow's scripts with shellcheck, but not an action's: these."""
    shellcheck = _tool("shellcheck")
    scripts = []
    for path in ACTIONS:
        steps = yaml.safe_load(path.read_text(encoding="utf-8"))["runs"]["steps"]
        for number, step in enumerate(s for s in steps if "run" in s):
            script = tmp_path / f"{path.parent.name}-{number}.sh"
            script.write_text(step["run"], encoding="utf-8")
            scripts.append(str(script))
    assert len(scripts) >= 8
    proc = subprocess.run(
        [shellcheck, "--shell=bash", *scripts], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout
