"""Measurement backends behind one interface, keyed by `Platform.runtime`: torch, onnxruntime, cuda."""

from latency_models.backends.base import (BACKENDS, Backend, MeasurementError, NodeTiming, Prepared, Target,
                                          get_backend, register_backend)
from latency_models.backends import onnxruntime_cpu, torch_cpu, torch_cuda  # noqa: F401  (registration)

__all__ = ["BACKENDS", "Backend", "MeasurementError", "NodeTiming", "Prepared", "Target", "get_backend",
           "register_backend"]
