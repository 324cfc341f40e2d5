"""`claudio-ci worktree setup|status`, in real repositories with real worktrees (no hooks here:
tests/worktree/test_install_hooks.py runs them through `git worktree add`)."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

from claudio_ci.cli import main
from claudio_ci.worktree import blocks, trust
from claudio_ci.worktree.registry import (
    Registry,
    WorktreeRecord,
    assign_port,
    forget_missing,
    worktree_key,
)
from claudio_ci.worktree.setup import creates_worktree
from tests.conftest import invoke_cli
from tests.gitutil import add_worktree, commit_all, git

PORTS = "47310-47319"


def configure(repo: Path, worktree_section: str) -> None:
    """Commit a `.claudio.yaml` whose `worktree` section is `worktree_section` (indented)."""
    (repo / ".claudio.yaml").write_text(
        f"worktree:\n  jupyter_ports: {PORTS}\n{worktree_section}", encoding="utf-8"
    )
    commit_all(repo, "claudio config")


def approve(worktree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`claudio-ci worktree allow` there: its .claudio.yaml's setup commands may run."""
    monkeypatch.chdir(worktree)
    assert main(["worktree", "allow"]) == 0


def setup(
    worktree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    result = invoke_cli(monkeypatch, capsys, "worktree", "setup", *args, cwd=worktree)
    return result.code, result.output


def status(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    result = invoke_cli(monkeypatch, capsys, "worktree", "status", *args, cwd=repo)
    return result.code, result.output


def recorded(repo: Path) -> dict:
    return json.loads((repo / ".git" / "claudio" / "worktrees.json").read_text(encoding="utf-8"))


def env_file(worktree: Path) -> dict[str, str]:
    lines = blocks.read_block((worktree / ".env").read_text(encoding="utf-8"))
    return dict(line.split("=", 1) for line in lines if not line.startswith("#"))


# --- what setup makes -----------------------------------------------------------------------


def test_setup_links_data_makes_directories_and_writes_env(
    git_repo: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    shared = tmp_path / "shared" / "ml-project" / "data"
    shared.mkdir(parents=True)
    configure(
        git_repo,
        f"  shared_data:\n    data: {shared}\n    raw/images: {tmp_path / 'not-there'}\n",
    )
    worktree = add_worktree(git_repo, "ab12", "claudio/ab12-baseline")

    code, out = setup(worktree, monkeypatch, capsys)

    assert code == 0, out
    assert (worktree / "data").is_symlink()
    assert os.readlink(worktree / "data") == str(shared)
    assert os.readlink(worktree / "raw" / "images") == str(tmp_path / "not-there")
    assert (worktree / "outputs").is_dir() and (worktree / "processed").is_dir()
    port = recorded(git_repo)["worktrees"][str(worktree)]["port"]
    assert port in range(47310, 47320)
    assert env_file(worktree) == {
        "JUPYTER_PORT": str(port),
        "EXPERIMENT_OUTPUT_ROOT": str(worktree / "outputs"),
    }
    assert f"Jupyter port {port}" in out
    assert f"linked data -> {shared}" in out
    assert "made outputs/, processed/" in out
    assert "raw/images: WT001 [warning] shared data target" in out
    assert "the link works as soon as the target does" in out
    exclude = (git_repo / ".git" / "info" / "exclude").read_text(encoding="utf-8")
    assert blocks.read_block(exclude) == ["/.env", "/data", "/raw/images"]
    assert git(worktree, "status", "--porcelain") == ""
    entry = recorded(git_repo)["worktrees"][str(worktree)]
    assert entry["setup"] == "done"
    assert entry["branch"] == "claudio/ab12-baseline"
    assert entry["problems"] == [
        f"WT001 raw/images: shared data target {tmp_path / 'not-there'} does not exist"
    ]


def test_setup_twice_changes_nothing(git_repo: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    configure(git_repo, f"  shared_data: {{data: {tmp_path}}}\n")
    worktree = add_worktree(git_repo, "ab12", "claudio/ab12-baseline")
    setup(worktree, monkeypatch, capsys)
    env_before = (worktree / ".env").stat()
    exclude = git_repo / ".git" / "info" / "exclude"
    exclude_before = exclude.read_bytes()

    code, out = setup(worktree, monkeypatch, capsys)

    assert code == 0
    assert "already set up: nothing to change" in out
    assert (worktree / ".env").stat().st_mtime_ns == env_before.st_mtime_ns
    assert exclude.read_bytes() == exclude_before


def test_relative_target_is_the_main_worktrees_and_main_links_nothing(
    git_repo: Path, monkeypatch, capsys
) -> None:
    (git_repo / ".gitignore").write_text("/data/\n", encoding="utf-8")
    configure(git_repo, "  shared_data: {data: data}\n")
    (git_repo / "data").mkdir()
    worktree = add_worktree(git_repo, "ab12", "claudio/ab12-baseline")

    assert setup(worktree, monkeypatch, capsys)[0] == 0
    assert os.readlink(worktree / "data") == str(git_repo / "data")

    code, out = setup(git_repo, monkeypatch, capsys)
    assert code == 0, out
    assert (git_repo / "data").is_dir() and not (git_repo / "data").is_symlink()
    assert "WT00" not in out


def test_setup_never_touches_the_users_files(git_repo: Path, monkeypatch, capsys) -> None:
    configure(git_repo, "  shared_data: {data: /shared/data}\n")
    worktree = add_worktree(git_repo, "ab12", "claudio/ab12-baseline")
    (worktree / "data").mkdir()
    (worktree / "data" / "mine.csv").write_text("a,b\n", encoding="utf-8")
    (worktree / "processed").write_text("a file where a directory should be\n", encoding="utf-8")
    user_env = "# my secrets\nWANDB_API_KEY=abc\nJUPYTER_PORT=1\n"
    (worktree / ".env").write_text(user_env, encoding="utf-8")

    code, out = setup(worktree, monkeypatch, capsys)

    assert code == 0
    assert "data: WT002 [warning] exists and is not a link; kept as is" in out
    assert "processed/: WT003 [warning] exists and is not a directory; kept as is" in out
    assert (worktree / "data" / "mine.csv").read_text(encoding="utf-8") == "a,b\n"
    assert (worktree / "processed").read_text(encoding="utf-8").startswith("a file")
    text = (worktree / ".env").read_text(encoding="utf-8")
    assert text.startswith(user_env)
    assert blocks.BEGIN in text

    (worktree / ".env").write_text(text + "EXTRA=1\n", encoding="utf-8")
    assert setup(worktree, monkeypatch, capsys)[0] == 0
    assert (worktree / ".env").read_text(encoding="utf-8") == text + "EXTRA=1\n"


def test_env_file_tracked_or_damaged_is_left_alone(git_repo: Path, monkeypatch, capsys) -> None:
    (git_repo / ".env").write_text("COMMITTED=1\n", encoding="utf-8")
    configure(git_repo, "")
    worktree = add_worktree(git_repo, "ab12", "claudio/ab12-baseline")

    code, out = setup(worktree, monkeypatch, capsys)
    assert code == 0
    assert ".env: WT005 [warning] is tracked by git; JUPYTER_PORT, EXPERIMENT_OUTPUT_ROOT" in out
    assert "set worktree.env_file to a file of this worktree only" in out
    assert (worktree / ".env").read_text(encoding="utf-8") == "COMMITTED=1\n"

    damaged = f"{blocks.BEGIN}\nJUPYTER_PORT=1\nMINE=2\n"
    (worktree / ".env.local").write_text(damaged, encoding="utf-8")
    code, out = setup(worktree, monkeypatch, capsys, "--set", "worktree.env_file=.env.local")
    assert code == 0
    assert ".env.local: WT005 [warning] has a damaged claudio-ci block" in out
    assert (worktree / ".env.local").read_text(encoding="utf-8") == damaged


# --- ports ------------------------------------------------------------------------------------


def test_ports_are_distinct_sticky_and_freed_with_the_worktree(
    git_repo: Path, monkeypatch, capsys
) -> None:
    configure(git_repo, "")
    first = add_worktree(git_repo, "ab12", "a")
    second = add_worktree(git_repo, "cd34", "b")
    setup(first, monkeypatch, capsys)
    setup(second, monkeypatch, capsys)
    ports = {p: recorded(git_repo)["worktrees"][str(p)]["port"] for p in (first, second)}
    assert ports[first] != ports[second]

    setup(first, monkeypatch, capsys)
    assert recorded(git_repo)["worktrees"][str(first)]["port"] == ports[first]

    git(git_repo, "worktree", "remove", "--force", str(first))
    third = add_worktree(git_repo, "ef56", "c")
    setup(third, monkeypatch, capsys)
    worktrees = recorded(git_repo)["worktrees"]
    assert str(first) not in worktrees
    assert worktrees[str(third)]["port"] not in (None, ports[second])


def test_a_port_something_listens_on_is_skipped(git_repo: Path, monkeypatch, capsys) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        configure(git_repo, "")
        worktree = add_worktree(git_repo, "ab12", "a")
        code, _ = setup(
            worktree, monkeypatch, capsys, "--set", f"worktree.jupyter_ports={busy}-{busy}"
        )
    assert code == 0
    assert recorded(git_repo)["worktrees"][str(worktree)]["port"] is None
    assert env_file(worktree).keys() == {"EXPERIMENT_OUTPUT_ROOT"}


def test_a_full_port_range_is_a_warning(git_repo: Path, monkeypatch, capsys) -> None:
    configure(git_repo, "")
    one, two = add_worktree(git_repo, "ab12", "a"), add_worktree(git_repo, "cd34", "b")
    narrow = ("--set", "worktree.jupyter_ports=47330-47330")
    assert setup(one, monkeypatch, capsys, *narrow)[0] == 0
    code, out = setup(two, monkeypatch, capsys, *narrow)
    assert code == 0
    assert "WT004 [warning] every port of 47330-47330 is taken" in out
    assert "widen worktree.jupyter_ports" in out


def test_port_assignment_prefers_the_current_port_and_the_lowest_free_one() -> None:
    assert assign_port({}, "/a", range(10, 13), lambda port: port == 10) == 11
    records = {"/a": WorktreeRecord(port=12), "/b": WorktreeRecord(port=10)}
    assert assign_port(records, "/a", range(10, 13), lambda port: False) == 12
    assert assign_port(records, "/c", range(10, 13), lambda port: False) == 11
    assert assign_port(records, "/a", range(20, 22), lambda port: False) == 20
    forget_missing(records, ["/a"])
    assert set(records) == {"/a"}


@pytest.mark.parametrize(
    ("ports", "message"),
    [
        ("9000-8000", "'9000-8000' is not a port range FIRST-LAST"),
        ("0-10", "'0-10' is not a port range FIRST-LAST"),
        ("8888", "CFG003"),
    ],
)
def test_a_bad_port_range_is_a_configuration_error(
    git_repo: Path, monkeypatch, capsys, ports: str, message: str
) -> None:
    configure(git_repo, "")
    code, out = setup(git_repo, monkeypatch, capsys, "--set", f"worktree.jupyter_ports={ports}")
    assert code == 2
    assert message in out
    assert not (git_repo / ".env").exists()


@pytest.mark.parametrize("path", ["../outside", "/abs/dir", "a/../../b", "."])
def test_paths_outside_the_worktree_are_rejected(
    git_repo: Path, monkeypatch, capsys, path: str
) -> None:
    configure(git_repo, f"  directories: ['{path}']\n")
    code, out = setup(git_repo, monkeypatch, capsys)
    assert code == 2
    assert ".claudio.yaml:3:" in out and "CFG003" in out
    assert "Traceback" not in out


# --- setup commands ---------------------------------------------------------------------------


def test_setup_commands_run_once_with_the_worktrees_variables(
    git_repo: Path, monkeypatch, capsys
) -> None:
    configure(
        git_repo,
        "  setup_commands:\n"
        '    - echo "$JUPYTER_PORT $EXPERIMENT_OUTPUT_ROOT ${GIT_DIR:-no-git-dir}" >> ran.txt\n'
        "    - echo second >> ran.txt\n",
    )
    worktree = add_worktree(git_repo, "ab12", "a")
    approve(worktree, monkeypatch)
    monkeypatch.setenv("GIT_DIR", str(git_repo / ".git"))  # as inside another git command
    code, out = setup(worktree, monkeypatch, capsys)
    monkeypatch.delenv("GIT_DIR")

    assert code == 0, out
    port = recorded(git_repo)["worktrees"][str(worktree)]["port"]
    ran = (worktree / "ran.txt").read_text(encoding="utf-8")
    assert ran == f"{port} {worktree / 'outputs'} no-git-dir\nsecond\n"
    assert "running: echo second >> ran.txt" in out

    assert setup(worktree, monkeypatch, capsys)[0] == 0
    assert (worktree / "ran.txt").read_text(encoding="utf-8") == ran
    assert setup(worktree, monkeypatch, capsys, "--commands", "always")[0] == 0
    assert (worktree / "ran.txt").read_text(encoding="utf-8") == ran * 2


def test_a_failed_command_fails_setup_and_status_flags_it(
    git_repo: Path, monkeypatch, capsys
) -> None:
    configure(git_repo, "  setup_commands: ['exit 3', 'touch never.txt']\n")
    worktree = add_worktree(git_repo, "ab12", "a")
    approve(worktree, monkeypatch)

    code, out = setup(worktree, monkeypatch, capsys)

    assert code == 1
    assert ".claudio.yaml:3:3: WT006 exited 3: exit 3" in out
    assert not (worktree / "never.txt").exists()
    assert (worktree / ".env").is_file()
    code, out = status(git_repo, monkeypatch, capsys)
    assert code == 1
    assert "FAILED" in out
    assert ".claudio/worktrees/ab12: WT006 .claudio.yaml:3:3: exited 3: exit 3" in out

    assert setup(worktree, monkeypatch, capsys, "--commands", "never")[0] == 0
    assert recorded(git_repo)["worktrees"][str(worktree)]["setup"] == "done"


def test_json_holds_the_document_alone_and_the_commands_talk_on_stderr(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(git_repo, "  setup_commands: ['echo said by the command', 'exit 3']\n")
    worktree = add_worktree(git_repo, "ab12", "a")
    approve(worktree, monkeypatch)

    result = invoke_cli(monkeypatch, capsys, "worktree", "setup", "--format", "json", cwd=worktree)

    assert result.code == 1
    document = json.loads(result.out)
    assert (document["branch"], document["state"]) == ("a", "failed")
    assert "ran echo said by the command" in document["changes"]
    (failed,) = document["findings"]
    assert (failed["path"], failed["line"], failed["col"], failed["code"]) == (
        ".claudio.yaml",
        3,
        3,
        "WT006",
    )
    assert "said by the command" in result.err and "running: exit 3" in result.err


def _gone_or_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_command_over_the_time_limit_is_stopped_with_its_children(
    git_repo: Path, monkeypatch, capsys
) -> None:
    configure(
        git_repo,
        "  setup_timeout_seconds: 0.5\n  setup_commands: ['sleep 60 & echo $! > pid; wait']\n",
    )
    worktree = add_worktree(git_repo, "ab12", "a")
    approve(worktree, monkeypatch)

    code, out = setup(worktree, monkeypatch, capsys)

    assert code == 1
    assert "WT007 stopped after 0.5 s: sleep 60 & echo $! > pid; wait" in out
    child = int((worktree / "pid").read_text(encoding="utf-8"))
    deadline = time.monotonic() + 10
    while not _gone_or_zombie(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone_or_zombie(child)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_child_that_left_the_commands_session_is_stopped_too(
    git_repo: Path, monkeypatch, capsys
) -> None:
    """`setsid` takes it out of the process group a signal to the group reaches; it is
    still the command's descendant."""
    configure(
        git_repo,
        "  setup_timeout_seconds: 1\n  setup_commands: ['setsid sleep 60 & echo $! > pid; wait']\n",
    )
    worktree = add_worktree(git_repo, "ab12", "a")
    approve(worktree, monkeypatch)

    code, out = setup(worktree, monkeypatch, capsys)

    assert code == 1
    assert "WT007 stopped after 1 s" in out
    child = int((worktree / "pid").read_text(encoding="utf-8"))
    deadline = time.monotonic() + 10
    while not _gone_or_zombie(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone_or_zombie(child)


def test_a_command_killed_by_a_signal_says_which(git_repo: Path, monkeypatch, capsys) -> None:
    configure(git_repo, "  setup_commands: ['kill -TERM $$']\n")
    worktree = add_worktree(git_repo, "ab12", "a")
    approve(worktree, monkeypatch)

    code, out = setup(worktree, monkeypatch, capsys)

    assert code == 1
    assert ".claudio.yaml:3:3: WT006 killed by SIGTERM: kill -TERM $$" in out


# --- trust: whose setup commands run (hardening #4) -----------------------------------------


def test_repository_commands_run_only_for_the_content_approved(
    git_repo: Path, monkeypatch, capsys
) -> None:
    configure(git_repo, "  setup_commands: ['echo ran >> ran.txt']\n")
    worktree = add_worktree(git_repo, "ab12", "a")

    code, out = setup(worktree, monkeypatch, capsys)
    assert code == 0
    assert not (worktree / "ran.txt").exists()
    assert [line for line in out.splitlines() if "WT008" in line] == [
        f".claudio.yaml:3:3: WT008 [notice] setup commands from {worktree / '.claudio.yaml'} not "
        "run: this content was never approved; see them with `claudio-ci worktree allow "
        "--show`, then approve them with `claudio-ci worktree allow` here"
    ]

    approve(worktree, monkeypatch)
    assert setup(worktree, monkeypatch, capsys)[0] == 0
    assert (worktree / "ran.txt").read_text(encoding="utf-8") == "ran\n"

    config = worktree / ".claudio.yaml"
    config_prior = worktree.parent / "prior.yaml"
    config_prior.write_bytes(config.read_bytes())
    config.write_text(config.read_text(encoding="utf-8") + "  # edited\n", encoding="utf-8")
    code, out = setup(worktree, monkeypatch, capsys, "--commands", "always")
    assert "WT008" in out
    assert (worktree / "ran.txt").read_text(encoding="utf-8") == "ran\n"

    approve(worktree, monkeypatch)
    assert main(["worktree", "allow", "--revoke"]) == 0
    assert "revoked approval" in capsys.readouterr().out
    assert "WT008" in setup(worktree, monkeypatch, capsys, "--commands", "always")[1]
    approvals = Path(os.environ["HOME"]) / ".local" / "share" / "claudio" / "allow"
    assert [p.name for p in approvals.iterdir()] == [trust.content_hash(config_prior)]


def test_allow_prints_the_files_own_commands_and_show_approves_nothing(
    git_repo: Path, monkeypatch, capsys
) -> None:
    configure(git_repo, "  setup_commands: ['echo ran >> ran.txt', 'make data']\n")
    user_config = Path(os.environ["XDG_CONFIG_HOME"]) / "claudio" / "config.yaml"
    user_config.parent.mkdir(parents=True)
    user_config.write_text("worktree:\n  setup_commands: ['echo mine']\n", encoding="utf-8")
    worktree = add_worktree(git_repo, "ab12", "a")
    config = worktree / ".claudio.yaml"
    approvals = Path(os.environ["HOME"]) / ".local" / "share" / "claudio" / "allow"
    monkeypatch.chdir(worktree)

    assert main(["worktree", "allow", "--show"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1:3] == ["  echo ran >> ran.txt", "  make data"]
    assert "echo mine" not in out  # the user's own commands are not what is approved
    assert "not approved" in out
    assert not approvals.exists() or list(approvals.iterdir()) == []
    assert "WT008" in setup(worktree, monkeypatch, capsys)[1]

    assert main(["worktree", "allow"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:3] == [
        f"claudio-ci worktree: the setup commands of {config} (this content):",
        "  echo ran >> ran.txt",
        "  make data",
    ]
    assert "approved" in out.splitlines()[3]
    assert [p.name for p in approvals.iterdir()] == [trust.content_hash(config)]


@pytest.mark.parametrize("revoke", [[], ["--revoke"], ["--show"]])
def test_allow_says_when_the_config_is_a_directory(
    git_repo: Path, monkeypatch, capsys, revoke: list[str]
) -> None:
    (git_repo / ".claudio.yaml").mkdir()
    monkeypatch.chdir(git_repo)
    assert main(["worktree", "allow", *revoke]) == 2
    err = capsys.readouterr().err
    assert f"{git_repo / '.claudio.yaml'} is a directory, not a YAML file" in err
    assert "does not exist" not in err and "Traceback" not in err


def test_the_users_own_commands_need_no_approval(git_repo: Path, monkeypatch, capsys) -> None:
    configure(git_repo, "")
    user_config = Path(os.environ["XDG_CONFIG_HOME"]) / "claudio" / "config.yaml"
    user_config.parent.mkdir(parents=True)
    user_config.write_text("worktree:\n  setup_commands: ['echo mine >> ran.txt']\n")
    worktree = add_worktree(git_repo, "ab12", "a")

    code, out = setup(worktree, monkeypatch, capsys)

    assert code == 0, out
    assert "WT008" not in out
    assert (worktree / "ran.txt").read_text(encoding="utf-8") == "mine\n"
    code, out = setup(worktree, monkeypatch, capsys, "--set", "worktree.setup_commands=['echo x']")
    assert (code, "WT008" in out) == (0, False)


# --- committed symlinks never redirect setup (hardening #9) ---------------------------------


def test_a_committed_symlink_cannot_make_setup_write_outside_the_worktree(
    git_repo: Path, monkeypatch, capsys, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("outputs", "conf", "links"):
        (git_repo / name).symlink_to(outside, target_is_directory=True)
    configure(
        git_repo,
        "  directories: [outputs/runs]\n  env_file: conf/.env\n"
        "  shared_data: {links/data: /data/shared}\n",
    )
    worktree = add_worktree(git_repo, "ab12", "a")

    code, out = setup(worktree, monkeypatch, capsys)

    assert code == 0, out
    assert list(outside.iterdir()) == []
    warned = sorted(line.split(":")[0] for line in out.splitlines() if "WT009" in line)
    assert warned == ["conf/.env", "links/data", "outputs/", "outputs/runs"]


# --- the hook's gate --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "flag", "expected"),
    [
        ("0" * 40, "1", True),
        ("0" * 64, "1", True),  # SHA-256 repositories
        ("0" * 40, "0", False),  # a file checkout
        ("1234abcd" * 5, "1", False),  # a branch switch
        ("", "1", False),
    ],
)
def test_only_a_checkout_without_a_previous_head_creates_a_worktree(
    old: str, flag: str, expected: bool
) -> None:
    assert creates_worktree(old, flag) is expected


def test_post_checkout_mode_sets_up_only_a_new_worktree(
    git_repo: Path, monkeypatch, capsys
) -> None:
    configure(git_repo, "")
    head = git(git_repo, "rev-parse", "HEAD").strip()

    assert setup(git_repo, monkeypatch, capsys, "--post-checkout", head, head, "1") == (0, "")
    monkeypatch.setenv("PRE_COMMIT_FROM_REF", head)
    monkeypatch.setenv("PRE_COMMIT_CHECKOUT_TYPE", "1")
    assert setup(git_repo, monkeypatch, capsys, "--post-checkout") == (0, "")
    assert not (git_repo / ".env").exists()

    monkeypatch.setenv("PRE_COMMIT_FROM_REF", "0" * 40)
    code, out = setup(git_repo, monkeypatch, capsys, "--post-checkout")
    assert code == 0
    assert "wrote .env" in out

    code, out = setup(git_repo, monkeypatch, capsys, "--post-checkout", "a", "b")
    assert code == 2
    assert "--post-checkout takes git's three arguments" in out


# --- status -----------------------------------------------------------------------------------


def test_status_lists_every_worktree_and_flags_broken_links(
    git_repo: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    configure(git_repo, f"  shared_data: {{data: {shared}}}\n")
    ready = add_worktree(git_repo, "ab12", "claudio/ab12-baseline")
    broken = add_worktree(git_repo, "cd34", "claudio/cd34-attention")
    add_worktree(git_repo, "ef56", "claudio/ef56-optimizer")  # never set up
    setup(ready, monkeypatch, capsys)
    setup(broken, monkeypatch, capsys)
    (broken / "data").unlink()
    (broken / "data").symlink_to(tmp_path / "moved")

    code, out = status(ready, monkeypatch, capsys)

    assert code == 1
    lines = out.splitlines()
    assert lines[0].split() == ["WORKTREE", "BRANCH", "PORT", "SETUP", "DATA"]
    assert lines[1].split()[:4] == [".", "main", "-", "never"]
    port = recorded(git_repo)["worktrees"][str(ready)]["port"]
    assert lines[2].split() == [
        ".claudio/worktrees/ab12",
        "claudio/ab12-baseline",
        str(port),
        "done",
        "data",
        "->",
        str(shared),
    ]
    assert lines[3].endswith(f"data -> {tmp_path / 'moved'} BROKEN")
    assert lines[4].split()[-2:] == ["data", "(missing)"]
    assert "Flagged: a BROKEN link needs its target" in out

    code, out = status(ready, monkeypatch, capsys, "--format", "json")
    assert code == 1
    rows = {Path(row["path"]).name: row for row in json.loads(out)}
    assert rows["ab12"]["links"][0]["state"] == "ok"
    assert rows["cd34"]["links"][0]["state"] == "broken"
    assert rows["cd34"]["flagged"] is True
    assert rows["ef56"]["setup"] == "never"
    assert rows["ef56"]["flagged"] is False


def test_status_survives_a_broken_config_and_a_deleted_worktree(
    git_repo: Path, monkeypatch, capsys
) -> None:
    configure(git_repo, "")
    odd = add_worktree(git_repo, "ab12", "a")
    gone = add_worktree(git_repo, "cd34", "b")
    (odd / ".claudio.yaml").write_text("worktree: [not, a, mapping\n", encoding="utf-8")
    git(git_repo, "worktree", "lock", str(gone))
    for path in sorted(gone.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    gone.rmdir()

    code, out = status(git_repo, monkeypatch, capsys)

    assert code == 0
    assert "configuration error: .claudio.yaml:" in out
    assert "directory missing (`git worktree prune` forgets it)" in out
    assert worktree_key(odd) not in Registry(git_repo / ".git" / "claudio").read()
