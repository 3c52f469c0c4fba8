import numpy as np
import pytest

from few_shot import column, depth_tau, render, tau_against
from search_space.space import SearchSpace


def test_tau_against_the_truth_counts_only_networks_with_a_truth():
    truth = {"a": 0.80, "b": 0.82, "c": 0.84, "d": 0.86}
    tau, (lo, hi) = tau_against(truth, {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4, "extra": 0.0})
    assert tau == pytest.approx(1.0) and lo == pytest.approx(1.0) and hi == pytest.approx(1.0)
    assert tau_against(truth, {"a": 0.4, "b": 0.3, "c": 0.2, "d": 0.1})[0] == pytest.approx(-1.0)


def test_depth_tau_reads_each_stage_depth_of_the_specs():
    space = SearchSpace.default()
    specs = [({"arch_id": str(i)}, space.sample(np.random.default_rng(i))) for i in range(8)]
    deeper_is_better = {a["arch_id"]: float(len(s.stages[1].units)) for a, s in specs}
    assert depth_tau(specs, deeper_is_better, 1) == pytest.approx(1.0)
    assert depth_tau(specs, {k: -v for k, v in deeper_is_better.items()}, 1) == pytest.approx(-1.0)


def test_columns_and_the_report_name_arm_replica_and_batchnorm():
    assert column("split", 1, 0) == "split-r1-nobn" and column("control", 0, 8) == "control-r0-bn8"
    rep = {"settings": {"split": "s1_depth=4-5,6-10", "epochs": 2, "lr": 0.025}, "source": "runs/x", "networks": 4,
           "parts": [{"label": "s1 depth 4-5", "networks": 3}, {"label": "s1 depth 6-10", "networks": 1}],
           "rows": [{"arm": "split", "replica": 0, "bn_batches": 8, "tau": 0.5, "interval_90": (0.1, 0.9),
                     "depth_tau": [0.0, -0.5, 0.25]}],
           "truth_depth_tau": [0.1, -0.4, -0.2], "means": {"split": {"own": 0.4, "all": 0.45}},
           "training": [{"file": "split-r0-p0.pt", "epochs_done": 2, "epochs": 2, "seconds": 100.0,
                         "train_accuracy": 0.8}]}
    text = render(rep)
    assert "| split | 0 | BN-8 | 0.500 | 0.100 to 0.900 | 0.000 / -0.500 / 0.250 |" in text
    assert "s1 depth 6-10 (1 networks)" in text and "| split | 0.400 | 0.450 |" in text
