"""build_model(spec): the PyTorch network of a spec, in training, inference or plain form."""

from __future__ import annotations

import contextlib

import torch

from search_space.blocks import Block
from search_space.modules import Network, assemble, to_inference
from search_space.plan import plan
from search_space.spec import NetSpec

FORMS = ("train", "inference", "plain")
_nullcontext = contextlib.nullcontext


def build_model(spec: NetSpec, form: str = "train", seed: int | None = None,
                device: str | torch.device | None = None, blocks: tuple[Block, ...] | None = None) -> Network:
    """Build the network of `spec`.

    form: "train" (Conv+BN+act, one-copy channel mixing), "inference" (BN folded, merged
    concat/shuffle/split; eval mode) or "plain" (torchvision-style view/transpose/contiguous shuffle).
    `seed` makes the initial weights reproducible without touching the global RNG. `device="meta"` builds
    without allocating weights (shape checks, cost cross-checks). `blocks`: the plan to build (default
    `plan(spec)`; a proxy network of another family passes its plan with a rewritten stem).
    """
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r} (known: {', '.join(FORMS)})")
    blocks = plan(spec) if blocks is None else blocks
    with torch.device(device) if device is not None else _nullcontext():
        if seed is None:
            net = assemble(spec, blocks, plain=form == "plain")
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                net = assemble(spec, blocks, plain=form == "plain")
    if form == "inference":
        return to_inference(net.eval())
    return net
