import json

import pytest

import rank_fidelity as rf


def _source(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "supernet.pt").write_bytes(b"weights")
    cfg = {**rf.DEFAULTS, "quick": False, "search_seed": 0, "proxy_resolution": 32, "resolution": 224}
    state = {"version": rf.STATE_VERSION, "config": cfg, "archs": [{"name": "bin00", "arch_id": "a1"}],
             "timing": {"images_per_s": 100.0}, "truth": {"a1/s0": {"test_accuracy": 0.8}},
             "recipe": {"epochs": 1}, "supernet": {"file": str(src / "supernet.pt"), "sha256": "x"},
             "scores": {"supernet": {"a1": {"score": 0.6}}}, "score_meta": {}, "throughput": {"per_minute": 50}}
    (src / "state.json").write_text(json.dumps(state))
    return src, state


def test_reuse_keeps_architectures_supernet_and_scores_and_trains_the_truth_again(tmp_path):
    src, old = _source(tmp_path)
    out = tmp_path / "out"
    state = rf.load_state(out, {"truth_epochs": 3, "seeds": [0, 1, 2], "archs": None}, False, reuse=src)
    assert state["archs"] == old["archs"] and state["scores"] == old["scores"]
    assert state["throughput"] == old["throughput"] and state["timing"] == old["timing"]
    assert state["truth"] == {} and state["recipe"] is None
    assert state["config"]["truth_epochs"] == 3 and state["config"]["seeds"] == [0, 1, 2]
    assert (out / "supernet.pt").read_bytes() == b"weights" and state["supernet"]["file"] == str(out / "supernet.pt")
    assert json.loads((out / "state.json").read_text()) == state
    assert json.loads((src / "state.json").read_text()) == old  # the source is left as it was
    # a rerun continues the new folder's own state (what it has trained since), --reuse or not
    state["truth"]["a1/s0"] = {"test_accuracy": 0.9}
    rf.save_state(state, out)
    assert rf.load_state(out, {}, False, reuse=src)["truth"] == {"a1/s0": {"test_accuracy": 0.9}}


def test_reuse_refuses_a_setting_that_would_change_the_scores(tmp_path, capsys):
    src, _ = _source(tmp_path)
    with pytest.raises(SystemExit) as exc:
        rf.load_state(tmp_path / "out", {"archs": 20}, False, reuse=src)
    assert "--archs 20 differs from the reused run" in str(exc.value)
    assert not (tmp_path / "out" / "state.json").exists()
    assert rf.load_state(tmp_path / "longer", {"sn_epochs": 16}, False, reuse=src)["config"]["sn_epochs"] == 16


def test_reuse_drops_the_timing_when_the_truth_batch_changes(tmp_path):
    src, _ = _source(tmp_path)
    assert rf.load_state(tmp_path / "out", {"truth_batch": 128}, False, reuse=src)["timing"] is None
    with pytest.raises(SystemExit, match="no .*state.json"):
        rf.load_state(tmp_path / "other", {}, False, reuse=tmp_path / "missing")


def test_a_run_may_grow_its_seeds_but_not_change_its_recipe(tmp_path):
    src, _ = _source(tmp_path)
    rf.load_state(tmp_path / "out", {}, False, reuse=src)
    assert rf.load_state(tmp_path / "out", {"seeds": [0, 1, 2]}, False)["config"]["seeds"] == [0, 1, 2]
    with pytest.raises(SystemExit, match="--truth-epochs 5 differs"):
        rf.load_state(tmp_path / "out", {"truth_epochs": 5}, False)
