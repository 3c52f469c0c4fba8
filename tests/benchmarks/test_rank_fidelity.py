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
    assert state["truth"] == {} and state["recipe"] is None and state["trained_here"] == ["truth"]
    assert "only the ground truth below was trained" in rf.reuse_line(str(src), state["trained_here"])
    assert state["config"]["truth_epochs"] == 3 and state["config"]["seeds"] == [0, 1, 2]
    assert (out / "supernet.pt").read_bytes() == b"weights" and state["supernet"]["file"] == str(out / "supernet.pt")
    assert json.loads((out / "state.json").read_text()) == state
    assert json.loads((src / "state.json").read_text()) == old  # the source is left as it was
    # a rerun continues the new folder's own state (what it has trained since), --reuse or not
    state["truth"]["a1/s0"] = {"test_accuracy": 0.9}
    rf.save_state(state, out)
    assert rf.load_state(out, {}, False, reuse=src)["truth"] == {"a1/s0": {"test_accuracy": 0.9}}


def test_reuse_with_another_supernet_recipe_keeps_the_truth_and_trains_the_supernets_again(tmp_path):
    src, old = _source(tmp_path)
    old["scores"]["proxy"] = {"a1": {"score": 0.7}}
    old["replicas"] = {"1": {"file": str(src / "supernet.pt"), "sha256": "x"}}
    (src / "state.json").write_text(json.dumps(old))
    out = tmp_path / "kd"
    state = rf.load_state(out, {"sn_teacher": "/t/final.pt", "sn_distill_weight": 0.5}, False, reuse=src)
    assert state["truth"] == old["truth"] and state["recipe"] == old["recipe"] and state["timing"] == old["timing"]
    assert state["supernet"] is None and state["replicas"] == {} and state["throughput"] is None
    assert state["scores"] == {"proxy": {"a1": {"score": 0.7}}}  # the supernet's columns are scored again
    assert state["config"]["sn_teacher"] == "/t/final.pt" and not (out / "supernet.pt").exists()
    assert state["trained_here"] == ["supernet"] and "ground truth, and the other evaluators' scores reused" in \
        rf.reuse_line(str(src), state["trained_here"])
    # other truth settings as well: the truth is trained again too
    both = rf.load_state(tmp_path / "both", {"sn_teacher": "/t/final.pt", "truth_epochs": 3}, False, reuse=src)
    assert both["truth"] == {} and both["supernet"] is None and both["trained_here"] == ["supernet", "truth"]
    assert json.loads((src / "state.json").read_text()) == old


def test_reuse_refuses_a_setting_that_would_change_the_scores(tmp_path, capsys):
    src, _ = _source(tmp_path)
    with pytest.raises(SystemExit) as exc:
        rf.load_state(tmp_path / "out", {"width_frac": 0.5}, False, reuse=src)
    assert "--width-frac 0.5 differs from the reused run" in str(exc.value)
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


def test_a_run_grows_its_architectures_by_one_more_stratified_draw(tmp_path):
    out = tmp_path / "run"
    ctx = rf.Context(rf.load_state(out, {"archs": 3}, True), out, 1)
    rf.choose_archs(ctx)
    first = json.loads((out / "state.json").read_text())["archs"]
    assert [a["name"] for a in first if not a["reference"]] == ["bin00", "bin01", "bin02"]
    ctx = rf.Context(rf.load_state(out, {"archs": 5}, False), out, 1)
    rf.choose_archs(ctx)
    archs = json.loads((out / "state.json").read_text())["archs"]
    assert archs[:len(first)] == first  # what was chosen (and maybe trained) stays
    new = archs[len(first):]
    assert [a["name"] for a in new] == ["r1bin00", "r1bin01"] and all(a["draw"] == 1 for a in new)
    assert len({a["arch_id"] for a in archs}) == len(archs)
    lo, hi = (x * ctx.cfg["budget_ms"] for x in ctx.cfg["lat_range"])
    assert lo <= new[0]["latency_ms"] <= (lo + hi) / 2 <= new[1]["latency_ms"] <= hi  # two bins over the range
    rf.choose_archs(rf.Context(rf.load_state(out, {}, False), out, 1))  # a rerun draws nothing more
    assert json.loads((out / "state.json").read_text())["archs"] == archs
    with pytest.raises(SystemExit, match="has 5; architectures can be added, not taken away"):
        rf.load_state(out, {"archs": 4}, False)


