"""`claudio-ci reviewers` end to end: a pull request against the local GitHub, and locally."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from claudio_ci.cli import main
from tests.github_server import GitHubServer
from tests.gitutil import REPO_ROOT, commit_all, git

BASE = "b" * 40
HEAD = "h" * 40
REPO = "/repos/acme/ml"
PULL = f"{REPO}/pulls/7"
SEED_CONFIG = """\
pr:
  reviewers:
    default: ["@lead"]
    by_path:
      "src/data/**": [data-team]
      "src/models/**": [ml-team]
      "notebooks/**": [data-science-team]
      "experiments/**": [ml-team, tech-lead]
      "requirements*.txt": [tech-lead]
"""
FILES = ["requirements.txt", "experiments/adamw.yaml", "src/data/dataset.py", "README.md"]


@pytest.fixture
def pr(github_server: GitHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Pull request #7 in GitHub Actions, in an empty workspace: nothing is checked out."""
    github_server.add_pull(
        7, author="alice", head_ref="claudio/ab12-baseline", base_sha=BASE, head_sha=HEAD
    )
    github_server.repo.pulls[7].files = list(FILES)
    github_server.put_file(BASE, ".claudio.yaml", SEED_CONFIG)
    github_server.repo.collaborators |= {"alice", "lead", "tech-lead"}
    github_server.repo.teams |= {"data-team", "ml-team"}
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "opened", "pull_request": {"number": 7}}), "utf-8")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    monkeypatch.chdir(workspace)
    for name, value in {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": "acme/ml",
        "GITHUB_API_URL": github_server.url,
        "GITHUB_TOKEN": "t0ken",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def outputs(tmp_path: Path) -> str:
    return (tmp_path / "output").read_text(encoding="utf-8")


def summary(tmp_path: Path) -> str:
    return (tmp_path / "summary.md").read_text(encoding="utf-8")


def posted(server: GitHubServer) -> list[object]:
    return [r.body for r in server.calls("POST")]


# --- on a pull request ----------------------------------------------------------------------------


def test_a_pull_request_is_routed_from_the_rules_at_its_base(
    pr: Path, github_server: GitHubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reviewers"]) == 0
    out = capsys.readouterr().out
    assert [(r.method, r.path, r.query) for r in github_server.calls("GET")] == [
        ("GET", REPO, {}),
        ("GET", PULL, {}),
        ("GET", f"{REPO}/contents/.claudio.yaml", {"ref": BASE}),
        ("GET", f"{PULL}/files", {"per_page": "100"}),
        ("GET", f"{PULL}/reviews", {"per_page": "100"}),
    ]
    assert posted(github_server) == [
        {"reviewers": ["lead", "data-team", "ml-team", "tech-lead"]},
        {"reviewers": ["lead"]},
        {"reviewers": ["data-team"]},
        {"reviewers": ["ml-team"]},
        {"reviewers": ["tech-lead"]},
        {"team_reviewers": ["data-team"]},
        {"team_reviewers": ["ml-team"]},
    ]
    assert outputs(pr) == "users=lead,tech-lead\nteams=acme/data-team,acme/ml-team\n"
    assert "Pull request #7 (claudio/ab12-baseline): 12 GitHub API calls" in out
    assert (
        "::notice file=.claudio.yaml,line=8,col=7,title=REV008::requested a review from "
        "tech-lead: experiments/**, requirements*.txt"
    ) in out
    table = summary(pr)
    assert "| Reviewer | Status | Rules that matched | Files |" in table
    assert (
        "| `data-team` | requested (team acme/data-team) | `src/data/**` | `src/data/dataset.py` |"
    ) in table
    assert "| `lead` | requested | `(default)` | every pull request |" in table
    assert "REV008" not in table  # each request is a row: not repeated as a note
    assert github_server.repo.pulls[7].requested_users == ["lead", "tech-lead"]


def test_a_pull_request_cannot_reroute_its_own_review(
    pr: Path, github_server: GitHubServer
) -> None:
    github_server.repo.pulls[7].files = [".claudio.yaml", "src/data/dataset.py"]
    github_server.put_file(HEAD, ".claudio.yaml", 'pr: {reviewers: {default: ["@mallory"]}}\n')
    github_server.repo.collaborators.add("mallory")
    assert main(["reviewers"]) == 0
    contents = github_server.calls("GET", "/contents/")
    assert [r.query["ref"] for r in contents] == [BASE]
    assert "mallory" not in json.dumps(posted(github_server))
    assert "teams=acme/data-team" in outputs(pr)


def test_dry_run_reads_but_requests_nobody(
    pr: Path, github_server: GitHubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reviewers", "--dry-run", "--format", "text"]) == 0
    out = capsys.readouterr().out
    assert github_server.calls("POST") == []
    assert "\ntech-lead  would request  experiments/**, requirements*.txt  " in out
    assert outputs(pr) == "users=lead,data-team,ml-team,tech-lead\nteams=\n"


def test_a_read_only_token_writes_the_summary_a_notice_and_succeeds(
    pr: Path, github_server: GitHubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    github_server.read_only = True
    assert main(["reviewers"]) == 0
    out = capsys.readouterr().out
    assert (
        "::notice file=.claudio.yaml,line=2,col=3,title=REV005::the token may not request reviews"
        in out
    )
    assert len(github_server.calls("POST")) == 1
    assert "| `tech-lead` | not requested (read-only token) |" in summary(pr)
    assert outputs(pr) == "users=\nteams=\n"


def test_the_author_and_those_already_asked_or_reviewed_are_skipped(
    pr: Path, github_server: GitHubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    pull = github_server.repo.pulls[7]
    pull.author = "tech-lead"
    pull.requested_teams = ["ml-team"]
    pull.reviews = [("lead", "APPROVED")]
    assert main(["reviewers", "--format", "text"]) == 0
    out = capsys.readouterr().out
    assert posted(github_server) == [
        {"reviewers": ["data-team"]},
        {"reviewers": ["data-team"]},
        {"team_reviewers": ["data-team"]},
    ]
    assert "\nlead       already reviewed" in out
    assert "\ntech-lead  author of the pull request" in out
    assert "\nml-team    already requested" in out


def test_drafts_are_skipped_before_listing_files(
    pr: Path, github_server: GitHubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    github_server.repo.pulls[7].draft = True
    assert main(["reviewers"]) == 0
    out = capsys.readouterr().out
    assert [r.path for r in github_server.requests] == [
        REPO,
        PULL,
        f"{REPO}/contents/.claudio.yaml",
    ]
    assert "title=REV006::pull request #7 skipped: it is a draft" in out
    assert outputs(pr) == "users=\nteams=\n"


def test_a_name_github_refuses_is_a_warning_and_the_others_are_still_asked(
    pr: Path, github_server: GitHubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    github_server.repo.pulls[7].files = ["notebooks/eda.py", "requirements.txt"]
    assert main(["reviewers"]) == 0
    out = capsys.readouterr().out
    assert "::warning file=.claudio.yaml,line=7,col=7,title=REV004::GitHub refused" in out
    assert "data-science-team: as a user: Reviews may only be requested from collaborators" in out
    assert outputs(pr) == "users=lead,tech-lead\nteams=\n"


def test_files_beyond_githubs_cap_are_a_warning(
    pr: Path, github_server: GitHubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    github_server.repo.pulls[7].files = [f"src/data/f{i}.csv" for i in range(3001)]
    assert main(["reviewers", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert (
        "::warning file=.claudio.yaml,line=2,col=3,title=REV003::GitHub lists 3,000 of the 3,001 "
        "changed files (its limit is 3,000): the others are not routed"
    ) in out
    assert len(github_server.calls("GET", "/files$")) == 30


def test_no_rules_at_the_base_is_a_notice(
    pr: Path, github_server: GitHubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    github_server.repo.contents.clear()
    assert main(["reviewers"]) == 0
    out = capsys.readouterr().out
    assert (
        f"title=REV009::no .claudio.yaml at the base commit {BASE[:12]}: no reviewer rules" in out
    )
    assert github_server.calls("POST") == []


def test_broken_rules_at_the_base_are_one_line_and_exit_2(
    pr: Path, github_server: GitHubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    github_server.put_file(BASE, "ci/rules.yaml", "pr:\n  reviewers:\n    default: [a\n")
    assert main(["reviewers", "--config", "ci/rules.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("claudio-ci: error: ci/rules.yaml:")
    assert err.count("\n") == 1
    assert github_server.calls("POST") == []


def test_bad_rules_are_errors_but_the_good_ones_still_route(
    pr: Path, github_server: GitHubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = SEED_CONFIG + '      "!docs/**": [lead]\n'
    github_server.put_file(BASE, ".claudio.yaml", config)
    assert main(["reviewers", "--format", "text"]) == 1
    out = capsys.readouterr().out
    assert (
        ".claudio.yaml:10:7: REV001 '!docs/**': negation (`!`) does not work in CODEOWNERS" in out
    )
    assert "teams=acme/data-team,acme/ml-team" in outputs(pr)


def test_no_event_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["reviewers"]) == 2
    assert "no pull request event: pass --event PATH" in capsys.readouterr().err


# --- locally ----------------------------------------------------------------------------------


@pytest.fixture
def repo(git_repo: Path) -> Path:
    (git_repo / ".claudio.yaml").write_text(SEED_CONFIG, encoding="utf-8")
    for path in ("src/data/dataset.py", "src/models/net.py", "requirements.txt"):
        (git_repo / path).parent.mkdir(parents=True, exist_ok=True)
        (git_repo / path).write_text("x = 1\n", encoding="utf-8")
    commit_all(git_repo, "rules and code")
    return git_repo


def test_explain_routes_what_the_worktree_changed_since_the_base(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    git(repo, "checkout", "-q", "-b", "claudio/ab12-baseline")
    (repo / "requirements.txt").write_text("numpy==2.1.3\n", encoding="utf-8")
    commit_all(repo, "pin numpy")
    (repo / "experiments").mkdir()
    (repo / "experiments" / "adamw.yaml").write_text("model: {}\n", encoding="utf-8")
    git(repo, "add", "experiments/adamw.yaml")
    monkeypatch.chdir(repo / "src")
    assert main(["reviewers", "--explain", "--base", "main", "--format", "text"]) == 0
    assert capsys.readouterr().out == (
        "2 files changed since the merge base with main (claudio/ab12-baseline)\n"
        "\n"
        "File                    Rules -> reviewers\n"
        "experiments/adamw.yaml  experiments/** -> ml-team, tech-lead\n"
        "requirements.txt        requirements*.txt -> tech-lead\n"
        "\n"
        "Would ask: lead, ml-team, tech-lead\n"
        "\n"
        "Reviewer   Status         Rules that matched                 Files\n"
        "lead       would request  (default)                          every pull request\n"
        "ml-team    would request  experiments/**                     experiments/adamw.yaml\n"
        "tech-lead  would request  experiments/**, requirements*.txt  "
        "experiments/adamw.yaml, requirements.txt\n"
    )


def test_explain_files_as_json(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo)
    assert main(["reviewers", "--explain", "src/data/new.py", "README.md", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["files"] == {"README.md": [], "src/data/new.py": ["src/data/**"]}
    assert data["users"] == ["lead", "data-team"]
    assert data["reviewers"][1] == {
        "reviewer": "data-team",
        "kind": "user or team",
        "status": "would request",
        "rules": ["src/data/**"],
        "files": ["src/data/new.py"],
    }


def test_explain_takes_files_or_a_base_not_both(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo)
    assert main(["reviewers", "--explain", "a.py", "--base", "main"]) == 2
    assert "give FILE arguments or --base REV, not both" in capsys.readouterr().err


def test_codeowners_is_written_then_up_to_date_then_checked(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo)
    target = repo / ".github" / "CODEOWNERS"
    assert main(["reviewers", "codeowners", "--format", "text"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(".github/CODEOWNERS: written (")
    assert "REV201 [warning] 'data-team' is written @data-team, a user, in CODEOWNERS" in out
    written = target.read_text(encoding="utf-8")
    assert "\n* @lead\nsrc/data/** @lead @data-team\n" in written
    assert main(["reviewers", "codeowners", "--format", "text"]) == 0
    assert capsys.readouterr().out.startswith(".github/CODEOWNERS: up to date")

    config = repo / ".claudio.yaml"
    config.write_text(SEED_CONFIG.replace("[data-team]", "[acme/data]"), encoding="utf-8")
    assert main(["reviewers", "codeowners", "--check", "--format", "text"]) == 1
    out = capsys.readouterr().out
    assert ".github/CODEOWNERS: REV203 .github/CODEOWNERS does not match pr.reviewers" in out
    assert target.read_text(encoding="utf-8") == written

    config.write_text(SEED_CONFIG + '      "!x": [a]\n', encoding="utf-8")
    assert main(["reviewers", "codeowners", "--format", "text"]) == 1
    assert "not written, fix the errors below" in capsys.readouterr().out
    assert target.read_text(encoding="utf-8") == written


def test_validate_finds_rules_that_route_nothing(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo)
    assert main(["reviewers", "validate", "--format", "text"]) == 0
    out = capsys.readouterr().out
    assert ".claudio.yaml:7:7: REV101 [warning] 'notebooks/**' matches no tracked file" in out
    assert ".claudio.yaml:8:7: REV101 [warning] 'experiments/**' matches no tracked file" in out
    assert "Found 2 problems (2 warnings)." in out


@pytest.mark.parametrize("output_format", ["text", "github", "json", "markdown"])
def test_validate_and_codeowners_show_their_status_in_every_format_but_json(
    repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    output_format: str,
) -> None:
    (repo / ".claudio.yaml").write_text('pr: {reviewers: {by_path: {"src/**": ["@a"]}}}\n', "utf-8")
    monkeypatch.chdir(repo)
    assert main(["reviewers", "validate", "--format", output_format]) == 0
    out = capsys.readouterr().out
    assert ("no problem found" in out) is (output_format != "json")
    assert main(["reviewers", "codeowners", "--check", "--format", output_format]) == 1
    out = capsys.readouterr().out
    assert ("out of date" in out) is (output_format != "json")
    assert "REV203" in out
    if output_format == "json":
        assert [f["code"] for f in json.loads(out)] == ["REV203"]  # the findings, as before


def test_validate_with_a_token_asks_github_about_every_name(
    repo: Path,
    github_server: GitHubServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    github_server.repo.collaborators |= {"lead", "tech-lead"}
    github_server.repo.teams |= {"data-team", "ml-team"}
    monkeypatch.chdir(repo)
    monkeypatch.setenv("GITHUB_API_URL", github_server.url)
    monkeypatch.setenv("GITHUB_TOKEN", "t0ken")
    assert main(["reviewers", "validate", "--repo", "acme/ml", "--format", "text"]) == 1
    out = capsys.readouterr().out
    assert (
        ".claudio.yaml:7:7: REV103 data-science-team: GitHub knows no such user or team here"
    ) in out
    assert out.count("REV103") == 1
    assert {r.path for r in github_server.requests} >= {
        f"{REPO}/collaborators/lead",
        f"{REPO}/collaborators/data-team",
        "/orgs/acme/teams/data-team",
        "/orgs/acme/teams/data-science-team",
    }


# --- the action -----------------------------------------------------------------------------------


def test_the_action_installs_this_package_and_never_interpolates_inputs_into_shell() -> None:
    action = yaml.safe_load(
        (REPO_ROOT / "actions" / "assign-reviewers" / "action.yml").read_text(encoding="utf-8")
    )
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    for step in steps:
        assert "${{" not in step["run"], "expressions belong in env:, not in run:"
    assert '"$ACTION_PATH/../..[actions]"' in steps[0]["run"]
    assert steps[0]["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    route_step = steps[1]
    assert route_step["env"]["INPUT_TOKEN"] == "${{ inputs.token }}"
    assert 'reviewers --config "$INPUT_CONFIG" --format github' in route_step["run"]
    assert action["inputs"]["token"]["default"] == "${{ github.token }}"
    assert action["outputs"] == {
        "users": {
            "description": action["outputs"]["users"]["description"],
            "value": "${{ steps.route.outputs.users }}",
        },
        "teams": {
            "description": action["outputs"]["teams"]["description"],
            "value": "${{ steps.route.outputs.teams }}",
        },
    }
    assert route_step["id"] == "route"


def test_options_before_the_action_are_kept(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "alt.yaml").write_text('pr: {reviewers: {by_path: {"nowhere/**": [a]}}}\n', "utf-8")
    monkeypatch.chdir(repo)
    assert main(["reviewers", "--config", "alt.yaml", "--format", "text", "validate"]) == 0
    assert "alt.yaml:1:28: REV101 [warning] 'nowhere/**' matches no tracked file" in (
        capsys.readouterr().out
    )


def test_a_team_of_another_organization_is_a_warning_not_a_request(
    pr: Path, github_server: GitHubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    github_server.put_file(BASE, ".claudio.yaml", 'pr: {reviewers: {default: ["@other/ml"]}}\n')
    assert main(["reviewers"]) == 0
    assert (
        "::warning file=.claudio.yaml,line=1,col=18,title=REV007::other/ml: GitHub only "
        "requests teams of the repository's owner"
    ) in capsys.readouterr().out
    assert github_server.calls("POST") == []


def test_validate_says_when_the_token_cannot_check_names(
    repo: Path,
    github_server: GitHubServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    body = {"message": "Resource not accessible by integration"}
    github_server.fail(403, times=1, path="/collaborators/", body=body)
    monkeypatch.chdir(repo)
    monkeypatch.setenv("GITHUB_API_URL", github_server.url)
    monkeypatch.setenv("GITHUB_TOKEN", "t0ken")
    assert main(["reviewers", "validate", "--repo", "acme/ml", "--format", "text"]) == 0
    out = capsys.readouterr().out
    assert (
        ".claudio.yaml:3:5: REV105 [notice] cannot check users and teams with this token: "
        "GitHub: checking lead failed: 403 Resource not accessible by integration"
    ) in out
    assert len(github_server.requests) == 1


# --- an existing CODEOWNERS file -------------------------------------------------------------

CODEOWNERS = """\
# Hand-written, as teams have them.
*                     @lead
/src/data/            @tech-lead data@acme.example
/src/data/generated/
*.yaml                @acme/ml-team
*.yaml                @acme/data-team
"""


def test_a_pull_request_routes_by_the_codeowners_file_at_its_base(
    pr: Path, github_server: GitHubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    github_server.put_file(BASE, ".claudio.yaml", "pr: {reviewers: {codeowners: true}}\n")
    github_server.put_file(BASE, "CODEOWNERS", "* @mallory\n")  # second in GitHub's order
    github_server.put_file(BASE, ".github/CODEOWNERS", CODEOWNERS)
    github_server.put_file(HEAD, ".github/CODEOWNERS", "* @mallory\n")
    github_server.repo.pulls[7].files = ["src/data/a.py", "src/data/generated/b.py", "x.yaml"]
    assert main(["reviewers", "--dry-run", "--format", "text"]) == 0
    out = capsys.readouterr().out
    contents = github_server.calls("GET", "/contents/")
    assert [(r.path.rsplit("/contents/", 1)[1], r.query["ref"]) for r in contents] == [
        (".claudio.yaml", BASE),
        (".github/CODEOWNERS", BASE),
    ]
    assert "mallory" not in out
    rows = [" ".join(line.split()) for line in out.splitlines()]
    assert "tech-lead would request .github/CODEOWNERS:3 /src/data/ src/data/a.py" in rows
    assert (
        "data@acme.example email owner (GitHub resolves it, not requested) "
        ".github/CODEOWNERS:3 /src/data/ src/data/a.py"
    ) in rows
    assert "acme/data-team would request .github/CODEOWNERS:6 *.yaml x.yaml" in rows
    assert "ml-team" not in out  # line 6 wins over line 5
    assert outputs(pr) == "users=tech-lead\nteams=acme/data-team\n"


@pytest.mark.parametrize("setting", ["true", "docs/CODEOWNERS"])
def test_explain_and_validate_read_the_codeowners_file_with_its_line_numbers(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], setting: str
) -> None:
    (repo / ".claudio.yaml").write_text(
        f"pr:\n  reviewers:\n    codeowners: {setting}\n", encoding="utf-8"
    )
    (repo / "docs").mkdir()
    bad = CODEOWNERS + "/src/models/  @acme/ml-team\n!x @lead\n/nothing/here/ @lead\n"
    (repo / "docs" / "CODEOWNERS").write_text(bad, encoding="utf-8")
    commit_all(repo, "codeowners")
    monkeypatch.chdir(repo)
    assert main(["reviewers", "--explain", "src/data/x.py", "--format", "text"]) == 1
    out = capsys.readouterr().out
    assert "\nsrc/data/x.py  docs/CODEOWNERS:3 /src/data/ -> tech-lead, data@acme.example" in out
    assert "docs/CODEOWNERS:8:1: REV010 '!x': negation (`!`) does not work in CODEOWNERS" in out
    assert main(["reviewers", "validate", "--format", "text"]) == 1
    out = capsys.readouterr().out
    assert (
        "docs/CODEOWNERS:5:1: REV102 [warning] 'docs/CODEOWNERS:5 *.yaml' is shadowed by "
        "docs/CODEOWNERS:6 *.yaml\n"
    ) in out
    assert "docs/CODEOWNERS:9:1: REV101 [warning]" in out
    assert (
        "docs/CODEOWNERS:2:1: REV102 [warning] 'docs/CODEOWNERS:2 *' is shadowed" not in out
    )  # README.md is still the first line's


def test_shadowed_names_only_the_rules_that_overlap(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".claudio.yaml").write_text("pr: {reviewers: {codeowners: true}}\n", encoding="utf-8")
    (repo / "CODEOWNERS").write_text(
        "/src/data/ @a\n/src/models/ @b\n/src/data/*.py @c\n/requirements.txt @d\n/src/ @e\n",
        encoding="utf-8",
    )
    commit_all(repo, "codeowners")
    monkeypatch.chdir(repo)
    assert main(["reviewers", "validate", "--format", "text"]) == 0
    out = capsys.readouterr().out
    assert (
        "CODEOWNERS:1:1: REV102 [warning] 'CODEOWNERS:1 /src/data/' is shadowed by "
        "CODEOWNERS:3 /src/data/*.py, CODEOWNERS:5 /src/\n"
    ) in out


def test_codeowners_never_overwrites_a_hand_written_file(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo)
    target = repo / ".github" / "CODEOWNERS"
    target.parent.mkdir()
    target.write_text(CODEOWNERS, encoding="utf-8")
    assert main(["reviewers", "codeowners", "--format", "text"]) == 1
    out = capsys.readouterr().out
    assert ".github/CODEOWNERS: not written, it was not generated by claudio-ci" in out
    assert "REV204 .github/CODEOWNERS was written by hand" in out and "--force" in out
    assert target.read_text(encoding="utf-8") == CODEOWNERS
    assert main(["reviewers", "codeowners", "--force", "--format", "text"]) == 0
    assert "written (" in capsys.readouterr().out
    assert target.read_text(encoding="utf-8").startswith("# Generated by `claudio-ci")
    assert main(["reviewers", "codeowners", "--format", "text"]) == 0  # its own file: rewritten


def test_codeowners_to_stdout_still_reports_its_findings(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo)
    assert main(["reviewers", "codeowners", "--output", "-", "--format", "text"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("# Generated by `claudio-ci reviewers codeowners`")
    assert "REV201" not in captured.out
    assert "REV201 [warning] 'data-team' is written @data-team" in captured.err


def test_codeowners_is_refused_when_the_rules_are_a_codeowners_file(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".claudio.yaml").write_text("pr: {reviewers: {codeowners: true}}\n", encoding="utf-8")
    monkeypatch.chdir(repo)
    assert main(["reviewers", "codeowners"]) == 2
    assert "the rules already are a CODEOWNERS file" in capsys.readouterr().err


def test_the_generated_file_routes_a_real_shaped_tree_exactly_as_the_rules_do(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Round trip: generate, then route every tracked file by the generated file."""
    names = [
        "apps/web/app/[slug]/page.tsx",
        "apps/web/app/(marketing)/about/page.tsx",
        "docs/index.md",
        "docs/guide/setup.md",
        "docs/#notes.md",
        "docs/a b/c.md",
        "notebooks/eda!.ipynb",
        "notebooks/v1*final?.ipynb",
        "src/data/loaders/csv.py",
        "src/models/heads/linear.py",
        "experiments/adamw.yaml",
        "Makefile",
        "tools/Makefile",
    ]
    for name in names:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("x\n", encoding="utf-8")
    config = SEED_CONFIG + (
        '      "docs/*": [acme/writers]\n'
        '      "/apps/web/app/[slug]/": ["@frontend"]\n'
        '      "Makefile": ["@ops"]\n'
        '      "*.md": ["@editor"]\n'
    )
    (repo / ".claudio.yaml").write_text(config, encoding="utf-8")
    commit_all(repo, "a real-shaped tree")
    monkeypatch.chdir(repo)
    assert main(["reviewers", "--explain", "--format", "json"]) == 0
    by_rules = json.loads(capsys.readouterr().out)
    assert main(["reviewers", "codeowners", "--format", "text"]) == 0
    capsys.readouterr()
    for pattern in ("docs/*", "Makefile", "*.md"):
        assert f"\n{pattern} @lead" in (repo / ".github/CODEOWNERS").read_text(encoding="utf-8")
    (repo / ".claudio.yaml").write_text(
        'pr: {reviewers: {codeowners: ".github/CODEOWNERS"}}\n', encoding="utf-8"
    )
    assert main(["reviewers", "--explain", "--format", "json"]) == 0
    by_file = json.loads(capsys.readouterr().out)

    def owners(data: dict[str, object]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for row in data["reviewers"]:  # type: ignore[attr-defined]
            for path in row["files"]:
                found.setdefault(path, set()).add(row["reviewer"])
        return found

    rules_owners = owners(by_rules)
    lead = {"lead"}
    assert len(by_file["files"]) == len(by_rules["files"]) >= len(names)
    for path in by_rules["files"]:
        assert owners(by_file).get(path, set()) - lead == rules_owners.get(path, set()), path


# --- hostile file names -------------------------------------------------------------------------

HOSTILE = [
    "src/a ##[stop-commands]tok",
    "a\n::warning::x",
    "##[add-mask]secret",
    "::error::forged",
    "   ::set-output name=x::y",
    "b\r::notice::carriage",
]


def commands(output: str) -> list[str]:
    """What the Actions runner would run: a line starting with `::` after spaces, or holding
    the legacy `##[`."""
    found = []
    for line in output.splitlines():
        if line.lstrip().startswith("::") or "##[" in line:
            found.append(line)
    return found


@pytest.mark.parametrize("output_format", ["text", "github", "json", "markdown"])
def test_hostile_file_names_start_no_workflow_command(
    pr: Path,
    github_server: GitHubServer,
    capsys: pytest.CaptureFixture[str],
    output_format: str,
) -> None:
    github_server.put_file(
        BASE, ".claudio.yaml", SEED_CONFIG + '      "*": ["@lead"]\n      "**/x": ["@nobody"]\n'
    )
    github_server.repo.pulls[7].files = [*HOSTILE, "src/data/x"]
    assert main(["reviewers", "--format", output_format]) == 0
    out = capsys.readouterr().out
    own = [line for line in commands(out) if line.startswith("::") and "title=REV" in line]
    assert commands(out) == own
    assert bool(own) is (output_format == "github")
    if output_format == "json":
        assert set(HOSTILE) <= set(json.loads(out)["reviewers"][0]["files"])


def test_backticks_html_and_mentions_in_names_stay_literal_in_the_markdown_summary(
    pr: Path, github_server: GitHubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A branch, file names and a pattern holding backticks cannot close their code span to
    inject HTML, a link or an @mention; judged by markdown-it (CommonMark, GFM tables)."""
    import markdown_it  # a test dependency: a missing judge fails, never skips

    branch = "x`<img src=x onerror=alert(1)>` @octocat"
    files = ["src/a`<img src=x onerror=alert(1)>`.py", "src/``b`` @octocat|c.py", "src/[`](h).py"]
    pattern = "src/*`*"
    github_server.repo.pulls[7].head_ref = branch
    github_server.repo.pulls[7].files = files
    github_server.put_file(
        BASE, ".claudio.yaml", f'pr: {{reviewers: {{by_path: {{"{pattern}": ["@lead"]}}}}}}\n'
    )
    assert main(["reviewers", "--dry-run", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out == summary(pr)
    tokens = markdown_it.MarkdownIt("commonmark").enable("table").parse(out)
    inline = [child for token in tokens for child in token.children or []]
    assert not [t.type for t in inline if t.type.startswith(("html", "link", "image"))]
    assert not [t.type for t in tokens if t.type.startswith("html")]
    assert [t.content for t in inline if t.type == "code_inline"] == [
        "lead",
        pattern,
        *sorted(files),
    ]
    heading = next(t for t in tokens if t.type == "inline" and "Pull request" in t.content)
    shown = "".join(t.content for t in heading.children or [] if t.type.startswith("text"))
    assert shown.replace("@\u200b", "@").startswith(f"Pull request #7 ({branch}): ")
    assert "@octocat" not in shown  # no mention: a zero-width space after the `@`


@pytest.mark.parametrize("output_format", ["text", "github", "json", "markdown"])
def test_hostile_file_names_in_explain_start_no_workflow_command(
    repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    output_format: str,
) -> None:
    monkeypatch.chdir(repo)
    assert main(["reviewers", "--explain", *HOSTILE, "--format", output_format]) == 0
    out = capsys.readouterr().out
    assert commands(out) == []
    assert "stop-commands" in out and "add-mask" in out  # each file in --explain's table


# --- tokens -------------------------------------------------------------------------------------


def test_teams_refused_to_the_actions_token_are_one_warning_and_users_are_still_asked(
    pr: Path, github_server: GitHubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    github_server.org_access = False  # the Actions GITHUB_TOKEN
    config = SEED_CONFIG.replace("[data-team]", "[acme/data-team]").replace(
        "[ml-team, tech-lead]", "[acme/ml-team, tech-lead]"
    )
    github_server.put_file(BASE, ".claudio.yaml", config)
    assert main(["reviewers", "--format", "text"]) == 0
    out = capsys.readouterr().out
    assert github_server.repo.pulls[7].requested_users == ["lead", "tech-lead"]
    assert github_server.repo.pulls[7].requested_teams == []
    assert out.count("REV011") == 3  # one warning, and the two rows that point to it
    assert (
        "REV011 [warning] GitHub could not resolve the teams acme/data-team, acme/ml-team with "
        'this token (422 "Could not resolve to a node")'
    ) in out
    assert "read:org" in out and "token: ${{ steps.app-token.outputs.token }}" in out
    assert "REV004" not in out
    assert outputs(pr) == "users=lead,tech-lead\nteams=\n"


def test_the_action_token_input_says_teams_need_read_org_as_the_readme_does() -> None:
    action = yaml.safe_load(
        (REPO_ROOT / "actions/assign-reviewers/action.yml").read_text(encoding="utf-8")
    )
    described = " ".join(action["inputs"]["token"]["description"].split())
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    tokens = readme.split("#### Tokens", 1)[1].split("\n#### ", 1)[0]
    for needed in ("`read:org`", "GitHub App token", "PAT", "`pull-requests: write`"):
        assert needed in described, needed
    assert "`read:org`" in tokens and "GitHub App token" in tokens and "PAT" in tokens


def test_the_init_workflow_runs_the_reviewers_job_on_every_pull_request() -> None:
    workflow = yaml.safe_load(
        (REPO_ROOT / "templates/repo/.github/workflows/ml-ci.yml").read_text(encoding="utf-8")
    )
    trigger = workflow[True]["pull_request"]  # YAML 1.1 reads the key `on` as True
    assert "paths" not in trigger and "paths-ignore" not in trigger
    assert "ready_for_review" in trigger["types"] and "opened" in trigger["types"]
    job = workflow["jobs"]["reviewers"]
    assert "if" not in job
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}


@pytest.mark.parametrize("output_format", ["text", "github", "json", "markdown"])
def test_hostile_codeowners_patterns_in_validate_start_no_workflow_command(
    repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    output_format: str,
) -> None:
    (repo / ".claudio.yaml").write_text("pr: {reviewers: {codeowners: true}}\n", encoding="utf-8")
    # no `#`: GitHub reads any `#` in a CODEOWNERS line as the start of a comment
    (repo / "CODEOWNERS").write_text(
        "/a::stop-commands::[tok] @lead\n::add-mask::\\[x\\][ @lead\n", encoding="utf-8"
    )
    commit_all(repo, "hostile codeowners")
    monkeypatch.chdir(repo)
    assert main(["reviewers", "validate", "--format", output_format]) == 1  # `[` unescaped
    out = capsys.readouterr().out
    own = [line for line in commands(out) if line.startswith("::") and "title=REV" in line]
    assert commands(out) == own and "stop-commands" in out and "add-mask" in out
    if output_format == "json":
        assert "/a::stop-commands::[tok]" in json.dumps(json.loads(out))


@pytest.mark.parametrize("output_format", ["text", "github", "json", "markdown"])
def test_random_hostile_names_start_no_workflow_command(
    repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    output_format: str,
) -> None:
    """A seeded fuzz: 400 names built from the characters that make workflow commands."""
    rng = random.Random(17)
    pieces = ["::", "##[", "]", ":", "#", "[", "\n", "\r", " ", "a", "warning", "stop-commands"]
    names = {"".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))) for _ in range(400)}
    names = {name for name in names if name.strip() and "\0" not in name}
    (repo / ".claudio.yaml").write_text('pr: {reviewers: {by_path: {"*": ["@lead"]}}}\n', "utf-8")
    monkeypatch.chdir(repo)
    assert main(["reviewers", "--explain", *sorted(names), "--format", output_format]) == 0
    assert commands(capsys.readouterr().out) == []
