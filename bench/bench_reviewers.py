"""Reviewer routing: a pull request with 3,000 changed files through 300 CODEOWNERS rules.

The rules have the shapes real CODEOWNERS files have: directories, files directly in a
directory (`docs/*`), extensions, and a third unanchored `**/*word*` rules, which no
prefix narrows. Goal: under 200 ms from the `pr.reviewers` section (or the CODEOWNERS
file) to the decisions (rules compiled, files routed, reviewers decided). Anchors, measured
in the same run on the same data: each rule's own regex on every file (what the prefix and
literal-run index saves), pathspec asked rule by rule and file by file, and the naive
fnmatch loop most scripts start with (wrong semantics, the usual baseline). Then the whole
`claudio-ci reviewers` run against a local server that answers like GitHub, to count its
API calls.

Run: python bench/bench_reviewers.py
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchlib import Row, best_of, print_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from claudio_ci.cli import main as claudio
from claudio_ci.core.settings import ReviewersSection, build
from claudio_ci.reviewers import codeowners as co
from claudio_ci.reviewers.rules import decide, load_rules, route
from tests.github_server import GitHubServer

GOAL = "< 200 ms"
FILES = 3000
RULES = 300
EXTENSIONS = ("py", "ipynb", "yaml", "md", "txt", "json", "csv", "toml")


def changed_files(rng: random.Random) -> list[str]:
    """3,000 paths over 40 packages of 12 modules, plus notebooks, configs and docs."""
    dirs = [f"src/pkg{p:02}/mod{m:02}" for p in range(40) for m in range(12)]
    dirs += ["notebooks/exploration", "experiments", "docs/guide", "tests/data", "."]
    files: set[str] = set()
    while len(files) < FILES:
        directory = rng.choice(dirs)
        name = f"file{rng.randrange(10_000)}.{rng.choice(EXTENSIONS)}"
        files.add(name if directory == "." else f"{directory}/{name}")
    return sorted(files)


def by_path_rules(rng: random.Random) -> dict[str, list[str]]:
    """300 rules of the kinds teams write; a third of them unanchored `**/*word*`."""
    rules: dict[str, list[str]] = {}
    for p in range(40):
        rules[f"/src/pkg{p:02}/"] = [f"acme/team-{p % 9}"]
        rules[f"src/pkg{p:02}/mod{rng.randrange(12):02}/*"] = [f"@dev{rng.randrange(60)}"]
        rules[f"/src/pkg{p:02}/mod{rng.randrange(12):02}/*.py"] = [f"@dev{rng.randrange(60)}"]
    for ext in EXTENSIONS:
        rules[f"*.{ext}"] = [f"acme/{ext}-reviewers"]
    for i in range(12):
        rules[f"requirements{i}*.txt"] = ["@tech-lead"]
        rules[f"**/mod{i:02}/*.ipynb"] = ["acme/data-science-team"]
    rules["/notebooks/"] = ["acme/data-science-team"]
    rules["experiments/"] = ["acme/ml-team", "@tech-lead"]
    rules["/pyproject.toml"] = ["@tech-lead"]
    rules["docs/*"] = ["@writers"]
    i = 0
    while len(rules) < RULES - RULES // 3:
        rules[f"tests/data/file{i}*.csv"] = [f"@dev{i % 60}"]
        i += 1
    while len(rules) < RULES:
        rules[f"**/*{rng.randrange(10_000):04}*"] = [f"@dev{rng.randrange(60)}"]
    return rules


def typed(section: Mapping[str, Any]) -> ReviewersSection:
    """A `pr.reviewers` section from plain data, with no title keywords unless it names some."""
    return build(ReviewersSection, {"skip_title_keywords": [], **section})


def codeowners_text(rules: dict[str, list[str]]) -> str:
    owners = {p: " ".join("@" + n.lstrip("@") for n in names) for p, names in rules.items()}
    return "".join(f"{co.written(p)} {names}\n" for p, names in owners.items())


def claudio_ci_route(
    section: dict[str, object], files: list[str], codeowners: tuple[str, str] | None = None
) -> int:
    ruleset, findings = load_rules(typed(section), codeowners_file=codeowners)
    assert not findings, findings
    routing = route(ruleset, files)
    decisions = decide(routing, ruleset, author="alice", owner="acme", branch="claudio/ab12")
    return len(decisions)


def regex_per_rule(section: dict[str, dict[str, list[str]]], files: list[str]) -> int:
    """Each rule's CODEOWNERS regex on every file: the same answers, no index."""
    owners: dict[str, list[str]] = {}
    for pattern, names in section["by_path"].items():
        match = co.compile_pattern(pattern).regex.match
        for path in files:
            if match(path):
                owners[path] = names
    return len(owners)


def pathspec_per_rule(section: dict[str, dict[str, list[str]]], files: list[str]) -> int:
    import pathspec

    reviewers: set[str] = set()
    for pattern, names in section["by_path"].items():
        spec = pathspec.GitIgnoreSpec.from_lines([pattern])
        if any(spec.match_file(path) for path in files):
            reviewers.update(names)
    return len(reviewers)


