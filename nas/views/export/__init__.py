"""Export of found networks (`nas export`): ONNX / TorchScript / state dict + spec + metadata, checked round trips."""

from nas.views.export.check import ABS_TOLERANCE, CheckResult, compare
from nas.views.export.errors import ExportError
from nas.views.export.export import ExportResult, Target, export_network, network_of, target_of
from nas.views.export.load import FORMATS, MODEL_FILES, SUFFIXES, OnnxRuntimeModule, load_exported
from nas.views.export.metadata import build_metadata, versions

__all__ = [
    "ABS_TOLERANCE", "CheckResult", "ExportError", "ExportResult", "FORMATS", "MODEL_FILES", "OnnxRuntimeModule",
    "SUFFIXES", "Target", "build_metadata", "compare", "export_network", "load_exported", "network_of", "target_of",
    "versions",
]
