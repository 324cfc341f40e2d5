"""The GitHub adapter against a local server that answers like GitHub: exact requests, retries."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from claudio_ci.adapters.github import (
    Environment,
    GitHub,
    GitHubError,
    PullFile,
    ReadOnlyTokenError,
    RetryPolicy,
)
from claudio_ci.core.errors import UsageError
from tests.github_server import GitHubServer

NOW = 1_700_000_000.0
BASE = "b" * 40
REPO = "/repos/acme/ml"
PULL = f"{REPO}/pulls/7"
REVIEWERS = f"{PULL}/requested_reviewers"


class FakeClock:
    """Time that passes only when the client sleeps."""

    def __init__(self) -> None:
        self.now = NOW
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(github_server: GitHubServer) -> GitHubServer:
    github_server.add_pull(7, author="alice", files=["src/a.py"], base_sha=BASE)
    github_server.repo.collaborators |= {"alice", "bob", "carol"}
    github_server.repo.teams |= {"data-team"}
    return github_server


def client(server: GitHubServer, clock: FakeClock, **retry: float) -> GitHub:
    policy = RetryPolicy(sleep=clock.sleep, clock=clock.time, **retry)  # type: ignore[arg-type]
    return GitHub("acme/ml", token="t0ken", api_url=server.url, retry=policy)


def requests_made(server: GitHubServer) -> list[tuple[str, str, dict[str, str], object]]:
    return [(r.method, r.path, r.query, r.body) for r in server.requests]


# --- reading ------------------------------------------------------------------------------------


def test_the_pull_request_is_one_authenticated_request(
    server: GitHubServer, clock: FakeClock
) -> None:
    server.repo.pulls[7].requested_users = ["bob"]
    server.repo.pulls[7].requested_teams = ["data-team"]
    server.repo.pulls[7].draft = True
    gh = client(server, clock)
    pull = gh.pull_request(7)
    assert (pull.number, pull.author, pull.draft, pull.base_sha) == (7, "alice", True, BASE)
    assert (pull.head_ref, pull.changed_files) == ("feature", 1)
    assert pull.requested == ("bob", "acme/data-team")
    assert requests_made(server) == [("GET", REPO, {}, None), ("GET", PULL, {}, None)]
    assert {r.headers["authorization"] for r in server.requests} == {"token t0ken"}
    assert server.requests[0].headers["user-agent"].startswith("claudio-ci/")
    assert gh.requests == 2


def test_files_are_listed_100_a_page_following_the_link_header(
    server: GitHubServer, clock: FakeClock
) -> None:
    files = [f"src/f{i:03}.py" for i in range(250)]
    server.repo.pulls[7].files = files
    server.repo.pulls[7].renamed = {"src/f001.py": "old/f001.py"}
    gh = client(server, clock)
    listed = gh.changed_files(7)
    assert [f.path for f in listed] == files
    assert listed[1] == PullFile("src/f001.py", "old/f001.py")
    assert listed[1].paths == ("src/f001.py", "old/f001.py")
    assert requests_made(server) == [
        ("GET", REPO, {}, None),
        ("GET", PULL, {}, None),
        ("GET", f"{PULL}/files", {"per_page": "100"}, None),
        ("GET", f"{PULL}/files", {"per_page": "100", "page": "2"}, None),
        ("GET", f"{PULL}/files", {"per_page": "100", "page": "3"}, None),
    ]
    assert gh.requests == 5


def test_github_lists_at_most_3000_files(server: GitHubServer, clock: FakeClock) -> None:
    server.repo.pulls[7].files = [f"f{i}" for i in range(3005)]
    gh = client(server, clock)
    assert gh.pull_request(7).changed_files == 3005
    assert len(gh.changed_files(7)) == 3000
    assert len(server.calls("GET", "/files$")) == 30


def test_a_file_is_read_at_a_ref_and_a_missing_one_is_none(
    server: GitHubServer, clock: FakeClock
) -> None:
    server.put_file(BASE, ".github/claudio config.yaml", "pr: {}\n")
    server.put_file("head", ".claudio.yaml", "pr: {reviewers: {default: [mallory]}}\n")
    gh = client(server, clock)
    assert gh.read_file(".github/claudio config.yaml", BASE) == b"pr: {}\n"
    assert gh.read_file(".claudio.yaml", BASE) is None
    assert requests_made(server) == [
        ("GET", REPO, {}, None),
        ("GET", f"{REPO}/contents/.github/claudio config.yaml", {"ref": BASE}, None),
        ("GET", f"{REPO}/contents/.claudio.yaml", {"ref": BASE}, None),
    ]


def test_reviews_give_who_already_reviewed(server: GitHubServer, clock: FakeClock) -> None:
    server.repo.pulls[7].reviews = [("bob", "APPROVED"), ("carol", "COMMENTED"), ("dan", "PENDING")]
    assert client(server, clock).reviewers(7) == {"bob", "carol"}
    assert server.calls("GET", "/reviews$")[0].query == {"per_page": "100"}


def test_collaborators_and_teams_are_checked_one_request_each(
    server: GitHubServer, clock: FakeClock
) -> None:
    gh = client(server, clock)
    assert gh.is_collaborator("bob") is True
    assert gh.is_collaborator("mallory") is False
    assert gh.team_exists("acme", "data-team") is True
    assert gh.team_exists("acme", "ghosts") is False
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/repos/acme/ml/collaborators/bob"),
        ("GET", "/repos/acme/ml/collaborators/mallory"),
        ("GET", "/orgs/acme/teams/data-team"),
        ("GET", "/orgs/acme/teams/ghosts"),
    ]


def test_github_enterprise_urls_keep_their_api_prefix(clock: FakeClock) -> None:
    with GitHubServer(prefix="/api/v3") as ghes:
        ghes.add_pull(7, files=[f"f{i}" for i in range(150)])
        gh = client(ghes, clock)
        assert len(gh.changed_files(7)) == 150
        assert [r.path for r in ghes.requests] == [REPO, PULL, f"{PULL}/files", f"{PULL}/files"]
        assert ghes.url.endswith("/api/v3")


# --- retries --------------------------------------------------------------------------------


def test_5xx_is_retried_with_exponential_backoff(server: GitHubServer, clock: FakeClock) -> None:
    server.fail(502, times=2, path=f"{PULL}$")
    gh = client(server, clock)
    assert gh.pull_request(7).author == "alice"
    assert clock.sleeps == [1.0, 2.0]
    assert len(server.calls("GET", f"{PULL}$")) == 3
    assert gh.requests == 4  # the repository, then the pull request three times


def test_a_failing_page_is_retried_alone(server: GitHubServer, clock: FakeClock) -> None:
    server.repo.pulls[7].files = [f"f{i:03}" for i in range(250)]
    server.fail(500, times=1, path="/files")
    gh = client(server, clock)
    gh.pull_request(7)
    server.requests.clear()
    assert len(gh.changed_files(7)) == 250
    pages = [r.query.get("page", "1") for r in server.requests]
    assert pages == ["1", "1", "2", "3"]


def test_5xx_beyond_the_attempts_is_one_readable_line(
    server: GitHubServer, clock: FakeClock
) -> None:
    server.fail(503, times=10, path=f"{PULL}$")
    with pytest.raises(GitHubError) as caught:
        client(server, clock, attempts=3).pull_request(7)
    assert str(caught.value) == (
        "GitHub: reading pull request #7 failed: 503 Server Error; "
        "still failing after 3 s of retries"
    )
    assert caught.value.status == 503
    assert clock.sleeps == [1.0, 2.0]
    assert len(server.calls("GET", f"{PULL}$")) == 3


def test_the_primary_rate_limit_waits_until_its_reset(
    server: GitHubServer, clock: FakeClock
) -> None:
    server.rate_limit_primary(reset_at=int(NOW) + 30)
    assert client(server, clock).pull_request(7).number == 7
    assert clock.sleeps == [31.0]
    assert [r.path for r in server.requests] == [REPO, REPO, PULL]


def test_a_primary_rate_limit_that_resets_too_late_fails_at_once(
    server: GitHubServer, clock: FakeClock
) -> None:
    server.rate_limit_primary(reset_at=int(NOW) + 3600)
    with pytest.raises(GitHubError) as caught:
        client(server, clock).pull_request(7)
    assert "403 API rate limit exceeded for installation ID 4242." in str(caught.value)
    assert "GitHub asks to wait 3601 s more" in str(caught.value)
    assert clock.sleeps == []
    assert [r.path for r in server.requests] == [REPO]


@pytest.mark.parametrize("status", [403, 429])
def test_the_secondary_rate_limit_waits_retry_after(
    server: GitHubServer, clock: FakeClock, status: int
) -> None:
    server.rate_limit_secondary(retry_after=3, status=status, times=2, path="/pulls/")
    assert client(server, clock).pull_request(7).number == 7
    assert clock.sleeps == [3.0, 3.0]
    assert [r.path for r in server.requests] == [REPO, PULL, PULL, PULL]


def test_the_total_wait_is_bounded(server: GitHubServer, clock: FakeClock) -> None:
    server.rate_limit_secondary(retry_after=50, times=5)
    with pytest.raises(GitHubError, match="You have exceeded a secondary rate limit"):
        client(server, clock, total_wait=120).pull_request(7)
    assert clock.sleeps == [50.0, 50.0]


def test_an_unreachable_github_is_one_line_after_the_retries(clock: FakeClock) -> None:
    with GitHubServer() as gone:
        url = gone.url
    gh = GitHub("acme/ml", api_url=url, retry=RetryPolicy(sleep=clock.sleep, clock=clock.time))
    with pytest.raises(GitHubError) as caught:
        gh.pull_request(7)
    assert str(caught.value) == (
        f"GitHub: reading acme/ml failed: cannot reach {url} (ConnectionError)"
    )
    assert clock.sleeps == [1.0, 2.0, 4.0]


def test_a_bad_token_is_named_and_not_retried(server: GitHubServer, clock: FakeClock) -> None:
    server.token = "the-right-one"
    with pytest.raises(GitHubError) as caught:
        client(server, clock).pull_request(7)
    assert str(caught.value) == (
        "GitHub: reading acme/ml failed: 401 Bad credentials; check the token input or GITHUB_TOKEN"
    )
    assert len(server.requests) == 1


def test_a_read_only_token_is_told_apart(server: GitHubServer, clock: FakeClock) -> None:
    server.read_only = True
    gh = client(server, clock)
    gh.pull_request(7)
    with pytest.raises(ReadOnlyTokenError) as caught:
        gh.request_reviews(7, users=["bob"])
    assert caught.value.reason == "Resource not accessible by integration"
    assert clock.sleeps == []
    assert server.repo.pulls[7].requested_users == []


# --- requesting reviews ---------------------------------------------------------------------------


def test_reviews_are_requested_in_batches_of_15(server: GitHubServer, clock: FakeClock) -> None:
    users = [f"user{i:02}" for i in range(18)]
    server.repo.collaborators |= set(users)
    gh = client(server, clock)
    outcome = gh.request_reviews(7, users=users, teams=["data-team"])
    assert (outcome.users, outcome.teams, outcome.refused) == (users, ["data-team"], {})
    assert [(r.method, r.path, r.body) for r in server.requests[2:]] == [
        ("POST", REVIEWERS, {"reviewers": users[:15]}),
        ("POST", REVIEWERS, {"reviewers": users[15:], "team_reviewers": ["data-team"]}),
    ]
    assert gh.requests == 4


def test_one_refused_name_does_not_stop_the_others(server: GitHubServer, clock: FakeClock) -> None:
    gh = client(server, clock)
    outcome = gh.request_reviews(7, users=["bob", "alice", "mallory", "carol"])
    assert outcome.users == ["bob", "carol"]
    assert outcome.refused == {
        "alice": "Review cannot be requested from pull request author.",
        "mallory": "Reviews may only be requested from collaborators. One or more of the users "
        "or teams you specified is not a collaborator of the acme/ml repository.",
    }
    assert [r.body for r in server.calls("POST")] == [
        {"reviewers": ["bob", "alice", "mallory", "carol"]},
        {"reviewers": ["bob"]},
        {"reviewers": ["alice"]},
        {"reviewers": ["mallory"]},
        {"reviewers": ["carol"]},
    ]
    assert server.repo.pulls[7].requested_users == ["bob", "carol"]


def test_a_bare_name_refused_as_a_user_is_asked_as_a_team_of_the_owner(
    server: GitHubServer, clock: FakeClock
) -> None:
    gh = client(server, clock)
    outcome = gh.request_reviews(7, users_or_teams=["data-team", "ghosts"])
    assert (outcome.users, outcome.teams) == ([], ["data-team"])
    assert outcome.refused == {
        "ghosts": "as a user: Reviews may only be requested from collaborators. One or more of "
        "the users or teams you specified is not a collaborator of the acme/ml repository. "
        "As a team of acme: Reviews may only be requested from collaborators. One or more of "
        "the teams you specified is not a collaborator of the acme/ml repository."
    }
    assert [r.body for r in server.calls("POST")] == [
        {"reviewers": ["data-team", "ghosts"]},
        {"reviewers": ["data-team"]},
        {"reviewers": ["ghosts"]},
        {"team_reviewers": ["data-team"]},
        {"team_reviewers": ["ghosts"]},
    ]
    assert server.repo.pulls[7].requested_teams == ["data-team"]


def test_teams_the_token_cannot_resolve_are_told_apart_and_users_still_asked(
    server: GitHubServer, clock: FakeClock
) -> None:
    server.org_access = False  # the Actions GITHUB_TOKEN
    gh = client(server, clock)
    outcome = gh.request_reviews(7, users=["bob"], teams=["data-team"], users_or_teams=["ml"])
    assert (outcome.users, outcome.teams) == (["bob"], [])
    assert sorted(outcome.unresolved) == ["data-team", "ml"]
    assert outcome.refused["data-team"].startswith(
        "Validation Failed: Could not resolve to a node with the global id of '"
    )
    assert server.repo.pulls[7].requested_users == ["bob"]


# --- the Actions environment ----------------------------------------------------------------------


def _event(tmp_path: Path, payload: object) -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    return str(path)


def test_the_environment_comes_from_github_actions_variables(tmp_path: Path) -> None:
    event = _event(tmp_path, {"pull_request": {"number": 12}, "repository": {"full_name": "o/r"}})
    env = Environment.from_environ(
        {
            "GITHUB_EVENT_PATH": event,
            "GITHUB_API_URL": "https://ghe.example.com/api/v3",
            "GITHUB_TOKEN": "from-env",
            "INPUT_TOKEN": "from-input",
        }
    )
    assert (env.api_url, env.repository, env.token, env.pull_number) == (
        "https://ghe.example.com/api/v3",
        "o/r",
        "from-input",
        12,
    )
    plain = Environment.from_environ({"GITHUB_REPOSITORY": "a/b"}, event_path=event)
    assert (plain.api_url, plain.repository, plain.token) == ("https://api.github.com", "a/b", None)


def test_an_event_given_by_path_names_the_repository_over_the_steps_own(tmp_path: Path) -> None:
    """`--event PATH` replays another event: its repository, not GITHUB_EVENT_PATH's."""
    own = tmp_path / "own"
    own.mkdir()
    step_event = _event(own, {"number": 1, "repository": {"full_name": "step/repo"}})
    replayed = _event(tmp_path, {"number": 5, "repository": {"full_name": "replayed/repo"}})
    env = Environment.from_environ({"GITHUB_EVENT_PATH": step_event}, event_path=replayed)
    assert (env.repository, env.pull_number) == ("replayed/repo", 5)


