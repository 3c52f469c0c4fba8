"""Layer-level description shared by the cost model, the module builder and latency predictors."""

from __future__ import annotations

from dataclasses import dataclass

#: Layer kinds. "Compute" kinds carry multiply-adds; the rest are element-wise / data-movement ops whose
#: cost is memory access only (the paper's G4: "small FLOPs but relatively heavy MAC").
CONV_KINDS = ("conv", "pwconv", "gconv", "dwconv")
COMPUTE_KINDS = CONV_KINDS + ("fc",)
ELTWISE_KINDS = ("relu", "relu6", "sigmoid", "add", "mul", "concat", "concat_shuffle", "shuffle")
POOL_KINDS = ("maxpool", "avgpool", "gap")
KINDS = COMPUTE_KINDS + ELTWISE_KINDS + POOL_KINDS


def conv_out(size: int, kernel: int, stride: int, pad: int | None = None) -> int:
    """Output spatial size of a convolution / pooling window (PyTorch arithmetic, floor mode)."""
    pad = kernel // 2 if pad is None else pad
    return (size + 2 * pad - kernel) // stride + 1


@dataclass(frozen=True)
class Conv:
    """A convolution with BatchNorm (folded at inference) and an optional activation."""

    cin: int
    cout: int
    kernel: int = 1
    stride: int = 1
    groups: int = 1
    act: str | None = "relu"  # "relu" | "relu6" | None
    bn: bool = True

    def __post_init__(self) -> None:
        if self.cin % self.groups or self.cout % self.groups:
            raise ValueError(f"conv {self.cin}->{self.cout} not divisible into {self.groups} groups")

    @property
    def kind(self) -> str:
        if self.groups == 1:
            return "pwconv" if self.kernel == 1 else "conv"
        if self.groups == self.cin == self.cout:
            return "dwconv"
        return "gconv"

    @property
    def weights(self) -> int:
        return self.cout * (self.cin // self.groups) * self.kernel * self.kernel

    @property
    def train_params(self) -> int:
        """Trainable parameters in the training form: weights + BN affine (or a bias without BN)."""
        return self.weights + (2 * self.cout if self.bn else self.cout)


@dataclass(frozen=True)
class Layer:
    """One executed operation at a concrete input size (batch 1): shapes, multiply-adds, params and MAC.

    `mac` follows the paper's G1 definition: elements read and written (input + output feature maps)
    plus weights, i.e. h*w*(c1+c2) + c1*c2 for a 1x1 convolution.
    """

    name: str
    kind: str
    block: str
    cin: int
    cout: int
    h_in: int
    w_in: int
    h_out: int
    w_out: int
    kernel: int = 1
    stride: int = 1
    groups: int = 1
    flops: int = 0
    params: int = 0
    mac: int = 0

    def as_row(self) -> dict:
        return {
            "name": self.name, "kind": self.kind, "block": self.block, "cin": self.cin, "cout": self.cout,
            "h_in": self.h_in, "w_in": self.w_in, "h_out": self.h_out, "w_out": self.w_out, "kernel": self.kernel,
            "stride": self.stride, "groups": self.groups, "flops": self.flops, "params": self.params, "mac": self.mac,
        }


def conv_layer(name: str, block: str, conv: Conv, h: int, w: int) -> Layer:
    """Cost of one convolution (BN folded): multiply-adds, training-form params, MAC."""
    ho, wo = conv_out(h, conv.kernel, conv.stride), conv_out(w, conv.kernel, conv.stride)
    flops = ho * wo * conv.weights
    mac = h * w * conv.cin + ho * wo * conv.cout + conv.weights
    return Layer(name, conv.kind, block, conv.cin, conv.cout, h, w, ho, wo, conv.kernel, conv.stride, conv.groups,
                 flops=flops, params=conv.train_params, mac=mac)


def eltwise_layer(name: str, kind: str, block: str, channels: int, h: int, w: int, inputs: int = 1,
                  cout: int | None = None) -> Layer:
    """An element-wise / copy op: reads `inputs` tensors of `channels`, writes one of `cout` (default same)."""
    cout = channels if cout is None else cout
    return Layer(name, kind, block, channels, cout, h, w, h, w, mac=h * w * (channels * inputs + cout))


def pool_layer(name: str, kind: str, block: str, channels: int, h: int, w: int, kernel: int, stride: int,
               pad: int | None = None) -> Layer:
    ho, wo = conv_out(h, kernel, stride, pad), conv_out(w, kernel, stride, pad)
    return Layer(name, kind, block, channels, channels, h, w, ho, wo, kernel, stride,
                 mac=h * w * channels + ho * wo * channels)


def gap_layer(name: str, block: str, channels: int, h: int, w: int) -> Layer:
    """Global average pooling of an (channels, h, w) map to (channels, 1, 1)."""
    return Layer(name, "gap", block, channels, channels, h, w, 1, 1, kernel=h, mac=h * w * channels + channels)


def fc_layer(name: str, block: str, cin: int, cout: int) -> Layer:
    """Fully connected layer with bias."""
    return Layer(name, "fc", block, cin, cout, 1, 1, 1, 1, flops=cin * cout, params=cin * cout + cout,
                 mac=cin + cout + cin * cout)


def act_layers(name: str, block: str, act: str | None, channels: int, h: int, w: int) -> list[Layer]:
    return [] if act is None else [eltwise_layer(f"{name}.{act}", act, block, channels, h, w)]
