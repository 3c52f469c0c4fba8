import math

import numpy as np
import pytest

from ranking import bootstrap_interval, kendall_tau, mean_pairwise_tau, mean_rank, pick_quality


def test_kendall_tau_counts_concordant_pairs_and_discounts_ties():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [40, 30, 20, 10]) == -1.0
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert kendall_tau([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / math.sqrt(2 * 3))  # tau-b
    assert math.isnan(kendall_tau([1, 1], [1, 2]))
    with pytest.raises(ValueError):
        kendall_tau([1, 2], [1])


def test_mean_pairwise_tau_averages_every_pair_of_columns():
    a, b, c = [1, 2, 3], [1, 2, 3], [3, 2, 1]
    assert mean_pairwise_tau([a, b]) == 1.0
    assert mean_pairwise_tau([a, b, c]) == pytest.approx((1 - 1 - 1) / 3)
    assert math.isnan(mean_pairwise_tau([a]))


def test_bootstrap_interval_is_seeded_and_brackets_the_statistic():
    rng = np.random.default_rng(0)
    x = rng.normal(size=13)
    y = x + rng.normal(scale=1.0, size=13)

    def tau(idx):
        return kendall_tau(x[idx], y[idx])

    low, high = bootstrap_interval(tau, 13, draws=500, seed=1)
    assert (low, high) == bootstrap_interval(tau, 13, draws=500, seed=1)
    assert low < tau(np.arange(13)) < high
    assert high - low > 0.2  # 13 noisy items: a wide interval
    wide = bootstrap_interval(tau, 13, draws=500, level=0.99, seed=1)
    assert wide[0] <= low and wide[1] >= high


def test_bootstrap_interval_of_a_perfect_ranking_is_a_point_and_needs_three_items():
    x = np.arange(20.0)
    assert bootstrap_interval(lambda idx: kendall_tau(x[idx], x[idx]), 20, draws=200) == (1.0, 1.0)
    assert all(math.isnan(v) for v in bootstrap_interval(lambda idx: 0.0, 2))


def test_mean_rank_averages_each_columns_scaled_ranks_and_shares_ties():
    assert mean_rank([[3, 1, 2], [1, 2, 3]]) == [0.5, 0.25, 0.75]
    assert mean_rank([[1, 1, 2]]) == [0.25, 0.25, 1.0]
    assert mean_rank([[5]]) == [] and mean_rank([]) == []


def test_pick_quality_judges_the_top_scored_items_by_their_truth():
    truth = [0.80, 0.90, 0.85, 0.70, 0.88]
    q = pick_quality([0.5, 0.1, 0.9, 0.2, 0.8], truth, k=2)  # picks item 2 (truth 0.85), then item 4
    assert q == {"pick": 0.85, "pick_rank": 3.0, "top_k": pytest.approx(0.865), "k": 2.0}
    assert pick_quality(truth, truth, k=1)["pick_rank"] == 1.0  # the truth picks the best
    assert pick_quality([1, 1, 0], [0.7, 0.9, 0.8])["pick"] == 0.7  # a score tie: the first listed
    assert pick_quality([0.1], [0.5], k=5)["k"] == 1.0
    with pytest.raises(ValueError):
        pick_quality([1, 2], [1])