@pytest.mark.parametrize(
    ("environ", "payload", "message"),
    [
        ({}, None, "no pull request event: pass --event PATH"),
        ({"GITHUB_REPOSITORY": "a/b"}, {"push": {}}, "the event has no pull request"),
        ({"GITHUB_REPOSITORY": "nope"}, {"number": 1}, "GITHUB_REPOSITORY must be OWNER/NAME"),
        ({"GITHUB_REPOSITORY": "a/b"}, [1], "not a GitHub event payload"),
        ({"GITHUB_REPOSITORY": "a/b"}, {"pull_request": "x"}, "the event has no pull request"),
        ({"GITHUB_REPOSITORY": "a/b"}, {"number": True}, "the event has no pull request"),
        ({"GITHUB_REPOSITORY": "a/b"}, {"number": 0}, "the event has no pull request"),
        ({}, {"repository": "o/r", "number": 1}, "GITHUB_REPOSITORY must be OWNER/NAME"),
    ],
)
def test_a_missing_or_wrong_event_is_a_usage_error(
    tmp_path: Path, environ: dict[str, str], payload: object, message: str
) -> None:
    if payload is not None:
        environ = {**environ, "GITHUB_EVENT_PATH": _event(tmp_path, payload)}
    with pytest.raises(UsageError, match=message):
        Environment.from_environ(environ).pull_number  # noqa: B018


