"""Reviewer routing, without GitHub or git: rules + changed files -> who to ask, and why."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pathspec
import pytest

from claudio_ci.core.codes import CODES, REV001, REV002, REV101, REV102, REV104, REV201, REV202
from claudio_ci.core.findings import Severity
from claudio_ci.core.settings import ReviewersSection, build
from claudio_ci.reviewers import codeowners as co
from claudio_ci.reviewers import rules as rules_module
from claudio_ci.reviewers.rules import (
    Kind,
    Reviewer,
    RuleSet,
    Status,
    codeowners,
    decide,
    lint,
    literal_prefix,
    load_rules,
    parse_reviewer,
    route,
    skip_reason,
)

# The seed's own example (Claudio's ML tutorial, `pr.reviewers.by_path`).
SEED = {
    "by_path": {
        "src/data/**": ["data-team"],
        "src/models/**": ["ml-team"],
        "notebooks/**": ["data-science-team"],
        "experiments/**": ["ml-team", "tech-lead"],
        "requirements*.txt": ["tech-lead"],
    }
}


def typed(section: Mapping[str, Any]) -> ReviewersSection:
    """A `pr.reviewers` section from plain data, with no title keywords unless it names some."""
    return build(ReviewersSection, {"skip_title_keywords": [], **section})


def rules(section: dict[str, Any]) -> RuleSet:
    ruleset, findings = load_rules(typed(section))
    assert findings == []
    return ruleset


def labels(ruleset: RuleSet, files: Sequence[str]) -> dict[str, tuple[list[str], list[str]]]:
    return {r.reviewer.label: (r.rules, r.files) for r in route(ruleset, files).reviewers}


def at(path: Sequence[str | int]) -> tuple[str, int, int]:
    """A fake locator: the line is the path's length, to check what was located."""
    return ".claudio.yaml:" + ".".join(map(str, path)), len(path), 1


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alice", Reviewer("alice", Kind.USER_OR_TEAM)),
        ("@alice", Reviewer("alice", Kind.USER)),
        ("@octocat_acme", Reviewer("octocat_acme", Kind.USER)),  # an Enterprise Managed User
        ("data-team", Reviewer("data-team", Kind.USER_OR_TEAM)),
        ("data_team.v2", Reviewer("data_team.v2", Kind.USER_OR_TEAM)),
        ("acme/ml-team", Reviewer("ml-team", Kind.TEAM, "acme")),
        ("@acme/ml.team_2", Reviewer("ml.team_2", Kind.TEAM, "acme")),
        (
            "copilot-pull-request-reviewer[bot]",
            Reviewer("copilot-pull-request-reviewer[bot]", Kind.USER_OR_TEAM),
        ),
    ],
)
def test_reviewer_names_follow_codeowners(text: str, expected: Reviewer) -> None:
    assert parse_reviewer(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "@", "a b", "-alice", "@data_", "@_team", "@a__b", "acme/", "/team", "a/b/c", "al!ce"],
)
def test_a_name_github_cannot_hold_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a"):
        parse_reviewer(text)


def test_labels_and_keys_ignore_case_and_know_a_bare_name_may_be_a_team() -> None:
    team = parse_reviewer("@Acme/ML")
    assert (team.label, team.key) == ("Acme/ML", "acme/ml")
    assert parse_reviewer("Data-Team").keys("acme") == {"data-team", "acme/data-team"}
    assert parse_reviewer("@alice").keys("acme") == {"alice"}


# --- glob semantics (the examples the module documents) ----------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("src/data/**", "src/data/dataset.py", True),
        ("src/data/**", "src/data/raw/x.csv", True),
        ("src/data/**", "lib/src/data/x.py", False),
        ("/setup.py", "setup.py", True),
        ("/setup.py", "pkg/setup.py", False),
        ("*.ipynb", "notebooks/exploration/data_eda.ipynb", True),
        ("data/", "src/data/dataset.py", True),
        ("data/", "data.py", False),
        ("docs/*.md", "docs/index.md", True),
        ("docs/*.md", "docs/api/x.md", False),
        ("**/tests/**", "src/tests/test_x.py", True),
        ("**/tests/**", "tests.py", False),
        ("requirements*.txt", "requirements-dev.txt", True),
        ("requirements*.txt", "deps/requirements.txt", True),
        ("src/da*", "src/data/x.py", True),
        ("docs/*", "docs/sub/b.md", True),  # CODEOWNERS: False
        ("/*", "src/a.py", True),  # CODEOWNERS: False
        ("src/[dm]*/**", "src/data/a.py", True),  # CODEOWNERS: `[` is literal
        ("\\#notes.md", "#notes.md", True),  # CODEOWNERS: invalid
    ],
)
def test_the_gitignore_syntax_keeps_gitignore_semantics(
    pattern: str, path: str, matches: bool
) -> None:
    ruleset = rules({"syntax": "gitignore", "by_path": {pattern: ["alice"]}})
    assert bool(route(ruleset, [path]).files[path]) is matches


