"""Light, batched augmentation of proxy-transformed images: random crop with padding and horizontal flip."""

from __future__ import annotations

import torch


@torch.no_grad()
def random_crop_flip(x: torch.Tensor, padding: int, flip: bool, fill: torch.Tensor,
                     generator: torch.Generator) -> torch.Tensor:
    """Per-image random crop of float x (B, C, H, W) padded by `padding` px with `fill` (C,), then a random flip.

    Same shape out (channels-last memory). `fill` is the value of a black pixel after normalisation, so padding
    looks like the image border of Fashion-MNIST / CIFAR rather than grey. Draws come only from `generator`.
    """
    b, c, h, w = x.shape
    if padding > 0:
        padded = fill.to(x.dtype).view(1, c, 1, 1).expand(b, c, h + 2 * padding, w + 2 * padding).clone()
        padded[:, :, padding:padding + h, padding:padding + w] = x
        dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
        dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
        rows = (dy[:, None] + torch.arange(h))[:, :, None]  # (B, H, 1)
        cols = (dx[:, None] + torch.arange(w))[:, None, :]  # (B, 1, W)
        # Advanced indices around a slice put their dimensions first: (B, H, W, C); the permute keeps NHWC memory.
        x = padded[torch.arange(b)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)
    if flip:
        mirror = torch.rand(b, generator=generator) < 0.5
        x = torch.where(mirror.view(b, 1, 1, 1), x.flip(3), x)
    return x


def black_level(mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """Per-channel value (C,) of a black pixel after (x - mean) / std normalisation."""
    return torch.tensor([-m / s for m, s in zip(mean, std)], dtype=torch.float32)
