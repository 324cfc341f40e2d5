"""yamlfile.py: YAML data with the 1-based line and column of every key and value."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest
import yaml

from claudio_ci.core.yamlfile import (
    MAX_DEPTH,
    YamlError,
    json_path,
    load_yaml_file,
    parse_yaml,
)

EXPERIMENT = """\
# an experiment config
model:
  name: baseline
  layers: [64, 32]
training:
  epochs: 3
  schedule:
    - {lr: 0.1, until: 2}
    - lr: 0.01
empty:
"""


@pytest.mark.parametrize(
    ("path", "key", "expected"),
    [
        (("model",), True, (2, 1)),
        (("model",), False, (3, 3)),
        (("model", "name"), True, (3, 3)),
        (("model", "name"), False, (3, 9)),
        (("model", "layers"), False, (4, 11)),
        (("model", "layers", 1), False, (4, 16)),
        (("training", "schedule", 0, "lr"), True, (8, 8)),
        (("training", "schedule", 0, "until"), False, (8, 24)),
        (("training", "schedule", 1, "lr"), False, (9, 11)),
        (("empty",), True, (10, 1)),
    ],
)
def test_positions_of_keys_and_values(
    path: tuple[str | int, ...], key: bool, expected: tuple[int, int]
) -> None:
    assert parse_yaml(EXPERIMENT).position(path, key=key) == expected


@pytest.mark.parametrize(
    ("path", "key", "expected"),
    [
        (("model", "missing"), False, (3, 3)),
        (("model", "missing"), True, (2, 1)),
        (("model", "layers", 7), False, (4, 11)),
        (("nowhere", "at", "all"), False, (2, 1)),
        ((), False, (2, 1)),
    ],
)
def test_a_missing_path_points_at_its_nearest_ancestor(
    path: tuple[str | int, ...], key: bool, expected: tuple[int, int]
) -> None:
    assert parse_yaml(EXPERIMENT).position(path, key=key) == expected


def test_data_is_plain_python() -> None:
    doc = parse_yaml(EXPERIMENT, "exp.yaml")
    assert doc.source == "exp.yaml"
    assert doc.data == {
        "model": {"name": "baseline", "layers": [64, 32]},
        "training": {"epochs": 3, "schedule": [{"lr": 0.1, "until": 2}, {"lr": 0.01}]},
        "empty": None,
    }


@pytest.mark.parametrize(
    ("text", "line", "col", "first_line"),
    [
        ("a: 1\nb: 2\na: 3\n", 3, 1, 1),
        ("model:\n  name: x\n  lr: 1\n  name: y\n", 4, 3, 2),
        ("{a: 1, b: 2, a: 3}\n", 1, 14, 1),
        ("1: 1\n0x1: 2\n", 2, 1, 1),
    ],
)
def test_duplicate_keys_name_both_lines(text: str, line: int, col: int, first_line: int) -> None:
    with pytest.raises(YamlError) as caught:
        parse_yaml(text)
    error = caught.value
    assert (error.code, error.line, error.col) == ("duplicate-key", line, col)
    assert error.message.endswith(f"(first defined on line {first_line})")


def test_duplicate_key_message_names_the_key() -> None:
    with pytest.raises(YamlError, match=r"^duplicate key 'lr' \(first defined on line 2\)$"):
        parse_yaml("x:\n  lr: 1\n  lr: 2\n")


@pytest.mark.parametrize(
    ("text", "line", "col", "message"),
    [
        (
            "a: [1, 2\nb: 3\n",
            2,
            2,
            "did not find expected ',' or ']' (while parsing a flow sequence)",
        ),
        ("a: 1\n b: 2\n", 2, 3, "mapping values are not allowed in this context"),
        ("a: 'open\n", 2, 1, "found unexpected end of stream (while scanning a quoted scalar)"),
        ("a: *nowhere\n", 1, 4, "found undefined alias"),
        ("a:\n\tb: 1\n", 2, 1, "a tab cannot indent YAML; use spaces"),
        ("a: 1\n\t- b\n", 2, 1, "a tab cannot indent YAML; use spaces"),
        ("a: \x00\n", 1, 4, "character #x0000 is not allowed: control characters are not allowed"),
        ("? [a]\n: 1\n", 1, 3, "a mapping key must be a scalar"),
        ("a: !!int twelve\n", 1, 4, "'twelve' is not a valid int"),
        ("a: !!float x\n", 1, 4, "'x' is not a valid float"),
        ("a: 2024-13-45\n", 1, 4, "'2024-13-45' is not a valid timestamp"),
        ("? !!int x\n: 1\n", 1, 3, "'x' is not a valid int"),
        (
            "a: !!python/name:os.system\n",
            1,
            4,
            "could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/name:os.system'",
        ),
    ],
)
def test_syntax_errors_have_a_position_and_one_line(
    text: str, line: int, col: int, message: str
) -> None:
    with pytest.raises(YamlError) as caught:
        parse_yaml(text)
    error = caught.value
    assert (error.code, error.line, error.col, error.message) == ("syntax", line, col, message)
    assert str(error) == message


TAB_TEXTS = [
    "a:\tb\n",
    "epochs: 100\t\nbatch: 32\n",
    "c: [1,\t2]\n",
    "a: 1 \t# comment\n",
    "a: x\t\n",
    "a:\n  b:\tc\n",
    'a: "x\ty"\n',
    "a: |\n  x\ty\n",
    "a: 'x\ty'\n",
    "# a\tcomment\nb: 1\n",
    "a: b\tc\n",
    "a: |\n \tx\n",  # a tab inside a block scalar's text: PyYAML keeps it, libyaml refuses
    "a: |\n  \tx\n",
    "a: >\n \tx\n y\n",
    "a: |\n\tx\n",
]


@pytest.mark.parametrize(
    "text",
    ["a: |#note\n  x\n", "a: >-#c\n  x\n", "a: |2#x\n  x\n", "a: | #ok\n  x\n", "a: 'x|#y'\n"],
)
def test_a_comment_glued_to_a_block_scalar_header_is_read_as_pyyaml_reads_it(text: str) -> None:
    """libyaml accepts `a: |#note`; PyYAML's scanner (safe_load, OmegaConf) does not."""
    try:
        expected = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError:
        with pytest.raises(YamlError):
            parse_yaml(text)
    else:
        assert parse_yaml(text).data == expected


