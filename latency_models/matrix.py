"""The matrix layers of a network: those that run as one matrix-operator node each (convolutions of every kind and
fully connected layers), which per-layer timing and prediction treat one by one."""

from __future__ import annotations

from search_space.cost import cost
from search_space.layers import Layer
from search_space.spec import NetSpec

#: Cost-model layer kinds that run as one matrix-operator node each.
MATRIX_KINDS = ("pwconv", "dwconv", "conv", "gconv", "fc")


def matrix_layers(spec: NetSpec) -> list[Layer]:
    """The layers of `spec` that run as one matrix-operator node each, in the cost model's order."""
    return [layer for layer in cost(spec).layers if layer.kind in MATRIX_KINDS]
