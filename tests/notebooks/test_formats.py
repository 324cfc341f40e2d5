"""Pairing formats parsed without jupytext agree with jupytext's own parsing and paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from jupytext.formats import long_form_multiple_formats, short_form_one_format
from jupytext.paired_paths import InconsistentPath, find_base_path_and_format, paired_paths

from claudio_ci.notebooks.formats import Format, PairingFormats

pytestmark = pytest.mark.filterwarnings("ignore:The `bare` format:DeprecationWarning")

FORMATS = [
    "ipynb,py:percent",
    "ipynb,md:myst",
    "ipynb,md",
    "notebook,markdown",
    "ipynb,myst",
    "ipynb,R:percent",
    "ipynb,py:light",
    "ipynb,py:percent,md:myst",
    "py:percent,ipynb",
    "ipynb,_light.py:light",
    "ipynb,.pct.py:percent",
    "ipynb,py:bare",
    "ipynb,jl:percent",
    "ipynb,Rmd",
    "ipynb,qmd",
]
PATHS = [
    "notebooks/eda.ipynb",
    "notebooks/eda.py",
    "notebooks/sub dir/été 📈.ipynb",
    "notebooks/eda_light.py",
    "notebooks/eda.pct.py",
    "notebooks/eda.md",
    "notebooks/eda.R",
    "notebooks/eda.Rmd",
    "notebooks/eda.qmd",
    "notebooks/eda.jl",
    "notebooks/eda.txt",
    "eda.ipynb",
]


@pytest.mark.parametrize("formats", FORMATS)
def test_short_forms_are_jupytext_short_forms(formats: str) -> None:
    ours = [f.short for f in PairingFormats.parse(formats).formats]
    assert ours == [short_form_one_format(f) for f in long_form_multiple_formats(formats)]


@pytest.mark.parametrize("formats", FORMATS)
def test_long_forms_are_jupytext_long_forms(formats: str) -> None:
    ours = [f.to_jupytext() for f in PairingFormats.parse(formats).formats]
    assert ours == long_form_multiple_formats(formats)


def _jupytext_members(path: str, formats: str) -> list[str] | None:
    long_forms = long_form_multiple_formats(formats)
    try:
        _, fmt = find_base_path_and_format(path, long_forms)
        pairs = paired_paths(path, fmt, long_forms)
    except InconsistentPath:
        return None
    return sorted(alt for alt, _ in pairs)


@pytest.mark.parametrize("formats", FORMATS)
def test_twin_paths_are_the_paths_jupytext_pairs(formats: str, tmp_path: Path) -> None:
    pairing = PairingFormats.parse(formats)
    for path in PATHS:
        members = pairing.members(path, tmp_path)
        ours = None if members is None else sorted(m.path for m in members)
        assert ours == _jupytext_members(path, formats), (formats, path)
        if members is not None:
            assert members[0].format.is_notebook


def test_prefixed_formats_are_resolved_by_jupytext(tmp_path: Path) -> None:
    pairing = PairingFormats.parse("notebooks///ipynb,scripts///py:percent")
    members = pairing.members("notebooks/eda/one.ipynb", tmp_path)
    assert members is not None
    assert [m.path for m in members] == ["notebooks/eda/one.ipynb", "scripts/eda/one.py"]
    assert pairing.members("scripts/eda/one.py", tmp_path) == members
    assert pairing.members("elsewhere/one.py", tmp_path) is None


def test_same_pairing_ignores_order_and_aliases() -> None:
    configured = PairingFormats.parse("ipynb,md:myst")
    assert configured.same_pairing(PairingFormats.parse("myst,notebook"))
    assert not configured.same_pairing(PairingFormats.parse("ipynb,md"))
    assert not PairingFormats.parse("ipynb,py:percent").same_pairing(
        PairingFormats.parse("ipynb,py:light")
    )


@pytest.mark.parametrize(
    ("formats", "reason"),
    [
        ("py:percent", "must pair one ipynb with text formats"),
        ("ipynb", "must pair one ipynb with text formats"),
        ("ipynb,ipynb,py", "must pair one ipynb with text formats"),
        ("ipynb,py:percent,py:light", "gives two formats the same file name"),
        ("ipynb,auto:percent", "names no file extension"),
        ("ipynb,script", "names no file extension"),
    ],
)
def test_unusable_pairings_are_refused(formats: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        PairingFormats.parse(formats)


def test_format_round_trips_through_jupytext_long_form() -> None:
    fmt = Format.parse("nb/_x.py:percent")
    assert fmt == Format(".py", "percent", "_x", "nb")
    assert Format.from_jupytext(fmt.to_jupytext()) == fmt
