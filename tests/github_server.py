"""A local HTTP server that answers like GitHub's REST API, for the endpoints claudio-ci uses.

Shared test infrastructure: seed the state, point `GITHUB_API_URL` at `server.url`, run the
code under test, then assert on `server.requests` (method, path, query, JSON body).

    server.add_pull(7, files=["src/data/a.py"], author="alice")
    server.put_file("main-sha", ".claudio.yaml", "pr: ...")
    server.repo.collaborators |= {"bob"}; server.repo.teams |= {"ml-team"}
    server.fail(500, times=2, path="/pulls/7")              # 5xx twice, then normal
    server.rate_limit_primary(reset_at=1_700_000_000)        # 403, x-ratelimit-remaining: 0
    server.rate_limit_secondary(retry_after=3, status=429)   # 403/429 with retry-after
    server.read_only = True                                  # writes: 403 not accessible
    server.org_access = False     # the Actions GITHUB_TOKEN: teams cannot be resolved (422)

Status codes and error bodies are GitHub's own (422 for the author or a non-collaborator,
404 `Not Found`, 403 rate limits with their headers). Lists paginate with `per_page` and
`page` and RFC 5988 `Link` headers; the files of a pull request stop at 3,000 as on GitHub.
The server runs on 127.0.0.1 on a random port, in a background thread.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

DOCS = "https://docs.github.com/rest"
FILES_CAP = 3000
RATE_LIMIT = 5000


@dataclass(frozen=True)
class Request:
    """One request as the server received it; `path` has no API prefix and no query."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


@dataclass
class Pull:
    number: int
    title: str = "A change"
    author: str = "author"
    draft: bool = False
    state: str = "open"
    head_ref: str = "feature"
    head_sha: str = "h" * 40
    base_ref: str = "main"
    base_sha: str = "b" * 40
    files: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)  # new path -> previous path
    changed_files: int | None = None  # what GitHub says; default: len(files)
    requested_users: list[str] = field(default_factory=list)
    requested_teams: list[str] = field(default_factory=list)  # slugs
    reviews: list[tuple[str, str]] = field(default_factory=list)  # (login, state)


@dataclass
class Comment:
    id: int
    issue: int
    body: str
    author: str = "github-actions[bot]"


@dataclass
class Repo:
    owner: str = "acme"
    name: str = "ml"
    default_branch: str = "main"
    collaborators: set[str] = field(default_factory=set)
    teams: set[str] = field(default_factory=set)  # slugs of the owner's teams with access
    contents: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (ref, path)
    pulls: dict[int, Pull] = field(default_factory=dict)
    comments: list[Comment] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class Failure:
    status: int
    times: int
    method: str | None
    path: str | None  # a regular expression searched in the path
    headers: dict[str, str]
    body: dict[str, Any]

    def applies(self, method: str, path: str) -> bool:
        return (
            self.times > 0
            and (self.method is None or self.method == method)
            and (self.path is None or re.search(self.path, path) is not None)
        )


