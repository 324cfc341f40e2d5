"""GitHub's CODEOWNERS, as GitHub documents it: what each pattern owns, and the file itself.

The table is written from GitHub's "About code owners" page (its example file and the
warnings under it) and the behaviour issue #15 describes; each group names its source.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from claudio_ci.core.settings import ReviewersSection, build
from claudio_ci.reviewers import codeowners as co
from claudio_ci.reviewers.rules import load_rules, route

# pattern -> (paths it owns, paths it does not own)
TABLE: dict[str, tuple[list[str], list[str]]] = {
    # "These owners will be the default owners for everything in the repo."
    "*": (["README.md", "src/a.py", "a/b/c/d.txt", ".github/workflows/ci.yml", "x"], []),
    # "*.js": any JavaScript file, at any depth.
    "*.js": (
        ["app.js", "src/app.js", "a/b/c/app.js", ".js", "src/min.test.js"],
        ["app.jsx", "app.js.map", "app.JS", "src/app.ts", "js"],
    ),
    "*.go": (["main.go", "cmd/x/main.go"], ["main.golden", "go.mod", "main.Go"]),
    # "/build/logs/": the directory at the root and any of its subdirectories.
    "/build/logs/": (
        ["build/logs/a.log", "build/logs/2024/01/b.log"],
        ["build/logs", "src/build/logs/a.log", "build/log/a.log", "Build/logs/a.log"],
    ),
    # "docs/*": docs/getting-started.md, not docs/build-app/troubleshooting.md.
    "docs/*": (
        ["docs/getting-started.md", "docs/a", "docs/.nojekyll"],
        ["docs/build-app/troubleshooting.md", "src/docs/a.md", "docs", "Docs/a.md", "docsx/a"],
    ),
    # "apps/": an apps directory anywhere in the repository.
    "apps/": (
        ["apps/a.js", "src/apps/a.js", "a/b/apps/c/d.js"],
        ["apps", "myapps/a.js", "src/apps", "Apps/a.js"],
    ),
    # "/docs/": the docs directory at the root and its subdirectories.
    "/docs/": (["docs/a.md", "docs/a/b/c.md"], ["src/docs/a.md", "docs", "docs.md"]),
    "/scripts/": (["scripts/deploy.sh"], ["tools/scripts/x.sh", "scripts.sh"]),
    # "**/logs": any file in a logs directory: /build/logs, /scripts/logs, /deeply/nested/logs.
    "**/logs": (
        ["build/logs/a", "scripts/logs/b", "deeply/nested/logs/c", "logs/d", "logs"],
        ["build/logs2/a", "catalogs/a", "build/Logs/a"],
    ),
    # "/apps/github": a directory (or a file) anchored at the root.
    "/apps/github": (["apps/github", "apps/github/a.js", "apps/github/b/c.js"], ["apps/githubx"]),
    # "/*": the files at the top level only (issue #15; gitignore owns everything).
    "/*": (["README.md", "setup.py", ".gitignore"], ["src/a.py", "docs/a.md", "a/b/c"]),
    # A single name, no slash: at any depth, as a file or as a directory.
    "Makefile": (["Makefile", "src/Makefile", "Makefile/x"], ["makefile", "Makefile.am"]),
    "data": (["data", "data/x.csv", "src/data/y.csv"], ["database.py", "src/database/x"]),
    # A slash inside anchors at the root.
    "src/data": (["src/data", "src/data/x.py", "src/data/a/b.py"], ["lib/src/data/x.py"]),
    "src/data/**": (
        ["src/data/x.py", "src/data/a/b/c.py"],
        ["src/data", "lib/src/data/x.py", "src/database.py"],
    ),
    # `*` inside a segment: any run of characters but a slash; the segment may then be a
    # directory whose files it owns (only a last segment that is exactly `*` stops there).
    "docs/*.md": (
        ["docs/index.md", "docs/.md", "docs/a.md/b.txt"],
        ["docs/api/x.md", "docs/index.mdx", "src/docs/x.md"],
    ),
    "src/da*": (["src/data/x.py", "src/da", "src/dataset.py"], ["src/d", "lib/src/data.py"]),
    "requirements*.txt": (
        ["requirements.txt", "requirements-dev.txt", "deps/requirements-gpu.txt"],
        ["requirements.in", "dev-requirements.txt"],
    ),
    "*a*": (["a", "data/x", "x/y/za"], ["b/c", "B"]),
    "**/*ata*": (["data/x", "src/metadata.py", "x/y/atas"], ["src/dat.py", "DATA/x"]),
    # `?`: one character, never a slash.
    "file?.py": (["file1.py", "src/fileA.py"], ["file10.py", "file.py", "file/.py"]),
    "/a?c": (["abc", "a-c/x"], ["a/c", "ac", "xabc"]),
    # `**` spans zero or more directories.
    "a/**/b": (["a/b", "a/x/b", "a/x/y/b", "a/x/b/c"], ["b", "x/a/b", "a/xb", "ab"]),
    "**/tests/**": (["tests/a.py", "src/tests/a.py", "a/b/tests/c/d.py"], ["tests", "tests.py"]),
    "/**": (["a", "a/b/c"], []),
    "**": (["a", "a/b/c"], []),
    "src/**/x.py": (["src/x.py", "src/a/x.py", "src/a/b/x.py"], ["x.py", "lib/src/x.py"]),
    "src/*/x.py": (["src/a/x.py"], ["src/x.py", "src/a/b/x.py"]),
    "src/*": (["src/a.py", "src/b"], ["src/a/b.py", "src"]),
    "/src/*/": (["src/a/b.py", "src/a/b/c.py"], ["src/a.py", "src/a"]),
    # `[` and `]` are literal: a character range does not work (Next.js paths hold them).
    "/apps/[slug]/page.tsx": (
        ["apps/[slug]/page.tsx"],
        ["apps/s/page.tsx", "apps/slug/page.tsx", "apps/g/page.tsx"],
    ),
    "*.[ch]": (["x.[ch]", "src/y.[ch]"], ["x.c", "x.h", "x.ch"]),
    "pages/[id]/": (["pages/[id]/a.tsx"], ["pages/i/a.tsx", "pages/id/a.tsx"]),
    "gen[0-9]": (["gen[0-9]", "x/gen[0-9]/y"], ["gen1", "x/gen5/y"]),
    # A backslash keeps the next character literal (a space, a star, a bracket).
    "my\\ docs/": (["my docs/a.md", "x/my docs/b.md"], ["my/docs/a.md", "mydocs/a.md"]),
    "/a\\*b": (["a*b", "a*b/c"], ["axb", "ab"]),
    "/a\\?b": (["a?b"], ["axb"]),
    "/apps/\\[slug\\]/": (["apps/[slug]/page.tsx"], ["apps/s/page.tsx"]),
    # Case-sensitive, always.
    "/README.md": (["README.md"], ["readme.md", "Readme.md", "docs/README.md"]),
    "*.PNG": (["a.PNG"], ["a.png"]),
    # Dots and other regex characters are literal.
    "*.py": (["a.py", "x/.py"], ["apy", "a.pyc", "a.py~"]),
    "/a+b(c)": (["a+b(c)", "a+b(c)/d"], ["aab(c)", "a+bc"]),
    "/a.b": (["a.b"], ["axb"]),
    "$HOME": (["$HOME", "x/$HOME"], ["HOME"]),
    # A trailing slash: a directory's files, never a file of that name.
    "logs/": (["logs/a", "x/logs/a"], ["logs", "x/logs", "logsa/b"]),
    "/logs/": (["logs/a"], ["x/logs/a", "logs"]),
}


# Patterns GitHub does not accept: "There are some syntax rules for gitignore files that do
# not work in CODEOWNERS files" (escaping a leading `#`, `!` negation), plus the empty ones.
def typed(section: Mapping[str, Any]) -> ReviewersSection:
    """A `pr.reviewers` section from plain data, with no title keywords unless it names some."""
    return build(ReviewersSection, {"skip_title_keywords": [], **section})


INVALID = ["!src/", "!*.py", "\\#notes.md", "#comment", "", "   ", "/", "a/***/b", "a\\"]

CASES = [
    (pattern, path, owned)
    for pattern, (yes, no) in TABLE.items()
    for owned, paths in ((True, yes), (False, no))
    for path in paths
]


def test_the_table_is_large() -> None:
    assert len(CASES) >= 150


@pytest.mark.parametrize(("pattern", "path", "owned"), CASES)
def test_a_pattern_owns_what_github_says(pattern: str, path: str, owned: bool) -> None:
    compiled = co.compile_pattern(pattern)
    assert (compiled.regex.match(path) is not None) is owned


@pytest.mark.parametrize(("pattern", "path", "owned"), CASES)
def test_by_path_means_the_same_by_default(pattern: str, path: str, owned: bool) -> None:
    """`pr.reviewers.by_path` speaks CODEOWNERS, through the prefix and literal-run index."""
    ruleset, findings = load_rules(typed({"by_path": {pattern: ["alice"]}}))
    assert findings == []
    assert bool(route(ruleset, [path]).files[path]) is owned


@pytest.mark.parametrize(("pattern", "path", "owned"), CASES)
def test_a_codeowners_line_means_the_same(pattern: str, path: str, owned: bool) -> None:
    line = f"{co.written(pattern)} @alice\n"
    ruleset, findings = load_rules(typed({}), codeowners_file=("CODEOWNERS", line))
    assert findings == []
    assert bool(route(ruleset, [path]).files[path]) is owned


@pytest.mark.parametrize("pattern", INVALID)
def test_what_github_rejects_is_invalid(pattern: str) -> None:
    with pytest.raises(ValueError):
        co.compile_pattern(pattern)


# --- the file -------------------------------------------------------------------------------

FILE = """\
# Owners of everything, unless a later line says otherwise.
*                       @acme/core

