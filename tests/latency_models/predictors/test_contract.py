"""Every registered predictor through the same checks: fit, vectorised predict, JSON save/load, extrapolation."""

import json

import numpy as np
import pytest

from latency_models.features import add_layer, feature_matrix
from latency_models.matrix import matrix_layers
from latency_models.predictors import PREDICTORS, PredictorError, TrainingSet, load_predictor, predictor_from_dict
from latency_models.predictors.blocksum import BlockSumPredictor
from latency_models.predictors.lut import block_features
from search_space.cost import cost
from search_space.plan import plan
from search_space.space import SearchSpace

SPACE = SearchSpace.default().with_fixed(resolution=96)
RNG_SEED = 3


def synthetic_coefficients() -> np.ndarray:
    """A platform that prices multiply-adds, traffic, weights and ops per op group, plus slow unaligned
    depthwise convolutions (as ONNX Runtime's)."""
    from latency_models.features import FEATURE_NAMES, N_BASE
    rng = np.random.default_rng(0)
    coef = np.zeros(len(FEATURE_NAMES))
    coef[:N_BASE] = rng.uniform(0.0, 0.05, N_BASE)
    coef[FEATURE_NAMES.index("dw_unaligned4_flops")] = 0.2
    return coef


def layer_ms(layer, coef: np.ndarray) -> float:
    """The synthetic platform's time of one layer (its features alone, through the same coefficients)."""
    f = np.zeros(len(coef))
    add_layer(f, layer, 1)
    return float(f @ coef)


def synthetic_layers(specs, coef: np.ndarray) -> tuple:
    """(arch_id, layer, ms) of every matrix layer of `specs`, as layers timed inside their network."""
    return tuple((s.arch_id, layer, layer_ms(layer, coef)) for s in specs for layer in matrix_layers(s))


def synthetic_truth(spec, coef: np.ndarray) -> float:
    """The synthetic platform's latency of a whole network: the sum of its layers plus a constant."""
    return sum(layer_ms(layer, coef) for layer in cost(spec).layers) + 0.3


def synthetic_set(n: int = 40, with_units: bool = True, with_layers: bool = True) -> TrainingSet:
    """Networks whose 'measured' latency is a known sum of block costs (+ a constant)."""
    rng = np.random.default_rng(RNG_SEED)
    specs = tuple(SPACE.sample(rng) for _ in range(n))
    coef = synthetic_coefficients()
    units, y = [], []
    seen = set()
    for s in specs:
        total, h = 0.0, s.resolution
        for block in plan(s):
            ms = float(block_features(block, h, h, 1) @ coef)
            total += ms
            key = (repr(block.__class__), str(block), h)
            if key not in seen:
                seen.add(key)
                units.append((block, h, h, ms))
            _, h, _ = block.layers(h, h)
        y.append(total + 0.3)
    return TrainingSet(specs, np.array(y), 1, tuple(units) if with_units else (),
                       synthetic_layers(specs, coef) if with_layers else ())


@pytest.fixture(scope="module")
def data():
    return synthetic_set()


@pytest.mark.parametrize("kind", PREDICTORS.names())
def test_fit_predict_save_load(kind, data, tmp_path):
    pred = PREDICTORS.get(kind)().fit(data)
    out = pred.predict(list(data.specs))
    assert out.shape == (len(data.specs),) and np.all(np.isfinite(out)) and np.all(out > 0)
    path = tmp_path / f"{kind}.json"
    pred.save(path)
    text = path.read_text()
    assert json.loads(text)["kind"] == kind  # plain JSON, no pickle
    again = load_predictor(path)
    assert np.allclose(again.predict(list(data.specs)), out)
    assert again.extrapolates(list(data.specs[:3])).shape == (3,)


@pytest.mark.parametrize("kind", PREDICTORS.names())
def test_a_far_larger_network_is_flagged_as_extrapolated(kind, data):
    pred = PREDICTORS.get(kind)().fit(data)
    big = SearchSpace.default().with_fixed(resolution=512).sample(np.random.default_rng(9))
    assert pred.extrapolates([big])[0]


