"""The only module that calls GitHub (PyGithub, imported on first use).

It reads what GitHub Actions gives a step (`GITHUB_EVENT_PATH`, `GITHUB_REPOSITORY`,
`GITHUB_API_URL` for GitHub Enterprise and the tests, a token from the action's input or
`GITHUB_TOKEN`) through `actions_env.ActionsEnv`, and retries what is worth retrying with
a bounded budget: 5xx answers and dropped connections with exponential backoff, the primary
rate limit until its `x-ratelimit-reset`, the secondary one after its `retry-after`. Every
other failure ends as one readable `GitHubError` line (exit 2); a token that may not write
is a `ReadOnlyTokenError`, which callers turn into a notice.

PyGithub's own `GithubRetry` is not used: it sleeps inside urllib3, where tests cannot
inject the clock, it has no budget across the requests of one run, and its retries are
not counted in the API calls we report. `requests` (PyGithub's transport, declared in the
`actions` extra) is imported only for its exception types.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from claudio_ci import __version__
from claudio_ci.adapters.actions_env import API_URL, ActionsEnv
from claudio_ci.core.errors import ClaudioError, UsageError
from claudio_ci.core.fileio import read_regular

if TYPE_CHECKING:
    from github.GithubException import GithubException
    from github.PullRequest import PullRequest as PyGithubPull
    from github.Repository import Repository as PyGithubRepository

PER_PAGE = 100  # GitHub's largest page
FILES_CAP = 3000  # GitHub lists at most this many files of a pull request
# GitHub takes at most 15 users and teams in one review request (docs.mergify.com, request_reviews).
REVIEW_REQUEST_LIMIT = 15
# Who comments with the GITHUB_TOKEN of a workflow: GET /user refuses that token.
ACTIONS_BOT = "github-actions[bot]"

T = TypeVar("T")


class GitHubError(ClaudioError):
    """GitHub answered with an error we cannot get past; `status` 0 when it never answered.

    `reason` is GitHub's own message, e.g. "Review cannot be requested from pull request author."
    """

    def __init__(self, message: str, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class ReadOnlyTokenError(GitHubError):
    """The token may read but not write (a fork's pull request under `pull_request`)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying; `sleep` and `clock` are injected by tests."""

    attempts: int = 4  # tries of one request
    longest_wait: float = 120.0  # a rate limit that resets later than this fails at once
    total_wait: float = 300.0  # every wait of one client together
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time


# --- what GitHub Actions gives a step ----------------------------------------------------------


@dataclass(frozen=True)
class Environment:
    api_url: str
    repository: str  # OWNER/NAME
    token: str | None
    event: Mapping[str, Any]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], event_path: str | None = None) -> Environment:
        env = ActionsEnv(environ)
        path = Path(event_path) if event_path else env.event_path
        if path is None:
            raise UsageError(
                "no pull request event: pass --event PATH (GitHub Actions sets "
                "GITHUB_EVENT_PATH); locally, use --explain [FILE ...] or --explain --base REV"
            )
        event = _read_event(path)
        repository = env.repository_in(event)
        if repository is None:
            raise UsageError("GITHUB_REPOSITORY must be OWNER/NAME, got ''")
        return cls(env.api_url, repository, env.token, event)

    @property
    def pull_number(self) -> int:
        pull = self.event.get("pull_request")
        number = self.event.get("number")
        if isinstance(pull, dict):
            number = pull.get("number", number)
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise UsageError(
                "the event has no pull request: run on pull_request or pull_request_target"
            )
        return number


def _read_event(path: Path) -> dict[str, Any]:
    try:
        event = json.loads(read_regular(path).decode("utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such event file") from None
    except OSError as exc:  # a directory, or a FIFO (refused: reading it could wait forever)
        raise UsageError(f"{path}: not a GitHub event payload ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a GitHub event payload ({exc})") from None
    if not isinstance(event, dict):
        raise UsageError(f"{path}: not a GitHub event payload (not a JSON object)")
    return event


# --- what we read and write ------------------------------------------------------------------


@dataclass(frozen=True)
class PullRequest:
    number: int
    title: str
    state: str  # open or closed
    draft: bool
    author: str
    head_ref: str
    base_sha: str
    changed_files: int
    requested: tuple[str, ...]  # logins and `owner/slug` of teams already asked


@dataclass(frozen=True)
class OpenPull:
    number: int
    head_ref: str
    head_sha: str


@dataclass(frozen=True)
class PullFile:
    path: str
    previous: str | None = None  # a renamed file's old path

    @property
    def paths(self) -> tuple[str, ...]:
        """A rename touches both paths: moving a file out of src/data/ concerns its owners."""
        return (self.path,) if self.previous is None else (self.path, self.previous)


# GitHub's 422 for a team the token cannot see: the Actions GITHUB_TOKEN has no
# organization permission, so every team review request is refused with it.
UNRESOLVED_TEAM = "could not resolve to a node"


@dataclass
class ReviewOutcome:
    users: list[str] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)  # slugs of the repository owner's teams
    refused: dict[str, str] = field(default_factory=dict)  # name -> GitHub's reason
    unresolved: list[str] = field(default_factory=list)  # refused as teams the token cannot see


