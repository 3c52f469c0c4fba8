"""The supernet evaluator: the shared contract, BatchNorm re-estimation (running statistics only), what the study
records (file hash, N), and one-line refusals."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from nas.data.proxy import ProxyData
from nas.evaluators import ConfigError, SearchSettings, make_evaluator, search_evaluator
from nas.evaluators.supernet import SupernetError, SupernetEvaluator, file_sha256
from nas.evaluators.training import proxy_inputs, top1
from search_space.modules import to_inference
from tests.nas.evaluators.conftest import tiny_spec
from tests.nas.evaluators.supernet.conftest import TINY_SPACE
from tests.nas.evaluators.contract import check_contract


@pytest.fixture
def evaluator(supernet_file) -> SupernetEvaluator:
    return make_evaluator("supernet", supernet=str(supernet_file), bn_batches=2)  # type: ignore[return-value]


def test_contract(evaluator, spec, tiny_data):
    r = check_contract(evaluator, "supernet", spec, tiny_data)
    assert (r.kind, r.steps, r.epochs, r.train_examples) == ("weight-sharing", 0, 1.0, 256)
    assert r.history == ((0, r.accuracy),) and r.proxy_arch_id != spec.arch_id and r.params_m > 0


def test_the_study_can_record_the_file_hash_and_n(evaluator, supernet_file):
    d = evaluator.describe()
    assert d["name"] == "supernet" and d["kind"] == "weight-sharing"
    assert d["config"]["sha256"] == file_sha256(supernet_file) and d["config"]["bn_batches"] == 2
    assert d["config"]["supernet"] == str(supernet_file.absolute()) and d["config"]["bn_batch_size"] == 32
    assert d["supernet"]["epochs_done"] == 1 and d["supernet"]["paths"] == "uniform"
    assert d["supernet"]["teacher"] is None


def test_for_search_takes_the_file_and_n_from_the_search_options(supernet_file):
    settings = SearchSettings(threads=1, options=(("supernet", str(supernet_file)), ("bn_batches", 3)))
    ev = search_evaluator("supernet", settings)
    assert isinstance(ev, SupernetEvaluator) and ev.config.bn_batches == 3
    assert search_evaluator("supernet", SearchSettings(options=(("supernet", str(supernet_file)),))
                            ).config.bn_batches == 0  # the default: the supernet's own statistics
    assert ev.supernet is search_evaluator("supernet", settings).supernet  # read once per process


def test_bn_recalibration_changes_the_running_statistics_and_nothing_else(evaluator, tiny_data):
    spec = tiny_spec()
    sn_before = {k: v.clone() for k, v in evaluator.supernet.state_dict().items()}
    inherited = evaluator.supernet.extract(spec)
    net = evaluator.subnet(spec, tiny_data, seed=0)
    before, after = inherited.state_dict(), net.state_dict()
    assert before.keys() == after.keys()
    stats = [k for k in before if k.endswith(("running_mean", "running_var"))]
    assert stats and all(not torch.equal(before[k], after[k]) for k in stats)
    params = {name for name, _ in net.named_parameters()}
    assert params and all(torch.equal(before[k], after[k]) for k in params)
    others = set(before) - params - set(stats)
    assert all(k.endswith("num_batches_tracked") for k in others)
    assert all(torch.equal(sn_before[k], v) for k, v in evaluator.supernet.state_dict().items())  # supernet untouched
    # the score is top-1 of exactly this network
    x, y = proxy_inputs(tiny_data.val, replace(tiny_data.task, mean=evaluator.loaded.file.task.mean,
                                                               std=evaluator.loaded.file.task.std), channels_last=False)
    assert evaluator.evaluate(spec, tiny_data, seed=0).accuracy == pytest.approx(top1(to_inference(net), x, y, 500))


def test_the_stem_is_run_once_and_each_candidate_from_its_output(evaluator, tiny_data):
    """Scoring from the stem's cached output computes what the whole re-estimated network computes, for every
    candidate in turn (one stem run for all) and again after the inputs change (another seed)."""
    space = TINY_SPACE.with_fixed(resolution=32, num_classes=tiny_data.task.num_classes)
    specs = [space.sample(np.random.default_rng(i)) for i in range(4)]
    for seed in (0, 0, 1):
        for spec in specs:
            with torch.inference_mode():  # as the evaluator runs (kernels chosen alike)
                _, body, stem_val = evaluator.scored(spec, tiny_data, seed)
                _, x_val, _ = evaluator._inputs(tiny_data, seed)
                whole = to_inference(evaluator.subnet(spec, tiny_data, seed))
                assert torch.equal(body(stem_val), whole(x_val))
        assert len(evaluator._stems) == 1


def test_zero_bn_batches_keep_the_supernets_own_statistics(supernet_file, tiny_data):
    """bn_batches 0: the extracted network exactly as the supernet holds it (its running statistics), folded."""
    keep = make_evaluator("supernet", supernet=str(supernet_file), bn_batches=0)
    space = TINY_SPACE.with_fixed(resolution=32, num_classes=tiny_data.task.num_classes)
    task = replace(tiny_data.task, mean=keep.loaded.file.task.mean, std=keep.loaded.file.task.std)
    x, y = proxy_inputs(tiny_data.val, task, channels_last=False)
    recalibrated = make_evaluator("supernet", supernet=str(supernet_file), bn_batches=2)
    differ = 0
    for spec in [tiny_spec()] + [space.sample(np.random.default_rng(i)) for i in range(3)]:
        with torch.no_grad():
            own = top1(to_inference(keep.supernet.extract(spec).eval()), x, y, 500)
        assert keep.evaluate(spec, tiny_data, seed=0).accuracy == pytest.approx(own)
        differ += recalibrated.evaluate(spec, tiny_data, seed=0).accuracy != pytest.approx(own)
    assert differ  # re-estimation changes what is scored


def test_seeded_and_deterministic(evaluator, tiny_data):
    a = evaluator.evaluate(tiny_spec(), tiny_data, seed=0)
    b = evaluator.evaluate(tiny_spec(), tiny_data, seed=0)
    assert a.accuracy == b.accuracy


def test_refusals_are_one_line(supernet_file, tiny_data, tmp_path):
    for kwargs, match in (({}, "no supernet file given"), ({"supernet": str(tmp_path / "none.pt")}, "no such file"),
                          ({"supernet": str(supernet_file), "bn_batches": -1}, "bn_batches"),
                          ({"supernet": str(supernet_file), "sha256": "0" * 64}, "sha256"),
                          ({"supernet": str(supernet_file), "colour": 1}, "unknown supernet option")):
        with pytest.raises(ConfigError, match=match) as info:
            make_evaluator("supernet", **kwargs)
        assert len(str(info.value).splitlines()) == 1
    junk = tmp_path / "junk.pt"
    torch.save({"format": "something-else"}, junk)
    with pytest.raises(ConfigError, match="not a supernet file"):
        make_evaluator("supernet", supernet=str(junk))
    older = tmp_path / "older.pt"  # a file of the positional layout (version 2): its weights do not fit
    torch.save({**torch.load(supernet_file, weights_only=True), "version": 2}, older)
    with pytest.raises(ConfigError, match="version 2; this version reads 3.*train it again") as info:
        make_evaluator("supernet", supernet=str(older))
    assert len(str(info.value).splitlines()) == 1
    ev = make_evaluator("supernet", supernet=str(supernet_file))
    other = ProxyData(task=replace(tiny_data.task, resolution=24), train=tiny_data.train, val=tiny_data.val,
                      test=None, class_names=tiny_data.class_names)
    with pytest.raises(ConfigError, match="trained on bars:mem at 16 px.*proxy task is bars:mem at 24 px"):
        ev.evaluate(tiny_spec(), other, seed=0)
    reseeded = ProxyData(task=replace(tiny_data.task, seed=3), train=tiny_data.train, val=tiny_data.val, test=None,
                         class_names=tiny_data.class_names)
    with pytest.raises(ConfigError, match="--seed 3"):
        ev.evaluate(tiny_spec(), reseeded, seed=0)
    with pytest.raises(SupernetError, match="outside the supernet's search space"):
        ev.evaluate(tiny_spec(widths=(16, 32, 128)), tiny_data, seed=0)