/apps/                  @octocat
/apps/github                                # un-owned: no owners
docs/*                  docs@example.com @writer
/my\\ dir/              @alice   # a comment after the owners
!negated                @nobody
/apps/[slug]/           @nobody
src/ok.py               not-an-owner
*.md                    @writer
*.md                    @editor
"""


def test_the_file_keeps_order_line_numbers_emails_and_owner_less_lines() -> None:
    lines, problems = co.parse(FILE)
    assert [(line.number, line.pattern.text, line.owners) for line in lines] == [
        (2, "*", ("@acme/core",)),
        (4, "/apps/", ("@octocat",)),
        (5, "/apps/github", ()),
        (6, "docs/*", ("docs@example.com", "@writer")),
        (7, "/my\\ dir/", ("@alice",)),
        (11, "*.md", ("@writer",)),
        (12, "*.md", ("@editor",)),
    ]
    assert [p.number for p in problems] == [8, 9, 10]
    assert "negation" in problems[0].message and "not an owner" in problems[2].message
    assert "`[` and `]` must be escaped" in problems[1].message


def test_the_last_matching_line_wins_and_an_owner_less_line_un_owns() -> None:
    ruleset, findings = load_rules(typed({}), codeowners_file=(".github/CODEOWNERS", FILE))
    assert [(f.code, f.path, f.line) for f in findings] == [
        ("REV010", ".github/CODEOWNERS", 8),
        ("REV010", ".github/CODEOWNERS", 9),
        ("REV010", ".github/CODEOWNERS", 10),
    ]
    files = ["apps/a.js", "apps/github/b.js", "docs/a.txt", "docs/x.md", "my dir/f", "lib.py"]
    routing = route(ruleset, files)
    owners = {
        path: [(r.line, [o.label for o in r.reviewers]) for r in rules]
        for path, rules in routing.files.items()
    }
    assert owners == {
        "apps/a.js": [(4, ["octocat"])],
        "apps/github/b.js": [(5, [])],
        "docs/a.txt": [(6, ["docs@example.com", "writer"])],
        "docs/x.md": [(12, ["editor"])],
        "lib.py": [(2, ["acme/core"])],
        "my dir/f": [(7, ["alice"])],
    }
    names = {r.reviewer.label: r.rules for r in routing.reviewers}
    assert names["editor"] == [".github/CODEOWNERS:12 *.md"]
    assert "writer" in names and "octocat" in names


@pytest.mark.parametrize("owners", ["@bad!name", "@good @bad!name", "@org/", "@a/b/c", "@-x"])
def test_a_line_with_an_invalid_owner_is_skipped_and_earlier_owners_stay(owners: str) -> None:
    """GitHub skips the whole line (all its owners) when one owner is invalid."""
    text = f"* @global\n*.js {owners}\n"
    ruleset, findings = load_rules(typed({}), codeowners_file=("CODEOWNERS", text))
    assert [(f.code, f.line) for f in findings] == [("REV010", 2)]
    assert "GitHub skips this line" in findings[0].message
    routing = route(ruleset, ["a.js"])
    assert [[o.label for o in r.reviewers] for r in routing.files["a.js"]] == [["global"]]


@pytest.mark.parametrize(
    "owner",
    [
        "@octocat", "@app[bot]", "@acme/core", "@acme/data_team.v2", "me@example.com",
        "@bad!name", "@org/", "@a/b/c", "@-x", "x-", "octocat", "@", "@acme/-", "@a_b",
    ],
)  # fmt: skip
def test_one_owner_validator_for_the_file_and_the_reviewers(owner: str) -> None:
    """What `parse` keeps, the reviewers check can read: no owner passes one and fails the other."""
    from claudio_ci.reviewers.rules import parse_owner

    lines, problems = co.parse(f"* {owner}\n")
    try:
        parse_owner(owner)
        read = True
    except ValueError:
        read = False
    assert bool(lines) == read == (co.owner_error(owner) is None)
    assert bool(problems) != read


NAMES_ENDING_IN_WHITESPACE = ["ab ", "ab\t", "a b  ", "x/ y \t", "ab\\ ", " lead "]


@pytest.mark.parametrize("name", NAMES_ENDING_IN_WHITESPACE, ids=repr)
def test_an_escaped_trailing_space_or_tab_is_part_of_the_name(name: str) -> None:
    written = co.escape_path(name)
    pattern = co.compile_pattern(written)
    assert pattern.regex.match(name)
    assert not pattern.regex.match(name.rstrip())
    for text in (f"{written} @owner\n", f"{written}\n", f"  {written}\t \n"):
        lines, problems = co.parse(text)
        assert problems == []
        assert [line.pattern.regex.match(name) is not None for line in lines] == [True]
    assert co.written(written) == written


def test_an_unescaped_trailing_space_still_ends_the_pattern() -> None:
    assert co.compile_pattern("/ab ").regex.match("ab")
    assert co.compile_pattern("/ab\\\\ ").regex.match("ab\\")  # an escaped backslash, then space


def test_generated_codeowners_names_files_ending_in_whitespace_exactly() -> None:
    """Files two rules route (union mode) are listed one by one: their names, trailing
    spaces and tabs included, must read back as the same files."""
    from claudio_ci.reviewers.rules import codeowners

    tracked = [f"experiments/{name}" for name in NAMES_ENDING_IN_WHITESPACE] + ["experiments/ab"]
    section = {"by_path": {"experiments/**": ["lead"], "**/*": ["ml"]}}
    ruleset, _ = load_rules(typed(section))
    text, _ = codeowners(ruleset, tracked)
    lines, problems = co.parse(text)
    assert problems == []
    for path in tracked:
        last = next(line for line in reversed(lines) if line.pattern.regex.match(path))
        assert set(last.owners) == {"@lead", "@ml"}, path
        assert sum(bool(line.pattern.regex.match(path)) for line in lines) == 3, path