@pytest.mark.parametrize("syntax", ["codeowners", "gitignore"])
def test_the_prefix_index_matches_exactly_what_the_pattern_matches(syntax: str) -> None:
    """Rule.match looks only at the sorted range of files a pattern can match, and only at
    those holding its longest literal run: the same answers as the pattern on every file."""
    rng = random.Random(6)
    parts = ["src", "data", "models", "docs", "tests", "a b", "x.py", "README.md", "req.txt"]
    files = sorted(
        {"/".join(rng.choice(parts) for _ in range(rng.randint(1, 4))) for _ in range(400)}
    )
    patterns = [
        "src/data/**",
        "/src",
        "src/",
        "src",
        "*.py",
        "/README.md",
        "docs/*.md",
        "a b/",
        "**/tests/**",
        "src/**/x.py",
        "src/da*",
        "data/ ",
        "/src/*/x.py",
        "src//data/**",
        "s?c/data/**",
        "src/[dm]*/**" if syntax == "gitignore" else "src/\\*a/**",
        "src/data",
        "*a*",
        "**/*ata*",
        "da?a/*.py",
        "/*",
        "docs/*",
        "x.py/",
        "**/x.py",
        "tests/**/README.md",
    ]
    files = sorted([*files, "src/*a/x.py", "src/[d]/x.py"])
    ruleset = rules({"syntax": syntax, "by_path": {p: ["alice"] for p in patterns}})
    for rule in ruleset.rules:
        if syntax == "gitignore":
            spec = pathspec.GitIgnoreSpec.from_lines([rule.pattern])
            expected = [f for f in files if spec.match_file(f)]
        else:
            expected = [f for f in files if co.compile_pattern(rule.pattern).regex.match(f)]
        assert rule.match(files) == expected, rule.pattern


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("src/data/**", "src/data/"),
        ("/setup.py", "setup.py"),
        ("*.py", ""),
        ("docs/", ""),
        ("**/tests/**", ""),
        ("src/da*", "src/da"),
        ("src/data ", "src/data"),
        ("a\\*b/c", "a"),
    ],
)
def test_literal_prefix(pattern: str, prefix: str) -> None:
    assert literal_prefix(pattern) == prefix


# --- loading rules ------------------------------------------------------------------------------


def test_bad_patterns_and_names_are_findings_and_the_rest_still_routes() -> None:
    section = {
        "default": ["@lead", "not a name"],
        "by_path": {"!src/**": ["alice"], "#comment": ["bob"], "src/**": ["carol", "x/y/z"]},
    }
    ruleset, findings = load_rules(typed(section), at)
    assert [(f.code, f.path, f.severity) for f in findings] == [
        (REV002, ".claudio.yaml:pr.reviewers.default.1", Severity.ERROR),
        (REV001, ".claudio.yaml:pr.reviewers.by_path.!src/**", Severity.ERROR),
        (REV001, ".claudio.yaml:pr.reviewers.by_path.#comment", Severity.ERROR),
        (REV002, ".claudio.yaml:pr.reviewers.by_path.src/**.1", Severity.ERROR),
    ]
    assert "negation (`!`) does not work in CODEOWNERS" in findings[1].message
    assert labels(ruleset, ["src/a.py"]) == {
        "lead": (["(default)"], []),
        "carol": (["src/**"], ["src/a.py"]),
    }


def test_groups_expand_and_do_not_nest() -> None:
    section = {
        "groups": {"ml": ["alice", "acme/ml-team"], "meta": ["ml", "bob"], "spare": ["zed"]},
        "by_path": {"src/models/**": ["ml"], "docs/**": ["meta"]},
    }
    ruleset, findings = load_rules(typed(section), at)
    assert [(f.code, f.path) for f in findings] == [
        (REV002, ".claudio.yaml:pr.reviewers.groups.meta.0")
    ]
    assert "groups do not nest" in findings[0].message
    assert labels(ruleset, ["src/models/a.py"]) == {
        "alice": (["src/models/**"], ["src/models/a.py"]),
        "acme/ml-team": (["src/models/**"], ["src/models/a.py"]),
    }
    assert ruleset.unused_groups == ("spare",)