def test_the_ground_truth_runs_architecture_by_architecture(tmp_path, monkeypatch):
    src, state = _source(tmp_path)  # a1 has seed 0 already
    state["archs"] = [{"name": "bin00", "arch_id": "a1", "spec": {}}, {"name": "bin01", "arch_id": "a2", "spec": {}}]
    ctx = rf.Context(state, src, 1)
    ctx._ds = type("Dataset", (), {"spec": "fashion-mnist"})()
    monkeypatch.setattr(rf, "spec_from_dict", lambda d: d)
    ran = []
    monkeypatch.setattr(rf, "train_truth", lambda c, i, seed: ran.append((i, seed)) or {"test_accuracy": 0.5})
    monkeypatch.setattr(rf, "record_truth", lambda c, i, seed, rec: None)
    rf.truth_stage(ctx)
    assert ran == [(0, 1), (1, 0), (1, 1)]  # an interruption leaves whole architectures, not half of every one


def test_scores_made_in_a_reused_copy_are_taken_back(tmp_path):
    src, state = _source(tmp_path)
    state["archs"].append({"name": "bin01", "arch_id": "a2"})
    state["score_meta"] = {"supernet": {"supernet_sha256": "x"}}
    rf.save_state(state, src)
    copy = rf.load_state(tmp_path / "copy", {}, False, reuse=src)
    copy["scores"]["supernet"]["a2"] = {"score": 0.7}  # scored in the copy while src trains its ground truth
    copy["scores"]["proxy"] = {"a1": {"score": 0.5}, "a9": {"score": 0.1}}  # a9: not one of src's networks
    copy["scores"]["supernet"]["a1"] = {"score": 0.0}  # src has its own: kept
    rf.save_state(copy, tmp_path / "copy")
    state["truth"]["a2/s0"] = {"test_accuracy": 0.81}  # trained meanwhile
    assert rf.take_scores(state, tmp_path / "copy") == 2
    assert state["scores"] == {"supernet": {"a1": {"score": 0.6}, "a2": {"score": 0.7}},
                               "proxy": {"a1": {"score": 0.5}}}
    assert state["truth"]["a2/s0"] == {"test_accuracy": 0.81}
    copy["config"]["width_frac"] = 0.5
    copy["score_meta"]["supernet"]["supernet_sha256"] = "y"
    rf.save_state(copy, tmp_path / "copy")
    with pytest.raises(SystemExit, match="another --width-frac"):
        rf.take_scores(state, tmp_path / "copy")
    copy["config"]["width_frac"] = state["config"]["width_frac"]
    copy["scores"]["supernet"]["a3"] = {"score": 0.7}
    state["archs"].append({"name": "bin02", "arch_id": "a3"})
    rf.save_state(copy, tmp_path / "copy")
    assert rf.take_scores(state, tmp_path / "copy") == 0  # another supernet file's scores are not taken


def _net(head, *stages):
    """A stand-in spec: (width, depth) per stage and a head width."""
    from types import SimpleNamespace as NS
    return NS(head_width=head, stages=[NS(width=w, units=[None] * d) for w, d in stages])


