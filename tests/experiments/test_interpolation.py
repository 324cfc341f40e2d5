"""`${...}` references: what resolves, and what is reported where."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from claudio_ci.core.yamlfile import YamlError, parse_yaml
from claudio_ci.experiments import interpolation
from claudio_ci.experiments.interpolation import resolve


def _problems(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    return [(p.path, p.kind) for p in resolve(data, {"experiment_name": "exp"}).problems]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("outputs/${experiment_name}", "outputs/exp"),
        ("${model.name}", "base"),
        ("${model.layers}", [64, 32]),
        ("${model.layers[1]}", 32),
        ("${model.layers.0}/x", "64/x"),
        ("${.sibling}/ckpt", "s/ckpt"),
        ("${..model.name}", "base"),
        ("${model.${output.which}}", "base"),
        ("${model.flag}-${model.none}", "True-None"),
        ("\\${literal}", "${literal}"),
        ("\\\\${model.name}", "\\base"),
        ("no references $ { } here", "no references $ { } here"),
        ("${ model.name }", "base"),
    ],
)
def test_references_resolve(value: str, expected: Any) -> None:
    data = {
        "model": {"name": "base", "layers": [64, 32], "flag": True, "none": None},
        "output": {"sibling": "s", "which": "name", "value": value},
    }
    result = resolve(data, {"experiment_name": "exp"})
    assert result.problems == []
    assert result.data["output"]["value"] == expected
    assert result.is_resolved(("output", "value"))


def test_a_reference_to_a_reference_resolves_through_the_chain() -> None:
    data = {"a": "${b}/a", "b": "${c}/b", "c": "${experiment_name}"}
    assert resolve(data, {"experiment_name": "x"}).data == {"a": "x/b/a", "b": "x/b", "c": "x"}


def test_unknown_key_is_reported_with_a_suggestion() -> None:
    result = resolve({"model": {"name": "n"}, "dir": "out/${model.nmae}"})
    (problem,) = result.problems
    assert (problem.path, problem.kind) == (("dir",), interpolation.UNKNOWN)
    assert problem.message == "${model.nmae} refers to a key that does not exist"
    assert problem.suggestion == "${model.name}"
    assert result.data["dir"] == "out/${model.nmae}"
    assert not result.is_resolved(("dir",))


def test_cycle_is_reported_once_and_both_ends_stay_unresolved() -> None:
    result = resolve({"a": "${b}", "b": "x${a}"})
    assert [(p.path, p.kind) for p in result.problems] == [(("b",), interpolation.CYCLE)]
    assert result.problems[0].message == "circular reference: a -> b -> a"
    assert result.unresolved == {("a",), ("b",)}


def test_a_mapping_that_refers_to_itself_is_a_cycle() -> None:
    assert _problems({"a": {"b": "${a}"}}) == [(("a", "b"), interpolation.CYCLE)]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("out/${model.name", interpolation.MALFORMED),
        ("${}", interpolation.MALFORMED),
        ("${.}", interpolation.MALFORMED),
        ("out/${model}", interpolation.NOT_SCALAR),
        ("${.....x}", interpolation.UNKNOWN),
        ("${model.name.deeper}", interpolation.UNKNOWN),
        ("${oc.env:HOME}", interpolation.RESOLVER),
        ("${oc.env:HOME,${model.name}}", interpolation.RESOLVER),
        ("${now:%Y-%m-%d}", interpolation.RESOLVER),
    ],
)
def test_problems_are_reported_at_the_string_that_has_them(value: str, kind: str) -> None:
    assert _problems({"model": {"name": "n"}, "out": {"dir": value}}) == [(("out", "dir"), kind)]


def test_a_value_that_depends_on_a_failed_one_is_unresolved_but_not_reported_again() -> None:
    data = {"tag": "${oc.env:TAG}", "dir": "out/${tag}", "ok": "${experiment_name}"}
    result = resolve(data, {"experiment_name": "exp"})
    assert [p.path for p in result.problems] == [("tag",)]
    assert result.unresolved == {("tag",), ("dir",)}
    assert result.data["dir"] == "out/${tag}"
    assert result.data["ok"] == "exp"


def test_variables_win_over_keys_of_the_same_name() -> None:
    data = {"experiment_name": "from-config", "dir": "${experiment_name}"}
    assert resolve(data, {"experiment_name": "stem"}).data["dir"] == "stem"


# --- OmegaConf is the judge -------------------------------------------------------------------
#
# A corpus of the project's own writing (every class of the issue: resolvers hiding
# references, malformed references, `???`, references through interpolated nodes, backslash
# runs, `${a.+1}`, non-string nested keys, typed values, non-string keys, real-shaped Hydra
# files). OmegaConf loads each config and resolves it; its verdict (an exception or not) must
# be ours, and every string we call resolved must have OmegaConf's value.

WORLD = """\
model:
  name: resnet
  hidden: 128
  layers: [64, 32, 16]
  flag: true
  none: null
  lr: 1e-3
  lr_plain: 0.001
  big: 1.0e3
  quoted: '1e-3'
  when: 2024-01-31
  kind: name
  index: 1
  index_text: '1'
  dotted: model.name
  mandatory: ???
  nested_mandatory:
    inner: ???
  base: ${presets.small}
  via: ${model.base}
  text: 'hello'