@pytest.mark.parametrize("kind", [k for k in PREDICTORS.names() if issubclass(PREDICTORS.get(k), BlockSumPredictor)])
def test_block_predictors_need_unit_timings(kind):
    with pytest.raises(PredictorError, match="--units"):
        PREDICTORS.get(kind)().fit(synthetic_set(12, with_units=False))


def test_layerwise_needs_layer_timings():
    with pytest.raises(PredictorError, match="--layers"):
        PREDICTORS.get("layerwise")().fit(synthetic_set(12, with_layers=False))


def test_layerwise_prices_networks_and_families_it_never_saw_from_their_layers(data):
    from search_space.references import reference_spec

    coef = synthetic_coefficients()
    pred = PREDICTORS.get("layerwise")().fit(data.subset(np.arange(30)))
    rest = list(data.specs[30:])
    assert np.median(np.abs(pred.predict(rest) / data.latency_ms[30:] - 1)) < 0.05
    # a MobileNet v2 at the same input: other blocks, the same layer kinds
    mnv2 = reference_spec("mobilenet_v2_x1_0").with_resolution(96)
    assert pred.predict([mnv2])[0] == pytest.approx(synthetic_truth(mnv2, coef), rel=0.15)
    ms, extrapolated = pred.layer_ms(matrix_layers(data.specs[0]))
    assert len(ms) == len(matrix_layers(data.specs[0])) and not extrapolated.all()


def test_subset_keeps_the_layers_of_the_kept_networks_only(data):
    sub = data.subset(np.arange(10))
    kept = {s.arch_id for s in sub.specs}
    assert sub.layers and {a for a, *_ in sub.layers} == kept


def test_roofline_recovers_an_exactly_additive_platform(data):
    pred = PREDICTORS.get("roofline")().fit(data)
    assert np.allclose(pred.predict(list(data.specs)), data.latency_ms, rtol=1e-3)


def test_lut_returns_the_table_entry_for_a_measured_block(data):
    lut = PREDICTORS.get("lut")().fit(data)
    block, h, w, ms = data.units[5]
    got, extrapolated = lut.block_latency(block, h, w)
    assert got == pytest.approx(ms) and not extrapolated


def test_lut_interpolates_a_width_it_never_saw(data):
    lut = PREDICTORS.get("lut")().fit(data)
    trimmed = data.subset(np.arange(30))  # blocks of the last 10 networks are dropped with them
    lut_small = PREDICTORS.get("lut")().fit(trimmed)
    rest = list(data.specs[30:])
    rel = lut_small.predict(rest) / data.latency_ms[30:] - 1
    assert np.median(np.abs(rel)) < 0.1
    assert lut.predict(rest) == pytest.approx(data.latency_ms[30:], rel=0.05)


def test_flops_baseline_is_linear_in_flops(data):
    from search_space.cost import cost
    pred = PREDICTORS.get("flops")().fit(data)
    f = np.array([cost(s).flops_m for s in data.specs])
    out = pred.predict(list(data.specs))
    assert np.allclose(np.diff(out) / np.diff(f), pred.b)


def test_subset_drops_the_units_of_left_out_networks(data):
    from latency_models.predictors.blocksum import block_key, spec_block_keys
    sub = data.subset(np.arange(20))
    kept = {block_key(*u[:3]) for u in sub.units}
    only_left_out = set().union(*(spec_block_keys(s) for s in data.specs[20:])) - \
        set().union(*(spec_block_keys(s) for s in data.specs[:20]))
    assert only_left_out and not (kept & only_left_out)


def test_bad_predictor_files_raise_one_clear_error(tmp_path):
    with pytest.raises(PredictorError):
        predictor_from_dict({"kind": "roofline"})
    bad = tmp_path / "p.json"
    bad.write_text("{not json")
    with pytest.raises(PredictorError, match="cannot read"):
        load_predictor(bad)
    with pytest.raises(PredictorError, match="not been fit"):
        PREDICTORS.get("roofline")().predict([])