class Reply(Exception):
    """Raised by a handler to answer at once."""

    def __init__(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def error_body(status: int, message: str, docs: str) -> dict[str, Any]:
    return {"message": message, "documentation_url": f"{DOCS}/{docs}", "status": str(status)}


def not_found(docs: str = "") -> Reply:
    return Reply(404, error_body(404, "Not Found", docs))


Route = tuple[str, re.Pattern[str], Callable[..., Any]]


class GitHubServer:
    def __init__(self, owner: str = "acme", name: str = "ml", prefix: str = "") -> None:
        self.repo = Repo(owner, name)
        self.prefix = prefix.rstrip("/")  # "/api/v3" answers like GitHub Enterprise
        self.requests: list[Request] = []
        self.failures: list[Failure] = []
        self.read_only = False
        self.org_access = True  # False: a token without read:org, as the Actions GITHUB_TOKEN
        self.token: str | None = None  # when set, other tokens get 401 Bad credentials
        # the login the token acts as: a bot (an Actions or app token) is refused GET /user
        self.identity = "github-actions[bot]"
        self._lock = threading.Lock()
        self._next_id = 1000
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._http.daemon_threads = True
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._routes = self._route_table()

    # --- life cycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}{self.prefix}"

    def __enter__(self) -> GitHubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)

    # --- seeding ----------------------------------------------------------------------------

    def add_pull(self, number: int, **fields: Any) -> Pull:
        pull = Pull(number, **fields)
        self.repo.pulls[number] = pull
        return pull

    def put_file(self, ref: str, path: str, text: str | bytes) -> None:
        data = text.encode("utf-8") if isinstance(text, str) else text
        self.repo.contents[(ref, path)] = data

    def add_comment(self, issue: int, body: str, author: str = "github-actions[bot]") -> Comment:
        comment = Comment(self._new_id(), issue, body, author)
        self.repo.comments.append(comment)
        return comment

    # --- failures ---------------------------------------------------------------------------

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        method: str | None = None,
        path: str | None = None,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        """The next `times` matching requests get `status` (then the server answers again)."""
        body = body or error_body(status, "Server Error" if status >= 500 else "Error", "")
        self.failures.append(Failure(status, times, method, path, headers or {}, body))

    def rate_limit_primary(self, *, reset_at: int, times: int = 1, path: str | None = None) -> None:
        """403 with `x-ratelimit-remaining: 0` until `reset_at` (epoch seconds), as GitHub."""
        message = "API rate limit exceeded for installation ID 4242."
        headers = {
            "x-ratelimit-limit": str(RATE_LIMIT),
            "x-ratelimit-remaining": "0",
            "x-ratelimit-used": str(RATE_LIMIT),
            "x-ratelimit-reset": str(reset_at),
            "x-ratelimit-resource": "core",
        }
        body = error_body(403, message, "overview/rate-limits-for-the-rest-api")
        self.fail(403, times=times, path=path, headers=headers, body=body)

    def rate_limit_secondary(
        self, *, retry_after: int = 60, status: int = 403, times: int = 1, path: str | None = None
    ) -> None:
        """403 or 429 with `retry-after`, as GitHub answers a secondary rate limit."""
        message = (
            "You have exceeded a secondary rate limit. Please wait a few minutes before you "
            "try again. If you reach out to GitHub Support for help, please include the "
            "request ID 0000:1111:2222."
        )
        body = error_body(status, message, "overview/rate-limits-for-the-rest-api")
        headers = {"retry-after": str(retry_after)}
        self.fail(status, times=times, path=path, headers=headers, body=body)

    # --- assertions -------------------------------------------------------------------------

    def calls(self, method: str | None = None, path: str | None = None) -> list[Request]:
        """Requests made, optionally only one method and paths matching a regex."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method)
            and (path is None or re.search(path, r.path) is not None)
        ]

    # --- answering --------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        query = dict(parse_qsl(parts.query))
        with self._lock:
            if self.prefix and path.startswith(self.prefix + "/"):
                path = path[len(self.prefix) :]
            elif self.prefix:
                path = "/unknown" + path
            try:
                body = json.loads(raw_body) if raw_body else None
            except ValueError:
                return 400, error_body(400, "Problems parsing JSON", ""), {}
            self.requests.append(Request(method, path, query, body, headers))
            try:
                return 200, self._answer(method, path, query, body, headers), {}
            except Reply as reply:
                return reply.status, reply.body, reply.headers

    def _answer(
        self, method: str, path: str, query: dict[str, str], body: Any, headers: dict[str, str]
    ) -> Any:
        for failure in self.failures:
            if failure.applies(method, path):
                failure.times -= 1
                raise Reply(failure.status, failure.body, failure.headers)
        if self.token is not None and headers.get("authorization") != f"token {self.token}":
            raise Reply(401, error_body(401, "Bad credentials", ""))
        if self.read_only and method != "GET":
            docs = "pulls/review-requests#request-reviewers-for-a-pull-request"
            raise Reply(403, error_body(403, "Resource not accessible by integration", docs))
        for verb, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and verb == method:
                return handler(*match.groups(), query=query, body=body)
        raise not_found()

    def _route_table(self) -> list[Route]:
        repo = r"/repos/([^/]+)/([^/]+)"
        table = [
            ("GET", rf"{repo}", self._get_repo),
            ("GET", rf"{repo}/pulls", self._list_pulls),
            ("GET", rf"{repo}/pulls/(\d+)", self._get_pull),
            ("GET", rf"{repo}/pulls/(\d+)/files", self._list_files),
            ("GET", rf"{repo}/pulls/(\d+)/reviews", self._list_reviews),
            ("GET", rf"{repo}/pulls/(\d+)/requested_reviewers", self._get_requested),
            ("POST", rf"{repo}/pulls/(\d+)/requested_reviewers", self._request_reviewers),
            ("DELETE", rf"{repo}/pulls/(\d+)/requested_reviewers", self._remove_reviewers),
            ("GET", rf"{repo}/contents/(.+)", self._get_contents),
            ("GET", rf"{repo}/collaborators/([^/]+)", self._get_collaborator),
            ("GET", rf"{repo}/issues/(\d+)/comments", self._list_comments),
            ("POST", rf"{repo}/issues/(\d+)/comments", self._create_comment),
            ("PATCH", rf"{repo}/issues/comments/(\d+)", self._edit_comment),
            ("GET", r"/user", self._get_user),
            ("GET", r"/orgs/([^/]+)", self._get_org),
            ("GET", r"/orgs/([^/]+)/teams/([^/]+)", self._get_team),
        ]
        return [(verb, re.compile(pattern), handler) for verb, pattern, handler in table]

    # --- JSON as GitHub writes it -----------------------------------------------------------

    def _api(self, path: str) -> str:
        return f"{self.url}{path}"

    def _repo_path(self) -> str:
        return f"/repos/{self.repo.full_name}"

    def _user(self, login: str) -> dict[str, Any]:
        return {
            "login": login,
            "id": _stable_id(login),
            "type": "Bot" if login.endswith("[bot]") else "User",
            "url": self._api(f"/users/{login}"),
            "html_url": f"https://github.com/{login}",
        }

    def _team(self, slug: str) -> dict[str, Any]:
        return {
            "id": _stable_id(slug),
            "slug": slug,
            "name": slug,
            "url": self._api(f"/orgs/{self.repo.owner}/teams/{slug}"),
            "html_url": f"https://github.com/orgs/{self.repo.owner}/teams/{slug}",
        }

    def _pull_json(self, pull: Pull) -> dict[str, Any]:
        base = self._repo_path()
        return {
            "url": self._api(f"{base}/pulls/{pull.number}"),
            "issue_url": self._api(f"{base}/issues/{pull.number}"),
            "html_url": f"https://github.com/{self.repo.full_name}/pull/{pull.number}",
            "id": _stable_id(f"pull{pull.number}"),
            "number": pull.number,
            "state": pull.state,
            "title": pull.title,
            "draft": pull.draft,
            "user": self._user(pull.author),
            "head": {"ref": pull.head_ref, "sha": pull.head_sha, "label": pull.head_ref},
            "base": {"ref": pull.base_ref, "sha": pull.base_sha, "label": pull.base_ref},
            "requested_reviewers": [self._user(u) for u in pull.requested_users],
            "requested_teams": [self._team(t) for t in pull.requested_teams],
            "changed_files": len(pull.files) if pull.changed_files is None else pull.changed_files,
        }

    def _file_json(self, pull: Pull, path: str) -> dict[str, Any]:
        data = {
            "sha": hashlib.sha1(path.encode(), usedforsecurity=False).hexdigest(),
            "filename": path,
            "status": "renamed" if path in pull.renamed else "modified",
            "additions": 1,
            "deletions": 1,
            "changes": 2,
        }
        if path in pull.renamed:
            data["previous_filename"] = pull.renamed[path]
        return data

    def _comment_json(self, comment: Comment) -> dict[str, Any]:
        base = self._repo_path()
        return {
            "id": comment.id,
            "body": comment.body,
            "user": self._user(comment.author),
            "url": self._api(f"{base}/issues/comments/{comment.id}"),
            "issue_url": self._api(f"{base}/issues/{comment.issue}"),
            "html_url": f"https://github.com/{self.repo.full_name}/pull/{comment.issue}"
            f"#issuecomment-{comment.id}",
        }

    def _page(self, path: str, query: dict[str, str], items: list[Any]) -> Any:
        """One page of `items` with GitHub's `Link` header (per_page default 30, at most 100)."""
        per_page = max(1, min(int(query.get("per_page", 30)), 100))
        page = max(1, int(query.get("page", 1)))
        last = max(1, -(-len(items) // per_page))
        links = []

        def link(number: int, rel: str) -> str:
            params = {**query, "per_page": str(per_page), "page": str(number)}
            return f'<{self._api(path)}?{urlencode(params)}>; rel="{rel}"'

        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        headers = {"Link": ", ".join(links)} if links else {}
        raise Reply(200, items[(page - 1) * per_page : page * per_page], headers)

    # --- endpoints --------------------------------------------------------------------------

    def _check_repo(self, owner: str, name: str) -> None:
        if f"{owner}/{name}".lower() != self.repo.full_name.lower():
            raise not_found("repos/repos#get-a-repository")

    def _pull(self, owner: str, name: str, number: str) -> Pull:
        self._check_repo(owner, name)
        if int(number) not in self.repo.pulls:
            raise not_found("pulls/pulls#get-a-pull-request")
        return self.repo.pulls[int(number)]

    def _get_repo(self, owner: str, name: str, **_: Any) -> Any:
        self._check_repo(owner, name)
        return {
            "id": _stable_id(self.repo.full_name),
            "name": self.repo.name,
            "full_name": self.repo.full_name,
            "owner": {**self._user(self.repo.owner), "type": "Organization"},
            "private": False,
            "default_branch": self.repo.default_branch,
            "url": self._api(self._repo_path()),
        }

    def _list_pulls(self, owner: str, name: str, *, query: dict[str, str], **_: Any) -> Any:
        self._check_repo(owner, name)
        state = query.get("state", "open")
        pulls = [p for p in self.repo.pulls.values() if state in ("all", p.state)]
        items = [self._pull_json(p) for p in sorted(pulls, key=lambda p: -p.number)]
        return self._page(f"{self._repo_path()}/pulls", query, items)

    def _get_pull(self, owner: str, name: str, number: str, **_: Any) -> Any:
        return self._pull_json(self._pull(owner, name, number))

    def _list_files(
        self, owner: str, name: str, number: str, *, query: dict[str, str], **_: Any
    ) -> Any:
        pull = self._pull(owner, name, number)
        items = [self._file_json(pull, path) for path in pull.files[:FILES_CAP]]
        return self._page(f"{self._repo_path()}/pulls/{number}/files", query, items)

    def _list_reviews(
        self, owner: str, name: str, number: str, *, query: dict[str, str], **_: Any
    ) -> Any:
        pull = self._pull(owner, name, number)
        items = [
            {"id": _stable_id(f"{login}{i}"), "user": self._user(login), "state": state, "body": ""}
            for i, (login, state) in enumerate(pull.reviews)
        ]
        return self._page(f"{self._repo_path()}/pulls/{number}/reviews", query, items)

    def _get_requested(self, owner: str, name: str, number: str, **_: Any) -> Any:
        pull = self._pull(owner, name, number)
        return {
            "users": [self._user(u) for u in pull.requested_users],
            "teams": [self._team(t) for t in pull.requested_teams],
        }

    def _request_reviewers(self, owner: str, name: str, number: str, *, body: Any, **_: Any) -> Any:
        pull = self._pull(owner, name, number)
        users = list((body or {}).get("reviewers") or [])
        teams = list((body or {}).get("team_reviewers") or [])
        docs = "pulls/review-requests#request-reviewers-for-a-pull-request"
        if any(u.lower() == pull.author.lower() for u in users):
            message = "Review cannot be requested from pull request author."
            raise Reply(422, error_body(422, message, docs))
        collaborators = {c.lower() for c in self.repo.collaborators}
        if any(u.lower() not in collaborators for u in users):
            message = (
                "Reviews may only be requested from collaborators. One or more of the users "
                f"or teams you specified is not a collaborator of the {self.repo.full_name} "
                "repository."
            )
            raise Reply(422, error_body(422, message, docs))
        if teams and not self.org_access:
            # What GitHub answers the Actions GITHUB_TOKEN for any team, even a valid one: it
            # has no organization permission, so the team's node cannot be resolved.
            node = base64.b64encode(f"04:Team{len(teams[0])}".encode()).decode()
            body = {
                "message": "Validation Failed",
                "errors": [f"Could not resolve to a node with the global id of '{node}'."],
                "documentation_url": f"{DOCS}/{docs}",
                "status": "422",
            }
            raise Reply(422, body)
        known_teams = {t.lower() for t in self.repo.teams}
        if any(t.lower() not in known_teams for t in teams):
            message = (
                "Reviews may only be requested from collaborators. One or more of the teams "
                f"you specified is not a collaborator of the {self.repo.full_name} repository."
            )
            raise Reply(422, error_body(422, message, docs))
        pull.requested_users += [u for u in users if u not in pull.requested_users]
        pull.requested_teams += [t for t in teams if t not in pull.requested_teams]
        raise Reply(201, self._pull_json(pull))

    def _remove_reviewers(self, owner: str, name: str, number: str, *, body: Any, **_: Any) -> Any:
        pull = self._pull(owner, name, number)
        users = set((body or {}).get("reviewers") or [])
        teams = set((body or {}).get("team_reviewers") or [])
        pull.requested_users = [u for u in pull.requested_users if u not in users]
        pull.requested_teams = [t for t in pull.requested_teams if t not in teams]
        return self._pull_json(pull)

    def _get_contents(
        self, owner: str, name: str, path: str, *, query: dict[str, str], **_: Any
    ) -> Any:
        self._check_repo(owner, name)
        ref = query.get("ref", self.repo.default_branch)
        data = self.repo.contents.get((ref, path))
        if data is None:
            raise not_found("repos/contents#get-repository-content")
        encoded = base64.encodebytes(data).decode("ascii")  # GitHub wraps lines too
        return {
            "type": "file",
            "encoding": "base64",
            "size": len(data),
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "content": encoded,
            "sha": hashlib.sha1(data, usedforsecurity=False).hexdigest(),
            "url": self._api(f"{self._repo_path()}/contents/{path}?ref={ref}"),
        }

    def _get_collaborator(self, owner: str, name: str, login: str, **_: Any) -> Any:
        self._check_repo(owner, name)
        if login.lower() in {c.lower() for c in self.repo.collaborators}:
            raise Reply(204)
        raise not_found("collaborators/collaborators")

    def _list_comments(
        self, owner: str, name: str, number: str, *, query: dict[str, str], **_: Any
    ) -> Any:
        self._check_repo(owner, name)
        items = [self._comment_json(c) for c in self.repo.comments if c.issue == int(number)]
        return self._page(f"{self._repo_path()}/issues/{number}/comments", query, items)

    def _create_comment(self, owner: str, name: str, number: str, *, body: Any, **_: Any) -> Any:
        self._check_repo(owner, name)
        text = str((body or {}).get("body", ""))
        comment = self.add_comment(int(number), text, author=self.identity)
        raise Reply(201, self._comment_json(comment))

    def _edit_comment(self, owner: str, name: str, comment_id: str, *, body: Any, **_: Any) -> Any:
        self._check_repo(owner, name)
        for comment in self.repo.comments:
            if comment.id == int(comment_id):
                comment.body = str((body or {}).get("body", ""))
                return self._comment_json(comment)
        raise not_found("issues/comments#update-an-issue-comment")

    def _get_user(self, **_: Any) -> Any:
        if self.identity.endswith("[bot]"):
            message = "Resource not accessible by integration"
            raise Reply(403, error_body(403, message, "users/users#get-the-authenticated-user"))
        return self._user(self.identity)

    def _get_org(self, org: str, **_: Any) -> Any:
        if org.lower() != self.repo.owner.lower():
            raise not_found("orgs/orgs#get-an-organization")
        return {"login": self.repo.owner, "id": _stable_id(org), "url": self._api(f"/orgs/{org}")}

    def _get_team(self, org: str, slug: str, **_: Any) -> Any:
        if org.lower() != self.repo.owner.lower() or slug.lower() not in {
            t.lower() for t in self.repo.teams
        }:
            raise not_found("teams/teams#get-a-team-by-name")
        return self._team(slug)

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id


def _stable_id(text: str) -> int:
    return int(hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:8], 16)


def _handler_class(server: GitHubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out in two writes: with Nagle on, a keep-alive client's delayed
        # ACK holds the body back about 40 ms per request
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body, extra = server.handle(self.command, self.path, headers, raw_body)
            payload = b"" if status == 204 or body is None else json.dumps(body).encode()
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "Content-Length": str(len(payload)),
                "x-ratelimit-limit": str(RATE_LIMIT),
                "x-ratelimit-remaining": str(RATE_LIMIT - len(server.requests)),
                **extra,
            }
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            del format, args  # quiet: tests assert on server.requests instead

    return Handler
