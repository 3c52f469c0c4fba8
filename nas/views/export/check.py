"""Round-trip checks of an export: the written model, loaded back, gives PyTorch's outputs at batch 1 and 3."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

#: Largest absolute difference to the PyTorch outputs an export may show.
ABS_TOLERANCE = 1e-4
#: ... and relative to the largest PyTorch output (an untrained network's logits are ~1e-6: the absolute bound alone
#: would pass a wrong graph there).
REL_TOLERANCE = 1e-3
CHECK_BATCHES = (1, 3)


@dataclass(frozen=True)
class CheckResult:
    """Outputs of `runtime` against PyTorch on seeded N(0, 1) inputs at `batches`: largest |difference|, scale."""

    runtime: str
    batches: tuple[int, ...]
    max_abs_diff: float
    output_scale: float
    abs_tolerance: float
    rel_tolerance: float
    passed: bool
    problem: str = ""

    def describe(self) -> str:
        """One line, e.g. 'ONNX Runtime vs PyTorch at batch 1, 3: max |diff| 2.1e-07 (<= 1e-04)'."""
        sizes = ", ".join(str(b) for b in self.batches)
        if self.problem:
            return f"{self.runtime} vs PyTorch at batch {sizes}: {self.problem}"
        verdict = "within" if self.passed else "outside"
        return (f"{self.runtime} vs PyTorch at batch {sizes}: max |diff| {self.max_abs_diff:.1e}, {verdict} "
                f"{self.abs_tolerance:.0e} and {self.rel_tolerance:.0e} x the largest output "
                f"({self.output_scale:.1e})")

    @property
    def bound(self) -> float:
        return max(self.rel_tolerance * self.output_scale, 1e-9)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "batches": list(self.batches)}


@torch.no_grad()
def compare(reference: nn.Module, loaded: nn.Module, input_shape: tuple[int, int, int], runtime: str,
            seed: int = 0, batches: tuple[int, ...] = CHECK_BATCHES) -> CheckResult:
    """Run both modules on the same seeded inputs (B, *input_shape) for each batch size B and compare the outputs."""
    gen = torch.Generator().manual_seed(seed)
    diff, scale = 0.0, 0.0
    reference.eval()
    for b in batches:
        x = torch.randn((b, *input_shape), generator=gen)
        want = reference(x)
        try:
            got = loaded(x)
        except Exception as exc:  # noqa: BLE001 - e.g. a graph with a fixed batch dimension
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return CheckResult(runtime, batches, float("inf"), scale, ABS_TOLERANCE, REL_TOLERANCE, False,
                               f"fails at batch {b}: {text[:160]}")
        if tuple(got.shape) != tuple(want.shape):
            return CheckResult(runtime, batches, float("inf"), scale, ABS_TOLERANCE, REL_TOLERANCE, False,
                               f"output shape {tuple(got.shape)} at batch {b}, PyTorch gives {tuple(want.shape)}")
        diff = max(diff, float((got.float() - want.float()).abs().max()))
        scale = max(scale, float(want.abs().max()))
    ok = diff <= ABS_TOLERANCE and diff <= max(REL_TOLERANCE * scale, 1e-9)
    return CheckResult(runtime, batches, diff, scale, ABS_TOLERANCE, REL_TOLERANCE, ok)
