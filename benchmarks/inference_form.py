"""Inference form vs training form vs a plain torchvision-style channel shuffle, measured side by side.

ShuffleNet v2 1x, batch 1, one thread, PyTorch eager, the same weights in every form. The forms are run
alternately (round-robin, in a shuffled order each round) so that machine noise hits them equally; the
medians and their ratios to the plain form are printed.

    python benchmarks/inference_form.py [--rounds 40] [--inner 5] [--network shufflenet_v2_x1_0]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch

from search_space.build import build_model
from search_space.modules import to_inference
from search_space.references import reference_spec


def forms(name: str, resolution: int) -> dict[str, torch.nn.Module]:
    """Every form with the training form's weights, in eval mode."""
    spec = reference_spec(name).with_resolution(resolution)
    train = build_model(spec, seed=0).eval()
    plain = build_model(spec, form="plain")
    plain.load_state_dict(train.state_dict())
    plain_cl = build_model(spec, form="plain")
    plain_cl.load_state_dict(train.state_dict())
    return {
        "plain (cat + view/transpose/contiguous, BN unfused)": plain.eval(),
        "plain, channels-last": plain_cl.eval().to(memory_format=torch.channels_last),
        "training form (one-copy interleave, BN unfused)": train,
        "inference form, NCHW (BN folded, merged concat/shuffle/split)": to_inference(train, channels_last=False),
        "inference form (default: + channels-last)": to_inference(train),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", default="shufflenet_v2_x1_0")
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--inner", type=int, default=5, help="forward passes per timed sample")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(1)
    models = forms(args.network, args.resolution)
    x = torch.randn(1, 3, args.resolution, args.resolution)
    with torch.inference_mode():
        outs = {k: m(x) for k, m in models.items()}
    ref = next(iter(outs.values()))
    samples: dict[str, list[float]] = {k: [] for k in models}
    order = list(models)
    rng = random.Random(args.seed)
    with torch.inference_mode():
        for m in models.values():  # warm-up
            for _ in range(3):
                m(x)
        for _ in range(args.rounds):
            rng.shuffle(order)
            for k in order:
                t0 = time.perf_counter()
                for _ in range(args.inner):
                    models[k](x)
                samples[k].append((time.perf_counter() - t0) * 1e3 / args.inner)

    base = statistics.median(samples[next(iter(models))])
    print(f"{args.network} @ {args.resolution}x{args.resolution}, batch 1, 1 thread, torch {torch.__version__}, "
          f"{args.rounds} interleaved rounds x {args.inner} passes")
    print(f"{'form':66s} {'median ms':>10s} {'IQR ms':>8s} {'vs plain':>9s} {'max|diff|':>10s}")
    for k, v in samples.items():
        q = statistics.quantiles(v, n=4)
        med = statistics.median(v)
        diff = (outs[k] - ref).abs().max().item()
        print(f"{k:66s} {med:10.3f} {q[2] - q[0]:8.3f} {med / base:9.3f} {diff:10.2e}")


if __name__ == "__main__":
    main()