@dataclass(frozen=True)
class IssueComment:
    id: int
    body: str
    author: str


def _counting_auth(token: str | None) -> Any:
    """PyGithub authentication that also counts requests: the API calls we report."""
    from github import Auth

    class CountingAuth(Auth.Auth):
        requests = 0

        @property
        def token_type(self) -> str:
            return "token"

        @property
        def token(self) -> str:
            return token or ""

        def authentication(self, headers: dict[str, str]) -> None:
            self.requests += 1
            if token:
                super().authentication(headers)

    return CountingAuth()


class GitHub:
    """One repository on one GitHub (github.com or Enterprise), through PyGithub."""

    def __init__(
        self,
        repository: str,
        *,
        token: str | None = None,
        api_url: str = API_URL,
        retry: RetryPolicy | None = None,
    ) -> None:
        import github as pygithub  # ~150 ms: only paid by commands that talk to GitHub

        self.repository = repository
        self.owner = repository.split("/", 1)[0]
        self.api_url = api_url.rstrip("/")
        self._retry = retry or RetryPolicy()
        self._waited = 0.0
        self._auth = _counting_auth(token)
        self._client = pygithub.Github(
            base_url=self.api_url,
            auth=self._auth,
            per_page=PER_PAGE,
            user_agent=f"claudio-ci/{__version__}",
            retry=None,  # retried below, with a budget and an injectable sleep
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
        self._repository: PyGithubRepository | None = None
        self._pulls: dict[int, PyGithubPull] = {}

    @classmethod
    def from_environment(cls, env: Environment, retry: RetryPolicy | None = None) -> GitHub:
        return cls(env.repository, token=env.token, api_url=env.api_url, retry=retry)

    @property
    def requests(self) -> int:
        """How many API requests this client made, retries included."""
        return int(self._auth.requests)

    # --- reading ----------------------------------------------------------------------------

    def pull_request(self, number: int) -> PullRequest:
        repo = self._repo()
        pull = self._call(f"reading pull request #{number}", lambda: repo.get_pull(number))
        self._pulls[number] = pull
        return PullRequest(
            number=number,
            title=pull.title or "",
            state=pull.state,
            draft=bool(pull.draft),
            author=pull.user.login if pull.user else "",
            head_ref=pull.head.ref,
            base_sha=pull.base.sha,
            changed_files=pull.changed_files,
            requested=(
                *(user.login for user in pull.requested_reviewers),
                *(f"{self.owner}/{team.slug}" for team in pull.requested_teams),
            ),
        )

    def changed_files(self, number: int) -> list[PullFile]:
        """The files of a pull request, as GitHub lists them: at most FILES_CAP."""
        pages = self._pull(number).get_files()
        files = self._call(f"listing the files of pull request #{number}", lambda: list(pages))
        return [PullFile(f.filename, f.previous_filename or None) for f in files]

    def open_pull_requests(self) -> list[OpenPull]:
        """Every open pull request (drafts too), newest first, 100 a request.

        The list's own fields only: reading `changed_files` would cost a request per pull.
        """
        repo = self._repo()
        pages = repo.get_pulls(state="open")
        pulls = self._call("listing the open pull requests", lambda: list(pages))
        self._pulls.update((pull.number, pull) for pull in pulls)  # changed_files() reuses them
        return [OpenPull(pull.number, pull.head.ref, pull.head.sha) for pull in pulls]

    def reviewers(self, number: int) -> set[str]:
        """Logins of everyone who already reviewed the pull request."""
        pages = self._pull(number).get_reviews()
        reviews = self._call(f"listing the reviews of pull request #{number}", lambda: list(pages))
        return {r.user.login for r in reviews if r.user is not None and r.state != "PENDING"}

    def read_file(self, path: str, ref: str) -> bytes | None:
        """A file's bytes at a commit, through the contents API; None when it does not exist."""
        what = f"reading {path} at {ref[:12]}"
        repo = self._repo()
        try:
            content = self._call(what, lambda: repo.get_contents(path, ref=ref))
        except GitHubError as exc:
            if exc.status == 404:
                return None
            raise
        if isinstance(content, list):
            raise GitHubError(f"GitHub: {what}: a directory, expected a file")
        if content.encoding != "base64":
            raise GitHubError(f"GitHub: {what}: too large for the contents API (over 1 MB)")
        return content.decoded_content

    def is_collaborator(self, login: str) -> bool:
        return self._exists(f"/repos/{self.repository}/collaborators/{login}", f"checking {login}")

    def team_exists(self, org: str, slug: str) -> bool:
        return self._exists(f"/orgs/{org}/teams/{slug}", f"checking team {org}/{slug}")

    def _exists(self, url: str, what: str) -> bool:
        requester = self._client.requester
        try:
            self._call(what, lambda: requester.requestJsonAndCheck("GET", url))
        except GitHubError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    # --- writing ----------------------------------------------------------------------------

    def request_reviews(
        self,
        number: int,
        *,
        users: Sequence[str] = (),
        teams: Sequence[str] = (),
        users_or_teams: Sequence[str] = (),
    ) -> ReviewOutcome:
        """Ask users and teams (slugs of the owner's teams) for a review.

        Requests go in batches of GitHub's limit. GitHub refuses a whole batch (422) for one
        bad name, so a refused batch is retried name by name and the others are still asked;
        a bare name refused as a user is then tried as a team of the repository's owner.
        """
        outcome = ReviewOutcome()
        wanted = [(name, False) for name in (*users, *users_or_teams)]
        wanted += [(slug, True) for slug in teams]
        for start in range(0, len(wanted), REVIEW_REQUEST_LIMIT):
            batch = wanted[start : start + REVIEW_REQUEST_LIMIT]
            if self._ask(number, batch, outcome) is None:
                continue
            for one in batch:
                reason = self._ask(number, [one], outcome)
                if reason is not None:
                    outcome.refused[one[0]] = reason
        for name in users_or_teams:
            if name not in outcome.refused:
                continue
            as_team = self._ask(number, [(name, True)], outcome)
            if as_team is None:
                del outcome.refused[name]
            else:
                as_user = outcome.refused[name]
                outcome.refused[name] = f"as a user: {as_user} As a team of {self.owner}: {as_team}"
        outcome.unresolved = [
            name for name, reason in outcome.refused.items() if UNRESOLVED_TEAM in reason.lower()
        ]
        return outcome

    def _ask(
        self, number: int, batch: Sequence[tuple[str, bool]], outcome: ReviewOutcome
    ) -> str | None:
        """Request one batch; GitHub's reason when it refuses it (422), else None."""
        users = [name for name, is_team in batch if not is_team]
        teams = [name for name, is_team in batch if is_team]
        arguments: dict[str, list[str]] = {}
        if users:
            arguments["reviewers"] = users
        if teams:
            arguments["team_reviewers"] = teams
        pull = self._pull(number)
        what = f"requesting reviews on pull request #{number}"
        try:
            self._call(what, lambda: pull.create_review_request(**arguments))
        except GitHubError as exc:
            if exc.status == 422:
                return exc.reason
            raise
        outcome.users += users
        outcome.teams += teams
        return None

    # --- issue and pull request comments -----------------------------------------------------

    def issue_comments(self, number: int) -> list[IssueComment]:
        """Every comment of an issue or pull request, oldest first, all pages."""
        from github.IssueComment import IssueComment as PyGithubComment
        from github.PaginatedList import PaginatedList

        url = f"/repos/{self.repository}/issues/{number}/comments"
        pages = PaginatedList(PyGithubComment, self._client.requester, url, None)
        found = self._call(f"listing the comments of #{number}", lambda: list(pages))
        return [IssueComment(c.id, c.body or "", c.user.login if c.user else "") for c in found]

    def identity(self) -> str | None:
        """The login this token comments as, when GitHub tells it: the user of a personal
        token (GET /user). None when GET /user is refused: a bot's token, the workflow's
        GITHUB_TOKEN (github-actions[bot]) and a GitHub App's (SLUG[bot]) alike, and
        neither may call GET /app, so which bot it is shows only once it has commented."""
        requester = self._client.requester
        try:
            _, data = self._call(
                "reading the token's user", lambda: requester.requestJsonAndCheck("GET", "/user")
            )
        except GitHubError as exc:
            if exc.status == 403:
                return None
            raise
        return str(data["login"])

    def create_issue_comment(self, number: int, body: str) -> IssueComment:
        """Comment on an issue or pull request; the new comment, with the login it was
        written as."""
        url = f"/repos/{self.repository}/issues/{number}/comments"
        requester = self._client.requester
        _, data = self._call(
            f"commenting on #{number}",
            lambda: requester.requestJsonAndCheck("POST", url, input={"body": body}),
        )
        author = (data.get("user") or {}).get("login") or ""
        return IssueComment(int(data["id"]), body, str(author))

    def update_issue_comment(self, comment_id: int, body: str) -> None:
        url = f"/repos/{self.repository}/issues/comments/{comment_id}"
        requester = self._client.requester
        self._call(
            f"updating comment {comment_id}",
            lambda: requester.requestJsonAndCheck("PATCH", url, input={"body": body}),
        )

    # --- plumbing ---------------------------------------------------------------------------

    def _repo(self) -> PyGithubRepository:
        if self._repository is None:
            name = self.repository
            self._repository = self._call(f"reading {name}", lambda: self._client.get_repo(name))
        return self._repository

    def _pull(self, number: int) -> PyGithubPull:
        if number not in self._pulls:
            self.pull_request(number)
        return self._pulls[number]

    def _call(self, what: str, request: Callable[[], T]) -> T:
        """Run `request`, retrying what is worth retrying within the budget."""
        from github.GithubException import GithubException
        from requests import RequestException

        for attempt in range(1, self._retry.attempts + 1):
            try:
                return request()
            except GithubException as exc:
                wait = self._delay(exc, attempt)
                if wait is None or not self._may_wait(wait, attempt):
                    raise self._error(what, exc, wait) from None
            except RequestException as exc:
                wait = float(2 ** (attempt - 1))
                if not self._may_wait(wait, attempt):
                    reason = f"cannot reach {self.api_url} ({type(exc).__name__})"
                    raise GitHubError(f"GitHub: {what} failed: {reason}") from None
            self._retry.sleep(wait)
            self._waited += wait
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _may_wait(self, wait: float, attempt: int) -> bool:
        return (
            attempt < self._retry.attempts
            and wait <= self._retry.longest_wait
            and self._waited + wait <= self._retry.total_wait
        )

    def _delay(self, exc: GithubException, attempt: int) -> float | None:
        """Seconds to wait before trying again, None when trying again cannot help."""
        if exc.status >= 500:
            return float(2 ** (attempt - 1))
        if exc.status not in (403, 429):
            return None
        headers = {str(k).lower(): str(v) for k, v in (exc.headers or {}).items()}
        if "retry-after" in headers:  # secondary rate limit
            return _seconds(headers["retry-after"], default=60.0)
        if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            reset = _seconds(headers["x-ratelimit-reset"], default=self._retry.clock() + 60)
            return max(reset - self._retry.clock(), 0.0) + 1.0
        if exc.status == 429 or _message(exc).lower().startswith("you have exceeded a secondary"):
            return 60.0 * attempt  # GitHub: wait at least a minute, then longer
        return None

    def _error(self, what: str, exc: GithubException, wait: float | None) -> GitHubError:
        reason = _message(exc)
        line = f"GitHub: {what} failed: {exc.status} {reason}"
        if exc.status == 401:
            line += "; check the token input or GITHUB_TOKEN"
        elif exc.status == 403 and "not accessible by integration" in reason.lower():
            return ReadOnlyTokenError(line, exc.status, reason)
        elif wait is not None:
            line += f"; still failing after {self._waited:.0f} s of retries"
            if wait > self._retry.longest_wait:
                line += f" (GitHub asks to wait {wait:.0f} s more)"
        return GitHubError(line, exc.status, reason)


def _message(exc: GithubException) -> str:
    """GitHub's message, with the details of a "Validation Failed" (its `errors`)."""
    data = exc.data if isinstance(exc.data, dict) else {}
    message = str(data.get("message") or exc.message or "no message").strip()
    errors = data.get("errors")
    if not isinstance(errors, list):
        errors = []
    details = [
        str(e.get("message") or e.get("code") or "") if isinstance(e, dict) else str(e)
        for e in errors
    ]
    details = [d for d in details if d]
    return f"{message}: {' '.join(details)}" if details else message


def _seconds(value: str, default: float) -> float:
    try:
        return float(value)
    except ValueError:
        return default