def test_an_event_path_that_is_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "event.json"
    os.mkfifo(fifo)  # nobody writes to it: reading it would wait forever
    with pytest.raises(UsageError, match=r"not a GitHub event payload.*not a regular file"):
        Environment.from_environ({"GITHUB_REPOSITORY": "a/b", "GITHUB_EVENT_PATH": str(fifo)})


# --- the local server answers what other commands reuse (sticky comments, open PRs) --------


def pygithub(server: GitHubServer, per_page: int = 2) -> object:
    import github

    return github.Github(
        base_url=server.url,
        auth=github.Auth.Token("t"),
        per_page=per_page,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    ).get_repo("acme/ml")


def test_the_server_lists_open_pull_requests_page_by_page(server: GitHubServer) -> None:
    for number in (8, 9, 10):
        server.add_pull(number, head_ref=f"claudio/{number}")
    server.add_pull(11, state="closed")
    pulls = list(pygithub(server).get_pulls(state="open"))
    assert [p.number for p in pulls] == [10, 9, 8, 7]
    assert [(r.path, r.query) for r in server.calls("GET", "/pulls$")] == [
        (f"{REPO}/pulls", {"state": "open", "per_page": "2"}),
        (f"{REPO}/pulls", {"state": "open", "per_page": "2", "page": "2"}),
    ]