presets:
  small: {layers: 2, width: 64, rel: '${.width}', up: '${...model.name}'}
  large: {layers: 24, width: 1024}
ints: {1: one, 2: two}
bools: {true: yes_value}
floats: {0.5: half}
items: [a, b, c]
records: [{name: first}, {name: second}]
"""

KEYS = [
    "model.name",
    "model.hidden",
    "model.layers",
    "model.layers[0]",
    "model.layers.1",
    "model.layers.+1",
    "model.layers.-1",
    "model.layers.01",
    "model.layers.1_0",
    "model.layers[3]",
    "model.layers.x",
    "model.flag",
    "model.none",
    "model.none.x",
    "model.lr",
    "model.lr_plain",
    "model.big",
    "model.quoted",
    "model.when",
    "model.mandatory",
    "model.nested_mandatory",
    "model.nested_mandatory.inner",
    "model.base",
    "model.base.layers",
    "model.base.rel",
    "model.base.up",
    "model.via.width",
    "model.via.rel",
    "model.text",
    "model.text.x",
    "model.nmae",
    "presets.small.layers",
    "presets.large",
    "ints.1",
    "ints[2]",
    "bools.true",
    "bools.True",
    "floats.0.5",
    "items.0",
    "items[2]",
    "items.3",
    "records.1.name",
    "records[0].name",
    "model.${model.kind}",
    "model.${model.index}",
    "items.${model.index}",
    "items.${model.index_text}",
    "${model.dotted}",
    "model.${model.none}",
    "model.${model.layers}",
    "model.${model.mandatory}",
    "model.${missing}",
    "presets.${oc.env:USER}",
    "model",
    "[model].name",
    "model[name]",
    "model.layers[0",
    "model..name",
    "model.name.",
    ".model",
    "..model",
    " model.name ",
    "model. name",
    "model .name",
    "model name",
    "",
    ".",
    "..",
    ":abc",
    "a:b",
    "model.na-me",
    "model.$x",
    "model.n@me",
    "model.n/me",
    "model.{x}",
    "model.(x)",
    "model.'x'",
    'model."x"',
    "model.n\\ame",
    "model.é",
]

RESOLVER_STRINGS = [
    "/ckpt/${oc.env:USER,me}/${missing_key}",
    "/ckpt/${oc.env:USER,me}/${model.name}",
    "${oc.env:CLAUDIO_UNSET_VAR,${missing_key}}",
    "${oc.env:CLAUDIO_UNSET_VAR,${model.name}}",
    "${oc.env:USER}",
    "${oc.env:HOME,/tmp}/${model.name}",
    "${oc.env:HOME, '${missing_key}'}",
    '${oc.env:HOME, "${model.name}"}',
    "${oc.select:model.name,default}",
    "${oc.select:missing_key,default}",
    "${oc.select:missing_key}",
    "${now:%Y-%m-%d}/${model.name}",
    "${now:%Y-%m-%d}/${missing_key}",
    "${now:%H-%M-%S}",
    "${hydra:runtime.output_dir}/ckpt",
    "${hydra:runtime.choices.model}_${missing_key}",
    "${stub:[1, 2, ${model.name}]}",
    "${stub:[1, 2, ${missing_key}]}",
    "${stub:{a: 1, b: ${model.hidden}}}",
    "${stub:{a: 1, b: ${missing_key}}}",
    "${stub:{a: 1, b}}",
    "${stub:{a:}}",
    "${stub:a,,b}",
    "${stub:,}",
    "${stub:}",
    "${stub: a , b }",
    "${stub:a b c}",
    "${stub:a=b}",
    "${stub:a\\=b}",
    "${stub:a\\,b}",
    "${stub:a#b}",
    "${stub:é}",
    "${stub:'é'}",
    "${stub:(x)}",
    "${stub:'unterminated}",
    "${stub:'it\\'s'}",
    '${stub:"say \\"hi\\""}',
    "${stub:'${model.name}'}",
    "${stub:'${model.nmae}'}",
    "${stub:${model.name}:${model.hidden}}",
    "${stub:x:y}",
    "${stub.nested:x}",
    "${stub.${model.text}:x}",
    "${stub.${model.hidden}:x}",
    "${stub-dash:x}",
    "${st+ub:x}",
    "${stub:[a,[b,[c]]]}",
    "${stub:[a,[b,[c]]}",
    "${stub:1.5e3,-2,null,true,inf}",
    "${stub:a}}",
    "${stub:a}${stub:b}",
    "${stub:${stub:${missing_key}}}",
    # a resolver inside a key hides nothing that fails whatever it returns
    "${presets.${now:%Y}.${missing_key}}",
    "${missing_key.${oc.env:USER}}",
    "${missing_key[${now:%Y}]}",
    "${model.name.${now:%Y}}",
    # OmegaConf's own resolvers, checked where their verdict does not depend on the machine
    "${oc.dict.keys:presets}",
    "${oc.dict.keys:presets.small}",
    "${oc.dict.keys:missing_key}",
    "${oc.dict.keys:model.name}",
    "${oc.dict.values:presets.large}",
    "${oc.dict.values:missing_key}",
    "${oc.dict.values:items}",
    "${oc.dict.keys:.}",
    "${oc.deprecated:model.name}",
    "${oc.deprecated:missing_key}",
    "${oc.deprecated:model.name,'use model.name'}",
    "${oc.select:}",
    "${oc.select:,x}",
    "${oc.select:missing_key,}",
    "${oc.select:out.dir,1}",
    "${oc.select:.dir,1}",
    "${oc.select:.sibling,1}",
    "${oc.select:model.mandatory,1}",
    "${oc.select:model.via,1}",
    "${oc.env:}",
    "${oc.env:,fallback}",
    "${oc.decode:}",
    "${oc.decode:'[1, 2]'}",
    "${oc.decode:'not: [valid'}",
    "${oc.env:${model.name}}",
    "${oc.create:}",
]

BACKSLASH_STRINGS = [
    prefix + body + suffix
    for prefix in ["", "\\", "\\\\", "\\\\\\", "\\\\\\\\", "\\\\\\\\\\", "x\\", "x\\\\"]
    for body in ["${model.name}", "${missing_key}"]
    for suffix in ["", "\\", "\\\\", "/${model.hidden}"]
]

OTHER_STRINGS = [
    "${model.name",
    "out/${model.name",
    "${",
    "$",
    "$ {x}",
    "${}",
    "${}x",
    "}",
    "${a}}",
    "${{model.name}}",
    "${model.${model.kind}",
    "${model.${model.kind}}x}",
    "${model.name}${model.name}",
    "$${model.name}",
    "${${model.dotted}}",
    "${model}",
    "out/${model}",
    "out/${model.layers}",
    "out/${model.none}-${model.flag}",
    "out/${model.lr}/${model.lr_plain}/${model.big}/${model.quoted}/${model.when}",
    "${.sibling}",
    "${..top}",
    "${...beyond}",
    "${....far}",
]


def _configs() -> list[tuple[str, str]]:
    cases: list[tuple[str, str]] = []
    strings = (
        [f"${{{key}}}" for key in KEYS]
        + [f"out/${{{key}}}/x" for key in KEYS]
        + RESOLVER_STRINGS
        + BACKSLASH_STRINGS
        + OTHER_STRINGS
    )
    for value in strings:
        quoted = "'" + value.replace("'", "''") + "'"
        cases.append((value, WORLD + f"out:\n  sibling: s\n  dir: {quoted}\n"))
    for value in [*RESOLVER_STRINGS[:12], *OTHER_STRINGS[-8:]]:
        quoted = "'" + value.replace("'", "''") + "'"
        cases.append((f"list {value}", WORLD + f"top: t\nout:\n  - x\n  - {quoted}\n"))
    cases += list(STRUCTURE_CASES.items())
    return list(dict(cases).items())


STRUCTURE_CASES = {
    "cycle": "a: ${b}\nb: ${a}\n",
    "self": "a: ${a}\n",
    "parent": "a:\n  b: ${a}\n",
    "grandparent": "a:\n  b:\n    c: ${a}\n",
    "root-relative parent": "a:\n  b: ${..a}\n",
    "sibling mapping": "a:\n  b: ${a.c}\n  c: {d: 1}\n",
    "through chain": "a: ${b}\nb: ${c}\nc: {x: 1}\nd: ${a.x}\n",
    "through chain missing": "a: ${b}\nb: ${c}\nc: {x: 1}\nd: ${a.y}\n",
    "interpolated intermediate text": "a: 'x${b}'\nb: y\nd: ${a.z}\n",
    "missing unreferenced": "a: ???\nb: 1\n",
    "missing via chain": "a: ???\nb: ${a}\nc: x/${b}\n",
    "missing quoted": "a: '???'\nb: ${a}\n",
    "list of refs": "a: [${b}, '${c}']\nb: 1\n",
    "ref in key": "'${a}': 1\n",
    "relative in list": "l: [1, '${.0}', '${..l}']\n",
    "relative list index": "l: [1, '${.[0]}']\n",
    "escaped only": "a: '\\${x}'\n",
    "dollar only": "a: 'cost: $5'\nb: ${a}\n",
    "number keys": "1: a\nb: ${1}\n",
    "empty": "{}\n",
    "tab value": "a: 1\t\nb: ${a}\n",
    "tab after colon": "name:\tx\n",
    "tab in quotes": "a: 'x\ty'\n",
    "hydra experiment": (
        "# @package _global_\n"
        "defaults:\n  - override /data: mnist\n  - override /model: mnist\n  - _self_\n"
        "tags: [mnist, simple_dense_net]\nseed: 12345\n"
        "trainer:\n  min_epochs: 10\n  max_epochs: 10\n  gradient_clip_val: 0.5\n"
        "model:\n  optimizer:\n    lr: 0.002\n  net:\n    lin1_size: 128\n"
        "data:\n  batch_size: 64\n"
        "logger:\n  wandb:\n    tags: ${tags}\n    group: mnist\n"
    ),
    "hydra train": (
        "defaults:\n  - _self_\n  - data: mnist\n  - model: mnist\n  - paths: default\n"
        "  - experiment: null\n"
        "task_name: train\ntags: [dev]\ntrain: true\ntest: true\nckpt_path: null\nseed: null\n"
        "paths:\n  root_dir: ${oc.env:PROJECT_ROOT,.}\n  data_dir: ${paths.root_dir}/data/\n"
        "  log_dir: ${paths.root_dir}/logs/\n  output_dir: ${hydra:runtime.output_dir}\n"
        "  work_dir: ${hydra:runtime.cwd}\n"
        "hydra:\n  run:\n"
        "    dir: ${paths.log_dir}/${task_name}/runs/${now:%Y-%m-%d}_${now:%H-%M-%S}\n"
    ),
    "hydra callbacks": (
        "model_checkpoint:\n  _target_: lightning.pytorch.callbacks.ModelCheckpoint\n"
        "  dirpath: ${paths.output_dir}/checkpoints\n  filename: 'epoch_{epoch:03d}'\n"
        "  monitor: val/acc\n  mode: max\n"
    ),
    "hydra model": (
        "_target_: src.models.mnist_module.MNISTLitModule\noptimizer:\n"
        "  _target_: torch.optim.Adam\n  _partial_: true\n  lr: 0.001\n  weight_decay: 0.0\n"
        "net:\n  _target_: src.models.components.simple_dense_net.SimpleDenseNet\n"
        "  input_size: 784\n  lin1_size: 64\n  output_size: 10\ncompile: false\n"
        "scheduler_monitor: ${.optimizer.lr}\n"
    ),
    "fairseq-shaped": (
        "common:\n  log_interval: 100\n  user_dir: null\n"
        "checkpoint:\n  save_dir: /checkpoint/${oc.env:USER,nobody}/${task.data}/${model.arch}\n"
        "task:\n  data: ???\nmodel:\n  arch: transformer\n  encoder_embed_dim: 512\n"
        "  decoder_embed_dim: ${model.encoder_embed_dim}\n"
    ),
}

# Resolvers the project registers at run time (Hydra's `now` and `hydra`, the project's
# own): the judge registers stand-ins, as the launched program would have them.
STUB_RESOLVERS = ["now", "hydra", "stub", "stub.nested", "stub.hello", "stub-dash"]

# Deliberate differences, with the reason: what depends on the machine or the program that
# resolves the config (its environment, the resolvers its code registers), which a
# commit-time check cannot know; OmegaConf judges with the test's environment.
UNREGISTERED = "a resolver the project registers at run time is unknown at commit time: noticed"
DELIBERATE: dict[str, str] = {
    "${a:b}": UNREGISTERED,
    "out/${a:b}/x": UNREGISTERED,
    "${presets.${oc.env:USER}}": "the key comes from $USER, only known where it runs",
    "out/${presets.${oc.env:USER}}/x": "the key comes from $USER, only known where it runs",
    "${oc.env:${model.name}}": "the variable 'resnet' may be set where it runs",
    "${oc.decode:'not: [valid'}": "oc.decode's text is not parsed here: its value is a notice",
}


@pytest.fixture(scope="module")
def omegaconf_judge() -> Any:
    omegaconf = pytest.importorskip("omegaconf")
    for name in STUB_RESOLVERS:
        omegaconf.OmegaConf.register_new_resolver(name, lambda *args: "stub", replace=True)
    return omegaconf.OmegaConf


def _judge(omegaconf: Any, text: str) -> tuple[bool, Any]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # `${r:a,,b}`: empty elements are deprecated
            cfg = omegaconf.create(text)
            return True, omegaconf.to_container(cfg, resolve=True)
    except Exception:  # any exception is OmegaConf's "this config cannot be used"
        return False, None


def _ours(text: str) -> tuple[bool, Any]:
    try:
        doc = parse_yaml(text)
    except YamlError:
        return False, None
    result = resolve(doc.data, typed=doc.omegaconf_values)
    return not any(p.kind in interpolation.FAILING_KINDS for p in result.problems), result


CORPUS = _configs()


def test_the_corpus_covers_every_class(omegaconf_judge: Any) -> None:
    assert len(CORPUS) >= 300
    parse_yaml(WORLD)  # the shared part is valid: cases differ by their reference only
    verdicts = [_judge(omegaconf_judge, text)[0] for _, text in CORPUS]
    assert 100 <= sum(verdicts) <= len(CORPUS) - 100  # both verdicts, well represented
    assert len({name for name, _ in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize(("name", "text"), CORPUS, ids=[repr(n)[:60] for n, _ in CORPUS])
def test_verdicts_and_values_are_omegaconfs(
    omegaconf_judge: Any, monkeypatch: pytest.MonkeyPatch, name: str, text: str
) -> None:
    monkeypatch.setenv("USER", "tester")
    monkeypatch.setenv("HOME", "/home/tester")
    monkeypatch.delenv("CLAUDIO_UNSET_VAR", raising=False)
    monkeypatch.delenv("PROJECT_ROOT", raising=False)
    judged_ok, resolved = _judge(omegaconf_judge, text)
    ours_ok, result = _ours(text)
    if name in DELIBERATE:
        assert ours_ok != judged_ok, f"no longer a difference: {DELIBERATE[name]}"
        return
    assert ours_ok == judged_ok, (name, text, result and result.problems)
    if judged_ok:  # every interpolated string we resolved has OmegaConf's value
        written = dict(interpolation._walk(parse_yaml(text).data))
        for path, value in interpolation._walk(result.data):
            original = written.get(path)
            if not (isinstance(original, str) and "${" in original) or not result.is_resolved(path):
                continue
            if isinstance(value, dict | list):
                continue  # a mapping's leaves keep PyYAML's types (the schema reads those)
            expected = resolved
            for part in path:
                expected = expected[part]
            assert value == expected, (name, path)


def test_a_very_long_chain_of_references_is_a_finding_not_a_crash() -> None:
    chain = {f"k{i}": f"${{k{i + 1}}}/x" for i in range(3000)}
    result = resolve({**chain, "k3000": "end"})
    assert result.problems
    assert {p.kind for p in result.problems} == {interpolation.INVALID}
    short = {f"k{i}": f"${{k{i + 1}}}/x" for i in range(40)}
    assert resolve({**short, "k40": "end"}).data["k0"] == "end" + "/x" * 40


def test_deeply_nested_references_are_read_once_each() -> None:
    """`${a.${a.${a...}}}`: without memoising, trying a resolver first at each level would
    read the levels below 2**depth times."""
    nested = "${a." * 60 + "b" + "}" * 60
    (problem,) = resolve({"x": nested}).problems
    assert problem.kind == interpolation.UNKNOWN
    (problem,) = resolve({"x": "${a." * 3000 + "b" + "}" * 3000}).problems
    assert problem.kind == interpolation.MALFORMED