def test_training_coverage_counts_the_paths_that_held_each_unit_at_its_width_or_wider(tmp_path, monkeypatch):
    from types import SimpleNamespace as NS
    src, state = _source(tmp_path)
    state["archs"] = [{"name": "narrow", "arch_id": "n", "spec": "n"}, {"name": "wide", "arch_id": "w", "spec": "w"}]
    state["supernet"].update(epochs_done=4, train_examples=128)
    state["config"]["sn_epochs"] = 4
    nets = {"n": _net(32, (8, 1), (16, 2)), "w": _net(64, (16, 2), (16, 2))}
    paths = [_net(32, (8, 1), (16, 2)), _net(64, (16, 2), (32, 1))]  # the training's paths, one per step, cycled
    monkeypatch.setattr(rf, "spec_from_dict", lambda key: nets[key])
    monkeypatch.setattr(rf, "read_supernet", lambda f: NS(run={"dataset": "d", "batch_size": 64}, space=None,
                                                          epochs_done=4))
    monkeypatch.setattr(rf, "epoch_paths", lambda run, sampler, epoch: iter(paths))
    ctx = rf.Context(state, src, 1)
    rf.training_coverage(ctx)
    cov = json.loads((src / "state.json").read_text())["coverage"]
    assert cov["paths"] == 8 and cov["supernet_sha256"] == "x"
    # narrow: stage 0 unit (1), stage 1 units 1 (1) and 2 (1/2: one path is one unit deep), head (1) -> 3.5 / 4
    # wide: stage 0 units (1/2, 1/2), stage 1 units (1, 1/2), head (1/2) -> 3 / 5
    assert cov["by_arch"] == {"n": 3.5 / 4, "w": 3 / 5}
    assert rf.tau_of([{"a": 1, "b": 2}, {"a": 2, "b": None}, {"a": 3, "b": 3}], lambda r: r["a"], lambda r: r["b"]) == 1


def test_the_added_networks_get_a_tau_of_their_own():
    rows = [{"draw": d, "s": s, "truth_mean": t} for d, s, t in
            ((0, 1, 3), (0, 2, 1), (0, 3, 2), (1, 1, 1), (1, 2, 2), (2, 3, 3))]
    added = rf.added_tau(rows, lambda r: r["s"])
    assert added["archs"] == 3 and added["tau"] == 1.0 and added["tau_interval_90"][1] == 1.0
    assert rf.added_tau(rows[:4], lambda r: r["s"]) is None  # one added network: no ranking


def test_supernet_columns_name_their_replica_and_bn_batches():
    assert rf.supernet_column("supernet") == (0, rf.DEFAULT_BN_BATCHES)
    assert rf.supernet_column("supernet-nobn") == (0, 0)
    assert rf.supernet_column("supernet-bn8") == (0, 8)
    assert rf.supernet_column("supernet-r2") == (2, rf.DEFAULT_BN_BATCHES)
    assert rf.supernet_column("supernet-r2-bn8") == (2, 8)
    assert rf.supernet_column("supernet-r2-nobn") == (2, 0)
    for replica, bn in ((0, 0), (0, 8), (0, rf.DEFAULT_BN_BATCHES), (3, 0), (3, 8)):
        assert rf.supernet_column(rf.view_column(replica, bn)) == (replica, bn)
    assert rf.view_column(0, rf.DEFAULT_BN_BATCHES) == "supernet"