# --- routing ------------------------------------------------------------------------------------


def test_every_matching_rule_adds_its_reviewers_with_the_rules_and_files() -> None:
    ruleset = rules({**SEED, "default": ["@lead"]})
    files = ["experiments/adamw.yaml", "requirements.txt", "src/data/dataset.py", "README.md"]
    routing = route(ruleset, files)
    assert {f: [r.pattern for r in rs] for f, rs in routing.files.items()} == {
        "README.md": [],
        "experiments/adamw.yaml": ["experiments/**"],
        "requirements.txt": ["requirements*.txt"],
        "src/data/dataset.py": ["src/data/**"],
    }
    assert labels(ruleset, files) == {
        "lead": (["(default)"], []),
        "data-team": (["src/data/**"], ["src/data/dataset.py"]),
        "ml-team": (["experiments/**"], ["experiments/adamw.yaml"]),
        "tech-lead": (
            ["experiments/**", "requirements*.txt"],
            ["experiments/adamw.yaml", "requirements.txt"],
        ),
    }
    assert list(dict.fromkeys(r for route in routing.reviewers for r in route.rules)) == [
        "(default)",
        "src/data/**",
        "experiments/**",
        "requirements*.txt",
    ]


def test_last_match_wins_per_file_and_an_empty_list_un_owns() -> None:
    section = {
        "default": ["@lead"],
        "last_match_wins": True,
        "by_path": {"src/**": ["core"], "src/data/**": ["data-team"], "src/data/generated/**": []},
    }
    ruleset = rules(section)
    files = ["src/app.py", "src/data/load.py", "src/data/generated/x.py"]
    routing = route(ruleset, files)
    assert {f: [r.pattern for r in rs] for f, rs in routing.files.items()} == {
        "src/app.py": ["src/**"],
        "src/data/generated/x.py": ["src/data/generated/**"],
        "src/data/load.py": ["src/data/**"],
    }
    assert labels(ruleset, files) == {
        "lead": (["(default)"], []),
        "core": (["src/**"], ["src/app.py"]),
        "data-team": (["src/data/**"], ["src/data/load.py"]),
    }
    union = labels(rules({**section, "last_match_wins": False}), files)
    assert union["core"] == (["src/**"], sorted(files))


def test_a_reviewer_named_twice_is_asked_once() -> None:
    ruleset = rules({"default": ["Alice"], "by_path": {"src/**": ["@alice", "alice"]}})
    assert labels(ruleset, ["src/x.py"]) == {"Alice": (["(default)", "src/**"], ["src/x.py"])}


# --- who to ask ---------------------------------------------------------------------------------


def test_the_author_other_orgs_requested_and_reviewed_are_not_asked() -> None:
    section = {
        "default": ["Alice", "bob", "carol", "dave", "acme/ml", "other/team", "data-team"],
    }
    ruleset = rules(section)
    decisions = decide(
        route(ruleset, []),
        ruleset,
        author="alice",
        owner="acme",
        requested=["bob", "acme/data-team"],
        reviewed=["Carol"],
    )
    assert {d.route.reviewer.label: d.status for d in decisions} == {
        "Alice": Status.AUTHOR,
        "bob": Status.ALREADY_REQUESTED,
        "carol": Status.ALREADY_REVIEWED,
        "dave": Status.REQUEST,
        "acme/ml": Status.REQUEST,
        "other/team": Status.OTHER_ORG,
        "data-team": Status.ALREADY_REQUESTED,
    }


def _picked(ruleset: RuleSet, files: list[str], branch: str, **kwargs: Any) -> list[str]:
    decisions = decide(route(ruleset, files), ruleset, branch=branch, **kwargs)
    return [d.route.reviewer.label for d in decisions if d.status is Status.REQUEST]


def test_max_reviewers_is_deterministic_per_branch_and_varies_between_branches() -> None:
    ruleset = rules({"default": [f"user{i}" for i in range(8)], "max_reviewers": 2})
    picks = {branch: _picked(ruleset, [], branch) for branch in (f"b{i}" for i in range(20))}
    assert all(len(p) == 2 for p in picks.values())
    assert picks["b1"] == _picked(ruleset, [], "b1")
    assert len({tuple(p) for p in picks.values()}) > 1


