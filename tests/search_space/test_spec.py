"""ArchSpec: JSON round trip, arch_id, validation errors that name the field."""

import dataclasses
import json

import pytest

from search_space.references import reference_spec
from search_space.spec import (ArchSpec, BaselineSpec, SpecError, StageSpec, UnitSpec, spec_from_json,
                               uniform_stages)


def v2_1x(**kw):
    return ArchSpec(stages=uniform_stages((116, 232, 464), (4, 8, 4), UnitSpec(**kw)))


def test_json_round_trip_is_canonical():
    spec = reference_spec("shufflenet_v2_x1_0")
    text = spec.to_json()
    assert json.loads(text)["schema_version"] == 1
    assert list(json.loads(text)) == sorted(json.loads(text))
    back = ArchSpec.from_json(text)
    assert back == spec and back.arch_id == spec.arch_id and back.to_json() == text
    assert ArchSpec.from_json(spec.to_json(indent=2)) == spec


def test_every_reference_round_trips_through_the_generic_loader():
    for name in ("shufflenet_v2_x0_5", "se_shufflenet_v2_164", "mobilenet_v2_x0_4", "xception_x1_0"):
        spec = reference_spec(name)
        assert spec_from_json(spec.to_json()) == spec


def test_arch_id_ignores_the_name_but_not_the_structure():
    a = v2_1x()
    assert a.with_name("mine").arch_id == a.arch_id
    assert a.with_resolution(192).arch_id != a.arch_id
    assert v2_1x(kernel=5).arch_id != a.arch_id
    assert len(a.arch_id) == 12


def test_spec_is_frozen_and_hashable():
    spec = v2_1x()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.resolution = 10  # type: ignore[misc]
    assert len({spec, v2_1x(), v2_1x(kernel=7)}) == 2


@pytest.mark.parametrize("make, field", [
    (lambda: v2_1x(kernel=4), "stages[0].units[0].kernel"),
    (lambda: v2_1x(variant="inception"), "stages[0].units[0].variant"),
    (lambda: v2_1x(split_ratio=1.0), "stages[0].units[0].split_ratio"),
    (lambda: v2_1x(split_ratio=0.375), "stages[0].width"),  # 116 * 0.375 is not whole
    (lambda: ArchSpec(stages=uniform_stages((116, 232, 464), (4, 0, 4))), "stages[1].units"),
    (lambda: ArchSpec(stages=()), "stages"),
    (lambda: ArchSpec(stages=uniform_stages((116,), (4,)), resolution=8), "resolution"),
    (lambda: ArchSpec(stages=uniform_stages((116,), (4,)), stem=()), "stem"),
    (lambda: ArchSpec(stages=(StageSpec(116, (UnitSpec(residual=True),)),)), "stages[0].units[0].residual"),
    (lambda: ArchSpec(stages=(StageSpec(116, (UnitSpec(),), stride=3),)), "stages[0].stride"),
    (lambda: ArchSpec(stages=uniform_stages((116,), (4,)), stem_stride=3), "stem_stride"),
    (lambda: BaselineSpec("resnet", 1.0), "family"),
    (lambda: BaselineSpec("mobilenet_v2", 0.0), "width_mult"),
])
def test_validation_names_the_field(make, field):
    with pytest.raises(SpecError) as err:
        make()
    assert err.value.field == field
    assert str(err.value).startswith(field)


def test_divisibility_message_explains_the_split():
    with pytest.raises(SpecError, match="not divisible"):
        v2_1x(split_ratio=0.375)


@pytest.mark.parametrize("text, field", [
    ("{not json", "json"),
    ("[1, 2]", "spec"),
    ('{"schema_version": 1}', "stages"),
    ('{"schema_version": 1, "stages": [], "colour": 3}', "colour"),
    ('{"schema_version": 1, "stages": [{"width": 8}]}', "stages[0].units"),
    ('{"schema_version": 1, "stages": [{"width": 8, "units": [{"kernel": 3, "flavour": 1}]}]}',
     "stages[0].units[0].flavour"),
    ('{"schema_version": 2, "stages": [{"width": 8, "units": [{}]}]}', "schema_version"),
])
def test_bad_json_names_the_problem(text, field):
    with pytest.raises(SpecError) as err:
        spec_from_json(text)
    assert err.value.field == field


def test_unequal_split_ratio_is_valid_when_channels_allow():
    spec = ArchSpec(stages=uniform_stages((128, 256, 512), (2, 2, 2), UnitSpec(split_ratio=0.375)))
    assert spec.stages[0].units[0].split_ratio == 0.375


def test_a_spec_error_survives_pickling_between_processes():
    import pickle

    err = pickle.loads(pickle.dumps(SpecError("stages", "expected a list")))
    assert isinstance(err, SpecError) and err.field == "stages" and str(err) == "stages: expected a list"
