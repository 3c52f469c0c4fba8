"""Loading an export back as a torch.nn.Module: TorchScript, the state dict (+ spec) and ONNX (run by ONNX Runtime)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from search_space.build import build_model
from search_space.spec import SpecError, spec_from_json

from nas.views.export.errors import ExportError

FORMATS = ("onnx", "torchscript", "pytorch")
MODEL_FILES = {"onnx": "model.onnx", "torchscript": "model.ts", "pytorch": "model.pt"}
#: The model file suffix of each format (one per format, so a suffix names its format): an --out path ending in
#: it is the model file itself, with `STEM.spec.json` and `STEM.metadata.json` beside it.
SUFFIXES = {fmt: Path(name).suffix for fmt, name in MODEL_FILES.items()}  # .onnx, .ts, .pt
METADATA_FILE = "metadata.json"
SPEC_FILE = "spec.json"
FORMAT_STATE_DICT = "shufflenas-state-dict"
STATE_DICT_VERSION = 1


class OnnxRuntimeModule(nn.Module):
    """An ONNX file run by ONNX Runtime (CPU) behind the nn.Module interface: float32 (B, C, H, W) -> (B, K)."""

    def __init__(self, path: str | Path, threads: int | None = None):
        super().__init__()
        try:
            import onnxruntime as ort
        except ImportError:
            raise ExportError("onnxruntime is not installed: pip install onnxruntime (or shufflenas[full])") from None
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - damaged or not an ONNX file
            raise ExportError(f"ONNX Runtime cannot load {path}: {_first_line(exc)}") from None
        self.input_name = self.session.get_inputs()[0].name
        self.path = Path(path)

    @property
    def input_shape(self) -> list[Any]:
        """The graph's input shape; a str entry (e.g. "batch") is a free dimension."""
        return list(self.session.get_inputs()[0].shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feed = {self.input_name: x.detach().to("cpu", torch.float32).contiguous().numpy()}
        return torch.from_numpy(self.session.run(None, feed)[0])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def save_state_dict(model: nn.Module, path: Path) -> None:
    """model.pt of the "pytorch" format: the network's spec JSON, its form and its state dict (no pickled code)."""
    torch.save({"format": FORMAT_STATE_DICT, "version": STATE_DICT_VERSION, "spec": model.spec.to_json(),
                "form": model.form, "state_dict": model.state_dict()}, path)


def load_state_dict_file(path: Path) -> nn.Module:
    """The network of a model.pt: built from its spec in its form, weights loaded strictly; eval mode."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - not a torch file, truncated
        raise ExportError(f"cannot read {path}: {_first_line(exc)}") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT_STATE_DICT:
        raise ExportError(f"{path} is not a state-dict export of `nas export`")
    try:
        spec = spec_from_json(obj["spec"])
        model = build_model(spec, form=obj.get("form", "inference"), seed=0)
        model.load_state_dict(obj["state_dict"], strict=True)
    except (KeyError, RuntimeError, SpecError, ValueError) as exc:
        raise ExportError(f"{path}: weights do not fit its network ({_first_line(exc)})") from None
    return model.eval()


def _model_path(path: Path) -> Path:
    """The model file of an export folder (from its metadata.json, else the one model file present)."""
    meta = path / METADATA_FILE
    if meta.is_file():
        try:
            name = json.loads(meta.read_text())["files"]["model"]
        except (ValueError, KeyError, TypeError):
            raise ExportError(f"{meta} is damaged: no files.model entry") from None
        return path / name
    found = [path / f for f in MODEL_FILES.values() if (path / f).is_file()]
    if len(found) != 1:
        raise ExportError(f"{path} is not an export folder of `nas export` (no {METADATA_FILE}, "
                          f"{len(found)} model files)")
    return found[0]


def format_of_suffix(path: str | Path) -> str | None:
    """The format whose model file suffix `path` ends in (case-insensitive), else None."""
    suffix = Path(path).suffix.lower()
    return next((fmt for fmt, s in SUFFIXES.items() if s == suffix), None)


def beside(model_path: Path) -> tuple[Path, Path]:
    """(spec, metadata) paths beside the model file `model_path` of an export: STEM.spec.json, STEM.metadata.json."""
    stem = model_path.stem
    return model_path.with_name(f"{stem}.{SPEC_FILE}"), model_path.with_name(f"{stem}.{METADATA_FILE}")


def load_exported(path: str | Path, threads: int | None = None) -> nn.Module:
    """An export as a module in eval mode: an export folder, or a model file (.onnx / .ts / .pt), either the one in
    an export folder or one written as `--out NAME.onnx|.ts|.pt` (spec and metadata beside it).

    ONNX files come back as an OnnxRuntimeModule (the graph run by ONNX Runtime on CPU, `threads` intra-op threads).
    """
    p = Path(path)
    if p.is_dir():
        p = _model_path(p)
    if not p.is_file():
        raise ExportError(f"no exported model at {p}")
    fmt = format_of_suffix(p)
    if fmt == "onnx":
        return OnnxRuntimeModule(p, threads).eval()
    if fmt == "torchscript":
        try:
            return torch.jit.load(str(p), map_location="cpu").eval()
        except Exception as exc:  # noqa: BLE001 - damaged or not TorchScript
            raise ExportError(f"cannot load TorchScript {p}: {_first_line(exc)}") from None
    if fmt == "pytorch":
        return load_state_dict_file(p)
    raise ExportError(f"{p}: unknown model file type {p.suffix.lower() or '(none)'} (expected "
                      f"{', '.join(SUFFIXES.values())})")