def test_max_reviewers_covers_each_matched_rule_first_and_counts_those_already_asked() -> None:
    section = {
        "by_path": {"src/**": [f"dev{i}" for i in range(6)], "docs/**": ["writer"]},
        "max_reviewers": 2,
    }
    ruleset = rules(section)
    for branch in ("a", "b", "c", "d"):
        picked = _picked(ruleset, ["src/x.py", "docs/y.md"], branch)
        assert len(picked) == 2 and "writer" in picked, branch
    assert _picked(ruleset, ["src/x.py", "docs/y.md"], "a", requested=["dev3"]) == ["writer"]
    assert _picked(ruleset, ["src/x.py"], "a", requested=["dev3", "dev4"]) == []


@pytest.mark.parametrize(
    ("title", "draft", "reason"),
    [
        ("Add attention", False, None),
        ("Add attention", True, "it is a draft (pr.reviewers.skip_draft)"),
        ("[WIP] Add attention", False, "its title contains 'WIP'"),
        ("wip: attention", False, "its title contains 'WIP'"),
        ("Wipe the cache", False, None),
        ("Do not review: experiment", False, "its title contains 'DO NOT REVIEW'"),
        ("Reviewed notes", False, None),
        ("DO NOT REVIEW - experiment", False, "its title contains 'DO NOT REVIEW'"),
    ],
)
def test_drafts_and_title_keywords_are_skipped(title: str, draft: bool, reason: str | None) -> None:
    ruleset = rules({"skip_title_keywords": ["WIP", "DO NOT REVIEW"]})
    found = skip_reason(ruleset, title=title, draft=draft)
    if reason is None:
        assert found is None
    else:
        assert found is not None and found.startswith(reason)


def test_drafts_are_routed_when_skip_draft_is_off() -> None:
    assert skip_reason(rules({"skip_draft": False}), title="x", draft=True) is None


def test_closed_pull_requests_are_skipped() -> None:
    assert skip_reason(rules({}), title="x", draft=False, closed=True) == "it is closed"


# --- validate -------------------------------------------------------------------------------------


def test_lint_reports_patterns_that_match_nothing_shadowed_rules_and_unused_groups() -> None:
    section = {
        "last_match_wins": True,
        "groups": {"unused": ["alice"]},
        "by_path": {"src/data/**": ["data-team"], "src/**": ["core"], "srv/**": ["ops"]},
    }
    ruleset = rules(section)
    findings = lint(ruleset, ["src/data/a.py", "src/app.py"], at)
    assert [(f.code, f.path, f.severity) for f in findings] == [
        (REV102, ".claudio.yaml:pr.reviewers.by_path.src/data/**", Severity.WARNING),
        (REV101, ".claudio.yaml:pr.reviewers.by_path.srv/**", Severity.WARNING),
        (REV104, ".claudio.yaml:pr.reviewers.groups.unused", Severity.WARNING),
    ]
    assert "shadowed" in findings[0].message and "src/**" in findings[0].message
    union = rules({**section, "last_match_wins": False})
    assert [f.code for f in lint(union, ["src/data/a.py", "src/app.py"])] == [
        REV101,
        REV104,
    ]


# --- CODEOWNERS ---------------------------------------------------------------------------------


def codeowners_owners(text: str, path: str) -> set[str]:
    """What GitHub would request for `path`: the owners of the last matching line, as read
    back by the CODEOWNERS reader."""
    lines, problems = co.parse(text)
    assert problems == []
    return next(
        (set(line.owners) for line in reversed(lines) if line.pattern.regex.match(path)), set()
    )


@pytest.mark.parametrize(
    ("last_match_wins", "syntax"),
    [(False, "codeowners"), (True, "codeowners"), (False, "gitignore"), (True, "gitignore")],
)
def test_codeowners_requests_the_same_reviewers_for_every_tracked_file(
    last_match_wins: bool, syntax: str
) -> None:
    section = {
        "default": ["@lead"],
        "last_match_wins": last_match_wins,
        "syntax": syntax,
        "by_path": {
            **SEED["by_path"],
            "src/data/gen[0-9]/**": [],
            "experiments/test.yaml": ["acme/ci"],
            "notebooks/scratch/**": [],
            "docs/*": ["writer"],
        },
    }
    ruleset = rules(section)
    tracked = [
        "README.md",
        "requirements.txt",
        "requirements-dev.txt",
        "src/data/dataset.py",
        "src/data/gen1/x.py",
        "src/data/gen[0-9]/x.py",
        "src/models/baseline.py",
        "experiments/test.yaml",
        "experiments/baseline.yaml",
        "notebooks/scratch/a b.py",
        "notebooks/eda.ipynb",
        "docs/a.md",
        "docs/sub/b.md",
        "docs/#1 [draft] !x*?.md",
    ]
    text, findings = codeowners(ruleset, tracked, at, syntax=syntax)
    routing = route(ruleset, tracked)
    for path, applying in routing.files.items():
        expected = {"@lead"} | {f"@{r.label}" for rule in applying for r in rule.reviewers}
        assert codeowners_owners(text, path) == expected, path
    assert text.startswith("# Generated by `claudio-ci reviewers codeowners`")
    assert "\n* @lead\n" in text
    assert "\nsrc/data/** @lead @data-team\n" in text
    codes = [f.code for f in findings]
    assert codes.count(REV202) == int(last_match_wins and syntax == "gitignore")
    assert codes.count(REV201) == 5  # data-team, ml-team, ... written as users


