"""`nas search` end to end on a tiny dataset: results, constraint, storage, resume, workers, Ray, failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest

from nas.cli.main import main
from nas.search.record import TrialRecord
from nas.search.session import counted_trials
from nas.search.study import load_study

BASE = ["search", "--platform", "arm", "--budget", "30ms", "--train-examples", "200", "--val-examples", "100",
        "--timeout", "0"]


def run_cli(capsys, args) -> dict:
    code = main(args)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def counted(study) -> list:
    """The finished trials that count towards --trials (as the search itself counts them)."""
    out = [t for t in study.get_trials() if t.state.is_finished()
           and (TrialRecord.from_trial(t) is None or TrialRecord.from_trial(t).counted)]
    assert len(out) == counted_trials(study)
    return out


@pytest.mark.slow
def test_optuna_search_end_to_end(tiny_idx_dir, tmp_path, capsys, nas_home):
    db = tmp_path / "s.db"
    out = run_cli(capsys, BASE + ["--dataset", f"fashion-mnist:{tiny_idx_dir}", "--trials", "3", "--workers", "1",
                                  "--storage", str(db), "--json", "--seed", "1"])
    for key in ("study", "storage", "budget_ms", "platform", "best", "pareto"):
        assert key in out
    assert out["budget_ms"] == 30.0 and out["platform"] == "arm" and out["storage"] == str(db)
    best = out["best"]
    assert best is not None
    for key in ("arch_id", "accuracy", "latency_ms", "latency_kind", "spec"):
        assert key in best
    assert best["latency_kind"] == "predicted"  # arm is calibrated from published numbers, never measured here
    assert 0.0 <= best["accuracy"] <= 1.0 and best["latency_ms"] <= 30.0
    study = load_study(str(db), out["study"])
    trials = counted(study)
    assert len(trials) == 3
    # the constraint: every trained architecture was predicted within the budget, and the study says so
    for t in study.get_trials():
        assert t.state.is_finished()  # no more start-up points are queued than --trials
        rec = TrialRecord.from_trial(t)
        if rec.reference is not None:  # a hand-designed reference, evaluated whatever its latency
            continue
        assert rec.spec and rec.predicted.error_rmspe is not None and rec.predicted.kind == "predicted"
        over = t.system_attrs.get("constraints:latency_over_budget_ms")
        if rec.status == "evaluated":
            assert rec.latency_ms <= 30.0 and over <= 0 and rec.decided_by == "predicted"
            assert rec.evaluation.evaluator == "train" and rec.evaluation.train_examples > 0
    assert [c["trial"] for c in out["candidates"]] == [t.number for t in study.get_trials()]
    for c in out["pareto"]:
        assert c["latency_kind"] in ("predicted", "measured")


def test_seeded_runs_repeat(tiny_idx_dir, tmp_path, capsys, nas_home):
    args = BASE + ["--dataset", f"fashion-mnist:{tiny_idx_dir}", "--evaluator", "synflow", "--trials", "6",
                   "--workers", "1", "--json", "--seed", "4"]
    a = run_cli(capsys, args + ["--storage", str(tmp_path / "a.db")])
    b = run_cli(capsys, args + ["--storage", str(tmp_path / "b.db")])
    sa, sb = load_study(str(tmp_path / "a.db"), a["study"]), load_study(str(tmp_path / "b.db"), b["study"])
    assert [t.params for t in sa.get_trials()] == [t.params for t in sb.get_trials()]
    assert [t.values for t in sa.get_trials()] == [t.values for t in sb.get_trials()]


def test_rerun_continues_the_study(tiny_idx_dir, tmp_path, capsys, nas_home):
    args = BASE + ["--dataset", f"fashion-mnist:{tiny_idx_dir}", "--evaluator", "synflow", "--workers", "1",
                   "--json", "--storage", str(tmp_path / "r.db")]
    first = run_cli(capsys, args + ["--trials", "3"])
    second = run_cli(capsys, args + ["--trials", "5"])
    assert first["study"] == second["study"]
    study = load_study(str(tmp_path / "r.db"), first["study"])
    assert len(counted(study)) == 5


@pytest.mark.slow
def test_resume_after_sigkill_keeps_completed_trials(tiny_idx_dir, tmp_path):
    db = tmp_path / "k.db"
    env = {**os.environ, "NAS_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-m", "nas.cli.main"] + BASE + ["--dataset", f"fashion-mnist:{tiny_idx_dir}",
                                                          "--trials", "4", "--workers", "1", "--storage", str(db),
                                                          "--study-name", "killme", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=tmp_path)
    deadline = time.time() + 240
    done_before = []
    while time.time() < deadline:
        time.sleep(1)
        if db.exists():
            try:
                done_before = [t.number for t in counted(load_study(str(db), "killme"))]
            except Exception:  # noqa: BLE001 - the study may not exist yet
                continue
            if done_before:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert done_before, "no trial finished before the deadline"
    after_kill = {t.number: t.values for t in counted(load_study(str(db), "killme"))}
    assert set(done_before) <= set(after_kill)  # nothing completed was lost
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr
    final = {t.number: t.values for t in counted(load_study(str(db), "killme"))}
    assert len(final) >= 4
    assert all(final[n] == v for n, v in after_kill.items())


@pytest.mark.slow
def test_two_worker_processes_share_one_storage(tiny_idx_dir, tmp_path, capsys, nas_home):
    out = run_cli(capsys, BASE + ["--dataset", f"fashion-mnist:{tiny_idx_dir}", "--evaluator", "synflow",
                                  "--trials", "6", "--workers", "2", "--json", "--storage", str(tmp_path / "w.db")])
    study = load_study(str(tmp_path / "w.db"), out["study"])
    assert len(counted(study)) >= 6
    assert len({t.number for t in study.get_trials()}) == len(study.get_trials())


@pytest.mark.slow
def test_ray_backend_end_to_end(tiny_idx_dir, tmp_path, capsys, nas_home, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    out = run_cli(capsys, BASE + ["--dataset", f"fashion-mnist:{tiny_idx_dir}", "--evaluator", "synflow",
                                  "--trials", "4", "--workers", "2", "--backend", "ray", "--json",
                                  "--objective", "pareto", "--storage", str(tmp_path / "ray.db")])
    study = load_study(str(tmp_path / "ray.db"), out["study"])
    records = [TrialRecord.from_trial(t) for t in study.get_trials()]
    assert len(counted(study)) == 4 and all(r.backend == "ray" for r in records if r.reference is None)
    for t in study.get_trials():  # the Pareto objective: accuracy and latency told to the study
        if TrialRecord.from_trial(t).status == "evaluated":
            assert t.values == [TrialRecord.from_trial(t).value, TrialRecord.from_trial(t).latency_ms]
    assert out["best"] is not None and out["best"]["latency_ms"] <= 30.0


def test_a_failing_trial_is_recorded_and_the_search_goes_on(tiny_idx_dir, tmp_path, monkeypatch, nas_home):
    import io
    import logging

    from nas.search import trial as trial_mod
    from nas.search.backends import SearchRun, get_backend
    from nas.search.config import SearchConfig

    real = trial_mod.SearchContext.evaluator.func
    calls = {"n": 0}

    class Flaky:
        def __init__(self, inner):
            self.inner = inner

        def evaluate(self, spec, data, *, seed, report=None):
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("loss is nan at step 3")
            return self.inner.evaluate(spec, data, seed=seed, report=report)

    monkeypatch.setattr(trial_mod.SearchContext, "evaluator", property(lambda self: Flaky(real(self))))
    config = SearchConfig(platform="arm", budget_ms=30.0, evaluator="synflow", dataset=f"fashion-mnist:{tiny_idx_dir}",
                          trials=4, timeout_s=None, workers=1, train_examples=200, val_examples=100)
    url = f"sqlite:///{tmp_path / 'f.db'}"
    log = io.StringIO()
    handler = logging.StreamHandler(log)  # what Optuna's own handler would write to the terminal
    logging.getLogger("optuna").addHandler(handler)
    try:
        get_backend("optuna").run(SearchRun(config, url, "flaky"))
    finally:
        logging.getLogger("optuna").removeHandler(handler)
    study = load_study(url, "flaky")
    failed = [t for t in study.get_trials() if t.state == optuna.trial.TrialState.FAIL]
    assert len(failed) == 1 and "nan" in TrialRecord.from_trial(failed[0]).failure
    assert len([t for t in study.get_trials() if TrialRecord.from_trial(t).status == "evaluated"]) == 3
    assert counted_trials(study) == 4  # a failed evaluation counts (it is not redone)
    assert "Traceback" not in log.getvalue() and "failed with" not in log.getvalue()  # the record says it, and
    # the CLI's line for the trial


def test_measured_verification_on_a_local_platform(tiny_idx_dir, tmp_path, capsys, nas_home):
    from tests.nas.search.helpers import register_synthetic_profile

    register_synthetic_profile(tmp_path, "cpu")
    out = run_cli(capsys, ["search", "--platform", "cpu", "--budget", "40ms", "--evaluator", "synflow",
                           "--trials", "4", "--workers", "1", "--timeout", "0", "--json",
                           "--dataset", f"fashion-mnist:{tiny_idx_dir}", "--storage", str(tmp_path / "v.db"),
                           "--resolution", "64"])
    assert out["pareto"]
    for c in out["pareto"]:
        assert c["latency_kind"] == "measured" and c["measured_ms"] > 0 and c["predicted_ms"] > 0


@pytest.mark.parametrize("args, words", [
    (["--platform", "mars", "--budget", "20ms"], "unknown platform"),
    (["--platform", "arm", "--budget", "20ms", "--evaluator", "magic"], "--evaluator"),
    (["--platform", "arm", "--budget", "20ms", "--objective", "fastest"], "--objective"),
    (["--platform", "arm", "--budget", "0.001ms", "--evaluator", "synflow"], "no architecture"),
    (["--platform", "arm", "--budget", "20ms", "--storage", "/nonexistent/dir/x.db"], "does not exist"),
    (["--platform", "arm", "--budget", "20ms", "--backend", "spark"], "unknown search backend"),
    (["--platform", "arm", "--budget", "20ms", "--sampler", "annealing"], "unknown search strategy"),
    (["--platform", "arm", "--budget", "20ms", "--objective", "pareto", "--pruner", "median"], "--pruner"),
    (["--platform", "arm", "--budget", "20ms", "--objective", "pareto", "--pruner", "halving", "--backend", "ray"],
     "--pruner"),
])
def test_bad_options_end_with_one_line(args, words, tiny_idx_dir, tmp_path, capsys, nas_home, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["search"] + args + ["--dataset", f"fashion-mnist:{tiny_idx_dir}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and words in err[0]


def trial_lines(stdout: str) -> list[str]:
    return [ln for ln in stdout.splitlines() if ln.startswith("trial ") and ": " in ln]


def test_one_plain_line_per_trial_when_stdout_is_not_a_terminal(tiny_idx_dir, tmp_path):
    env = {**os.environ, "NAS_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-m", "nas.cli.main"] + BASE + ["--dataset", f"fashion-mnist:{tiny_idx_dir}",
                                                          "--evaluator", "synflow", "--trials", "3", "--workers",
                                                          "1", "--storage", str(tmp_path / "l.db")]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = trial_lines(out.stdout)
    assert len(lines) == 3
    for ln in lines:  # number, status, the value and the latency with its kind
        assert ": evaluated, score " in ln and "ms predicted" in ln and "on arm" in ln
    assert "best within 30 ms" in out.stdout
    quiet = subprocess.run(cmd + ["--trials", "4", "--quiet"], capture_output=True, text=True, env=env,
                           cwd=tmp_path, timeout=300)
    assert quiet.returncode == 0 and not trial_lines(quiet.stdout)
    assert "best within 30 ms" in quiet.stdout