@pytest.mark.parametrize("text", TAB_TEXTS)
def test_tabs_are_errors_exactly_where_pyyaml_safe_load_rejects_them(text: str) -> None:
    """libyaml (the fast reader) accepts tabs between tokens; PyYAML's own scanner, which
    `yaml.safe_load`, OmegaConf and Hydra use, does not: its verdict is the one that counts."""
    try:
        expected = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        assert exc.problem_mark is not None
        with pytest.raises(YamlError) as caught:
            parse_yaml(text)
        assert (caught.value.line, caught.value.col) == (
            exc.problem_mark.line + 1,
            exc.problem_mark.column + 1,
        )
        assert "tab" in caught.value.message
    else:
        assert parse_yaml(text).data == expected


def test_dates_are_read_as_dates() -> None:
    assert parse_yaml("started: 2024-01-31\n").data == {"started": datetime.date(2024, 1, 31)}


def test_several_documents_are_an_error_at_the_second() -> None:
    with pytest.raises(YamlError) as caught:
        parse_yaml("a: 1\n---\nb: 2\n---\nc: 3\n")
    error = caught.value
    assert (error.code, error.line, error.col) == ("multi-document", 3, 1)
    assert error.message == "3 YAML documents in one file; expected one"


def test_one_document_may_start_with_a_marker() -> None:
    assert parse_yaml("---\na: 1\n").data == {"a": 1}


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "~\n"])
def test_an_empty_document_has_no_data(text: str) -> None:
    assert parse_yaml(text).data is None


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("- a\n- b\n", ["a", "b"]),
        ("just a string\n", "just a string"),
        ("42\n", 42),
        ("[{a: 1}]\n", [{"a": 1}]),
    ],
)
def test_a_document_that_is_not_a_mapping_is_returned_as_is(text: str, data: object) -> None:
    doc = parse_yaml(text)
    assert doc.data == data
    assert doc.position(()) == (1, 1)


def test_keys_of_other_types_keep_their_type() -> None:
    data = parse_yaml("1: a\n'1': b\nfalse: c\n").data
    assert data == {1: "a", "1": "b", False: "c"}  # a null key: OmegaConf refuses it


# --- files ------------------------------------------------------------------------------


def test_load_reads_a_file_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT, encoding="utf-8")
    doc = load_yaml_file(path)
    assert doc.source == str(path)
    assert doc.data["model"]["name"] == "baseline"
    assert doc.position(("training", "epochs")) == (6, 11)


