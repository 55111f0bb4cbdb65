"""``Prefill`` learns a model's shape from the model and falls back to validation when a
prefilled instance would differ: a framework upgrade can cost speed, never correctness."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, model_validator

from orbit_local.wire.prefilled import Prefill


class Plain(BaseModel):
    text: str = ""
    tags: list[str] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)


class Derived(BaseModel):
    a: int = 0
    b: int = 0
    total: int = 0

    @model_validator(mode="after")
    def _sum(self) -> Derived:
        self.total = self.a + self.b
        return self


class SharedDefault(BaseModel):
    text: str = ""
    tags: list[str] = Field(default_factory=lambda: ["seed"])


def test_a_plain_model_is_filled_equal_to_the_validated_one_with_fresh_containers() -> None:
    fill = Prefill(Plain, {"text": ""}, {"text": "probe"})
    assert not fill.validated
    first, second = fill(text="a"), fill(text="b")
    assert first == Plain(text="a") and first.model_fields_set == Plain(text="a").model_fields_set == {"text"}
    first.tags.append("x")
    first.meta["k"] = 1
    assert second.tags == [] and second.meta == {} and fill(text="c").tags == []


def test_a_field_a_validator_derives_makes_it_fall_back_to_validation() -> None:
    fill = Prefill(Derived, {"a": 0, "b": 0}, {"a": 1, "b": 2})
    assert fill.validated
    assert fill(a=2, b=3).total == 5


def test_a_non_empty_mutable_default_would_be_shared_so_it_falls_back() -> None:
    fill = Prefill(SharedDefault, {"text": ""}, {"text": "probe"})
    assert fill.validated
    first, second = fill(text="a"), fill(text="b")
    first.tags.append("x")
    assert second.tags == ["seed"]


def test_a_probe_with_other_keywords_than_the_sample_is_not_trusted() -> None:
    assert Prefill(Plain, {"text": ""}, {"text": "probe", "tags": ["t"]}).validated


def test_the_frameworks_hot_path_models_are_prefilled_at_the_pinned_versions() -> None:
    """At the versions CI installs, every hot-path model is filled without validation (the
    speed the benchmarks measure); test_hot_path checks the results equal validated ones."""
    import langchain_orbit_local._convert as lc
    import llamaindex_orbit_local._convert as li

    fills = (lc._MESSAGE, lc._GENERATION, lc._TEXT_ANSWER, lc._GENERATION_OF_ANSWER, li._TEXT, li._MESSAGE, li._RESPONSE,
             li._ANSWER)  # fmt: skip
    assert [f.validated for f in fills] == [False] * len(fills)
