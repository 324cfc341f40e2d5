"""The sticky PR comment: carried figures, folding, and the real GitHub calls (local server)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from claudio_ci.cli import main
from claudio_ci.gpu import comment as sticky
from claudio_ci.gpu.ledger import FILENAME, Ledger, RunRow
from claudio_ci.gpu.usage import MJ_PER_KWH, GpuUsage
from tests.gitutil import commit_all, git
from tests.gpu.builders import add_run

BRANCH = "claudio/cd34-attention"
H100 = "NVIDIA H100 80GB HBM3"


def row(key: str, started: float, cost: float, energy_j: float | None = 3.6e6) -> RunRow:
    return RunRow(
        1, key, BRANCH, "/wt", "c" * 40, "python train.py", started, started + 60, started + 60,
        "h", 1, "nvml", "", 3600.0, energy_j, cost, 0, 0, True, H100,
    )  # fmt: skip


def test_merging_the_same_runs_again_counts_them_once() -> None:
    local = [row("a" * 32, 100, 1.5), row("b" * 32, 200, 2.5, energy_j=None)]
    once = sticky.merge(sticky.Carried(BRANCH), local)
    twice = sticky.merge(sticky.parse(sticky.render(once, [], "2026-05-07"), BRANCH), local)
    assert twice == once
    assert (twice.run_count, twice.cost, twice.kwh, twice.unmeasured) == (2, 4.0, 1.0, 1)


def test_the_hidden_data_can_never_close_the_html_comment_early() -> None:
    carried = sticky.merge(
        sticky.Carried("a-->b"), [dataclasses.replace(row("k", 1, 1), models="x-->y")]
    )
    body = sticky.render(carried, [], "2026-05-07")
    data = body[body.rindex(sticky.DATA_OPEN) :]
    assert data.count("-->") == 1
    assert data.endswith(" -->\n")
    assert sticky.parse(body, "a-->b").runs[0].gpus == "x-->y"


@pytest.mark.parametrize(
    "body",
    [
        "no data at all",
        f"{sticky.MARKER}\n{sticky.DATA_OPEN}{{not json{sticky.DATA_CLOSE}",
        f'{sticky.MARKER}\n{sticky.DATA_OPEN}{{"version": 99}}{sticky.DATA_CLOSE}',
    ],
)
def test_unreadable_data_starts_the_figures_afresh(body: str) -> None:
    assert sticky.parse(body, BRANCH) == sticky.Carried(BRANCH)


def test_data_of_another_branch_is_not_carried_over() -> None:
    body = sticky.render(sticky.merge(sticky.Carried("other"), [row("k", 1, 1)]), [], "d")
    assert sticky.parse(body, BRANCH) == sticky.Carried(BRANCH)


def test_old_runs_fold_into_totals_and_are_not_counted_twice() -> None:
    runs = [row(f"{n:032d}", n, 1.0) for n in range(sticky.KEEP_RUNS + 5)]
    carried = sticky.merge(sticky.Carried(BRANCH), runs)
    assert len(carried.runs) == sticky.KEEP_RUNS
    assert carried.earlier.runs == 5
    assert carried.run_count == sticky.KEEP_RUNS + 5
    assert carried.cost == sticky.KEEP_RUNS + 5
    again = sticky.merge(sticky.parse(sticky.render(carried, [], "d"), BRANCH), runs)
    assert (again.run_count, again.cost) == (carried.run_count, carried.cost)
    assert "*5 earlier run(s)" not in sticky.render(carried, [], "d")
    assert f"*{sticky.KEEP_RUNS + 5 - sticky.SHOWN_RUNS} earlier run(s)" in sticky.render(
        carried, [], "d"
    )


# --- against the local GitHub server ----------------------------------------------------


@pytest.fixture
def pr_repo(git_repo: Path, monkeypatch: pytest.MonkeyPatch, github_server) -> Path:
    git(git_repo, "checkout", "-q", "-b", BRANCH)
    monkeypatch.chdir(git_repo)
    monkeypatch.setenv("GITHUB_API_URL", github_server.url)
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/ml")
    monkeypatch.setenv("GITHUB_TOKEN", "t0ken")
    github_server.add_pull(7, head_ref=BRANCH)
    return git_repo


def _ledger(repo: Path) -> Ledger:
    return Ledger(repo / ".git" / "claudio" / FILENAME)


def _train(repo: Path, hours: float, started: float, key: str) -> None:
    usage = GpuUsage("GPU-a", H100, seconds=hours * 3600, energy_mj=hours * 0.6 * MJ_PER_KWH)
    with _ledger(repo) as ledger:
        add_run(ledger, BRANCH, [usage], started=started, key=key)


def _fresh_runner(repo: Path) -> None:
    """A CI runner that starts from a fresh checkout: the ledger is gone."""
    (repo / ".git" / "claudio" / FILENAME).unlink()


def test_one_sticky_comment_carries_the_cumulative_cost_across_runs(
    pr_repo: Path, github_server, capsys: pytest.CaptureFixture[str]
) -> None:
    github_server.add_comment(7, "LGTM", author="alice")
    _train(pr_repo, 1.0, 1_780_000_000.0, "run-one")
    assert main(["gpu", "comment", "--pr", "7"]) == 0
    assert "created the GPU cost comment on #7" in capsys.readouterr().out
    (created,) = [c for c in github_server.repo.comments if sticky.is_sticky(c.body)]
    assert "**$3.95** over 1 run(s): 1.000 GPU-hours, 0.600 kWh." in created.body

    _fresh_runner(pr_repo)
    _train(pr_repo, 2.0, 1_780_100_000.0, "run-two")
    assert main(["gpu", "comment", "--pr", "7"]) == 0
    assert "updated the GPU cost comment on #7" in capsys.readouterr().out
    stickies = [c for c in github_server.repo.comments if sticky.is_sticky(c.body)]
    assert [c.id for c in stickies] == [created.id]
    assert "**$11.85** over 2 run(s): 3.000 GPU-hours, 1.800 kWh." in stickies[0].body
    assert len(github_server.calls("POST", r"/issues/7/comments$")) == 1
    assert [r.body for r in github_server.calls("PATCH")] == [{"body": stickies[0].body}]
    assert "xychart-beta" in stickies[0].body
    assert "line [3.95, 11.85]" in stickies[0].body

    assert main(["gpu", "comment", "--pr", "7"]) == 0  # the same runs again: no change
    assert "**$11.85** over 2 run(s)" in github_server.repo.comments[-1].body


def test_json_says_what_was_done_and_holds_the_posted_comment(
    pr_repo: Path, github_server, capsys: pytest.CaptureFixture[str]
) -> None:
    _train(pr_repo, 1.0, 1_780_000_000.0, "run-one")
    assert main(["gpu", "comment", "--pr", "7", "--format", "json"]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    (created,) = [c for c in github_server.repo.comments if sticky.is_sticky(c.body)]
    assert (document["pull_request"], document["done"]) == (
        7,
        "created the GPU cost comment on #7",
    )
    assert document["comment"] == sticky.visible_part(created.body)
    assert document["findings"] == []
    assert "claudio-ci gpu: created the GPU cost comment on #7" in captured.err


def test_the_sticky_comment_is_found_on_a_later_page(
    pr_repo: Path, github_server, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(130):
        github_server.add_comment(7, f"comment {n}", author="bob")
    _train(pr_repo, 1.0, 1_780_000_000.0, "first")
    assert main(["gpu", "comment", "--pr", "7"]) == 0
    _train(pr_repo, 1.0, 1_780_000_500.0, "second")
    assert main(["gpu", "comment", "--pr", "7"]) == 0
    capsys.readouterr()
    assert len([c for c in github_server.repo.comments if sticky.is_sticky(c.body)]) == 1
    pages = [r.query.get("page", "1") for r in github_server.calls("GET", r"/issues/7/comments$")]
    assert pages.count("2") == 2  # both listings read the second page
    assert "**$7.90** over 2 run(s)" in github_server.repo.comments[-1].body


def test_thresholds_annotate_fail_over_the_limit_and_fill_the_step_summary(
    pr_repo: Path, github_server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    _train(pr_repo, 2.0, 1_780_000_000.0, "big")
    assert main(["gpu", "comment", "--pr", "7", "--set", "resources.cost_limit=5"]) == 1
    out = capsys.readouterr().out
    assert (
        f"::error file={BRANCH},title=GPU001::GPU cost $7.90 is over resources.cost_limit ($5.00)"
    ) in out
    written = summary.read_text(encoding="utf-8")
    assert written.startswith(sticky.MARKER)
    assert "`GPU001`" in written
    assert sticky.DATA_OPEN not in written
    assert "`GPU001`" in github_server.repo.comments[-1].body


def test_a_token_that_may_not_comment_is_a_notice_not_a_failure(
    pr_repo: Path, github_server, capsys: pytest.CaptureFixture[str]
) -> None:
    github_server.read_only = True
    _train(pr_repo, 1.0, 1_780_000_000.0, "k")
    assert main(["gpu", "comment", "--pr", "7"]) == 0
    assert "this token may not comment on #7" in capsys.readouterr().out
    assert github_server.repo.comments == []


def test_the_pull_request_comes_from_the_event_and_no_comment_needs_no_github(
    pr_repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, github_server,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    event = tmp_path / "event.json"
    event.write_text('{"pull_request": {"number": 7}}', encoding="utf-8")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    _train(pr_repo, 1.0, 1_780_000_000.0, "k")
    assert main(["gpu", "comment"]) == 0
    assert len(github_server.repo.comments) == 1
    requests = len(github_server.requests)
    assert main(["gpu", "comment", "--no-comment"]) == 0
    assert main(["gpu", "comment", "--dry-run"]) == 0
    assert capsys.readouterr().out.count(sticky.MARKER) == 1  # printed by --dry-run only
    assert len(github_server.requests) == requests


def test_without_a_pull_request_it_says_so_in_one_line(
    pr_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gpu", "comment"]) == 2
    assert capsys.readouterr().err == (
        "claudio-ci: error: gpu comment: no pull request: pass --pr N (or run on pull_request)\n"
    )


@pytest.mark.parametrize("number", ["0", "-5"])
def test_a_pull_request_number_below_1_is_a_usage_error(
    number: str, pr_repo: Path, capsys: pytest.CaptureFixture[str], github_server
) -> None:
    requests = len(github_server.requests)
    assert main(["gpu", "comment", "--pr", number]) == 2
    assert capsys.readouterr().err == (
        f"claudio-ci: error: gpu comment: --pr {number}: a pull request number is 1 or more\n"
    )
    assert len(github_server.requests) == requests  # GitHub was not asked


def test_the_branch_defaults_to_the_pull_requests_head(
    pr_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    git(pr_repo, "checkout", "-q", "--detach")
    commit_all(pr_repo, "detached")
    monkeypatch.setenv("GITHUB_HEAD_REF", BRANCH)
    _train(pr_repo, 1.0, 1_780_000_000.0, "k")
    assert main(["gpu", "comment", "--dry-run"]) == 0
    assert f"### GPU cost of `{BRANCH}`" in capsys.readouterr().out


# --- forged comments and figures (hardening #3) -------------------------------------------


def forged_body(cost: float | str) -> str:
    """A sticky comment as anyone could paste it: the marker and carried figures."""
    carried = sticky.merge(sticky.Carried(BRANCH), [row("f" * 32, 100, 1.0)])
    body = sticky.render(carried, [], "d")
    return body.replace('"cost":1.0', f'"cost":{cost}')


@pytest.mark.parametrize("cost", ["-1000.0", "NaN", "Infinity", '"12"', "true", "1e400"], ids=repr)
def test_impossible_carried_figures_start_afresh(cost: str) -> None:
    body = forged_body(cost)
    assert f'"cost":{cost}' in body
    assert sticky.parse(body, BRANCH) == sticky.Carried(BRANCH)


def test_too_many_or_duplicate_carried_runs_start_afresh() -> None:
    body = forged_body("1.0")
    one = body[body.index('{"commit"') : body.index("}],") + 1]
    duplicated = body.replace(one, f"{one},{one}")
    assert sticky.parse(duplicated, BRANCH) == sticky.Carried(BRANCH)
    assert sticky.parse(body, BRANCH).cost == 1.0


def test_a_forged_comment_by_another_user_is_neither_trusted_nor_edited(
    pr_repo: Path, github_server, capsys: pytest.CaptureFixture[str]
) -> None:
    """Mallory pastes the marker with a huge cost (to fail the job), then a negative one
    (to let a real overrun pass): both are ignored, and her comment is left alone."""
    huge = github_server.add_comment(7, forged_body("99999.0"), author="mallory")
    _train(pr_repo, 1.0, 1_780_000_000.0, "real")
    assert main(["gpu", "comment", "--pr", "7", "--set", "resources.cost_limit=5"]) == 0
    assert "created the GPU cost comment on #7" in capsys.readouterr().out
    assert huge.body == forged_body("99999.0")
    assert github_server.calls("PATCH") == []
    ours = github_server.repo.comments[-1]
    assert ours.author == "github-actions[bot]"
    assert "**$3.95** over 1 run(s)" in ours.body

    huge.body = forged_body("-1000.0")
    _train(pr_repo, 1.0, 1_780_000_500.0, "overrun")
    assert main(["gpu", "comment", "--pr", "7", "--set", "resources.cost_limit=5"]) == 1
    assert "GPU001" in capsys.readouterr().out
    assert [r.path for r in github_server.calls("PATCH")] == [
        f"/repos/acme/ml/issues/comments/{ours.id}"
    ]
    assert "**$7.90** over 2 run(s)" in ours.body


def test_with_a_personal_token_only_that_users_comment_is_adopted(
    pr_repo: Path, github_server, capsys: pytest.CaptureFixture[str]
) -> None:
    github_server.identity = "ci-user"
    bots = github_server.add_comment(7, forged_body("50.0"), author="github-actions[bot]")
    mine = github_server.add_comment(7, forged_body("2.0"), author="CI-User")
    _train(pr_repo, 1.0, 1_780_000_000.0, "real")
    assert main(["gpu", "comment", "--pr", "7"]) == 0
    assert "updated the GPU cost comment on #7" in capsys.readouterr().out
    assert bots.body == forged_body("50.0")
    assert "**$5.95** over 2 run(s)" in mine.body
    assert github_server.calls("GET", "/user")


def test_a_github_app_names_its_own_login(
    pr_repo: Path, github_server, capsys: pytest.CaptureFixture[str]
) -> None:
    github_server.identity = "claudio-app[bot]"
    mine = github_server.add_comment(7, forged_body("2.0"), author="claudio-app[bot]")
    _train(pr_repo, 1.0, 1_780_000_000.0, "real")
    assert main(["gpu", "comment", "--pr", "7", "--author", "claudio-app[bot]"]) == 0
    assert "updated the GPU cost comment on #7" in capsys.readouterr().out
    assert "**$5.95** over 2 run(s)" in mine.body


def test_an_app_token_without_its_login_warns_to_name_it_and_trusts_no_other_bot(
    pr_repo: Path, github_server, capsys: pytest.CaptureFixture[str]
) -> None:
    """GET /user refuses an App's token as it refuses GITHUB_TOKEN: the run cannot tell the
    two apart beforehand, so it trusts github-actions[bot]'s comment only, and says so once
    the comment it created shows the App's login."""
    github_server.identity = "claudio-app[bot]"
    apps = github_server.add_comment(7, forged_body("2.0"), author="claudio-app[bot]")
    other = github_server.add_comment(7, forged_body("50.0"), author="dependabot[bot]")
    _train(pr_repo, 1.0, 1_780_000_000.0, "real")
    assert main(["gpu", "comment", "--pr", "7"]) == 0
    out = capsys.readouterr().out
    assert "created the GPU cost comment on #7" in out
    assert "GPU006" in out
    assert "comments as claudio-app[bot], not github-actions[bot]" in out
    assert "comment-author input to claudio-app[bot]" in out
    assert (apps.body, other.body) == (forged_body("2.0"), forged_body("50.0"))
    assert "**$3.95** over 1 run(s)" in github_server.repo.comments[-1].body


def test_the_actions_bot_gets_no_warning(
    pr_repo: Path, github_server, capsys: pytest.CaptureFixture[str]
) -> None:
    _train(pr_repo, 1.0, 1_780_000_000.0, "real")
    assert main(["gpu", "comment", "--pr", "7"]) == 0
    assert "GPU006" not in capsys.readouterr().out


def test_a_hostile_branch_name_stays_literal_in_the_comment() -> None:
    markdown_it = pytest.importorskip("markdown_it")
    branch = "x`<img src=x onerror=alert(1)>`@octocat"
    carried = sticky.merge(
        sticky.Carried(branch), [dataclasses.replace(row("k", 1, 1), branch=branch)]
    )
    html = (
        markdown_it.MarkdownIt("commonmark")
        .enable("table")
        .render(sticky.visible_part(sticky.render(carried, [], "d")))
    )
    assert "<img" not in html
    assert "<code>x`&lt;img src=x onerror=alert(1)&gt;`@octocat</code>" in html