@pytest.mark.parametrize(
    ("raw", "line", "col", "byte"),
    [
        (b"a: caf\xe9\n", 1, 7, 0xE9),
        (b"a: 1\nb: \xc3\xa9\xff\n", 2, 5, 0xFF),
        (b"\xef\xbb\xbfa: 1\nb\xfe: 2\n", 2, 2, 0xFE),
        ("a: 1\n".encode("utf-16"), 1, 1, 0xFF),
    ],
)
def test_non_utf8_bytes_are_an_error_at_the_bad_byte(
    raw: bytes, line: int, col: int, byte: int, tmp_path: Path
) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(raw)
    with pytest.raises(YamlError) as caught:
        load_yaml_file(path)
    error = caught.value
    assert (error.code, error.line, error.col) == ("encoding", line, col)
    assert error.message == f"not UTF-8: byte 0x{byte:02x} cannot be decoded"


def test_a_utf8_bom_is_accepted_and_moves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfname: caf\xc3\xa9\nlr: 0.1\n")
    doc = load_yaml_file(path)
    assert doc.data == {"name": "café", "lr": 0.1}
    assert doc.position(("name",), key=True) == (1, 1)
    assert doc.position(("lr",)) == (2, 5)


def test_a_syntax_error_after_a_bom_has_the_same_position(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: [1\n")
    with pytest.raises(YamlError) as caught:
        load_yaml_file(path)
    assert (caught.value.line, caught.value.col) == (2, 1)


@pytest.mark.parametrize(("size", "too_large"), [(10, False), (11, True)])
def test_files_over_the_size_limit_are_refused(size: int, too_large: bool, tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * (size - 4) + "\n", encoding="utf-8")
    assert path.stat().st_size == size
    if not too_large:
        assert load_yaml_file(path, max_bytes=10).data == {"a": "x" * (size - 4)}
        return
    with pytest.raises(YamlError) as caught:
        load_yaml_file(path, max_bytes=10)
    assert caught.value.code == "too-large"
    assert caught.value.message == "file is 11 bytes, over the 10-byte limit for YAML here"


def test_a_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_yaml_file(tmp_path / "missing.yaml")


@pytest.mark.timeout(20)
def test_a_fifo_is_refused_instead_of_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)  # nobody writes to it: reading it would block forever
    with pytest.raises(OSError, match="not a regular file"):
        load_yaml_file(fifo)


# --- anchors, aliases, merge keys -------------------------------------------------------

MERGED = """\
base: &base
  lr: 0.1
  epochs: 3
first:
  <<: *base
  lr: 0.5
second:
  lr: 0.7
  <<: *base
both:
  <<: [*base, {epochs: 9, seed: 1}]
"""


def test_merge_keys_merge_and_own_keys_win() -> None:
    assert parse_yaml(MERGED).data == {
        "base": {"lr": 0.1, "epochs": 3},
        "first": {"lr": 0.5, "epochs": 3},
        "second": {"lr": 0.7, "epochs": 3},
        "both": {"lr": 0.1, "epochs": 3, "seed": 1},
    }


@pytest.mark.parametrize(
    ("path", "key", "expected"),
    [
        (("first", "lr"), False, (6, 7)),
        (("first", "lr"), True, (6, 3)),
        (("second", "lr"), False, (8, 7)),
        (("second", "lr"), True, (8, 3)),
        (("first", "epochs"), False, (3, 11)),
    ],
)
def test_merged_keys_point_at_their_own_line_or_at_the_anchor(
    path: tuple[str, ...], key: bool, expected: tuple[int, int]
) -> None:
    assert parse_yaml(MERGED).position(path, key=key) == expected


@pytest.mark.parametrize("text", ["<<: 5\n", "a: &a [1]\nb:\n  <<: *a\n"])
def test_a_merge_key_must_refer_to_a_mapping(text: str) -> None:
    with pytest.raises(YamlError, match=r"^a merge key \(<<\) must refer to a mapping$"):
        parse_yaml(text)


def test_an_alias_repeats_its_anchor() -> None:
    assert parse_yaml("a: &x [1, 2]\nb: *x\n").data == {"a": [1, 2], "b": [1, 2]}


def test_a_billion_laughs_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    with pytest.raises(YamlError) as caught:
        parse_yaml("\n".join(lines) + "\n")
    assert caught.value.code == "too-large"
    assert "more than 200,000 values" in caught.value.message


def test_the_node_limit_is_configurable() -> None:
    assert parse_yaml("[1, 2]\n", max_nodes=3).data == [1, 2]
    with pytest.raises(YamlError) as caught:
        parse_yaml("[1, 2, 3]\n", max_nodes=3)
    assert caught.value.code == "too-large"


@pytest.mark.parametrize("text", ["a: &a [*a]\n", "a: &a\n  <<: *a\n", "a: &a {b: *a}\n"])
def test_a_recursive_alias_is_refused(text: str) -> None:
    with pytest.raises(YamlError) as caught:
        parse_yaml(text)
    assert caught.value.code == "too-large"
    assert caught.value.message.startswith(f"values nested more than {MAX_DEPTH} levels deep")


@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH + 1, 600])
def test_deep_nesting_is_read_or_refused_but_never_crashes(depth: int) -> None:
    text = "[" * depth + "]" * depth
    if depth < MAX_DEPTH:
        assert parse_yaml(text).data is not None
        return
    with pytest.raises(YamlError) as caught:
        parse_yaml(text)
    assert caught.value.code == "too-large"


