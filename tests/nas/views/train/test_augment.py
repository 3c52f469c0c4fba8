"""Random crop with padding and horizontal flip on batches: shapes, exactness, determinism."""

from __future__ import annotations

import torch

from nas.views.train.augment import black_level, random_crop_flip


def test_no_padding_no_flip_is_the_identity():
    x = torch.randn(4, 3, 8, 8)
    out = random_crop_flip(x, 0, False, torch.zeros(3), torch.Generator().manual_seed(0))
    assert torch.equal(out, x)


def test_crops_are_shifted_windows_filled_with_black_and_flips_mirror():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6)
    fill = torch.tensor([-7.0])
    gen = torch.Generator().manual_seed(1)
    out = random_crop_flip(x, 2, False, fill, gen)
    assert out.shape == x.shape and out.is_contiguous(memory_format=torch.channels_last)
    padded = torch.full((2, 1, 10, 10), -7.0)
    padded[:, :, 2:8, 2:8] = x
    for i in range(2):
        windows = [padded[i, :, dy:dy + 6, dx:dx + 6] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)
    flipped = random_crop_flip(x.repeat(16, 1, 1, 1), 0, True, fill, torch.Generator().manual_seed(2))
    mirrored = [torch.equal(f, x[i % 2].flip(2)) for i, f in enumerate(flipped)]
    same = [torch.equal(f, x[i % 2]) for i, f in enumerate(flipped)]
    assert all(m or s for m, s in zip(mirrored, same)) and any(mirrored) and any(same)


def test_the_same_generator_seed_gives_the_same_batch():
    x = torch.randn(5, 3, 12, 12)
    a = random_crop_flip(x, 3, True, torch.zeros(3), torch.Generator().manual_seed(7))
    b = random_crop_flip(x, 3, True, torch.zeros(3), torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_black_level():
    assert torch.allclose(black_level((0.5, 0.25), (0.5, 0.25)), torch.tensor([-1.0, -1.0]))
