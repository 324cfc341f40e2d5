"""`claudio-ci install-hooks` and the plain git hooks it installs, driven by real git commands:
`git worktree add`, `git checkout`, `git commit`."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from claudio_ci.cli import main
from claudio_ci.core.resources import hooks_dir
from claudio_ci.worktree import blocks
from claudio_ci.worktree.hooks import install
from claudio_ci.worktree.registry import Registry
from tests.conftest import invoke_cli
from tests.gitutil import commit_all, git, run_git, run_pre_commit

NULL_ID = "0" * 40
USER_POST_CHECKOUT = """#!/bin/sh
# the team's own post-checkout hook
echo "user post-checkout $*" >> "{log}"
[ ! -e "{fail}" ] || exit 5
"""
USER_PRE_COMMIT = """#!/bin/sh
echo "user pre-commit" >> "{log}"
[ ! -e "{fail}" ] || {{ echo "blocked by the user's hook"; exit 7; }}
"""
FAKE_PYTHON = """#!/bin/sh
# stands in for `python -m claudio_ci check NAME -- FILE...`
shift 2
printf '%s\\0' "$@" >> "{log}"
printf '\\n' >> "{log}"
case "$2" in
    clean) exit 0 ;;
    dirty) echo "$4:1:1: X001 something is wrong"; exit 1 ;;
    missing)
        echo "usage: claudio-ci check [-h] CHECK ..." >&2
        echo "claudio-ci check: error: argument CHECK: invalid choice: 'missing'" >&2
        exit 2 ;;
    broken) echo "claudio-ci: error: .claudio.yaml:1:1: CFG001 broken" >&2; exit 2 ;;
