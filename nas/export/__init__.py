"""Export of found networks (`nas export`): ONNX / TorchScript / state dict + spec + metadata, checked round trips."""

from nas.export.check import ABS_TOLERANCE, CheckResult, compare
from nas.export.errors import ExportError, SourceError
from nas.export.export import ExportResult, export_network, network_of
from nas.export.load import FORMATS, MODEL_FILES, OnnxRuntimeModule, load_exported
from nas.export.metadata import build_metadata, versions
from nas.export.source import (LatencyRecord, Origin, SearchAccuracy, Source, open_study_read_only, source_from_arch,
                               source_from_study)

__all__ = [
    "ABS_TOLERANCE", "CheckResult", "ExportError", "ExportResult", "FORMATS", "LatencyRecord", "MODEL_FILES",
    "OnnxRuntimeModule", "Origin", "SearchAccuracy", "Source", "SourceError", "build_metadata", "compare",
    "export_network", "load_exported", "network_of", "open_study_read_only", "source_from_arch",
    "source_from_study", "versions",
]
