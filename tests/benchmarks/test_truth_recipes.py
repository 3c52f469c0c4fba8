import json

import numpy as np
import pytest

from truth_recipes import compare, finished_truth, main, recipe_stats


def run_state(truth: dict[str, list[float | None]], epochs: int, scores: dict[str, dict[str, float]] | None = None
              ) -> dict:
    """A rank-fidelity state holding `truth` (arch_id -> accuracy per seed, None: not finished) and `scores`."""
    seeds = [0, 1]
    return {"config": {"seeds": seeds, "truth_train": 36000, "truth_epochs": epochs},
            "recipe": {"epochs": epochs},
            "archs": [{"arch_id": a, "name": a} for a in truth],
            "truth": {f"{a}/s{s}": {"test_accuracy": x, "train_examples": 36000}
                      for a, accs in truth.items() for s, x in zip(seeds, accs) if x is not None},
            "scores": {n: {a: {"score": v} for a, v in by.items()} for n, by in (scores or {}).items()}}


def test_networks_far_apart_with_little_seed_noise_are_reliable_and_agree_seed_to_seed():
    accs = np.array([[0.80 + 0.01 * i, 0.8005 + 0.01 * i] for i in range(6)])
    s = recipe_stats(accs)
    assert s["networks"] == 6 and s["seeds"] == 2
    assert s["mean_abs_seed_diff"] == pytest.approx(0.0005)
    assert s["reliability"] > 0.99 and s["seed_tau"] == pytest.approx(1.0)
    assert s["means_range"] == pytest.approx([0.80025, 0.85025])


def test_seed_noise_as_large_as_the_spread_leaves_the_mean_unreliable():
    rng = np.random.default_rng(0)
    true = np.linspace(0.85, 0.86, 60)
    accs = true[:, None] + rng.normal(0.0, 0.02, (60, 2))  # seed noise 2 points, networks 1 point apart in all
    s = recipe_stats(accs)
    assert s["reliability"] < 0.5 and abs(s["seed_tau"]) < 0.3  # true reliability ~0.04; 60 networks estimate it
    assert s["within_sd"] == pytest.approx(0.02, rel=0.2)


def test_compare_ranks_on_the_networks_both_runs_finished_and_scores_each_truth():
    short = run_state({"a": [0.80, 0.81], "b": [0.82, 0.83], "c": [0.84, 0.85], "d": [0.70, None]}, 3,
                      {"perfect": {"a": 1, "b": 2, "c": 3, "d": 0}})
    long = run_state({"a": [0.88, 0.88], "b": [0.86, 0.86], "c": [0.90, 0.90], "d": [0.5, 0.5]}, 9,
                     {"perfect": {"a": 1, "b": 2, "c": 3, "d": 0}})
    assert set(finished_truth(short)) == {"a", "b", "c"}
    cmp = compare(long, short)
    assert cmp["networks"] == ["a", "b", "c"]  # d is unfinished in the short run
    assert cmp["recipe"].startswith("9 epochs") and cmp["recipe_against"].startswith("3 epochs")
    assert cmp["tau_between_means"] == pytest.approx(1 / 3)  # a-b swap between the recipes
    (e,) = cmp["evaluators"]
    assert e["networks"] == 3 and e["tau_against"] == pytest.approx(1.0) and e["tau"] == pytest.approx(1 / 3)


def test_compare_needs_two_networks_in_common():
    one = run_state({"a": [0.8, 0.8], "b": [0.8, None]}, 3)
    with pytest.raises(ValueError, match="1 network"):
        compare(one, one)


def test_the_script_writes_its_report_and_refuses_other_architectures(tmp_path, capsys):
    short = run_state({"a": [0.80, 0.81], "b": [0.82, 0.83], "c": [0.84, 0.85]}, 3, {"s": {"a": 1, "b": 2, "c": 3}})
    long = run_state({"a": [0.80, 0.80], "b": [0.83, 0.83], "c": [0.85, 0.85]}, 6, {"s": {"a": 1, "b": 2, "c": 3}})
    other = run_state({"x": [0.8, 0.8], "y": [0.9, 0.9]}, 6)
    for name, state in (("short", short), ("long", long), ("other", other)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "state.json").write_text(json.dumps(state))
    main(["--out", str(tmp_path / "long"), "--against", str(tmp_path / "short")])
    text = (tmp_path / "long" / "truth-recipes.md").read_text()
    assert "6 epochs x 36000 images" in text and "3 epochs x 36000 images" in text
    assert json.loads((tmp_path / "long" / "truth-recipes.json").read_text())["tau_between_means"] == 1.0
    with pytest.raises(SystemExit, match="other architectures"):
        main(["--out", str(tmp_path / "other"), "--against", str(tmp_path / "short")])
    with pytest.raises(SystemExit, match="no .*state.json"):
        main(["--out", str(tmp_path / "missing"), "--against", str(tmp_path / "short")])
    capsys.readouterr()
