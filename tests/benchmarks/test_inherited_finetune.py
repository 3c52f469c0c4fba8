import pytest

from inherited_finetune import arm_means, column, render


def test_columns_name_replica_and_learning_rate():
    assert column(0, 0.01, 0) == "ft-r0-lr0.01" and column(3, 0.05, 0) == "ft-r3-lr0.05"
    assert column(1, 0.01, 3000) == "ft-r1-lr0.01-val3000" and column(1, 0.01, None) == "ft-r1-lr0.01-valall"


def test_means_group_the_replicas_of_one_learning_rate_only():
    rows = [{"column": column(r, lr, 0), "tau": tau} for r, lr, tau in
            ((0, 0.01, 0.5), (1, 0.01, 0.3), (2, 0.01, 0.4), (0, 0.05, 0.2))]
    rows.append({"column": column(0, 0.01, None), "tau": 0.7})
    rows.append({"column": "proxy", "tau": 0.9})
    means = arm_means(rows)
    assert set(means) == {"ft lr0.01", "ft lr0.05", "ft lr0.01-valall"}
    assert means["ft lr0.01"] == {"replicas": 3, "mean": pytest.approx(0.4), "range": pytest.approx(0.2)}
    assert means["ft lr0.05"]["replicas"] == 1


def test_report_lists_every_column_and_the_means():
    rep = {"source": "runs/x", "networks": 4, "truth_depth_tau": [0.1, -0.4, -0.2],
           "rows": [{"column": "ft-r0-lr0.01", "tau": 0.5, "interval_90": (0.1, 0.9), "depth_tau": [0.0, -0.5, 0.25],
                     "mean_score": 0.78, "sd_score": 0.01, "pick": {"pick": 0.88, "pick_rank": 3.0}}],
           "means": {"ft lr0.01": {"replicas": 1, "mean": 0.5, "range": 0.0}}}
    text = render(rep)
    assert "| ft-r0-lr0.01 | 0.500 | 0.100 to 0.900 | 0.000 / -0.500 / 0.250 | 0.7800 (0.0100) | 0.8800 (3) |" in text
    assert "| ft lr0.01 | 1 | 0.500 | 0.000 |" in text and "(4 networks" in text