def fnmatch_loop(section: dict[str, dict[str, list[str]]], files: list[str]) -> int:
    reviewers: set[str] = set()
    for pattern, names in section["by_path"].items():
        for path in files:
            if fnmatch.fnmatch(path, pattern):
                reviewers.update(names)
    return len(reviewers)


def pull_request_run(section: dict[str, Any], files: list[str]) -> tuple[float, dict, Counter]:
    """`claudio-ci reviewers` on a PR of these files against a local GitHub.

    Its time, its JSON report, and the requests the server received by endpoint.
    """
    base = "b" * 40
    names = {n.lstrip("@") for rule in section["by_path"].values() for n in rule}
    names |= {n.lstrip("@") for n in section["default"]}
    with GitHubServer() as server, tempfile.TemporaryDirectory() as tmp:
        server.add_pull(7, author="alice", head_ref="claudio/ab12", base_sha=base, files=files)
        server.put_file(base, ".claudio.yaml", json.dumps({"pr": {"reviewers": section}}))
        server.repo.collaborators |= {n for n in names if "/" not in n}
        server.repo.teams |= {n.split("/")[1] for n in names if "/" in n}
        event = Path(tmp, "event.json")
        event.write_text(json.dumps({"pull_request": {"number": 7}}), encoding="utf-8")
        environ = {
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_REPOSITORY": "acme/ml",
            "GITHUB_API_URL": server.url,
            "GITHUB_TOKEN": "bench",
        }
        saved = {name: os.environ.get(name) for name in environ}
        os.environ.update(environ)
        out = io.StringIO()
        try:
            start = time.perf_counter()
            with contextlib.redirect_stdout(out):
                code = claudio(["reviewers", "--format", "json"])
            seconds = time.perf_counter() - start
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        if code != 0:
            raise SystemExit(f"claudio-ci reviewers exited {code}: {out.getvalue()[-500:]}")
        endpoints = Counter(
            f"{r.method} {r.path.replace('/repos/acme/ml', '') or '/'}" for r in server.requests
        )
        return seconds, json.loads(out.getvalue()), endpoints


def main() -> None:
    rng = random.Random(2024)
    files = changed_files(rng)
    section: dict[str, object] = {"default": ["@lead"], "by_path": by_path_rules(rng)}
    assert len(section["by_path"]) == RULES  # type: ignore[arg-type]

    unanchored = sum(p.startswith("**/*") for p in section["by_path"])  # type: ignore[attr-defined]
    print(f"{FILES:,} files, {RULES} rules ({unanchored} unanchored `**/*word*`)")
    text = codeowners_text(section["by_path"])  # type: ignore[arg-type]
    ours = best_of(lambda: claudio_ci_route(section, files), repeat=7)
    from_file = best_of(
        lambda: claudio_ci_route({"default": ["@lead"]}, files, ("CODEOWNERS", text)), repeat=7
    )
    plain = best_of(lambda: regex_per_rule(section, files), repeat=3)  # type: ignore[arg-type]
    anchor = best_of(lambda: pathspec_per_rule(section, files), repeat=3)  # type: ignore[arg-type]
    naive = best_of(lambda: fnmatch_loop(section, files), repeat=3)  # type: ignore[arg-type]
    rows = [
        Row(
            f"claudio-ci routing, {FILES:,} files x {RULES} rules",
            ours,
            "each rule's regex on every file",
            plain,
            GOAL,
            "load_rules + route + decide",
        ),
        Row(
            f"the same rules as a CODEOWNERS file ({len(text):,} bytes)",
            from_file,
            "each rule's regex on every file",
            plain,
            GOAL,
            "parse + route + decide",
        ),
        Row(
            f"claudio-ci routing, {FILES:,} files x {RULES} rules",
            ours,
            "pathspec rule by rule",
            anchor,
            GOAL,
            "pathspec: gitignore semantics",
        ),
        Row(
            f"claudio-ci routing, {FILES:,} files x {RULES} rules",
            ours,
            "fnmatch loop",
            naive,
            GOAL,
            "fnmatch has no gitignore semantics",
        ),
    ]
    print_table("Reviewer routing (bench/bench_reviewers.py)", rows)
    worst = max(ours, from_file)
    print(
        f"\nGoal {GOAL} for routing: {'met' if worst < 0.2 else 'MISSED'} ({worst * 1000:.1f} ms)."
    )

    seconds, report, endpoints = pull_request_run(section, files)
    requested = len(report["users"]) + len(report["teams"])
    print(
        f"\n`claudio-ci reviewers` on the {FILES:,}-file PR against a local GitHub: "
        f"{seconds * 1000:.0f} ms, {report['api_calls']} API calls, {requested} reviewers requested"
    )
    for endpoint, count in endpoints.items():
        print(f"  {count:>3}  {endpoint}")


if __name__ == "__main__":
    main()