def test_replicas_are_reused_scored_and_ensembled(tmp_path):
    src, state = _source(tmp_path)
    (src / "supernet-r1.pt").write_bytes(b"other weights")
    state["config"]["sn_replicas"] = 2
    state["replicas"] = {"1": {"file": str(src / "supernet-r1.pt"), "sha256": "y"}}
    state["score_meta"] = {"supernet-r1": {"supernet_sha256": "y"}}
    rf.save_state(state, src)
    copy = rf.load_state(tmp_path / "copy", {}, False, reuse=src)
    assert (tmp_path / "copy" / "supernet-r1.pt").read_bytes() == b"other weights"
    assert copy["replicas"]["1"]["file"] == str(tmp_path / "copy" / "supernet-r1.pt")
    ctx = rf.Context(copy, tmp_path / "copy", 1)
    assert rf.supernet_columns(ctx)[-2:] == ["supernet-r1-nobn", "supernet-r1-bn8"]
    assert rf.supernet_columns(ctx)[0] == "supernet" and len(set(rf.supernet_columns(ctx))) == 7
    default = rf.view_column(1, rf.DEFAULT_BN_BATCHES)
    assert rf.ensemble_columns(ctx) == {"supernet-mean": ["supernet", default], "supernet-ens": ["supernet", default],
                                        "supernet-ens-views": [rf.view_column(0, 0), rf.view_column(0, 8),
                                                               "supernet-r1-nobn", "supernet-r1-bn8"]}
    # a replica column is stale when its own file changed, not when replica 0's did
    assert rf.stale_scores({"supernet_sha256": "y", "evaluator": {"config": {"bn_batches": 0}}}, "supernet-r1-nobn",
                           copy) is None
    assert rf.stale_scores({"supernet_sha256": "x", "evaluator": {"config": {"bn_batches": 0}}}, "supernet-r1-nobn",
                           copy) == "the supernet changed"
    assert rf.stale_scores({"supernet_sha256": "y", "evaluator": {"config": {"bn_batches": 0}}}, "supernet-r1-bn8",
                           copy) == "the evaluator's BN batches changed"
    copy["scores"]["supernet-r1-bn8"] = {"a1": {"score": 0.3}}  # scored in the copy by replica 1's file
    copy["score_meta"]["supernet-r1-bn8"] = {"supernet_sha256": "y"}
    rf.save_state(copy, tmp_path / "copy")
    assert rf.take_scores(state, tmp_path / "copy") == 1
    assert state["scores"]["supernet-r1-bn8"] == {"a1": {"score": 0.3}}
    copy["scores"]["supernet-r1-bn8"]["a2"] = {"score": 0.4}
    copy["score_meta"]["supernet-r1-bn8"]["supernet_sha256"] = "z"  # another replica file's scores are not taken
    state["archs"].append({"name": "bin01", "arch_id": "a2"})
    rf.save_state(copy, tmp_path / "copy")
    assert rf.take_scores(state, tmp_path / "copy") == 0


def test_an_ensemble_ranks_by_the_mean_rank_of_its_members():
    rows = [{"scores": {"a": a, "b": b}} for a, b in ((0.1, 0.9), (0.2, 0.5), (0.3, None), (0.4, 0.7))]
    # over the three rows both scored: a ranks them 0, 0.5, 1; b 1, 0, 0.5
    assert rf.rank_mean(rows, ["a", "b"]) == [0.5, 0.25, None, 0.75]
    assert rf.rank_mean(rows[:1], ["a", "b"]) == [None]
    assert rf.ensemble_scores(rows, "supernet-ens", ["a", "b"]) == [0.5, 0.25, None, 0.75]
    assert rf.ensemble_scores(rows, "supernet-mean", ["a", "b"]) == pytest.approx([0.5, 0.35, None, 0.55])


def test_the_report_says_how_good_each_columns_pick_is(tmp_path):
    src, state = _source(tmp_path)
    state["archs"] = [{"name": f"n{i}", "arch_id": f"a{i}", "latency_ms": 10.0, "flops_m": 10.0 + i,
                       "proxy_flops_m": 1.0, "reference": i == 2} for i in range(4)]
    truth = (0.80, 0.86, 0.84, 0.82)
    state["truth"] = {f"a{i}/s{s}": {"test_accuracy": t + 0.001 * s, "seconds": 1.0}
                      for i, t in enumerate(truth) for s in (0, 1)}
    state["scores"] = {"supernet": {f"a{i}": {"score": v, "seconds": 0.5} for i, v in enumerate((0.1, 0.2, 0.9, 0.3))}}
    state.update(timing={}, throughput={}, supernet=None)  # the parts of the report this test does not read
    state["config"].update(search_train=4000, search_val=1000)
    ctx = rf.Context(state, src, 1)
    rep = rf.build_report(ctx)
    pick = next(t for t in rep["taus"] if t["evaluator"] == "supernet")["pick"]
    assert pick["pick"] == pytest.approx(0.8405) and pick["pick_rank"] == 2.0  # scored highest: a2, second best
    assert rep["truth_range"] == {"best": pytest.approx(0.8605), "median": pytest.approx(0.8305),
                                  "reference": {"name": "n2", "truth_mean": pytest.approx(0.8405)}}
    text = rf.render(rep)
    assert "| 0.8405 (2) | " in text and "the best 0.8605, the median 0.8305 and n2 0.8405." in text