esac
"""


def install_hooks(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    result = invoke_cli(monkeypatch, capsys, "install-hooks", *args, cwd=repo)
    return result.code, result.output


def executable_script(path: Path, text: str, mode: int = 0o755) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path.read_bytes()


@pytest.fixture
def repo(git_repo: Path) -> Path:
    """A repository whose worktrees get ports from a range no test machine uses much."""
    (git_repo / ".claudio.yaml").write_text(
        "worktree:\n  jupyter_ports: 47400-47499\n", encoding="utf-8"
    )
    commit_all(git_repo, "claudio config")
    return git_repo


def hook_path(repo: Path, name: str) -> Path:
    return repo / ".git" / "hooks" / name


def port_in_env(worktree: Path) -> int:
    lines = blocks.read_block((worktree / ".env").read_text(encoding="utf-8"))
    return int(next(line for line in lines if line.startswith("JUPYTER_PORT=")).split("=")[1])


# --- installing -------------------------------------------------------------------------------


def test_install_puts_both_hooks_in_the_common_git_dir(repo: Path, monkeypatch, capsys) -> None:
    linked = repo.parent / "linked"
    git(repo, "worktree", "add", "-q", "-b", "linked", str(linked))

    code, out = install_hooks(linked, monkeypatch, capsys)

    assert code == 0, out
    assert f"install-hooks: {repo / '.git' / 'hooks'} (the common git dir" in out
    assert "  post-checkout: installed\n  pre-commit: installed\n" in out
    assert f"The hooks run claudio-ci with {sys.executable}" in out
    for name in ("post-checkout", "pre-commit"):
        hook = hook_path(repo, name)
        assert hook.stat().st_mode & stat.S_IXUSR
        shipped = (hooks_dir() / name).read_text(encoding="utf-8")
        assert "CLAUDIO_CI_PYTHON=''" in shipped
        assert hook.read_text(encoding="utf-8") == shipped.replace(
            "CLAUDIO_CI_PYTHON=''", f"CLAUDIO_CI_PYTHON={sys.executable}"
        )
    assert not (repo / ".git" / "worktrees" / "linked" / "hooks").exists()

    code, out = install_hooks(repo, monkeypatch, capsys)
    assert code == 0
    assert "  post-checkout: already installed\n  pre-commit: already installed\n" in out


def test_only_one_hook_when_asked(repo: Path, monkeypatch, capsys) -> None:
    code, out = install_hooks(repo, monkeypatch, capsys, "--hook", "post-checkout")
    assert code == 0
    assert "pre-commit" not in out.split("\n", 1)[1].split("The hooks")[0]
    assert hook_path(repo, "post-checkout").exists()
    assert not hook_path(repo, "pre-commit").exists()


# --- post-checkout: real `git worktree add` ---------------------------------------------------


def test_git_worktree_add_sets_up_the_worktree_and_a_branch_switch_does_not(
    repo: Path, monkeypatch, capsys
) -> None:
    install_hooks(repo, monkeypatch, capsys)
    worktree = repo / ".claudio" / "worktrees" / "ab12"

    proc = run_git(repo, "worktree", "add", "-b", "claudio/ab12-baseline", str(worktree))

    assert proc.returncode == 0, proc.stderr
    assert f"claudio-ci worktree setup: {worktree} (claudio/ab12-baseline)" in proc.stderr
    assert (worktree / "outputs").is_dir() and (worktree / "processed").is_dir()
    assert port_in_env(worktree) in range(47400, 47500)
    assert Registry(repo / ".git" / "claudio").read()[str(worktree)].setup == "done"

    (worktree / ".env").unlink()
    for args in (("checkout", "-b", "other"), ("checkout", "claudio/ab12-baseline")):
        proc = run_git(worktree, *args)
        assert proc.returncode == 0, proc.stderr
        assert "claudio-ci" not in proc.stderr
    proc = run_git(worktree, "checkout", "--", ".claudio.yaml")
    assert proc.returncode == 0 and "claudio-ci" not in proc.stderr
    proc = run_git(repo, "checkout", "-q", "-b", "feature")
    assert proc.returncode == 0 and "claudio-ci" not in proc.stderr
    assert not (worktree / ".env").exists()
    assert not (repo / ".env").exists()


def test_ten_worktrees_added_in_parallel_get_distinct_ports(
    repo: Path, monkeypatch, capsys
) -> None:
    install_hooks(repo, monkeypatch, capsys)
    paths = [repo.parent / f"wt{n}" for n in range(10)]
    for path in paths:
        git(repo, "branch", path.name)

    def add(path: Path) -> subprocess.CompletedProcess:
        # git's own race: a `worktree add` that reads another one's half-written admin dir
        # dies ("failed to read .git/worktrees/<id>/commondir") before it changes anything.
        for _ in range(10):
            proc = run_git(repo, "worktree", "add", str(path), path.name)
            if "failed to read" not in proc.stderr:
                break
        return proc

    with ThreadPoolExecutor(max_workers=10) as pool:
        procs = list(pool.map(add, paths))

    assert [p.returncode for p in procs] == [0] * 10, [p.stderr for p in procs]
    ports = [port_in_env(path) for path in paths]
    assert len(set(ports)) == 10
    assert all(port in range(47400, 47500) for port in ports)
    records = Registry(repo / ".git" / "claudio").read()
    assert {key: record.port for key, record in records.items()} == {
        str(path): port for path, port in zip(paths, ports, strict=True)
    }
    assert {record.setup for record in records.values()} == {"done"}


def test_hook_finds_claudio_ci_on_path_when_the_recorded_python_is_gone(
    repo: Path, tmp_path: Path
) -> None:
    install(repo / ".git" / "hooks", ["post-checkout"], str(tmp_path / "gone" / "python"))
    bin_dir, log = tmp_path / "bin", tmp_path / "claudio.log"
    executable_script(bin_dir / "claudio-ci", f'#!/bin/sh\necho "$PWD $*" >> "{log}"\n')
    git_dir = str(Path(shutil.which("git") or "/usr/bin/git").parent)

    on_path = run_git(
        repo,
        "worktree",
        "add",
        "-b",
        "a",
        str(tmp_path / "a"),
        env={"PATH": f"{bin_dir}:{git_dir}"},
    )
    assert on_path.returncode == 0, on_path.stderr
    assert log.read_text(encoding="utf-8") == f"{tmp_path / 'a'} worktree setup\n"

    nowhere = run_git(
        repo, "worktree", "add", "-b", "b", str(tmp_path / "b"), env={"PATH": git_dir}
    )
    assert nowhere.returncode == 0
    assert "claudio-ci: not found, so this worktree was not set up" in nowhere.stderr
    assert (tmp_path / "b" / ".claudio.yaml").is_file()


def test_a_failed_setup_never_fails_git_worktree_add(repo: Path, monkeypatch, capsys) -> None:
    (repo / ".claudio.yaml").write_text(
        "worktree:\n  jupyter_ports: 47400-47499\n  setup_commands: ['exit 4']\n",
        encoding="utf-8",
    )
    commit_all(repo, "a setup command that fails")
    install_hooks(repo, monkeypatch, capsys)
    assert main(["worktree", "allow"]) == 0

    proc = run_git(repo, "worktree", "add", "-b", "a", str(repo.parent / "a"))

    assert proc.returncode == 0
    assert "WT006 exited 4: exit 4" in proc.stderr
    assert "the worktree is ready for git but its setup did not finish" in proc.stderr
    assert (repo.parent / "a" / ".env").is_file()


def test_a_branchs_own_setup_commands_do_not_run_on_checkout_until_approved(
    repo: Path, monkeypatch, capsys, tmp_path: Path
) -> None:
    """`git worktree add ../wt pr-123` of a branch whose .claudio.yaml runs a command."""
    pwned = tmp_path / "pwned"
    git(repo, "checkout", "-q", "-b", "pr-123")
    (repo / ".claudio.yaml").write_text(
        f"worktree:\n  jupyter_ports: 47400-47499\n  setup_commands: ['touch {pwned}']\n",
        encoding="utf-8",
    )
    commit_all(repo, "a branch from a fork")
    git(repo, "checkout", "-q", "main")
    install_hooks(repo, monkeypatch, capsys)
    assert main(["worktree", "allow"]) == 0  # main's config, not the branch's
    capsys.readouterr()

    proc = run_git(repo, "worktree", "add", str(repo.parent / "wt"), "pr-123")

    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert not pwned.exists()
    (notice,) = [line for line in out.splitlines() if "WT008" in line]
    assert "setup commands from" in notice and "claudio-ci worktree allow" in notice
    assert (repo.parent / "wt" / ".env").is_file()  # the rest of the setup is done

    monkeypatch.chdir(repo.parent / "wt")
    assert main(["worktree", "allow"]) == 0
    assert f"touch {pwned}" in capsys.readouterr().out
    assert main(["worktree", "setup"]) == 0
    assert pwned.exists()


# --- chaining and uninstalling ----------------------------------------------------------------


def test_existing_hooks_run_first_and_uninstall_restores_them_byte_for_byte(
    repo: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    log, fail = tmp_path / "user.log", tmp_path / "fail"
    theirs = {
        "post-checkout": executable_script(
            hook_path(repo, "post-checkout"), USER_POST_CHECKOUT.format(log=log, fail=fail), 0o750
        ),
        "pre-commit": executable_script(
            hook_path(repo, "pre-commit"), USER_PRE_COMMIT.format(log=log, fail=fail), 0o700
        ),
    }

    code, out = install_hooks(repo, monkeypatch, capsys)

    assert code == 0
    assert "post-checkout: installed; the hook that was here runs first, as " in out
    assert (
        "pre-commit: installed; the hook that was here runs first, as pre-commit.pre-claudio" in out
    )
    worktree = repo.parent / "ab12"
    proc = run_git(repo, "worktree", "add", "-b", "ab12", str(worktree))
    head = git(worktree, "rev-parse", "HEAD").strip()
    assert proc.returncode == 0, proc.stderr
    assert log.read_text(encoding="utf-8") == f"user post-checkout {NULL_ID} {head} 1\n"
    assert (worktree / ".env").is_file()

    fail.touch()  # their hooks' exit codes are git's
    assert run_git(worktree, "checkout", "-q", "-b", "next").returncode != 0
    (worktree / "notes.txt").write_text("n\n", encoding="utf-8")
    git(worktree, "add", "notes.txt")
    proc = run_git(worktree, "commit", "-q", "-m", "notes")
    assert proc.returncode == 1
    assert "blocked by the user's hook" in proc.stdout + proc.stderr
    assert git(worktree, "log", "-1", "--format=%s").strip() == "claudio config"
    fail.unlink()
    proc = run_git(worktree, "commit", "-q", "-m", "notes")
    assert proc.returncode == 0, proc.stderr
    assert log.read_text(encoding="utf-8").endswith("user pre-commit\nuser pre-commit\n")

    code, out = install_hooks(repo, monkeypatch, capsys, "--uninstall")

    assert code == 0
    assert "post-checkout: removed; put back the hook that was here before" in out
    for name, content in theirs.items():
        assert hook_path(repo, name).read_bytes() == content
        assert not hook_path(repo, f"{name}.pre-claudio").exists()
    assert stat.S_IMODE(hook_path(repo, "post-checkout").stat().st_mode) == 0o750
    assert stat.S_IMODE(hook_path(repo, "pre-commit").stat().st_mode) == 0o700

    code, out = install_hooks(repo, monkeypatch, capsys, "--uninstall")
    assert code == 0
    assert "post-checkout: not claudio-ci's, left as is" in out


def test_uninstall_without_a_previous_hook_removes_ours(repo: Path, monkeypatch, capsys) -> None:
    install_hooks(repo, monkeypatch, capsys)
    code, out = install_hooks(repo, monkeypatch, capsys, "--uninstall")
    assert code == 0
    assert "  post-checkout: removed\n  pre-commit: removed\n" in out
    assert "The hooks run" not in out
    assert (
        sorted(p.name for p in (repo / ".git" / "hooks").iterdir() if "sample" not in p.name) == []
    )
    code, out = install_hooks(repo, monkeypatch, capsys, "--uninstall")
    assert "  post-checkout: not installed\n" in out


def test_a_pre_commit_framework_hook_is_left_alone(repo: Path, monkeypatch, capsys) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pre_commit", "install"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    framework = hook_path(repo, "pre-commit").read_bytes()

    code, out = install_hooks(repo, monkeypatch, capsys)

    assert code == 0
    assert "pre-commit: installed by the pre-commit framework, left as is" in out
    assert "list claudio-ci's hook ids in .pre-commit-config.yaml instead" in out
    assert "post-checkout: installed\n" in out
    assert hook_path(repo, "pre-commit").read_bytes() == framework
    assert not hook_path(repo, "pre-commit.pre-claudio").exists()


def test_a_hook_and_a_leftover_backup_are_never_overwritten(
    repo: Path, monkeypatch, capsys
) -> None:
    mine = executable_script(hook_path(repo, "pre-commit"), "#!/bin/sh\necho mine\n")
    old = executable_script(hook_path(repo, "pre-commit.pre-claudio"), "#!/bin/sh\necho old\n")

    code, out = install_hooks(repo, monkeypatch, capsys)

    assert code == 1
    assert "pre-commit: not installed: both pre-commit and pre-commit.pre-claudio exist" in out
    assert hook_path(repo, "pre-commit").read_bytes() == mine
    assert hook_path(repo, "pre-commit.pre-claudio").read_bytes() == old
    assert "post-checkout: installed" in out


def test_core_hooks_path_is_where_hooks_go_unless_it_is_inside_each_worktree(
    repo: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    shared = tmp_path / "team-hooks"
    git(repo, "config", "core.hooksPath", str(shared))
    code, out = install_hooks(repo, monkeypatch, capsys)
    assert code == 0
    assert f"install-hooks: {shared} (core.hooksPath = {shared}: git runs hooks from there" in out
    assert (shared / "post-checkout").is_file()
    assert not hook_path(repo, "post-checkout").exists()
    proc = run_git(repo, "worktree", "add", "-b", "a", str(tmp_path / "a"))
    assert proc.returncode == 0 and (tmp_path / "a" / ".env").is_file()

    git(repo, "config", "core.hooksPath", ".husky")
    code, out = install_hooks(repo, monkeypatch, capsys)
    assert code == 2
    assert "core.hooksPath is '.husky', a directory inside each worktree" in out
    assert 'claudio-ci worktree setup --post-checkout "$@"' in out
    assert not (repo / ".husky").exists()


# --- pre-commit ------------------------------------------------------------------------------


@pytest.fixture
def fake_checks(repo: Path, tmp_path: Path):
    """Our pre-commit hook, running a stand-in for claudio-ci; `use(checks)` sets its CHECKS."""
    log = tmp_path / "checks.log"
    fake = tmp_path / "fake-python"
    executable_script(fake, FAKE_PYTHON.format(log=log))
    install(repo / ".git" / "hooks", ["pre-commit"], str(fake))
    hook = hook_path(repo, "pre-commit")
    original = hook.read_text(encoding="utf-8")

    def use(checks: str) -> Path:
        text = original.replace("CHECKS='notebooks experiments conflicts'", f"CHECKS='{checks}'")
        assert text != original
        hook.write_text(text, encoding="utf-8")
        log.unlink(missing_ok=True)
        return log

    return use


def invocations(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    calls = log.read_text(encoding="utf-8").split("\n")
    return [call.rstrip("\0").split("\0") for call in calls if call]


def test_pre_commit_runs_each_check_on_the_staged_files(repo: Path, fake_checks) -> None:
    (repo / "gone.txt").write_text("g\n", encoding="utf-8")
    commit_all(repo, "to delete")
    for name in ("sp ace.txt", "ünï.txt", "unstaged.txt"):
        (repo / name).write_text("x\n", encoding="utf-8")
    git(repo, "add", "sp ace.txt", "ünï.txt")
    git(repo, "rm", "-q", "gone.txt")
    log = fake_checks("clean missing dirty")

    proc = run_git(repo, "commit", "-q", "-m", "x")

    out = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "claudio-ci: this claudio-ci has no `check missing`; skipped" in out
    assert "sp ace.txt:1:1: X001 something is wrong" in out
    assert "invalid choice" not in out
    staged = ["sp ace.txt", "ünï.txt"]
    assert invocations(log) == [
        ["check", "clean", "--", *staged],
        ["check", "missing", "--", *staged],
        ["check", "dirty", "--", *staged],
    ]

    log = fake_checks("clean broken")
    proc = run_git(repo, "commit", "-q", "-m", "x")
    assert proc.returncode == 1
    assert "claudio-ci: error: .claudio.yaml:1:1: CFG001 broken" in proc.stderr

    fake_checks("clean")
    assert run_git(repo, "commit", "-q", "-m", "x").returncode == 0
    log = fake_checks("dirty")
    assert run_git(repo, "commit", "-q", "--allow-empty", "-m", "nothing staged").returncode == 0
    assert invocations(log) == []


def test_pre_commit_with_the_real_claudio_ci(repo: Path, monkeypatch, capsys) -> None:
    install_hooks(repo, monkeypatch, capsys, "--hook", "pre-commit")
    (repo / "README.md").write_text("# changed\n", encoding="utf-8")
    git(repo, "add", "README.md")

    proc = run_git(repo, "commit", "-q", "-m", "readme")

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert git(repo, "log", "-1", "--format=%s").strip() == "readme"


def misnamed_experiment(ml_repo: Path) -> tuple[Path, bytes]:
    """A staged file named `--fix` beside an experiment that `--fix` would rewrite."""
    path = ml_repo / "experiments" / "attention.yaml"
    path.write_bytes(path.read_bytes().replace(b"name: attention", b"name: attn"))
    (ml_repo / "--fix").write_text("a file, not a flag\n", encoding="utf-8")
    git(ml_repo, "add", "--", "--fix", "experiments/attention.yaml")
    return path, path.read_bytes()


def test_a_staged_file_named_like_a_flag_stays_a_file_in_the_plain_hook(
    ml_repo: Path, monkeypatch, capsys
) -> None:
    install_hooks(ml_repo, monkeypatch, capsys, "--hook", "pre-commit")
    path, staged = misnamed_experiment(ml_repo)

    proc = run_git(ml_repo, "commit", "-q", "-m", "attack")

    out = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "EXP104" in out
    assert "fixed:" not in out
    assert path.read_bytes() == staged


def test_a_staged_file_named_like_a_flag_stays_a_file_under_pre_commit(
    git_repo: Path, try_repo
) -> None:
    """Without `--`, a file named `--help` makes the hook print its usage and pass unchecked."""
    (git_repo / "--help").write_text("a file, not a flag\n", encoding="utf-8")
    git(git_repo, "add", "--", "--help")

    proc = try_repo(git_repo, "conflict-risk", all_files=True)

    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "usage: claudio-ci" not in out


def test_under_pre_commit_args_without_a_separator_are_refused(
    ml_repo: Path, monkeypatch, capsys
) -> None:
    path, staged = misnamed_experiment(ml_repo)
    monkeypatch.chdir(ml_repo)
    monkeypatch.setenv("PRE_COMMIT", "1")

    code = main(["check", "experiments", "--fix", "experiments/attention.yaml"])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("claudio-ci: error: under pre-commit, end the hook's `args:` with `--`")
    assert path.read_bytes() == staged
    assert main(["check", "experiments", "--fix", "--", "experiments/attention.yaml"]) == 0
    assert b"name: attention" in path.read_bytes()


# --- the pre-commit framework's post-checkout stage -------------------------------------------


def test_the_framework_hook_sets_up_only_a_new_worktree(
    repo: Path, hook_repo: tuple[Path, str], pre_commit_home: Path
) -> None:
    worktree = repo.parent / "ab12"
    git(repo, "worktree", "add", "-q", "-b", "ab12", str(worktree))
    head = git(worktree, "rev-parse", "HEAD").strip()
    snapshot, sha = hook_repo

    def post_checkout(from_ref: str) -> subprocess.CompletedProcess[str]:
        return run_pre_commit(
            worktree,
            *("try-repo", str(snapshot), "worktree-setup", "--ref", sha, "--verbose"),
            *("--hook-stage", "post-checkout", "--from-ref", from_ref, "--to-ref", head),
            *("--checkout-type", "1"),
            home=pre_commit_home,
        )

    switch = post_checkout(head)
    assert switch.returncode == 0, switch.stdout + switch.stderr
    assert not (worktree / ".env").exists()

    created = post_checkout(NULL_ID)
    assert created.returncode == 0, created.stdout + created.stderr
    assert "wrote .env" in created.stdout
    assert port_in_env(worktree) in range(47400, 47500)
