"""Two ground-truth recipes for the same networks, side by side (issue 12): does a longer recipe make seeds agree?

    python benchmarks/truth_recipes.py --out runs/rf-6ep --against runs/rf-ids

Reads two rank-fidelity runs (benchmarks/rank_fidelity.py) over the same architectures, one a --reuse copy of the
other trained with another ground-truth recipe, and over the networks both have finished with every seed reports,
for each recipe:

  seed noise        mean |seed0 - seed1| and the pooled within-network standard deviation of the test accuracy
  network spread    the standard deviation of the networks' seed means
  reliability       the share of the means' variance that is not seed noise, 1 - (within variance / seeds) /
                    variance of the means: a perfect evaluator's correlation with the mean is at most its square root
  seed-to-seed tau  the report's ceiling column, on these networks (with its 90 % interval over resampled networks)

and between the two: Kendall tau of their means (does the shorter recipe rank the networks as the longer one?),
and every evaluator's tau (this run's scores, which a --reuse copy takes from its source) against each recipe's
mean on these networks. The runs' states are only read; written to
OUT/truth-recipes.md and OUT/truth-recipes.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

# this script's folder is on sys.path
from rank_fidelity import fmt, read_state, seed_accuracies, span, truth_train_examples, write_json
from ranking import bootstrap_interval, kendall_tau, mean_pairwise_tau


def finished_truth(state: Mapping[str, Any]) -> dict[str, list[float]]:
    """arch_id -> test accuracy per seed (the run's seed order), for the networks finished with every seed."""
    out = {}
    for a in state["archs"]:
        accs = seed_accuracies(state, a["arch_id"])
        if all(x is not None for x in accs):
            out[a["arch_id"]] = [float(x) for x in accs]
    return out


def recipe_stats(accs: np.ndarray) -> dict[str, Any]:
    """The spread figures of one recipe from its (networks, seeds) test accuracies."""
    n, k = accs.shape
    means = accs.mean(axis=1)
    within_var = float(np.mean(accs.var(axis=1, ddof=1))) if k > 1 else float("nan")
    means_var = float(np.var(means, ddof=1)) if n > 1 else float("nan")
    reliability = 1.0 - within_var / k / means_var if means_var > 0 else float("nan")

    def seed_tau(idx: np.ndarray) -> float:
        return mean_pairwise_tau([list(accs[idx, j]) for j in range(k)])

    return {"networks": n, "seeds": k, "mean_abs_seed_diff": float(np.mean(np.abs(accs[:, 0] - accs[:, 1])))
            if k > 1 else float("nan"), "within_sd": float(np.sqrt(within_var)), "means_sd": float(np.sqrt(means_var)),
            "means_range": [float(means.min()), float(means.max())], "reliability": reliability,
            "seed_tau": seed_tau(np.arange(n)) if n > 1 else float("nan"),
            "seed_tau_interval_90": bootstrap_interval(seed_tau, n)}


def recipe_text(state: Mapping[str, Any]) -> str:
    """The ground-truth recipe of a run in a few words."""
    rc, c = state.get("recipe") or {}, state["config"]
    images = truth_train_examples(state) or c["truth_train"]
    return f"{rc.get('epochs', c['truth_epochs'])} epochs x {images} images, seeds {c['seeds']}"


def compare(state: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """The figures of `state`'s ground truth beside `other`'s (same architectures) on the networks both finished."""
    mine, theirs = finished_truth(state), finished_truth(other)
    common = [a["arch_id"] for a in state["archs"] if a["arch_id"] in mine and a["arch_id"] in theirs]
    if len(common) < 2:
        raise ValueError(f"{len(common)} network(s) finished in both runs; need at least 2")
    a = np.array([mine[x] for x in common])
    b = np.array([theirs[x] for x in common])
    ma, mb = a.mean(axis=1), b.mean(axis=1)
    evaluators = []
    for name, scores in sorted(state["scores"].items()):  # this run's scores (a --reuse copy holds the source's)
        have = [i for i, x in enumerate(common) if x in scores]
        if len(have) < 2:
            continue
        s = [scores[common[i]]["score"] for i in have]
        evaluators.append({"evaluator": name, "networks": len(have),
                           "tau": kendall_tau(s, list(ma[have])), "tau_against": kendall_tau(s, list(mb[have]))})
    return {"networks": common, "recipe": recipe_text(state), "recipe_against": recipe_text(other),
            "stats": recipe_stats(a), "stats_against": recipe_stats(b),
            "tau_between_means": kendall_tau(list(ma), list(mb)),
            "tau_between_means_interval_90": bootstrap_interval(
                lambda idx: kendall_tau(list(ma[idx]), list(mb[idx])), len(common)),
            "evaluators": evaluators}


def render(cmp: Mapping[str, Any], out: str, against: str) -> str:
    s, t = cmp["stats"], cmp["stats_against"]
    rows = [("mean abs(seed0 - seed1), points", lambda x: fmt(100 * x["mean_abs_seed_diff"], ".2f")),
            ("within-network sd, points", lambda x: fmt(100 * x["within_sd"], ".2f")),
            ("sd of the networks' means, points", lambda x: fmt(100 * x["means_sd"], ".2f")),
            ("range of the means", lambda x: f"{x['means_range'][0]:.4f} to {x['means_range'][1]:.4f}"),
            ("reliability of the mean", lambda x: fmt(x["reliability"], ".2f")),
            ("seed-to-seed tau (ceiling)", lambda x: f"{fmt(x['seed_tau'])} ({span(x['seed_tau_interval_90'])})")]
    lines = [f"# Ground-truth recipes side by side: {out} against {against}", "",
             f"{len(cmp['networks'])} networks finished in both runs with every seed.", "",
             f"| | {cmp['recipe']} ({out}) | {cmp['recipe_against']} ({against}) |", "|---|---|---|"]
    lines += [f"| {label} | {f(s)} | {f(t)} |" for label, f in rows]
    lines += ["", f"Kendall tau between the two recipes' means: **{fmt(cmp['tau_between_means'])}** (90 % interval "
              f"{span(cmp['tau_between_means_interval_90'])}).", "",
              f"| evaluator | networks | tau vs {out} | tau vs {against} |", "|---|---|---|---|"]
    lines += [f"| {e['evaluator']} | {e['networks']} | {fmt(e['tau'])} | {fmt(e['tau_against'])} |"
              for e in cmp["evaluators"]]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="a rank-fidelity run (the report is written here)")
    p.add_argument("--against", required=True, help="another run over the same architectures")
    args = p.parse_args(argv)
    out, against = Path(args.out), Path(args.against)
    state, other = read_state(out, f"--out {out}"), read_state(against, f"--against {against}")
    ids, other_ids = [a["arch_id"] for a in state["archs"]], [a["arch_id"] for a in other["archs"]]
    shared = min(len(ids), len(other_ids))  # a run may have grown its --archs beyond the other
    if ids[:shared] != other_ids[:shared]:
        sys.exit(f"error: {out} and {against} hold other architectures (start one with --reuse from the other)")
    try:
        cmp = compare(state, other)
    except ValueError as e:
        sys.exit(f"error: {e}")
    text = render(cmp, str(out), str(against))
    (out / "truth-recipes.md").write_text(text)
    write_json(cmp, out / "truth-recipes.json")
    print(text + f"\nwrote {out / 'truth-recipes.md'} and {out / 'truth-recipes.json'}", flush=True)


if __name__ == "__main__":
    main()
