"""The repository itself: lint and format clean, every hook documented."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.gitutil import REPO_ROOT


def _ruff() -> list[str]:
    found = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if found is None:
        pytest.fail("ruff is not installed; `pip install -e '.[test]'` installs it")
    return [found]


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]])
def test_ruff_is_clean(args: list[str]) -> None:
    proc = subprocess.run(
        [*_ruff(), *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_hook_is_documented_in_the_readme() -> None:
    hooks = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert hooks, "no hook in .pre-commit-hooks.yaml"
    for hook in hooks:
        assert f"`{hook['id']}`" in readme, f"hook {hook['id']} is not in the README"
        for key in ("id", "name", "description", "entry", "language"):
            assert hook.get(key), f"hook {hook.get('id')} has no {key}"


def test_every_hook_id_is_in_the_init_template() -> None:
    hooks = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    template = yaml.safe_load(
        (REPO_ROOT / "templates" / "repo" / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    )
    ours = next(r for r in template["repos"] if r["repo"].endswith("claudio-ci"))
    commit_stage_ids = {h["id"] for h in hooks if "post-checkout" not in h.get("stages", [])}
    assert commit_stage_ids <= {h["id"] for h in ours["hooks"]}


def config_reference_table() -> str:
    """The README's configuration reference, generated from the schema."""
    from claudio_ci.core.config import load_schema

    def rows(node: dict, prefix: str):
        for name, sub in node.get("properties", {}).items():
            key = f"{prefix}{name}"
            if sub.get("type") == "object" and sub.get("properties") and "default" not in sub:
                yield from rows(sub, key + ".")
            elif "default" in sub:
                default = json.dumps(sub["default"])
                yield f"| `{key}` | `{default}` | {sub.get('description', '')} |"

    return "\n".join(["| key | default | meaning |", "|---|---|---|", *rows(load_schema(), "")])


def _block(text: str, name: str) -> str:
    start, end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"
    assert start in text and end in text, f"README has no {name} block"
    return text.split(start, 1)[1].split(end, 1)[0].strip()


def test_readme_configuration_reference_matches_the_schema() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    expected = config_reference_table()
    assert _block(readme, "config-reference") == expected, (
        "README's configuration reference is stale; run `python -m tests.test_repo_quality`"
    )


def update_readme() -> None:
    path = REPO_ROOT / "README.md"
    text = path.read_text(encoding="utf-8")
    old = _block(text, "config-reference")
    start = "<!-- config-reference:start -->\n"
    text = text.replace(
        start + (old + "\n" if old else ""), start + config_reference_table() + "\n"
    )
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    update_readme()
