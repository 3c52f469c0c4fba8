"""The paper's published speed measurements (Tables 1-4, Appendix Table 1b, the Table 8 anchor) as rows
of (network spec, latency) that a profile can be fit on and an experiment can compare with.

The CSVs in latency_models/data/paper are copies of shared/paper/calibration (parsed from the paper's own
table lines). Batch sizes the paper does not state are inferred from the numbers and said so in `note`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources

from search_space.microbench import MicroSpec
from search_space.references import reference_spec
from search_space.spec import NetSpec

PLATFORM_KEYS = {"arm": "arm_sd810", "gpu-1080ti": "gpu_1080ti"}
UNIT_FAMILY = {"ShuffleNet v2": "shufflenet_v2", "ShuffleNet v1": "shufflenet_v1", "MobileNet v2": "mobilenet_v2",
               "Xception": "xception"}
#: Tables 1-4 do not state a batch size. On the GPU, 20 1x1 convolutions of 128 channels at 56x56
#: (1.03 G multiply-adds) in 0.68 ms is 1.5 T multiply-adds/s at batch 1 but 12 T at batch 8, above the
#: 1080Ti's peak (5.7 T), so batch 1 is the reading the numbers allow; ARM is single-image throughout.
MICRO_BATCH = {"arm_sd810": 1, "gpu_1080ti": 1}
MICRO_BATCH_NOTE = "batch not stated; 1 inferred (batch 8 would exceed the GPU's peak throughput)"


@dataclass(frozen=True)
class PublishedRow:
    """One published speed: the network it was measured on, ms per forward pass of `batch` inputs."""

    table: str
    config: str
    spec: NetSpec | MicroSpec
    latency_ms: float
    batch: int
    note: str = ""


def _read(name: str) -> list[dict[str, str]]:
    text = resources.files("latency_models").joinpath("data", "paper", name).read_text()
    return list(csv.DictReader(io.StringIO(text)))


def _scale(row: dict[str, str]) -> int:
    return int(row.get("scale_factor", "x1").lstrip("x") or 1)


def _hw(row: dict[str, str]) -> int:
    hw = row.get("input_hw", "56x56")
    return int(hw.split("x")[0]) if "x" in hw else 56


def divisible_channels(c: int, groups: int, ref_flops_per_pixel: int) -> tuple[int, str]:
    """The multiple of `groups` nearest to c, ties broken toward the FLOPs of the reference row."""
    if c % groups == 0:
        return c, ""
    lo, hi = c - c % groups, c - c % groups + groups
    best = min((lo, hi), key=lambda w: abs(w * w / groups - ref_flops_per_pixel))
    return best, f"c={c} is not divisible by g={groups}; {best} used (FLOPs closest to the g=1 row)"


def published_rows(platform: str) -> list[PublishedRow]:
    """Every published measurement for `platform` ("arm" or "gpu-1080ti")."""
    key = PLATFORM_KEYS[platform]
    rows: list[PublishedRow] = []
    batch = MICRO_BATCH[key]

    for r in _read("table1_g1_channel_ratio.csv"):
        if r["platform"] == key:
            spec = MicroSpec("g1", int(r["c1_x1"]), int(r["c2_x1"]), scale=_scale(r))
            rows.append(PublishedRow("Table 1", f"{r['config']} {r['scale_factor']}", spec, float(r["latency_ms"]),
                                     batch, MICRO_BATCH_NOTE))
    g2 = [r for r in _read("table2_g2_groups.csv") if r["platform"] == key]
    ref_c = {r["scale_factor"]: int(r["channels_c"]) for r in g2 if r["groups"] == "1"}
    for r in g2:
        g, c = int(r["groups"]), int(r["channels_c"])
        c, note = divisible_channels(c, g, ref_c["x1"] ** 2)
        spec = MicroSpec("g2", c, groups=g, scale=_scale(r))
        rows.append(PublishedRow("Table 2", f"{r['config']} {r['scale_factor']}", spec, float(r["latency_ms"]), batch,
                                 "; ".join(filter(None, (MICRO_BATCH_NOTE, note)))))
    for r in _read("table3_g3_fragments.csv"):
        if r["platform"] == key:
            arrangement = "parallel" if r["arrangement"] == "parallel" else "series"
            spec = MicroSpec("g3", int(r["channels_c"]), fragments=int(r["n_fragments"]), arrangement=arrangement)
            rows.append(PublishedRow("Table 3", f"{r['config']} c={r['channels_c']}", spec, float(r["latency_ms"]),
                                     batch, MICRO_BATCH_NOTE))
    for r in _read("table4_g4_relu_shortcut.csv"):
        if r["platform"] == key:
            spec = MicroSpec("g4", int(r["channels_c"]), relu=r["relu"] == "yes", shortcut=r["shortcut"] == "yes")
            rows.append(PublishedRow("Table 4", f"{r['config']} c={r['channels_c']}", spec, float(r["latency_ms"]),
                                     batch, MICRO_BATCH_NOTE + "; input size not stated, 56x56 used"))
    for r in _read("appendix_table1b_unit_speeds.csv"):
        if r["platform"] == key:
            spec = MicroSpec("units", int(r["channels_c_shufflenetv2"]), unit_family=UNIT_FAMILY[r["model"]],
                             resolution=_hw(r))
            rows.append(PublishedRow("Appendix Table 1b", f"{r['model']} c={r['channels_c_shufflenetv2']} {r['input_hw']}",
                                     spec, float(r["latency_ms"]), int(r["batch_size"] or 1),
                                     "batch 1 per the shared caption of Appendix Table 1"))
    for r in _read("table8_anchor_rows.csv"):
        spec = reference_spec("shufflenet_v2_x1_0")
        if key == "arm_sd810":
            rows.append(PublishedRow("Table 8", r["model"], spec, float(r["arm_latency_ms"]), int(r["arm_batch_size"])))
        else:
            rows.append(PublishedRow("Table 8", r["model"], spec, float(r["gpu_latency_ms_per_batch"]),
                                     int(r["gpu_batch_size"])))
    return rows