# --- json_path --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ((), "$"),
        (("output", "dir"), "$.output.dir"),
        (("layers", 0), "$.layers[0]"),
        (("a", 2, "b", 0), "$.a[2].b[0]"),
    ],
)
def test_json_path(path: tuple[str | int, ...], expected: str) -> None:
    assert json_path(path) == expected


def test_values_omegaconf_reads_differently_are_recorded_beside_pyyamls() -> None:
    """OmegaConf's loader reads YAML 1.2 floats (`1e-3`) and leaves timestamps as text;
    the data keeps PyYAML's reading, `omegaconf_values` OmegaConf's, where they differ."""
    doc = parse_yaml(
        "a: 1e-3\nb: '1e-3'\nc: !!str 1e-3\nd: 2024-01-31\ne: 1.0e3\nf: [1e5, x]\ng: 0.5\n"
    )
    assert doc.data["a"] == "1e-3"
    assert doc.omegaconf_values == {
        ("a",): 0.001,
        ("d",): "2024-01-31",
        ("e",): 1000.0,
        ("f", 0): 100000.0,
    }
    omegaconf = pytest.importorskip("omegaconf")
    loaded = omegaconf.OmegaConf.create(doc_text := "a: 1e-3\nd: 2024-01-31\ne: 1.0e3\n")
    assert {k: loaded[k] for k in "ade"} == {
        k: v for (k,), v in parse_yaml(doc_text).omegaconf_values.items()
    }


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object/apply:eval ['[2**i for i in range(3)]']\n",
        "a: !custom {b: 1}\n",
        "a: !!omap [{x: 1}]\n",
        "a: !!map {x: 1}\n",
    ],
)
def test_a_tag_on_a_collection_is_read_as_safe_load_reads_it(text: str) -> None:
    try:
        yaml.safe_load(text)
    except yaml.YAMLError:
        with pytest.raises(YamlError, match="constructor for the tag"):
            parse_yaml(text)
    else:
        assert isinstance(parse_yaml(text).data["a"], dict | list)


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-01: a\n1e3: b\n",
        "1.5: z\n1_000: x\n",
        "!!str 1e3: q\n",
        "'1e3': r\n",
        "2024-01-01 10:00:00: t\n",
        "a:\n  2024-01-31: x\n  .5e1: y\n",
    ],
)
def test_keys_are_typed_as_omegaconfs_loader_types_them(text: str) -> None:
    omegaconf = pytest.importorskip("omegaconf")
    expected = omegaconf.OmegaConf.to_container(omegaconf.OmegaConf.create(text))
    data = parse_yaml(text).data
    assert data == expected
    assert [type(k) for k in data] == [type(k) for k in expected]


@pytest.mark.parametrize(
    "text",
    [
        "~: val\n",
        "Null: val\n",
        "? \n: 1\n",
        "a: {~: 1}\n",
        "a: !!set {x, y}\n",
        "a: !!timestamp 2024-01-01\n",
        "a: 2024-01-01\n",
        "a: !!omap [{x: 1}]\n",
        "a: !!binary aGVsbG8=\n",
        "null_key: ~\n",
    ],
)
def test_what_omegaconf_refuses_at_load_is_an_error(text: str) -> None:
    omegaconf = pytest.importorskip("omegaconf")
    try:
        omegaconf.OmegaConf.create(text)
    except Exception:
        with pytest.raises(YamlError):
            parse_yaml(text)
    else:
        parse_yaml(text)