def test_the_server_keeps_issue_comments_for_sticky_comments(server: GitHubServer) -> None:
    for i in range(3):
        server.add_comment(7, f"older {i}", author="bob")
    pull = pygithub(server).get_pull(7)
    created = pull.create_issue_comment("<!-- marker -->\ncost: $1")
    assert [c.body for c in pull.get_issue_comments()][-1] == "<!-- marker -->\ncost: $1"
    created.edit("<!-- marker -->\ncost: $2")
    assert server.repo.comments[-1].body == "<!-- marker -->\ncost: $2"
    assert [(r.method, r.path, r.body) for r in server.requests if r.method != "GET"] == [
        ("POST", "/repos/acme/ml/issues/7/comments", {"body": "<!-- marker -->\ncost: $1"}),
        (
            "PATCH",
            f"/repos/acme/ml/issues/comments/{created.id}",
            {"body": "<!-- marker -->\ncost: $2"},
        ),
    ]
    assert len(server.calls("GET", "/issues/7/comments$")) == 2  # 4 comments, 2 a page


def test_the_server_lists_and_removes_requested_reviewers(server: GitHubServer) -> None:
    server.repo.pulls[7].requested_users = ["bob", "carol"]
    server.repo.pulls[7].requested_teams = ["data-team"]
    pull = pygithub(server).get_pull(7)
    users, teams = pull.get_review_requests()
    assert ([u.login for u in users], [t.slug for t in teams]) == (["bob", "carol"], ["data-team"])
    pull.delete_review_request(reviewers=["bob"], team_reviewers=["data-team"])
    assert server.repo.pulls[7].requested_users == ["carol"]
    assert server.repo.pulls[7].requested_teams == []
    assert server.calls("DELETE")[0].body == {"reviewers": ["bob"], "team_reviewers": ["data-team"]}
