"""inference.yaml refusals (orbit_local/config_file.py, bounded_yaml.py) say why in the
project's own names: ORBIT (the program whose files these are) and inference.yaml, spelt as
the user knows them, and the rule an alias broke.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orbit_local.config_file import ConfigError, load_config


def _refusal(tmp_path: Path, text: str) -> ConfigError:
    path = tmp_path / "inference.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value


def test_direct_mode_is_refused_because_it_runs_in_orbits_process(tmp_path: Path) -> None:
    error = _refusal(tmp_path, "lm_studio:\n  enabled: true\n  mode: direct\n")
    assert "direct mode loads a model in ORBIT's process" in str(error)


def test_a_document_nested_too_deep_names_the_file_kind(tmp_path: Path) -> None:
    error = _refusal(tmp_path, "a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "inference.yaml needs a few levels" in (error.hint or "")


def test_an_alias_inside_its_own_node_is_told_the_rule(tmp_path: Path) -> None:
    error = _refusal(tmp_path, "a: &a [*a]\n")
    assert "an alias may only repeat a node written before and outside it" in (error.hint or "")


def test_asking_for_a_block_in_a_file_without_blocks_lists_none(tmp_path: Path) -> None:
    path = tmp_path / "inference.yaml"
    path.write_text("inference: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path).block("lm_studio")
    assert caught.value.hint == "blocks here: none"


def test_an_unknown_chat_template_lists_the_known_ones_comma_separated() -> None:
    from orbit_local.templates import TEMPLATES, get_template

    with pytest.raises(ValueError, match="Unknown chat template 'no-such'") as caught:
        get_template("no-such")
    names = sorted(TEMPLATES)
    assert len(names) > 1
    assert f"Known: {names[0]}, {names[1]}" in str(caught.value)