def test_codeowners_lists_files_that_several_rules_route_only_in_union_mode() -> None:
    tracked = ["experiments/a.yaml", "requirements.txt"]
    union, _ = codeowners(
        rules({"by_path": {"**/*.yaml": ["ml"], "experiments/**": ["lead"]}}), tracked
    )
    assert union.endswith(
        "# last match, and an empty line of owners un-owns.\n/experiments/a.yaml @lead @ml\n"
    )
    ordered, _ = codeowners(
        rules(
            {"last_match_wins": True, "by_path": {"**/*.yaml": ["ml"], "experiments/**": ["lead"]}}
        ),
        tracked,
    )
    assert "one by one" not in ordered and "/experiments/a.yaml" not in ordered


def test_generated_lines_escape_literal_names() -> None:
    assert co.escape_path("a b/#1 [x] !y*?.md") == "/a\\ b/?1\\ \\[x\\]\\ \\!y\\*\\?.md"
    assert co.written("/apps/[slug]/a b.tsx") == "/apps/\\[slug\\]/a\\ b.tsx"
    name = "docs/#1 [draft] !x*?.md"
    pattern = co.compile_pattern(co.escape_path(name))
    assert pattern.regex.match(name)
    assert not pattern.regex.match("docs/#1 [draft] !xyz.md")


def test_a_hash_is_never_written_escaped_because_github_reads_a_comment() -> None:
    """hmarr/codeowners (checked against GitHub) ends the line at any `#`, escaped or not."""
    assert co.escape_path("docs/#1.md") == "/docs/?1.md"
    assert co.escape_path("a\nb\rc") == "/a?b?c"
    assert co.written("docs/#*") == "docs/?*"
    lines, problems = co.parse("docs/a#b.md @x\n/a\\#b @y\n")
    assert [(line.pattern.text, line.owners) for line in lines] == [("docs/a", ())]
    assert [p.number for p in problems] == [2]


@pytest.mark.parametrize("other", [None, "docs/x1.md"])
def test_a_name_written_with_a_wildcard_says_which_other_files_it_matches(
    other: str | None,
) -> None:
    tracked = ["docs/#1.md", "docs/a\nb.md", *([other] if other else [])]
    section = {"by_path": {"docs/**": ["writer"], "**/*.md": ["editor"]}}
    text, findings = codeowners(rules(section), tracked, at)
    assert "\\#" not in text
    for path in tracked:
        assert codeowners_owners(text, path) == {"@writer", "@editor"}, path
    wildcard = [f for f in findings if "cannot write" in f.message]
    if other is None:
        assert wildcard == []
    else:
        (finding,) = wildcard
        assert finding.code == REV202
        assert finding.severity is Severity.WARNING
        assert "'docs/#1.md'" in finding.message and "'docs/x1.md'" in finding.message


# --- the REV family is spelled in one place ---------------------------------------------


def test_the_reviewers_package_reports_the_whole_rev_family_from_the_registry() -> None:
    """Every registered REV code is reported by reviewers/ through the registry's constant,
    and no module spells a REV code itself (core/codes.py is the one place)."""
    package = Path(rules_module.__file__).parent.parent
    reviewers = (package / "reviewers").rglob("*.py")
    used = {word for path in reviewers for word in re.findall(r"\bREV\d{3}\b", path.read_text())}
    assert used >= {code for code in CODES if code.startswith("REV")}
    literal = re.compile(r"""["']REV\d{3}["']""")
    elsewhere = [
        str(path.relative_to(package))
        for path in sorted(package.rglob("*.py"))
        if path != package / "core" / "codes.py" and literal.search(path.read_text())
    ]
    assert elsewhere == []
