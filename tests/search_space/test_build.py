"""build_model: every registered network runs; the inference form gives the training form's outputs."""

import numpy as np
import pytest
import torch
from torch import nn

from search_space.build import build_model
from search_space.modules import to_inference
from search_space.references import NETWORKS, reference_spec
from search_space.space import SearchSpace
from search_space.spec import ArchSpec, UnitSpec, uniform_stages

SMALL = 64  # every registered network accepts this input size


def calibrated(spec, seed=0, batches=4, resolution=SMALL, batch_size=16):
    """A training-form model in eval mode with realistic, non-trivial BatchNorm statistics and affine."""
    torch.manual_seed(seed)
    model = build_model(spec, seed=seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # cumulative average over the calibration batches
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, m.in_features ** -0.5)  # logits of order 1: a meaningful comparison
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(batch_size, spec.in_channels, resolution, resolution))
    return model.eval()


@pytest.mark.parametrize("name", NETWORKS.names())
def test_every_registered_network_runs_forward(name):
    spec = reference_spec(name).with_resolution(SMALL)
    model = build_model(spec, seed=0).eval()
    with torch.no_grad():
        out = model(torch.randn(2, spec.in_channels, SMALL, SMALL))
    assert out.shape == (2, spec.num_classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NETWORKS.names())
def test_inference_form_equals_training_form(name):
    """Stress check: logits of order 1, random BN affine, BN statistics from data.

    Each unit's own rounding difference is ~5e-7 relative (float32), but a random-weight deep network
    amplifies it along the depth (se_shufflenet_v2_164's training form is itself ~7e-5 from float64), so
    the bound here is relative to the largest logit: 3e-4 of it.
    """
    spec = reference_spec(name).with_resolution(SMALL)
    model = calibrated(spec)
    inference = to_inference(model)
    x = torch.randn(2, spec.in_channels, SMALL, SMALL)
    with torch.no_grad():
        ref, got = model(x), inference(x)
    assert ref.abs().max() > 0.1  # not a trivially small output
    assert (ref - got).abs().max().item() <= 3e-4 * ref.abs().max().item()


@pytest.mark.parametrize("name", NETWORKS.names())
def test_inference_form_equals_training_form_as_built(name):
    """The network as the package builds it (its own init, BN statistics from data): max abs diff <= 1e-4."""
    spec = reference_spec(name).with_resolution(SMALL)
    model = build_model(spec, seed=1)
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, spec.in_channels, SMALL, SMALL))
    model.eval()
    x = torch.randn(2, spec.in_channels, SMALL, SMALL)
    with torch.no_grad():
        assert (model(x) - to_inference(model)(x)).abs().max().item() <= 1e-4


def test_inference_form_has_no_batchnorm_and_no_separate_shuffle():
    model = build_model(reference_spec("shufflenet_v2_x1_0"), form="inference")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert model.form == "inference" and not model.training


def test_plain_form_with_the_same_weights_gives_the_same_outputs():
    spec = reference_spec("shufflenet_v2_x1_0").with_resolution(SMALL)
    model = calibrated(spec)
    plain = build_model(spec, form="plain")
    plain.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, SMALL, SMALL)
    with torch.no_grad():
        assert torch.allclose(model(x), plain.eval()(x), atol=1e-5)


@pytest.mark.parametrize("seed", range(6))
def test_inference_form_on_random_specs(seed):
    space = SearchSpace.default().with_fixed(resolution=SMALL)
    spec = space.sample(np.random.default_rng(seed))
    model = calibrated(spec, seed=seed)
    inference = to_inference(model)
    x = torch.randn(2, 3, SMALL, SMALL)
    with torch.no_grad():
        ref = model(x)
        assert (ref - inference(x)).abs().max().item() <= 3e-4 * ref.abs().max().item()


def test_unequal_split_mixes_both_halves_with_a_permutation():
    """With c'/c = 1/4 the output of a unit is a permutation of concat(identity, branch) that puts
    channels of both into the next unit's branch."""
    from search_space.blocks import mix_permutation
    perm = mix_permutation(6, 2)
    assert sorted(perm) == list(range(8))
    next_branch = perm[6:]  # the next unit (same ratio) takes the last 2 channels into its branch
    assert any(p < 6 for p in perm[4:]) and any(p >= 6 for p in perm[4:])
    assert mix_permutation(3, 3) == [0, 3, 1, 4, 2, 5]  # equal halves: ShuffleNet's 2-group shuffle
    assert next_branch


def test_seeded_builds_are_identical():
    spec = ArchSpec(stages=uniform_stages((48, 96, 192), (2, 2, 2), UnitSpec(kernel=5)), resolution=SMALL)
    a, b = build_model(spec, seed=3), build_model(spec, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_meta_device_build_allocates_nothing():
    model = build_model(reference_spec("shufflenet_v2_x2_0"), device="meta")
    assert all(p.is_meta for p in model.parameters())
