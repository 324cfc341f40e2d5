"""One filter silences findings of every check: config codes, per-file globs, comments."""

from __future__ import annotations

from claudio_ci.core.findings import Finding, Severity
from claudio_ci.core.settings import ExperimentsSection, build
from claudio_ci.core.suppress import Suppressions, filter_findings

TEXT = """\
a: 1  # claudio-ci: ignore[NB101, EXP301]
b: 2  # claudio-ci: ignore
c: 3
"""


def _codes(findings: list[Finding], rules: Suppressions, text: str | None = TEXT) -> list[str]:
    kept = filter_findings(findings, rules, lambda path: text if path == "x.yaml" else None)
    return [f"{f.path}:{f.line}:{f.code}" for f in kept]


FINDINGS = [
    Finding("x.yaml", "NB101", "m", 1),
    Finding("x.yaml", "NB102", "m", 1),
    Finding("x.yaml", "CONF7", "m", 2),
    Finding("x.yaml", "EXP301", "m", 3),
    Finding("y.yaml", "EXP301", "m", 1),
    Finding("sibling worktree /elsewhere", "EXP503", "m", 0),
]


def test_inline_comments_silence_the_codes_they_name_on_their_line() -> None:
    assert _codes(FINDINGS, Suppressions()) == [
        "x.yaml:1:NB102",
        "x.yaml:3:EXP301",
        "y.yaml:1:EXP301",
        "sibling worktree /elsewhere:0:EXP503",
    ]


def test_config_codes_and_prefixes_and_per_file_globs() -> None:
    rules = Suppressions.from_section(
        build(
            ExperimentsSection, {"ignore": ["EXP5", "NB102"], "per_file_ignores": {"y.*": ["EXP"]}}
        )
    )
    assert _codes(FINDINGS, rules, text="") == [
        "x.yaml:1:NB101",
        "x.yaml:2:CONF7",
        "x.yaml:3:EXP301",
    ]


def test_a_file_wide_comment() -> None:
    text = "# claudio-ci: ignore-file[EXP301]\n"
    assert _codes(FINDINGS[3:5], Suppressions(), text) == ["y.yaml:1:EXP301"]


def test_a_malformed_marker_silences_nothing_and_is_a_notice() -> None:
    findings = [Finding("x.yaml", "EXP301", "m", n) for n in (1, 2, 3, 4)]
    text = (
        "a: 1  # claudio-ci: ignore[EXP301\n"
        "b: 2  # claudio-ci: ignore[exp301]\n"
        "c: 3  # claudio-ci: ignor\n"
        "d: 4  # claudio-ci: ignore[EXP301] # why: legacy\n"
    )
    kept = filter_findings(findings, Suppressions(), lambda path: text)
    assert [(f.line, f.code) for f in kept] == [
        (1, "EXP301"),
        (2, "EXP301"),
        (3, "EXP301"),
        (1, "CFG005"),
        (2, "CFG005"),
        (3, "CFG005"),
    ]
    assert {f.severity for f in kept if f.code == "CFG005"} == {Severity.NOTICE}
    assert "ignore[EXP301" in kept[3].message


def test_a_marker_inside_a_quoted_value_is_not_a_comment() -> None:
    findings = [Finding("x.yaml", "EXP301", "m", n) for n in (1, 2, 3)]
    text = (
        "a: 'x # claudio-ci: ignore'\n"
        'b: "y # claudio-ci: ignore[EXP301]"\n'
        "c: it's # claudio-ci: ignore[EXP3]\n"
    )
    kept = filter_findings(findings, Suppressions(), lambda path: text)
    assert [(f.line, f.code) for f in kept] == [(1, "EXP301"), (2, "EXP301")]
